//! A ward's alert routing: receivers (by reference to Secrets), which severities go where, and
//! inhibition. The operator renders it into a prometheus-operator AlertmanagerConfig.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::common::{SecretKeyRef, Severity, duration_rule};

/// Where a ward's alerts go.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.receivers.all(r, self.receivers.filter(x, x.name == r.name).size() == 1)")
    .message("receiver names must be unique"))]
#[x_kube(validation = Rule::new("self.routes.all(r, r.receivers.all(n, self.receivers.exists(x, x.name == n)))")
    .message("every route's receivers must name a receiver defined in receivers"))]
pub struct AlertRouting {
    /// The people and systems alerts can go to.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub receivers: Vec<Receiver>,
    /// Which severities go to which receivers; an alert goes to every route it matches.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub routes: Vec<Route>,
    /// While a device has a critical alert, hold back its warnings about the same vital sign or rule.
    #[serde(default = "yes")]
    pub inhibit_warnings_while_critical: bool,
    /// Texts sent to Discord, Telegram and e-mail name ward and bed; set true to add the patient
    /// identifier.
    #[serde(default)]
    pub include_patient_identifiers: bool,
}

fn yes() -> bool {
    true
}

impl Default for AlertRouting {
    fn default() -> Self {
        Self {
            receivers: Vec::new(),
            routes: Vec::new(),
            inhibit_warnings_while_critical: true,
            include_patient_identifiers: false,
        }
    }
}

/// One receiver: exactly one of discord, telegram, email or webhook.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.discord), has(self.telegram), has(self.email), has(self.webhook)].filter(x, x).size() == 1")
    .message("a receiver needs exactly one of discord, telegram, email or webhook"))]
pub struct Receiver {
    /// A name routes refer to; a DNS label.
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')")
        .message("receiver name must be a DNS label"))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<DiscordReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookReceiver>,
}

/// A Discord channel webhook.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiscordReceiver {
    /// The Secret key holding the webhook URL.
    pub webhook_url: SecretKeyRef,
}

/// A Telegram chat, through a bot.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TelegramReceiver {
    /// The Secret key holding the bot token.
    pub bot_token: SecretKeyRef,
    /// The chat to post to.
    pub chat_id: i64,
}

/// E-mail through an SMTP server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmailReceiver {
    #[schemars(length(max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@ ]+@[^@ ]+$')").message("to must be an e-mail address"))]
    pub to: String,
    #[schemars(length(max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@ ]+@[^@ ]+$')").message("from must be an e-mail address"))]
    pub from: String,
    /// `host:port` of the SMTP server.
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[^:/ ]+:[0-9]{1,5}$')").message("smarthost must be host:port"))]
    pub smarthost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// The Secret key holding the SMTP password, when the server needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<SecretKeyRef>,
    /// Whether Alertmanager insists on STARTTLS; turn off only for a relay inside the hospital
    /// that speaks no TLS.
    #[serde(default = "yes")]
    pub require_tls: bool,
}

/// A generic webhook (Alertmanager's webhook payload).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceiver {
    /// The Secret key holding the URL (URLs often carry tokens).
    pub url: SecretKeyRef,
}

/// Alerts of these severities go to these receivers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[schemars(length(min = 1, max = 3))]
    pub severities: Vec<Severity>,
    #[schemars(length(min = 1, max = 16))]
    pub receivers: Vec<String>,
    /// How long to wait before repeating a still-firing alert, as a duration such as `30m` or
    /// `4h`, at least 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = duration_rule("repeatInterval", "1m", None, "30m or 4h"))]
    pub repeat_interval: Option<String>,
}
