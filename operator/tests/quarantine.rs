//! Automatic quarantine end to end on the test bed (a real kube-apiserver and etcd,
//! prometheus-operator's real CRDs, the operator binary as processes): Alertmanager's
//! notifications, posted as Alertmanager posts them, to the operator's webhook.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use serde_json::{Value, json};
use support::*;
use testbed::http_probe::loopback_client;
use testbed::process::free_port;
use testbed::{ControlPlane, eventually};
use wardwatch_operator::quarantine::{AlertQuarantine, WebhookKey};

const CONVERGE: Duration = Duration::from_secs(60);
const NS: &str = "st-mary";
const KEY: &str = "the test bed's quarantine webhook key, 48 bytes.";
const POLICY: &str = "networkpolicy/bed-02-oximeter-quarantine";
const DEVICE: &str = "monitoreddevice/bed-02-oximeter";

async fn bed() -> ControlPlane {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp
}

fn key_file(cp: &ControlPlane, key: &str) -> PathBuf {
    let path = cp.dir().join("webhook.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}

/// One operator replica serving the webhook on a free loopback port.
struct Replica {
    operator: Operator,
    url: String,
}

async fn replica_with_kubeconfig(
    cp: &ControlPlane,
    kubeconfig: &std::path::Path,
    name: &str,
    key_file: &std::path::Path,
    extra: &[&str],
) -> Replica {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}/quarantine");
    let address = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--webhook-key-file",
        key_file.to_str().unwrap(),
        "--webhook-address",
        &address,
        "--quarantine-webhook",
        &url,
    ];
    args.extend(extra);
    let operator = Operator::start_with_kubeconfig(cp, kubeconfig, name, &args).await;
    Replica { operator, url }
}

async fn replica(cp: &ControlPlane, name: &str, key_file: &std::path::Path) -> Replica {
    replica_with_kubeconfig(cp, cp.kubeconfig_path(), name, key_file, &[]).await
}

/// A ward quarantining on network alerts of at least `warning`, with two devices.
async fn apply_ward(cp: &ControlPlane) {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward", "metadata": {"name": "icu-east", "namespace": NS},
               "spec": {"hospitalId": "st-mary", "department": "icu",
                        "quarantine": {"mode": "OnAlert", "minSeverity": "warning"}}}),
        json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
               "metadata": {"name": "bed-01-monitor", "namespace": NS},
               "spec": {"ward": "icu-east", "type": "BedsideMonitor", "patient": {"id": "MRN-1", "bed": "ICU-01"}}}),
        json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
               "metadata": {"name": "bed-02-oximeter", "namespace": NS},
               "spec": {"ward": "icu-east", "type": "PulseOximeter", "patient": {"id": "MRN-2", "bed": "ICU-02"}}}),
    ];
    for object in &objects {
        cp.apply(object).await.unwrap();
    }
    // The suite's three tests each start a control plane and operators on two cores; a fresh
    // clone's CI run once took over a minute to see the first device reconciled.
    for device in ["monitoreddevice/bed-01-monitor", DEVICE] {
        wait_for_jsonpath(cp, &["get", "-n", NS, device], "{.status.phase}", "Pending", 2 * CONVERGE).await;
    }
}

/// The token the ward controller wrote into the ward's Secret.
async fn ward_token(cp: &ControlPlane) -> String {
    wait_exists(cp, NS, "secret/icu-east-quarantine-token").await;
    kubectl_ok(
        cp,
        &["get", "-n", NS, "secret/icu-east-quarantine-token", "-o", "go-template={{.data.token | base64decode}}"],
    )
}

