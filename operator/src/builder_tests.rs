//! Unit tests of the pure builders, from small fixtures.

use serde_json::{Value, json};

use crate::fixtures::{device, icu_ward, monitor, ward};
use crate::{desired, monitors, policies, render, routing, workloads};

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name}"))
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

    let exporter = container(&deployment, "exporter");
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
    let policy = objects.iter().find(|o| o["kind"] == "NetworkPolicy").expect("quarantine policy");
    assert_eq!(policy["metadata"]["name"], "bed-02-quarantine");
    assert_eq!(policy["spec"]["egress"], json!([]));
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"]["wardwatch.io/device"], "bed-02");
}

#[test]
fn baseline_policy_allows_gateway_dns_and_the_allowed_destinations() {
    let ward = ward(
        "icu-east",
        "hospitalId: st-mary\ndepartment: icu\nnetwork: {allowedCidrs: [10.40.0.0/16], allowedPorts: [{protocol: TCP, port: 443}, {protocol: ICMP}]}\n",
    );
    let policy = serde_json::to_value(policies::baseline_policy(&ward)).unwrap();
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3);
    assert_eq!(egress[0]["ports"][0], json!({"protocol": "TCP", "port": 2575}));
    assert_eq!(
        egress[2],
        json!({"to": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]})
    );
}

#[test]
fn routing_sends_each_severity_to_its_receivers_and_quarantines_on_alert() {
    let ward = ward(
        "icu-east",
        r#"
hospitalId: st-mary
department: icu
quarantine: {mode: OnAlert, minSeverity: warning}
alerting:
  receivers:
    - {name: team, webhook: {url: {name: s, key: team}}}
    - {name: sec, discord: {webhookUrl: {name: s, key: discord}}}
    - {name: mail, email: {to: icu@st-mary.example, from: ww@st-mary.example, smarthost: "smtp:587", authPassword: {name: s, key: smtp}}}
  routes:
    - {severities: [critical, warning], receivers: [team, mail]}
    - {severities: [critical], receivers: [sec], repeatInterval: 1h}
"#,
    );
    let config = serde_json::to_value(routing::alertmanager_config(&ward, Some("http://op:8443/quarantine"))).unwrap();
    let route = &config["spec"]["route"];
    assert_eq!(route["receiver"], routing::NULL_RECEIVER);
    assert_eq!(route["matchers"], json!([{"name": "ward", "value": "icu-east", "matchType": "="}]));
    let children: Vec<(String, String)> = route["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["receiver"].as_str().unwrap().to_owned(), r["matchers"].to_string()))
        .collect();
    assert_eq!(children.len(), 4);
    assert_eq!(children[0].0, "team");
    assert!(children[0].1.contains("critical|warning"));
    assert_eq!(children[2].0, "sec");
    assert_eq!(children[3].0, routing::QUARANTINE_RECEIVER);
    assert!(children[3].1.contains(r#""value":"warning|critical""#), "{}", children[3].1);
    let receivers = config["spec"]["receivers"].as_array().unwrap();
    assert_eq!(receivers[2]["discordConfigs"][0]["apiURL"], json!({"name": "s", "key": "discord"}));
    assert_eq!(receivers[3]["emailConfigs"][0]["authPassword"], json!({"name": "s", "key": "smtp"}));
    assert_eq!(config["spec"]["inhibitRules"][0]["equal"], json!(["ward", "device"]));

    let without_webhook = serde_json::to_value(routing::alertmanager_config(&ward, None)).unwrap();
    assert_eq!(without_webhook["spec"]["route"]["routes"].as_array().unwrap().len(), 3);
}

#[test]
fn pod_monitor_turns_pod_labels_into_short_target_labels() {
    let monitor = serde_json::to_value(monitors::pod_monitor(&icu_ward())).unwrap();
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["interval"], "5s");
    let targets: Vec<&str> =
        endpoint["relabelings"].as_array().unwrap().iter().map(|r| r["targetLabel"].as_str().unwrap()).collect();
    assert_eq!(targets, ["hospital", "ward", "device", "device_type", "patient", "bed", "component"]);
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
