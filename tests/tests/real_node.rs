//! wardwatch on a real node: containerd, the kubelet, kube-proxy, kube-scheduler,
//! kube-controller-manager, kube-router's NetworkPolicy firewall and CoreDNS run the chart's operator and the sample ward's pods from
//! images built without a container engine (`scripts/images.sh`), in a network namespace of
//! their own (`testbed::node`).

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use testbed::alert_receiver::AlertReceiver;
use testbed::node::wardwatch::{self, WARD_NAMESPACE, http_get, pod_summary, ready_pods};
use testbed::node::{self, Node, enforcer, monitoring};
use testbed::{ControlPlane, eventually};
use wardwatch_crds::device::DevicePhase;
use wardwatch_crds::{MonitoredDevice, Ward};

const STARTUP: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_and_the_sample_ward_run_on_a_real_node() {
    let mut cp = ControlPlane::start_with(Some(node::control_plane_support())).await.expect("control plane starts");
    let started = std::time::Instant::now();
    let mut node = Node::start(&mut cp).await.expect("the node starts and is Ready");
    eprintln!("node Ready in {:?}\n{}", started.elapsed(), node.image_report());

    // The chart's operator, from the image imported under the chart's name.
    cp.install_prometheus_operator_crds().await.expect("prometheus-operator's CRDs install");
    wardwatch::helm_install(&cp).expect("helm install");
    let operators = eventually(STARTUP, "two operator pods Running and Ready", || async {
        let pods = ready_pods(&cp, "wardwatch-system", "app.kubernetes.io/name=wardwatch-operator").await?;
        Ok((pods.len() == 2).then_some(pods))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}\n{}", pod_summary(&cp), node.logs()));
    assert_eq!(operators.len(), 2);
    // One of them leads: it holds the chart's Lease under its pod name.
    let names: Vec<String> = operators.iter().filter_map(|pod| pod.metadata.name.clone()).collect();
    let leases: Api<Lease> = Api::namespaced(cp.client(), "wardwatch-system");
    let leader = eventually(Duration::from_secs(60), "an operator pod holding the Lease", || async {
        let lease = leases.get_opt("wardwatch-operator").await?;
        Ok(lease.and_then(|lease| lease.spec?.holder_identity).filter(|holder| names.contains(holder)))
    })
    .await
    .unwrap();
    eprintln!("leader: {leader}");

    // The monitoring stack as kube-prometheus-stack sets it up, starting while the ward does.
    monitoring::deploy(&cp, node.image_report())
        .await
        .expect("prometheus-operator, Prometheus and Alertmanager applied");

    // The sample ward: every twin, exporter and gateway container Running and Ready. Its
    // team webhook and Discord receivers post to a receiver in the node's namespace, where
    // the Alertmanager pod reaches it at the pod bridge's address.
    let mut receiver = AlertReceiver::start_in(node.namespace(), node::network::BRIDGE_IP.parse().unwrap())
        .await
        .expect("the alert receiver listens in the node's namespace");
    wardwatch::apply_sample_ward(&cp, receiver.url()).await.expect("kubectl apply -f manifests/");
    let pods = eventually(STARTUP, "the ward's six pods Running and Ready", || async {
        let pods = ready_pods(&cp, WARD_NAMESPACE, "app.kubernetes.io/managed-by=wardwatch").await?;
        Ok((pods.len() == 6).then_some(pods))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}\n{}", pod_summary(&cp), node.logs()));
    // Each pod's exporter is a native sidecar: an init container that keeps running, started
    // (its capture open) before the twin or gateway.
    for pod in &pods {
        let spec = pod.spec.as_ref().unwrap();
        let sidecars: Vec<(&str, Option<&str>)> =
            spec.init_containers.iter().flatten().map(|c| (c.name.as_str(), c.restart_policy.as_deref())).collect();
        assert_eq!(sidecars, [("exporter", Some("Always"))], "{}", pod.name_any());
        let status = pod.status.as_ref().unwrap();
        let started = |statuses: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>| {
            statuses.iter().flatten().filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.clone()).min()
        };
        let (exporter, others) = (started(&status.init_container_statuses), started(&status.container_statuses));
        assert!(
            exporter.is_some() && exporter <= others,
            "{}: exporter {exporter:?}, others {others:?}",
            pod.name_any()
        );
    }
    let wards: Api<Ward> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    // Every device ready, except that the scanning workstation may already be quarantined (its
    // attack starts 15 s in, and a quarantined device does not count as ready): then 4/5 and
    // one quarantined.
    let status = eventually(Duration::from_secs(60), "the ward's devices all ready", || async {
        let status = wards.get("icu-east").await?.status.unwrap_or_default();
        let accounted = status.devices_ready + status.quarantined_count == status.devices_total;
        Ok((status.devices_total == 5 && accounted && status.quarantined_count <= 1).then_some(status))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(&cp)));
    let expected = if status.quarantined_count == 0 { "5/5" } else { "4/5" };
    assert_eq!(status.devices.as_deref(), Some(expected), "{status:?}");

    // Each exporter runs as 65532 with exactly NET_RAW and NET_ADMIN effective, from the file
    // capabilities its image carries.
    let exporters = exporter_processes();
    assert_eq!(exporters.len(), 6, "one exporter per pod: {exporters:?}");
    for (pid, uid, cap_eff) in &exporters {
        assert_eq!(uid, "65532", "exporter {pid} runs as 65532");
        assert_eq!(cap_eff, "0000000000003000", "exporter {pid}: CapEff NET_ADMIN|NET_RAW");
    }

    // The monitor's exporter sees its twin's HL7 reach the gateway through the Service (CoreDNS,
    // kube-proxy), and the gateway's exporter sees it arrive; the oximeter's, its IHE PCD-01
    // (MDC-coded) reports read as vital signs.
    let selectors =
        ["wardwatch.io/device=bed-01-monitor", "wardwatch.io/device=bed-02-oximeter", "wardwatch.io/component=gateway"];
    for selector in selectors {
        let ip = pods
            .iter()
            .find(|pod| selector_matches(pod, selector))
            .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
            .unwrap_or_else(|| panic!("a pod for {selector}"));
        let counts = eventually(Duration::from_secs(90), &format!("HL7 in the exporter of {selector}"), || async {
            let metrics = http_get(node.namespace(), &format!("{ip}:9478"), "/metrics")?;
            let (packets, hl7) =
                (metric_sum(&metrics, "wardwatch_packets_total"), metric_sum(&metrics, "wardwatch_hl7_messages_total"));
            let vitals = metric_sum(&metrics, "wardwatch_vital_observations_total");
            Ok((packets > 0.0 && hl7 > 0.0 && vitals > 0.0).then_some((packets, hl7, vitals)))
        })
        .await
        .unwrap_or_else(|err| panic!("{err:#}\n{}", node.logs()));
        eprintln!("{selector}: {counts:?} packets, HL7 messages, vital observations");
    }

    in_cluster_prometheus_scrapes_every_exporter_and_hypoxia_reaches_the_team(&cp, &node, &mut receiver).await;
    the_scanning_workstation_is_quarantined(&cp, &node).await;

    // Deleting a device removes its pod.
    let deleted = cp.kubectl(&["delete", "-n", WARD_NAMESPACE, "monitoreddevice/bed-04-ventilator"]).unwrap();
    assert!(deleted.status.success(), "kubectl delete: {}", String::from_utf8_lossy(&deleted.stderr));
    eventually(Duration::from_secs(90), "the ventilator's pod gone", || async {
        let pods: Api<Pod> = Api::namespaced(cp.client(), WARD_NAMESPACE);
        let left = pods.list(&ListParams::default().labels("wardwatch.io/device=bed-04-ventilator")).await?;
        Ok(left.items.is_empty().then_some(()))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(&cp)));

    pod_security_refuses_the_exporter_below_privileged(&cp).await;
    node.check_running().unwrap();
}

/// prometheus-operator, a `Prometheus` and an `Alertmanager` run as pods; the operator renders
/// the ward's PodMonitor (selected by the release label the chart put on it) as Kubernetes pod
/// discovery, no static targets; Prometheus finds every exporter and the gateway with the
/// designed target labels; the sample ward's hypoxia twin raises `HypoxiaDetected`, which the
/// ward's AlertmanagerConfig (matched on its namespace) routes to the team's webhook.
async fn in_cluster_prometheus_scrapes_every_exporter_and_hypoxia_reaches_the_team(
    cp: &ControlPlane,
    node: &Node,
    receiver: &mut AlertReceiver,
) {
    for (what, selector) in [
        ("prometheus-operator", "app.kubernetes.io/name=prometheus-operator"),
        ("Prometheus", "app.kubernetes.io/name=prometheus"),
        ("Alertmanager", "app.kubernetes.io/name=alertmanager"),
    ] {
        eventually(STARTUP, &format!("{what}'s pod Running and Ready"), || async {
            Ok((ready_pods(cp, monitoring::NAMESPACE, selector).await?.len() == 1).then_some(()))
        })
        .await
        .unwrap_or_else(|err| panic!("{err:#}\n{}\n{}", pod_summary(cp), node.logs()));
    }
    let config = monitoring::rendered_prometheus_config(cp, Duration::from_secs(120), |text| {
        text.contains("job_name: podMonitor/st-mary/")
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    assert!(config.contains("kubernetes_sd_configs:") && config.contains("role: pod"), "{config}");
    assert!(!config.contains("static_configs:"), "{config}");

    // Every exporter (five devices and the gateway's) and the gateway's own metrics: seven
    // targets found by pod discovery, up, with the designed labels.
    let prometheus =
        wardwatch::pod_address(cp, monitoring::NAMESPACE, &monitoring::prometheus_pod(), 9090).await.unwrap();
    let targets = eventually(Duration::from_secs(120), "seven healthy targets of the ward's PodMonitor", || async {
        let targets = wardwatch::ward_targets(node.namespace(), &prometheus)?;
        Ok((targets.len() == 7 && targets.iter().all(|t| t["health"] == "up")).then_some(targets))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    for target in &targets {
        let labels = &target["labels"];
        assert_eq!(labels["hospital"], "st-mary", "{target}");
        assert_eq!(labels["ward"], "icu-east", "{target}");
        assert_eq!(labels["namespace"], "st-mary", "{target}");
    }
    let monitor = targets.iter().find(|t| t["labels"]["device"] == "bed-01-monitor").expect("the monitor's target");
    assert_eq!(monitor["labels"]["bed"], "ICU-01", "{monitor}");
    assert_eq!(monitor["labels"]["patient"], "MRN-100234", "{monitor}");
    assert_eq!(targets.iter().filter(|t| t["labels"]["component"] == "gateway").count(), 2);

    // The monitor's twin turns hypoxic 30 s after it starts; the team's webhook gets the alert.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let hypoxia = loop {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(delivery) = receiver.next(remaining).await else {
            let alertmanager = wardwatch::pod_address(cp, monitoring::NAMESPACE, &monitoring::alertmanager_pod(), 9093)
                .await
                .unwrap_or_default();
            let ask = |address: &str, path: &str| {
                http_get(node.namespace(), address, path).unwrap_or_else(|e| format!("{e:#}"))
            };
            panic!(
                "no HypoxiaDetected reached the team's webhook in 240 s\nPrometheus's Alertmanagers: {}\n\
                 Prometheus's alerts: {}\n\
                 Prometheus's rules: {}\nAlertmanager's alerts: {}\nAlertmanager's status: {}\n{}",
                ask(&prometheus, "/api/v1/alertmanagers"),
                ask(&prometheus, "/api/v1/alerts"),
                ask(&prometheus, "/api/v1/rules?type=alert&rule_name[]=HypoxiaDetected"),
                ask(&alertmanager, "/api/v2/alerts"),
                ask(&alertmanager, "/api/v2/status"),
                pod_summary(cp)
            );
        };
        let alerts = delivery.body["alerts"].as_array().cloned().unwrap_or_default();
        if let Some(alert) = alerts.into_iter().find(|a| a["labels"]["alertname"] == "HypoxiaDetected") {
            break (delivery.path, alert);
        }
    };
    eprintln!("delivered to {}: {}", hypoxia.0, hypoxia.1);
    assert_eq!(hypoxia.0, "/team");
    assert_eq!(hypoxia.1["status"], "firing");
    assert_eq!(hypoxia.1["labels"]["bed"], "ICU-01");
    assert_eq!(hypoxia.1["labels"]["namespace"], "st-mary");
}

/// The workstation's twin scans its neighbour (the sample ward's opt-in attack): its exporter
/// raises PortScanDetected, Alertmanager calls the operator's quarantine webhook, and the
/// operator isolates the device with its quarantine NetworkPolicy, which the ward's baseline
/// policy leaves out, and the node's enforcer cuts the device off.
async fn the_scanning_workstation_is_quarantined(cp: &ControlPlane, node: &Node) {
    let devices: Api<MonitoredDevice> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    let reason = eventually(Duration::from_secs(240), "nurse-station-ws quarantined", || async {
        let status = devices.get("nurse-station-ws").await?.status.unwrap_or_default();
        Ok(status.quarantine_reason.filter(|_| status.quarantined))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}\n{}", scan_diagnosis(cp, node), pod_summary(cp)));
    eprintln!("nurse-station-ws quarantined: {reason}");
    // The scan trips two rules; whichever alert reaches the webhook first isolates the device.
    assert!(reason.contains("PortScanDetected") || reason.contains("UnexpectedPortDetected"), "{reason}");

    let isolated: Vec<(String, String)> = devices
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|d| Some((d.metadata.name.clone()?, d.status?.quarantine_reason?)))
        .collect();
    // Only the scanner: the scan's target (a device's pod at the target address) sees the probes
    // arrive, but intrusion rules count only what a device sends.
    eprintln!("quarantined devices: {isolated:#?}");
    let names: Vec<&str> = isolated.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["nurse-station-ws"], "only the scanner is quarantined");

    let policies: Api<NetworkPolicy> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    let isolation = policies.get("nurse-station-ws-quarantine").await.expect("the quarantine NetworkPolicy");
    let spec = isolation.spec.unwrap();
    // Egress among its policy types with no rule (the API server stores the empty list as none):
    // nothing may leave.
    assert!(spec.policy_types.unwrap_or_default().contains(&"Egress".to_owned()), "an Egress policy");
    assert!(spec.egress.unwrap_or_default().is_empty(), "no egress rule");
    let baseline = policies.get("icu-east-baseline").await.expect("the ward's baseline NetworkPolicy");
    let left_out = baseline.spec.unwrap().pod_selector.unwrap_or_default().match_expressions.unwrap_or_default();
    assert!(
        left_out
            .iter()
            .any(|e| e.operator == "NotIn"
                && e.values.as_ref().is_some_and(|v| v.contains(&"nurse-station-ws".to_owned()))),
        "the baseline leaves the quarantined device out: {left_out:?}"
    );

    let wards: Api<Ward> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    let status = wards.get("icu-east").await.unwrap().status.unwrap_or_default();
    assert_eq!(status.quarantined_count as usize, isolated.len(), "{status:?}");

    the_quarantine_is_enforced(cp, &isolated).await;
}

/// The HL7 port of the gateway, which the baseline lets every device reach: a device the ward
/// still trusts connects to it from its pod, the quarantined workstation is rejected by the
/// node's enforcer (kube-router), and stays so.
async fn the_quarantine_is_enforced(cp: &ControlPlane, isolated: &[(String, String)]) {
    const HL7_PORT: u16 = 2575;
    let pods = ready_pods(cp, WARD_NAMESPACE, "app.kubernetes.io/managed-by=wardwatch").await.unwrap();
    let gateway = pods.iter().find(|p| selector_matches(p, "wardwatch.io/component=gateway")).expect("the gateway pod");
    let gateway_ip = gateway.status.as_ref().and_then(|s| s.pod_ip.clone()).expect("the gateway's pod IP");
    let target: SocketAddr = format!("{gateway_ip}:{HL7_PORT}").parse().unwrap();
    let is_isolated =
        |pod: &Pod| isolated.iter().any(|(name, _)| selector_matches(pod, &format!("wardwatch.io/device={name}")));
    let uid = |pod: &Pod| pod.metadata.uid.clone().expect("a pod's uid");
    let workstation = uid(pods.iter().find(|p| selector_matches(p, "wardwatch.io/device=nurse-station-ws")).unwrap());
    let trusted_pod = pods
        .iter()
        .find(|p| selector_matches(p, "wardwatch.io/component=device") && !is_isolated(p))
        .expect("a device nobody quarantined");
    let trusted = uid(trusted_pod);
    let probe = |pod_uid: String| async move {
        tokio::task::spawn_blocking(move || enforcer::connects_from_pod(&pod_uid, target, Duration::from_secs(2)))
            .await
            .expect("the probe's task")
    };

    eventually(Duration::from_secs(60), "a trusted device connects to the gateway", || {
        let trusted = trusted.clone();
        async move { Ok(probe(trusted).await?.then_some(())) }
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    eventually(Duration::from_secs(60), "the quarantined workstation cut off from the gateway", || {
        let workstation = workstation.clone();
        async move { Ok((!probe(workstation).await?).then_some(())) }
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    // Not a passing glitch: three more tries are rejected, while the trusted device still connects.
    for _ in 0..3 {
        assert!(!probe(workstation.clone()).await.unwrap(), "the quarantined workstation reached {target}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(probe(trusted.clone()).await.unwrap(), "the trusted device reaches {target}");
    eprintln!("enforced: {target} rejects the quarantined workstation and accepts {:?}", trusted_pod.metadata.name);
}

/// The exporter adds NET_RAW and NET_ADMIN and allows privilege escalation (its file
/// capabilities), which even the `baseline` Pod Security Standard forbids: a ward's namespace
/// needs `privileged` (manifests/namespace.yaml). In a `baseline` namespace the API server's
/// PodSecurity admission refuses the ward's pods, and the ReplicaSet says why.
async fn pod_security_refuses_the_exporter_below_privileged(cp: &ControlPlane) {
    // The sample ward's pods were admitted under the level its namespace declares.
    let level = cp
        .kubectl(&[
            "get",
            "namespace",
            WARD_NAMESPACE,
            "-o",
            r"jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}",
        ])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&level.stdout), "privileged");
    let namespace = "ward-baseline";
    cp.apply(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace,
        "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}))
        .await
        .unwrap();
    cp.apply(&serde_json::json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward",
        "metadata": {"name": "icu-baseline", "namespace": namespace},
        "spec": {"hospitalId": "st-mary", "department": "icu"}}))
        .await
        .unwrap();
    let message = eventually(STARTUP, "the gateway's ReplicaSet refused by PodSecurity", || async {
        let output = cp.kubectl(&[
            "get",
            "replicasets",
            "-n",
            namespace,
            "-o",
            r#"jsonpath={.items[*].status.conditions[?(@.type=="ReplicaFailure")].message}"#,
        ])?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        Ok(text.contains("violates PodSecurity").then_some(text))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    eprintln!("baseline namespace: {message}");
    assert!(message.contains(r#"violates PodSecurity "baseline:latest""#), "{message}");
    assert!(
        message.contains(r#"must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add"#),
        "{message}"
    );
    let pods: Api<Pod> = Api::namespaced(cp.client(), namespace);
    assert!(pods.list(&ListParams::default()).await.unwrap().items.is_empty(), "no pod admitted");

    // The operator surfaces the refusal in the device's status: condition PodsAdmitted False
    // with the API server's message, Ready False for the same reason.
    cp.apply(&serde_json::json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
        "metadata": {"name": "bed-1-monitor", "namespace": namespace},
        "spec": {"ward": "icu-baseline", "type": "PulseOximeter", "patient": {"id": "P-1", "bed": "B-01"}}}))
        .await
        .unwrap();
    let devices: Api<MonitoredDevice> = Api::namespaced(cp.client(), namespace);
    let status = eventually(STARTUP, "the device's PodsAdmitted condition False", || async {
        let status = devices.get("bed-1-monitor").await?.status.unwrap_or_default();
        let refused = status.conditions.iter().any(|c| c.type_ == "PodsAdmitted" && c.status == "False");
        Ok(refused.then_some(status))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}", pod_summary(cp)));
    let condition = |type_: &str| status.conditions.iter().find(|c| c.type_ == type_).unwrap().clone();
    let admitted = condition("PodsAdmitted");
    eprintln!("device in the baseline namespace: {:?}, PodsAdmitted: {}", status.phase, admitted.message);
    assert_eq!(admitted.reason, "PodRefused");
    assert!(admitted.message.contains(r#"violates PodSecurity "baseline:latest""#), "{}", admitted.message);
    assert_eq!((condition("Ready").status.as_str(), condition("Ready").reason.as_str()), ("False", "PodRefused"));
    assert_eq!(status.phase, Some(DevicePhase::Pending));
}

/// What the scan left behind, for a failed wait: each device's quarantine, and the scanner's
/// twin log (where its attack went), exporter log and intrusion counters.
fn scan_diagnosis(cp: &ControlPlane, node: &Node) -> String {
    let kubectl = |args: &[&str]| {
        cp.kubectl(args).map_or_else(|e| format!("{e:#}"), |o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let scanner = "deploy/nurse-station-ws-twin";
    let devices = kubectl(&["get", "monitoreddevices", "-n", WARD_NAMESPACE, "-o", "wide"]);
    let twin = kubectl(&["logs", "-n", WARD_NAMESPACE, scanner, "-c", "simulator", "--tail", "20"]);
    let exporter = kubectl(&["logs", "-n", WARD_NAMESPACE, scanner, "-c", "exporter", "--tail", "20"]);
    let ip = kubectl(&[
        "get",
        "pods",
        "-n",
        WARD_NAMESPACE,
        "-l",
        "wardwatch.io/device=nurse-station-ws",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ]);
    let counters = http_get(node.namespace(), &format!("{ip}:9478"), "/metrics").map_or_else(
        |e| format!("{e:#}"),
        |m| m.lines().filter(|l| l.starts_with("wardwatch_ids_")).collect::<Vec<_>>().join("\n"),
    );
    format!("devices:\n{devices}\nscanner twin ({ip}):\n{twin}\nscanner exporter:\n{exporter}\n{counters}")
}

fn selector_matches(pod: &Pod, selector: &str) -> bool {
    let (key, value) = selector.split_once('=').unwrap();
    pod.metadata.labels.as_ref().and_then(|labels| labels.get(key)).is_some_and(|v| v == value)
}

/// (pid, real uid, CapEff) of every exporter running in a container of the node: processes
/// whose executable is the image's `/usr/local/bin/wardwatch-exporter` in a kubelet pod cgroup.
fn exporter_processes() -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        let exe = std::fs::read_link(path.join("exe")).unwrap_or_default();
        let cgroup = std::fs::read_to_string(path.join("cgroup")).unwrap_or_default();
        if exe != std::path::Path::new("/usr/local/bin/wardwatch-exporter") || !cgroup.contains("kubepods") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        };
        found.push((
            entry.file_name().to_string_lossy().into_owned(),
            field("Uid:").unwrap_or_default(),
            field("CapEff:").unwrap_or_default(),
        ));
    }
    found
}

/// The sum of every series of `name` in a Prometheus text exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
