//! A HospitalFederation's ScrapeConfigs and alerts: the central Prometheus pulls each
//! member's `/federate`, and raises `HospitalUnreachable` when it cannot.
//!
//! What each ScrapeConfig guards against:
//! - **a mislabelled hospital**: the member's own series may carry a `hospital` label of their
//!   own (honoured labels win over target labels), so a metric relabeling sets `hospital` to the
//!   member's `hospitalId` on every series;
//! - **patient identifiers leaving the hospital**: unless the member opts in, every series with
//!   a `patient` label is dropped, whatever `match[]` pulls;
//! - **an HA pair counted twice**: the member's URL names the pair (its Service, or a DNS name
//!   with both addresses), one replica answers each scrape, and the replica's external label
//!   (`prometheus_replica`, or `replica`) is dropped, so both replicas' answers are one series.
//!   Samples are stamped at the central scrape (`honorTimestamps: false`): the two replicas'
//!   own timestamps interleave when the answering replica changes, and Prometheus would refuse
//!   the older ones as out of order.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::{Resource, ResourceExt};
use url::Url;
use wardwatch_crds::HospitalFederation;
use wardwatch_crds::federation::FederationMember;

use crate::monitoring::{
    BasicAuth, PrometheusRule, PrometheusRuleSpec, RelabelConfig, Rule, RuleGroup, SafeAuthorization, ScrapeConfig,
    ScrapeConfigSpec, SecretKeySelector, StaticConfig,
};
use crate::rules::alert::RUNBOOK_BASE;

/// The target label naming the federation on every series it pulls (and on `up`).
pub const FEDERATION_LABEL: &str = "federation";
/// External labels by which the two replicas of an HA Prometheus pair differ:
/// prometheus-operator's and the Thanos convention's.
const REPLICA_LABELS: &str = "prometheus_replica|replica";

/// The ScrapeConfig's name for one member.
pub fn scrape_config_name(federation: &HospitalFederation, member: &FederationMember) -> String {
    format!("{}-{}", federation.name_any(), member.hospital_id)
}

/// Splits `http(s)://host[:port][/]` into scheme and `host:port` (default ports filled in). The
/// CRD admits only such URLs; anything else is passed on as an http target, for Prometheus to
/// refuse.
fn scheme_and_target(url: &str) -> (String, String) {
    let parsed = Url::parse(url).ok();
    let host_and_port = parsed.as_ref().and_then(|u| Some((u.host_str()?, u.port_or_known_default()?)));
    match (parsed.as_ref(), host_and_port) {
        (Some(parsed), Some((host, port))) => (parsed.scheme().to_owned(), format!("{host}:{port}")),
        _ => ("http".to_owned(), url.to_owned()),
    }
}

/// The relabelings applied to every series pulled from `member` (see the module's doc).
fn series_relabelings(member: &FederationMember) -> Vec<RelabelConfig> {
    let mut relabelings = Vec::new();
    if !member.include_patient_identifiers {
        relabelings.push(RelabelConfig {
            source_labels: vec!["patient".to_owned()],
            regex: Some(".+".to_owned()),
            action: Some("drop".to_owned()),
            ..RelabelConfig::default()
        });
    }
    relabelings.push(RelabelConfig {
        regex: Some(REPLICA_LABELS.to_owned()),
        action: Some("labeldrop".to_owned()),
        ..RelabelConfig::default()
    });
    relabelings.push(RelabelConfig {
        target_label: Some("hospital".to_owned()),
        replacement: Some(member.hospital_id.clone()),
        action: Some("replace".to_owned()),
        ..RelabelConfig::default()
    });
    relabelings
}

fn managed_labels(federation: &HospitalFederation, defaults: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = defaults.clone();
    labels.extend([
        ("app.kubernetes.io/managed-by".to_owned(), "wardwatch".to_owned()),
        ("wardwatch.io/federation".to_owned(), federation.name_any()),
    ]);
    labels
}

