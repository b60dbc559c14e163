//! Alertmanager's webhook notification (payload version 4), read strictly enough that anything
//! else is refused before the operator acts on it.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The largest body the webhook reads. Alertmanager's notifications for one group are a few
/// KiB; 256 KiB holds hundreds of alerts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One notification: a group of alerts (Alertmanager's `webhook.Message`).
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub version: String,
    pub status: AlertStatus,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    pub alerts: Vec<Alert>,
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as Alertmanager writes it.
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// Why a body is not a notification the webhook takes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the body has more than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("not an Alertmanager notification: {0}")]
    Malformed(String),
    #[error("payload version {0:?}; the webhook reads version 4")]
    Version(String),
    #[error("the notification has no alerts")]
    NoAlerts,
    #[error("alert {index}: startsAt {value:?} is not an RFC 3339 time")]
    StartsAt { index: usize, value: String },
}

/// Reads a notification from the body.
pub fn parse(body: &[u8]) -> Result<Notification, PayloadError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(PayloadError::TooLarge);
    }
    let notification: Notification =
        serde_json::from_slice(body).map_err(|err| PayloadError::Malformed(err.to_string()))?;
    if notification.version != "4" {
        return Err(PayloadError::Version(notification.version));
    }
    if notification.alerts.is_empty() {
        return Err(PayloadError::NoAlerts);
    }
    for (index, alert) in notification.alerts.iter().enumerate() {
        if alert.starts_at.parse::<k8s_openapi::jiff::Timestamp>().is_err() {
            return Err(PayloadError::StartsAt { index, value: alert.starts_at.clone() });
        }
    }
    Ok(notification)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A notification as Alertmanager 0.28 sends it for one firing PortScanDetected.
    pub(crate) fn port_scan(status: &str, severity: &str) -> Value {
        json!({
            "receiver": "st-mary/icu-east-routing/wardwatch-quarantine",
            "status": status,
            "alerts": [{
                "status": status,
                "labels": {"alertname": "PortScanDetected", "category": "network", "severity": severity,
                           "device": "bed-02-oximeter", "namespace": "st-mary", "ward": "icu-east",
                           "hospital": "st-mary"},
                "annotations": {"summary": "bed-02-oximeter scans ports"},
                "startsAt": "2025-05-01T10:00:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph?g0.expr=x",
                "fingerprint": "a1b2c3d4e5f60718"
            }],
            "groupLabels": {"alertname": "PortScanDetected", "device": "bed-02-oximeter"},
            "commonLabels": {"alertname": "PortScanDetected"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": "{}/{namespace=\"st-mary\"}:{alertname=\"PortScanDetected\"}",
            "truncatedAlerts": 0
        })
    }

    #[test]
    fn alertmanagers_notification_is_read() {
        let notification = parse(port_scan("firing", "warning").to_string().as_bytes()).unwrap();
        assert_eq!(notification.status, AlertStatus::Firing);
        assert_eq!(notification.alerts.len(), 1);
        let alert = &notification.alerts[0];
        assert_eq!(alert.label("alertname"), Some("PortScanDetected"));
        assert_eq!(alert.label("missing"), None);
        assert_eq!(alert.starts_at, "2025-05-01T10:00:00.123456789Z");
        let resolved = parse(port_scan("resolved", "warning").to_string().as_bytes()).unwrap();
        assert_eq!(resolved.alerts[0].status, AlertStatus::Resolved);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut body = port_scan("firing", "warning");
            edit(&mut body);
            parse(body.to_string().as_bytes())
        };
        assert!(matches!(parse(b""), Err(PayloadError::Malformed(_))));
        assert!(matches!(parse(b"{not json"), Err(PayloadError::Malformed(_))));
        assert!(matches!(parse(b"[]"), Err(PayloadError::Malformed(_))));
        assert_eq!(with(&|b| b["version"] = json!("3")), Err(PayloadError::Version("3".into())));
        assert!(matches!(with(&|b| b["version"] = json!(4)), Err(PayloadError::Malformed(_))), "a number");
        assert_eq!(with(&|b| b["alerts"] = json!([])), Err(PayloadError::NoAlerts));
        assert!(matches!(with(&|b| b["alerts"][0]["status"] = json!("pending")), Err(PayloadError::Malformed(_))));
        assert!(matches!(with(&|b| b["alerts"][0]["labels"] = json!("x")), Err(PayloadError::Malformed(_))));
        assert!(matches!(with(&|b| b["alerts"][0]["labels"]["severity"] = json!(2)), Err(PayloadError::Malformed(_))));
        assert!(matches!(
            with(&|b| b["alerts"][0].as_object_mut().unwrap().remove("startsAt").map(drop).unwrap()),
            Err(PayloadError::Malformed(_))
        ));
        assert_eq!(
            with(&|b| b["alerts"][0]["startsAt"] = json!("yesterday")),
            Err(PayloadError::StartsAt { index: 0, value: "yesterday".into() })
        );
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let mut body = port_scan("firing", "warning");
        body["commonAnnotations"]["padding"] = json!("x".repeat(MAX_BODY_BYTES));
        assert_eq!(parse(body.to_string().as_bytes()), Err(PayloadError::TooLarge));
        let exactly = vec![b' '; MAX_BODY_BYTES];
        assert!(matches!(parse(&exactly), Err(PayloadError::Malformed(_))), "the limit itself is allowed");
    }
}
