//! The device's memory of an alert-driven quarantine: the JSON in its
//! `wardwatch.io/quarantine` annotation.

use serde::{Deserialize, Serialize};
use wardwatch_crds::Severity;

/// What isolated the device: which alert, how severe, since when, and when the webhook heard it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AlertQuarantine {
    pub alert: String,
    pub severity: Severity,
    /// The alert's `startsAt` (RFC 3339).
    pub starts_at: String,
    /// When the webhook received it (RFC 3339).
    pub received_at: String,
}

impl AlertQuarantine {
    /// The annotation's value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("the record serialises")
    }

    /// The record an annotation holds, if it is one.
    pub fn from_annotation(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }

    /// `network alert PortScanDetected (warning) since <startsAt>`.
    pub fn describe(&self) -> String {
        format!("network alert {} ({}) since {}", self.alert, self.severity.as_str(), self.starts_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_round_trips_as_small_json() {
        let record = AlertQuarantine {
            alert: "PortScanDetected".into(),
            severity: Severity::Warning,
            starts_at: "2025-05-01T10:00:00Z".into(),
            received_at: "2025-05-01T10:00:11Z".into(),
        };
        let text = record.to_annotation();
        assert_eq!(
            text,
            r#"{"alert":"PortScanDetected","severity":"warning","startsAt":"2025-05-01T10:00:00Z","receivedAt":"2025-05-01T10:00:11Z"}"#
        );
        assert_eq!(AlertQuarantine::from_annotation(&text), Some(record.clone()));
        assert_eq!(AlertQuarantine::from_annotation("yes"), None);
        assert_eq!(record.describe(), "network alert PortScanDetected (warning) since 2025-05-01T10:00:00Z");
    }
}
