//! Intrusion rules over the pipeline's events, in packet time (never the wall clock).
//!
//! Counting rules (port scan, SYN flood, exfiltration) count in tumbling windows of
//! [`IdsConfig::window`]. Every rule runs the same state machine: it fires once when its
//! condition starts to hold ([`AlertChange::Fired`]), stays active while the condition holds in
//! each window, and clears ([`AlertChange::Cleared`]) at the end of a window in which it did not
//! hold. Every table a rule keeps is capped by [`IdsConfig::max_tracked`]; what does not fit is
//! counted ([`Ids::take_untracked`]), not remembered. Windows start at the first packet.
//!
//! | rule | fires when (defaults, medium sensitivity) | severity |
//! | --- | --- | --- |
//! | `port_scan` | the device probes (TCP SYNs, or new UDP/ICMP flows) 15 distinct destination ports or 10 distinct hosts in a window | warning |
//! | `syn_flood` | the device sends one destination 100 SYNs/s over a window (1000 in 10 s) and at least 50% of them stay half-open | critical |
//! | `external_contact` | the device opens a flow to an address outside the allowed CIDRs (loopback, multicast, broadcast and its own addresses are never outside) | critical |
//! | `unexpected_port` | the device opens a flow with a transport/port not allowed (HL7 ports over TCP always are) | warning |
//! | `arp_spoof` | an IPv4 address is announced from a different MAC than before (any announcement the capture sees: the device is a witness, not the announcer) | critical |
//! | `exfiltration` | the device's egress bytes in a window exceed 10 x its baseline and 256 KiB; the baseline is an EWMA over the first 6 windows, frozen after | critical |
//! | `beaconing` | 6 connections from the device to one destination whose intervals (at least 1 s) vary by a coefficient of variation under 0.1; HL7 ports and the ignored ports (UDP/123, UDP/53) are exempt; it stays active until a connection is two periods overdue | warning |
//!
//! Every rule but `arp_spoof` concerns only what the device itself does: probes, SYNs and flows
//! whose source is the device ([`IdsConfig::is_device`]: one of its addresses, or, when none are
//! configured, the side that opens the flow, as in a capture file). A scan or flood aimed at the
//! device is the scanner's alert, raised by the scanner's own exporter, never the target's.
//!
//! `high` sensitivity halves the counts, rates, factor and minimum volume; `low` doubles them.

mod arp_spoof;
mod beaconing;
pub mod config;
mod contact;
mod exfiltration;
mod port_scan;
mod syn_flood;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

pub use config::{IdsConfig, Sensitivity, Thresholds};
pub use exfiltration::LEARNING_WINDOWS as EXFILTRATION_LEARNING_WINDOWS;

use crate::decode::packet::{ArpSender, Protocol};
use crate::flows::table::FlowStart;

