//! Everything the operator wants to exist, per ward, per device and per federation, as plain
//! objects (`apiVersion`, `kind`, `metadata`, ...) ready for server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::Value;
use wardwatch_crds::network::QuarantineMode;
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use crate::quarantine::{QuarantineWebhook, WebhookKey};
use crate::{dashboards, federation, monitors, names, policies, routing, rules, workloads};

fn object(resource: impl Serialize) -> Value {
    serde_json::to_value(resource).expect("Kubernetes objects serialise to JSON")
}

/// The ward's own objects: gateway Deployment and Service, PrometheusRule, PodMonitor,
/// AlertmanagerConfig, baseline NetworkPolicy, dashboard ConfigMap.
pub fn ward_objects(ward: &Ward, quarantine_webhook: Option<&str>) -> Vec<Value> {
    vec![
        object(workloads::gateway_deployment(ward)),
        object(workloads::gateway_service(ward)),
        object(rules::ward_prometheus_rule(ward)),
        object(monitors::pod_monitor(ward)),
        object(routing::alertmanager_config(ward, quarantine_webhook)),
        object(policies::baseline_policy(ward)),
        object(dashboards::dashboard_config_map(ward)),
    ]
}

/// `ward` with the operator's default monitoring labels (`--monitoring-labels`) under its own
/// `spec.monitoringLabels`: the ward the builders see.
pub fn with_default_monitoring_labels(ward: &Ward, defaults: &BTreeMap<String, String>) -> Ward {
    let mut effective = ward.clone();
    let own = std::mem::take(&mut effective.spec.monitoring_labels);
    effective.spec.monitoring_labels = defaults.clone();
    effective.spec.monitoring_labels.extend(own);
    effective
}

/// The ward's objects as the running operator applies them: when the ward quarantines on
/// alerts, the Secret holding its token first (the AlertmanagerConfig refers to it), then
/// [`ward_objects`] routed to the quarantine webhook. (`render` shows [`ward_objects`] only: it
/// holds no key and never prints a token.)
pub fn ward_objects_with_webhook(ward: &Ward, webhook: Option<&QuarantineWebhook>) -> Vec<Value> {
    let mut objects: Vec<Value> = webhook.and_then(|w| quarantine_token_secret(ward, &w.key)).into_iter().collect();
    objects.extend(ward_objects(ward, webhook.map(|w| w.url.as_str())));
    objects
}

/// The Secret `<ward>-quarantine-token` with the bearer token of the ward's namespace, which
/// the ward's AlertmanagerConfig presents to the webhook; only for `OnAlert` wards.
pub fn quarantine_token_secret(ward: &Ward, key: &WebhookKey) -> Option<Value> {
    if ward.spec.quarantine.mode != QuarantineMode::OnAlert {
        return None;
    }
    let token = key.token(&ward.namespace().unwrap_or_default());
    let secret = Secret {
        metadata: serde_json::from_value(names::owned_metadata(
            ward,
            names::quarantine_token_secret(ward),
            names::ward_labels(ward),
        ))
        .expect("owned metadata is ObjectMeta"),
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(names::QUARANTINE_TOKEN_KEY.to_owned(), ByteString(token.into_bytes()))])),
        ..Secret::default()
    };
    let mut object = object(secret);
    object["apiVersion"] = "v1".into();
    object["kind"] = "Secret".into();
    Some(object)
}

/// A device's objects: its Deployment, and its quarantine NetworkPolicy while it is isolated.
pub fn device_objects(ward: &Ward, device: &MonitoredDevice) -> Vec<Value> {
    let mut objects = vec![object(workloads::device_deployment(ward, device))];
    if policies::quarantine_reason(device).is_some() {
        objects.push(object(policies::quarantine_policy(ward, device)));
    }
    objects
}

/// A federation's ScrapeConfigs, one per member hospital.
pub fn federation_objects(federation: &HospitalFederation) -> Vec<Value> {
    federation.spec.members.iter().map(|member| object(federation::scrape_config(federation, member))).collect()
}

/// `kind/namespace/name` of an object, for logs, events and tests.
pub fn object_ref(object: &Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn webhook() -> QuarantineWebhook {
        QuarantineWebhook {
            url: "http://wardwatch-operator-metrics.wardwatch-system.svc:8443/quarantine".into(),
            key: WebhookKey::new("the operator's master key for tests").unwrap(),
        }
    }

    fn on_alert() -> Ward {
        fixtures::ward("icu-east", "hospitalId: st-mary\ndepartment: icu\nquarantine: {mode: OnAlert}\n")
    }

    #[test]
    fn an_on_alert_ward_gets_its_namespaces_token_in_a_secret_it_owns() {
        let webhook = webhook();
        let objects = ward_objects_with_webhook(&on_alert(), Some(&webhook));
        let secret = objects.iter().find(|o| o["kind"] == "Secret").expect("the token Secret");
        assert_eq!(secret["apiVersion"], "v1");
        assert_eq!(secret["metadata"]["name"], "icu-east-quarantine-token");
        assert_eq!(secret["metadata"]["namespace"], "st-mary");
        assert_eq!(secret["metadata"]["ownerReferences"][0]["kind"], "Ward");
        assert_eq!(secret["metadata"]["labels"]["wardwatch.io/ward"], "icu-east");
        assert_eq!(secret["type"], "Opaque");
        let stored: ByteString = serde_json::from_value(secret["data"]["token"].clone()).unwrap();
        let token = String::from_utf8(stored.0).unwrap();
        assert!(webhook.key.verify("st-mary", &token));
        assert!(!webhook.key.verify("general", &token));
        assert_eq!(objects.len(), ward_objects(&on_alert(), None).len() + 1);
        assert_eq!(objects[0]["kind"], "Secret", "applied before the AlertmanagerConfig that refers to it");
    }

    #[test]
    fn no_token_without_on_alert_or_without_a_key() {
        let manual = fixtures::icu_ward();
        let webhook = webhook();
        assert!(ward_objects_with_webhook(&manual, Some(&webhook)).iter().all(|o| o["kind"] != "Secret"));
        assert!(ward_objects_with_webhook(&on_alert(), None).iter().all(|o| o["kind"] != "Secret"));
    }
}
