//! The prometheus-operator resources wardwatch writes (`monitoring.coreos.com`), one typed
//! definition per kind with just the fields wardwatch sets. Their CRDs belong to
//! prometheus-operator, so no schema is generated here; the suite `crd_schemas` checks every
//! object the builders make against the real CRDs' schemas (a field they do not know fails it,
//! instead of being pruned by the API server), and the operator applies with strict field
//! validation.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `PrometheusRule.spec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(group = "monitoring.coreos.com", version = "v1", kind = "PrometheusRule", namespaced, schema = "disabled")]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// An alerting rule (`alert`) or a recording rule (`record`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `PodMonitor.spec`: which pods Prometheus scrapes, how, and which pod labels become target labels.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(group = "monitoring.coreos.com", version = "v1", kind = "PodMonitor", namespaced, schema = "disabled")]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    pub selector: LabelSelector,
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    /// Pod labels copied onto every scraped series (ward, hospital, device, patient, bed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_target_labels: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    /// The container port name.
    pub port: String,
    pub path: String,
    pub interval: String,
    /// Relabelings applied before the scrape; wardwatch renames the pod labels to short names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabelings: Vec<RelabelConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `AlertmanagerConfig.spec` (`monitoring.coreos.com/v1alpha1`): a ward's routes, receivers and
/// inhibitions. prometheus-operator scopes it to the object's namespace when it merges it: it
/// prefixes receiver names with `<namespace>/<name>/`, adds a `namespace` matcher to the top-level
/// route and to both sides of every inhibit rule, and always sets `continue` on the top-level route.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1alpha1",
    kind = "AlertmanagerConfig",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerConfigSpec {
    pub route: AmRoute,
    pub receivers: Vec<AmReceiver>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<InhibitRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AmRoute {
    pub receiver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<Matcher>,
    #[serde(default, rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    pub continue_: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<AmRoute>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub match_type: String,
}

impl Matcher {
    pub fn equal(name: &str, value: &str) -> Self {
        Self { name: name.to_owned(), value: value.to_owned(), match_type: "=".to_owned() }
    }

    /// A regular expression, anchored by Alertmanager at both ends.
    pub fn regex(name: &str, value: &str) -> Self {
        Self { name: name.to_owned(), value: value.to_owned(), match_type: "=~".to_owned() }
    }

    /// The label is present with a non-empty value (Alertmanager treats a missing label as "").
    pub fn present(name: &str) -> Self {
        Self::regex(name, ".+")
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InhibitRule {
    pub source_match: Vec<Matcher>,
    pub target_match: Vec<Matcher>,
    /// Labels whose values must be equal in source and target. Alertmanager counts a label
    /// missing on both sides as equal.
    pub equal: Vec<String>,
}

/// A receiver of an AlertmanagerConfig: one or more notifier configurations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AmReceiver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discord_configs: Vec<DiscordConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telegram_configs: Vec<TelegramConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<EmailConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<WebhookConfig>,
}

/// A key of a Secret in the AlertmanagerConfig's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

/// Alertmanager's `discord_config`: the webhook URL comes from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DiscordConfig {
    #[serde(rename = "apiURL")]
    pub api_url: SecretKeySelector,
    /// A Go template: the embed's title (Discord allows 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A Go template: the embed's text (Discord allows 2000 characters here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub send_resolved: bool,
}

/// Alertmanager's `telegram_config`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TelegramConfig {
    pub bot_token: SecretKeySelector,
    #[serde(rename = "chatID")]
    pub chat_id: i64,
    /// `HTML`, `Markdown` or `MarkdownV2`: how Telegram reads [`message`](Self::message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    /// A Go template: the message (Telegram allows 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub send_resolved: bool,
}

/// Alertmanager's `email_config`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EmailConfig {
    pub to: String,
    pub from: String,
    /// `host:port` of the SMTP server.
    pub smarthost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<SecretKeySelector>,
    /// Whether Alertmanager insists on STARTTLS with the smarthost.
    #[serde(rename = "requireTLS", default, skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    /// Header fields (Go templates); a `Subject` here replaces Alertmanager's default subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<KeyValue>,
    /// A Go template (`html/template`: values are escaped): the HTML body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// A Go template: the plain-text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub send_resolved: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Alertmanager's `webhook_config`: Alertmanager's whole JSON payload, every label included.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    /// The URL itself, for URLs that carry no secret (the operator's own webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL from a Secret (URLs often carry tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret: Option<SecretKeySelector>,
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HttpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<SafeAuthorization>,
}

/// An `Authorization` header whose credentials come from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SafeAuthorization {
    /// The scheme, such as `Bearer`.
    #[serde(rename = "type")]
    pub type_: String,
    pub credentials: SecretKeySelector,
}

/// `ScrapeConfig.spec` (`monitoring.coreos.com/v1alpha1`): a central Prometheus pulling a
/// hospital's `/federate`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(group = "monitoring.coreos.com", version = "v1alpha1", kind = "ScrapeConfig", namespaced, schema = "disabled")]
#[serde(rename_all = "camelCase")]
pub struct ScrapeConfigSpec {
    pub static_configs: Vec<StaticConfig>,
    pub metrics_path: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Relabelings of each scraped series (after the scrape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabelings: Vec<RelabelConfig>,
    pub scheme: String,
    pub scrape_interval: String,
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<SafeAuthorization>,
}

/// HTTP basic authentication whose user name and password come from Secrets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct BasicAuth {
    pub username: SecretKeySelector,
    pub password: SecretKeySelector,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}
