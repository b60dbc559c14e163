//! Multi-hospital federation on real parts. Two hospitals, each a Prometheus (St Mary's an HA
//! pair) scraping exporters that capture their twins' HL7, with the targets and rules the
//! operator renders for the hospital's ward; and a central Prometheus loaded with the
//! configuration and rules prometheus-operator renders from the ScrapeConfigs and PrometheusRule
//! the operator builds for a HospitalFederation.
//!
//! Everything runs in a network namespace the test makes. Its hosts file gives St Mary's
//! Prometheus name both replicas' addresses, as a headless Service (prometheus-operator's
//! `prometheus-operated`) would; the central Prometheus, started with that hosts file, reaches
//! whichever replica answers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use testbed::http_probe::{answers_ok, loopback_client};
use testbed::netns::NetworkNamespace;
use testbed::pod::{self, PodFacts};
use testbed::pod_targets::{self, LocalPod};
use testbed::process::wait_until_ready;
use testbed::{ControlPlane, ManagedProcess, Placement, Prometheus, PrometheusOperator, eventually, free_port};
use wardwatch_crds::HospitalFederation;
use wardwatch_operator::render::{Inputs, render};
use wardwatch_operator::rules::ward_prometheus_rule;

const ST_MARY_REPLICAS: [[u8; 4]; 2] = [[127, 0, 0, 2], [127, 0, 0, 3]];
const GENERAL_REPLICAS: [[u8; 4]; 1] = [[127, 0, 0, 4]];
const HOSPITAL_PORT: u16 = 9090;

/// St Mary's ICU: a monitor whose patient turns hypoxic at once, a stable oximeter speaking IHE
/// PCD-01 (MDC codes and units), and a ventilator and a point-of-care analyser at a third bed,
/// so that every vital sign is reported.
const ST_MARY: &str = "
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
  twin: {scenario: hypoxia, seed: 1, onsetSeconds: 0, intervalSeconds: 1}
---
apiVersion: wardwatch.io/v1alpha1
kind: MonitoredDevice
metadata: {name: bed-02-oximeter, namespace: st-mary}
spec:
  ward: icu-east
  type: PulseOximeter
  patient: {id: MRN-100871, bed: ICU-02}
  twin: {scenario: stable, seed: 2, intervalSeconds: 1, hl7Profile: ihe-pcd-01}
---
apiVersion: wardwatch.io/v1alpha1
kind: MonitoredDevice
metadata: {name: bed-03-ventilator, namespace: st-mary}
spec:
  ward: icu-east
  type: Ventilator
  patient: {id: MRN-101005, bed: ICU-03}
  twin: {scenario: stable, seed: 3, intervalSeconds: 1}
---
apiVersion: wardwatch.io/v1alpha1
kind: MonitoredDevice
metadata: {name: bed-03-analyser, namespace: st-mary}
spec:
  ward: icu-east
  type: PointOfCareAnalyzer
  patient: {id: MRN-101005, bed: ICU-03}
  twin: {scenario: stable, seed: 4, intervalSeconds: 1}
";

/// General's ward 3: one stable monitor.
const GENERAL: &str = "
apiVersion: wardwatch.io/v1alpha1
kind: Ward
metadata: {name: ward-3, namespace: general}
spec: {hospitalId: general, department: medicine, scrapeInterval: 2s}
---
apiVersion: wardwatch.io/v1alpha1
kind: MonitoredDevice
metadata: {name: bed-07-monitor, namespace: general}
spec:
  ward: ward-3
  type: BedsideMonitor
  patient: {id: GEN-7001, bed: W3-07}
  twin: {scenario: stable, seed: 7, intervalSeconds: 1}
";

/// The central cluster's federation: both hospitals, pulled every 5 s, patient identifiers
/// left in the hospitals.
const FEDERATION: &str = "
apiVersion: wardwatch.io/v1alpha1
kind: HospitalFederation
metadata: {name: north, namespace: central}
spec:
  members:
  - {hospitalId: st-mary, prometheusUrl: 'http://prometheus.st-mary.example:9090', scrapeInterval: 5s}
  - {hospitalId: general, prometheusUrl: 'http://prometheus.general.example:9090', scrapeInterval: 5s}
