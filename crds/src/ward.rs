//! `Ward`: one hospital department whose devices wardwatch watches.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::alerting::AlertRouting;
use crate::common::{ContainerSettings, duration_rule};
use crate::network::{AnomalyDetection, ExpectedNetwork, IntrusionRules, QuarantinePolicy};
use crate::thresholds::ClinicalThresholds;

/// A ward of a hospital: its identity, clinical alarm limits and how often it is scraped.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardwatch.io",
    version = "v1alpha1",
    kind = "Ward",
    namespaced,
    status = "WardStatus",
    shortname = "ward",
    category = "wardwatch",
    printcolumn = r#"{"name":"Hospital","type":"string","jsonPath":".spec.hospitalId"}"#,
    printcolumn = r#"{"name":"Department","type":"string","jsonPath":".spec.department"}"#,
    printcolumn = r#"{"name":"Devices","type":"string","description":"ready/total","jsonPath":".status.devices"}"#,
    printcolumn = r#"{"name":"Quarantined","type":"integer","jsonPath":".status.quarantinedCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WardSpec {
    /// The hospital this ward belongs to; becomes the `hospital` label of every series. A DNS label.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')")
        .message("hospitalId must be a DNS label: lower-case letters, digits and '-', at most 63 characters"))]
    pub hospital_id: String,
    /// The clinical department, for example `icu` or `cardiology`.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("size(self) > 0 && size(self) <= 63").message("department must be 1-63 characters"))]
    pub department: String,
    /// A human-readable name for dashboards and alert texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Alarm limits per vital sign; omitted limits take the clinical defaults.
    #[serde(default)]
    pub thresholds: ClinicalThresholds,
    /// How often Prometheus scrapes the ward's exporters, as a duration such as `5s`, `1500ms` or
    /// `1m`, within 1s-5m.
    #[serde(default = "default_scrape_interval")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = duration_rule("scrapeInterval", "1s", Some("5m"), "5s, 1500ms or 1m"))]
    pub scrape_interval: String,
    /// NEWS2 early-warning score alerts (Royal College of Physicians, 2017).
    #[serde(default)]
    pub news2: News2,
    /// What the devices are expected to do on the network.
    #[serde(default)]
    pub network: ExpectedNetwork,
    /// Intrusion-rule thresholds.
    #[serde(default)]
    pub intrusion: IntrusionRules,
    /// Clustering-based anomaly detection.
    #[serde(default)]
    pub anomaly: AnomalyDetection,
    /// Receivers and routes for the ward's alerts.
    #[serde(default)]
    pub alerting: AlertRouting,
    /// Automatic isolation of devices that raise network alerts.
    #[serde(default)]
    pub quarantine: QuarantinePolicy,
    /// Labels added to the ward's PodMonitor, PrometheusRule and AlertmanagerConfig, so that the
    /// cluster's Prometheus and Alertmanager select them: kube-prometheus-stack selects
    /// `release: <its release name>`. Merged over the operator's `--monitoring-labels` (the
    /// chart's `monitoringLabels`); wardwatch's own label keys are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = 16,
        "additionalProperties" = {"type": "string", "maxLength": 63, "pattern": "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"}
    ))]
    // Key syntax is the API server's to check when the objects are applied (a regular expression
    // over map keys exceeds CEL's cost budget, as keys have no length bound in a schema).
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('wardwatch.io/') && !k.startsWith('app.kubernetes.io/'))")
        .message("monitoringLabels may not set wardwatch.io/ or app.kubernetes.io/ labels: the operator selects its objects by them"))]
    pub monitoring_labels: BTreeMap<String, String>,
    /// The device-twin container of every device pod.
    #[serde(default)]
    pub simulator: ContainerSettings,
    /// The packet-capturing exporter sidecar of every device pod and of the gateway.
    #[serde(default)]
    pub exporter: ContainerSettings,
    /// The ward gateway (the central station the devices send HL7 to).
    #[serde(default)]
    pub gateway: ContainerSettings,
}

/// NEWS2 alerting.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct News2 {
    #[serde(default = "news2_enabled")]
    pub enabled: bool,
}

fn news2_enabled() -> bool {
    true
}

impl Default for News2 {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_scrape_interval() -> String {
    "5s".into()
}

/// What the operator last observed and did for a ward.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WardStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, RulesSynced, RoutingSynced, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Devices of this ward whose twin is running, and all of them, as `ready/total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<String>,
    #[serde(default)]
    pub devices_ready: u32,
    #[serde(default)]
    pub devices_total: u32,
    /// Names of the ward's devices that are isolated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined_devices: Vec<String>,
    #[serde(default)]
    pub quarantined_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn minimal_ward_takes_defaults() {
        let spec: WardSpec = serde_yaml::from_str("hospitalId: st-mary\ndepartment: icu\n").unwrap();
        assert_eq!(spec.scrape_interval, "5s");
        assert_eq!(spec.thresholds, ClinicalThresholds::default());
        assert_eq!(spec.display_name, None);
    }

    #[test]
    fn crd_carries_the_validation_rules_and_status_subresource() {
        let crd = serde_json::to_value(Ward::crd()).unwrap();
        let version = &crd["spec"]["versions"][0];
        assert_eq!(crd["spec"]["group"], "wardwatch.io");
        assert_eq!(version["name"], "v1alpha1");
        assert!(version["subresources"]["status"].is_object());
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let band_rule = &spec["properties"]["thresholds"]["properties"]["heartRateBpm"]["x-kubernetes-validations"][0];
        assert_eq!(band_rule["rule"], "self.low < self.high");
        assert_eq!(band_rule["message"], "low must be below high");
        assert_eq!(spec["properties"]["scrapeInterval"]["default"], "5s");
        let columns: Vec<_> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Hospital", "Department", "Devices", "Quarantined", "Age"]);
    }
}
