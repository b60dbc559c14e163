//! `MonitoredDevice`: one networked medical device of a ward, and the twin that stands in for it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A device watched by wardwatch: what it is, whom it serves, and how its twin behaves.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardwatch.io",
    version = "v1alpha1",
    kind = "MonitoredDevice",
    namespaced,
    status = "MonitoredDeviceStatus",
    shortname = "mdev",
    category = "wardwatch",
    printcolumn = r#"{"name":"Ward","type":"string","jsonPath":".spec.ward"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Patient","type":"string","jsonPath":".spec.patient.id"}"#,
    printcolumn = r#"{"name":"Bed","type":"string","jsonPath":".spec.patient.bed"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Quarantined","type":"boolean","jsonPath":".status.quarantined"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'Workstation' || has(self.patient)")
    .message("patient is required for every device type but Workstation"))]
pub struct MonitoredDeviceSpec {
    /// The Ward (same namespace) this device belongs to.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("ward must name a Ward: a DNS label"))]
    pub ward: String,
    /// What kind of device this is; decides its twin's traffic.
    #[serde(rename = "type")]
    pub device_type: DeviceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// The patient the device is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Patient>,
    /// How the twin's patient physiology unfolds.
    #[serde(default)]
    pub twin: Twin,
    /// How the twin behaves on the network: normal, or an opt-in attack scenario.
    #[serde(default)]
    pub network: DeviceNetwork,
    /// Isolate the device by hand.
    #[serde(default)]
    pub quarantine: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    BedsideMonitor,
    PulseOximeter,
    InfusionPump,
    Ventilator,
    PointOfCareAnalyzer,
    ImagingModality,
    Workstation,
}

impl DeviceType {
    /// The kebab-case name the simulator takes (`--device-type`).
    pub fn simulator_name(self) -> &'static str {
        match self {
            Self::BedsideMonitor => "bedside-monitor",
            Self::PulseOximeter => "pulse-oximeter",
            Self::InfusionPump => "infusion-pump",
            Self::Ventilator => "ventilator",
            Self::PointOfCareAnalyzer => "point-of-care-analyzer",
            Self::ImagingModality => "imaging-modality",
            Self::Workstation => "workstation",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The patient identifier sent in PID-3 (a medical record number, never a name). It also
    /// becomes a pod label, hence the label-value syntax.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')")
        .message("patient.id must be letters and digits, with '-', '_' or '.' inside"))]
    pub id: String,
    /// The bed, sent in PV1-3; also a pod label.
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')")
        .message("patient.bed must be letters and digits, with '-', '_' or '.' inside"))]
    pub bed: String,
    /// The NEWS2 SpO2 scale a clinician chose for this patient: 1, the usual one, or 2 for patients
    /// with hypercapnic respiratory failure (such as COPD), whose prescribed target saturation is
    /// 88-92 %.
    #[serde(default = "spo2_scale_1")]
    #[x_kube(validation = Rule::new("self == 1 || self == 2")
        .message("patient.spo2Scale must be 1 (the usual NEWS2 SpO2 scale) or 2 (for hypercapnic respiratory failure, target 88-92 %)"))]
    pub spo2_scale: u8,
}

fn spo2_scale_1() -> u8 {
    1
}

/// Clinical scenarios of the twin's patient.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClinicalScenario {
    #[default]
    Stable,
    Hypoxia,
    Sepsis,
    Tachyarrhythmia,
    Hypotension,
    Disconnect,
    Artefact,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Twin {
    #[serde(default)]
    pub scenario: ClinicalScenario,
    /// Seconds after the twin starts at which the scenario's episode begins.
    #[serde(default = "default_onset")]
    #[x_kube(validation = Rule::new("self >= 0").message("onsetSeconds must not be negative"))]
    pub onset_seconds: i32,
    /// Seed of the twin's random processes: the same seed gives the same patient.
    #[serde(default)]
    pub seed: u64,
    /// Seconds between two HL7 observation messages.
    #[serde(default = "default_interval")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 3600").message("intervalSeconds must be within 1-3600"))]
    pub interval_seconds: i32,
    /// How the twin's HL7 codes vitals: `loinc` (LOINC codes, UCUM units), or `ihe-pcd-01`
    /// (IEEE 11073 MDC codes and units, as IHE PCD-01 bedside monitors send them).
    #[serde(default)]
    pub hl7_profile: Hl7Profile,
}