/// The intrusion rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    PortScan,
    SynFlood,
    ExternalContact,
    UnexpectedPort,
    ArpSpoof,
    Exfiltration,
    Beaconing,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Self::PortScan,
        Self::SynFlood,
        Self::ExternalContact,
        Self::UnexpectedPort,
        Self::ArpSpoof,
        Self::Exfiltration,
        Self::Beaconing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PortScan => "port_scan",
            Self::SynFlood => "syn_flood",
            Self::ExternalContact => "external_contact",
            Self::UnexpectedPort => "unexpected_port",
            Self::ArpSpoof => "arp_spoof",
            Self::Exfiltration => "exfiltration",
            Self::Beaconing => "beaconing",
        }
    }

    /// Each rule's fixed severity: reconnaissance and odd-but-not-harmful behaviour warn; attacks
    /// on availability, on the link, and data leaving or reaching outside are critical.
    pub fn severity(self) -> Severity {
        match self {
            Self::PortScan | Self::UnexpectedPort | Self::Beaconing => Severity::Warning,
            Self::SynFlood | Self::ExternalContact | Self::ArpSpoof | Self::Exfiltration => Severity::Critical,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// A rule that started to fire, at packet time `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub rule: Rule,
    pub severity: Severity,
    pub at: Duration,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AlertChange {
    Fired(Alert),
    Cleared { rule: Rule, at: Duration },
}

/// What a rule made of one input.
#[derive(Debug, PartialEq)]
pub enum Tracked<T> {
    /// The condition holds; here is what it is.
    Holds(T),
    Quiet,
    /// The rule's table was full: the input was not looked at.
    Untracked,
}

#[derive(Clone, Copy, Debug, Default)]
struct RuleState {
    active: bool,
    held_this_window: bool,
}

/// The rules and their state.
#[derive(Debug)]
pub struct Ids {
    config: IdsConfig,
    thresholds: Thresholds,
    window_start: Option<Duration>,
    /// When the current window ends (`window_start` + the window): packet time before it
    /// closes nothing, which is most packets' case.
    window_end: Option<Duration>,
    states: [RuleState; Rule::ALL.len()],
    port_scan: port_scan::PortScan,
    syn_flood: syn_flood::SynFlood,
    arp_spoof: arp_spoof::ArpSpoof,
    exfiltration: exfiltration::Exfiltration,
    beaconing: beaconing::Beaconing,
    changes: Vec<AlertChange>,
    untracked: u64,
}

impl Ids {
    pub fn new(config: IdsConfig) -> Self {
        Self {
            thresholds: config.thresholds(),
            config,
            window_start: None,
            window_end: None,
            states: Default::default(),
            port_scan: Default::default(),
            syn_flood: Default::default(),
            arp_spoof: Default::default(),
            exfiltration: Default::default(),
            beaconing: Default::default(),
            changes: Vec::new(),
            untracked: 0,
        }
    }

    pub fn is_active(&self, rule: Rule) -> bool {
        self.states[rule.index()].active
    }

    /// Moves packet time to `now`, closing the windows that ended. A gap of many windows closes
    /// two (the one that ended, then a quiet one, which clears every rule) and skips the rest.
    #[inline]
    pub fn advance(&mut self, now: Duration) {
        if self.window_end.is_none_or(|end| now >= end) {
            self.close_windows(now);
        }
    }

    fn close_windows(&mut self, now: Duration) {
        let window = self.config.window.max(Duration::from_millis(1));
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            self.window_end = Some(now + window);
            return;
        };
        let mut start = start;
        for _ in 0..2 {
            if now < start + window {
                break;
            }
            start += window;
            self.close_window(start);
        }
        if now >= start + window {
            let skipped = (now - start).as_nanos() / window.as_nanos();
            start += window * u32::try_from(skipped).unwrap_or(u32::MAX);
        }
        self.window_start = Some(start);
        self.window_end = Some(start + window);
    }

    fn close_window(&mut self, end: Duration) {
        if self.beaconing.still_beaconing(end) {
            self.states[Rule::Beaconing.index()].held_this_window = true;
        }
        self.port_scan.close_window();
        self.syn_flood.close_window();
        self.exfiltration.close_window();
        for rule in Rule::ALL {
            let state = &mut self.states[rule.index()];
            if state.active && !state.held_this_window {
                state.active = false;
                self.changes.push(AlertChange::Cleared { rule, at: end });
            }
            state.held_this_window = false;
        }
    }

    fn hold(&mut self, rule: Rule, at: Duration, description: String) {
        let state = &mut self.states[rule.index()];
        state.held_this_window = true;
        if !state.active {
            state.active = true;
            self.changes.push(AlertChange::Fired(Alert { rule, severity: rule.severity(), at, description }));
        }
    }

    fn apply(&mut self, rule: Rule, at: Duration, outcome: Tracked<String>) {
        match outcome {
            Tracked::Holds(description) => self.hold(rule, at, description),
            Tracked::Quiet => {}
            Tracked::Untracked => self.untracked += 1,
        }
    }

    /// The first packet of a flow.
    pub fn on_flow_start(&mut self, flow: &FlowStart) {
        let opened_by_device = self.config.is_device(flow.client, true);
        // TCP probes are counted by their SYNs (see [`Ids::on_syn`]), which a repeated scan
        // sends again even while its flows are still in the flow table. Flows opened to the
        // device are someone else's probes.
        if opened_by_device && flow.protocol != Protocol::Tcp {
            self.scan_probe(flow.at, flow.client, flow.server, flow.server_port);
        }
        let (external, unexpected) = contact::judge(&self.config, flow);
        if let Some(description) = external {
            self.hold(Rule::ExternalContact, flow.at, description);
        }
        if let Some(description) = unexpected {
            self.hold(Rule::UnexpectedPort, flow.at, description);
        }
        if opened_by_device && !contact::beacon_exempt(&self.config, flow) {
            let t = self.thresholds;
            let destination = (flow.server, flow.server_port, flow.protocol);
            let cap = self.config.max_tracked;
            let beacon = self.beaconing.on_connection(
                destination,
                flow.at,
                t.beaconing_connections,
                t.beaconing_max_jitter,
                cap,
            );
            self.apply(Rule::Beaconing, flow.at, beacon);
        }
    }

    /// A probe by the device (`client`) of `server`:`port`.
    fn scan_probe(&mut self, at: Duration, client: IpAddr, server: IpAddr, port: u16) {
        let t = self.thresholds;
        let scan = self.port_scan.on_probe(
            client,
            server,
            port,
            t.port_scan_ports,
            t.port_scan_hosts,
            self.config.max_tracked,
        );
        self.apply(Rule::PortScan, at, scan);
    }

    /// A TCP SYN without ACK from `client` to `server`:`port`. Only the device's own SYNs count
    /// (for a port scan and a SYN flood alike): SYNs aimed at the device are its attacker's alert.
    pub fn on_syn(&mut self, at: Duration, client: IpAddr, server: IpAddr, port: u16) {
        if !self.config.is_device(client, true) {
            return;
        }
        self.scan_probe(at, client, server, port);
        let t = self.thresholds;
        let flood =
            self.syn_flood.on_syn(server, t.syn_flood_syns, t.syn_flood_half_open_ratio, self.config.max_tracked);
        self.apply(Rule::SynFlood, at, flood);
    }

    /// `client` completed a handshake with `server`; only the device's own handshakes offset
    /// its SYNs, as only its SYNs are counted.
    pub fn on_handshake_completed(&mut self, client: IpAddr, server: IpAddr) {
        if self.config.is_device(client, true) {
            self.syn_flood.on_handshake(server);
        }
    }

    /// `bytes` on the wire from `src` to `dst`; `from_client` when `src` opened the flow.
    /// The settings the rules run with.
    pub fn config(&self) -> &IdsConfig {
        &self.config
    }

    pub fn on_bytes(&mut self, at: Duration, src: IpAddr, dst: IpAddr, from_client: bool, bytes: u64) {
        if !self.config.is_device(src, from_client) || self.config.is_exempt_destination(dst) {
            return;
        }
        let t = self.thresholds;
        if let Some(description) = self.exfiltration.on_egress(bytes, t.exfiltration_factor, t.exfiltration_min_bytes) {
            self.hold(Rule::Exfiltration, at, description);
        }
    }

    pub fn on_arp(&mut self, at: Duration, sender: ArpSender) {
        let spoof = self.arp_spoof.on_arp(sender, self.config.max_tracked);
        self.apply(Rule::ArpSpoof, at, spoof);
    }

    /// The alerts fired and cleared since the last call, in order.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, AlertChange> {
        self.changes.drain(..)
    }

    /// Inputs not looked at because a rule's table was full, since the last call.
    pub fn take_untracked(&mut self) -> u64 {
        std::mem::take(&mut self.untracked)
    }
}

#[cfg(test)]
mod tests;
