//! Automatic quarantine: the webhook Alertmanager calls with a ward's network alerts.
//!
//! A ward whose `spec.quarantine.mode` is `OnAlert` routes its network alerts of at least
//! `minSeverity` to `POST /quarantine` with a bearer token from the Secret
//! `<ward>-quarantine-token` ([`token`]). The webhook checks the notification ([`payload`],
//! [`decision`]) and writes the annotation `wardwatch.io/quarantine` on the device
//! ([`annotate`], [`record`]); the device controller (on the leader) then isolates the device.
//! The server ([`server`]) runs on every replica: it only writes the annotation.

pub mod annotate;
pub mod decision;
pub mod payload;
pub mod record;
pub mod server;
pub mod token;

pub use record::AlertQuarantine;
pub use server::{PATH, Webhook, serve};
pub use token::WebhookKey;

/// What the operator needs to route wards' alerts to its webhook: the URL Alertmanager calls,
/// and the master key the wards' tokens derive from.
#[derive(Clone, Debug)]
pub struct QuarantineWebhook {
    pub url: String,
    pub key: WebhookKey,
}
