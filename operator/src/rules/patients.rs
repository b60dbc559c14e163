//! One patient, one series. A patient's vital signs reach Prometheus from the device's exporter
//! and from the gateway's (which sees every device's HL7), and two devices may report the same
//! vital sign. These recording rules reduce every source to one series per patient (labels
//! `namespace`, `hospital`, `ward`, `patient`), counting only values observed in the last
//! [`FRESH_SECONDS`], so that no alert or score is duplicated and no join is many-to-many,
//! whichever exporters are up.

use wardwatch_clinical::vitals::VitalSign;

use super::alert::{FRESH_SECONDS, PATIENT_LABELS, Scope, record};
use crate::monitoring::Rule;

/// The bed of each patient, from device exporters (the gateway's series carry no bed): one
/// series per patient, value 1, label `bed`.
pub const BED_INFO: &str = "wardwatch:patient_bed:info";
/// Patients scored on NEWS2's SpO2 scale 2 (label `spo2_scale="2"` on their device's series).
pub const SPO2_SCALE2_INFO: &str = "wardwatch:patient_spo2_scale2:info";

/// The per-patient lowest current value of `vital`.
pub fn lowest(vital: &VitalSign) -> String {
    format!("wardwatch:patient_{}:min", vital.key)
}

/// The per-patient highest current value of `vital`.
pub fn highest(vital: &VitalSign) -> String {
    format!("wardwatch:patient_{}:max", vital.key)
}

/// `vital`'s series of every source, kept only where the source observed it in the last
/// [`FRESH_SECONDS`] (a silent device's gauge keeps its last value; this drops it).
fn fresh(scope: &Scope, vital: &VitalSign) -> String {
    let observed = scope.series("wardwatch_vital_observed_timestamp_seconds", &[&format!(r#"vital="{}""#, vital.key)]);
    format!(
        "{} and on (instance, patient) (time() - {observed} < {FRESH_SECONDS})",
        scope.series(vital.metric, &[r#"patient!="""#])
    )
}

/// Recording rules for the ward: bed and SpO2-scale facts, then each vital's lowest and highest
/// current value per patient.
pub fn recording_rules(scope: &Scope, vitals: &[VitalSign]) -> Vec<Rule> {
    let observed = |extra: &[&str]| {
        let mut matchers = vec![r#"patient!="""#];
        matchers.extend(extra);
        scope.series("wardwatch_vital_observed_timestamp_seconds", &matchers)
    };
    let mut rules = vec![
        // topk keeps one bed should two devices disagree, so joins stay one-to-one.
        record(
            BED_INFO,
            format!("topk by ({PATIENT_LABELS}) (1, group by ({PATIENT_LABELS}, bed) ({}))", observed(&[r#"bed!="""#])),
            &[],
        ),
        record(SPO2_SCALE2_INFO, format!("group by ({PATIENT_LABELS}) ({})", observed(&[r#"spo2_scale="2""#])), &[]),
    ];
    for vital in vitals {
        rules.push(record(&lowest(vital), format!("min by ({PATIENT_LABELS}) ({})", fresh(scope, vital)), &[]));
        rules.push(record(&highest(vital), format!("max by ({PATIENT_LABELS}) ({})", fresh(scope, vital)), &[]));
    }
    rules
}

/// `expr` (one series per patient) with the patient's `bed` label added where a device knows it.
pub fn with_bed(scope: &Scope, expr: &str) -> String {
    let on = "on (namespace, ward, patient)";
    format!("({expr}) * {on} group_left (bed) {} or {on} ({expr})", scope.series(BED_INFO, &[]))
}
