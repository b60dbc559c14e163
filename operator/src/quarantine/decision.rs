//! What the webhook does with each alert (pure): which alerts may quarantine a device at all,
//! whether a ward's policy wants it, and which namespace a notification speaks for.

use wardwatch_crds::Severity;
use wardwatch_crds::network::{QuarantineMode, QuarantinePolicy};

use super::payload::{Alert, AlertStatus, Notification};
use super::record::AlertQuarantine;
use crate::rules::network;

/// An alert that may quarantine `namespace/device`, once the device's ward agrees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub namespace: String,
    pub device: String,
    pub record: AlertQuarantine,
}

/// Why an alert quarantines nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    #[error("resolved: a quarantine stays until a person lifts it")]
    Resolved,
    #[error("category is not network")]
    NotNetwork,
    /// A network alert whose rule reports what the device saw, not what it did
    /// ([`network::IntrusionAlert::device_acts`]): the device is a witness, not the culprit.
    #[error("{0} reports what the device saw, not what it did")]
    Witnessed(&'static str),
    #[error("no device label")]
    NoDevice,
    #[error("severity {0:?} is not info, warning or critical")]
    Severity(String),
    #[error("device {0} does not exist")]
    UnknownDevice(String),
    #[error("ward {0} does not exist")]
    UnknownWard(String),
    #[error("the ward's quarantine mode is Manual")]
    ManualMode,
    #[error("severity {severity} is below the ward's minSeverity {min}")]
    BelowMinimum { severity: &'static str, min: &'static str },
}

/// The candidate in `alert`, or why there is none. `received_at` is now, in RFC 3339.
pub fn candidate(alert: &Alert, received_at: &str) -> Result<Candidate, Ignored> {
    if alert.status != AlertStatus::Firing {
        return Err(Ignored::Resolved);
    }
    if alert.label("category") != Some("network") {
        return Err(Ignored::NotNetwork);
    }
    if let Some(intrusion) = alert.label("alertname").and_then(network::intrusion_alert)
        && !intrusion.device_acts
    {
        return Err(Ignored::Witnessed(intrusion.alert));
    }
    let device = alert.label("device").ok_or(Ignored::NoDevice)?;
    let severity_label = alert.label("severity").unwrap_or_default();
    let severity: Severity = serde_json::from_value(serde_json::Value::from(severity_label))
        .map_err(|_| Ignored::Severity(severity_label.to_owned()))?;
    Ok(Candidate {
        // Authentication guarantees every alert of an accepted notification has a namespace.
        namespace: alert.label("namespace").unwrap_or_default().to_owned(),
        device: device.to_owned(),
        record: AlertQuarantine {
            alert: alert.label("alertname").unwrap_or("unnamed alert").to_owned(),
            severity,
            starts_at: alert.starts_at.clone(),
            received_at: received_at.to_owned(),
        },
    })
}

/// Whether the device's ward quarantines on an alert of `severity`.
pub fn ward_wants(policy: &QuarantinePolicy, severity: Severity) -> Result<(), Ignored> {
    if policy.mode != QuarantineMode::OnAlert {
        return Err(Ignored::ManualMode);
    }
    if severity < policy.min_severity {
        return Err(Ignored::BelowMinimum { severity: severity.as_str(), min: policy.min_severity.as_str() });
    }
    Ok(())
}

/// The one namespace every alert of `notification` belongs to (its `namespace` label), which
/// the bearer token must open; `None` when an alert has none or they differ.
pub fn namespace(notification: &Notification) -> Option<&str> {
    let first = notification.alerts.first()?.label("namespace")?;
    notification.alerts.iter().all(|a| a.label("namespace") == Some(first)).then_some(first)
}

/// The webhook's answer: how many alerts did what.
#[derive(serde::Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub quarantined: u32,
    pub already_quarantined: u32,
    pub ignored: u32,
}

