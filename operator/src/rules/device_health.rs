//! Device-health alerts: an exporter or the gateway down, a device silent, capture dropping
//! packets, HL7 NAKs or parse errors, the gateway not hearing from a device.

use wardwatch_crds::Severity;

use super::alert::{Alert, Category, DEVICE, Scope};

/// A device is silent after this many of its report intervals without HL7, plus a grace for
/// the scrape and a slow ACK.
pub const SILENT_INTERVALS: u32 = 3;
pub const SILENT_GRACE_SECONDS: u32 = 15;

/// Series of the device pods' exporters (the gateway's exporter sees every device's HL7 again,
/// so device-side HL7 rules read only the device's own).
const DEVICE_EXPORTER: &str = r#"component="device""#;

pub fn alerts(scope: &Scope) -> Vec<Alert> {
    let last = scope.series("wardwatch_hl7_last_message_timestamp_seconds", &[DEVICE_EXPORTER]);
    let interval = scope.series("wardwatch_hl7_expected_report_interval_seconds", &[DEVICE_EXPORTER]);
    let silent_after = format!("{SILENT_INTERVALS} * {interval} + {SILENT_GRACE_SECONDS}");
    let gateway_seen = scope.series("wardwatch_gateway_device_last_seen_timestamp_seconds", &[]);
    vec![
        Alert {
            name: "WardwatchExporterDown".into(),
            expr: format!("{} == 0", scope.series("up", &[r#"endpoint="metrics""#])),
            for_: "30s".into(),
            severity: Severity::Warning,
            category: Category::Device,
            labels: vec![],
            summary: format!("The packet-capturing exporter of {{{{ with $labels.device }}}}{DEVICE}{{{{ else }}}}the ward gateway{{{{ end }}}} cannot be scraped"),
            description: "Prometheus has not scraped the exporter sidecar for 30 s: the device's network and its HL7 are unwatched. Check the pod (`kubectl get pods -l wardwatch.io/device=<device>`), the exporter container's log, and its capabilities (NET_RAW, NET_ADMIN).".into(),
        },
        Alert {
            name: "WardGatewayDown".into(),
            expr: format!("{} == 0", scope.series("up", &[r#"endpoint="gateway-metrics""#])),
            for_: "30s".into(),
            severity: Severity::Critical,
            category: Category::Device,
            labels: vec![],
            summary: "The central station (HL7 gateway) of ward {{ $labels.ward }} cannot be scraped".into(),
            description: "Prometheus has not scraped the ward gateway for 30 s. Devices may be unable to deliver their observations: check the gateway pod and its log, and the central station's display.".into(),
        },
        Alert {
            name: "DeviceSilent".into(),
            expr: format!("time() - {last} > {silent_after} and {last} > 0 and {interval} > 0"),
            for_: "0s".into(),
            severity: Severity::Critical,
            category: Category::Device,
            labels: vec![],
            summary: format!("No telemetry from {DEVICE} for {{{{ $value | humanizeDuration }}}}"),
            description: format!(
                "The device has sent no HL7 for more than {SILENT_INTERVALS} of its report intervals (plus {SILENT_GRACE_SECONDS} s): the patient is not being monitored centrally, and their clinical alerts are held back while this fires. Check the patient and the device at the bedside (power, cable, network), then the twin's log."
            ),
        },
        Alert {
            name: "CaptureDroppingPackets".into(),
            expr: format!(
                "sum without (reason) (rate({}[1m])) > 0",
                scope.series("wardwatch_capture_dropped_packets_total", &[])
            ),
            for_: "1m".into(),
            severity: Severity::Warning,
            category: Category::Device,
            labels: vec![],
            summary: format!("The exporter of {{{{ with $labels.device }}}}{DEVICE}{{{{ else }}}}the ward gateway{{{{ end }}}} drops {{{{ $value | humanize }}}} packets/s"),
            description: "libpcap reports packets dropped by the kernel or the interface for a minute: intrusion rules and vitals may miss traffic. Raise the exporter's CPU limit or --buffer-size.".into(),
        },
        Alert {
            name: "HL7NegativeAcks".into(),
            expr: format!(
                r#"sum without (type, result) (increase({}[5m])) > 0"#,
                scope.series("wardwatch_hl7_messages_total", &[DEVICE_EXPORTER, r#"type="ack""#, r#"result=~"error|rejected""#])
            ),
            for_: "0s".into(),
            severity: Severity::Warning,
            category: Category::Device,
            labels: vec![],
            summary: format!("The gateway refused {{{{ $value | humanize }}}} messages of {DEVICE} in 5 minutes"),
            description: "The central station answered the device's HL7 with AE or AR: its observations are not being recorded. Check the device's HL7 configuration (version, message type, required segments) and the gateway's log.".into(),
        },
        Alert {
            name: "HL7ParseErrors".into(),
            expr: format!(
                "sum without (reason) (increase({}[5m])) > 0",
                scope.series("wardwatch_hl7_parse_errors_total", &[DEVICE_EXPORTER])
            ),
            for_: "0s".into(),
            severity: Severity::Warning,
            category: Category::Device,
            labels: vec![],
            summary: format!("{{{{ $value | humanize }}}} unreadable HL7 messages or observations from {DEVICE} in 5 minutes"),
            description: "The exporter could not read some of the device's HL7 (see wardwatch_hl7_parse_errors_total by reason): values may be missing from the vital signs. Check the device's firmware and units.".into(),
        },
        Alert {
            name: "GatewayNotHearingFromDevice".into(),
            expr: format!(
                "time() - max by (namespace, hospital, ward, device) ({gateway_seen}) > on (namespace, ward, device) group_left (patient, bed) ({SILENT_INTERVALS} * max by (namespace, ward, device, patient, bed) ({interval} > 0) + {SILENT_GRACE_SECONDS})"
            ),
            for_: "0s".into(),
            severity: Severity::Warning,
            category: Category::Device,
            labels: vec![],
            summary: format!("The central station has not heard from {DEVICE} for {{{{ $value | humanizeDuration }}}}"),
            description: format!(
                "The gateway accepted no message from the device for more than {SILENT_INTERVALS} report intervals (plus {SILENT_GRACE_SECONDS} s) while its exporter is up. Check the network path between the device and the gateway (NetworkPolicy, quarantine) and the device's HL7 destination."
            ),
        },
    ]
}
