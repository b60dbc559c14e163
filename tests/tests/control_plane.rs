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
        // Issue 12: every threshold within its physiological range, named in the message.
        (
            ward(json!({"thresholds": {"heartRateBpm": {"low": -5, "high": 120}}})),
            "spec.thresholds.heartRateBpm",
            "thresholds.heartRateBpm: limits must lie within 0-300 beats/min",
        ),
        (
            ward(json!({"thresholds": {"respiratoryRatePerMinute": {"low": 8, "high": 81}}})),
            "spec.thresholds.respiratoryRatePerMinute",
            "within 0-80 breaths/min",
        ),
        (
            ward(json!({"thresholds": {"temperatureCelsius": {"low": 96.8, "high": 100.4}}})),
            "spec.thresholds.temperatureCelsius",
            "within 25-45 degrees Celsius",
        ),
        (
            ward(json!({"thresholds": {"fio2Percent": {"low": 0.21, "high": 0.6}}})),
            "spec.thresholds.fio2Percent",
            "within 21-100 percent",
        ),
        (ward(json!({"hospitalId": "St Mary's"})), "spec.hospitalId", "DNS label"),
        (ward(json!({"scrapeInterval": "5 seconds"})), "spec.scrapeInterval", "must be a duration"),
        (ward(json!({"scrapeInterval": "30s1m"})), "spec.scrapeInterval", "largest first"),
        (
            ward(json!({"scrapeInterval": "0s"})),
            "spec.scrapeInterval",
            "scrapeInterval must be a duration within 1s-5m",
        ),
        (ward(json!({"scrapeInterval": "500ms"})), "spec.scrapeInterval", "within 1s-5m"),
        (ward(json!({"scrapeInterval": "301s"})), "spec.scrapeInterval", "within 1s-5m"),
        (ward(json!({"scrapeInterval": "1h"})), "spec.scrapeInterval", "within 1s-5m"),
        (ward(json!({"anomaly": {"trainingWindow": "30s"}})), "spec.anomaly.trainingWindow", "at least 1m"),
        (ward(json!({"anomaly": {"retrainInterval": "0h"}})), "spec.anomaly.retrainInterval", "at least 1m"),
        (
            ward(
                json!({"alerting": {"receivers": [discord.clone()], "routes": [{"severities": ["critical"], "receivers": ["icu-discord"], "repeatInterval": "59s"}]}}),
            ),
            "spec.alerting.routes[0].repeatInterval",
            "repeatInterval must be a duration of at least 1m",
        ),
        (ward(json!({"network": {"allowedCidrs": ["10.0.0.0/33"]}})), "spec.network.allowedCidrs", "CIDRs"),
        (
            ward(json!({"monitoringLabels": {"wardwatch.io/ward": "other"}})),
            "spec.monitoringLabels",
            "may not set wardwatch.io/ or app.kubernetes.io/ labels",
        ),
        (
            ward(json!({"monitoringLabels": {"release": "not a label value"}})),
            "spec.monitoringLabels.release",
            "should match",
        ),
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
            device(json!({"network": {"scenario": "syn-flood", "target": "10.0.0.300"}})),
            "spec.network.target",
            "IP address or a lowercase DNS name",
        ),
        (
            device(json!({"network": {"scenario": "port-scan", "target": "Gateway_1"}})),
            "spec.network.target",
            "IP address or a lowercase DNS name",
        ),
        (device(json!({"twin": {"intervalSeconds": 0}})), "spec.twin.intervalSeconds", "1-3600"),
        (device(json!({"patient": {"spo2Scale": 3}})), "spec.patient.spo2Scale", "spo2Scale must be 1"),
        (device(json!({"patient": {"spo2Scale": 0}})), "spec.patient.spo2Scale", "spo2Scale must be 1"),
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
        (
            federation(
                json!([{"hospitalId": "st-mary", "prometheusUrl": "https://a.example", "scrapeInterval": "1s"}]),
            ),
            "spec.members[0].scrapeInterval",
            "scrapeInterval must be a duration within 5s-10m",
        ),
        (
            federation(
                json!([{"hospitalId": "st-mary", "prometheusUrl": "https://a.example", "scrapeInterval": "11m"}]),
            ),
            "spec.members[0].scrapeInterval",
            "within 5s-10m",
        ),
    ]
}