";

/// A research federation that opted in to General's patient-level series.
const RESEARCH: &str = "
apiVersion: wardwatch.io/v1alpha1
kind: HospitalFederation
metadata: {name: research, namespace: central}
spec:
  members:
  - hospitalId: general
    prometheusUrl: 'http://prometheus.general.example:9090'
    scrapeInterval: 5s
    includePatientIdentifiers: true
    match: ['{__name__=~\"wardwatch:patient_.+\"}']
";

/// A federation that pulls General's patient-level series without opting in, under another
/// hospital id: the central Prometheus must drop every series naming a patient, and label the
/// rest with the id the federation gives, not the one the series carry.
const CARELESS: &str = "
apiVersion: wardwatch.io/v1alpha1
kind: HospitalFederation
metadata: {name: careless, namespace: central}
spec:
  members:
  - hospitalId: general-annex
    prometheusUrl: 'http://prometheus.general.example:9090'
    scrapeInterval: 5s
    match: ['{__name__=~\"wardwatch:patient_.+|ward:wardwatch_targets:count\"}']
";

/// One hospital: its pods' containers as processes, and its Prometheus replicas.
struct Hospital {
    _processes: Vec<ManagedProcess>,
    replicas: Vec<Prometheus>,
    wards: Vec<wardwatch_crds::Ward>,
}

