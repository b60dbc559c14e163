//! The ward's AlertmanagerConfig: its receivers (Secrets by reference), which severities and
//! categories go where, how alerts are grouped into notifications, inhibitions, the texts sent
//! outside the hospital, and the quarantine webhook.
//!
//! The shape, and why:
//!
//! - The root route matches `ward=<ward>` (prometheus-operator adds `namespace=<namespace>`) and
//!   sends to [`NULL_RECEIVER`]: an alert that no route of the ward claims goes nowhere.
//! - Below it, one child route per (ward route, receiver, category), each `continue: true`, so
//!   an alert reaches every receiver whose route names its severity. A receiver named by several
//!   ward routes takes each severity from the first route that names it: no two child routes of
//!   one receiver match the same alert, so a receiver gets exactly one notification per group.
//! - Grouping by category ([`group_by`]): a patient's clinical alerts travel together (one
//!   notification per patient, whatever fired); a device's network or device-health alerts
//!   travel together (one notification per device).
//! - Timings by the most urgent severity a route carries ([`timings`]).
//! - With `quarantine.mode: OnAlert`, [`QUARANTINE_RECEIVER`] calls the operator's webhook for
//!   network alerts of at least `quarantine.minSeverity` that name a device.
//! - Inhibitions ([`inhibit_rules`]), each scoped to the ward and requiring a non-empty value of
//!   the label that links source and target, because Alertmanager counts a label missing on both
//!   sides as equal.
//! - Discord, Telegram and e-mail get texts of our own ([`texts`]) that name hospital, ward, bed
//!   and device and what happened, and not the patient unless the ward opts in; Alertmanager's
//!   default texts list every label. The generic webhook (in-hospital systems) gets
//!   Alertmanager's whole payload.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use wardwatch_crds::alerting::Receiver;
use wardwatch_crds::common::SecretKeyRef;
use wardwatch_crds::network::QuarantineMode;
use wardwatch_crds::{Severity, Ward};

use crate::monitoring::{
    AlertmanagerConfig, AlertmanagerConfigSpec, AmReceiver, AmRoute, DiscordConfig, EmailConfig, HttpConfig,
    InhibitRule, KeyValue, Matcher, SafeAuthorization, SecretKeySelector, TelegramConfig, WebhookConfig,
};
use crate::names;
use crate::rules::alert::Category;

/// The root route's receiver: alerts that match no route of the ward go nowhere.
pub const NULL_RECEIVER: &str = "wardwatch-null";
/// The receiver that calls the operator's quarantine webhook.
pub const QUARANTINE_RECEIVER: &str = "wardwatch-quarantine";

/// The alert categories of the alerts contract (label `category`), each routed and grouped on
/// its own.
pub const CATEGORIES: [&str; 3] = {
    let [a, b, c] = Category::ALL;
    [a.as_str(), b.as_str(), c.as_str()]
};

/// Device-health alerts that say a device's data stopped arriving: while one fires for a device
/// that has a patient, that patient's clinical alerts (computed from stale or missing data) are
/// held back.
pub const DEVICE_DOWN_ALERTS: [&str; 2] = ["DeviceSilent", "WardwatchExporterDown"];

/// The labels one notification is about, per category: a patient's clinical alerts (whatever
/// their name: hypoxia, a vital-sign limit and NEWS2 for one patient make one page, not three),
/// or one device's device-health or network alerts.
pub fn group_by(category: &str) -> Vec<String> {
    let labels: &[&str] = match category {
        "clinical" => &["ward", "patient"],
        _ => &["ward", "device"],
    };
    labels.iter().map(|l| (*l).to_owned()).collect()
}

/// Alertmanager's timings for a route, chosen by the most urgent severity it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a new group waits for further alerts before its first notification. It adds to
    /// every alert's latency: event to notification is at least `for` + scrape interval + rule
    /// evaluation interval + `group_wait`.
    pub group_wait: &'static str,
    /// How long a group that has notified waits before notifying about alerts that joined or
    /// resolved. A critical alert joining a patient's group that already paged a warning waits
    /// up to this long, so it is short where critical alerts travel.
    pub group_interval: &'static str,
    /// How long before a still-firing, unchanged group is sent again, unless the ward's route
    /// sets `repeatInterval`.
    pub repeat_interval: &'static str,
}

