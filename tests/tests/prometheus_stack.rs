//! Prometheus and Alertmanager from Debian's packages, started by the test bed, and the real
//! prometheus-operator rendering what they load.

use std::time::Duration;

use serde_json::json;
use testbed::prometheus::run_tool;
use testbed::{Alertmanager, ControlPlane, Prometheus, PrometheusOperator, eventually};
use wardwatch_crds::{Ward, WardSpec};
use wardwatch_operator::rules::ward_prometheus_rule;

const ALERTMANAGER_CONFIG: &str = "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n";

#[tokio::test]
async fn an_alert_travels_from_prometheus_to_alertmanager() {
    let alertmanager = Alertmanager::start(ALERTMANAGER_CONFIG).await.expect("alertmanager starts");
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [rules.yml]\n\
         alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n\
         scrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:9']}}]}}]\n",
        alertmanager.address()
    );
    // Port 9 (discard) on loopback has no listener, so the target is down and `up` is 0.
    let rules = "groups:\n- name: testbed\n  rules:\n  - alert: TargetDown\n    expr: up == 0\n    labels: {severity: warning}\n";
    let prometheus = Prometheus::start(&config, &[("rules.yml", rules)]).await.expect("prometheus starts");

    let alert = eventually(Duration::from_secs(60), "TargetDown in Alertmanager", || async {
        let alerts = alertmanager.alerts().await?;
        Ok(alerts.into_iter().find(|a| a["labels"]["alertname"] == "TargetDown"))
    })
    .await
    .unwrap();
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["job"], "self");

    let firing = prometheus.alerts().await.unwrap();
    assert!(firing.iter().any(|a| a["labels"]["alertname"] == "TargetDown" && a["state"] == "firing"), "{firing:?}");
}

#[tokio::test]
async fn prometheus_operator_renders_what_prometheus_and_alertmanager_load() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})).await.unwrap();
    let operator = PrometheusOperator::start(&cp).await.expect("prometheus-operator starts");

    // A Prometheus and an Alertmanager at the versions Debian ships, selecting everything.
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "hospital", "namespace": "monitoring"},
        "spec": {"version": "v2.42.0", "ruleSelector": {}, "ruleNamespaceSelector": {},
                 "alerting": {"alertmanagers": [{"namespace": "monitoring", "name": "alertmanager-operated", "port": "web"}]}}}))
        .await
        .expect("Prometheus accepted");
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
        "metadata": {"name": "hospital", "namespace": "monitoring"},
        "spec": {"version": "v0.25.0", "alertmanagerConfigSelector": {}, "alertmanagerConfigNamespaceSelector": {}}}))
        .await
        .expect("Alertmanager accepted");

    // The ward's rule, written through the operator's own builder, and a route for it.
    let ward = cp
        .apply(
            &serde_json::to_value(Ward::new(
                "icu-east",
                serde_yaml::from_str::<WardSpec>("hospitalId: st-mary\ndepartment: icu\n").unwrap(),
            ))
            .map(|mut w| {
                w["metadata"]["namespace"] = json!("monitoring");
                w
            })
            .unwrap(),
        )
        .await
        .expect("ward accepted");
    let ward: Ward = serde_json::from_value(serde_json::to_value(ward).unwrap()).unwrap();
    cp.apply(&serde_json::to_value(ward_prometheus_rule(&ward)).unwrap()).await.expect("rule accepted");
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
        "metadata": {"name": "icu-east", "namespace": "monitoring"},
        "spec": {"route": {"receiver": "icu-webhook", "matchers": [{"name": "ward", "value": "icu-east"}]},
                 "receivers": [{"name": "icu-webhook", "webhookConfigs": [{"url": "http://127.0.0.1:9/hook"}]}]}}))
        .await
        .expect("AlertmanagerConfig accepted");

    // prometheus-operator renders the rule file; promtool accepts it; Prometheus loads it.
    let files = operator
        .rendered_rule_files("monitoring", "hospital", Duration::from_secs(60), |files| {
            files.iter().any(|(_, content)| content.contains("HypoxiaDetected"))
        })
        .await
        .expect("rule files rendered");
    let dir = tempfile::tempdir().unwrap();
    let mut rule_paths = Vec::new();
    for (name, content) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        rule_paths.push(path.display().to_string());
    }
    let mut args = vec!["check", "rules"];
    args.extend(rule_paths.iter().map(String::as_str));
    let (ok, text) = run_tool("promtool", &args).unwrap();
    assert!(ok, "promtool check rules: {text}");

    let rule_files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let config = format!(
        "global: {{evaluation_interval: 1s}}\nrule_files: [{}]\n",
        files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
    );
    let prometheus = Prometheus::start(&config, &rule_files).await.expect("prometheus loads the rendered rules");
    let loaded = prometheus.query("ALERTS").await.unwrap();
    assert!(loaded.is_empty(), "nothing fires without data: {loaded:?}");

    // prometheus-operator merges the AlertmanagerConfig; amtool accepts the result.
    let config = operator
        .rendered_alertmanager_config("monitoring", "hospital", Duration::from_secs(60), |c| c.contains("icu-webhook"))
        .await
        .expect("alertmanager config rendered");
    let path = dir.path().join("alertmanager.yaml");
    std::fs::write(&path, &config).unwrap();
    let (ok, text) = run_tool("amtool", &["check-config", path.to_str().unwrap()]).unwrap();
    assert!(ok, "amtool check-config: {text}\n{config}");
    Alertmanager::start(&config).await.expect("alertmanager loads the rendered configuration");
}
