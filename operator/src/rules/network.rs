//! Network alerts: one per intrusion rule of the exporter.

use wardwatch_crds::Severity;

use super::alert::{Alert, Category, DEVICE, Scope};

/// An exporter intrusion rule and its alert.
#[derive(Clone, Copy, Debug)]
pub struct IntrusionAlert {
    /// The exporter's `rule` label.
    pub rule: &'static str,
    pub alert: &'static str,
    /// The exporter's severity for the rule.
    pub severity: Severity,
    /// Whether the rule is about what the device itself does (the probes, SYNs, flows or bytes
    /// it sends). When false the device only witnessed something (an ARP announcement it saw),
    /// so the alert says nothing against it and the quarantine webhook never isolates it.
    pub device_acts: bool,
    pub what: &'static str,
    pub advice: &'static str,
}

use Severity::{Critical, Warning};

pub const INTRUSION_ALERTS: &[IntrusionAlert] = &[
    IntrusionAlert {
        rule: "port_scan",
        alert: "PortScanDetected",
        severity: Warning,
        device_acts: true,
        what: "probed many ports or hosts within one window",
        advice: "Find out who uses the device (a compromised workstation scans its neighbours); isolate it if nobody expects a scan.",
    },
    IntrusionAlert {
        rule: "syn_flood",
        alert: "SynFloodDetected",
        severity: Critical,
        device_acts: true,
        what: "sent a SYN flood (many half-open connections to one destination)",
        advice: "Isolate the source device and check the target's availability.",
    },
    IntrusionAlert {
        rule: "external_contact",
        alert: "ExternalContactDetected",
        severity: Critical,
        device_acts: true,
        what: "contacted an address outside the ward's allowed networks",
        advice: "Check the destination (vendor service or command-and-control?) and isolate the device if unexplained.",
    },
    IntrusionAlert {
        rule: "unexpected_port",
        alert: "UnexpectedPortDetected",
        severity: Warning,
        device_acts: true,
        what: "used a protocol or port the ward does not allow",
        advice: "Check the device's configuration and firmware; add the port to spec.network.allowedPorts if it is legitimate.",
    },
    IntrusionAlert {
        rule: "arp_spoof",
        alert: "ArpSpoofDetected",
        severity: Critical,
        device_acts: false,
        what: "saw an IP address announced from a new MAC address (ARP spoofing)",
        advice: "Find the announcing MAC on the switch (the device named here only saw the announcement and is not quarantined for it); the ward's traffic may be intercepted.",
    },
    IntrusionAlert {
        rule: "exfiltration",
        alert: "ExfiltrationDetected",
        severity: Critical,
        device_acts: true,
        what: "sent far more data than its learnt baseline",
        advice: "Isolate the device and find out what left: patient data may be leaving the hospital.",
    },
    IntrusionAlert {
        rule: "beaconing",
        alert: "BeaconingDetected",
        severity: Warning,
        device_acts: true,
        what: "connects to one destination at a near-constant period (beaconing)",
        advice: "Check the destination: malware calls home on a schedule.",
    },
];

/// The definition of the network alert named `alertname`, if it is one.
pub fn intrusion_alert(alertname: &str) -> Option<&'static IntrusionAlert> {
    INTRUSION_ALERTS.iter().find(|intrusion| intrusion.alert == alertname)
}

/// How long a network alert stays firing after the exporter's rule last fired: the exporter's
/// counter must still show an increase over this window.
pub const HOLD: &str = "2m";

/// Labels a network alert keeps; the gateway's exporter has no `device` label, so it gets the
/// gateway's name (an unknown device to the quarantine webhook, which ignores it).
const BY: &str = "namespace, hospital, ward, device, patient, bed, component";

pub fn alerts(scope: &Scope, gateway: &str) -> Vec<Alert> {
    INTRUSION_ALERTS
        .iter()
        .map(|intrusion| {
            let rule = format!(r#"rule="{}""#, intrusion.rule);
            let fired = scope.series("wardwatch_ids_alerts_total", &[&rule]);
            let active = scope.series("wardwatch_ids_alert_active", &[&rule]);
            let expr = format!(
                r#"label_replace(max by ({BY}) (increase({fired}[{HOLD}])) > 0 or max by ({BY}) ({active}) > 0, "device", "{gateway}", "device", "")"#
            );
            Alert {
                name: intrusion.alert.to_owned(),
                expr,
                for_: "0s".into(),
                severity: intrusion.severity,
                category: Category::Network,
                labels: vec![("rule", intrusion.rule.to_owned())],
                summary: format!("{DEVICE} {} (ward {{{{ $labels.ward }}}})", intrusion.what),
                description: format!(
                    "The exporter's {} rule fired for {DEVICE}. {} Its alert lines (the exporter's log) name the addresses.",
                    intrusion.rule, intrusion.advice
                ),
            }
        })
        .collect()
}
