//! Anomaly alerts: the exporter's learned models (k-means on network windows and on each
//! patient's vital-sign vector) score each window by its distance to the nearest cluster,
//! scaled so that 1 is the threshold on every device (the README's anomaly section). An alert
//! needs the model scoring, not learning, and the score over 1 for three windows in a row, so a
//! single odd window (about 1 % of normal ones) never pages anyone.

use wardwatch_crds::Severity;

use super::alert::{Alert, Category, DEVICE, PATIENT_LABELS, Scope, WHERE};
use super::patients::with_bed;

/// The score above which a window is anomalous (the exporter scales every model to it).
pub const THRESHOLD: f64 = 1.0;

/// How long the score must stay over the threshold: three 10-s windows.
pub const FOR: &str = "30s";

/// Labels a network anomaly keeps (as the intrusion alerts).
const BY: &str = "namespace, hospital, ward, device, patient, bed, component";

pub fn alerts(scope: &Scope) -> Vec<Alert> {
    let score = |model: &str| scope.series("wardwatch_anomaly_score", &[&format!(r#"model="{model}""#)]);
    let scoring = |model: &str| {
        scope.series("wardwatch_anomaly_model_state", &[&format!(r#"model="{model}""#), r#"state="scoring""#])
    };
    vec![
        Alert {
            name: "NetworkAnomalyDetected".into(),
            expr: format!(
                "max by ({BY}) ({}) > {THRESHOLD} and on ({BY}) max by ({BY}) ({}) == 1",
                score("network"),
                scoring("network")
            ),
            for_: FOR.into(),
            severity: Severity::Warning,
            category: Category::Network,
            labels: vec![("model", "network".into())],
            summary: format!("{DEVICE} behaves unlike its learnt normal on the network (score {{{{ $value | humanize }}}})"),
            description: "The device's traffic windows (packets, bytes, peers, ports, sizes, SYN and RST shares, new flows, HL7 rate) have been far from every cluster of its learnt normal for 30 s. No intrusion rule needs to fire for this: check what changed (firmware update, new service, a compromise) in the exporter's alert lines and the device dashboard. The device is not quarantined for an anomaly alone.".into(),
        },
        Alert {
            name: "VitalSignPatternAnomaly".into(),
            // A patient's vitals reach Prometheus from the device's exporter and the gateway's:
            // one series per patient, as every clinical rule.
            // The bed comes from the device's series (the gateway's know none).
            expr: with_bed(
                scope,
                &format!(
                    "max by ({PATIENT_LABELS}) ({}) > {THRESHOLD} and on ({PATIENT_LABELS}) max by ({PATIENT_LABELS}) ({}) == 1",
                    score("vitals"),
                    scoring("vitals")
                ),
            ),
            for_: FOR.into(),
            severity: Severity::Warning,
            category: Category::Clinical,
            labels: vec![("model", "vitals".into())],
            summary: format!("Unusual combination of vital signs at {WHERE} (score {{{{ $value | humanize }}}})"),
            description: "The patient's vital-sign vector (heart rate, respiration, blood pressure, SpO2, temperature) has been far from every pattern learnt for them for 30 s, possibly before any single threshold or NEWS2 alert: for example heart rate and respiration rising while blood pressure falls, as in early sepsis. Review the patient.".into(),
        },
    ]
}