/// The timings of a route whose most urgent severity is `severity`.
///
/// - critical: `group_wait` 5s. Alerts raised from the same scrape arrive within one rule
///   evaluation interval of each other (wardwatch evaluates at the scrape interval, 5 s by
///   default; rule groups are evaluated at different offsets inside it), so 5 s gathers a
///   patient's simultaneous alerts (hypoxia, SpO2 limit, NEWS2) into one page and costs at most
///   5 s: `HypoxiaDetected` (`for: 10s`) notifies at the latest 10 + 5 + 5 + 5 = 25 s after SpO2
///   falls. `group_interval` 30s: an escalation inside a group that has notified is sent within
///   30 s. `repeat_interval` 1h.
/// - warning: 30s, 2m, 4h (Alertmanager's defaults are 30s, 5m, 4h).
/// - info: 1m, 5m, 12h.
pub fn timings(severity: Severity) -> Timings {
    match severity {
        Severity::Critical => Timings { group_wait: "5s", group_interval: "30s", repeat_interval: "1h" },
        Severity::Warning => Timings { group_wait: "30s", group_interval: "2m", repeat_interval: "4h" },
        Severity::Info => Timings { group_wait: "1m", group_interval: "5m", repeat_interval: "12h" },
    }
}

/// The quarantine route's timings: isolate at once (`group_wait` 0s: one alert is enough, and
/// the webhook is idempotent), call again for new alerts of the device after a minute, and again
/// for a still-firing group after an hour.
pub const QUARANTINE_TIMINGS: Timings = Timings { group_wait: "0s", group_interval: "1m", repeat_interval: "1h" };

fn secret(reference: &SecretKeyRef) -> SecretKeySelector {
    SecretKeySelector { name: reference.name.clone(), key: reference.key.clone() }
}

/// The Go templates of the texts wardwatch sends outside the hospital.
#[derive(Clone, Debug, PartialEq)]
pub struct Texts {
    /// Discord's embed title and e-mail's `Subject`: status, alert, hospital, ward, bed, device.
    pub title: String,
    /// Discord's embed text (Markdown), at most [`CHAT_ALERTS`] firing alerts.
    pub discord: String,
    /// Telegram's message (`parseMode: HTML`: every value is escaped), at most [`CHAT_ALERTS`]
    /// firing alerts.
    pub telegram: String,
    /// E-mail's plain-text body, every alert.
    pub email_text: String,
    /// E-mail's HTML body (Alertmanager renders it with `html/template`, which escapes values).
    pub email_html: String,
}

/// Chat messages list at most this many firing alerts (Discord allows 4096 characters in an
/// embed, Telegram 4096 in a message; an alert takes about 300).
pub const CHAT_ALERTS: usize = 5;

/// How a text shows values: as they are, or escaped for Telegram's HTML.
#[derive(Clone, Copy, PartialEq)]
enum Escape {
    None,
    Html,
}

impl Escape {
    /// `{{ expr }}`, escaped as needed.
    fn show(self, expr: &str) -> String {
        match self {
            Self::None => format!("{{{{ {expr} }}}}"),
            Self::Html => format!("{{{{ {expr} | html }}}}"),
        }
    }
}

/// Where an alert is: hospital, ward, and bed and device when the alert has them; the patient
/// only when the ward opts in. `labels` is the template expression of the label set
/// (`$a.Labels`, `.CommonLabels`).
fn place(labels: &str, escape: Escape, include_patient: bool) -> String {
    let mut text =
        format!("{}, ward {}", escape.show(&format!("{labels}.hospital")), escape.show(&format!("{labels}.ward")));
    let mut optional = vec![("bed", "bed"), ("device", "device")];
    if include_patient {
        optional.push(("patient", "patient"));
    }
    for (label, word) in optional {
        text.push_str(&format!("{{{{ with {labels}.{label} }}}}, {word} {}{{{{ end }}}}", escape.show(".")));
    }
    text
}

/// `[FIRING:2] CRITICAL HypoxiaDetected, NEWS2Emergency - st-mary, ward icu-east, bed ICU-01`:
/// status, the severity and place the group's alerts share, and the alerts' names (the first
/// three). Discord allows 256 characters in a title; Alertmanager 0.25 does not shorten it.
fn title(include_patient: bool) -> String {
    format!(
        "[{{{{ .Status | toUpper }}}}{{{{ if eq .Status \"firing\" }}}}:{{{{ .Alerts.Firing | len }}}}{{{{ end }}}}]\
         {{{{ with .CommonLabels.severity }}}} {{{{ . | toUpper }}}}{{{{ end }}}} \
         {{{{ with .CommonLabels.alertname }}}}{{{{ . }}}}{{{{ else }}}}\
         {{{{ range $i, $a := .Alerts }}}}{{{{ if lt $i {TITLE_ALERTS} }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $a.Labels.alertname }}}}{{{{ end }}}}{{{{ end }}}}\
         {{{{ if gt (len .Alerts) {TITLE_ALERTS} }}}} and more{{{{ end }}}}{{{{ end }}}} - {}",
        place(".CommonLabels", Escape::None, include_patient)
    )
}

