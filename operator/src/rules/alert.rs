//! The shape every wardwatch alert shares: labels `severity` and `category` (the rest come from
//! the series), annotations `summary`, `description` and `runbook_url` (a README anchor), and
//! the label selector that scopes an expression to one ward.

use std::collections::BTreeMap;

use wardwatch_crds::Severity;

use crate::monitoring::Rule;

/// Where each alert's runbook lives: the README's alert reference, one anchor per alert.
pub const RUNBOOK_BASE: &str = "https://github.com/wardwatch/wardwatch/blob/main/README.md";

/// How long a vital-sign value counts as current after its device reported it: NEWS2 counts a
/// parameter observed in the last 5 minutes, and the limit alerts use the same window.
pub const FRESH_SECONDS: u32 = 300;

/// What an alert is about; routing groups and routes by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Clinical,
    Device,
    Network,
}

impl Category {
    pub const ALL: [Category; 3] = [Self::Clinical, Self::Device, Self::Network];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Clinical => "clinical",
            Self::Device => "device",
            Self::Network => "network",
        }
    }
}

/// The label selector of one ward's series: `{namespace="…",ward="…",<extra>}`. Namespaces and
/// ward names are DNS labels, so they need no escaping.
#[derive(Clone, Debug)]
pub struct Scope {
    pub namespace: String,
    pub ward: String,
}

impl Scope {
    pub fn selector(&self, extra: &[&str]) -> String {
        let mut matchers = vec![format!(r#"namespace="{}""#, self.namespace), format!(r#"ward="{}""#, self.ward)];
        matchers.extend(extra.iter().map(|m| (*m).to_owned()));
        format!("{{{}}}", matchers.join(","))
    }

    /// `metric{namespace=…,ward=…,extra…}`.
    pub fn series(&self, metric: &str, extra: &[&str]) -> String {
        format!("{metric}{}", self.selector(extra))
    }
}

/// The labels that identify one patient's series once every source is reduced to one.
pub const PATIENT_LABELS: &str = "namespace, hospital, ward, patient";

/// An alerting rule before it becomes a [`Rule`].
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub name: String,
    pub expr: String,
    /// A Prometheus duration; `0s` fires at the first evaluation that holds.
    pub for_: String,
    pub severity: Severity,
    pub category: Category,
    /// Further constant labels (`vital`, `rule`, ...).
    pub labels: Vec<(&'static str, String)>,
    /// One line for the page; a template that never names the patient (ward and bed only).
    pub summary: String,
    /// What holds, and what a nurse or an engineer should check.
    pub description: String,
}

impl Alert {
    pub fn runbook_url(&self) -> String {
        format!("{RUNBOOK_BASE}#alert-{}", self.name.to_lowercase())
    }

    pub fn into_rule(self) -> Rule {
        let mut labels = BTreeMap::from([
            ("severity".to_owned(), self.severity.as_str().to_owned()),
            ("category".to_owned(), self.category.as_str().to_owned()),
        ]);
        labels.extend(self.labels.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let runbook_url = self.runbook_url();
        Rule {
            alert: Some(self.name),
            expr: self.expr,
            for_: Some(self.for_),
            labels,
            annotations: BTreeMap::from([
                ("summary".to_owned(), self.summary),
                ("description".to_owned(), self.description),
                ("runbook_url".to_owned(), runbook_url),
            ]),
            ..Rule::default()
        }
    }
}

/// A recording rule.
pub fn record(name: &str, expr: String, labels: &[(&str, &str)]) -> Rule {
    Rule {
        record: Some(name.to_owned()),
        expr,
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ..Rule::default()
    }
}

/// The template text for "bed X, ward Y" of an alert's labels.
pub const WHERE: &str =
    "{{ with $labels.bed }}bed {{ . }}{{ else }}a bed not known to wardwatch{{ end }}, ward {{ $labels.ward }}";

/// The template text naming the device of an alert's labels.
pub const DEVICE: &str = "{{ $labels.device }}{{ with $labels.bed }} (bed {{ . }}){{ end }}";

/// A Prometheus duration for whole seconds, in the largest unit that divides them.
pub fn duration(seconds: u32) -> String {
    match seconds {
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_scope_to_the_ward() {
        let scope = Scope { namespace: "st-mary".into(), ward: "icu-east".into() };
        assert_eq!(
            scope.series("up", &[r#"endpoint="metrics""#]),
            r#"up{namespace="st-mary",ward="icu-east",endpoint="metrics"}"#
        );
    }

    #[test]
    fn every_alert_carries_the_contract_labels_and_annotations() {
        let rule = Alert {
            name: "HypoxiaDetected".into(),
            expr: "x < 90".into(),
            for_: "10s".into(),
            severity: Severity::Critical,
            category: Category::Clinical,
            labels: vec![("vital", "spo2".into())],
            summary: "s".into(),
            description: "d".into(),
        }
        .into_rule();
        assert_eq!(rule.labels["severity"], "critical");
        assert_eq!(rule.labels["category"], "clinical");
        assert_eq!(rule.labels["vital"], "spo2");
        assert!(rule.annotations["runbook_url"].ends_with("README.md#alert-hypoxiadetected"));
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(45), "45s");
    }
}
