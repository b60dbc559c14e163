//! The kinds of device a twin can be, with the names the operator passes in
//! `WARDWATCH_DEVICE_TYPE` (the kebab-case names of the MonitoredDevice's `deviceType`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

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
}