/// Objects at the edges of every range, and objects that spell out every default: the API
/// server must accept them all (a range rule that refuses its own default would lock users out).
fn valid_objects() -> Vec<serde_json::Value> {
    let every_default: WardSpec = serde_yaml::from_str("hospitalId: st-mary\ndepartment: icu\n").unwrap();
    let mut every_default = serde_json::to_value(every_default).unwrap();
    assert_eq!(every_default["thresholds"]["fio2Percent"], json!({"low": 21.0, "high": 60.0}));
    assert_eq!(every_default["alerting"]["includePatientIdentifiers"], false);
    let mut objects = vec![ward_json("every-default", every_default.clone())];
    let edges = [
        json!({"scrapeInterval": "1s", "thresholds": {"heartRateBpm": {"low": 0, "high": 300}, "fio2Percent": {"low": 21, "high": 100}}}),
        json!({"scrapeInterval": "1000ms", "thresholds": {"temperatureCelsius": {"low": 25, "high": 45}}}),
        json!({"scrapeInterval": "5m", "anomaly": {"trainingWindow": "1m", "retrainInterval": "60s"},
            "monitoringLabels": {"release": "kube-prometheus-stack", "example.org/team": "icu_east.1"}}),
        json!({"scrapeInterval": "300000ms", "alerting": {"includePatientIdentifiers": true,
            "receivers": [{"name": "icu-discord", "discord": {"webhookUrl": {"name": "icu-secrets", "key": "discord"}}}],
            "routes": [{"severities": ["critical"], "receivers": ["icu-discord"], "repeatInterval": "1m"}]}}),
    ];
    for (n, edge) in edges.into_iter().enumerate() {
        json_patch_merge(&mut every_default, edge);
        objects.push(ward_json(&format!("edge-{n}"), every_default.clone()));
    }
    for scale in [1, 2] {
        objects.push(device_json(
            &format!("scale-{scale}"),
            json!({"ward": "icu-east", "type": "PulseOximeter", "patient": {"id": "P-1", "bed": "7", "spo2Scale": scale}}),
        ));
    }
    for (n, target) in ["10.40.0.10", "fd00::a", "icu-east-gateway", "icu-east-gateway.st-mary.svc.cluster.local."]
        .into_iter()
        .enumerate()
    {
        objects.push(device_json(
            &format!("target-{n}"),
            json!({"ward": "icu-east", "type": "Workstation", "network": {"scenario": "port-scan", "target": target}}),
        ));
    }
    for interval in ["5s", "10m"] {
        objects.push(json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "HospitalFederation",
            "metadata": {"name": format!("every-{interval}"), "namespace": "st-mary"},
            "spec": {"members": [{"hospitalId": "st-mary", "prometheusUrl": "https://a.example", "scrapeInterval": interval}]}}));
    }
    objects
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

#[tokio::test]
async fn objects_at_the_limits_and_with_every_default_are_accepted() {
    let cp = control_plane_with_crds().await;
    create_namespace(&cp, "st-mary").await;
    let mut failures = Vec::new();
    for object in valid_objects() {
        if let Err(error) = cp.apply(&object).await {
            failures.push(format!("{} refused: {error}", object["metadata"]["name"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A device without spo2Scale is on NEWS2 scale 1.
    let object = device_json(
        "no-scale",
        json!({"ward": "icu-east", "type": "PulseOximeter", "patient": {"id": "P-2", "bed": "8"}}),
    );
    let stored = cp.apply(&object).await.expect("device accepted");
    assert_eq!(stored.data["spec"]["patient"]["spo2Scale"], 1);
}
