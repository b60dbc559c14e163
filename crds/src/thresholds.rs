//! Clinical alarm limits per vital sign.
//!
//! The defaults follow common adult bedside-monitor factory defaults; the SpO2 low limit of 90 %
//! is the seed `HypoxiaDetected` rule of the design.
//!
//! Every band also carries the physiological range its limits must lie in, declared once per
//! field with [`within`]: the API server refuses a limit outside it (a negative heart rate, an
//! FiO2 written as a ratio), naming the field, so that a typo cannot silence an alarm.

use kube::KubeSchema;
use kube::core::{Message, Rule};
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
///
/// Every field carries a [`within`] rule; a unit test refuses a field without one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClinicalThresholds {
    /// Peripheral oxygen saturation, percent (LOINC 59408-5).
    #[serde(default = "spo2")]
    #[x_kube(validation = within("spo2Percent", 0.0, 100.0, "percent"))]
    pub spo2_percent: Band,
    /// Heart rate, beats per minute (LOINC 8867-4).
    #[serde(default = "heart_rate")]
    #[x_kube(validation = within("heartRateBpm", 0.0, 300.0, "beats/min"))]
    pub heart_rate_bpm: Band,
    /// Respiratory rate, breaths per minute (LOINC 9279-1).
    #[serde(default = "respiratory_rate")]
    #[x_kube(validation = within("respiratoryRatePerMinute", 0.0, 80.0, "breaths/min"))]
    pub respiratory_rate_per_minute: Band,
    /// Systolic blood pressure, mmHg (LOINC 8480-6).
    #[serde(default = "systolic")]
    #[x_kube(validation = within("systolicMmhg", 0.0, 300.0, "mmHg"))]
    pub systolic_mmhg: Band,
    /// Diastolic blood pressure, mmHg (LOINC 8462-4).
    #[serde(default = "diastolic")]
    #[x_kube(validation = within("diastolicMmhg", 0.0, 200.0, "mmHg"))]
    pub diastolic_mmhg: Band,
    /// Body temperature, degrees Celsius (LOINC 8310-5).
    #[serde(default = "temperature")]
    #[x_kube(validation = within("temperatureCelsius", 25.0, 45.0, "degrees Celsius"))]
    pub temperature_celsius: Band,
    /// End-tidal CO2, mmHg (LOINC 19889-5).
    #[serde(default = "etco2")]
    #[x_kube(validation = within("etco2Mmhg", 0.0, 150.0, "mmHg"))]
    pub etco2_mmhg: Band,
    /// Fraction of inspired oxygen, percent: 21 is room air, 100 pure oxygen (LOINC 3150-0; HL7
    /// sends it in %, the exporter exposes `wardwatch_vital_fio2_percent`).
    #[serde(default = "fio2")]
    #[x_kube(validation = within("fio2Percent", 21.0, 100.0, "percent"))]
    pub fio2_percent: Band,
    /// Blood glucose, mg/dL (LOINC 2339-0).
    #[serde(default = "glucose")]
    #[x_kube(validation = within("glucoseMgPerDl", 0.0, 1000.0, "mg/dL"))]
    pub glucose_mg_per_dl: Band,
    /// Blood lactate, mmol/L (LOINC 2524-7).
    #[serde(default = "lactate")]
    #[x_kube(validation = within("lactateMmolPerL", 0.0, 30.0, "mmol/L"))]
    pub lactate_mmol_per_l: Band,
    /// White blood cell count, 10^3 per microlitre (LOINC 6690-2).
    #[serde(default = "wbc")]
    #[x_kube(validation = within("wbcThousandPerUl", 0.0, 500.0, "10^3/uL"))]
    pub wbc_thousand_per_ul: Band,
}

