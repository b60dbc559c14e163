//! The PrometheusRule of a ward. This first cut carries the design's seed alert,
//! `HypoxiaDetected` (SpO2 below the ward's low limit for 10 s, critical); the clinical, NEWS2,
//! device-health and network rules join it in the alerting work.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use wardwatch_clinical::vitals;
use wardwatch_crds::Ward;

use crate::monitoring::{PrometheusRule, PrometheusRuleSpec, Rule, RuleGroup};
use crate::names::{self, ward_labels};

/// The PrometheusRule for `ward`, owned by it.
pub fn ward_prometheus_rule(ward: &Ward) -> PrometheusRule {
    let spo2 = vitals::by_key("spo2").expect("spo2 is in the catalogue");
    let selector = format!(r#"{{namespace="{}",ward="{}"}}"#, ward.namespace().unwrap_or_default(), ward.name_any());
    let low = ward.spec.thresholds.spo2_percent.low;
    let hypoxia = Rule {
        alert: Some("HypoxiaDetected".to_owned()),
        expr: format!("{}{selector} < {low}", spo2.metric),
        for_: Some("10s".to_owned()),
        labels: BTreeMap::from([("severity".to_owned(), "critical".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "SpO2 {{ $value }}% for patient {{ $labels.patient }} in bed {{ $labels.bed }}".to_owned(),
            ),
            ("description".to_owned(), format!("SpO2 has been below {low}% for 10 seconds.")),
        ]),
        ..Rule::default()
    };
    let mut rule = PrometheusRule::new(
        &names::prometheus_rule(ward),
        PrometheusRuleSpec {
            groups: vec![RuleGroup { name: "wardwatch.clinical".to_owned(), interval: None, rules: vec![hypoxia] }],
        },
    );
    rule.metadata.namespace = ward.namespace();
    rule.metadata.labels = Some(ward_labels(ward));
    rule.metadata.owner_references = ward.controller_owner_ref(&()).map(|owner| vec![owner]);
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_crds::WardSpec;

    fn ward(yaml: &str) -> Ward {
        let spec: WardSpec = serde_yaml::from_str(yaml).unwrap();
        let mut ward = Ward::new("icu-east", spec);
        ward.metadata.namespace = Some("st-mary".into());
        ward.metadata.uid = Some("6a1c0a9e-0000-4000-8000-000000000001".into());
        ward
    }

    #[test]
    fn hypoxia_rule_follows_the_ward_threshold() {
        let rule = ward_prometheus_rule(&ward("hospitalId: st-mary\ndepartment: icu\n"));
        let hypoxia = &rule.spec.groups[0].rules[0];
        assert_eq!(hypoxia.alert.as_deref(), Some("HypoxiaDetected"));
        assert_eq!(hypoxia.expr, r#"wardwatch_vital_spo2_percent{namespace="st-mary",ward="icu-east"} < 90"#);
        assert_eq!(hypoxia.for_.as_deref(), Some("10s"));
        assert_eq!(hypoxia.labels["severity"], "critical");

        let stricter = ward_prometheus_rule(&ward(
            "hospitalId: st-mary\ndepartment: icu\nthresholds: {spo2Percent: {low: 92, high: 100}}\n",
        ));
        assert!(stricter.spec.groups[0].rules[0].expr.ends_with("< 92"));
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
        assert_eq!(json["spec"]["groups"][0]["rules"][0]["for"], "10s");
    }
}
