//! The ward's PrometheusRule, built from the Ward's spec by pure builders: per-patient
//! reductions and clinical limit alerts ([`clinical`]), NEWS2 ([`news2`]), device health
//! ([`device_health`]), intrusion alerts ([`network`]), anomaly alerts ([`anomaly`], when the
//! Ward enables detection), and the ward- and bed-level series a
//! central Prometheus federates ([`federated`]). Every alert carries the labels and
//! annotations of [`alert`]; [`promtool`] writes `promtool test rules` files from the same
//! builders.

pub mod alert;
pub mod anomaly;
pub mod clinical;
pub mod device_health;
pub mod federated;
pub mod network;
pub mod network_health;
pub mod news2;
pub mod patients;
pub mod promtool;

use kube::{Resource, ResourceExt};
use wardwatch_clinical::vitals::VITAL_SIGNS;
use wardwatch_crds::Ward;

use self::alert::{Alert, Scope};
use crate::monitoring::{PrometheusRule, PrometheusRuleSpec, Rule, RuleGroup};
use crate::names;

pub fn scope(ward: &Ward) -> Scope {
    Scope { namespace: ward.namespace().unwrap_or_default(), ward: ward.name_any() }
}

/// Every alert of the ward, by group.
pub fn clinical_alerts(ward: &Ward) -> Vec<Alert> {
    let scope = scope(ward);
    let mut alerts = clinical::alerts(&scope, &ward.spec.thresholds);
    if ward.spec.news2.enabled {
        alerts.extend(news2::alerts(&scope));
    }
    alerts
}

pub fn all_alerts(ward: &Ward) -> Vec<Alert> {
    let scope = scope(ward);
    let mut alerts = clinical_alerts(ward);
    alerts.extend(device_health::alerts(&scope));
    alerts.extend(network::alerts(&scope, &names::gateway(ward)));
    alerts.extend(anomaly_alerts(ward));
    alerts
}

/// The anomaly alerts, when the Ward has the exporters learn (`spec.anomaly.enabled`).
fn anomaly_alerts(ward: &Ward) -> Vec<Alert> {
    if ward.spec.anomaly.enabled { anomaly::alerts(&scope(ward)) } else { Vec::new() }
}

/// The rule groups of `ward`. Each is evaluated at the ward's scrape interval, and within the
/// clinical group the recording rules come before the alerts that read them (Prometheus
/// evaluates a group's rules in order), so an alert sees the same scrape's reduction.
pub fn rule_groups(ward: &Ward) -> Vec<RuleGroup> {
    let scope = scope(ward);
    let interval = Some(ward.spec.scrape_interval.clone());
    let mut clinical: Vec<Rule> = patients::recording_rules(&scope, VITAL_SIGNS);
    if ward.spec.news2.enabled {
        clinical.extend(news2::recording_rules(&scope));
    }
    clinical.extend(clinical_alerts(ward).into_iter().map(Alert::into_rule));
    let group = |name: &str, rules: Vec<Rule>| RuleGroup { name: name.to_owned(), interval: interval.clone(), rules };
    let mut groups = vec![
        group("wardwatch.clinical", clinical),
        group("wardwatch.device", device_health::alerts(&scope).into_iter().map(Alert::into_rule).collect()),
        group("wardwatch.network", {
            let mut rules = vec![network_health::recording_rule(&scope)];
            rules.extend(network::alerts(&scope, &names::gateway(ward)).into_iter().map(Alert::into_rule));
            rules
        }),
        // What a HospitalFederation pulls: ward- and bed-level series, no patient identifier.
        group("wardwatch.federated", federated::recording_rules(&scope, ward.spec.news2.enabled)),
    ];
    let anomaly = anomaly_alerts(ward);
    if !anomaly.is_empty() {
        groups.push(group("wardwatch.anomaly", anomaly.into_iter().map(Alert::into_rule).collect()));
    }
    groups
}

