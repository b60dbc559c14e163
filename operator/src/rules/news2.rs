//! NEWS2 (Royal College of Physicians, 2017) as recording rules and two alerts.
//!
//! Each parameter's points come from the per-patient lowest and highest current values
//! ([`super::patients`]): every NEWS2 band table falls then rises (or only falls), so the worst
//! points over all sources are those of one of the two extremes. Bands are compared at
//! midpoints (respiratory rate `<= 8` is `< 8.5`, temperature `<= 35.0` is `< 35.05`), which
//! is exact for the integer (and one-decimal) values NEWS2 is scored on, with no rounding.
//! Consciousness (ACVPU) is not reported by any device, so at most six of the seven
//! parameters can be observed: `wardwatch:news2_parameters_observed` says how many the score
//! holds, and a score built from fewer is a lower bound of the true one.

use wardwatch_clinical::vitals;
use wardwatch_crds::Severity;

use super::alert::{Alert, Category, PATIENT_LABELS, Scope, WHERE, record};
use super::patients::{SPO2_SCALE2_INFO, highest, lowest, with_bed};
use crate::monitoring::Rule;

pub const SCORE: &str = "wardwatch:news2_score";
pub const PARAMETER_SCORE: &str = "wardwatch:news2_parameter_score";
pub const PARAMETERS_OBSERVED: &str = "wardwatch:news2_parameters_observed";

/// A band table: `(upper bound, exclusive; points)` from the lowest band up, and the points
/// of everything above the last bound.
#[derive(Clone, Copy, Debug)]
pub struct Bands {
    pub below: &'static [(f64, u32)],
    pub above: u32,
}

impl Bands {
    /// The points of `value` (what the rules compute, for tests).
    pub fn points(&self, value: f64) -> u32 {
        self.below.iter().find(|(upper, _)| value < *upper).map_or(self.above, |(_, points)| *points)
    }
}

pub const RESPIRATORY_RATE: Bands = Bands { below: &[(8.5, 3), (11.5, 1), (20.5, 0), (24.5, 2)], above: 3 };
pub const SPO2_SCALE1: Bands = Bands { below: &[(91.5, 3), (93.5, 2), (95.5, 1)], above: 0 };
pub const SPO2_SCALE2_AIR: Bands = Bands { below: &[(83.5, 3), (85.5, 2), (87.5, 1)], above: 0 };
pub const SPO2_SCALE2_OXYGEN: Bands =
    Bands { below: &[(83.5, 3), (85.5, 2), (87.5, 1), (92.5, 0), (94.5, 1), (96.5, 2)], above: 3 };
pub const SYSTOLIC: Bands = Bands { below: &[(90.5, 3), (100.5, 2), (110.5, 1), (219.5, 0)], above: 3 };
pub const PULSE: Bands = Bands { below: &[(40.5, 3), (50.5, 1), (90.5, 0), (110.5, 1), (130.5, 2)], above: 3 };
pub const TEMPERATURE: Bands = Bands { below: &[(35.05, 3), (36.05, 1), (38.05, 0), (39.05, 1)], above: 2 };
/// FiO2 above room air (21 %) means supplemental oxygen: 2 points.
pub const ROOM_AIR_FIO2_PERCENT: f64 = 21.0;

/// PromQL for the points of every series of `x` under `bands`.
fn points(x: &str, bands: &Bands) -> String {
    let mut terms = Vec::new();
    let mut lower: Option<f64> = None;
    for &(upper, points) in bands.below {
        if points > 0 {
            terms.push(match lower {
                None => format!("{points} * ({x} < bool {upper})"),
                Some(lower) => format!("{points} * ({x} >= bool {lower}) * ({x} < bool {upper})"),
            });
        }
        lower = Some(upper);
    }
    if bands.above > 0 {
        let lower = lower.expect("a band table has at least one bound");
        terms.push(format!("{} * ({x} >= bool {lower})", bands.above));
    }
    if terms.is_empty() { format!("0 * ({x})") } else { terms.join(" + ") }
}