/// The hospital's objects as the operator renders them, its device pods run from their specs
/// (each twin with a gateway of its own, which its exporter's filter picks out on loopback),
/// and one Prometheus per replica address with the ward's targets and rules.
async fn start_hospital(namespace: &NetworkNamespace, yaml: &str, replicas: &[[u8; 4]], logs: &Path) -> Hospital {
    let mut inputs = Inputs::default();
    inputs.add_yaml(yaml, "hospital").unwrap();
    let (objects, warnings) = render(&inputs, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let ward = &inputs.wards[0];
    let hospital = ward.spec.hospital_id.clone();
    let of_kind = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
    let pod_monitor = of_kind("PodMonitor").next().unwrap();

    let mut processes = Vec::new();
    let mut pods = Vec::new();
    let simulator = testbed::workspace_binary("wardwatch-simulator").unwrap();
    let exporter = testbed::workspace_binary("wardwatch-exporter").unwrap();
    let client = loopback_client();
    let devices = of_kind("Deployment")
        .filter(|d| d["spec"]["template"]["metadata"]["labels"]["wardwatch.io/component"] == "device");
    for deployment in devices {
        let name = deployment["metadata"]["name"].as_str().unwrap().to_owned();
        let (gateway_process, gateway) =
            pod::start_loopback_gateway(namespace, &format!("{name}-gateway"), logs).unwrap();
        processes.push(gateway_process);
        let gateway_port: u16 = gateway.rsplit_once(':').unwrap().1.parse().unwrap();
        let metrics_port = free_port().unwrap();

        let spec = pod::pod_spec(deployment).unwrap();
        let facts = PodFacts {
            name: format!("{name}-0"),
            namespace: ward_namespace(ward),
            ip: "127.0.0.1".into(),
            volumes: logs.join("volumes").join(&name),
        };
        let filter = format!("tcp port {gateway_port}");
        let listen = format!("127.0.0.1:{metrics_port}");
        let port = gateway_port.to_string();
        let exporter_env = [
            ("WARDWATCH_INTERFACE", "lo"),
            ("WARDWATCH_FILTER", filter.as_str()),
            ("WARDWATCH_LISTEN", listen.as_str()),
            ("WARDWATCH_HL7_PORTS", port.as_str()),
        ];
        let capture = pod::container_command(spec, "exporter", &exporter, namespace, &facts, &exporter_env).unwrap();
        let mut capture = ManagedProcess::spawn_command(&format!("{name}-exporter"), capture, logs).unwrap();
        // The exporter's startup probe, as the kubelet waits for it before the twin: the twin
        // connects once and keeps its connection, and an exporter that opened its capture after
        // the handshake would never time one (the dashboards' handshake panel stays empty).
        let ready = format!("http://{listen}/readyz");
        wait_until_ready(&mut capture, Duration::from_secs(30), || answers_ok(&client, &ready)).await.unwrap();
        processes.push(capture);
        let twin_env = [("WARDWATCH_GATEWAY", gateway.as_str()), ("WARDWATCH_SCENARIO_RAMP", "10s")];
        let twin = pod::container_command(spec, "simulator", &simulator, namespace, &facts, &twin_env).unwrap();
        processes.push(ManagedProcess::spawn_command(&format!("{name}-simulator"), twin, logs).unwrap());

        let mut local = LocalPod::from_deployment(deployment, &facts.name, "127.0.0.1").unwrap();
        local.ports = vec![("exporter".into(), "metrics".into(), metrics_port)];
        pods.push(local);
    }

    let scrape_configs = pod_targets::scrape_configs(pod_monitor, &pods).unwrap();
    let rules = serde_yaml::to_string(&json!({"groups": ward_prometheus_rule(ward).spec.groups})).unwrap();
    let mut started = Vec::new();
    for (index, address) in replicas.iter().enumerate() {
        // The external labels prometheus-operator gives each replica of a Prometheus.
        let config = json!({
            "global": {"scrape_interval": "2s", "evaluation_interval": "2s",
                       "external_labels": {"prometheus": format!("monitoring/{hospital}"),
                                           "prometheus_replica": format!("prometheus-{hospital}-{index}")}},
            "rule_files": ["ward.rules.yml"],
            "scrape_configs": scrape_configs,
        });
        let placement = Placement { listen: Some(SocketAddr::from((*address, HOSPITAL_PORT))), namespace: None };
        let config = serde_yaml::to_string(&config).unwrap();
        let prometheus = Prometheus::start_placed(&config, &[("ward.rules.yml", &rules)], placement).await.unwrap();
        started.push(prometheus);
    }
    Hospital { _processes: processes, replicas: started, wards: inputs.wards.clone() }
}

fn ward_namespace(ward: &wardwatch_crds::Ward) -> String {
    kube::ResourceExt::namespace(ward).unwrap()
}

/// The central Prometheus's configuration and rule files as prometheus-operator renders them for
/// a `Prometheus` selecting every ScrapeConfig and PrometheusRule, with the rule files' paths
/// made local.
async fn central_configuration(cp: &ControlPlane) -> (String, Vec<(String, String)>) {
    let operator = PrometheusOperator::start(cp).await.expect("prometheus-operator starts");
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "central"}})).await.unwrap();
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "central", "namespace": "central"},
        "spec": {"version": "v2.42.0", "evaluationInterval": "2s",
                 "scrapeConfigSelector": {}, "scrapeConfigNamespaceSelector": {},
                 "ruleSelector": {}, "ruleNamespaceSelector": {}}}))
        .await
        .expect("Prometheus accepted");
    for yaml in [FEDERATION, RESEARCH, CARELESS] {
        let federation: HospitalFederation = serde_yaml::from_str(yaml).unwrap();
        let federation = cp.apply(&serde_json::to_value(&federation).unwrap()).await.expect("federation accepted");
        // Applied with its uid, so that the objects carry their owner reference as in a cluster.
        let federation: HospitalFederation = serde_json::from_value(serde_json::to_value(federation).unwrap()).unwrap();
        for object in wardwatch_operator::desired::federation_objects(&federation, &BTreeMap::new()) {
            cp.apply(&object.to_value()).await.expect("federation object accepted");
        }
    }
    let config = operator
        .rendered_prometheus_config("central", "central", Duration::from_secs(60), |c| {
            ["north-st-mary", "north-general", "research-general", "careless-general-annex"]
                .iter()
                .all(|j| c.contains(j))
        })
        .await
        .expect("the central configuration rendered");
    let rule_files = operator
        .rendered_rule_files("central", "central", Duration::from_secs(60), |files| {
            files.iter().any(|(_, c)| c.contains("HospitalUnreachable"))
        })
        .await
        .expect("the central rules rendered");
    let mut config: Value = serde_yaml::from_str(&config).unwrap();
    config["rule_files"] = json!(rule_files.iter().map(|(name, _)| name).collect::<Vec<_>>());
    (serde_yaml::to_string(&config).unwrap(), rule_files)
}

