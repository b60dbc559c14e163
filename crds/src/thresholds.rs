//! Clinical alarm limits per vital sign.
//!
//! The defaults follow common adult bedside-monitor factory defaults; the SpO2 low limit of 90 %
//! is the seed `HypoxiaDetected` rule of the design.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// An alarm band: a value outside `[low, high]` is out of range.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.low < self.high").message("low must be below high"))]
pub struct Band {
    /// Lower alarm limit (the value must not fall below it).
    pub low: f64,
    /// Upper alarm limit (the value must not rise above it).
    pub high: f64,
}

impl Band {
    pub const fn new(low: f64, high: f64) -> Self {
        Self { low, high }
    }

    /// Whether `value` lies inside the band, limits included.
    pub fn contains(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

/// Alarm limits for each vital sign the devices report, in the units the exporter exposes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClinicalThresholds {
    /// Peripheral oxygen saturation, percent (LOINC 59408-5).
    #[serde(default = "spo2")]
    #[x_kube(validation = Rule::new("self.low >= 0.0 && self.high <= 100.0").message("SpO2 limits must lie within 0-100 percent"))]
    pub spo2_percent: Band,
    /// Heart rate, beats per minute (LOINC 8867-4).
    #[serde(default = "heart_rate")]
    pub heart_rate_bpm: Band,
    /// Respiratory rate, breaths per minute (LOINC 9279-1).
    #[serde(default = "respiratory_rate")]
    pub respiratory_rate_per_minute: Band,
    /// Systolic blood pressure, mmHg (LOINC 8480-6).
    #[serde(default = "systolic")]
    pub systolic_mmhg: Band,
    /// Diastolic blood pressure, mmHg (LOINC 8462-4).
    #[serde(default = "diastolic")]
    pub diastolic_mmhg: Band,
    /// Body temperature, degrees Celsius (LOINC 8310-5).
    #[serde(default = "temperature")]
    pub temperature_celsius: Band,
    /// End-tidal CO2, mmHg (LOINC 19889-5).
    #[serde(default = "etco2")]
    pub etco2_mmhg: Band,
    /// Fraction of inspired oxygen, ratio 0.21-1.0 (LOINC 3150-0).
    #[serde(default = "fio2")]
    #[x_kube(validation = Rule::new("self.low >= 0.0 && self.high <= 1.0").message("FiO2 limits are a ratio within 0-1"))]
    pub fio2_ratio: Band,
    /// Blood glucose, mg/dL (LOINC 2339-0).
    #[serde(default = "glucose")]
    pub glucose_mg_per_dl: Band,
    /// Blood lactate, mmol/L (LOINC 2524-7).
    #[serde(default = "lactate")]
    pub lactate_mmol_per_l: Band,
    /// White blood cell count, 10^3 per microlitre (LOINC 6690-2).
    #[serde(default = "wbc")]
    pub wbc_thousand_per_ul: Band,
}

fn spo2() -> Band {
    Band::new(90.0, 100.0)
}
fn heart_rate() -> Band {
    Band::new(50.0, 120.0)
}
fn respiratory_rate() -> Band {
    Band::new(8.0, 30.0)
}
fn systolic() -> Band {
    Band::new(90.0, 160.0)
}
fn diastolic() -> Band {
    Band::new(50.0, 90.0)
}
fn temperature() -> Band {
    Band::new(36.0, 38.5)
}
fn etco2() -> Band {
    Band::new(30.0, 50.0)
}
fn fio2() -> Band {
    Band::new(0.21, 0.6)
}
fn glucose() -> Band {
    Band::new(70.0, 180.0)
}
fn lactate() -> Band {
    Band::new(0.5, 2.0)
}
fn wbc() -> Band {
    Band::new(4.0, 12.0)
}

impl Default for ClinicalThresholds {
    fn default() -> Self {
        Self {
            spo2_percent: spo2(),
            heart_rate_bpm: heart_rate(),
            respiratory_rate_per_minute: respiratory_rate(),
            systolic_mmhg: systolic(),
            diastolic_mmhg: diastolic(),
            temperature_celsius: temperature(),
            etco2_mmhg: etco2(),
            fio2_ratio: fio2(),
            glucose_mg_per_dl: glucose(),
            lactate_mmol_per_l: lactate(),
            wbc_thousand_per_ul: wbc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_limits_take_the_clinical_defaults() {
        let parsed: ClinicalThresholds = serde_json::from_str(r#"{"heartRateBpm": {"low": 40, "high": 140}}"#).unwrap();
        assert_eq!(parsed.heart_rate_bpm, Band::new(40.0, 140.0));
        assert_eq!(parsed.spo2_percent, Band::new(90.0, 100.0), "seed HypoxiaDetected limit");
        assert_eq!(ClinicalThresholds { heart_rate_bpm: Band::new(40.0, 140.0), ..Default::default() }, parsed);
    }

    #[test]
    fn every_default_band_is_ordered() {
        let value = serde_json::to_value(ClinicalThresholds::default()).unwrap();
        for (name, band) in value.as_object().unwrap() {
            let band: Band = serde_json::from_value(band.clone()).unwrap();
            assert!(band.low < band.high, "{name}: {band:?}");
        }
    }

    #[test]
    fn band_contains_its_limits() {
        let band = Band::new(90.0, 100.0);
        assert!(band.contains(90.0) && band.contains(100.0));
        assert!(!band.contains(89.9) && !band.contains(100.1));
    }
}
