//! Names and labels of everything the operator makes, in one place.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use wardwatch_crds::{MonitoredDevice, Ward};

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "wardwatch-operator";

/// The gateway's HL7/MLLP port (the IANA-registered HL7 port).
pub const HL7_PORT: i32 = 2575;
/// Cluster DNS: every pod resolves the gateway's Service name there, so the baseline
/// NetworkPolicy lets devices reach it and their exporters do not count it as an unexpected port.
pub const CLUSTER_DNS_PORT: i32 = 53;
/// The exporter sidecar's metrics port.
pub const EXPORTER_METRICS_PORT: i32 = 9478;
/// The gateway's own metrics port.
pub const GATEWAY_METRICS_PORT: i32 = 9479;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_COMPONENT: &str = "wardwatch.io/component";
pub const LABEL_WARD: &str = "wardwatch.io/ward";
pub const LABEL_HOSPITAL: &str = "wardwatch.io/hospital";
pub const LABEL_DEVICE: &str = "wardwatch.io/device";
pub const LABEL_DEVICE_TYPE: &str = "wardwatch.io/device-type";
pub const LABEL_PATIENT: &str = "wardwatch.io/patient";
pub const LABEL_BED: &str = "wardwatch.io/bed";
/// The patient's NEWS2 SpO2 scale (`1` or `2`), so the rules score SpO2 on the right one.
pub const LABEL_SPO2_SCALE: &str = "wardwatch.io/spo2-scale";

/// Pod labels that become target labels of every scraped series, with their short names.
pub const TARGET_LABELS: &[(&str, &str)] = &[
    (LABEL_HOSPITAL, "hospital"),
    (LABEL_WARD, "ward"),
    (LABEL_DEVICE, "device"),
    (LABEL_DEVICE_TYPE, "device_type"),
    (LABEL_PATIENT, "patient"),
    (LABEL_BED, "bed"),
    (LABEL_SPO2_SCALE, "spo2_scale"),
    (LABEL_COMPONENT, "component"),
];

/// Labels every object made for `ward` carries.
pub fn ward_labels(ward: &Ward) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), "wardwatch".to_owned()),
        (LABEL_WARD.to_owned(), ward.name_any()),
        (LABEL_HOSPITAL.to_owned(), ward.spec.hospital_id.clone()),
    ])
}

/// Labels of the objects a Prometheus or Alertmanager selects (PodMonitor, PrometheusRule,
/// AlertmanagerConfig): the ward's, plus its `spec.monitoringLabels` (the CRD refuses keys that
/// would replace the ward's own).
pub fn monitoring_labels(ward: &Ward) -> BTreeMap<String, String> {
    let mut labels = ward.spec.monitoring_labels.clone();
    labels.extend(ward_labels(ward));
    labels
}

/// Labels of a device's objects and pod: the ward's, plus the device's identity.
pub fn device_labels(ward: &Ward, device: &MonitoredDevice) -> BTreeMap<String, String> {
    let mut labels = ward_labels(ward);
    labels.insert(LABEL_COMPONENT.to_owned(), "device".to_owned());
    labels.insert(LABEL_DEVICE.to_owned(), device.name_any());
    labels.insert(LABEL_DEVICE_TYPE.to_owned(), device.spec.device_type.simulator_name().to_owned());
    if let Some(patient) = &device.spec.patient {
        labels.insert(LABEL_PATIENT.to_owned(), patient.id.clone());
        labels.insert(LABEL_BED.to_owned(), patient.bed.clone());
        labels.insert(LABEL_SPO2_SCALE.to_owned(), patient.spo2_scale.to_string());
    }
    labels
}

/// The selector of a device's pod (stable across spec changes: Deployment selectors are immutable).
pub fn device_selector(device: &MonitoredDevice) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), "wardwatch".to_owned()),
        (LABEL_DEVICE.to_owned(), device.name_any()),
    ])
}

/// Labels of the ward gateway's objects and pod.
pub fn gateway_labels(ward: &Ward) -> BTreeMap<String, String> {
    let mut labels = ward_labels(ward);
    labels.insert(LABEL_COMPONENT.to_owned(), "gateway".to_owned());
    labels
}

pub fn gateway_selector(ward: &Ward) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), "wardwatch".to_owned()),
        (LABEL_WARD.to_owned(), ward.name_any()),
        (LABEL_COMPONENT.to_owned(), "gateway".to_owned()),
    ])
}

pub fn device_deployment(device: &MonitoredDevice) -> String {
    format!("{}-twin", device.name_any())
}
pub fn device_quarantine_policy(device: &MonitoredDevice) -> String {
    format!("{}-quarantine", device.name_any())
}
pub fn gateway(ward: &Ward) -> String {
    format!("{}-gateway", ward.name_any())
}
pub fn prometheus_rule(ward: &Ward) -> String {
    format!("{}-wardwatch", ward.name_any())
}
pub fn pod_monitor(ward: &Ward) -> String {
    format!("{}-pods", ward.name_any())
}
pub fn alertmanager_config(ward: &Ward) -> String {
    format!("{}-routing", ward.name_any())
}
pub fn baseline_policy(ward: &Ward) -> String {
    format!("{}-baseline", ward.name_any())
}
pub fn dashboard(ward: &Ward) -> String {
    format!("{}-dashboard", ward.name_any())
}
/// The Secret (in the ward's namespace) holding the bearer token Alertmanager presents to the
/// operator's quarantine webhook for this ward's alerts.
pub fn quarantine_token_secret(ward: &Ward) -> String {
    format!("{}-quarantine-token", ward.name_any())
}
/// The key of the token inside [`quarantine_token_secret`].
pub const QUARANTINE_TOKEN_KEY: &str = "token";

/// Annotation on a MonitoredDevice that the quarantine webhook writes when a network alert
/// isolates it (a JSON [`AlertQuarantine`](crate) record: alert, severity, startsAt, receivedAt).
/// It is the device's memory of the quarantine: it survives operator restarts, and a person
/// lifts the quarantine by removing it (`kubectl annotate monitoreddevice X wardwatch.io/quarantine-`).
pub const QUARANTINE_ANNOTATION: &str = "wardwatch.io/quarantine";

/// `host:port` of the ward gateway's Service, as devices in the ward's namespace reach it.
pub fn gateway_address(ward: &Ward) -> String {
    format!("{}.{}.svc:{HL7_PORT}", gateway(ward), ward.namespace().unwrap_or_default())
}

/// `metadata` of an object owned (as controller) by `owner`, in the owner's namespace.
pub fn owned_metadata<K: Resource<DynamicType = ()>>(
    owner: &K,
    name: String,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: owner.meta().namespace.clone(),
        labels: Some(labels),
        owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// `Kind/namespace/name` of an object: how logs, errors, Events and backoff name it.
pub fn object_key<K: Resource>(object: &K, dyntype: &K::DynamicType) -> String {
    let meta = object.meta();
    format!(
        "{}/{}/{}",
        K::kind(dyntype),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}
