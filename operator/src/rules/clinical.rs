//! Clinical limit alerts: a low and a high alert for every vital sign, from the Ward's
//! thresholds, on the per-patient reductions of [`super::patients`].

use wardwatch_clinical::vitals::{self, VitalSign};
use wardwatch_crds::{Band, ClinicalThresholds, Severity};

use super::alert::{Alert, Category, Scope, WHERE, duration};
use super::patients::{highest, lowest, with_bed};

/// One side (low or high) of a vital sign's alarm.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    pub alert: &'static str,
    pub severity: Severity,
    /// Seconds the value must stay beyond the limit.
    pub for_seconds: u32,
    /// What to check.
    pub advice: &'static str,
}

/// How a vital sign is alarmed: its name in texts, unit, the step one value is from the next
/// (for tests at either side of a limit), and its two sides.
#[derive(Clone, Copy, Debug)]
pub struct VitalAlarm {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub step: f64,
    pub low: Side,
    pub high: Side,
}

const fn side(alert: &'static str, severity: Severity, for_seconds: u32, advice: &'static str) -> Side {
    Side { alert, severity, for_seconds, advice }
}

use Severity::{Critical, Info, Warning};

/// Every vital sign's alarms. `HypoxiaDetected` (SpO2 below its low limit for 10 s, critical)
/// keeps the name and meaning of the design's seed rule. Lab values (glucose, lactate, WBC)
/// arrive as single results, so their alerts need no duration.
pub const ALARMS: &[VitalAlarm] = &[
    VitalAlarm {
        key: "spo2",
        label: "SpO2",
        unit: "%",
        step: 1.0,
        low: side(
            "HypoxiaDetected",
            Critical,
            10,
            "Check the patient's airway and breathing, then the probe's placement and signal.",
        ),
        high: side("SpO2High", Warning, 60, "Check the oxygen prescription: the saturation is above the target range."),
    },
    VitalAlarm {
        key: "heart_rate",
        label: "Heart rate",
        unit: "/min",
        step: 1.0,
        low: side(
            "HeartRateLow",
            Critical,
            10,
            "Check the patient (perfusion, consciousness) and the ECG for bradycardia or a lead fault.",
        ),
        high: side(
            "HeartRateHigh",
            Warning,
            30,
            "Check the patient and the ECG rhythm (tachycardia, pain, fever, bleeding).",
        ),
    },
    VitalAlarm {
        key: "respiratory_rate",
        label: "Respiratory rate",
        unit: "/min",
        step: 1.0,
        low: side("RespiratoryRateLow", Critical, 30, "Check the patient's breathing and sedation at once."),
        high: side("RespiratoryRateHigh", Warning, 60, "Check the patient for respiratory distress, sepsis or pain."),
    },
    VitalAlarm {
        key: "systolic_bp",
        label: "Systolic blood pressure",
        unit: "mmHg",
        step: 1.0,
        low: side(
            "SystolicBPLow",
            Critical,
            30,
            "Check the patient for shock (perfusion, bleeding, sepsis) and repeat the measurement.",
        ),
        high: side(
            "SystolicBPHigh",
            Warning,
            60,
            "Repeat the measurement and check for pain or a hypertensive emergency.",
        ),
    },
    VitalAlarm {
        key: "diastolic_bp",
        label: "Diastolic blood pressure",
        unit: "mmHg",
        step: 1.0,
        low: side("DiastolicBPLow", Warning, 60, "Repeat the measurement and check the patient's perfusion."),
        high: side("DiastolicBPHigh", Warning, 60, "Repeat the measurement; review with the systolic pressure."),
    },
    VitalAlarm {
        key: "temperature",
        label: "Temperature",
        unit: "°C",
        step: 0.1,
        low: side("TemperatureLow", Warning, 300, "Check for hypothermia and the probe's placement; warm the patient."),
        high: side("TemperatureHigh", Warning, 300, "Check for infection or sepsis; follow the fever protocol."),
    },
    VitalAlarm {
        key: "etco2",
        label: "EtCO2",
        unit: "mmHg",
        step: 1.0,
        low: side(
            "EtCO2Low",
            Warning,
            30,
            "Check the airway and the sampling line (disconnection, leak), then ventilation and perfusion.",
        ),
        high: side("EtCO2High", Warning, 60, "Check ventilation: the patient may be hypoventilating."),
    },
    VitalAlarm {
        key: "fio2",
        label: "FiO2",
        unit: "%",
        step: 1.0,
        low: side(
            "FiO2Low",
            Critical,
            10,
            "Check the gas supply and the ventilator's oxygen setting at once: the patient breathes less oxygen than air holds.",
        ),
        high: side("FiO2High", Warning, 300, "Review the oxygen prescription: prolonged high FiO2 is toxic."),
    },
    VitalAlarm {
        key: "glucose",
        label: "Glucose",
        unit: "mg/dL",
        step: 1.0,
        low: side("GlucoseLow", Critical, 0, "Treat hypoglycaemia per protocol and recheck."),
        high: side("GlucoseHigh", Warning, 0, "Recheck and follow the hyperglycaemia protocol."),
    },
    VitalAlarm {
        key: "lactate",
        label: "Lactate",
        unit: "mmol/L",
        step: 0.1,
        low: side("LactateLow", Info, 0, "Usually of no clinical concern; check the sample if unexpected."),
        high: side("LactateHigh", Warning, 0, "Assess for sepsis or hypoperfusion and repeat the measurement."),
    },
    VitalAlarm {
        key: "wbc",
        label: "WBC",
        unit: "10³/µL",
        step: 0.1,
        low: side("WBCLow", Warning, 0, "Check for neutropenia; consider protective isolation."),
        high: side("WBCHigh", Warning, 0, "Assess for infection or inflammation."),
    },
];

