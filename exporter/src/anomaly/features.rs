//! Network feature windows: what one device did in one tumbling window of packet time
//! ([`WINDOW`]), counted from the pipeline's events. Pure: events in, [`Window`]s out.
//!
//! The pipeline's events do not all carry addresses: a [`Event::TcpReset`] or an HL7 message
//! belongs to the packet whose [`Event::FlowBytes`] came just before it (the pipeline reports a
//! packet's events in that order), so the builder remembers the last packet's endpoints.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::decode::packet::Protocol;
use crate::ids::config::CidrList;
use crate::pipeline::Event;

/// The length of a feature window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// The counted features of a window, in order ([`Window::raw`]).
pub const RAW_FEATURES: [&str; 20] = [
    "packets_out",
    "packets_in",
    "bytes_out",
    "bytes_in",
    "distinct_peers",
    "distinct_ports",
    "flows_out",
    "flows_in",
    "packet_size_mean",
    "packet_size_std",
    "syn_out",
    "syn_ratio",
    "half_open",
    "rst_ratio",
    "tcp_share",
    "udp_share",
    "other_share",
    "hl7_messages",
    "arp_sent",
    "arp_foreign_claims",
];

/// Features computed against what the model learnt (see [`crate::anomaly::model`]): peers and
/// destination ports the device was not seen using before.
pub const NOVELTY_FEATURES: [&str; 2] = ["novel_peers", "novel_ports"];

/// All features a model scores: the counted ones, then the novelty ones.
pub const FEATURES: usize = RAW_FEATURES.len() + NOVELTY_FEATURES.len();

/// Most distinct peers and ports remembered per window: a scan's thousands of ports are counted
/// as this many, which is still far beyond any normal window.
const MAX_DISTINCT: usize = 256;

/// What one device did in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub device: IpAddr,
    /// Unix seconds at the window's start (a multiple of [`WINDOW`]).
    pub start_s: u64,
    pub raw: [f64; RAW_FEATURES.len()],
    /// The peers it exchanged packets with (at most [`MAX_DISTINCT`]).
    pub peers: Vec<IpAddr>,
    /// The destination ports of the flows it opened, as `protocol << 16 | port`.
    pub ports: Vec<u32>,
}

/// Which addresses are devices whose windows are counted.
#[derive(Clone, Debug)]
pub enum Devices {
    /// The exporter's own device (a sidecar sees one): every packet counts, under the key
    /// [`SINGLE`]; it is outbound when its source is in `local` or, with `local` empty, when it
    /// comes from the side that opened the flow.
    Single { local: CidrList },
    /// The listed devices (address and, when known, MAC), as in a capture of a whole ward.
    Listed(Vec<(IpAddr, Option<[u8; 6]>)>),
}

/// The device key of [`Devices::Single`].
pub const SINGLE: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Counts of one device in the window being filled.
#[derive(Clone, Debug, Default)]
struct Counts {
    packets_out: u64,
    packets_in: u64,
    bytes_out: u64,
    bytes_in: u64,
    size_sum: f64,
    size_sq_sum: f64,
    flows_out: u64,
    flows_in: u64,
    syn_out: u64,
    handshakes_out: u64,
    resets: u64,
    tcp: u64,
    udp: u64,
    other: u64,
    hl7: u64,
    arp_sent: u64,
    arp_foreign: u64,
    peers: Vec<IpAddr>,
    ports: Vec<u32>,
}

fn insert_bounded<T: PartialEq>(set: &mut Vec<T>, item: T) {
    if set.len() < MAX_DISTINCT && !set.contains(&item) {
        set.push(item);
    }
}

impl Counts {
    fn window(&self, device: IpAddr, start_s: u64) -> Window {
        let packets = (self.packets_out + self.packets_in) as f64;
        let mean = if packets > 0.0 { self.size_sum / packets } else { 0.0 };
        let var = if packets > 0.0 { (self.size_sq_sum / packets - mean * mean).max(0.0) } else { 0.0 };
        let share = |n: u64| if packets > 0.0 { n as f64 / packets } else { 0.0 };
        let out = self.packets_out.max(1) as f64;
        Window {
            device,
            start_s,
            raw: [
                self.packets_out as f64,
                self.packets_in as f64,
                self.bytes_out as f64,
                self.bytes_in as f64,
                self.peers.len() as f64,
                self.ports.len() as f64,
                self.flows_out as f64,
                self.flows_in as f64,
                mean,
                var.sqrt(),
                self.syn_out as f64,
                self.syn_out as f64 / out,
                self.syn_out.saturating_sub(self.handshakes_out) as f64,
                share(self.resets),
                share(self.tcp),
                share(self.udp),
                share(self.other),
                self.hl7 as f64,
                self.arp_sent as f64,
                self.arp_foreign as f64,
            ],
            peers: self.peers.clone(),
            ports: self.ports.clone(),
        }
    }
}

