//! Classifies one captured frame by its outermost transport, with etherparse doing the parsing.

use std::net::{IpAddr, Ipv4Addr};

use etherparse::{ArpPacketSlice, EtherType, LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TransportSlice};
use serde::Serialize;

/// The link type of a capture, as libpcap reports it (DLT/LINKTYPE numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (`any` interface).
    LinuxSll,
    /// Raw IPv4/IPv6 without a link header.
    RawIp,
    Other(i32),
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            12 | 101 => Self::RawIp,
            other => Self::Other(other),
        }
    }
}

/// What a frame turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Arp,
    /// IPv4/IPv6 with another transport (or a fragment without one).
    OtherIp,
    /// A link-layer frame that carries no IP or ARP.
    OtherLink,
}

/// Why a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeError {
    /// Shorter than its headers claim (snaplen cut, or a broken packet).
    Truncated,
    /// A header field holds a value that cannot be (bad version, bad header length, ...).
    Malformed,
    /// The capture's link type is not one wardwatch decodes.
    UnsupportedLinkType,
}

/// The addresses of an IP packet and, for TCP and UDP, its ports (0 for ICMP and others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// The TCP flags wardwatch tracks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// The TCP header fields and payload of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

impl TcpSegment<'_> {
    /// Sequence space the segment occupies: its payload, plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn) + u32::from(self.flags.fin)
    }
}

/// Who an Ethernet/IPv4 ARP packet says it is: its sender IP and MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpSender {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

impl ArpSender {
    /// The sender of an ARP packet for IPv4 over Ethernet-sized hardware addresses.
    fn from_slice(arp: &ArpPacketSlice<'_>) -> Option<Self> {
        let ip: [u8; 4] = arp.sender_protocol_addr().try_into().ok()?;
        let mac: [u8; 6] = arp.sender_hw_addr().try_into().ok()?;
        Some(Self { ip: ip.into(), mac })
    }
}

/// One decoded frame: what it is, and for IP traffic who talks to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub protocol: Protocol,
    /// Present for IPv4/IPv6 packets.
    pub endpoints: Option<Endpoints>,
    /// Present for TCP segments.
    pub tcp: Option<TcpSegment<'a>>,
    /// Present for ARP packets of IPv4 over Ethernet.
    pub arp: Option<ArpSender>,
    /// The capture kept less than the packet's length (snaplen): its headers decoded, but its
    /// payload is incomplete.
    pub snap_truncated: bool,
}

/// Classifies one whole frame captured with link type `link`.
pub fn classify(link: LinkType, frame: &[u8]) -> Result<Protocol, DecodeError> {
    decode(link, frame, frame.len() as u32).map(|packet| packet.protocol)
}

/// The layers of a frame that matter here, from either a strict or a lax parse.
struct Layers<'a> {
    addresses: Option<(IpAddr, IpAddr)>,
    arp: bool,
    arp_sender: Option<ArpSender>,
    transport: Option<TransportSlice<'a>>,
}

/// Parses a frame whose headers must all be complete and consistent.
fn strict_layers(link: LinkType, frame: &[u8]) -> Result<Layers<'_>, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(frame),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(frame),
        LinkType::RawIp => SlicedPacket::from_ip(frame),
        LinkType::Other(_) => return Err(DecodeError::UnsupportedLinkType),
    }
    .map_err(|err| match err {
        etherparse::err::packet::SliceError::Len(_) => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    })?;
    let addresses = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => Some((ip.header().source_addr().into(), ip.header().destination_addr().into())),
        Some(NetSlice::Ipv6(ip)) => Some((ip.header().source_addr().into(), ip.header().destination_addr().into())),
        _ => None,
    };
    let arp = matches!(sliced.net, Some(NetSlice::Arp(_)));
    let arp_sender = match &sliced.net {
        Some(NetSlice::Arp(packet)) => ArpSender::from_slice(packet),
        _ => None,
    };
    Ok(Layers { addresses, arp, arp_sender, transport: sliced.transport })
}

/// Parses a frame cut short by the snapshot length: IP lengths may exceed what was captured.
fn lax_layers(link: LinkType, frame: &[u8]) -> Option<Layers<'_>> {
    let sliced = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok()?,
        // Linux cooked header v1: 16 bytes, the EtherType of the payload in the last two.
        LinkType::LinuxSll => {
            let ether_type = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]);
            LaxSlicedPacket::from_ether_type(EtherType(ether_type), &frame[16..])
        }
        LinkType::RawIp => LaxSlicedPacket::from_ip(frame).ok()?,
        LinkType::Other(_) => return None,
    };
    let addresses = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => Some((ip.header().source_addr().into(), ip.header().destination_addr().into())),
        Some(LaxNetSlice::Ipv6(ip)) => Some((ip.header().source_addr().into(), ip.header().destination_addr().into())),
        _ => None,
    };
    let arp = matches!(sliced.net, Some(LaxNetSlice::Arp(_)));
    let arp_sender = match &sliced.net {
        Some(LaxNetSlice::Arp(packet)) => ArpSender::from_slice(packet),
        _ => None,
    };
    (addresses.is_some() || arp).then_some(Layers { addresses, arp, arp_sender, transport: sliced.transport })
}