/// The ScrapeConfig pulling `member`'s `/federate`; `labels` are the operator's default
/// monitoring labels (so that the central Prometheus selects it).
pub fn scrape_config(
    federation: &HospitalFederation,
    member: &FederationMember,
    labels: &BTreeMap<String, String>,
) -> ScrapeConfig {
    let (scheme, target) = scheme_and_target(&member.prometheus_url);
    let secret = |r: &wardwatch_crds::SecretKeyRef| SecretKeySelector { name: r.name.clone(), key: r.key.clone() };
    let mut config = ScrapeConfig::new(
        &scrape_config_name(federation, member),
        ScrapeConfigSpec {
            static_configs: vec![StaticConfig {
                targets: vec![target],
                labels: BTreeMap::from([
                    ("hospital".to_owned(), member.hospital_id.clone()),
                    (FEDERATION_LABEL.to_owned(), federation.name_any()),
                ]),
            }],
            metrics_path: "/federate".to_owned(),
            // Keep the member's own labels (hospital, ward, device, ...) on federated series.
            honor_labels: true,
            honor_timestamps: false,
            metric_relabelings: series_relabelings(member),
            scheme: scheme.to_uppercase(),
            scrape_interval: member.scrape_interval.clone(),
            params: BTreeMap::from([("match[]".to_owned(), member.r#match.clone())]),
            basic_auth: member
                .basic_auth
                .as_ref()
                .map(|auth| BasicAuth { username: secret(&auth.username), password: secret(&auth.password) }),
            authorization: member
                .bearer_token
                .as_ref()
                .map(|token| SafeAuthorization { type_: "Bearer".to_owned(), credentials: secret(token) }),
        },
    );
    config.metadata.namespace = federation.namespace();
    let mut own_labels = managed_labels(federation, labels);
    own_labels.insert("wardwatch.io/hospital".to_owned(), member.hospital_id.clone());
    config.metadata.labels = Some(own_labels);
    config.metadata.owner_references = federation.controller_owner_ref(&()).map(|o| vec![o]);
    config
}

/// How long a member may fail its scrapes before `HospitalUnreachable` fires: three scrape
/// intervals, so that one lost scrape does not page anyone.
fn unreachable_after(member: &FederationMember) -> String {
    let interval = wardwatch_serve::duration::parse(&member.scrape_interval).unwrap_or(Duration::from_secs(30));
    format!("{}s", (interval * 3).as_secs())
}

/// The central Prometheus's alert per member: its `/federate` did not answer for three scrape
/// intervals, so the hospital's series go stale and its alerts are not seen centrally.
fn unreachable_alert(federation: &HospitalFederation, member: &FederationMember) -> Rule {
    let selector = format!(r#"{FEDERATION_LABEL}="{}",hospital="{}""#, federation.name_any(), member.hospital_id);
    let after = unreachable_after(member);
    Rule {
        alert: Some("HospitalUnreachable".to_owned()),
        expr: format!("up{{{selector}}} == 0"),
        for_: Some(after.clone()),
        labels: BTreeMap::from([
            ("severity".to_owned(), "critical".to_owned()),
            ("category".to_owned(), "federation".to_owned()),
        ]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "Hospital {{ $labels.hospital }} is unreachable from the central Prometheus".to_owned(),
            ),
            (
                "description".to_owned(),
                format!(
                    "The central Prometheus could not pull {}/federate for {}: the hospital's wards are missing from the fleet view and their alerts are seen only in the hospital. Check the hospital's Prometheus, the network path and the credentials.",
                    member.prometheus_url.trim_end_matches('/'),
                    after
                ),
            ),
            ("runbook_url".to_owned(), format!("{RUNBOOK_BASE}#alert-hospitalunreachable")),
        ]),
        ..Rule::default()
    }
}

/// The federation's PrometheusRule, for the central Prometheus: one `HospitalUnreachable` per
/// member.
pub fn prometheus_rule(federation: &HospitalFederation, labels: &BTreeMap<String, String>) -> PrometheusRule {
    let rules = federation.spec.members.iter().map(|member| unreachable_alert(federation, member)).collect();
    let group = RuleGroup { name: "wardwatch.federation".to_owned(), interval: None, rules };
    let mut rule = PrometheusRule::new(&federation.name_any(), PrometheusRuleSpec { groups: vec![group] });
    rule.metadata.namespace = federation.namespace();
    rule.metadata.labels = Some(managed_labels(federation, labels));
    rule.metadata.owner_references = federation.controller_owner_ref(&()).map(|o| vec![o]);
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_crds::HospitalFederationSpec;

    fn federation(members: &str) -> HospitalFederation {
        let spec: HospitalFederationSpec = serde_yaml::from_str(members).unwrap();
        let mut federation = HospitalFederation::new("north", spec);
        federation.metadata.namespace = Some("central".into());
        federation
    }

    #[test]
    fn patient_series_are_dropped_unless_the_member_opts_in_and_the_hospital_label_is_forced() {
        let federation = federation(
            "members:\n- {hospitalId: st-mary, prometheusUrl: 'http://prom.st-mary.example:9090', scrapeInterval: 10s}\n\
             - {hospitalId: research, prometheusUrl: 'http://prom.r.example', includePatientIdentifiers: true}\n",
        );
        let labels = BTreeMap::from([("release".to_owned(), "kube-prometheus-stack".to_owned())]);
        let [closed, open] = [0, 1].map(|i| scrape_config(&federation, &federation.spec.members[i], &labels));
        let actions = |c: &ScrapeConfig| -> Vec<String> {
            c.spec.metric_relabelings.iter().map(|r| r.action.clone().unwrap()).collect()
        };
        assert_eq!(actions(&closed), ["drop", "labeldrop", "replace"]);
        assert_eq!(closed.spec.metric_relabelings[0].source_labels, ["patient"]);
        assert_eq!(actions(&open), ["labeldrop", "replace"]);
        assert_eq!(closed.spec.params["match[]"], [r#"{__name__=~"(ward|bed):wardwatch_.+"}"#]);
        assert!(closed.spec.honor_labels && !closed.spec.honor_timestamps);
        assert_eq!(closed.spec.static_configs[0].labels[FEDERATION_LABEL], "north");
        assert_eq!(closed.metadata.labels.as_ref().unwrap()["release"], "kube-prometheus-stack");

        let rule = prometheus_rule(&federation, &labels);
        let alerts = &rule.spec.groups[0].rules;
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].expr, r#"up{federation="north",hospital="st-mary"} == 0"#);
        assert_eq!(alerts[0].for_.as_deref(), Some("30s"), "three 10-s scrapes");
        assert_eq!(alerts[1].for_.as_deref(), Some("90s"), "three 30-s scrapes (the default)");
    }

    #[test]
    fn targets_get_default_ports() {
        assert_eq!(scheme_and_target("https://prom.example"), ("https".into(), "prom.example:443".into()));
        assert_eq!(scheme_and_target("http://10.0.0.5:9090/"), ("http".into(), "10.0.0.5:9090".into()));
        assert_eq!(scheme_and_target("http://prom"), ("http".into(), "prom:80".into()));
        assert_eq!(scheme_and_target("https://[fd00::5]/"), ("https".into(), "[fd00::5]:443".into()));
        assert_eq!(scheme_and_target("http://[fd00::5]:9090"), ("http".into(), "[fd00::5]:9090".into()));
    }
}