/// Turns events into windows; [`WindowBuilder::take_closed`] hands over the windows that ended.
#[derive(Debug)]
pub struct WindowBuilder {
    devices: Devices,
    /// Index (Unix seconds / window length) of the window being filled.
    current: Option<u64>,
    counts: BTreeMap<IpAddr, Counts>,
    closed: Vec<Window>,
    /// The last packet's protocol ([`Event::Packet`] comes before its [`Event::FlowBytes`]).
    protocol: Option<Protocol>,
    /// The last tracked packet's source and destination.
    last: Option<(IpAddr, IpAddr)>,
}

impl WindowBuilder {
    pub fn new(devices: Devices) -> Self {
        Self { devices, current: None, counts: BTreeMap::new(), closed: Vec::new(), protocol: None, last: None }
    }

    /// The device `addr` is, if it is one.
    fn device(&self, addr: IpAddr) -> Option<IpAddr> {
        match &self.devices {
            Devices::Single { .. } => Some(SINGLE),
            Devices::Listed(list) => list.iter().any(|(ip, _)| *ip == addr).then_some(addr),
        }
    }

    /// The devices a packet from `src` to `dst` belongs to, each with whether it is outbound
    /// for it (a packet between two listed devices counts for both).
    fn attribute(&self, src: IpAddr, dst: IpAddr, from_client: bool) -> [Option<(IpAddr, bool)>; 2] {
        match &self.devices {
            Devices::Single { local } => {
                let out = if local.is_empty() { from_client } else { local.contains(src) };
                [Some((SINGLE, out)), None]
            }
            Devices::Listed(_) => [self.device(src).map(|d| (d, true)), self.device(dst).map(|d| (d, false))],
        }
    }

    /// Moves time to `at`: windows before its window close.
    pub fn advance(&mut self, at: Duration) {
        let index = at.as_secs() / WINDOW.as_secs();
        match self.current {
            None => self.current = Some(index),
            Some(current) if index > current => {
                self.close_current();
                self.current = Some(index);
            }
            _ => {}
        }
    }

    fn close_current(&mut self) {
        let Some(current) = self.current else { return };
        let start_s = current * WINDOW.as_secs();
        for (device, counts) in std::mem::take(&mut self.counts) {
            self.closed.push(counts.window(device, start_s));
        }
    }

    /// Closes the window being filled (the capture ended).
    pub fn finish(&mut self) {
        self.close_current();
        self.current = None;
    }

    /// The windows closed since the last call, in time order.
    pub fn take_closed(&mut self) -> Vec<Window> {
        std::mem::take(&mut self.closed)
    }

    fn counts(&mut self, device: IpAddr) -> &mut Counts {
        self.counts.entry(device).or_default()
    }

