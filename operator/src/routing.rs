//! The ward's AlertmanagerConfig: its receivers (Secrets by reference), which severities go
//! where, inhibition of warnings under a critical, and the quarantine webhook.

use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use wardwatch_crds::alerting::Receiver;
use wardwatch_crds::common::SecretKeyRef;
use wardwatch_crds::network::QuarantineMode;
use wardwatch_crds::{Severity, Ward};

use crate::monitoring::{AlertmanagerConfig, AlertmanagerConfigSpec, AmRoute, InhibitRule, Matcher};
use crate::names;

/// The root route's receiver: alerts that match no route of the ward go nowhere.
pub const NULL_RECEIVER: &str = "wardwatch-null";
/// The receiver that calls the operator's quarantine webhook.
pub const QUARANTINE_RECEIVER: &str = "wardwatch-quarantine";

fn secret(reference: &SecretKeyRef) -> Value {
    json!({"name": reference.name, "key": reference.key})
}

fn receiver(receiver: &Receiver) -> Value {
    let mut out = json!({"name": receiver.name});
    if let Some(discord) = &receiver.discord {
        out["discordConfigs"] = json!([{"apiURL": secret(&discord.webhook_url), "sendResolved": true}]);
    }
    if let Some(telegram) = &receiver.telegram {
        out["telegramConfigs"] = json!([{"botToken": secret(&telegram.bot_token), "chatID": telegram.chat_id,
                                          "parseMode": "HTML", "sendResolved": true}]);
    }
    if let Some(email) = &receiver.email {
        let mut config =
            json!({"to": email.to, "from": email.from, "smarthost": email.smarthost, "sendResolved": true});
        if let Some(user) = &email.auth_username {
            config["authUsername"] = json!(user);
        }
        if let Some(password) = &email.auth_password {
            config["authPassword"] = secret(password);
        }
        out["emailConfigs"] = json!([config]);
    }
    if let Some(webhook) = &receiver.webhook {
        out["webhookConfigs"] = json!([{"urlSecret": secret(&webhook.url), "sendResolved": true}]);
    }
    out
}

fn severity_matcher(severities: impl IntoIterator<Item = Severity>) -> Matcher {
    let alternatives: Vec<&str> = severities.into_iter().map(Severity::as_str).collect();
    Matcher::regex("severity", &alternatives.join("|"))
}

/// The AlertmanagerConfig for `ward`. `quarantine_webhook` is the operator's webhook URL, used
/// when the ward's quarantine policy is `OnAlert`.
pub fn alertmanager_config(ward: &Ward, quarantine_webhook: Option<&str>) -> AlertmanagerConfig {
    let routing = &ward.spec.alerting;
    let mut receivers = vec![json!({"name": NULL_RECEIVER})];
    receivers.extend(routing.receivers.iter().map(receiver));

    let mut routes: Vec<AmRoute> = Vec::new();
    for route in &routing.routes {
        for name in &route.receivers {
            routes.push(AmRoute {
                receiver: name.clone(),
                matchers: vec![severity_matcher(route.severities.iter().copied())],
                repeat_interval: route.repeat_interval.clone(),
                // An alert goes to every route it matches.
                continue_: true,
                ..AmRoute::default()
            });
        }
    }
    let policy = ward.spec.quarantine;
    if let (QuarantineMode::OnAlert, Some(url)) = (policy.mode, quarantine_webhook) {
        receivers.push(json!({"name": QUARANTINE_RECEIVER, "webhookConfigs": [{"url": url, "sendResolved": false}]}));
        routes.push(AmRoute {
            receiver: QUARANTINE_RECEIVER.to_owned(),
            matchers: vec![Matcher::equal("category", "network"), severity_matcher(policy.min_severity.and_above())],
            continue_: true,
            ..AmRoute::default()
        });
    }

    let inhibit_rules = if routing.inhibit_warnings_while_critical {
        vec![InhibitRule {
            source_match: vec![Matcher::equal("severity", "critical")],
            target_match: vec![Matcher::equal("severity", "warning")],
            equal: vec!["ward".to_owned(), "device".to_owned()],
        }]
    } else {
        Vec::new()
    };

    let mut config = AlertmanagerConfig::new(
        &names::alertmanager_config(ward),
        AlertmanagerConfigSpec {
            route: AmRoute {
                receiver: NULL_RECEIVER.to_owned(),
                group_by: vec!["alertname".to_owned(), "device".to_owned()],
                group_wait: Some("10s".to_owned()),
                group_interval: Some("1m".to_owned()),
                repeat_interval: Some("4h".to_owned()),
                matchers: vec![Matcher::equal("ward", &ward.name_any())],
                routes,
                ..AmRoute::default()
            },
            receivers,
            inhibit_rules,
        },
    );
    config.metadata.namespace = ward.namespace();
    config.metadata.labels = Some(names::ward_labels(ward));
    config.metadata.owner_references = ward.controller_owner_ref(&()).map(|o| vec![o]);
    config
}
