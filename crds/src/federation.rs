//! `HospitalFederation`: the central cluster's list of member hospitals whose Prometheus it
//! federates, reconciled into prometheus-operator ScrapeConfigs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{SecretKeyRef, duration_rule};

/// The hospitals a central Prometheus and Grafana see.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardwatch.io",
    version = "v1alpha1",
    kind = "HospitalFederation",
    namespaced,
    status = "HospitalFederationStatus",
    shortname = "hfed",
    category = "wardwatch",
    printcolumn = r#"{"name":"Hospitals","type":"integer","jsonPath":".status.members"}"#,
    printcolumn = r#"{"name":"Synced","type":"integer","jsonPath":".status.syncedMembers"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.members.all(m, self.members.filter(x, x.hospitalId == m.hospitalId).size() == 1)")
    .message("each hospitalId may appear once"))]
pub struct HospitalFederationSpec {
    #[schemars(length(min = 1, max = 64))]
    pub members: Vec<FederationMember>,
}

/// One hospital's Prometheus.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.basicAuth) && has(self.bearerToken))")
    .message("use either basicAuth or bearerToken, not both"))]
pub struct FederationMember {
    /// Becomes the `hospital` label of everything pulled from this member.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("hospitalId must be a DNS label"))]
    pub hospital_id: String,
    /// The member's Prometheus, e.g. `https://prometheus.st-mary.example:9090` (no path: the
    /// operator adds `/federate`).
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https') && url(self).getEscapedPath() in ['', '/']")
        .message("prometheusUrl must be an http(s) URL without a path"))]
    pub prometheus_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretKeyRef>,
    /// The `match[]` selectors pulled from `/federate`. By default the ward- and bed-level
    /// series each ward's PrometheusRule records for federation (`ward:wardwatch_…`,
    /// `bed:wardwatch_…`), which carry no patient identifier.
    #[serde(default = "default_match")]
    #[schemars(length(min = 1, max = 16), inner(length(max = 1024)))]
    pub r#match: Vec<String>,
    /// How often the central Prometheus pulls this member's `/federate`, as a duration such as
    /// `30s` or `1m`, within 5s-10m.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = duration_rule("scrapeInterval", "5s", Some("10m"), "30s or 1m"))]
    pub scrape_interval: String,
    /// Whether series that name a patient (a `patient` label) may leave this hospital. Off by
    /// default: the central Prometheus drops every such series this member sends, whatever
    /// `match` pulls.
    #[serde(default)]
    pub include_patient_identifiers: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BasicAuth {
    pub username: SecretKeyRef,
    pub password: SecretKeyRef,
}

fn default_match() -> Vec<String> {
    vec![r#"{__name__=~"(ward|bed):wardwatch_.+"}"#.to_owned()]
}

fn default_interval() -> String {
    "30s".into()
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HospitalFederationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub members: u32,
    /// Members whose ScrapeConfig the API server accepted as the spec wants it.
    #[serde(default)]
    pub synced_members: u32,
    /// Each member as the operator last wrote it, in the spec's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_statuses: Vec<FederationMemberStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One member hospital's federation as the operator last wrote it. Whether its Prometheus
/// answers is the central Prometheus's business (`up{federation,hospital}` and the
/// `HospitalUnreachable` alert), not the API server's.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FederationMemberStatus {
    pub hospital_id: String,
    /// The ScrapeConfig that federates it (same namespace).
    pub scrape_config: String,
    /// Whether the API server accepted the ScrapeConfig as the spec wants it.
    pub synced: bool,
    /// The API server's answer when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When `synced` last changed.
    pub last_transition_time: Time,
}
