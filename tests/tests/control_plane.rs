//! The test bed's first end-to-end suite: a real kube-apiserver and etcd with the real
//! prometheus-operator CRDs and wardwatch's own, driven through kube::Client and kubectl.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use testbed::ControlPlane;
use wardwatch_crds::{Ward, WardSpec};
use wardwatch_operator::monitoring::PrometheusRule;
use wardwatch_operator::rules::ward_prometheus_rule;

async fn control_plane_with_crds() -> ControlPlane {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.expect("prometheus-operator CRDs install");
    cp.install_crds(&wardwatch_crds::crds()).await.expect("wardwatch CRDs install");
    cp
}

async fn create_namespace(cp: &ControlPlane, name: &str) {
    let api: Api<Namespace> = Api::all(cp.client());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &namespace).await.expect("namespace created");
}

/// The API server's refusal text for `object`, which must be refused.
async fn refusal(cp: &ControlPlane, object: serde_json::Value) -> String {
    match cp.apply(&object).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "refused as invalid: {status:?}");
            status.message
        }
        other => panic!("expected the API server to refuse {object}, got {other:?}"),
    }
}

fn ward_json(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward",
           "metadata": {"name": name, "namespace": "st-mary"}, "spec": spec})
}

#[tokio::test]
async fn prometheus_rule_round_trips_and_invalid_objects_are_refused() {
    let cp = control_plane_with_crds().await;
    create_namespace(&cp, "st-mary").await;

    // A Ward, stored with its defaults filled in by the API server.
    let wards: Api<Ward> = Api::namespaced(cp.client(), "st-mary");
    let spec: WardSpec = serde_yaml::from_str("hospitalId: st-mary\ndepartment: icu\n").unwrap();
    let ward = wards.create(&PostParams::default(), &Ward::new("icu-east", spec)).await.expect("ward accepted");
    assert_eq!(ward.spec.scrape_interval, "5s");
    assert_eq!(ward.spec.thresholds.spo2_percent.low, 90.0);

    // The ward's PrometheusRule, accepted by prometheus-operator's real schema and read back.
    let rules: Api<PrometheusRule> = Api::namespaced(cp.client(), "st-mary");
    let desired = ward_prometheus_rule(&ward);
    rules.create(&PostParams::default(), &desired).await.expect("PrometheusRule accepted");
    let stored = rules.get("icu-east-wardwatch").await.expect("PrometheusRule read back");
    assert_eq!(stored.spec, desired.spec);
    assert_eq!(stored.metadata.owner_references, desired.metadata.owner_references);

    // prometheus-operator's schema refuses a malformed duration and names the field.
    let message = refusal(
        &cp,
        json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "bad-duration", "namespace": "st-mary"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "ten seconds"}]}]}
        }),
    )
    .await;
    assert!(message.contains("spec.groups[0].rules[0].for"), "{message}");

    // wardwatch's own CEL rules refuse inverted limits and a bad hospital id, naming the field.
    let message = refusal(
        &cp,
        ward_json(
            "inverted",
            json!({"hospitalId": "st-mary", "department": "icu",
        "thresholds": {"spo2Percent": {"low": 96, "high": 90}}}),
        ),
    )
    .await;
    assert!(message.contains("spec.thresholds.spo2Percent"), "{message}");
    assert!(message.contains("low must be below high"), "{message}");

    let message =
        refusal(&cp, ward_json("bad-hospital", json!({"hospitalId": "St Mary's", "department": "icu"}))).await;
    assert!(message.contains("spec.hospitalId"), "{message}");

    let message = refusal(&cp, ward_json("no-department", json!({"hospitalId": "st-mary"}))).await;
    assert!(message.contains("spec.department"), "{message}");

    // kubectl, built from the same Kubernetes release, answers against the same API server.
    let output = cp.kubectl(&["get", "prometheusrules", "-n", "st-mary", "-o", "name"]).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "prometheusrule.monitoring.coreos.com/icu-east-wardwatch"
    );

    let output = cp.kubectl(&["get", "wards", "-n", "st-mary"]).unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("HOSPITAL") && table.contains("DEPARTMENT"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("icu-east") && l.contains("st-mary") && l.contains("icu")), "{table}");
}

#[tokio::test]
async fn state_survives_an_api_server_restart() {
    let mut cp = ControlPlane::start().await.expect("control plane starts");
    create_namespace(&cp, "survivor").await;
    cp.restart_apiserver(std::time::Duration::from_millis(500)).await.expect("API server restarts");
    let namespaces: Api<Namespace> = Api::all(cp.client());
    let namespace = namespaces.get("survivor").await.expect("namespace kept in etcd across the restart");
    assert_eq!(namespace.metadata.name.as_deref(), Some("survivor"));
}
