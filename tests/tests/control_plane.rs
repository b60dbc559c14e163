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

fn device_json(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
           "metadata": {"name": name, "namespace": "st-mary"}, "spec": spec})
}

/// Each case: an invalid object, the field path its refusal must name, and a phrase of the
/// message (from wardwatch's CEL rules or the API server's own schema checks).
fn invalid_objects() -> Vec<(serde_json::Value, &'static str, &'static str)> {
    let ward = |patch: serde_json::Value| {
        let mut spec = json!({"hospitalId": "st-mary", "department": "icu"});
        json_patch_merge(&mut spec, patch);
        ward_json("invalid", spec)
    };
    let discord = json!({"name": "icu-discord", "discord": {"webhookUrl": {"name": "icu-secrets", "key": "discord"}}});
    let device = |patch: serde_json::Value| {
        let mut spec = json!({"ward": "icu-east", "type": "BedsideMonitor", "patient": {"id": "P-1", "bed": "7"}});
        json_patch_merge(&mut spec, patch);
        device_json("invalid", spec)
    };
    let federation = |members: serde_json::Value| {
        json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "HospitalFederation",
               "metadata": {"name": "invalid", "namespace": "st-mary"}, "spec": {"members": members}})
    };
    vec![
        (
            ward(json!({"thresholds": {"spo2Percent": {"low": 96, "high": 90}}})),
            "spec.thresholds.spo2Percent",
            "low must be below high",
        ),
        (
            ward(json!({"thresholds": {"spo2Percent": {"low": 90, "high": 120}}})),
            "spec.thresholds.spo2Percent",
            "0-100 percent",
        ),
        (ward(json!({"hospitalId": "St Mary's"})), "spec.hospitalId", "DNS label"),
        (ward(json!({"scrapeInterval": "5 seconds"})), "spec.scrapeInterval", "Prometheus duration"),
        (ward(json!({"network": {"allowedCidrs": ["10.0.0.0/33"]}})), "spec.network.allowedCidrs", "CIDRs"),
        (
            ward(json!({"network": {"allowedPorts": [{"protocol": "TCP"}]}})),
            "spec.network.allowedPorts[0]",
            "need a port",
        ),
        (
            ward(
                json!({"alerting": {"receivers": [{"name": "both", "discord": discord["discord"], "webhook": {"url": {"name": "s", "key": "k"}}}]}}),
            ),
            "spec.alerting.receivers[0]",
            "exactly one of discord, telegram, email or webhook",
        ),
        (
            ward(
                json!({"alerting": {"receivers": [discord], "routes": [{"severities": ["critical"], "receivers": ["pager"]}]}}),
            ),
            "spec.alerting",
            "must name a receiver",
        ),
        (
            ward(json!({"alerting": {"receivers": [{"name": "hook", "webhook": {"url": {"name": "icu-secrets"}}}]}})),
            "spec.alerting.receivers[0].webhook.url.key",
            "Required value",
        ),
        (
            ward(
                json!({"alerting": {"receivers": [{"name": "mail", "email": {"to": "nurses", "from": "ww@st-mary.example", "smarthost": "smtp:25"}}]}}),
            ),
            "spec.alerting.receivers[0].email.to",
            "e-mail address",
        ),
        (device(json!({"type": "Toaster"})), "spec.type", "Unsupported value"),
        (device(json!({"patient": null})), "spec", "patient is required"),
        (device(json!({"network": {"scenario": "port-scan"}})), "spec.network", "needs a target"),
        (
            device(json!({"network": {"scenario": "syn-flood", "target": "gateway"}})),
            "spec.network.target",
            "IP address",
        ),
        (device(json!({"twin": {"intervalSeconds": 0}})), "spec.twin.intervalSeconds", "1-3600"),
        (
            federation(json!([{"hospitalId": "st-mary", "prometheusUrl": "https://prom.st-mary.example/federate"}])),
            "spec.members[0].prometheusUrl",
            "without a path",
        ),
        (
            federation(
                json!([{"hospitalId": "st-mary", "prometheusUrl": "https://a.example"}, {"hospitalId": "st-mary", "prometheusUrl": "https://b.example"}]),
            ),
            "spec",
            "each hospitalId may appear once",
        ),
    ]
}

/// RFC 7386 merge of `patch` into `target` (null removes a key).
fn json_patch_merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match patch {
        serde_json::Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().unwrap();
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(&key);
                } else {
                    json_patch_merge(object.entry(key).or_insert(serde_json::Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

#[tokio::test]
async fn invalid_objects_are_refused_with_the_field_named() {
    let cp = control_plane_with_crds().await;
    create_namespace(&cp, "st-mary").await;
    let cases = invalid_objects();
    assert!(cases.len() >= 8);
    let mut failures = Vec::new();
    for (object, field, phrase) in cases {
        let message = refusal(&cp, object).await;
        if !(message.contains(field) && message.contains(phrase)) {
            failures.push(format!("expected {field:?} and {phrase:?} in: {message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
