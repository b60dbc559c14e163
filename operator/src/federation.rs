//! A HospitalFederation's ScrapeConfigs: the central Prometheus pulls each member's
//! `/federate` with honoured labels and a `hospital` label.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use url::Url;
use wardwatch_crds::HospitalFederation;
use wardwatch_crds::federation::FederationMember;

use crate::monitoring::{
    BasicAuth, SafeAuthorization, ScrapeConfig, ScrapeConfigSpec, SecretKeySelector, StaticConfig,
};

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

pub fn scrape_config(federation: &HospitalFederation, member: &FederationMember) -> ScrapeConfig {
    let (scheme, target) = scheme_and_target(&member.prometheus_url);
    let secret = |r: &wardwatch_crds::SecretKeyRef| SecretKeySelector { name: r.name.clone(), key: r.key.clone() };
    let mut config = ScrapeConfig::new(
        &scrape_config_name(federation, member),
        ScrapeConfigSpec {
            static_configs: vec![StaticConfig {
                targets: vec![target],
                labels: BTreeMap::from([("hospital".to_owned(), member.hospital_id.clone())]),
            }],
            metrics_path: "/federate".to_owned(),
            // Keep the member's own labels (hospital, ward, device, ...) on federated series.
            honor_labels: true,
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
    config.metadata.labels = Some(BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_owned(), "wardwatch".to_owned()),
        ("wardwatch.io/federation".to_owned(), federation.name_any()),
        ("wardwatch.io/hospital".to_owned(), member.hospital_id.clone()),
    ]));
    config.metadata.owner_references = federation.controller_owner_ref(&()).map(|o| vec![o]);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_get_default_ports() {
        assert_eq!(scheme_and_target("https://prom.example"), ("https".into(), "prom.example:443".into()));
        assert_eq!(scheme_and_target("http://10.0.0.5:9090/"), ("http".into(), "10.0.0.5:9090".into()));
        assert_eq!(scheme_and_target("http://prom"), ("http".into(), "prom:80".into()));
        assert_eq!(scheme_and_target("https://[fd00::5]/"), ("https".into(), "[fd00::5]:443".into()));
        assert_eq!(scheme_and_target("http://[fd00::5]:9090"), ("http".into(), "[fd00::5]:9090".into()));
    }
}