/// The Ward's band for a vital sign.
pub fn band(thresholds: &ClinicalThresholds, key: &str) -> Band {
    match key {
        "spo2" => thresholds.spo2_percent,
        "heart_rate" => thresholds.heart_rate_bpm,
        "respiratory_rate" => thresholds.respiratory_rate_per_minute,
        "systolic_bp" => thresholds.systolic_mmhg,
        "diastolic_bp" => thresholds.diastolic_mmhg,
        "temperature" => thresholds.temperature_celsius,
        "etco2" => thresholds.etco2_mmhg,
        "fio2" => thresholds.fio2_percent,
        "glucose" => thresholds.glucose_mg_per_dl,
        "lactate" => thresholds.lactate_mmol_per_l,
        "wbc" => thresholds.wbc_thousand_per_ul,
        other => unreachable!("{other} is not in the alarm table"),
    }
}

/// The catalogue entry of an alarm's vital sign.
pub fn vital(alarm: &VitalAlarm) -> &'static VitalSign {
    vitals::by_key(alarm.key).expect("every alarm's vital sign is in the catalogue")
}

/// Whether a side is the low one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Low,
    High,
}

/// The alert of one side of one vital sign.
pub fn limit_alert(scope: &Scope, alarm: &VitalAlarm, direction: Direction, limit: f64) -> Alert {
    let vital = vital(alarm);
    let (side, reduced, op, words) = match direction {
        Direction::Low => (alarm.low, lowest(vital), "<", "below"),
        Direction::High => (alarm.high, highest(vital), ">", "above"),
    };
    let for_ = duration(side.for_seconds);
    let held = if side.for_seconds == 0 { String::new() } else { format!(" for {for_}") };
    Alert {
        name: side.alert.to_owned(),
        expr: with_bed(scope, &format!("{} {op} {limit}", scope.series(&reduced, &[]))),
        for_: for_.clone(),
        severity: side.severity,
        category: Category::Clinical,
        labels: vec![("vital", alarm.key.to_owned())],
        summary: format!("{} {{{{ $value | humanize }}}} {} in {WHERE}", alarm.label, alarm.unit),
        description: format!(
            "The {} {} reported for the patient in {WHERE} has been {words} the ward's limit of {limit} {}{held}. {}",
            if direction == Direction::Low { "lowest" } else { "highest" },
            alarm.label,
            alarm.unit,
            side.advice
        ),
    }
}

/// Both alerts of every vital sign, at the Ward's limits.
pub fn alerts(scope: &Scope, thresholds: &ClinicalThresholds) -> Vec<Alert> {
    ALARMS
        .iter()
        .flat_map(|alarm| {
            let band = band(thresholds, alarm.key);
            [limit_alert(scope, alarm, Direction::Low, band.low), limit_alert(scope, alarm, Direction::High, band.high)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vital_sign_of_the_catalogue_has_both_alarms() {
        let keys: std::collections::BTreeSet<&str> = ALARMS.iter().map(|a| a.key).collect();
        let catalogue: std::collections::BTreeSet<&str> = vitals::VITAL_SIGNS.iter().map(|v| v.key).collect();
        assert_eq!(keys.len(), ALARMS.len(), "one entry per vital sign");
        assert_eq!(keys, catalogue);
        let scope = Scope { namespace: "st-mary".into(), ward: "icu-east".into() };
        let alerts = alerts(&scope, &ClinicalThresholds::default());
        assert_eq!(alerts.len(), 22);
        let names: std::collections::BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names.len(), 22, "names are unique");
    }

    #[test]
    fn hypoxia_keeps_its_name_meaning_and_no_patient_identifier_in_texts() {
        let scope = Scope { namespace: "st-mary".into(), ward: "icu-east".into() };
        let hypoxia = &alerts(&scope, &ClinicalThresholds::default())[0];
        assert_eq!(hypoxia.name, "HypoxiaDetected");
        assert_eq!(hypoxia.for_, "10s");
        assert_eq!(hypoxia.severity, Severity::Critical);
        assert!(
            hypoxia.expr.starts_with(r#"(wardwatch:patient_spo2:min{namespace="st-mary",ward="icu-east"} < 90)"#),
            "{}",
            hypoxia.expr
        );
        for alert in alerts(&scope, &ClinicalThresholds::default()) {
            assert!(
                !alert.summary.contains("patient }}") && !alert.description.contains("$labels.patient"),
                "{}",
                alert.name
            );
        }
    }
}