/// The rule that keeps both limits of the band `field` (its JSON name) inside the physiological
/// range `min`-`max`, in `unit`. `low >= min` refuses a negative limit; together with the band's
/// own `low < high`, `high <= max` keeps both limits at or below `max`.
fn within(field: &str, min: f64, max: f64, unit: &str) -> Rule {
    // `{:?}` writes a CEL double literal (`0.0`, `300.0`); `{}` the plain figure (`0`, `300`).
    Rule::new(format!("self.low >= {min:?} && self.high <= {max:?}"))
        .message(Message::Message(format!("thresholds.{field}: limits must lie within {min}-{max} {unit}")))
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
    Band::new(21.0, 60.0)
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
            fio2_percent: fio2(),
            glucose_mg_per_dl: glucose(),
            lactate_mmol_per_l: lactate(),
            wbc_thousand_per_ul: wbc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

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

    /// Every `{low, high}` band anywhere in the CRDs, with its path and schema.
    fn bands_in(path: &str, schema: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        let Some(properties) = schema["properties"].as_object() else {
            if schema["items"].is_object() {
                bands_in(&format!("{path}[]"), &schema["items"], out);
            }
            return;
        };
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names == ["high", "low"] {
            out.push((path.to_owned(), schema.clone()));
        }
        for (name, property) in properties {
            bands_in(&format!("{path}.{name}"), property, out);
        }
    }

    /// The range `(min, max)` of a band's `within` rule, and the rule's message.
    fn range_rule(band: &serde_json::Value) -> Option<(f64, f64, String)> {
        band["x-kubernetes-validations"].as_array()?.iter().find_map(|rule| {
            let (min, max) = rule["rule"].as_str()?.strip_prefix("self.low >= ")?.split_once(" && self.high <= ")?;
            Some((min.parse().ok()?, max.parse().ok()?, rule["message"].as_str()?.to_owned()))
        })
    }

    #[test]
    fn every_band_in_the_crds_has_a_physiological_range_holding_its_default() {
        let mut bands = Vec::new();
        for crd in crate::crds() {
            let crd = serde_json::to_value(crd).unwrap();
            for version in crd["spec"]["versions"].as_array().unwrap() {
                let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
                bands_in(kind, &version["schema"]["openAPIV3Schema"], &mut bands);
            }
        }
        let names: Vec<&str> = bands.iter().map(|(path, _)| path.rsplit('.').next().unwrap()).collect();
        let thresholds = serde_json::to_value(ClinicalThresholds::default()).unwrap();
        let fields: Vec<&str> = thresholds.as_object().unwrap().keys().map(String::as_str).collect();
        for field in &fields {
            assert!(names.contains(field), "thresholds.{field} is not among the bands found: {names:?}");
        }
        for (path, band) in &bands {
            let field = path.rsplit('.').next().unwrap();
            let Some((min, max, message)) = range_rule(band) else {
                panic!("{path} has no physiological range rule (see `within`): {band}");
            };
            assert!(min < max, "{path}: {min}-{max}");
            assert!(
                message.starts_with(&format!("thresholds.{field}: limits must lie within {min}-{max} ")),
                "{path}: {message}"
            );
            let default: Band = serde_json::from_value(band["default"].clone()).expect("a band has a default");
            assert!(min <= default.low && default.high <= max, "{path}: default {default:?} outside {min}-{max}");
        }
    }

    #[test]
    fn ranges_refuse_what_a_check_from_outside_found_accepted() {
        let crd = serde_json::to_value(crate::Ward::crd()).unwrap();
        let thresholds = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["thresholds"]
            ["properties"];
        let (min, max, message) = range_rule(&thresholds["heartRateBpm"]).unwrap();
        assert_eq!((min, max), (0.0, 300.0));
        assert_eq!(message, "thresholds.heartRateBpm: limits must lie within 0-300 beats/min");
        let (min, max, message) = range_rule(&thresholds["fio2Percent"]).unwrap();
        assert!(min > 0.6, "an FiO2 written as a ratio (0.21-0.6) must be refused: {min}-{max}");
        assert_eq!(message, "thresholds.fio2Percent: limits must lie within 21-100 percent");
        assert_eq!(ClinicalThresholds::default().fio2_percent, Band::new(21.0, 60.0));
    }

    #[test]
    fn band_contains_its_limits() {
        let band = Band::new(90.0, 100.0);
        assert!(band.contains(90.0) && band.contains(100.0));
        assert!(!band.contains(89.9) && !band.contains(100.1));
    }
}
