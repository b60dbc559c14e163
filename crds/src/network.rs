//! What a ward's devices are expected to do on the network, and how wardwatch watches for
//! what they should not do: intrusion rules, anomaly detection, quarantine.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Severity, duration_rule};

/// Expected network behaviour: anything else is "contact outside the allowed CIDRs" or an
/// "unexpected protocol or port". The operator also derives the baseline NetworkPolicy from it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedNetwork {
    /// Destination networks devices may talk to (the ward gateway is always allowed).
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("allowedCidrs entries must be CIDRs such as 10.20.0.0/16"))]
    pub allowed_cidrs: Vec<String>,
    /// Destination protocols and ports devices may use.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub allowed_ports: Vec<PortRule>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "ICMP")]
    Icmp,
}

/// A protocol, and a port for TCP and UDP.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[x_kube(validation = Rule::new("self.protocol == 'ICMP' ? !has(self.port) : has(self.port)")
    .message("TCP and UDP rules need a port; ICMP rules take none"))]
pub struct PortRule {
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("port must be within 1-65535"))]
    pub port: Option<i32>,
}

/// How eagerly the intrusion rules fire: `high` halves the thresholds, `low` doubles them.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

/// Intrusion-rule thresholds at medium sensitivity (each documented in the README).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IntrusionRules {
    #[serde(default)]
    pub sensitivity: Sensitivity,
    /// Port scan: distinct destination ports one source touches within the window.
    #[serde(default = "default_scan_ports")]
    #[x_kube(validation = Rule::new("self >= 2").message("portScanDistinctPorts must be at least 2"))]
    pub port_scan_distinct_ports: u32,
    /// Port scan: distinct destination hosts one source touches within the window.
    #[serde(default = "default_scan_hosts")]
    #[x_kube(validation = Rule::new("self >= 2").message("portScanDistinctHosts must be at least 2"))]
    pub port_scan_distinct_hosts: u32,
    /// SYN flood: SYNs per second towards one destination.
    #[serde(default = "default_syn_rate")]
    #[x_kube(validation = Rule::new("self >= 1").message("synFloodSynsPerSecond must be at least 1"))]
    pub syn_flood_syns_per_second: u32,
    /// Exfiltration: egress bytes in the window, as a multiple of the device's learnt baseline.
    #[serde(default = "default_exfil_factor")]
    #[x_kube(validation = Rule::new("self > 1.0").message("exfiltrationBaselineFactor must be above 1"))]
    pub exfiltration_baseline_factor: f64,
    /// Beaconing: connections at a near-constant period before the rule fires.
    #[serde(default = "default_beacons")]
    #[x_kube(validation = Rule::new("self >= 3").message("beaconingMinConnections must be at least 3"))]
    pub beaconing_min_connections: u32,
    /// The window the counting rules use, in seconds.
    #[serde(default = "default_window")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 3600").message("windowSeconds must be within 1-3600"))]
    pub window_seconds: u32,
}

fn default_scan_ports() -> u32 {
    15
}
fn default_scan_hosts() -> u32 {
    10
}
fn default_syn_rate() -> u32 {
    100
}
fn default_exfil_factor() -> f64 {
    10.0
}
fn default_beacons() -> u32 {
    6
}
fn default_window() -> u32 {
    10
}

impl Default for IntrusionRules {
    fn default() -> Self {
        Self {
            sensitivity: Sensitivity::default(),
            port_scan_distinct_ports: default_scan_ports(),
            port_scan_distinct_hosts: default_scan_hosts(),
            syn_flood_syns_per_second: default_syn_rate(),
            exfiltration_baseline_factor: default_exfil_factor(),
            beaconing_min_connections: default_beacons(),
            window_seconds: default_window(),
        }
    }
}

/// Clustering-based anomaly scores on each device's traffic.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyDetection {
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// How much traffic history trains the model, as a duration such as `10m` or `1h`, at least
    /// 1m.
    #[serde(default = "default_training_window")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = duration_rule("trainingWindow", "1m", None, "10m or 1h"))]
    pub training_window: String,
    /// How often the model is retrained, as a duration such as `30m` or `1h`, at least 1m.
    #[serde(default = "default_retrain")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = duration_rule("retrainInterval", "1m", None, "30m or 1h"))]
    pub retrain_interval: String,
}

fn enabled() -> bool {
    true
}
fn default_training_window() -> String {
    "10m".into()
}
fn default_retrain() -> String {
    "1h".into()
}

impl Default for AnomalyDetection {
    fn default() -> Self {
        Self { enabled: true, training_window: default_training_window(), retrain_interval: default_retrain() }
    }
}

/// Whether wardwatch isolates a device on its own. (Not "Off": YAML 1.1 readers such as
/// helm's take an unquoted `Off` for a boolean.)
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QuarantineMode {
    /// Only `MonitoredDevice.spec.quarantine: true` isolates a device.
    #[default]
    Manual,
    /// A network alert of at least `minSeverity` on a device isolates it.
    OnAlert,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinePolicy {
    #[serde(default)]
    pub mode: QuarantineMode,
    #[serde(default = "critical")]
    pub min_severity: Severity,
}

fn critical() -> Severity {
    Severity::Critical
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self { mode: QuarantineMode::Manual, min_severity: Severity::Critical }
    }
}