impl Summary {
    /// The request's result label in `wardwatch_operator_quarantine_requests_total`: the
    /// strongest of its alerts' outcomes.
    pub fn result(&self) -> &'static str {
        if self.quarantined > 0 {
            "quarantined"
        } else if self.already_quarantined > 0 {
            "already_quarantined"
        } else {
            "ignored"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::payload::{parse, tests::port_scan};
    use serde_json::{Value, json};

    fn alert(edit: impl Fn(&mut Value)) -> Alert {
        let mut body = port_scan("firing", "warning");
        edit(&mut body["alerts"][0]);
        parse(body.to_string().as_bytes()).unwrap().alerts.remove(0)
    }

    const NOW: &str = "2025-05-01T10:00:11Z";

    #[test]
    fn a_firing_network_alert_names_its_device_and_record() {
        let candidate = candidate(&alert(|_| {}), NOW).unwrap();
        assert_eq!(candidate.namespace, "st-mary");
        assert_eq!(candidate.device, "bed-02-oximeter");
        assert_eq!(
            candidate.record,
            AlertQuarantine {
                alert: "PortScanDetected".into(),
                severity: Severity::Warning,
                starts_at: "2025-05-01T10:00:00.123456789Z".into(),
                received_at: NOW.into(),
            }
        );
    }

    type Edit<'a> = &'a dyn Fn(&mut Value);

    #[test]
    fn other_alerts_are_ignored_with_a_reason() {
        let cases: [(Edit, Ignored); 6] = [
            (&|a| a["status"] = json!("resolved"), Ignored::Resolved),
            (&|a| a["labels"]["category"] = json!("clinical"), Ignored::NotNetwork),
            (&|a| drop(a["labels"].as_object_mut().unwrap().remove("category")), Ignored::NotNetwork),
            (&|a| drop(a["labels"].as_object_mut().unwrap().remove("device")), Ignored::NoDevice),
            (&|a| a["labels"]["device"] = json!(""), Ignored::NoDevice),
            (&|a| a["labels"]["severity"] = json!("page"), Ignored::Severity("page".into())),
        ];
        for (edit, expected) in cases {
            assert_eq!(candidate(&alert(edit), NOW), Err(expected));
        }
    }

    #[test]
    fn an_alert_about_what_the_device_saw_quarantines_nothing() {
        let arp_spoof = |a: &mut Value| {
            a["labels"]["alertname"] = json!("ArpSpoofDetected");
            a["labels"]["rule"] = json!("arp_spoof");
            a["labels"]["severity"] = json!("critical");
        };
        let ignored = candidate(&alert(arp_spoof), NOW).unwrap_err();
        assert_eq!(ignored, Ignored::Witnessed("ArpSpoofDetected"));
        assert_eq!(ignored.to_string(), "ArpSpoofDetected reports what the device saw, not what it did");
        // Every other intrusion alert is about what the device does, and may quarantine it.
        for intrusion in network::INTRUSION_ALERTS.iter().filter(|i| i.alert != "ArpSpoofDetected") {
            assert!(intrusion.device_acts, "{}", intrusion.alert);
            let named = |a: &mut Value| a["labels"]["alertname"] = json!(intrusion.alert);
            assert_eq!(candidate(&alert(named), NOW).unwrap().record.alert, intrusion.alert);
        }
        // A resolved one is ignored as resolved, as every other resolved alert is.
        let resolved = |a: &mut Value| {
            arp_spoof(a);
            a["status"] = json!("resolved");
        };
        assert_eq!(candidate(&alert(resolved), NOW), Err(Ignored::Resolved));
    }

    #[test]
    fn the_wards_policy_decides_by_mode_and_minimum_severity() {
        let on_alert = |min| QuarantinePolicy { mode: QuarantineMode::OnAlert, min_severity: min };
        let table = [
            (Severity::Warning, Severity::Info, false),
            (Severity::Warning, Severity::Warning, true),
            (Severity::Warning, Severity::Critical, true),
            (Severity::Critical, Severity::Warning, false),
            (Severity::Critical, Severity::Critical, true),
            (Severity::Info, Severity::Info, true),
        ];
        for (min, severity, quarantines) in table {
            assert_eq!(ward_wants(&on_alert(min), severity).is_ok(), quarantines, "min {min:?}, alert {severity:?}");
        }
        assert_eq!(
            ward_wants(&on_alert(Severity::Critical), Severity::Warning),
            Err(Ignored::BelowMinimum { severity: "warning", min: "critical" })
        );
        let manual = QuarantinePolicy { mode: QuarantineMode::Manual, min_severity: Severity::Info };
        assert_eq!(ward_wants(&manual, Severity::Critical), Err(Ignored::ManualMode));
    }

    #[test]
    fn a_notification_speaks_for_one_namespace() {
        let mut body = port_scan("firing", "warning");
        assert_eq!(namespace(&parse(body.to_string().as_bytes()).unwrap()), Some("st-mary"));
        let second = body["alerts"][0].clone();
        body["alerts"].as_array_mut().unwrap().push(second);
        assert_eq!(namespace(&parse(body.to_string().as_bytes()).unwrap()), Some("st-mary"));
        body["alerts"][1]["labels"]["namespace"] = json!("general");
        assert_eq!(namespace(&parse(body.to_string().as_bytes()).unwrap()), None, "two namespaces");
        body["alerts"][1]["labels"].as_object_mut().unwrap().remove("namespace");
        assert_eq!(namespace(&parse(body.to_string().as_bytes()).unwrap()), None, "an alert without one");
    }

    #[test]
    fn a_requests_result_is_its_strongest_outcome() {
        assert_eq!(Summary::default().result(), "ignored");
        assert_eq!(
            Summary { already_quarantined: 1, ignored: 2, ..Summary::default() }.result(),
            "already_quarantined"
        );
        assert_eq!(Summary { quarantined: 1, already_quarantined: 1, ignored: 1 }.result(), "quarantined");
    }
}
