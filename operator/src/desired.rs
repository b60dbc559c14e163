//! Everything the operator wants to exist, per ward, per device and per federation, as typed
//! objects: k8s-openapi's types where Kubernetes defines the kind, [`crate::monitoring`]'s for
//! prometheus-operator's. Each kind's API path comes from its type's `Resource` impl.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ApiResource;
use kube::{Resource, ResourceExt};
use serde_json::Value;
use wardwatch_crds::network::QuarantineMode;
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use crate::monitoring::{AlertmanagerConfig, PodMonitor, PrometheusRule, ScrapeConfig};
use crate::quarantine::{QuarantineWebhook, WebhookKey};
use crate::{dashboards, federation, monitors, names, policies, routing, rules, workloads};

/// One object the operator owns, typed. (A reconcile builds a handful and drops them, so the
/// size of the largest variant costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Owned {
    Deployment(Deployment),
    Service(Service),
    NetworkPolicy(NetworkPolicy),
    ConfigMap(ConfigMap),
    Secret(Secret),
    PrometheusRule(PrometheusRule),
    PodMonitor(PodMonitor),
    AlertmanagerConfig(AlertmanagerConfig),
    ScrapeConfig(ScrapeConfig),
}

/// Runs `$body` with `$object` bound to the typed object inside `$owned`, whatever its kind.
macro_rules! each_kind {
    ($owned:expr, $object:ident => $body:expr) => {
        match $owned {
            Owned::Deployment($object) => $body,
            Owned::Service($object) => $body,
            Owned::NetworkPolicy($object) => $body,
            Owned::ConfigMap($object) => $body,
            Owned::Secret($object) => $body,
            Owned::PrometheusRule($object) => $body,
            Owned::PodMonitor($object) => $body,
            Owned::AlertmanagerConfig($object) => $body,
            Owned::ScrapeConfig($object) => $body,
        }
    };
}

fn resource_of<K: Resource<DynamicType = ()>>(_: &K) -> ApiResource {
    ApiResource::erase::<K>(&())
}

impl Owned {
    /// Group, version, kind and plural, from the type.
    pub fn resource(&self) -> ApiResource {
        each_kind!(self, object => resource_of(object))
    }

    pub fn kind(&self) -> String {
        self.resource().kind
    }

    pub fn meta(&self) -> &ObjectMeta {
        each_kind!(self, object => object.meta())
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.meta().namespace.as_deref().unwrap_or_default()
    }

    /// Whether this kind belongs to prometheus-operator (served only once its CRDs are).
    pub fn is_monitoring(&self) -> bool {
        self.resource().group == "monitoring.coreos.com"
    }

    /// The object as the API takes it (`apiVersion`, `kind`, `metadata`, ...).
    pub fn to_value(&self) -> Value {
        each_kind!(self, object => serde_json::to_value(object)).expect("typed objects serialise to JSON")
    }

    /// `Kind/namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
    }
}

/// prometheus-operator's kinds the operator owns (served only once its CRDs are installed).
pub fn monitoring_kinds() -> Vec<ApiResource> {
    vec![
        ApiResource::erase::<PrometheusRule>(&()),
        ApiResource::erase::<PodMonitor>(&()),
        ApiResource::erase::<AlertmanagerConfig>(&()),
        ApiResource::erase::<ScrapeConfig>(&()),
    ]
}

