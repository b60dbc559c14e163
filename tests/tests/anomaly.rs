//! Learned anomaly detection end to end on real parts. A bedside monitor's pod, run from the
//! spec the operator renders for a Ward with anomaly detection on: its twin sends HL7 to a
//! gateway every second and, after its onset, port-scans the pod's own loopback (the one target
//! a test may aim at); its exporter learns the monitor's normal traffic for a training window
//! shortened for the test, then scores. A Prometheus scrapes the exporter with the ward's targets
//! and rules: no anomaly alert while the monitor behaves, `NetworkAnomalyDetected` once it scans.
//!
//! Everything runs in a network namespace the test makes, and all traffic stays on its loopback.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use testbed::netns::NetworkNamespace;
use testbed::pod::{self, PodFacts};
use testbed::pod_targets::{self, LocalPod};
use testbed::{ManagedProcess, Placement, Prometheus, eventually, free_port};
use wardwatch_operator::render::{Inputs, render};
use wardwatch_operator::rules::ward_prometheus_rule;

const WARD: &str = "
apiVersion: wardwatch.io/v1alpha1
kind: Ward
metadata: {name: icu-east, namespace: st-mary}
spec: {hospitalId: st-mary, department: icu, scrapeInterval: 2s}
---
apiVersion: wardwatch.io/v1alpha1
kind: MonitoredDevice
metadata: {name: bed-01-monitor, namespace: st-mary}
spec:
  ward: icu-east
  type: BedsideMonitor
  patient: {id: MRN-100234, bed: ICU-01}
  twin: {scenario: stable, seed: 1, intervalSeconds: 1}
  network: {scenario: port-scan, target: 127.0.0.1}
";

/// The exporter learns for this long (the CRD's minimum is 1m; the exporter takes less).
const TRAINING: &str = "40s";
/// The scan starts this long after the twin: well after the training window and a few scored
/// windows of normal traffic.
const ONSET: Duration = Duration::from_secs(75);

#[test]
fn a_twins_port_scan_raises_the_network_anomaly_alert_and_normal_traffic_does_not() {
    let namespace = NetworkNamespace::create("anomaly", &[]).unwrap();
    namespace.enter().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let logs = tempfile::Builder::new().prefix("wardwatch-anomaly-").tempdir().unwrap();
    runtime.block_on(scan_is_anomalous(&namespace, logs.path()));
}

async fn scan_is_anomalous(namespace: &NetworkNamespace, logs: &Path) {
    let mut inputs = Inputs::default();
    inputs.add_yaml(WARD, "ward").unwrap();
    let (objects, warnings) = render(&inputs, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let ward = &inputs.wards[0];
    let deployment =
        objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "bed-01-monitor-twin");
    let deployment = deployment.expect("the monitor's Deployment");
    let spec = pod::pod_spec(deployment).unwrap();
    let simulator = testbed::workspace_binary("wardwatch-simulator").unwrap();
    let exporter = testbed::workspace_binary("wardwatch-exporter").unwrap();

    let (gateway_process, gateway) = pod::start_loopback_gateway(namespace, "gateway", logs).unwrap();
    let mut processes = vec![gateway_process];

    let facts = PodFacts {
        name: "bed-01-monitor-twin-0".into(),
        namespace: "st-mary".into(),
        ip: "127.0.0.1".into(),
        volumes: logs.join("volumes"),
    };
    let metrics_port = free_port().unwrap();
    let listen = format!("127.0.0.1:{metrics_port}");
    let exporter_env = [
        ("WARDWATCH_INTERFACE", "lo"),
        ("WARDWATCH_LISTEN", listen.as_str()),
        ("WARDWATCH_ANOMALY_TRAINING_WINDOW", TRAINING),
    ];
    let capture = pod::container_command(spec, "exporter", &exporter, namespace, &facts, &exporter_env).unwrap();
    processes.push(ManagedProcess::spawn_command("exporter", capture, logs).unwrap());
    // The exporter opens its capture before the twin's first packet.
    let client = testbed::http_probe::loopback_client();
    eventually(Duration::from_secs(20), "the exporter's capture open", || async {
        let text = client.get(format!("http://{listen}/metrics")).send().await?.text().await?;
        Ok(text.contains("wardwatch_capture_open 1").then_some(()))
    })
    .await
    .unwrap();
    let onset = format!("{}s", ONSET.as_secs());
    // A scan of 6,000 ports at 100 a second lasts a minute: an anomaly sustained past the
    // alert's 30 s (the default 1,024 ports are over in 10 s, which the port_scan rule catches).
    let twin_env = [
        ("WARDWATCH_GATEWAY", gateway.as_str()),
        ("WARDWATCH_ATTACK_ONSET", onset.as_str()),
        ("WARDWATCH_ATTACK_PORTS", "1-6000"),
    ];
    let twin = pod::container_command(spec, "simulator", &simulator, namespace, &facts, &twin_env).unwrap();
    processes.push(ManagedProcess::spawn_command("twin", twin, logs).unwrap());
    let started = Instant::now();

    let mut local = LocalPod::from_deployment(deployment, &facts.name, "127.0.0.1").unwrap();
    local.ports = vec![("exporter".into(), "metrics".into(), metrics_port)];
    let pod_monitor = objects.iter().find(|o| o["kind"] == "PodMonitor").unwrap();
    let scrape_configs = pod_targets::scrape_configs(pod_monitor, &[local]).unwrap();
    let rules = serde_yaml::to_string(&json!({"groups": ward_prometheus_rule(ward).spec.groups})).unwrap();
    let config = serde_yaml::to_string(&json!({
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": ["ward.rules.yml"],
        "scrape_configs": scrape_configs,
    }))
    .unwrap();
    let placement = Placement { listen: None, namespace: Some(namespace) };
    let prometheus = Prometheus::start_placed(&config, &[("ward.rules.yml", &rules)], placement).await.unwrap();
    let anomaly_alerts = || async {
        let alerts = prometheus.alerts().await.unwrap();
        alerts.into_iter().filter(|a| a["labels"]["alertname"] == "NetworkAnomalyDetected").collect::<Vec<_>>()
    };

    // Learning, then scoring, while the monitor only reports: never an anomaly alert.
    let scoring = r#"wardwatch_anomaly_model_state{model="network",state="scoring"} == 1"#;
    eventually(ONSET, "the network model scoring", || async {
        Ok((!prometheus.query(scoring).await?.is_empty()).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nlogs in {}", logs.display()));
    while started.elapsed() < ONSET {
        assert!(anomaly_alerts().await.is_empty(), "an anomaly alert on normal traffic; logs in {}", logs.display());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let normal = prometheus.query(r#"max_over_time(wardwatch_anomaly_score{model="network"}[30s])"#).await.unwrap();
    eprintln!("highest network anomaly score in the last normal 30 s: {normal:?}");

    // The scan: the score crosses 1, and after 30 s of it the alert fires with the device's labels.
    let alert = eventually(Duration::from_secs(120), "NetworkAnomalyDetected firing", || async {
        Ok(anomaly_alerts().await.into_iter().find(|a| a["state"] == "firing"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nlogs in {}", logs.display()));
    let labels = &alert["labels"];
    assert_eq!(
        (labels["device"].as_str(), labels["bed"].as_str(), labels["category"].as_str(), labels["severity"].as_str()),
        (Some("bed-01-monitor"), Some("ICU-01"), Some("network"), Some("warning")),
        "{alert}"
    );
    eprintln!("NetworkAnomalyDetected fired {:.0} s after the scan began", (started.elapsed() - ONSET).as_secs_f64());
}
