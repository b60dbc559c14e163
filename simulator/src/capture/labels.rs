//! The ground truth written next to a capture (`F.labels.json`): for each device its type,
//! addresses, scenario episodes as time ranges, and every reading with what the patient really
//! had and what the device sent; and every attack with its device, target and time range.

use serde::Serialize;

use super::plan::CaptureScenario;
use crate::device_type::DeviceType;
use crate::network_scenario::NetworkScenario;
use crate::oru::Observation;
use crate::physiology::Vitals;
use crate::scenario::{Episode, Scenario};

pub const FORMAT: &str = "wardwatch-labels/v1";

#[derive(Clone, Debug, Serialize)]
pub struct Labels {
    pub format: &'static str,
    pub seed: u64,
    /// The `--scenario` asked for: clinical, network, `mixed-attacks` or `ward`.
    pub scenario: CaptureScenario,
    pub start_unix_s: u64,
    pub duration_s: f64,
    pub interval_s: f64,
    pub gateway: Address,
    /// Frames in the capture.
    pub packets: u64,
    /// ORU^R01 messages in the capture (each answered by one ACK).
    pub messages: u64,
    pub devices: Vec<DeviceLabels>,
    /// Every attack in the capture, in time order.
    pub attacks: Vec<AttackLabel>,
}

/// One attack: who, at whom, when. The time range runs from the attack's first frame to its
/// last, both included.
#[derive(Clone, Debug, Serialize)]
pub struct AttackLabel {
    pub scenario: NetworkScenario,
    pub device_id: String,
    pub device_ip: String,
    pub device_mac: String,
    /// The attacked address (for `arp-spoof`, the IP the device claims).
    pub target: String,
    pub start_unix_s: f64,
    pub end_unix_s: f64,
    /// Frames of the attack, both directions.
    pub packets: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Address {
    pub mac: String,
    pub ip: String,
    pub port: u16,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceLabels {
    pub device_id: String,
    pub device_type: DeviceType,
    pub patient_id: String,
    pub bed: String,
    pub ward: String,
    pub hospital_id: String,
    pub mac: String,
    pub ip: String,
    /// The seed that replays this device's patient (`wardwatch-simulator device --seed`).
    pub seed: u64,
    pub episodes: Vec<EpisodeLabel>,
    pub readings: Vec<ReadingLabel>,
}

/// An episode as Unix time ranges.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeLabel {
    pub scenario: Scenario,
    pub start_unix_s: f64,
    pub plateau_start_unix_s: f64,
    pub plateau_end_unix_s: f64,
    pub end_unix_s: f64,
}

impl EpisodeLabel {
    pub fn new(episode: &Episode, start_unix_s: u64) -> Self {
        let at = |t: f64| start_unix_s as f64 + t;
        let (plateau_start, plateau_end) = episode.plateau();
        Self {
            scenario: episode.scenario,
            start_unix_s: at(episode.onset_s),
            plateau_start_unix_s: at(plateau_start),
            plateau_end_unix_s: at(plateau_end),
            end_unix_s: at(episode.end_s()),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ReadingLabel {
    pub time_unix_s: f64,
    pub scenario: Scenario,
    /// MSH-10 of the message that carried this reading; `None` when nothing was sent.
    pub control_id: Option<String>,
    /// Every vital the patient has, whatever the device measures.
    #[serde(serialize_with = "serialize_vitals")]
    pub truth: Vitals,
    /// The values the message carried, one per OBX: only the device type's vital signs (an
    /// empty map for an ORU without observations); `None` when nothing was sent.
    #[serde(serialize_with = "serialize_optional_observations")]
    pub reported: Option<Vec<Observation>>,
}

fn serialize_vitals<S: serde::Serializer>(vitals: &Vitals, serializer: S) -> Result<S::Ok, S::Error> {
    vitals_by_key(vitals).serialize(serializer)
}

fn serialize_optional_observations<S: serde::Serializer>(
    observations: &Option<Vec<Observation>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    observations.as_deref().map(observations_by_key).serialize(serializer)
}

/// Observations as a map from catalogue key to value.
pub fn observations_by_key(observations: &[Observation]) -> serde_json::Map<String, serde_json::Value> {
    observations.iter().map(|o| (o.vital.key.to_owned(), serde_json::json!(o.value))).collect()
}

/// The vitals as a map from catalogue key to value.
pub fn vitals_by_key(vitals: &Vitals) -> serde_json::Map<String, serde_json::Value> {
    vitals.iter().map(|(v, value)| (v.key().to_owned(), serde_json::json!(value))).collect()
}

pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub fn ip_string(ip: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physiology::{Physiology, Vital};

    #[test]
    fn readings_serialize_with_catalogue_keys_and_null_when_silent() {
        let truth = Physiology::new().vitals().rounded();
        let reading =
            ReadingLabel { time_unix_s: 1.5, scenario: Scenario::Disconnect, control_id: None, truth, reported: None };
        let json = serde_json::to_value(&reading).unwrap();
        assert_eq!(json["scenario"], "disconnect");
        assert_eq!(json["reported"], serde_json::Value::Null);
        assert_eq!(json["truth"].as_object().unwrap().len(), Vital::ALL.len());
        assert_eq!(json["truth"]["spo2"], truth.get(Vital::Spo2));
        let sent = crate::oru::observations(&truth, &[Vital::Glucose]);
        let reading = ReadingLabel { reported: Some(sent), control_id: Some("1".into()), ..reading };
        let json = serde_json::to_value(&reading).unwrap();
        assert_eq!(json["reported"], serde_json::json!({ "glucose": truth.get(Vital::Glucose) }));
        let heartbeat = ReadingLabel { reported: Some(Vec::new()), ..reading };
        assert_eq!(serde_json::to_value(&heartbeat).unwrap()["reported"], serde_json::json!({}));
    }

    #[test]
    fn episodes_become_unix_time_ranges() {
        let label = EpisodeLabel::new(&Episode::new(Scenario::Sepsis), 1_000);
        let times = [label.start_unix_s, label.plateau_start_unix_s, label.plateau_end_unix_s, label.end_unix_s];
        assert_eq!(times, [1_060.0, 1_180.0, 1_480.0, 1_600.0]);
        assert_eq!(mac_string([2, 0x57, 0, 0, 0, 0xfe]), "02:57:00:00:00:fe");
        assert_eq!(ip_string([10, 20, 0, 1]), "10.20.0.1");
    }
}
