//! Contact rules on each flow the device opens: a destination outside the allowed CIDRs
//! (external contact), and a transport or port outside the allowed list (unexpected port).

use super::IdsConfig;
use crate::decode::packet::Protocol;
use crate::flows::table::FlowStart;

/// What one device-opened flow breaks: (external contact, unexpected port) descriptions.
pub fn judge(config: &IdsConfig, flow: &FlowStart) -> (Option<String>, Option<String>) {
    if !config.is_device(flow.client, true) || config.is_exempt_destination(flow.server) {
        return (None, None);
    }
    let destination = format!("{}:{}/{:?}", flow.server, flow.server_port, flow.protocol);
    let external = (!config.allowed_cidrs.contains(flow.server))
        .then(|| format!("{} contacted {destination}, outside the allowed CIDRs", flow.client));
    let unexpected = (!config.port_allowed(flow.protocol, flow.server_port))
        .then(|| format!("{} contacted {destination}, a protocol or port not allowed", flow.client));
    (external, unexpected)
}

/// Whether periodic connections to this flow's destination are the device's normal life:
/// reconnects to its HL7 gateway, and services that poll by design (NTP, DNS: the ignored
/// ports). Loopback, multicast and the device's own addresses never count either.
pub fn beacon_exempt(config: &IdsConfig, flow: &FlowStart) -> bool {
    config.is_exempt_destination(flow.server)
        || (flow.protocol == Protocol::Tcp && config.hl7_ports.contains(&flow.server_port))
        || config.beaconing_ignored_ports.allows(flow.protocol, flow.server_port)
}
