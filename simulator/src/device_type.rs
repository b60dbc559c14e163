//! The kinds of device a twin can be, with the names the operator passes in
//! `WARDWATCH_DEVICE_TYPE` (the kebab-case names of the MonitoredDevice's `deviceType`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::physiology::Vital;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceType {
    BedsideMonitor,
    PulseOximeter,
    InfusionPump,
    Ventilator,
    PointOfCareAnalyzer,
    /// CT, MR, X-ray: sends images to the PACS over DICOM.
    ImagingModality,
    /// A clinician's PC: name lookups, time, web applications.
    Workstation,
}

impl DeviceType {
    pub const ALL: [DeviceType; 7] = [
        DeviceType::BedsideMonitor,
        DeviceType::PulseOximeter,
        DeviceType::InfusionPump,
        DeviceType::Ventilator,
        DeviceType::PointOfCareAnalyzer,
        DeviceType::ImagingModality,
        DeviceType::Workstation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DeviceType::BedsideMonitor => "bedside-monitor",
            DeviceType::PulseOximeter => "pulse-oximeter",
            DeviceType::InfusionPump => "infusion-pump",
            DeviceType::Ventilator => "ventilator",
            DeviceType::PointOfCareAnalyzer => "point-of-care-analyzer",
            DeviceType::ImagingModality => "imaging-modality",
            DeviceType::Workstation => "workstation",
        }
    }

    /// Whether the device reports a patient's observations to the gateway as HL7 ORU^R01.
    pub fn sends_hl7(self) -> bool {
        !matches!(self, DeviceType::ImagingModality | DeviceType::Workstation)
    }

    /// The vital signs the device measures and so sends, one OBX each, in catalogue order.
    /// The patient's physiology moves all of them whatever the device; this is only what
    /// this kind of device can see.
    ///
    /// An infusion pump measures none of them: what it knows is the infusion (rate, volume,
    /// drug), which the catalogue does not hold. Giving it the patient's heart rate or SpO2
    /// would invent a sensor pumps do not have, so it sends its ORU^R01 with no OBX: a
    /// heartbeat that keeps its last-seen time and its network behaviour like the others'.
    pub fn vitals(self) -> &'static [Vital] {
        use Vital::*;
        match self {
            DeviceType::BedsideMonitor => &[HeartRate, Spo2, RespiratoryRate, SystolicBp, DiastolicBp, Temperature],
            // Pulse oximeters derive the pulse rate from the same plethysmogram as the SpO2.
            DeviceType::PulseOximeter => &[HeartRate, Spo2],
            // Breath rate from the circuit, capnography, the set oxygen, and the SpO2 input
            // ventilators take from an oximeter for closed-loop oxygen control.
            DeviceType::Ventilator => &[Spo2, RespiratoryRate, Etco2, Fio2],
            // A blood gas / metabolite cartridge and a WBC count.
            DeviceType::PointOfCareAnalyzer => &[Glucose, Lactate, Wbc],
            DeviceType::InfusionPump | DeviceType::ImagingModality | DeviceType::Workstation => &[],
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceType::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<_> = DeviceType::ALL.iter().map(|t| t.name()).collect();
            format!("unknown device type {s:?}; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for device_type in DeviceType::ALL {
            assert_eq!(device_type.name().parse::<DeviceType>(), Ok(device_type));
            assert_eq!(serde_json::to_value(device_type).unwrap(), device_type.name());
        }
        assert!("toaster".parse::<DeviceType>().unwrap_err().contains("workstation"));
        assert!(DeviceType::Ventilator.sends_hl7() && !DeviceType::Workstation.sends_hl7());
    }

    #[test]
    fn each_device_sends_its_own_vitals_in_catalogue_order() {
        let keys = |t: DeviceType| t.vitals().iter().map(|v| v.key()).collect::<Vec<_>>();
        assert_eq!(keys(DeviceType::PulseOximeter), ["heart_rate", "spo2"]);
        assert_eq!(keys(DeviceType::Ventilator), ["spo2", "respiratory_rate", "etco2", "fio2"]);
        assert_eq!(keys(DeviceType::PointOfCareAnalyzer), ["glucose", "lactate", "wbc"]);
        assert!(keys(DeviceType::BedsideMonitor).contains(&"systolic_bp"));
        assert!(!keys(DeviceType::BedsideMonitor).contains(&"glucose"));
        assert!(DeviceType::InfusionPump.vitals().is_empty());
        for device_type in DeviceType::ALL {
            let order: Vec<usize> =
                device_type.vitals().iter().map(|v| Vital::ALL.iter().position(|a| a == v).unwrap()).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{device_type}");
            assert_eq!(
                device_type.vitals().is_empty(),
                !device_type.sends_hl7() || device_type == DeviceType::InfusionPump
            );
        }
    }
}