    pub fn record(&mut self, event: Event<'_>) {
        match event {
            Event::Packet { protocol, .. } => self.protocol = protocol,
            Event::FlowBytes { at, src, dst, from_client, wire_len } => {
                self.advance(at);
                self.last = Some((src, dst));
                let protocol = self.protocol;
                for (device, out) in self.attribute(src, dst, from_client.unwrap_or(false)).into_iter().flatten() {
                    let c = self.counts(device);
                    let size = f64::from(wire_len);
                    if out {
                        c.packets_out += 1;
                        c.bytes_out += u64::from(wire_len);
                    } else {
                        c.packets_in += 1;
                        c.bytes_in += u64::from(wire_len);
                    }
                    c.size_sum += size;
                    c.size_sq_sum += size * size;
                    match protocol {
                        Some(Protocol::Tcp) => c.tcp += 1,
                        Some(Protocol::Udp) => c.udp += 1,
                        _ => c.other += 1,
                    }
                    insert_bounded(&mut c.peers, if out { dst } else { src });
                }
            }
            Event::FlowStarted(start) => {
                self.advance(start.at);
                let port = (protocol_code(start.protocol) << 16) | u32::from(start.server_port);
                if let Some(device) = self.client_device(start.client, start.server) {
                    let c = self.counts(device);
                    c.flows_out += 1;
                    insert_bounded(&mut c.ports, port);
                }
                if let Devices::Listed(_) = self.devices
                    && let Some(device) = self.device(start.server)
                {
                    self.counts(device).flows_in += 1;
                }
            }
            Event::TcpSyn { at, client, server, .. } => {
                self.advance(at);
                if let Some(device) = self.client_device(client, server) {
                    self.counts(device).syn_out += 1;
                }
            }
            Event::TcpHandshakeCompleted { at, client, server } => {
                self.advance(at);
                if let Some(device) = self.client_device(client, server) {
                    self.counts(device).handshakes_out += 1;
                }
            }
            Event::TcpReset => {
                if let Some((src, dst)) = self.last {
                    for (device, _) in self.attribute(src, dst, true).into_iter().flatten() {
                        self.counts(device).resets += 1;
                    }
                }
            }
            Event::Hl7Message { at, .. } => {
                self.advance(at);
                if let Some((src, _)) = self.last
                    && let Some(device) = self.device(src)
                {
                    self.counts(device).hl7 += 1;
                }
            }
            Event::Arp { at, sender } => {
                self.advance(at);
                let claimed = IpAddr::V4(sender.ip);
                let (device, foreign) = match &self.devices {
                    Devices::Single { local } => (Some(SINGLE), !local.is_empty() && !local.contains(claimed)),
                    Devices::Listed(list) => match list.iter().find(|(_, mac)| *mac == Some(sender.mac)) {
                        Some((ip, _)) => (Some(*ip), *ip != claimed),
                        None => (self.device(claimed), false),
                    },
                };
                if let Some(device) = device {
                    let c = self.counts(device);
                    c.arp_sent += 1;
                    c.arp_foreign += u64::from(foreign);
                }
            }
            _ => {}
        }
    }

    /// The device that opened a flow from `client` to `server`, if any: in a sidecar, the
    /// client when it is local (or always, without local addresses).
    fn client_device(&self, client: IpAddr, _server: IpAddr) -> Option<IpAddr> {
        match &self.devices {
            Devices::Single { local } => (local.is_empty() || local.contains(client)).then_some(SINGLE),
            Devices::Listed(_) => self.device(client),
        }
    }
}

fn protocol_code(protocol: Protocol) -> u32 {
    match protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Icmp => 1,
        Protocol::Icmpv6 => 58,
        Protocol::Arp => 0x806,
        Protocol::OtherIp => 255,
        Protocol::OtherLink => 0xffff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::table::FlowStart;

    const DEV: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn packet(b: &mut WindowBuilder, at: u64, src: IpAddr, dst: IpAddr, len: u32) {
        b.record(Event::Packet { protocol: Some(Protocol::Tcp), wire_len: len });
        b.record(Event::FlowBytes {
            at: Duration::from_secs(at),
            src,
            dst,
            from_client: Some(src == DEV),
            wire_len: len,
        });
    }

    #[test]
    fn packets_are_counted_per_device_and_window() {
        let mut b = WindowBuilder::new(Devices::Listed(vec![(DEV, None)]));
        b.record(Event::FlowStarted(FlowStart {
            at: Duration::from_secs(100),
            protocol: Protocol::Tcp,
            client: DEV,
            server: GW,
            server_port: 2575,
        }));
        packet(&mut b, 100, DEV, GW, 100);
        packet(&mut b, 101, GW, DEV, 60);
        b.record(Event::TcpReset);
        assert!(b.take_closed().is_empty());
        packet(&mut b, 112, DEV, GW, 100);
        let closed = b.take_closed();
        assert_eq!(closed.len(), 1);
        let w = &closed[0];
        assert_eq!((w.device, w.start_s), (DEV, 100));
        assert_eq!(&w.raw[..8], &[1.0, 1.0, 100.0, 60.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(w.raw[8], 80.0);
        assert_eq!(w.raw[13], 0.5, "one reset in two packets");
        b.finish();
        assert_eq!(b.take_closed()[0].start_s, 110);
    }
}