/// A title names at most this many alerts.
const TITLE_ALERTS: usize = 3;

/// A chat message: the firing alerts (at most [`CHAT_ALERTS`]), then the resolved ones.
/// `bold` wraps a piece of text in the chat's bold markup.
fn chat(escape: Escape, bold: fn(&str) -> String, include_patient: bool) -> String {
    let show = |expr: &str| escape.show(expr);
    let runbook = match escape {
        Escape::Html => format!("<a href=\"{}\">runbook</a>", show("$a.Annotations.runbook_url")),
        Escape::None => format!("Runbook: {}", show("$a.Annotations.runbook_url")),
    };
    let heading = match escape {
        Escape::Html => {
            bold(&format!(
                "[{{{{ .Status | toUpper }}}}{{{{ if eq .Status \"firing\" }}}}:{{{{ .Alerts.Firing | len }}}}{{{{ end }}}}] {}",
                place(".CommonLabels", escape, include_patient)
            )) + "\n\n"
        }
        // Discord shows the title above the message.
        Escape::None => String::new(),
    };
    format!(
        "{heading}{{{{ range $i, $a := .Alerts.Firing }}}}{{{{ if lt $i {CHAT_ALERTS} }}}}\
         {} {}: {}\n{}\n{}\n{runbook}\n\n{{{{ end }}}}{{{{ end }}}}\
         {{{{ if gt (len .Alerts.Firing) {CHAT_ALERTS} }}}}More firing alerts of this group are in Alertmanager.\n\n{{{{ end }}}}\
         {{{{ range .Alerts.Resolved }}}}{} {}: {} ({})\n{{{{ end }}}}",
        bold(&show("$a.Labels.severity | toUpper")),
        show("$a.Labels.alertname"),
        show("$a.Annotations.summary"),
        show("$a.Annotations.description"),
        place("$a.Labels", escape, include_patient),
        bold("RESOLVED"),
        show(".Labels.alertname"),
        show(".Annotations.summary"),
        place(".Labels", escape, include_patient),
    )
}

/// The texts for a ward; `include_patient` is `spec.alerting.includePatientIdentifiers`.
pub fn texts(include_patient: bool) -> Texts {
    let email_text = format!(
        "{{{{ range .Alerts.Firing }}}}{{{{ .Labels.severity | toUpper }}}} {{{{ .Labels.alertname }}}}: {{{{ .Annotations.summary }}}}\n\
         {{{{ .Annotations.description }}}}\n{}\nSince {{{{ .StartsAt }}}}\nRunbook: {{{{ .Annotations.runbook_url }}}}\n\n{{{{ end }}}}\
         {{{{ range .Alerts.Resolved }}}}RESOLVED {{{{ .Labels.alertname }}}}: {{{{ .Annotations.summary }}}}\n{}\n\n{{{{ end }}}}\
         Sent by wardwatch through Alertmanager.\n",
        place(".Labels", Escape::None, include_patient),
        place(".Labels", Escape::None, include_patient),
    );
    let email_html = format!(
        "<html><body>{{{{ range .Alerts.Firing }}}}<h3>{{{{ .Labels.severity | toUpper }}}} {{{{ .Labels.alertname }}}}</h3>\
         <p><b>{{{{ .Annotations.summary }}}}</b></p><p>{{{{ .Annotations.description }}}}</p><p>{}<br>Since {{{{ .StartsAt }}}}</p>\
         <p><a href=\"{{{{ .Annotations.runbook_url }}}}\">Runbook</a></p>{{{{ end }}}}\
         {{{{ range .Alerts.Resolved }}}}<p>RESOLVED {{{{ .Labels.alertname }}}}: {{{{ .Annotations.summary }}}} ({})</p>{{{{ end }}}}\
         <p>Sent by wardwatch through Alertmanager.</p></body></html>",
        place(".Labels", Escape::None, include_patient),
        place(".Labels", Escape::None, include_patient),
    );
    Texts {
        title: title(include_patient),
        discord: chat(Escape::None, |t| format!("**{t}**"), include_patient),
        telegram: chat(Escape::Html, |t| format!("<b>{t}</b>"), include_patient),
        email_text,
        email_html,
    }
}

