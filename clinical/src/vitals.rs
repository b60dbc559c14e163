//! The vital signs wardwatch understands: LOINC code, UCUM unit as sent in OBX-6, and the
//! Prometheus metric the exporter exposes for each (base unit in the name).

/// One vital sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VitalSign {
    /// Short, stable identifier used in flags, labels and CRD fields.
    pub key: &'static str,
    /// LOINC code carried in OBX-3.
    pub loinc: &'static str,
    /// LOINC display name carried in OBX-3.2.
    pub loinc_name: &'static str,
    /// UCUM unit carried in OBX-6.
    pub ucum: &'static str,
    /// The gauge the exporter exposes.
    pub metric: &'static str,
}

macro_rules! vital {
    ($key:literal, $loinc:literal, $name:literal, $ucum:literal, $metric:literal) => {
        VitalSign { key: $key, loinc: $loinc, loinc_name: $name, ucum: $ucum, metric: $metric }
    };
}

/// Every vital sign, in the order monitors usually list them.
pub const VITAL_SIGNS: &[VitalSign] = &[
    vital!("heart_rate", "8867-4", "Heart rate", "/min", "wardwatch_vital_heart_rate_beats_per_minute"),
    vital!(
        "spo2",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "wardwatch_vital_spo2_percent"
    ),
    vital!(
        "respiratory_rate",
        "9279-1",
        "Respiratory rate",
        "/min",
        "wardwatch_vital_respiratory_rate_breaths_per_minute"
    ),
    vital!("systolic_bp", "8480-6", "Systolic blood pressure", "mm[Hg]", "wardwatch_vital_systolic_bp_mmhg"),
    vital!("diastolic_bp", "8462-4", "Diastolic blood pressure", "mm[Hg]", "wardwatch_vital_diastolic_bp_mmhg"),
    vital!("temperature", "8310-5", "Body temperature", "Cel", "wardwatch_vital_temperature_celsius"),
    vital!(
        "etco2",
        "19889-5",
        "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration",
        "mm[Hg]",
        "wardwatch_vital_etco2_mmhg"
    ),
    vital!("fio2", "3150-0", "Inhaled oxygen concentration", "%", "wardwatch_vital_fio2_percent"),
    vital!("glucose", "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "wardwatch_vital_glucose_mg_per_dl"),
    vital!(
        "lactate",
        "2524-7",
        "Lactate [Moles/volume] in Serum or Plasma",
        "mmol/L",
        "wardwatch_vital_lactate_mmol_per_l"
    ),
    vital!(
        "wbc",
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        "wardwatch_vital_wbc_thousand_per_ul"
    ),
];

/// The vital sign with this LOINC code.
pub fn by_loinc(code: &str) -> Option<&'static VitalSign> {
    // Compared inline: codes are a few bytes, shorter than a call to memcmp.
    VITAL_SIGNS.iter().find(|v| v.loinc.len() == code.len() && v.loinc.bytes().eq(code.bytes()))
}

/// The vital sign with this key.
pub fn by_key(key: &str) -> Option<&'static VitalSign> {
    VITAL_SIGNS.iter().find(|v| v.key == key)
}

/// Whether a LOINC code's check digit (after the hyphen) is right: LOINC uses the mod-10
/// algorithm, doubling every other digit from the right of the code part.
pub fn loinc_check_digit_ok(code: &str) -> bool {
    let Some((body, check)) = code.split_once('-') else { return false };
    let (Ok(check), true) = (check.parse::<u32>(), body.bytes().all(|b| b.is_ascii_digit())) else { return false };
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10 == check
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_loinc_code_has_a_valid_check_digit() {
        for vital in VITAL_SIGNS {
            assert!(loinc_check_digit_ok(vital.loinc), "{}: {}", vital.key, vital.loinc);
        }
        assert!(!loinc_check_digit_ok("59408-4"), "a wrong check digit is caught");
        assert!(!loinc_check_digit_ok("8867"), "a code without check digit is refused");
    }

    #[test]
    fn keys_codes_and_metrics_are_unique_and_well_formed() {
        let keys: HashSet<_> = VITAL_SIGNS.iter().map(|v| v.key).collect();
        let codes: HashSet<_> = VITAL_SIGNS.iter().map(|v| v.loinc).collect();
        let metrics: HashSet<_> = VITAL_SIGNS.iter().map(|v| v.metric).collect();
        assert_eq!(keys.len(), VITAL_SIGNS.len());
        assert_eq!(codes.len(), VITAL_SIGNS.len());
        assert_eq!(metrics.len(), VITAL_SIGNS.len());
        for vital in VITAL_SIGNS {
            assert!(vital.metric.starts_with("wardwatch_vital_"), "{}", vital.metric);
            assert!(vital.metric.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn lookups_agree() {
        assert_eq!(by_loinc("59408-5").unwrap().key, "spo2");
        assert_eq!(by_key("heart_rate").unwrap().loinc, "8867-4");
        assert!(by_loinc("0000-0").is_none());
    }
}
