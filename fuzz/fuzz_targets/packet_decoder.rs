//! A captured frame's whole way through the exporter: decode (every link type, VLAN, IP-in-IP,
//! ARP, IPv4/IPv6, TCP/UDP/ICMP), IP fragments, the flow table, TCP sessions, MLLP and HL7, and
//! the intrusion rules, with tight bounds so that eviction and overflow paths run.
//!
//! Input: one byte for the link type, then frames, each as
//! `len: u16 LE | flags: u8 | dt: u8 | frame[len]`. `flags` bit 0 marks the frame as cut by the
//! snapshot length (its wire length is longer, by `(flags >> 1) * 16 + 1`); `dt` advances the
//! packet clock by `dt * 100 ms` (255 steps it back one second: capture clocks do that).

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wardwatch_exporter::decode::fragments::FragmentConfig;
use wardwatch_exporter::decode::packet::{LinkType, Packet, Protocol, decode};
use wardwatch_exporter::flows::table::FlowConfig;
use wardwatch_exporter::hl7::session::SessionConfig;
use wardwatch_exporter::pipeline::{Event, Pipeline, PipelineConfig, Sink};

const MAX_FLOWS: usize = 16;
/// Below what 16 flows may hold by the per-connection bounds, so that shedding runs.
const MAX_HELD_BYTES: usize = 8 * 1024;

#[derive(Default)]
struct Checks {
    packets: u64,
    decode_errors: u64,
}

impl Sink for Checks {
    fn record(&mut self, event: Event<'_>) {
        match event {
            Event::Packet { protocol, .. } => {
                self.packets += 1;
                if protocol.is_none() {
                    self.decode_errors += 1;
                }
            }
            Event::DecodeError(_) => assert!(self.decode_errors > 0),
            Event::Hl7Message { message, .. } => {
                assert!(message.observations.is_empty() || !message.patient.is_empty());
                for observation in &message.observations {
                    assert!(observation.value.is_finite());
                }
            }
            Event::TcpStreamGap(bytes) => assert!(bytes > 0, "an empty gap"),
            _ => {}
        }
    }
}

fn link_type(byte: u8) -> LinkType {
    match byte % 5 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        2 => LinkType::LinuxSll2,
        3 => LinkType::RawIp,
        _ => LinkType::Other(147),
    }
}

/// What `decode` promises about one packet.
fn check_packet(frame: &[u8], wire_len: u32, packet: &Packet<'_>) {
    assert_eq!(packet.snap_truncated, (frame.len() as u64) < u64::from(wire_len));
    assert_eq!(packet.tcp.is_some(), packet.protocol == Protocol::Tcp);
    let ip = matches!(
        packet.protocol,
        Protocol::Tcp | Protocol::Udp | Protocol::Icmp | Protocol::Icmpv6 | Protocol::OtherIp
    );
    assert_eq!(packet.endpoints.is_some(), ip, "{packet:?}");
    if !matches!(packet.protocol, Protocol::Tcp | Protocol::Udp)
        && let Some(endpoints) = packet.endpoints
    {
        assert_eq!((endpoints.src_port, endpoints.dst_port), (0, 0));
    }
    if let Some(tcp) = packet.tcp {
        let (start, end) = (frame.as_ptr() as usize, frame.as_ptr() as usize + frame.len());
        let payload = tcp.payload.as_ptr() as usize;
        assert!(start <= payload && payload + tcp.payload.len() <= end, "the payload lies in the frame");
    }
    if let Some(fragment) = packet.fragment {
        assert_eq!(packet.protocol, Protocol::OtherIp, "a fragment shows no transport");
        // A cut frame has one only when the cut spared its IP packet: the fragment's data is
        // all there.
        assert!(fragment.len as usize <= frame.len());
        assert!(fragment.ports.is_none() || fragment.offset == 0);
    }
    if packet.arp.is_some() {
        assert_eq!(packet.protocol, Protocol::Arp);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&link, mut rest)) = data.split_first() else { return };
    let link = link_type(link);
    let config = PipelineConfig {
        flows: FlowConfig {
            idle_timeout: Duration::from_secs(5),
            active_timeout: Duration::from_secs(30),
            max_flows: MAX_FLOWS,
        },
        session: SessionConfig {
            max_pending_bytes: 2048,
            max_message_bytes: 1024,
            max_awaiting_acks: 4,
            detect_bytes: 256,
            max_held_bytes_total: MAX_HELD_BYTES,
        },
        fragments: FragmentConfig { max_datagrams: 4, timeout: Duration::from_secs(2) },
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(config);
    let mut sink = Checks::default();
    let mut at = Duration::from_secs(1_790_000_000);
    let mut frames = 0u64;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let (flags, dt) = (rest[2], rest[3]);
        let frame = &rest[4..(4 + len).min(rest.len())];
        rest = &rest[4 + frame.len()..];
        let wire_len = frame.len() as u32 + if flags & 1 == 1 { u32::from(flags >> 1) * 16 + 1 } else { 0 };
        at = if dt == 255 {
            at.saturating_sub(Duration::from_secs(1))
        } else {
            at + Duration::from_millis(100 * u64::from(dt))
        };

        if let Ok(packet) = decode(link, frame, wire_len) {
            check_packet(frame, wire_len, &packet);
        }
        pipeline.process(at, link, frame, wire_len, &mut sink);
        frames += 1;
        assert_eq!(sink.packets, frames, "one packet event per frame");
        assert!(pipeline.active_flows() <= MAX_FLOWS);
        assert!(pipeline.held_bytes() <= MAX_HELD_BYTES, "{} bytes held", pipeline.held_bytes());
    }
    pipeline.finish(at, &mut sink);
    pipeline.expire(at + Duration::from_secs(3600), &mut sink);
    assert_eq!(pipeline.active_flows(), 0, "every flow expires an hour later");
    assert_eq!(pipeline.held_bytes(), 0, "nothing is held once every flow is gone");
});