/// `expr` as Grafana sends it with every variable at "All" (`.+`) and `$__rate_interval` at 1m.
fn as_sent(expr: &str, variables: &[String]) -> String {
    let mut expr = expr.replace("$__rate_interval", "1m");
    for name in variables {
        expr = expr.replace(&format!("${name}"), ".+");
    }
    expr
}

/// Every variable and panel query of `dashboard` answers on `prometheus` with data: a query
/// that errors or returns nothing fails. Returns the number of queries run.
async fn every_query_answers(prometheus: &Prometheus, dashboard: &Value) -> usize {
    let title = dashboard["title"].as_str().unwrap_or_default();
    let variables: Vec<&Value> = dashboard["templating"]["list"].as_array().unwrap().iter().collect();
    let names: Vec<String> = variables.iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect();
    let mut run = 0;
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        // label_values(SELECTOR, LABEL): the selector's series must carry the label.
        let definition = variable["definition"].as_str().unwrap();
        let inner = definition.strip_prefix("label_values(").and_then(|d| d.strip_suffix(')')).unwrap();
        let (selector, label) = inner.rsplit_once(", ").unwrap();
        let found = series(prometheus, &as_sent(selector, &names)).await;
        assert!(found.iter().any(|(l, _)| l.contains_key(label)), "{title}: variable {definition} has no values");
        run += 1;
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = as_sent(target["expr"].as_str().unwrap(), &names);
            let found = series(prometheus, &expr).await;
            assert!(!found.is_empty(), "{title}: panel {:?} has no data: {expr}", panel["title"]);
            // A quantile of no observations, or a ratio of zeros, answers NaN: no data either.
            assert!(found.iter().any(|(_, v)| v.is_finite()), "{title}: panel {:?} is all NaN: {expr}", panel["title"]);
            run += 1;
        }
    }
    run
}

/// The series `query` returns, as label maps with their values.
async fn series(prometheus: &Prometheus, query: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let result = prometheus.query(query).await.unwrap_or_else(|e| panic!("{query}: {e:#}"));
    result
        .into_iter()
        .map(|s| {
            let labels = serde_json::from_value(s["metric"].clone()).unwrap();
            let value = s["value"][1].as_str().unwrap_or("NaN").parse().unwrap_or(f64::NAN);
            (labels, value)
        })
        .collect()
}

#[test]
fn two_hospitals_federate_ward_level_series_and_an_unreachable_hospital_raises_an_alert() {
    let hosts: Vec<(String, String)> = ST_MARY_REPLICAS
        .iter()
        .map(|a| ("prometheus.st-mary.example".to_owned(), IpAddr::from(*a).to_string()))
        .chain(GENERAL_REPLICAS.iter().map(|a| ("prometheus.general.example".to_owned(), IpAddr::from(*a).to_string())))
        .collect();
    let host_refs: Vec<(&str, &str)> = hosts.iter().map(|(h, a)| (h.as_str(), a.as_str())).collect();
    let namespace = NetworkNamespace::create("federation", &host_refs).unwrap();
    // This thread, and the runtime's threads made from it, live in the namespace: every process
    // the test starts does too, and all traffic stays on its loopback.
    namespace.enter().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(federate(&namespace));
}

