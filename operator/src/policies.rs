//! NetworkPolicies: a ward's baseline (devices may reach only the gateway, DNS and the allowed
//! destinations) and a device's quarantine (nothing in or out but the metrics scrape).

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use serde_json::{Value, json};
use wardwatch_crds::network::PortRule;
use wardwatch_crds::{MonitoredDevice, Ward};

use crate::names::{self, EXPORTER_METRICS_PORT, HL7_PORT};

fn port(rule: &PortRule) -> Value {
    let protocol = serde_json::to_value(rule.protocol).expect("protocol serialises");
    match rule.port {
        Some(port) => json!({"protocol": protocol, "port": port}),
        // NetworkPolicy has no ICMP; a protocol-less peer rule stands for "any port" there.
        None => json!({}),
    }
}

/// The ward's baseline: device pods may talk to the gateway (HL7), to cluster DNS, and to the
/// allowed CIDRs on the allowed ports; only the exporter's metrics port is reachable from outside.
pub fn baseline_policy(ward: &Ward) -> NetworkPolicy {
    let mut device_pods = names::ward_labels(ward);
    device_pods.insert(names::LABEL_COMPONENT.to_owned(), "device".to_owned());
    let mut egress = vec![
        json!({"to": [{"podSelector": {"matchLabels": names::gateway_selector(ward)}}],
               "ports": [{"protocol": "TCP", "port": HL7_PORT}]}),
        json!({"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}),
    ];
    let network = &ward.spec.network;
    if !network.allowed_cidrs.is_empty() {
        let to: Vec<Value> = network.allowed_cidrs.iter().map(|cidr| json!({"ipBlock": {"cidr": cidr}})).collect();
        let ports: Vec<Value> = network.allowed_ports.iter().map(port).filter(|p| p != &json!({})).collect();
        egress.push(if ports.is_empty() { json!({"to": to}) } else { json!({"to": to, "ports": ports}) });
    }
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names::owned_metadata(ward, names::baseline_policy(ward), names::ward_labels(ward)),
        "spec": {
            "podSelector": {"matchLabels": device_pods},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": EXPORTER_METRICS_PORT}]}],
            "egress": egress,
        },
    }))
    .expect("the baseline NetworkPolicy is valid")
}

/// A quarantined device's isolation: no egress at all, ingress only to the exporter's metrics
/// port, so the device stays observed while it can reach nothing.
pub fn quarantine_policy(ward: &Ward, device: &MonitoredDevice) -> NetworkPolicy {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names::owned_metadata(device, names::device_quarantine_policy(device), names::device_labels(ward, device)),
        "spec": {
            "podSelector": {"matchLabels": names::device_selector(device)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": EXPORTER_METRICS_PORT}]}],
            "egress": [],
        },
    }))
    .expect("the quarantine NetworkPolicy is valid")
}

/// Whether `device` is isolated, and why.
pub fn quarantine_reason(device: &MonitoredDevice) -> Option<String> {
    if device.spec.quarantine {
        return Some(format!("spec.quarantine is set on {}", device.name_any()));
    }
    None
}