/// The HL7 dialect of a twin (the simulator's `--hl7-profile`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Hl7Profile {
    #[default]
    #[serde(rename = "loinc")]
    Loinc,
    #[serde(rename = "ihe-pcd-01")]
    IhePcd01,
}

fn default_onset() -> i32 {
    60
}
fn default_interval() -> i32 {
    1
}

impl Default for Twin {
    fn default() -> Self {
        Self {
            scenario: ClinicalScenario::Stable,
            onset_seconds: default_onset(),
            seed: 0,
            interval_seconds: default_interval(),
            hl7_profile: Hl7Profile::Loinc,
        }
    }
}

/// Network scenarios; every one but `normal` is an attack and needs a target.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkScenario {
    #[default]
    Normal,
    PortScan,
    SynFlood,
    ExternalContact,
    Exfiltration,
    Beaconing,
    ArpSpoof,
}

impl NetworkScenario {
    /// Scenarios that forge frames (SYNs whose handshakes never complete, ARP announcements).
    /// The twin plays them only inside a network namespace that a test made, and refuses
    /// anywhere else, a pod included.
    pub fn needs_test_namespace(self) -> bool {
        matches!(self, Self::SynFlood | Self::ArpSpoof)
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.scenario == 'normal' || has(self.target)")
    .message("an attack scenario needs a target: the only address it may aim at"))]
pub struct DeviceNetwork {
    #[serde(default)]
    pub scenario: NetworkScenario,
    /// The one host an attack scenario aims at; nothing else is touched. An IP address, or a
    /// DNS name (a Service of the ward, such as its gateway's) that the twin looks up once when
    /// the attack starts: pod addresses are the cluster's to pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new(
        "isIP(self) || (!self.matches('^[0-9.]+$') && \
         self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*[.]?$'))"
    ).message("network.target must be an IP address or a lowercase DNS name"))]
    pub target: Option<String>,
}

/// Where a device is in its life.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DevicePhase {
    /// Objects applied, twin not running yet.
    #[default]
    Pending,
    Running,
    /// Isolated by a NetworkPolicy.
    Quarantined,
    /// Something keeps the operator from realising the device (see conditions).
    Failed,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonitoredDeviceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DevicePhase>,
    /// The Deployment running the twin and its exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default)]
    pub quarantined: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn minimal_device_takes_defaults() {
        let spec: MonitoredDeviceSpec =
            serde_yaml::from_str("ward: icu-east\ntype: PulseOximeter\npatient: {id: P-1, bed: '7'}\n").unwrap();
        assert_eq!(spec.twin, Twin::default());
        assert_eq!(spec.patient.map(|p| p.spo2_scale), Some(1), "NEWS2 SpO2 scale 1 unless chosen otherwise");
        assert_eq!(spec.network.scenario, NetworkScenario::Normal);
        assert!(!spec.quarantine);
    }

    #[test]
    fn scenario_names_match_the_simulator() {
        let names: Vec<String> = [NetworkScenario::PortScan, NetworkScenario::ArpSpoof]
            .iter()
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["port-scan", "arp-spoof"]);
        assert_eq!(DeviceType::PointOfCareAnalyzer.simulator_name(), "point-of-care-analyzer");
    }

    #[test]
    fn crd_has_the_printer_columns_kubectl_shows() {
        let crd = serde_json::to_value(MonitoredDevice::crd()).unwrap();
        let columns: Vec<_> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(columns, ["Ward", "Type", "Patient", "Bed", "Phase", "Quarantined", "Age"]);
    }
}