fn receiver(receiver: &Receiver, texts: &Texts) -> AmReceiver {
    let mut out = AmReceiver { name: receiver.name.clone(), ..AmReceiver::default() };
    if let Some(discord) = &receiver.discord {
        out.discord_configs.push(DiscordConfig {
            api_url: secret(&discord.webhook_url),
            title: Some(texts.title.clone()),
            message: Some(texts.discord.clone()),
            send_resolved: true,
        });
    }
    if let Some(telegram) = &receiver.telegram {
        out.telegram_configs.push(TelegramConfig {
            bot_token: secret(&telegram.bot_token),
            chat_id: telegram.chat_id,
            parse_mode: Some("HTML".to_owned()),
            message: Some(texts.telegram.clone()),
            send_resolved: true,
        });
    }
    if let Some(email) = &receiver.email {
        out.email_configs.push(EmailConfig {
            to: email.to.clone(),
            from: email.from.clone(),
            smarthost: email.smarthost.clone(),
            auth_username: email.auth_username.clone(),
            auth_password: email.auth_password.as_ref().map(secret),
            require_tls: Some(email.require_tls),
            headers: vec![KeyValue { key: "Subject".to_owned(), value: texts.title.clone() }],
            html: Some(texts.email_html.clone()),
            text: Some(texts.email_text.clone()),
            send_resolved: true,
        });
    }
    if let Some(webhook) = &receiver.webhook {
        // In-hospital systems: Alertmanager's whole payload, every label.
        out.webhook_configs.push(WebhookConfig {
            url_secret: Some(secret(&webhook.url)),
            send_resolved: true,
            ..WebhookConfig::default()
        });
    }
    out
}

/// `severity="critical"`, or `severity=~"critical|warning"` for several (most urgent first).
fn severity_matcher(severities: &[Severity]) -> Matcher {
    let mut sorted = severities.to_vec();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    match sorted.as_slice() {
        [one] => Matcher::equal("severity", one.as_str()),
        _ => Matcher::regex("severity", &sorted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("|")),
    }
}

/// The child routes of the ward's routes: one per (route, receiver, category), in the order the
/// ward lists them. A receiver takes each severity from the first route that names it.
pub fn receiver_routes(ward: &Ward) -> Vec<AmRoute> {
    let mut claimed: BTreeMap<&str, Vec<Severity>> = BTreeMap::new();
    let mut routes = Vec::new();
    for route in &ward.spec.alerting.routes {
        let mut seen_in_route: Vec<&str> = Vec::new();
        for name in &route.receivers {
            if seen_in_route.contains(&name.as_str()) {
                continue;
            }
            seen_in_route.push(name);
            let taken = claimed.entry(name).or_default();
            let mut severities: Vec<Severity> =
                route.severities.iter().copied().filter(|s| !taken.contains(s)).collect();
            severities.sort_by(|a, b| b.cmp(a));
            severities.dedup();
            let Some(&most_urgent) = severities.first() else { continue };
            taken.extend(&severities);
            let timing = timings(most_urgent);
            for category in CATEGORIES {
                routes.push(AmRoute {
                    receiver: name.clone(),
                    matchers: vec![severity_matcher(&severities), Matcher::equal("category", category)],
                    group_by: group_by(category),
                    group_wait: Some(timing.group_wait.to_owned()),
                    group_interval: Some(timing.group_interval.to_owned()),
                    repeat_interval: Some(
                        route.repeat_interval.clone().unwrap_or_else(|| timing.repeat_interval.to_owned()),
                    ),
                    // An alert goes on to every other route it matches.
                    continue_: true,
                    ..AmRoute::default()
                });
            }
        }
    }
    routes
}

/// The quarantine receiver: the operator's webhook, authenticated with the ward's bearer token
/// (the Secret [`names::quarantine_token_secret`]). Resolved alerts are not sent: a quarantine
/// is lifted by a person, not by the alert ending.
pub fn quarantine_receiver(ward: &Ward, url: &str) -> AmReceiver {
    AmReceiver {
        name: QUARANTINE_RECEIVER.to_owned(),
        webhook_configs: vec![WebhookConfig {
            url: Some(url.to_owned()),
            send_resolved: false,
            http_config: Some(HttpConfig {
                authorization: Some(SafeAuthorization {
                    type_: "Bearer".to_owned(),
                    credentials: SecretKeySelector {
                        name: names::quarantine_token_secret(ward),
                        key: names::QUARANTINE_TOKEN_KEY.to_owned(),
                    },
                }),
            }),
            ..WebhookConfig::default()
        }],
        ..AmReceiver::default()
    }
}

