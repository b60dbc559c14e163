//! Unit tests of the pure builders, from small fixtures.

use serde_json::{Value, json};

use crate::fixtures::{device, icu_ward, monitor, ward};
use crate::{desired, monitors, policies, render, workloads};

/// Container `name` of the pod template, a main container or a sidecar (init) container.
fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    let pod = &deployment["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| pod[list].as_array().into_iter().flatten())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name}"))
}

/// The names in the pod template's `list` (containers or initContainers), in order.
fn names(deployment: &Value, list: &str) -> Vec<String> {
    let containers = deployment["spec"]["template"]["spec"][list].as_array().into_iter().flatten();
    containers.map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

fn env<'a>(container: &'a Value, name: &str) -> &'a str {
    container["env"].as_array().unwrap().iter().find(|e| e["name"] == name).map_or("", |e| e["value"].as_str().unwrap())
}

#[test]
fn device_pod_runs_twin_and_exporter_with_least_privilege() {
    let deployment = serde_json::to_value(workloads::device_deployment(&icu_ward(), &monitor("bed-01"))).unwrap();
    assert_eq!(deployment["metadata"]["name"], "bed-01-twin");
    assert_eq!(deployment["metadata"]["ownerReferences"][0]["kind"], "MonitoredDevice");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);

    let simulator = container(&deployment, "simulator");
    assert_eq!(simulator["securityContext"]["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(simulator["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(env(simulator, "WARDWATCH_GATEWAY"), "icu-east-gateway.st-mary.svc:2575");
    assert_eq!(env(simulator, "WARDWATCH_SCENARIO"), "hypoxia");
    assert_eq!(env(simulator, "WARDWATCH_PATIENT_ID"), "MRN-1");
    assert_eq!(env(simulator, "WARDWATCH_SEED"), "7");
    assert_eq!(env(simulator, "WARDWATCH_HL7_PROFILE"), "loinc", "the default dialect");
    let mut pcd = monitor("bed-02");
    pcd.spec.twin.hl7_profile = wardwatch_crds::device::Hl7Profile::IhePcd01;
    let pcd = serde_json::to_value(workloads::device_deployment(&icu_ward(), &pcd)).unwrap();
    assert_eq!(env(container(&pcd, "simulator"), "WARDWATCH_HL7_PROFILE"), "ihe-pcd-01");

    // The exporter is a native sidecar: started, and its capture open, before the twin.
    assert_eq!(
        (names(&deployment, "initContainers"), names(&deployment, "containers")),
        (vec!["exporter".to_owned()], vec!["simulator".to_owned()])
    );
    let exporter = container(&deployment, "exporter");
    assert_eq!(exporter["restartPolicy"], "Always");
    assert_eq!(exporter["startupProbe"]["httpGet"], json!({"path": "/readyz", "port": "metrics"}));
    assert_eq!(exporter["securityContext"]["capabilities"], json!({"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}));
    assert_eq!(exporter["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(exporter["ports"][0]["name"], "metrics");
    assert_eq!(env(exporter, "WARDWATCH_DEVICE_ID"), "bed-01");
    let local = exporter["env"].as_array().unwrap().iter().find(|e| e["name"] == "WARDWATCH_LOCAL_CIDRS").unwrap();
    assert_eq!(local["valueFrom"]["fieldRef"]["fieldPath"], "status.podIPs");

    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (label, value) in
        [("wardwatch.io/patient", "MRN-1"), ("wardwatch.io/bed", "ICU-01"), ("wardwatch.io/ward", "icu-east")]
    {
        assert_eq!(pod_labels[label], value, "{label}");
    }
}

#[test]
fn container_settings_override_images_and_resources() {
    let ward = ward(
        "icu-east",
        "hospitalId: st-mary\ndepartment: icu\nexporter: {image: registry.local/exporter:dev, resources: {limits: {memory: 128Mi}}}\n",
    );
    let deployment = serde_json::to_value(workloads::device_deployment(&ward, &monitor("bed-01"))).unwrap();
    let exporter = container(&deployment, "exporter");
    assert_eq!(exporter["image"], "registry.local/exporter:dev");
    assert_eq!(exporter["resources"], json!({"limits": {"memory": "128Mi"}}));
    assert_eq!(container(&deployment, "simulator")["image"], workloads::default_image("simulator"));
}

#[test]
fn quarantine_policy_exists_only_while_quarantined() {
    let ward = icu_ward();
    assert_eq!(desired::device_objects(&ward, &monitor("bed-01")).len(), 1);
    let isolated =
        device("bed-02", "ward: icu-east\ntype: InfusionPump\npatient: {id: MRN-2, bed: ICU-02}\nquarantine: true\n");
    let objects = desired::device_objects(&ward, &isolated);
    let policy = objects.iter().find(|o| o.kind() == "NetworkPolicy").expect("quarantine policy").to_value();
    assert_eq!(policy["metadata"]["name"], "bed-02-quarantine");
    assert_eq!(policy["spec"]["egress"], json!([]));
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"]["wardwatch.io/device"], "bed-02");
}

#[test]
fn the_gateway_pod_starts_its_exporter_sidecar_before_the_gateway() {
    let deployment = serde_json::to_value(workloads::gateway_deployment(&icu_ward())).unwrap();
    assert_eq!(names(&deployment, "initContainers"), ["exporter"]);
    assert_eq!(names(&deployment, "containers"), ["gateway"]);
    assert_eq!(container(&deployment, "exporter")["restartPolicy"], "Always");
    assert_eq!(env(container(&deployment, "exporter"), "WARDWATCH_DEVICE_ID"), "icu-east-gateway");
}

#[test]
fn baseline_policy_allows_gateway_dns_and_the_allowed_destinations() {
    let ward = ward(
        "icu-east",
        "hospitalId: st-mary\ndepartment: icu\nnetwork: {allowedCidrs: [10.40.0.0/16], allowedPorts: [{protocol: TCP, port: 443}, {protocol: ICMP}]}\n",
    );
    let policy = serde_json::to_value(policies::baseline_policy(&ward, &Default::default())).unwrap();
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3);
    assert_eq!(egress[0]["ports"][0], json!({"protocol": "TCP", "port": 2575}));
    assert_eq!(
        egress[2],
        json!({"to": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]})
    );
}

/// Every egress port the baseline NetworkPolicy lets a device use is one its exporter allows:
/// a device doing only what the policy permits (HL7 to the gateway, cluster DNS, the ward's own
/// ports) raises no `unexpected_port`, so it is not quarantined for it. Seen on the real node,
/// where each twin resolves the gateway's Service name.
#[test]
fn the_exporter_allows_every_port_the_baseline_policy_allows() {
    let ward = icu_ward();
    let deployment = serde_json::to_value(workloads::device_deployment(&ward, &monitor("bed-01"))).unwrap();
    let allowed: Vec<&str> = env(container(&deployment, "exporter"), "WARDWATCH_ALLOWED_PORTS").split(',').collect();
    let policy = serde_json::to_value(policies::baseline_policy(&ward, &Default::default())).unwrap();
    let mut checked = 0;
    for rule in policy["spec"]["egress"].as_array().unwrap() {
        for port in rule["ports"].as_array().into_iter().flatten() {
            let expected = format!("{}/{}", port["protocol"].as_str().unwrap(), port["port"]);
            assert!(
                allowed.contains(&expected.as_str()),
                "{expected} is allowed by the policy, not by the exporter: {allowed:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "HL7 and DNS over UDP and TCP at least: {policy}");
}

/// Whether a NetworkPolicy's `podSelector` selects a pod with `labels` (matchLabels, and
/// matchExpressions with In, NotIn, Exists and DoesNotExist, as the API defines them).
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |key: &str| labels[key].as_str();
    let by_labels =
        selector["matchLabels"].as_object().into_iter().flatten().all(|(key, value)| label(key) == value.as_str());
    let by_expressions = selector["matchExpressions"].as_array().into_iter().flatten().all(|e| {
        let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let value = label(e["key"].as_str().unwrap());
        match e["operator"].as_str().unwrap() {
            "In" => value.is_some_and(|v| values.contains(&v)),
            "NotIn" => value.is_none_or(|v| !values.contains(&v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("operator {other}"),
        }
    });
    by_labels && by_expressions
}

/// A quarantined device is selected by no NetworkPolicy that lets it send anything (policies
/// add up, so the ward's baseline must leave it out), while the others keep the baseline.
#[test]
fn a_quarantined_device_is_selected_by_no_policy_that_lets_it_send() {
    let ward = icu_ward();
    let mut isolated = monitor("bed-01");
    isolated.spec.quarantine = true;
    let devices = [isolated, monitor("bed-02")];
    let quarantined = policies::quarantined_devices(&ward, &devices);
    assert_eq!(quarantined.iter().collect::<Vec<_>>(), ["bed-01"]);
    let mut objects = desired::ward_objects(&ward, None, &quarantined);
    for device in &devices {
        objects.extend(desired::device_objects(&ward, device));
    }
    let objects: Vec<Value> = objects.iter().map(desired::Owned::to_value).collect();
    let policies: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "NetworkPolicy").collect();
    let pod_labels = |device| {
        let deployment = serde_json::to_value(workloads::device_deployment(&ward, device)).unwrap();
        deployment["spec"]["template"]["metadata"]["labels"].clone()
    };
    let (isolated_pod, other_pod) = (pod_labels(&devices[0]), pod_labels(&devices[1]));
    let selecting = |labels: &Value| -> Vec<&Value> {
        policies.iter().copied().filter(|p| selects(&p["spec"]["podSelector"], labels)).collect()
    };
    let on_isolated = selecting(&isolated_pod);
    assert!(!on_isolated.is_empty(), "the quarantine policy selects it");
    for policy in on_isolated {
        assert!(
            policy["spec"]["egress"].as_array().is_some_and(Vec::is_empty),
            "{} lets the quarantined device send: {policy}",
            policy["metadata"]["name"]
        );
    }
    let on_other = selecting(&other_pod);
    assert!(on_other.iter().any(|p| p["metadata"]["name"] == "icu-east-baseline"), "{on_other:?}");
    assert!(on_other.iter().all(|p| p["metadata"]["name"] != "bed-01-quarantine"));
}

#[test]
fn monitoring_labels_reach_only_what_prometheus_and_alertmanager_select() {
    let ward = ward("icu-east", "hospitalId: st-mary\ndepartment: icu\nmonitoringLabels: {team: icu}\n");
    let defaults = [("release", "kube-prometheus-stack"), ("team", "default-team")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect();
    let effective = desired::with_default_monitoring_labels(&ward, &defaults);
    for object in desired::ward_objects(&effective, None, &Default::default()) {
        let (key, object) = (object.key(), object.to_value());
        let labels = &object["metadata"]["labels"];
        assert_eq!(labels["wardwatch.io/ward"], "icu-east", "{key}");
        let selected = matches!(object["kind"].as_str(), Some("PodMonitor" | "PrometheusRule" | "AlertmanagerConfig"));
        if selected {
            assert_eq!(labels["release"], "kube-prometheus-stack", "{key}");
            assert_eq!(labels["team"], "icu", "the ward's own label wins: {key}");
        } else {
            assert!(labels.get("release").is_none(), "{key}");
        }
    }
    // Without defaults or labels of its own, a ward's objects carry wardwatch's labels only.
    let plain = desired::with_default_monitoring_labels(&icu_ward(), &Default::default());
    assert!(
        desired::ward_objects(&plain, None, &Default::default()).iter().all(|o| o
            .meta()
            .labels
            .as_ref()
            .is_some_and(|labels| !labels.contains_key("release")))
    );
}

#[test]
fn pod_monitor_turns_pod_labels_into_short_target_labels() {
    let monitor = serde_json::to_value(monitors::pod_monitor(&icu_ward())).unwrap();
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["interval"], "5s");
    let targets: Vec<&str> =
        endpoint["relabelings"].as_array().unwrap().iter().map(|r| r["targetLabel"].as_str().unwrap()).collect();
    assert_eq!(targets, ["hospital", "ward", "device", "device_type", "patient", "bed", "spo2_scale", "component"]);
}

#[test]
fn render_warns_about_devices_without_their_ward() {
    let mut inputs = render::Inputs::default();
    inputs
        .add_yaml(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: st-mary}\n---\n\
             apiVersion: wardwatch.io/v1alpha1\nkind: MonitoredDevice\nmetadata: {name: lost, namespace: st-mary}\n\
             spec: {ward: nowhere, type: Workstation}\n",
            "inline",
        )
        .unwrap();
    let (objects, warnings) = render::render(&inputs, None);
    assert!(objects.is_empty());
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("\"nowhere\""), "{}", warnings[0]);
}

#[test]
fn render_refuses_unknown_wardwatch_kinds() {
    let mut inputs = render::Inputs::default();
    let err = inputs.add_yaml("apiVersion: wardwatch.io/v1alpha1\nkind: Hospital\nmetadata: {name: x}\n", "inline");
    assert!(err.unwrap_err().to_string().contains("unknown wardwatch kind Hospital"));
}

/// The ward's AlertmanagerConfig, checked against a small model of how Alertmanager routes and
/// inhibits (the end-to-end suite `routing` checks the same routes with the real amtool).
mod routing_tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use wardwatch_crds::{Severity, Ward};

    use crate::fixtures::ward;
    use crate::monitoring::{AmRoute, InhibitRule, Matcher};
    use crate::routing::{self, CATEGORIES, NULL_RECEIVER, QUARANTINE_RECEIVER};

    type Labels = BTreeMap<String, String>;

    const WEBHOOK: &str = "https://wardwatch-operator.wardwatch-system.svc:8443/quarantine";

    /// A ward with every kind of receiver; `team` is named twice for critical and `team` and
    /// `chat` share a route, so the first-route-wins rule is exercised.
    fn routed_ward(extra: &str) -> Ward {
        ward(
            "icu-east",
            &format!(
                r#"
hospitalId: st-mary
department: icu
quarantine: {{mode: OnAlert, minSeverity: warning}}
alerting:
  receivers:
    - {{name: team, webhook: {{url: {{name: s, key: team}}}}}}
    - {{name: sec, discord: {{webhookUrl: {{name: s, key: discord}}}}}}
    - {{name: mail, email: {{to: icu@st-mary.example, from: ww@st-mary.example, smarthost: "smtp:587", authPassword: {{name: s, key: smtp}}}}}}
    - {{name: chat, telegram: {{botToken: {{name: s, key: telegram}}, chatId: -100123}}}}
  routes:
    - {{severities: [warning, critical], receivers: [team, mail]}}
    - {{severities: [critical], receivers: [sec, team], repeatInterval: 1h}}
    - {{severities: [info, warning], receivers: [chat, team]}}
{extra}"#
            ),
        )
    }

    /// An alert of the contract: namespace, hospital and ward of the fixture, then `pairs`.
    fn alert(pairs: &[(&str, &str)]) -> Labels {
        let mut labels: Labels = [("namespace", "st-mary"), ("hospital", "st-mary"), ("ward", "icu-east")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                labels.remove(*k);
            } else {
                labels.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        labels
    }

    fn clinical(name: &str, severity: &str, patient: &str, bed: &str) -> Labels {
        alert(&[
            ("alertname", name),
            ("severity", severity),
            ("category", "clinical"),
            ("patient", patient),
            ("bed", bed),
        ])
    }

    fn device_alert(name: &str, severity: &str, device: &str, patient: &str) -> Labels {
        alert(&[
            ("alertname", name),
            ("severity", severity),
            ("category", "device"),
            ("device", device),
            ("patient", patient),
        ])
    }

    fn network(name: &str, severity: &str, device: &str, patient: &str) -> Labels {
        alert(&[
            ("alertname", name),
            ("severity", severity),
            ("category", "network"),
            ("device", device),
            ("patient", patient),
            ("rule", "r"),
        ])
    }

    /// Alertmanager's matching: a missing label has the value "", regular expressions are
    /// anchored. The model knows the expressions the builder writes: alternatives and `.+`.
    fn matches(matcher: &Matcher, labels: &Labels) -> bool {
        let value = labels.get(&matcher.name).map_or("", String::as_str);
        let regex = |pattern: &str| {
            if pattern == ".+" {
                return !value.is_empty();
            }
            assert!(
                pattern.chars().all(|c| c.is_ascii_alphanumeric() || "|_-".contains(c)),
                "the model knows only alternatives and .+, not {pattern}"
            );
            pattern.split('|').any(|alternative| alternative == value)
        };
        match matcher.match_type.as_str() {
            "=" => value == matcher.value,
            "!=" => value != matcher.value,
            "=~" => regex(&matcher.value),
            "!~" => !regex(&matcher.value),
            other => panic!("match type {other}"),
        }
    }

    /// Alertmanager's route tree walk: the deepest matching routes, siblings tried in order
    /// until one matches without `continue`.
    fn matching_routes<'a>(route: &'a AmRoute, labels: &Labels) -> Vec<&'a AmRoute> {
        if !route.matchers.iter().all(|m| matches(m, labels)) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for child in &route.routes {
            let matched = matching_routes(child, labels);
            let stop = !matched.is_empty() && !child.continue_;
            found.extend(matched);
            if stop {
                break;
            }
        }
        if found.is_empty() {
            found.push(route);
        }
        found
    }

    /// Alertmanager's inhibition: a firing source alert (not the target itself) matching a
    /// rule's source side, with equal values (missing counts as "") of every `equal` label.
    fn inhibited(rules: &[InhibitRule], target: &Labels, firing: &[Labels]) -> bool {
        let value = |labels: &Labels, name: &str| labels.get(name).cloned().unwrap_or_default();
        rules.iter().any(|rule| {
            rule.target_match.iter().all(|m| matches(m, target))
                && firing.iter().any(|source| {
                    source != target
                        && rule.source_match.iter().all(|m| matches(m, source))
                        && rule.equal.iter().all(|l| value(source, l) == value(target, l))
                })
        })
    }

    fn receivers_of(config: &crate::monitoring::AlertmanagerConfig, labels: &Labels) -> Vec<String> {
        let mut names: Vec<String> =
            matching_routes(&config.spec.route, labels).iter().map(|r| r.receiver.clone()).collect();
        names.sort();
        names
    }

    /// Which receivers the ward's spec says an alert goes to, from first principles: every
    /// receiver of a route naming its severity, the quarantine webhook for network alerts of a
    /// device at or above the minimum, else the null receiver.
    fn expected_receivers(ward: &Ward, labels: &Labels, quarantine: bool) -> Vec<String> {
        let severity = labels.get("severity").map_or("", String::as_str);
        let category = labels.get("category").map_or("", String::as_str);
        let mut names: Vec<String> = Vec::new();
        if CATEGORIES.contains(&category) {
            for route in &ward.spec.alerting.routes {
                if route.severities.iter().any(|s| s.as_str() == severity) {
                    names.extend(route.receivers.iter().cloned());
                }
            }
        }
        let policy = ward.spec.quarantine;
        if quarantine
            && category == "network"
            && labels.get("device").is_some_and(|d| !d.is_empty())
            && policy.min_severity.and_above().any(|s| s.as_str() == severity)
        {
            names.push(QUARANTINE_RECEIVER.to_owned());
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            names.push(NULL_RECEIVER.to_owned());
        }
        names
    }

    #[test]
    fn every_alert_reaches_each_of_its_receivers_through_exactly_one_route() {
        let ward = routed_ward("");
        for webhook in [Some(WEBHOOK), None] {
            let config = routing::alertmanager_config(&ward, webhook);
            for severity in ["critical", "warning", "info", "page", ""] {
                for category in ["clinical", "device", "network", "billing", ""] {
                    for device in ["bed-01-monitor", ""] {
                        for patient in ["MRN-1", ""] {
                            let labels = alert(&[
                                ("alertname", "X"),
                                ("severity", severity),
                                ("category", category),
                                ("device", device),
                                ("patient", patient),
                            ]);
                            let mut reached = receivers_of(&config, &labels);
                            let count = reached.len();
                            reached.dedup();
                            assert_eq!(count, reached.len(), "a receiver matched twice: {labels:?}");
                            assert_eq!(
                                reached,
                                expected_receivers(&ward, &labels, webhook.is_some()),
                                "{labels:?} (webhook {webhook:?})"
                            );
                        }
                    }
                }
            }
            // Another ward's alerts, and alerts without a ward, are not this ward's.
            for ward_label in ["icu-west", ""] {
                let other = alert(&[("ward", ward_label), ("severity", "critical"), ("category", "clinical")]);
                assert!(receivers_of(&config, &other).is_empty(), "{other:?}");
            }
        }
    }

    #[test]
    fn the_contract_alerts_reach_the_receivers_their_severity_names() {
        let config = routing::alertmanager_config(&routed_ward(""), Some(WEBHOOK));
        let q = QUARANTINE_RECEIVER;
        let table: Vec<(Labels, Vec<&str>)> = vec![
            (clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01"), vec!["mail", "sec", "team"]),
            (clinical("NEWS2Emergency", "critical", "MRN-1", "ICU-01"), vec!["mail", "sec", "team"]),
            (clinical("NEWS2Urgent", "warning", "MRN-1", "ICU-01"), vec!["chat", "mail", "team"]),
            (clinical("HeartRateHigh", "warning", "MRN-2", "ICU-02"), vec!["chat", "mail", "team"]),
            (device_alert("DeviceSilent", "critical", "bed-01-monitor", "MRN-1"), vec!["mail", "sec", "team"]),
            (device_alert("CaptureDroppingPackets", "info", "bed-01-monitor", "MRN-1"), vec!["chat", "team"]),
            (network("PortScanDetected", "warning", "nurse-station-ws", ""), vec!["chat", "mail", "team", q]),
            (network("SynFloodDetected", "critical", "bed-03-pump", "MRN-3"), vec!["mail", "sec", "team", q]),
            (network("ExfiltrationDetected", "critical", "", ""), vec!["mail", "sec", "team"]),
            (alert(&[("alertname", "Watchdog"), ("severity", "none")]), vec![NULL_RECEIVER]),
        ];
        for (labels, expected) in table {
            let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            expected.sort();
            assert_eq!(receivers_of(&config, &labels), expected, "{labels:?}");
        }
    }

    fn child<'a>(config: &'a crate::monitoring::AlertmanagerConfig, receiver: &str, category: &str) -> &'a AmRoute {
        config
            .spec
            .route
            .routes
            .iter()
            .find(|r| r.receiver == receiver && r.matchers.contains(&Matcher::equal("category", category)))
            .unwrap_or_else(|| panic!("route {receiver}/{category}"))
    }

    #[test]
    fn routes_group_per_patient_or_device_with_timings_by_urgency() {
        let config = routing::alertmanager_config(&routed_ward(""), Some(WEBHOOK));
        let root = &config.spec.route;
        assert_eq!(root.receiver, NULL_RECEIVER);
        assert_eq!(root.matchers, vec![Matcher::equal("ward", "icu-east")]);
        // team: critical|warning from the first route; its second route adds nothing; info from
        // the third. chat: info|warning. Each with one route per category.
        let summary: Vec<(String, String, String)> = root
            .routes
            .iter()
            .map(|r| (r.receiver.clone(), r.matchers[0].value.clone(), r.matchers.get(1).unwrap().value.clone()))
            .collect();
        let mut expected = Vec::new();
        for (receiver, severities) in [
            ("team", "critical|warning"),
            ("mail", "critical|warning"),
            ("sec", "critical"),
            ("chat", "warning|info"),
            ("team", "info"),
        ] {
            for category in CATEGORIES {
                expected.push((receiver.to_owned(), severities.to_owned(), category.to_owned()));
            }
        }
        expected.push((QUARANTINE_RECEIVER.to_owned(), "network".to_owned(), "critical|warning".to_owned()));
        assert_eq!(summary, expected);
        assert!(root.routes.iter().all(|r| r.continue_), "every child route continues");

        let clinical = child(&config, "team", "clinical");
        assert_eq!(clinical.group_by, ["ward", "patient"]);
        assert_eq!(clinical.group_wait.as_deref(), Some("5s"));
        assert_eq!(clinical.group_interval.as_deref(), Some("30s"));
        assert_eq!(clinical.repeat_interval.as_deref(), Some("1h"), "critical's default");
        for category in ["network", "device"] {
            assert_eq!(child(&config, "team", category).group_by, ["ward", "device"]);
        }
        let sec = child(&config, "sec", "clinical");
        assert_eq!(sec.repeat_interval.as_deref(), Some("1h"), "the ward route's repeatInterval");
        let chat = child(&config, "chat", "network");
        assert_eq!(
            (chat.group_wait.as_deref(), chat.group_interval.as_deref(), chat.repeat_interval.as_deref()),
            (Some("30s"), Some("2m"), Some("4h"))
        );
        let info =
            config.spec.route.routes.iter().find(|r| r.receiver == "team" && r.matchers[0].value == "info").unwrap();
        assert_eq!((info.group_wait.as_deref(), info.repeat_interval.as_deref()), (Some("1m"), Some("12h")));
        assert_eq!(routing::timings(Severity::Critical).group_wait, "5s");
    }

    #[test]
    fn quarantine_calls_the_operator_with_the_wards_token_per_device() {
        let ward = routed_ward("");
        let config = serde_json::to_value(routing::alertmanager_config(&ward, Some(WEBHOOK))).unwrap();
        let receiver =
            config["spec"]["receivers"].as_array().unwrap().iter().find(|r| r["name"] == QUARANTINE_RECEIVER).unwrap();
        assert_eq!(
            receiver["webhookConfigs"],
            json!([{"url": WEBHOOK, "sendResolved": false, "httpConfig": {"authorization": {"type": "Bearer",
                     "credentials": {"name": "icu-east-quarantine-token", "key": "token"}}}}])
        );
        let route = config["spec"]["route"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["receiver"] == QUARANTINE_RECEIVER)
            .unwrap();
        assert_eq!(route["groupBy"], json!(["namespace", "device"]));
        assert_eq!(route["groupWait"], "0s");
        assert_eq!(route["continue"], true);
        assert_eq!(
            route["matchers"],
            json!([{"name": "category", "value": "network", "matchType": "="},
                   {"name": "severity", "value": "critical|warning", "matchType": "=~"},
                   {"name": "device", "value": ".+", "matchType": "=~"}])
        );

        let has_quarantine = |ward: &Ward, webhook| {
            let config = routing::alertmanager_config(ward, webhook);
            let receiver = config.spec.receivers.iter().any(|r| r.name == QUARANTINE_RECEIVER);
            let route = config.spec.route.routes.iter().any(|r| r.receiver == QUARANTINE_RECEIVER);
            assert_eq!(receiver, route);
            route
        };
        assert!(!has_quarantine(&ward, None), "no webhook URL, no quarantine route");
        let manual = ward_with_quarantine("Manual");
        assert!(!has_quarantine(&manual, Some(WEBHOOK)));
        let critical_only = ward_with_quarantine("OnAlert");
        let config = routing::alertmanager_config(&critical_only, Some(WEBHOOK));
        let route = config.spec.route.routes.iter().find(|r| r.receiver == QUARANTINE_RECEIVER).unwrap();
        assert_eq!(route.matchers[1], Matcher::equal("severity", "critical"), "minSeverity defaults to critical");
    }

    fn ward_with_quarantine(mode: &str) -> Ward {
        ward("icu-east", &format!("hospitalId: st-mary\ndepartment: icu\nquarantine: {{mode: {mode}}}\n"))
    }

    #[test]
    fn inhibitions_hold_back_only_the_same_patient_or_device() {
        let rules = routing::alertmanager_config(&routed_ward(""), None).spec.inhibit_rules;
        let emergency = clinical("NEWS2Emergency", "critical", "MRN-1", "ICU-01");
        let hypoxia = clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01");
        let silent = device_alert("DeviceSilent", "critical", "bed-01-monitor", "MRN-1");
        let exporter_down = device_alert("WardwatchExporterDown", "warning", "bed-01-monitor", "MRN-1");
        let gateway_down = device_alert("WardwatchExporterDown", "critical", "", "");
        let syn_flood = network("SynFloodDetected", "critical", "nurse-station-ws", "");
        let mut other_ward = clinical("NEWS2Emergency", "critical", "MRN-1", "ICU-01");
        other_ward.insert("ward".into(), "icu-west".into());

        // (source, target, held back?)
        let table: Vec<(&Labels, Labels, bool)> = vec![
            // NEWS2Emergency holds back NEWS2Urgent of the same patient only.
            (&emergency, clinical("NEWS2Urgent", "warning", "MRN-1", "ICU-01"), true),
            (&emergency, clinical("NEWS2Urgent", "warning", "MRN-2", "ICU-02"), false),
            (&other_ward, clinical("NEWS2Urgent", "warning", "MRN-1", "ICU-01"), false),
            // A silent or down device holds back its patient's clinical alerts, critical too.
            (&silent, clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01"), true),
            (&exporter_down, clinical("NEWS2Emergency", "critical", "MRN-1", "ICU-01"), true),
            (&silent, clinical("HypoxiaDetected", "critical", "MRN-2", "ICU-02"), false),
            (&silent, network("SynFloodDetected", "critical", "bed-01-monitor", "MRN-1"), false),
            // The gateway's exporter (no device, no patient) holds back nobody's alerts.
            (&gateway_down, clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01"), false),
            (&gateway_down, network("PortScanDetected", "warning", "", ""), false),
            (&gateway_down, device_alert("CaptureDroppingPackets", "warning", "", ""), false),
            // A critical alert holds back warnings of the same device and patient.
            (&hypoxia, clinical("HeartRateHigh", "warning", "MRN-1", "ICU-01"), true),
            (&syn_flood, network("PortScanDetected", "warning", "nurse-station-ws", ""), true),
            (&silent, device_alert("CaptureDroppingPackets", "warning", "bed-01-monitor", "MRN-1"), true),
            // ... and of no other patient or device, although clinical alerts have no device
            // label and a workstation has no patient label (missing on both sides is "equal").
            (&hypoxia, clinical("HeartRateHigh", "warning", "MRN-2", "ICU-02"), false),
            (&hypoxia, network("PortScanDetected", "warning", "nurse-station-ws", ""), false),
            (&hypoxia, device_alert("CaptureDroppingPackets", "warning", "bed-01-monitor", "MRN-1"), false),
            (&syn_flood, network("PortScanDetected", "warning", "admin-ws", ""), false),
            (&syn_flood, clinical("HeartRateHigh", "warning", "MRN-2", "ICU-02"), false),
            (&syn_flood, hypoxia.clone(), false),
        ];
        for (source, target, expected) in &table {
            assert_eq!(
                inhibited(&rules, target, std::slice::from_ref(source)),
                *expected,
                "{} -> {}",
                source["alertname"],
                target.get("alertname").unwrap()
            );
        }
        // Nothing holds itself back.
        for (source, _, _) in &table {
            assert!(!inhibited(&rules, source, std::slice::from_ref(source)));
        }
    }

    #[test]
    fn an_inhibition_equal_only_on_device_would_silence_every_patient() {
        // The trap the rules avoid, shown with the same model: equal on `device` alone, and a
        // critical clinical alert (no device label) holds back every patient's warnings.
        let naive = [InhibitRule {
            source_match: vec![Matcher::equal("severity", "critical")],
            target_match: vec![Matcher::equal("severity", "warning")],
            equal: vec!["device".into()],
        }];
        let hypoxia = clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01");
        let someone_else = clinical("HeartRateHigh", "warning", "MRN-2", "ICU-02");
        assert!(inhibited(&naive, &someone_else, std::slice::from_ref(&hypoxia)));
        let rules = routing::alertmanager_config(&routed_ward(""), None).spec.inhibit_rules;
        assert!(!inhibited(&rules, &someone_else, std::slice::from_ref(&hypoxia)));
        // Every source side of the ward's rules names a label that must be present, and that
        // label is among the rule's `equal` labels.
        for rule in &rules {
            let required: Vec<&str> =
                rule.source_match.iter().filter(|m| m.value == ".+").map(|m| m.name.as_str()).collect();
            assert!(required.iter().any(|l| rule.equal.iter().any(|e| e == l)), "{rule:?}");
        }
    }

    #[test]
    fn warnings_stay_while_critical_when_the_ward_says_so() {
        let ward = routed_ward("  inhibitWarningsWhileCritical: false\n");
        let rules = routing::alertmanager_config(&ward, None).spec.inhibit_rules;
        assert_eq!(rules.len(), 2);
        let hypoxia = clinical("HypoxiaDetected", "critical", "MRN-1", "ICU-01");
        assert!(!inhibited(
            &rules,
            &clinical("HeartRateHigh", "warning", "MRN-1", "ICU-01"),
            std::slice::from_ref(&hypoxia)
        ));
        assert!(inhibited(
            &rules,
            &clinical("NEWS2Urgent", "warning", "MRN-1", "ICU-01"),
            &[clinical("NEWS2Emergency", "critical", "MRN-1", "ICU-01")]
        ));
    }

    /// The label names a template reads through `Labels.<name>` (`.Labels`, `$a.Labels`,
    /// `.CommonLabels`), and whether it reads label sets whole or uses the default templates.
    fn labels_read(template: &str) -> (Vec<String>, bool) {
        let mut names = Vec::new();
        let mut wholesale = ["GroupLabels", "SortedPairs", "template \"", ".Values", ".Names", "Remove"]
            .iter()
            .any(|w| template.contains(w));
        for (at, _) in template.match_indices("Labels") {
            let rest = &template[at + "Labels".len()..];
            match rest.strip_prefix('.') {
                Some(rest) => names.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()),
                None => wholesale = true,
            }
        }
        names.sort();
        names.dedup();
        (names, wholesale)
    }

    #[test]
    fn texts_sent_outside_the_hospital_name_ward_and_bed_not_the_patient() {
        let ward = routed_ward("");
        let config = routing::alertmanager_config(&ward, Some(WEBHOOK));
        let receivers = serde_json::to_value(&config.spec.receivers).unwrap();
        let texts: Vec<(String, String)> = receivers
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let mut found = Vec::new();
                for (configs, fields) in [
                    ("discordConfigs", &["title", "message"][..]),
                    ("telegramConfigs", &["message"][..]),
                    ("emailConfigs", &["html", "text"][..]),
                ] {
                    for c in r[configs].as_array().into_iter().flatten() {
                        for field in fields {
                            found.push((
                                format!("{}.{configs}.{field}", r["name"]),
                                c[*field].as_str().unwrap().to_owned(),
                            ));
                        }
                        for header in c["headers"].as_array().into_iter().flatten() {
                            found.push((
                                format!("{}.header {}", r["name"], header["key"]),
                                header["value"].as_str().unwrap().to_owned(),
                            ));
                        }
                    }
                }
                found
            })
            .collect();
        let fields: Vec<&str> = texts.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "\"sec\".discordConfigs.title",
                "\"sec\".discordConfigs.message",
                "\"mail\".emailConfigs.html",
                "\"mail\".emailConfigs.text",
                "\"mail\".header \"Subject\"",
                "\"chat\".telegramConfigs.message",
            ]
        );
        for (field, template) in &texts {
            let (names, wholesale) = labels_read(template);
            assert!(!wholesale, "{field} reads a whole label set: {template}");
            for name in &names {
                assert!(
                    ["alertname", "severity", "hospital", "ward", "bed", "device"].contains(&name.as_str()),
                    "{field} reads {name}"
                );
            }
            for name in ["alertname", "hospital", "ward", "bed"] {
                assert!(names.iter().any(|n| n == name), "{field} names the {name}: {template}");
            }
            if !field.contains("title") && !field.contains("Subject") {
                for annotation in ["summary", "runbook_url"] {
                    assert!(template.contains(&format!("Annotations.{annotation}")), "{field}: {annotation}");
                }
            }
        }
        // The in-hospital webhook has no template: Alertmanager's whole payload.
        assert_eq!(
            receivers[1]["webhookConfigs"],
            json!([{"urlSecret": {"name": "s", "key": "team"}, "sendResolved": true}])
        );
        // Telegram reads HTML: every value it shows is escaped.
        let telegram = &texts.iter().find(|(f, _)| f.contains("telegram")).unwrap().1;
        for action in telegram.split("{{").skip(1).map(|a| a.split("}}").next().unwrap()) {
            let shows_value = (action.contains("Labels.") || action.contains("Annotations.") || action.trim() == ".")
                && !action.trim_start().starts_with("with ")
                && !action.trim_start().starts_with("range ");
            assert!(!shows_value || action.contains("| html"), "unescaped in Telegram: {{{{{action}}}}}");
        }

        let opted_in = routing::alertmanager_config(&routed_ward("  includePatientIdentifiers: true\n"), None);
        let text = serde_json::to_string(&opted_in.spec.receivers).unwrap();
        assert!(text.contains(".Labels.patient") && text.contains(".CommonLabels.patient"), "{text}");
    }
}