async fn federate(namespace: &NetworkNamespace) {
    let logs = tempfile::Builder::new().prefix("wardwatch-federation-").tempdir().unwrap();
    let mut st_mary = start_hospital(namespace, ST_MARY, &ST_MARY_REPLICAS, logs.path()).await;
    let mut general = start_hospital(namespace, GENERAL, &GENERAL_REPLICAS, logs.path()).await;

    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    let (config, rule_files) = central_configuration(&cp).await;
    let files: Vec<(&str, &str)> = rule_files.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let placement = Placement { listen: None, namespace: Some(namespace) };
    let central = Prometheus::start_placed(&config, &files, placement).await.expect("the central Prometheus loads it");

    // Each hospital's ward-level series arrive with its hospital label, St Mary's hypoxia among
    // the firing alerts, and nothing names a patient.
    let waited = eventually(Duration::from_secs(120), "St Mary's HypoxiaDetected at the centre", || async {
        let found = series(&central, r#"ward:wardwatch_alerts_firing:count{alertname="HypoxiaDetected"}"#).await;
        Ok((!found.is_empty()).then_some(found))
    })
    .await;
    let alerts = match waited {
        Ok(alerts) => alerts,
        Err(error) => panic!(
            "{error:#}\ncentral targets: {:?}\nlogs in {}",
            central.active_targets().await,
            logs.path().display()
        ),
    };
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (labels, count) = &alerts[0];
    assert_eq!((labels["hospital"].as_str(), labels["ward"].as_str(), *count), ("st-mary", "icu-east", 1.0));
    assert_eq!(labels["federation"], "north");

    let targets = eventually(Duration::from_secs(60), "both hospitals' wards at the centre", || async {
        let found = series(&central, r#"ward:wardwatch_targets:count{federation="north"}"#).await;
        Ok((found.len() == 2).then_some(found))
    })
    .await
    .unwrap();
    let by_hospital: BTreeMap<String, (String, f64)> =
        targets.into_iter().map(|(l, v)| (l["hospital"].clone(), (l["ward"].clone(), v))).collect();
    // One series per ward, counting each ward's exporters once, though St Mary's answers come
    // from two replicas.
    assert_eq!(by_hospital["st-mary"], ("icu-east".to_owned(), 4.0));
    assert_eq!(by_hospital["general"], ("ward-3".to_owned(), 1.0));
    // The oximeter speaks IHE PCD-01: its SpO2 reaches St Mary's Prometheus all the same.
    let pcd01 = series(&st_mary.replicas[1], r#"wardwatch_vital_spo2_percent{device="bed-02-oximeter"}"#).await;
    assert!(!pcd01.is_empty() && pcd01.iter().all(|(_, v)| (85.0..=100.0).contains(v)), "{pcd01:?}");

    // Nothing is wrong with either ward's network: every device scores 100.
    let health = eventually(Duration::from_secs(30), "each ward's network health", || async {
        let found = series(&central, r#"ward:wardwatch_network_health:avg{federation="north"}"#).await;
        Ok((found.len() == 2).then_some(found))
    })
    .await
    .unwrap();
    assert!(health.iter().all(|(_, score)| *score == 100.0), "{health:?}");
    let beds = series(&central, r#"bed:wardwatch_news2_score:max{federation="north"}"#).await;
    let mut bed_names: Vec<&str> = beds.iter().map(|(l, _)| l["bed"].as_str()).collect();
    bed_names.sort();
    assert_eq!(bed_names, ["ICU-01", "ICU-02", "ICU-03", "W3-07"], "{beds:?}");

    for leak in [r#"{federation="north",patient=~".+"}"#, r#"{federation="north",exported_patient=~".+"}"#] {
        assert!(series(&central, leak).await.is_empty(), "{leak} crossed the boundary");
    }
    assert!(series(&central, r#"{prometheus_replica=~".+",federation!=""}"#).await.is_empty(), "replica labels");
    let duplicates = series(
        &central,
        r#"count by (__name__, hospital, ward, bed, band, alertname, protocol, rule) ({federation="north"}) > 1"#,
    )
    .await;
    assert!(duplicates.is_empty(), "duplicated series: {duplicates:?}");

    // The research federation opted in: General's patient-level series reach it, St Mary's not.
    let research = eventually(Duration::from_secs(60), "General's patients in the research federation", || async {
        let found = series(&central, r#"wardwatch:patient_spo2:min{federation="research"}"#).await;
        Ok((!found.is_empty()).then_some(found))
    })
    .await
    .unwrap();
    assert_eq!(research[0].0["patient"], "GEN-7001");
    assert_eq!(research[0].0["hospital"], "general");

    // The exporters rank their top talkers once a minute of packet time has passed.
    eventually(Duration::from_secs(90), "St Mary's first top talkers", || async {
        Ok((!series(&st_mary.replicas[1], "wardwatch_top_talker_bytes").await.is_empty()).then_some(()))
    })
    .await
    .unwrap();
    // Every query of the fleet dashboard answers at the centre, every query of the ward's
    // dashboard and every federated recording rule at St Mary's (the replica that stays).
    let fleet = wardwatch_operator::dashboards::fleet::dashboard_json();
    let fleet_queries = every_query_answers(&central, &fleet).await;
    let ward = &st_mary.wards[0];
    let ward_queries =
        every_query_answers(&st_mary.replicas[1], &wardwatch_operator::dashboards::dashboard_json(ward)).await;
    let device_dashboard = wardwatch_operator::dashboards::device::dashboard_json();
    let device_queries = every_query_answers(&st_mary.replicas[1], &device_dashboard).await;
    let scope = wardwatch_operator::rules::scope(ward);
    for rule in wardwatch_operator::rules::federated::recording_rules(&scope, true) {
        let found = series(&st_mary.replicas[1], &rule.expr).await;
        assert!(!found.is_empty(), "{:?} has no data: {}", rule.record, rule.expr);
    }
    eprintln!("queries answered: fleet dashboard {fleet_queries}, ward {ward_queries}, device {device_queries}");

    // The careless federation pulled patient-level series without opting in: none arrived, and
    // what did arrive is labelled with the federation's hospital id.
    let careless = eventually(Duration::from_secs(60), "the careless federation's ward series", || async {
        let found = series(&central, r#"{federation="careless"}"#).await;
        Ok(found.iter().any(|(l, _)| l["__name__"] == "ward:wardwatch_targets:count").then_some(found))
    })
    .await
    .unwrap();
    assert!(
        careless.iter().all(|(l, _)| !l.contains_key("patient") && l["hospital"] == "general-annex"),
        "{careless:?}"
    );

    // One replica of the pair stops: the other answers, and St Mary's stays up at the centre.
    st_mary.replicas[0].process().kill();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let up = series(&central, r#"up{federation="north",hospital="st-mary"}"#).await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0, "St Mary's second replica answers");
    let fresh =
        series(&central, r#"time() - timestamp(ward:wardwatch_targets:count{hospital="st-mary",federation="north"})"#)
            .await;
    assert!(fresh[0].1 < 10.0, "St Mary's series still arrive: {fresh:?}");

    // General's only Prometheus stops: HospitalUnreachable fires for General, and only General
    // (in each federation that pulls it: north's is checked here).
    general.replicas[0].process().kill();
    let alert = eventually(Duration::from_secs(90), "HospitalUnreachable for General", || async {
        let alerts = central.alerts().await?;
        Ok(alerts.into_iter().find(|a| {
            a["labels"]["alertname"] == "HospitalUnreachable"
                && a["labels"]["federation"] == "north"
                && a["state"] == "firing"
        }))
    })
    .await
    .unwrap();
    assert_eq!(alert["labels"]["hospital"], "general");
    assert_eq!(alert["labels"]["severity"], "critical");
    let unreachable: Vec<String> = central
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "HospitalUnreachable")
        .map(|a| format!("{}/{}", a["labels"]["federation"], a["labels"]["hospital"]))
        .collect();
    assert!(!unreachable.iter().any(|h| h.ends_with("/st-mary")), "{unreachable:?}");
}