/// An Alertmanager (payload version 4) notification of one alert.
fn notification(status: &str, alertname: &str, severity: &str, device: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": format!("{{}}/{{namespace=\"{NS}\"}}:{{alertname=\"{alertname}\", device=\"{device}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "st-mary/icu-east-routing/wardwatch-quarantine",
        "groupLabels": {"alertname": alertname, "device": device},
        "commonLabels": {"alertname": alertname},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "category": "network", "severity": severity, "device": device,
                       "namespace": NS, "ward": "icu-east", "hospital": "st-mary"},
            "annotations": {"summary": format!("{device}: {alertname}")},
            "startsAt": "2025-05-01T10:00:00.5Z",
            "endsAt": if status == "resolved" { "2025-05-01T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.test:9090/graph",
            "fingerprint": "5e1c0ffee0ddba11",
        }],
    })
}

/// POSTs `body` to `url`; the status and the JSON answer.
async fn post(url: &str, token: Option<&str>, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let mut request = loopback_client().post(url).header("content-type", "application/json").body(body.into());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the webhook answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn summary(quarantined: u32, already: u32, ignored: u32) -> Value {
    json!({"quarantined": quarantined, "alreadyQuarantined": already, "ignored": ignored})
}

fn annotation(cp: &ControlPlane, device: &str) -> String {
    kubectl_ok(cp, &["get", "-n", NS, device, "-o", "jsonpath={.metadata.annotations.wardwatch\\.io/quarantine}"])
}

/// POSTs a firing PortScanDetected for `device` and times it: (answer, time to the answer, time
/// until the device's quarantine NetworkPolicy exists).
async fn post_and_time_isolation(
    cp: &ControlPlane,
    url: &str,
    token: &str,
    device: &str,
) -> (Value, Duration, Duration) {
    let policies: Api<NetworkPolicy> = Api::namespaced(cp.client(), NS);
    let policy = format!("{device}-quarantine");
    assert!(policies.get_opt(&policy).await.unwrap().is_none(), "{policy} before the alert");
    let body = notification("firing", "PortScanDetected", "warning", device).to_string();
    let started = Instant::now();
    let (status, answer) = post(url, Some(token), body).await;
    let answered = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    loop {
        if policies.get_opt(&policy).await.unwrap().is_some() {
            return (answer, answered, started.elapsed());
        }
        assert!(started.elapsed() < CONVERGE, "{policy} never appeared");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `wardwatch_operator_quarantine_requests_total{result}` of one replica.
async fn requests(operator: &Operator, result: &str) -> f64 {
    operator.metric("wardwatch_operator_quarantine_requests_total", &format!("result=\"{result}\"")).await
}

fn metadata_of(cp: &ControlPlane, device: &str) -> String {
    kubectl_ok(cp, &["get", "-n", NS, device, "-o", "jsonpath={.metadata.resourceVersion} {.metadata.managedFields}"])
}

fn event_messages(cp: &ControlPlane, reason: &str) -> String {
    let field = format!("reason={reason}");
    kubectl_ok(cp, &["get", "events", "-n", NS, "--field-selector", &field, "-o", "jsonpath={.items[*].message}"])
}

#[tokio::test]
async fn a_network_alert_quarantines_its_device_until_a_person_lifts_it() {
    let cp = bed().await;
    let key_file = key_file(&cp, KEY);
    let first = replica(&cp, "operator-a", &key_file).await;
    apply_ward(&cp).await;

    // The ward's token: HMAC-SHA256(master key, namespace) in hex, in a Secret the Ward owns,
    // and the ward's routing sends network alerts to the webhook.
    let token = ward_token(&cp).await;
    assert_eq!(token, WebhookKey::new(KEY).unwrap().token(NS));
    let owner = kubectl_ok(
        &cp,
        &["get", "-n", NS, "secret/icu-east-quarantine-token", "-o", "jsonpath={.metadata.ownerReferences[0].kind}"],
    );
    assert_eq!(owner, "Ward");
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "alertmanagerconfig/icu-east-routing"],
        "{.spec.receivers[?(@.name==\"wardwatch-quarantine\")].webhookConfigs[0].url}",
        &first.url,
        CONVERGE,
    )
    .await;

    // Without the namespace's token: 401, and nothing changes.
    let firing = notification("firing", "PortScanDetected", "warning", "bed-02-oximeter").to_string();
    let other_namespace = WebhookKey::new(KEY).unwrap().token("general");
    for token in [None, Some(other_namespace.as_str()), Some("0123abcd")] {
        let (status, answer) = post(&first.url, token, firing.clone()).await;
        assert_eq!(status, 401, "{token:?}: {answer}");
    }
    // Oversized or malformed: 400.
    let mut oversized = notification("firing", "PortScanDetected", "warning", "bed-02-oximeter");
    oversized["commonAnnotations"]["padding"] = json!("x".repeat(300 * 1024));
    let (status, answer) = post(&first.url, Some(&token), oversized.to_string()).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = post(&first.url, Some(&token), "{\"version\": \"4\", \"alerts\": [").await;
    assert_eq!(status, 400);
    // Only POST /quarantine.
    let other_path = first.url.replace("/quarantine", "/other");
    assert_eq!(post(&other_path, Some(&token), firing.clone()).await.0, 404);
    let get = loopback_client().get(&first.url).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(annotation(&cp, DEVICE), "", "refused requests wrote nothing");
    assert!(!exists(&cp, &["get", "-n", NS, POLICY]));
    assert_eq!(requests(&first.operator, "unauthorized").await, 3.0);
    assert_eq!(requests(&first.operator, "bad_request").await, 2.0);

    // A firing PortScanDetected with the token: annotation, isolation, status, Events.
    let (answer, answered, isolated) = post_and_time_isolation(&cp, &first.url, &token, "bed-02-oximeter").await;
    assert_eq!(answer, summary(1, 0, 0));
    println!(
        "quarantine latency (one replica): webhook answered in {:.1} ms; NetworkPolicy created {:.1} ms after the POST",
        answered.as_secs_f64() * 1e3,
        isolated.as_secs_f64() * 1e3
    );
    let record = AlertQuarantine::from_annotation(&annotation(&cp, DEVICE)).expect("the annotation's record");
    assert_eq!((record.alert.as_str(), record.severity.as_str()), ("PortScanDetected", "warning"));
    assert_eq!(record.starts_at, "2025-05-01T10:00:00.5Z");
    wait_for_jsonpath(&cp, &["get", "-n", NS, DEVICE], "{.status.phase}", "Quarantined", CONVERGE).await;
    let reason =
        kubectl_ok(&cp, &["get", "-n", NS, DEVICE, "-o", "jsonpath={.status.quarantined} {.status.quarantineReason}"]);
    assert!(
        reason.starts_with("true network alert PortScanDetected (warning) since 2025-05-01T10:00:00.5Z"),
        "{reason}"
    );
    assert!(reason.contains("kubectl annotate monitoreddevice bed-02-oximeter -n st-mary wardwatch.io/quarantine-"));
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "ward/icu-east"],
        "{.status.quarantinedDevices}",
        "[\"bed-02-oximeter\"]",
        CONVERGE,
    )
    .await;
    assert!(event_messages(&cp, "QuarantineRequested").contains("PortScanDetected"));
    eventually(CONVERGE, "a Quarantined event naming the alert", || async {
        Ok(event_messages(&cp, "Quarantined").contains("PortScanDetected").then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(annotation(&cp, "monitoreddevice/bed-01-monitor"), "", "the other device is untouched");

    // A replay writes nothing: the device's resourceVersion and managedFields stay as they are.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = metadata_of(&cp, DEVICE);
    assert_eq!(post(&first.url, Some(&token), firing.clone()).await, (200, summary(0, 1, 0)));
    // Resolved changes nothing either: a quarantine stays until a person lifts it.
    let resolved = notification("resolved", "PortScanDetected", "warning", "bed-02-oximeter").to_string();
    assert_eq!(post(&first.url, Some(&token), resolved).await, (200, summary(0, 0, 1)));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(metadata_of(&cp, DEVICE), before, "a replay or a resolved alert wrote to the device");
    assert!(exists(&cp, &["get", "-n", NS, POLICY]), "still isolated after the alert resolved");

    // An unknown device, or an alert below the ward's minSeverity: 200, ignored.
    let unknown = notification("firing", "PortScanDetected", "critical", "no-such-device").to_string();
    assert_eq!(post(&first.url, Some(&token), unknown).await, (200, summary(0, 0, 1)));
    let info = notification("firing", "UnusualPort", "info", "bed-01-monitor").to_string();
    assert_eq!(post(&first.url, Some(&token), info).await, (200, summary(0, 0, 1)));
    // A critical ARP-spoofing alert names the device that saw the announcement, not the one that
    // sent it: ignored too.
    let witness = notification("firing", "ArpSpoofDetected", "critical", "bed-01-monitor").to_string();
    assert_eq!(post(&first.url, Some(&token), witness).await, (200, summary(0, 0, 1)));
    assert_eq!(annotation(&cp, "monitoreddevice/bed-01-monitor"), "");
    assert_eq!(requests(&first.operator, "quarantined").await, 1.0);
    assert_eq!(requests(&first.operator, "already_quarantined").await, 1.0);
    assert_eq!(requests(&first.operator, "ignored").await, 4.0);

    // A restarted operator keeps the device isolated: the annotation is the quarantine's memory.
    let mut first = first;
    assert!(first.operator.process.terminate(Duration::from_secs(10)), "the operator exits on SIGTERM");
    let second = replica(&cp, "operator-b", &key_file).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(exists(&cp, &["get", "-n", NS, POLICY]), "still isolated after a restart");
    let state = kubectl_ok(&cp, &["get", "-n", NS, DEVICE, "-o", "jsonpath={.status.phase} {.status.quarantined}"]);
    assert_eq!(state, "Quarantined true");
    assert_eq!(post(&second.url, Some(&token), firing).await, (200, summary(0, 1, 0)));

    // A person lifts the quarantine by removing the annotation.
    kubectl_ok(&cp, &["annotate", "-n", NS, DEVICE, "wardwatch.io/quarantine-"]);
    wait_gone(&cp, NS, POLICY).await;
    wait_for_jsonpath(&cp, &["get", "-n", NS, DEVICE], "{.status.quarantined}", "false", CONVERGE).await;
    wait_for_jsonpath(&cp, &["get", "-n", NS, DEVICE], "{.status.phase}", "Pending", CONVERGE).await;
}

#[tokio::test]
async fn a_standby_replicas_webhook_isolates_through_the_leader() {
    let cp = bed().await;
    let key_file = key_file(&cp, KEY);
    let a = replica(&cp, "replica-a", &key_file).await;
    let b = replica(&cp, "replica-b", &key_file).await;
    let leader = the_leader(&a.operator, &b.operator).await;
    let (leading, standby) = if leader == 'a' { (&a, &b) } else { (&b, &a) };
    apply_ward(&cp).await;
    let token = ward_token(&cp).await;

    // The standby only writes the annotation; the leader's device controller isolates.
    let (answer, answered, isolated) = post_and_time_isolation(&cp, &standby.url, &token, "bed-02-oximeter").await;
    assert_eq!(answer, summary(1, 0, 0));
    println!(
        "quarantine latency (POST to the standby): webhook answered in {:.1} ms; NetworkPolicy created {:.1} ms after the POST",
        answered.as_secs_f64() * 1e3,
        isolated.as_secs_f64() * 1e3
    );
    wait_for_jsonpath(&cp, &["get", "-n", NS, DEVICE], "{.status.phase}", "Quarantined", CONVERGE).await;
    assert_eq!(standby.operator.metric("wardwatch_operator_leader", "").await, 0.0, "the standby stayed standby");

    // The same alert delivered to both replicas at once: one writes, the other finds it written.
    let firing = notification("firing", "PortScanDetected", "critical", "bed-01-monitor").to_string();
    let (one, other) =
        tokio::join!(post(&leading.url, Some(&token), firing.clone()), post(&standby.url, Some(&token), firing));
    assert_eq!((one.0, other.0), (200, 200));
    let quarantined = one.1["quarantined"].as_u64().unwrap() + other.1["quarantined"].as_u64().unwrap();
    let already = one.1["alreadyQuarantined"].as_u64().unwrap() + other.1["alreadyQuarantined"].as_u64().unwrap();
    assert_eq!((quarantined, already), (1, 1), "{} / {}", one.1, other.1);
    wait_exists(&cp, NS, "networkpolicy/bed-01-monitor-quarantine").await;
    let managers = kubectl_ok(
        &cp,
        &["get", "-n", NS, "monitoreddevice/bed-01-monitor", "-o", "jsonpath={.metadata.managedFields[*].manager}"],
    );
    assert!(managers.contains("wardwatch-operator"), "{managers}");
}

#[tokio::test]
async fn the_charts_key_and_rbac_serve_the_webhook() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    install_chart(&cp);

    // The key the chart generated; an upgrade keeps it.
    let read_key = || {
        kubectl_ok(
            &cp,
            &[
                "get",
                "-n",
                "wardwatch-system",
                "secret/wardwatch-operator-webhook-key",
                "-o",
                "go-template={{.data.key | base64decode}}",
            ],
        )
    };
    let key = read_key();
    assert_eq!(key.len(), 48, "{key:?}");
    let upgrade = cp
        .helm(&["upgrade", "wardwatch", repo_path("charts/wardwatch").to_str().unwrap(), "-n", "wardwatch-system"])
        .unwrap();
    assert!(upgrade.status.success(), "{}", String::from_utf8_lossy(&upgrade.stderr));
    assert_eq!(read_key(), key, "helm upgrade kept the key");
    let url = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            "wardwatch-system",
            "deployment/wardwatch-operator",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[?(@.name==\"WARDWATCH_QUARANTINE_WEBHOOK\")].value}",
        ],
    );
    assert_eq!(url, "http://wardwatch-operator-metrics.wardwatch-system.svc:8443/quarantine");
    let port = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            "wardwatch-system",
            "service/wardwatch-operator-metrics",
            "-o",
            "jsonpath={.spec.ports[?(@.name==\"webhook\")].port}",
        ],
    );
    assert_eq!(port, "8443");

    // The operator as the chart's ServiceAccount, with the chart's key.
    let kubeconfig = service_account_kubeconfig(&cp, "wardwatch-system", "wardwatch-operator");
    let key_file = key_file(&cp, &key);
    let operator = replica_with_kubeconfig(
        &cp,
        &kubeconfig,
        "operator-sa",
        &key_file,
        &["--leader-election-namespace", "wardwatch-system"],
    )
    .await;
    apply_ward(&cp).await;
    let token = ward_token(&cp).await;
    assert_eq!(token, WebhookKey::new(&key).unwrap().token(NS));
    let (answer, _, _) = post_and_time_isolation(&cp, &operator.url, &token, "bed-02-oximeter").await;
    assert_eq!(answer, summary(1, 0, 0));
    wait_for_jsonpath(&cp, &["get", "-n", NS, DEVICE], "{.status.phase}", "Quarantined", CONVERGE).await;
    eventually(CONVERGE, "the QuarantineRequested and Quarantined events", || async {
        Ok((has_event(&cp, NS, "QuarantineRequested") && has_event(&cp, NS, "Quarantined")).then_some(()))
    })
    .await
    .unwrap();
    let log = std::fs::read_to_string(operator.operator.process.log_path()).unwrap();
    assert!(!log.contains("forbidden"), "the chart's RBAC misses a permission:\n{log}");
}