/// The ward's own objects: gateway Deployment and Service, PrometheusRule, PodMonitor,
/// AlertmanagerConfig, baseline NetworkPolicy, dashboard ConfigMap.
/// `quarantined` names the ward's isolated devices ([`policies::quarantined_devices`]).
pub fn ward_objects(ward: &Ward, quarantine_webhook: Option<&str>, quarantined: &BTreeSet<String>) -> Vec<Owned> {
    vec![
        Owned::Deployment(workloads::gateway_deployment(ward)),
        Owned::Service(workloads::gateway_service(ward)),
        Owned::PrometheusRule(rules::ward_prometheus_rule(ward)),
        Owned::PodMonitor(monitors::pod_monitor(ward)),
        Owned::AlertmanagerConfig(routing::alertmanager_config(ward, quarantine_webhook)),
        Owned::NetworkPolicy(policies::baseline_policy(ward, quarantined)),
        Owned::ConfigMap(dashboards::dashboard_config_map(ward)),
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
pub fn ward_objects_with_webhook(
    ward: &Ward,
    webhook: Option<&QuarantineWebhook>,
    quarantined: &BTreeSet<String>,
) -> Vec<Owned> {
    let mut objects: Vec<Owned> =
        webhook.and_then(|w| quarantine_token_secret(ward, &w.key)).map(Owned::Secret).into_iter().collect();
    objects.extend(ward_objects(ward, webhook.map(|w| w.url.as_str()), quarantined));
    objects
}

/// The Secret `<ward>-quarantine-token` with the bearer token of the ward's namespace, which
/// the ward's AlertmanagerConfig presents to the webhook; only for `OnAlert` wards.
pub fn quarantine_token_secret(ward: &Ward, key: &WebhookKey) -> Option<Secret> {
    if ward.spec.quarantine.mode != QuarantineMode::OnAlert {
        return None;
    }
    let token = key.token(&ward.namespace().unwrap_or_default());
    Some(Secret {
        metadata: names::owned_metadata(ward, names::quarantine_token_secret(ward), names::ward_labels(ward)),
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(names::QUARANTINE_TOKEN_KEY.to_owned(), ByteString(token.into_bytes()))])),
        ..Secret::default()
    })
}

/// A device's objects: its Deployment, and its quarantine NetworkPolicy while it is isolated.
pub fn device_objects(ward: &Ward, device: &MonitoredDevice) -> Vec<Owned> {
    let mut objects = vec![Owned::Deployment(workloads::device_deployment(ward, device))];
    if policies::quarantine_reason(device).is_some() {
        objects.push(Owned::NetworkPolicy(policies::quarantine_policy(ward, device)));
    }
    objects
}

/// A federation's ScrapeConfigs, one per member hospital.
/// A federation's ScrapeConfigs (one per member) and its PrometheusRule, with the operator's
/// default monitoring `labels`.
pub fn federation_objects(federation: &HospitalFederation, labels: &BTreeMap<String, String>) -> Vec<Owned> {
    let scrape_configs = federation
        .spec
        .members
        .iter()
        .map(|member| Owned::ScrapeConfig(federation::scrape_config(federation, member, labels)));
    scrape_configs.chain([Owned::PrometheusRule(federation::prometheus_rule(federation, labels))]).collect()
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
        let objects = ward_objects_with_webhook(&on_alert(), Some(&webhook), &Default::default());
        let secret = objects.iter().find(|o| o.kind() == "Secret").expect("the token Secret").to_value();
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
        assert_eq!(objects.len(), ward_objects(&on_alert(), None, &Default::default()).len() + 1);
        assert_eq!(objects[0].kind(), "Secret", "applied before the AlertmanagerConfig that refers to it");
    }

    #[test]
    fn no_token_without_on_alert_or_without_a_key() {
        let manual = fixtures::icu_ward();
        let webhook = webhook();
        assert!(
            ward_objects_with_webhook(&manual, Some(&webhook), &Default::default())
                .iter()
                .all(|o| o.kind() != "Secret")
        );
        assert!(ward_objects_with_webhook(&on_alert(), None, &Default::default()).iter().all(|o| o.kind() != "Secret"));
    }

    #[test]
    fn every_object_names_its_kind_api_version_and_plural_from_its_type() {
        let ward = on_alert();
        let mut objects = ward_objects_with_webhook(&ward, Some(&webhook()), &Default::default());
        let mut device = fixtures::monitor("bed-01");
        device.spec.quarantine = true;
        objects.extend(device_objects(&ward, &device));
        let kinds: Vec<(String, String, String)> = objects
            .iter()
            .map(|o| {
                let resource = o.resource();
                let value = o.to_value();
                assert_eq!(value["kind"], resource.kind.as_str(), "{}", o.key());
                assert_eq!(value["apiVersion"], resource.api_version.as_str(), "{}", o.key());
                (resource.api_version, resource.kind, resource.plural)
            })
            .collect();
        for expected in [
            ("v1", "Secret", "secrets"),
            ("apps/v1", "Deployment", "deployments"),
            ("v1", "Service", "services"),
            ("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules"),
            ("monitoring.coreos.com/v1", "PodMonitor", "podmonitors"),
            ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig", "alertmanagerconfigs"),
            ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
            ("v1", "ConfigMap", "configmaps"),
        ] {
            let expected = (expected.0.to_owned(), expected.1.to_owned(), expected.2.to_owned());
            assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
        }
    }
}