/// The quarantine route: network alerts of at least `minSeverity` that name a device, one call
/// per device.
pub fn quarantine_route(ward: &Ward) -> AmRoute {
    let severities: Vec<Severity> = ward.spec.quarantine.min_severity.and_above().collect();
    AmRoute {
        receiver: QUARANTINE_RECEIVER.to_owned(),
        matchers: vec![
            Matcher::equal("category", "network"),
            severity_matcher(&severities),
            Matcher::present("device"),
        ],
        group_by: vec!["namespace".to_owned(), "device".to_owned()],
        group_wait: Some(QUARANTINE_TIMINGS.group_wait.to_owned()),
        group_interval: Some(QUARANTINE_TIMINGS.group_interval.to_owned()),
        repeat_interval: Some(QUARANTINE_TIMINGS.repeat_interval.to_owned()),
        continue_: true,
        ..AmRoute::default()
    }
}

/// The ward's inhibitions. Each is scoped to the ward on both sides, and each source requires a
/// non-empty value of a label in `equal`: Alertmanager counts a label missing on both sides as
/// equal, so without that one patient's alert could hold back alerts of every other alert that
/// lacks the label.
///
/// - `NEWS2Emergency` holds back `NEWS2Urgent` of the same patient (equal namespace, patient).
/// - A device that is down or silent ([`DEVICE_DOWN_ALERTS`], with a device and a patient)
///   holds back its patient's clinical alerts (equal namespace, patient). Clinical alerts carry
///   no device label (one series per patient, whichever device measured it), so the patient is
///   the link: a patient watched by two devices loses clinical alerts while either is silent.
/// - With `inhibitWarningsWhileCritical`, a critical alert holds back warnings of the same
///   device and patient (equal namespace, device, patient). Two rules, one whose source has a
///   device and one whose source has a patient: a critical clinical alert (a patient, no
///   device) holds back that patient's clinical warnings only; a critical network alert of a
///   device with no patient holds back that device's warnings only; an alert with neither
///   holds back nothing.
pub fn inhibit_rules(ward: &Ward) -> Vec<InhibitRule> {
    let in_ward = || Matcher::equal("ward", &ward.name_any());
    let equal = |labels: &[&str]| labels.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    let mut rules = vec![
        InhibitRule {
            source_match: vec![in_ward(), Matcher::equal("alertname", "NEWS2Emergency"), Matcher::present("patient")],
            target_match: vec![in_ward(), Matcher::equal("alertname", "NEWS2Urgent")],
            equal: equal(&["namespace", "patient"]),
        },
        InhibitRule {
            source_match: vec![
                in_ward(),
                Matcher::regex("alertname", &DEVICE_DOWN_ALERTS.join("|")),
                Matcher::present("device"),
                Matcher::present("patient"),
            ],
            target_match: vec![in_ward(), Matcher::equal("category", "clinical")],
            equal: equal(&["namespace", "patient"]),
        },
    ];
    if ward.spec.alerting.inhibit_warnings_while_critical {
        for link in ["device", "patient"] {
            rules.push(InhibitRule {
                source_match: vec![in_ward(), Matcher::equal("severity", "critical"), Matcher::present(link)],
                target_match: vec![in_ward(), Matcher::equal("severity", "warning")],
                equal: equal(&["namespace", "device", "patient"]),
            });
        }
    }
    rules
}

/// The AlertmanagerConfig for `ward`. `quarantine_webhook` is the operator's webhook URL, used
/// when the ward's quarantine policy is `OnAlert`.
pub fn alertmanager_config(ward: &Ward, quarantine_webhook: Option<&str>) -> AlertmanagerConfig {
    let alerting = &ward.spec.alerting;
    let texts = texts(alerting.include_patient_identifiers);
    let mut receivers = vec![AmReceiver { name: NULL_RECEIVER.to_owned(), ..AmReceiver::default() }];
    receivers.extend(alerting.receivers.iter().map(|r| receiver(r, &texts)));

    let mut routes = receiver_routes(ward);
    if let (QuarantineMode::OnAlert, Some(url)) = (ward.spec.quarantine.mode, quarantine_webhook) {
        receivers.push(quarantine_receiver(ward, url));
        routes.push(quarantine_route(ward));
    }

    let mut config = AlertmanagerConfig::new(
        &names::alertmanager_config(ward),
        AlertmanagerConfigSpec {
            route: AmRoute {
                receiver: NULL_RECEIVER.to_owned(),
                group_by: vec!["ward".to_owned()],
                matchers: vec![Matcher::equal("ward", &ward.name_any())],
                routes,
                ..AmRoute::default()
            },
            receivers,
            inhibit_rules: inhibit_rules(ward),
        },
    );
    config.metadata.namespace = ward.namespace();
    config.metadata.labels = Some(names::monitoring_labels(ward));
    config.metadata.owner_references = ward.controller_owner_ref(&()).map(|o| vec![o]);
    config
}
