//! What a hospital offers the central Prometheus: ward- and bed-level recording rules, none of
//! which keeps a `patient` label. A HospitalFederation pulls these (`ward:…` and `bed:…`) by
//! default; patient-level series stay in the hospital unless a member opts in.
//!
//! Names follow Prometheus's `level:metric:operations` convention. Every rule keeps
//! `namespace`, `hospital` and `ward` (and `bed` at bed level), so that central dashboards can
//! pick a hospital and a ward.

use super::alert::{Scope, record};
use super::network_health::DEVICE_SCORE;
use super::news2;
use super::patients::BED_INFO;
use crate::monitoring::Rule;

const WARD: &str = "namespace, hospital, ward";

/// Each bed's NEWS2 aggregate score (label `bed`, no `patient`).
pub const BED_NEWS2: &str = "bed:wardwatch_news2_score:max";
/// Patients per NEWS2 clinical-risk band (label `band`: `low` 0-4, `medium` 5-6, `high` 7+).
pub const WARD_NEWS2_BANDS: &str = "ward:wardwatch_news2_patients:count";
/// Firing alerts by `alertname`, `severity` and `category`.
pub const WARD_ALERTS: &str = "ward:wardwatch_alerts_firing:count";
/// Scrape targets (device exporters, the gateway's exporter, the gateway) up, and in all.
pub const WARD_TARGETS_UP: &str = "ward:wardwatch_targets_up:sum";
pub const WARD_TARGETS: &str = "ward:wardwatch_targets:count";
/// Packets the capture lost (kernel and interface), per second.
pub const WARD_CAPTURE_DROPPED: &str = "ward:wardwatch_capture_dropped_packets:rate5m";
/// Wire bytes every exporter counted, per second (by protocol).
pub const WARD_BYTES: &str = "ward:wardwatch_bytes:rate5m";
/// Intrusion-rule firings in the last hour, by `rule`.
pub const WARD_INTRUSIONS: &str = "ward:wardwatch_ids_alerts:increase1h";
/// The mean of the ward's devices' network health scores (see [`super::network_health`]).
pub const WARD_NETWORK_HEALTH: &str = "ward:wardwatch_network_health:avg";

/// The NEWS2 bands of NHS guidance on clinical response: (band, lowest score, highest score).
const NEWS2_BANDS: [(&str, u32, Option<u32>); 3] = [("low", 0, Some(4)), ("medium", 5, Some(6)), ("high", 7, None)];

/// The recording rules; `news2` is whether the ward computes NEWS2.
pub fn recording_rules(scope: &Scope, news2: bool) -> Vec<Rule> {
    let series = |metric: &str| scope.series(metric, &[]);
    let mut rules = Vec::new();
    if news2 {
        let score = series(news2::SCORE);
        rules.push(record(
            BED_NEWS2,
            format!(
                "max by ({WARD}, bed) ({score} * on (namespace, ward, patient) group_left (bed) {})",
                series(BED_INFO)
            ),
            &[],
        ));
        for (band, low, high) in NEWS2_BANDS {
            // `>= bool` keeps every patient's series (0 or 1), so an empty band sums to 0
            // instead of vanishing.
            let within = match high {
                Some(high) => format!("({score} >= bool {low}) * ({score} <= bool {high})"),
                None => format!("{score} >= bool {low}"),
            };
            rules.push(record(WARD_NEWS2_BANDS, format!("sum by ({WARD}) ({within})"), &[("band", band)]));
        }
    }
    let firing = scope.series("ALERTS", &[r#"alertstate="firing""#]);
    rules.extend([
        record(WARD_ALERTS, format!("count by ({WARD}, alertname, severity, category) ({firing})"), &[]),
        record(WARD_TARGETS_UP, format!("sum by ({WARD}) ({})", series("up")), &[]),
        record(WARD_TARGETS, format!("count by ({WARD}) ({})", series("up")), &[]),
        record(
            WARD_CAPTURE_DROPPED,
            format!("sum by ({WARD}) (rate({}[5m]))", series("wardwatch_capture_dropped_packets_total")),
            &[],
        ),
        record(WARD_BYTES, format!("sum by ({WARD}, protocol) (rate({}[5m]))", series("wardwatch_bytes_total")), &[]),
        record(
            WARD_INTRUSIONS,
            format!("sum by ({WARD}, rule) (increase({}[1h]))", series("wardwatch_ids_alerts_total")),
            &[],
        ),
        record(WARD_NETWORK_HEALTH, format!("avg by ({WARD}) ({})", series(DEVICE_SCORE)), &[]),
    ]);
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope { namespace: "st-mary".into(), ward: "icu-east".into() }
    }

    #[test]
    fn nothing_federated_is_grouped_by_patient_and_every_rule_is_scoped_to_the_ward() {
        let rules = recording_rules(&scope(), true);
        assert_eq!(rules.len(), 11);
        for rule in &rules {
            let name = rule.record.as_deref().unwrap();
            assert!(name.starts_with("ward:wardwatch_") || name.starts_with("bed:wardwatch_"), "{name}");
            let by = rule.expr.split(" by (").nth(1).and_then(|s| s.split(')').next()).unwrap();
            assert!(!by.contains("patient"), "{name}: {by}");
            assert!(by.starts_with(WARD), "{name}: {by}");
            assert!(rule.expr.contains(r#"{namespace="st-mary",ward="icu-east""#), "{name}");
        }
        let bands: Vec<&str> = rules.iter().filter_map(|r| r.labels.get("band").map(String::as_str)).collect();
        assert_eq!(bands, ["low", "medium", "high"]);
    }

    #[test]
    fn without_news2_only_the_ward_totals_remain() {
        let rules = recording_rules(&scope(), false);
        assert!(rules.iter().all(|r| !r.expr.contains(news2::SCORE)));
        assert_eq!(rules.len(), 7);
    }
}