/// The PrometheusRule for `ward`, owned by it.
pub fn ward_prometheus_rule(ward: &Ward) -> PrometheusRule {
    let mut rule = PrometheusRule::new(&names::prometheus_rule(ward), PrometheusRuleSpec { groups: rule_groups(ward) });
    rule.metadata.namespace = ward.namespace();
    rule.metadata.labels = Some(names::monitoring_labels(ward));
    rule.metadata.owner_references = ward.controller_owner_ref(&()).map(|owner| vec![owner]);
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_crds::WardSpec;

    pub(crate) fn ward(yaml: &str) -> Ward {
        let spec: WardSpec = serde_yaml::from_str(yaml).unwrap();
        let mut ward = Ward::new("icu-east", spec);
        ward.metadata.namespace = Some("st-mary".into());
        ward.metadata.uid = Some("6a1c0a9e-0000-4000-8000-000000000001".into());
        ward
    }

    fn alert<'a>(rule: &'a PrometheusRule, name: &str) -> &'a Rule {
        rule.spec.groups.iter().flat_map(|g| &g.rules).find(|r| r.alert.as_deref() == Some(name)).unwrap()
    }

    #[test]
    fn hypoxia_rule_follows_the_ward_threshold() {
        let rule = ward_prometheus_rule(&ward("hospitalId: st-mary\ndepartment: icu\n"));
        let hypoxia = alert(&rule, "HypoxiaDetected");
        assert!(hypoxia.expr.contains(r#"wardwatch:patient_spo2:min{namespace="st-mary",ward="icu-east"} < 90"#));
        assert_eq!(hypoxia.for_.as_deref(), Some("10s"));
        assert_eq!(hypoxia.labels["severity"], "critical");
        assert_eq!(hypoxia.labels["category"], "clinical");

        let stricter = ward_prometheus_rule(&ward(
            "hospitalId: st-mary\ndepartment: icu\nthresholds: {spo2Percent: {low: 92, high: 100}}\n",
        ));
        assert!(alert(&stricter, "HypoxiaDetected").expr.contains("< 92"));
    }

    #[test]
    fn news2_rules_exist_only_when_enabled() {
        let has_news2 = |rule: &PrometheusRule| {
            rule.spec.groups.iter().flat_map(|g| &g.rules).any(|r| r.record.as_deref() == Some(news2::SCORE))
        };
        assert!(has_news2(&ward_prometheus_rule(&ward("hospitalId: st-mary\ndepartment: icu\n"))));
        let off = ward_prometheus_rule(&ward("hospitalId: st-mary\ndepartment: icu\nnews2: {enabled: false}\n"));
        assert!(!has_news2(&off));
        assert!(
            off.spec.groups.iter().flat_map(|g| &g.rules).all(|r| !r
                .alert
                .as_deref()
                .unwrap_or("")
                .starts_with("NEWS2"))
        );
    }

    #[test]
    fn every_alert_has_the_contract_and_groups_run_at_the_scrape_interval() {
        let ward = ward("hospitalId: st-mary\ndepartment: icu\nscrapeInterval: 10s\n");
        let rule = ward_prometheus_rule(&ward);
        let mut names = std::collections::BTreeSet::new();
        for group in &rule.spec.groups {
            assert_eq!(group.interval.as_deref(), Some("10s"));
            for r in group.rules.iter().filter(|r| r.alert.is_some()) {
                assert!(names.insert(r.alert.clone().unwrap()), "duplicate {:?}", r.alert);
                assert!(["info", "warning", "critical"].contains(&r.labels["severity"].as_str()));
                assert!(["clinical", "device", "network"].contains(&r.labels["category"].as_str()));
                for key in ["summary", "description", "runbook_url"] {
                    assert!(!r.annotations[key].is_empty(), "{:?} {key}", r.alert);
                }
                // Texts may reach chat services: they name ward and bed, never the patient.
                for text in [&r.annotations["summary"], &r.annotations["description"]] {
                    assert!(!text.contains("$labels.patient }}"), "{:?}: {text}", r.alert);
                }
            }
        }
        assert_eq!(names.len(), 22 + 2 + 7 + 7 + 2);
    }

    #[test]
    fn the_readme_documents_every_alert_at_its_runbook_anchor() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for alert in all_alerts(&ward("hospitalId: st-mary\ndepartment: icu\n")) {
            let anchor = alert.runbook_url().rsplit_once('#').unwrap().1.to_owned();
            assert!(readme.contains(&format!(r#"<a id="{anchor}"></a>`{}`"#, alert.name)), "README lacks {anchor}");
        }
    }

    #[test]
    fn rule_is_owned_by_its_ward_and_labelled() {
        let rule = ward_prometheus_rule(&ward("hospitalId: st-mary\ndepartment: icu\n"));
        assert_eq!(rule.metadata.name.as_deref(), Some("icu-east-wardwatch"));
        assert_eq!(rule.metadata.namespace.as_deref(), Some("st-mary"));
        let owner = &rule.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Ward", "icu-east", Some(true)));
        assert_eq!(rule.metadata.labels.as_ref().unwrap()["wardwatch.io/hospital"], "st-mary");
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(json["apiVersion"], "monitoring.coreos.com/v1");
    }
}