/// The worst points of the lowest and highest values: `max` of the two, told apart by a label
/// so that `or` keeps both.
fn worst_of_extremes(low: &str, high: &str) -> String {
    format!(r#"max by ({PATIENT_LABELS}) (({low}) or label_replace({high}, "extreme", "max", "", ""))"#)
}

fn reduced(scope: &Scope, key: &str) -> (String, String) {
    let vital = vitals::by_key(key).expect("NEWS2 parameters are in the catalogue");
    (scope.series(&lowest(vital), &[]), scope.series(&highest(vital), &[]))
}

/// The `wardwatch:news2_parameter_score` rules, one per parameter.
fn parameter_rules(scope: &Scope) -> Vec<Rule> {
    let on = "on (namespace, ward, patient)";
    let scored = |key: &str, bands: &Bands| {
        let (low, high) = reduced(scope, key);
        worst_of_extremes(&points(&low, bands), &points(&high, bands))
    };
    let (_, fio2_high) = reduced(scope, "fio2");
    let on_oxygen = format!("({fio2_high} > {ROOM_AIR_FIO2_PERCENT})");
    let scale2 = scope.series(SPO2_SCALE2_INFO, &[]);
    let (spo2_low, spo2_high) = reduced(scope, "spo2");
    let scale2_points = |x: &str| {
        format!(
            "({} unless {on} {on_oxygen}) or ({} and {on} {on_oxygen})",
            points(x, &SPO2_SCALE2_AIR),
            points(x, &SPO2_SCALE2_OXYGEN)
        )
    };
    // Scale 1 falls monotonically: the lowest value is the worst. Scale 2 on oxygen rises again.
    let spo2 = format!(
        r#"max by ({PATIENT_LABELS}) (({scale1}) unless {on} {scale2} or label_replace(({low2}) and {on} {scale2}, "scale", "2", "", "") or label_replace(label_replace(({high2}) and {on} {scale2}, "scale", "2", "", ""), "extreme", "max", "", ""))"#,
        scale1 = points(&spo2_low, &SPO2_SCALE1),
        low2 = scale2_points(&spo2_low),
        high2 = scale2_points(&spo2_high),
    );
    vec![
        record(PARAMETER_SCORE, scored("respiratory_rate", &RESPIRATORY_RATE), &[("parameter", "respiratory_rate")]),
        record(PARAMETER_SCORE, spo2, &[("parameter", "spo2")]),
        record(
            PARAMETER_SCORE,
            format!("2 * ({fio2_high} > bool {ROOM_AIR_FIO2_PERCENT})"),
            &[("parameter", "supplemental_oxygen")],
        ),
        record(PARAMETER_SCORE, scored("systolic_bp", &SYSTOLIC), &[("parameter", "systolic_bp")]),
        record(PARAMETER_SCORE, scored("heart_rate", &PULSE), &[("parameter", "heart_rate")]),
        record(PARAMETER_SCORE, scored("temperature", &TEMPERATURE), &[("parameter", "temperature")]),
    ]
}

/// NEWS2's recording rules, in evaluation order (parameters, then the aggregate and its count).
pub fn recording_rules(scope: &Scope) -> Vec<Rule> {
    let parameters = scope.series(PARAMETER_SCORE, &[]);
    let mut rules = parameter_rules(scope);
    rules.push(record(SCORE, format!("sum by ({PATIENT_LABELS}) ({parameters})"), &[]));
    rules.push(record(PARAMETERS_OBSERVED, format!("count by ({PATIENT_LABELS}) ({parameters})"), &[]));
    rules
}

/// Template text: the parameters that scored, and how many were observed.
fn drivers() -> String {
    format!(
        r#"{{{{ range query (printf "{PARAMETER_SCORE}{{namespace='%s',ward='%s',patient='%s'}} > 0" $labels.namespace $labels.ward $labels.patient) }}}}{{{{ .Labels.parameter }}}} {{{{ .Value }}}}; {{{{ end }}}}from {{{{ range query (printf "{PARAMETERS_OBSERVED}{{namespace='%s',ward='%s',patient='%s'}}" $labels.namespace $labels.ward $labels.patient) }}}}{{{{ .Value }}}}{{{{ end }}}} of 7 parameters"#
    )
}

/// `NEWS2Urgent` (aggregate 5-6 or 3 in one parameter; warning) and `NEWS2Emergency` (7 or
/// more; critical). Both fire on the observed parameters: a missing one can only raise the
/// true score, so a partial score that reaches a threshold is a real trigger.
pub fn alerts(scope: &Scope) -> Vec<Alert> {
    let score = scope.series(SCORE, &[]);
    let parameters = scope.series(PARAMETER_SCORE, &[]);
    let on = "on (namespace, ward, patient)";
    let urgent = format!("{score} and {on} ({score} >= 5 or {on} max by ({PATIENT_LABELS}) ({parameters}) >= 3)");
    vec![
        Alert {
            name: "NEWS2Urgent".into(),
            expr: with_bed(scope, &urgent),
            for_: "30s".into(),
            severity: Severity::Warning,
            category: Category::Clinical,
            labels: vec![],
            summary: format!("NEWS2 {{{{ $value }}}} (urgent response) in {WHERE}"),
            description: format!(
                "The patient's NEWS2 is {{{{ $value }}}}: {}. An aggregate of 5-6, or 3 in one parameter, calls for an urgent review by a clinician competent in acute illness.",
                drivers()
            ),
        },
        Alert {
            name: "NEWS2Emergency".into(),
            expr: with_bed(scope, &format!("{score} >= 7")),
            for_: "30s".into(),
            severity: Severity::Critical,
            category: Category::Clinical,
            labels: vec![],
            summary: format!("NEWS2 {{{{ $value }}}} (emergency response) in {WHERE}"),
            description: format!(
                "The patient's NEWS2 is {{{{ $value }}}}: {}. An aggregate of 7 or more calls for an emergency assessment by a critical-care team.",
                drivers()
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_rcp_chart() {
        let cases: &[(&Bands, &[(f64, u32)])] = &[
            (
                &RESPIRATORY_RATE,
                &[(8.0, 3), (9.0, 1), (11.0, 1), (12.0, 0), (20.0, 0), (21.0, 2), (24.0, 2), (25.0, 3)],
            ),
            (&SPO2_SCALE1, &[(91.0, 3), (92.0, 2), (93.0, 2), (94.0, 1), (95.0, 1), (96.0, 0)]),
            (
                &SYSTOLIC,
                &[(90.0, 3), (91.0, 2), (100.0, 2), (101.0, 1), (110.0, 1), (111.0, 0), (219.0, 0), (220.0, 3)],
            ),
            (
                &PULSE,
                &[
                    (40.0, 3),
                    (41.0, 1),
                    (50.0, 1),
                    (51.0, 0),
                    (90.0, 0),
                    (91.0, 1),
                    (110.0, 1),
                    (111.0, 2),
                    (130.0, 2),
                    (131.0, 3),
                ],
            ),
            (&TEMPERATURE, &[(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)]),
            (
                &SPO2_SCALE2_OXYGEN,
                &[(83.0, 3), (84.0, 2), (86.0, 1), (88.0, 0), (92.0, 0), (93.0, 1), (95.0, 2), (97.0, 3)],
            ),
        ];
        for (bands, expected) in cases {
            for &(value, points) in *expected {
                assert_eq!(bands.points(value), points, "{value}");
            }
        }
    }

    #[test]
    fn points_skip_zero_bands() {
        assert_eq!(
            points("x", &TEMPERATURE),
            "3 * (x < bool 35.05) + 1 * (x >= bool 35.05) * (x < bool 36.05) + 1 * (x >= bool 38.05) * (x < bool 39.05) + 2 * (x >= bool 39.05)"
        );
    }
}
