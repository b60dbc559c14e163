//! NetworkPolicies: a ward's baseline (devices may reach only the gateway, DNS and the allowed
//! destinations) and a device's quarantine (nothing in or out but the metrics scrape).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use wardwatch_crds::network::PortRule;
use wardwatch_crds::{MonitoredDevice, Ward};

use crate::names::{self, CLUSTER_DNS_PORT, EXPORTER_METRICS_PORT, HL7_PORT};
use crate::quarantine::AlertQuarantine;

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels), ..LabelSelector::default() }
}

fn port(protocol: &str, port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(IntOrString::Int(port)),
        ..NetworkPolicyPort::default()
    }
}

/// A ward's allowed port as a NetworkPolicy port; none for a rule without a port (NetworkPolicy
/// has no ICMP: a protocol-less peer rule stands for "any port" there).
fn allowed_port(rule: &PortRule) -> Option<NetworkPolicyPort> {
    let protocol = serde_json::to_value(rule.protocol).expect("protocol serialises");
    rule.port.map(|number| port(protocol.as_str().unwrap_or_default(), number))
}

/// Ingress only to the exporter's metrics port (Prometheus scrapes it).
fn metrics_ingress() -> Vec<NetworkPolicyIngressRule> {
    vec![NetworkPolicyIngressRule { ports: Some(vec![port("TCP", EXPORTER_METRICS_PORT)]), from: None }]
}

fn policy_types() -> Option<Vec<String>> {
    Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
}

/// The ward's baseline: device pods may talk to the gateway (HL7), to cluster DNS, and to the
/// allowed CIDRs on the allowed ports; only the exporter's metrics port is reachable from outside.
///
/// Quarantined devices (by name) are left out of it. NetworkPolicies add up: a pod may send
/// what any policy selecting it allows, so while the baseline still selected a quarantined
/// device, its quarantine policy (which allows nothing) would take nothing away.
pub fn baseline_policy(ward: &Ward, quarantined: &BTreeSet<String>) -> NetworkPolicy {
    let mut device_pods = names::ward_labels(ward);
    device_pods.insert(names::LABEL_COMPONENT.to_owned(), "device".to_owned());
    // Always a list, empty while nobody is isolated: an applier without a record of what it
    // applied compares the live object with what it wants, and a field the operator merely
    // stopped writing would look as wanted.
    let not_quarantined: Vec<LabelSelectorRequirement> = (!quarantined.is_empty())
        .then(|| LabelSelectorRequirement {
            key: names::LABEL_DEVICE.to_owned(),
            operator: "NotIn".to_owned(),
            values: Some(quarantined.iter().cloned().collect()),
        })
        .into_iter()
        .collect();
    let pod_selector = LabelSelector { match_labels: Some(device_pods), match_expressions: Some(not_quarantined) };
    let mut egress = vec![
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(selector(names::gateway_selector(ward))),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(vec![port("TCP", HL7_PORT)]),
        },
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                pod_selector: Some(selector(BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]))),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(vec![port("UDP", CLUSTER_DNS_PORT), port("TCP", CLUSTER_DNS_PORT)]),
        },
    ];
    let network = &ward.spec.network;
    if !network.allowed_cidrs.is_empty() {
        let to = network
            .allowed_cidrs
            .iter()
            .map(|cidr| NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: cidr.clone(), except: None }),
                ..NetworkPolicyPeer::default()
            })
            .collect();
        let ports: Vec<NetworkPolicyPort> = network.allowed_ports.iter().filter_map(allowed_port).collect();
        egress.push(NetworkPolicyEgressRule { to: Some(to), ports: (!ports.is_empty()).then_some(ports) });
    }
    NetworkPolicy {
        metadata: names::owned_metadata(ward, names::baseline_policy(ward), names::ward_labels(ward)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pod_selector),
            policy_types: policy_types(),
            ingress: Some(metrics_ingress()),
            egress: Some(egress),
        }),
    }
}

/// A quarantined device's isolation: no egress at all, ingress only to the exporter's metrics
/// port, so the device stays observed while it can reach nothing.
pub fn quarantine_policy(ward: &Ward, device: &MonitoredDevice) -> NetworkPolicy {
    NetworkPolicy {
        metadata: names::owned_metadata(
            device,
            names::device_quarantine_policy(device),
            names::device_labels(ward, device),
        ),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(names::device_selector(device))),
            policy_types: policy_types(),
            ingress: Some(metrics_ingress()),
            egress: Some(Vec::new()),
        }),
    }
}

/// The names of `ward`'s devices among `devices` that are isolated now (by hand or by an
/// alert): what the ward's baseline policy leaves out.
pub fn quarantined_devices<'a>(
    ward: &Ward,
    devices: impl IntoIterator<Item = &'a MonitoredDevice>,
) -> BTreeSet<String> {
    devices
        .into_iter()
        .filter(|d| d.namespace() == ward.namespace() && d.spec.ward == ward.name_any())
        .filter(|d| quarantine_reason(d).is_some())
        .map(|d| d.name_any())
        .collect()
}

/// Whether `device` is isolated, and why: by hand (`spec.quarantine`), or by a network alert
/// that the quarantine webhook recorded in the annotation `wardwatch.io/quarantine`.
pub fn quarantine_reason(device: &MonitoredDevice) -> Option<String> {
    if device.spec.quarantine {
        return Some(format!("spec.quarantine is set on {}", device.name_any()));
    }
    let recorded = device.annotations().get(names::QUARANTINE_ANNOTATION)?;
    let why = AlertQuarantine::from_annotation(recorded)
        .map_or_else(|| format!("annotation {} is set", names::QUARANTINE_ANNOTATION), |r| r.describe());
    let namespace = device.namespace().map(|ns| format!(" -n {ns}")).unwrap_or_default();
    Some(format!(
        "{why}; lift with kubectl annotate monitoreddevice {}{namespace} {}-",
        device.name_any(),
        names::QUARANTINE_ANNOTATION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{icu_ward, monitor};
    use wardwatch_crds::Severity;

    fn annotated(value: &str) -> MonitoredDevice {
        let mut device = monitor("bed-01");
        device.annotations_mut().insert(names::QUARANTINE_ANNOTATION.to_owned(), value.to_owned());
        device
    }

    #[test]
    fn an_alerts_annotation_quarantines_and_names_the_alert() {
        assert_eq!(quarantine_reason(&monitor("bed-01")), None);
        let record = AlertQuarantine {
            alert: "PortScanDetected".into(),
            severity: Severity::Warning,
            starts_at: "2025-05-01T10:00:00Z".into(),
            received_at: "2025-05-01T10:00:11Z".into(),
        };
        let device = annotated(&record.to_annotation());
        assert_eq!(
            quarantine_reason(&device).unwrap(),
            "network alert PortScanDetected (warning) since 2025-05-01T10:00:00Z; \
             lift with kubectl annotate monitoreddevice bed-01 -n st-mary wardwatch.io/quarantine-"
        );
        assert!(crate::desired::device_objects(&icu_ward(), &device).iter().any(|o| o.kind() == "NetworkPolicy"));
    }

    #[test]
    fn an_unreadable_annotation_still_quarantines() {
        let reason = quarantine_reason(&annotated("by hand")).unwrap();
        assert!(reason.starts_with("annotation wardwatch.io/quarantine is set; lift with"), "{reason}");
    }

    #[test]
    fn spec_quarantine_still_isolates() {
        let mut device = monitor("bed-01");
        device.spec.quarantine = true;
        assert_eq!(quarantine_reason(&device).unwrap(), "spec.quarantine is set on bed-01");
    }
}