/// Decodes one frame captured with link type `link` down to its transport header; `wire_len`
/// is the packet's length on the wire, which is more than `frame.len()` when the snapshot
/// length cut it.
pub fn decode(link: LinkType, frame: &[u8], wire_len: u32) -> Result<Packet<'_>, DecodeError> {
    let snap_truncated = (frame.len() as u64) < u64::from(wire_len);
    let layers = match strict_layers(link, frame) {
        Ok(layers) => layers,
        Err(DecodeError::Truncated) if snap_truncated => lax_layers(link, frame).ok_or(DecodeError::Truncated)?,
        Err(error) => return Err(error),
    };
    let protocol = match (&layers.transport, layers.addresses, layers.arp) {
        (Some(TransportSlice::Tcp(_)), ..) => Protocol::Tcp,
        (Some(TransportSlice::Udp(_)), ..) => Protocol::Udp,
        (Some(TransportSlice::Icmpv4(_)), ..) => Protocol::Icmp,
        (Some(TransportSlice::Icmpv6(_)), ..) => Protocol::Icmpv6,
        (None, _, true) => Protocol::Arp,
        (None, Some(_), _) => Protocol::OtherIp,
        _ => Protocol::OtherLink,
    };
    let (src_port, dst_port) = match &layers.transport {
        Some(TransportSlice::Tcp(tcp)) => (tcp.source_port(), tcp.destination_port()),
        Some(TransportSlice::Udp(udp)) => (udp.source_port(), udp.destination_port()),
        _ => (0, 0),
    };
    let endpoints = layers.addresses.map(|(src, dst)| Endpoints { src, dst, src_port, dst_port });
    let tcp = match &layers.transport {
        Some(TransportSlice::Tcp(tcp)) => Some(TcpSegment {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
            payload: tcp.payload(),
        }),
        _ => None,
    };
    Ok(Packet { protocol, endpoints, tcp, arp: layers.arp_sender, snap_truncated })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    pub(crate) fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64)
            .tcp(40000, 2575, 1, 65535);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    pub(crate) fn udp6_frame(payload: &[u8]) -> Vec<u8> {
        let builder =
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6([0; 16], [0; 16], 64).udp(5353, 5353);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn classifies_transports() {
        assert_eq!(classify(LinkType::Ethernet, &tcp_frame(b"MSH|")), Ok(Protocol::Tcp));
        assert_eq!(classify(LinkType::Ethernet, &udp6_frame(b"q")), Ok(Protocol::Udp));
    }

    #[test]
    fn decodes_endpoints_and_tcp_fields() {
        let packet_bytes = tcp_frame(b"MSH|");
        let packet = decode(LinkType::Ethernet, &packet_bytes, packet_bytes.len() as u32).unwrap();
        let endpoints = packet.endpoints.unwrap();
        assert_eq!(endpoints.src, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(endpoints.dst, IpAddr::from([127, 0, 0, 2]));
        assert_eq!((endpoints.src_port, endpoints.dst_port), (40000, 2575));
        let tcp = packet.tcp.unwrap();
        assert_eq!((tcp.seq, tcp.payload, tcp.seq_len()), (1, &b"MSH|"[..], 4));
        assert_eq!(tcp.flags, TcpFlags::default());
        let udp_bytes = udp6_frame(b"q");
        let udp = decode(LinkType::Ethernet, &udp_bytes, udp_bytes.len() as u32).unwrap();
        assert_eq!(udp.endpoints.unwrap().dst_port, 5353);
        assert!(udp.tcp.is_none());
    }

    #[test]
    fn a_frame_cut_by_the_snapshot_length_still_decodes_its_headers() {
        let frame = tcp_frame(&[b'x'; 400]);
        let wire_len = frame.len() as u32;
        let cut = &frame[..100];
        let packet = decode(LinkType::Ethernet, cut, wire_len).unwrap();
        assert_eq!(packet.protocol, Protocol::Tcp);
        assert!(packet.snap_truncated);
        assert_eq!(packet.endpoints.unwrap().dst_port, 2575);
        assert_eq!(packet.tcp.unwrap().payload.len(), 100 - 54);
        // The same bytes claiming to be the whole packet are broken, not cut.
        assert_eq!(decode(LinkType::Ethernet, cut, 100), Err(DecodeError::Truncated));
        // Cut inside the IP header: nothing to decode.
        assert_eq!(decode(LinkType::Ethernet, &frame[..20], wire_len), Err(DecodeError::Truncated));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors_not_panics() {
        let frame = tcp_frame(b"hello");
        assert_eq!(classify(LinkType::Ethernet, &frame[..20]), Err(DecodeError::Truncated));
        let mut bad_version = frame.clone();
        bad_version[14] = 0x75; // IP version 7
        assert_eq!(classify(LinkType::Ethernet, &bad_version), Err(DecodeError::Malformed));
        assert_eq!(classify(LinkType::Other(147), &frame), Err(DecodeError::UnsupportedLinkType));
        for cut in 0..frame.len() {
            let _ = classify(LinkType::Ethernet, &frame[..cut]);
        }
    }
}
