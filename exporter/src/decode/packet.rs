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
    /// Linux cooked capture v2 (`any` interface, `tcpdump -y LINUX_SLL2`): adds the interface index.
    LinuxSll2,
    /// Raw IPv4/IPv6 without a link header.
    RawIp,
    Other(i32),
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            // DLT_RAW (12 on Linux, 101 as LINKTYPE_RAW), LINKTYPE_IPV4 and LINKTYPE_IPV6.
            12 | 101 | 228 | 229 => Self::RawIp,
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

/// One fragment of an IPv4 or IPv6 datagram: which datagram, and which part of its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The IPv4 identification, or the IPv6 fragment header's.
    pub id: u32,
    /// The protocol number of what the datagram carries (6 TCP, 17 UDP, ...).
    pub ip_number: u8,
    /// Where this fragment's data starts in the datagram's payload, in bytes.
    pub offset: u32,
    /// Bytes of the datagram's payload this fragment carries.
    pub len: u32,
    /// More fragments follow (false for the last one, which tells the payload's length).
    pub more: bool,
    /// The source and destination ports at the start of a first fragment of TCP or UDP.
    pub ports: Option<(u16, u16)>,
}

impl Fragment {
    fn new(id: u32, payload: &etherparse::IpPayloadSlice<'_>, offset: u16, more: bool) -> Self {
        let ip_number = payload.ip_number;
        let data = payload.payload;
        let ports = (offset == 0
            && (ip_number == etherparse::IpNumber::TCP || ip_number == etherparse::IpNumber::UDP)
            && data.len() >= 4)
            .then(|| (u16::from_be_bytes([data[0], data[1]]), u16::from_be_bytes([data[2], data[3]])));
        Self { id, ip_number: ip_number.0, offset: u32::from(offset), len: data.len() as u32, more, ports }
    }

    /// The fragment an IP packet is, if it is one.
    fn of(net: &NetSlice<'_>) -> Option<Self> {
        match net {
            NetSlice::Ipv4(ip) if ip.is_payload_fragmented() => {
                let header = ip.header();
                let (id, offset) = (u32::from(header.identification()), header.fragments_offset().byte_offset());
                Some(Self::new(id, ip.payload(), offset, header.more_fragments()))
            }
            NetSlice::Ipv6(ip) if ip.is_payload_fragmented() => {
                let header = ip.extensions().clone().into_iter().find_map(|extension| match extension {
                    etherparse::Ipv6ExtensionSlice::Fragment(header) => Some(header),
                    _ => None,
                })?;
                let offset = header.fragment_offset().byte_offset();
                Some(Self::new(header.identification(), ip.payload(), offset, header.more_fragments()))
            }
            _ => None,
        }
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
    /// Present for a fragment of an IP datagram (whose protocol is [`Protocol::OtherIp`] here:
    /// only the whole datagram shows its transport). Not for a frame whose IP packet the
    /// snapshot length cut; a frame cut only after its IP packet (padding) has one.
    pub fragment: Option<Fragment>,
    /// The capture kept less than the packet's length (snaplen): its headers decoded, but its
    /// payload is incomplete.
    pub snap_truncated: bool,
}

/// Classifies one whole frame captured with link type `link`.
pub fn classify(link: LinkType, frame: &[u8]) -> Result<Protocol, DecodeError> {
    decode(link, frame, frame.len() as u32).map(|packet| packet.protocol)
}

/// The layers of a frame that matter here, from either a strict or a lax parse.
#[derive(Debug, Default, PartialEq)]
struct Layers<'a> {
    addresses: Option<(IpAddr, IpAddr)>,
    arp: bool,
    arp_sender: Option<ArpSender>,
    transport: Option<TransportSlice<'a>>,
    fragment: Option<Fragment>,
}

/// Where a Linux cooked header keeps its fields: its length, and the offsets of the protocol
/// and of the ARPHRD type (both 16 bits, big-endian).
struct LinuxCookedLayout {
    len: usize,
    protocol_at: usize,
    arphrd_at: usize,
}

/// v1: packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2).
const LINUX_SLL: LinuxCookedLayout = LinuxCookedLayout { len: 16, protocol_at: 14, arphrd_at: 2 };
/// v2: protocol (2), reserved (2), interface index (4), ARPHRD type (2), packet type (1),
/// address length (1), address (8).
const LINUX_SLL2: LinuxCookedLayout = LinuxCookedLayout { len: 20, protocol_at: 0, arphrd_at: 8 };
/// ARPHRD_NETLINK: the protocol field holds a netlink family, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// The EtherType of a Linux cooked frame's payload, and the payload; the EtherType is `None`
/// for a payload that is none (netlink, or the 802.3/802.2 values below 0x0600 that Linux
/// uses). Any ARPHRD type is accepted, loopback (772) and tunnels included, as `any` captures
/// them all.
fn linux_cooked_payload<'a>(
    layout: &LinuxCookedLayout,
    frame: &'a [u8],
) -> Result<(Option<EtherType>, &'a [u8]), DecodeError> {
    let header = frame.get(..layout.len).ok_or(DecodeError::Truncated)?;
    let field = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let (protocol, arphrd) = (field(layout.protocol_at), field(layout.arphrd_at));
    let ether_type = (arphrd != ARPHRD_NETLINK && protocol >= 0x0600).then_some(EtherType(protocol));
    Ok((ether_type, &frame[layout.len..]))
}

/// Tunnels read through: IP in IP (protocol 4) and IPv6 in IP (41), nested at most this deep.
const MAX_TUNNEL_DEPTH: usize = 8;

/// The inner packet's bytes when an IP payload is a tunnel to read through: IPv4 or IPv6 in
/// an unfragmented packet that etherparse did not already read a transport header from.
fn tunnelled(ip_number: etherparse::IpNumber, fragmented: bool, has_transport: bool, data: &[u8]) -> Option<&[u8]> {
    let tunnel = ip_number == etherparse::IpNumber::IPV4 || ip_number == etherparse::IpNumber::IPV6;
    (tunnel && !fragmented && !has_transport).then_some(data)
}

/// The innermost packet of IP-in-IP tunnels, as tshark dissects through them; a tunnelled
/// packet that does not parse leaves the outer one as it is.
fn innermost(mut sliced: SlicedPacket<'_>) -> SlicedPacket<'_> {
    for _ in 0..MAX_TUNNEL_DEPTH {
        let payload = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => ip.payload(),
            Some(NetSlice::Ipv6(ip)) => ip.payload(),
            _ => break,
        };
        let Some(data) = tunnelled(payload.ip_number, payload.fragmented, sliced.transport.is_some(), payload.payload)
        else {
            break;
        };
        match SlicedPacket::from_ip(data) {
            Ok(inner) => sliced = inner,
            Err(_) => break,
        }
    }
    sliced
}

/// [`innermost`] for a frame cut by the snapshot length: tshark dissects through tunnels as far
/// as the bytes go, so a cut tunnelled segment is still TCP, between the inner addresses.
fn lax_innermost(mut sliced: LaxSlicedPacket<'_>) -> LaxSlicedPacket<'_> {
    for _ in 0..MAX_TUNNEL_DEPTH {
        let payload = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => ip.payload(),
            Some(LaxNetSlice::Ipv6(ip)) => ip.payload(),
            _ => break,
        };
        let Some(data) = tunnelled(payload.ip_number, payload.fragmented, sliced.transport.is_some(), payload.payload)
        else {
            break;
        };
        match LaxSlicedPacket::from_ip(data) {
            Ok(inner) if inner.net.is_some() => sliced = inner,
            _ => break,
        }
    }
    sliced
}

/// The layers of the commonest frame, TCP or UDP in an unfragmented IPv4 packet in an Ethernet
/// frame without VLAN tags, sliced by etherparse's header slices directly: what
/// [`SlicedPacket::from_ethernet`] slices the same way through the same calls, without moving
/// its general result (room for link extensions and every net and transport kind) from call
/// to call. `None` for any other frame, and for any error: the general path then decides.
fn plain_ipv4_over_ethernet(frame: &[u8]) -> Option<Layers<'_>> {
    let ethernet = etherparse::Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    if ethernet.ether_type() != EtherType::IPV4 {
        return None;
    }
    let ip = etherparse::Ipv4Slice::from_slice(ethernet.payload_slice()).ok()?;
    let payload = ip.payload();
    if payload.fragmented {
        return None;
    }
    let transport = match payload.ip_number {
        etherparse::IpNumber::TCP => TransportSlice::Tcp(etherparse::TcpSlice::from_slice(payload.payload).ok()?),
        etherparse::IpNumber::UDP => TransportSlice::Udp(etherparse::UdpSlice::from_slice(payload.payload).ok()?),
        _ => return None,
    };
    let header = ip.header();
    let addresses = Some((header.source_addr().into(), header.destination_addr().into()));
    Some(Layers { addresses, arp: false, arp_sender: None, transport: Some(transport), fragment: None })
}

/// Parses a frame whose headers must all be complete and consistent.
fn strict_layers(link: LinkType, frame: &[u8]) -> Result<Layers<'_>, DecodeError> {
    if link == LinkType::Ethernet
        && let Some(layers) = plain_ipv4_over_ethernet(frame)
    {
        // Every test and fuzzing run (debug assertions) checks the shortcut against the path
        // it cuts short.
        debug_assert_eq!(Ok(&layers), sliced_layers(link, frame).as_ref(), "the IPv4 shortcut parts from etherparse");
        return Ok(layers);
    }
    sliced_layers(link, frame)
}

/// Parses a frame whose headers must all be complete and consistent, through etherparse's
/// general slicer.
fn sliced_layers(link: LinkType, frame: &[u8]) -> Result<Layers<'_>, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(frame),
        LinkType::LinuxSll | LinkType::LinuxSll2 => {
            let layout = if link == LinkType::LinuxSll { &LINUX_SLL } else { &LINUX_SLL2 };
            match linux_cooked_payload(layout, frame)? {
                (Some(ether_type), payload) => SlicedPacket::from_ether_type(ether_type, payload),
                (None, _) => return Ok(Layers::default()),
            }
        }
        LinkType::RawIp => SlicedPacket::from_ip(frame),
        LinkType::Other(_) => return Err(DecodeError::UnsupportedLinkType),
    }
    .map_err(|err| match err {
        etherparse::err::packet::SliceError::Len(_) => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    })
    .map(innermost)?;
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
    let fragment = sliced.net.as_ref().and_then(Fragment::of);
    Ok(Layers { addresses, arp, arp_sender, transport: sliced.transport, fragment })
}

/// Parses a frame cut short by the snapshot length: IP lengths may exceed what was captured.
fn lax_layers(link: LinkType, frame: &[u8]) -> Option<Layers<'_>> {
    let sliced = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok()?,
        LinkType::LinuxSll | LinkType::LinuxSll2 => {
            let layout = if link == LinkType::LinuxSll { &LINUX_SLL } else { &LINUX_SLL2 };
            match linux_cooked_payload(layout, frame).ok()? {
                (Some(ether_type), payload) => LaxSlicedPacket::from_ether_type(ether_type, payload),
                (None, _) => return None,
            }
        }
        LinkType::RawIp => LaxSlicedPacket::from_ip(frame).ok()?,
        LinkType::Other(_) => return None,
    };
    let sliced = lax_innermost(sliced);
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
    let transport = sliced.transport;
    (addresses.is_some() || arp).then_some(Layers { addresses, arp, arp_sender, transport, fragment: None })
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
        // IGMP (which etherparse slices as a transport too) and every other IP protocol.
        (_, Some(_), _) => Protocol::OtherIp,
        (_, None, true) => Protocol::Arp,
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
    Ok(Packet { protocol, endpoints, tcp, arp: layers.arp_sender, fragment: layers.fragment, snap_truncated })
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

    /// A UDP datagram in IPv4 over Ethernet.
    fn udp4_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5353, 5353);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn the_ipv4_shortcut_slices_as_etherparse_does_or_leaves_the_frame_to_it() {
        let plain = [tcp_frame(b"MSH|x"), udp4_frame(b"q"), tcp_frame(b"")];
        for frame in &plain {
            assert!(plain_ipv4_over_ethernet(frame).is_some(), "the shortcut takes plain TCP and UDP over IPv4");
        }
        // Every frame one byte away from a plain one (each header byte set to telling values),
        // cut at every length, and padded past the IP packet.
        let mut frames = Vec::new();
        for frame in &plain {
            for at in 0..frame.len().min(14 + 20 + 20) {
                for value in [0x00, 0x01, 0x06, 0x11, 0x20, 0x45, 0x46, 0x4f, 0x60, 0x81, 0xff] {
                    let mut mutated = frame.clone();
                    mutated[at] = value;
                    frames.push(mutated);
                }
            }
            frames.extend((0..frame.len()).map(|len| frame[..len].to_vec()));
            frames.push([frame.as_slice(), &[0; 18]].concat());
        }
        let mut taken = 0;
        for frame in &frames {
            if let Some(layers) = plain_ipv4_over_ethernet(frame) {
                taken += 1;
                assert_eq!(Ok(layers), sliced_layers(LinkType::Ethernet, frame), "{frame:02x?}");
            }
        }
        assert!(taken > frames.len() / 4, "the shortcut took {taken} of {} frames", frames.len());
        assert!(taken < frames.len(), "the shortcut left nothing to the general path");
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

    /// A Linux cooked v2 header (outgoing, on interface 3, Ethernet) before `payload`.
    pub(crate) fn linux_sll2_frame(protocol: u16, arphrd: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = protocol.to_be_bytes().to_vec();
        frame.extend([0, 0, 0, 0, 0, 3]);
        frame.extend(arphrd.to_be_bytes());
        frame.extend([4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        frame.extend(payload);
        frame
    }

    #[test]
    fn decodes_linux_cooked_v2() {
        let ip = &tcp_frame(b"MSH|")[14..];
        let frame = linux_sll2_frame(0x0800, 1, ip);
        assert_eq!(LinkType::from_dlt(276), LinkType::LinuxSll2);
        let packet = decode(LinkType::LinuxSll2, &frame, frame.len() as u32).unwrap();
        assert_eq!(packet.protocol, Protocol::Tcp);
        assert_eq!(packet.endpoints.unwrap().dst_port, 2575);
        assert_eq!(packet.tcp.unwrap().payload, b"MSH|");
        // Cut by the snapshot length inside the TCP payload: the headers still decode.
        let cut = decode(LinkType::LinuxSll2, &frame[..frame.len() - 2], frame.len() as u32).unwrap();
        assert_eq!((cut.protocol, cut.snap_truncated), (Protocol::Tcp, true));
        // Netlink, and 802.2 LLC (protocol 4): link-layer frames without IP.
        assert_eq!(classify(LinkType::LinuxSll2, &linux_sll2_frame(0x0800, 824, ip)), Ok(Protocol::OtherLink));
        assert_eq!(classify(LinkType::LinuxSll2, &linux_sll2_frame(4, 1, ip)), Ok(Protocol::OtherLink));
        assert_eq!(classify(LinkType::LinuxSll2, &frame[..19]), Err(DecodeError::Truncated));
        assert_eq!(classify(LinkType::LinuxSll2, &frame[..30]), Err(DecodeError::Truncated));
    }

    /// The Ethernet/IPv4 fragment of a UDP datagram (ports 5000 -> 6000) with the given offset.
    pub(crate) fn udp_fragment(id: u16, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut ip =
            etherparse::Ipv4Header::new(data.len() as u16, 64, etherparse::IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2])
                .unwrap();
        ip.identification = id;
        ip.more_fragments = more;
        ip.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).unwrap();
        ip.header_checksum = ip.calc_header_checksum();
        let ethernet = etherparse::Ethernet2Header {
            source: [2, 0, 0, 0, 0, 1],
            destination: [2, 0, 0, 0, 0, 2],
            ether_type: EtherType::IPV4,
        };
        let mut frame = ethernet.to_bytes().to_vec();
        frame.extend(ip.to_bytes());
        frame.extend(data);
        frame
    }

    #[test]
    fn a_fragment_is_other_ip_and_tells_its_place_in_the_datagram() {
        let mut datagram = vec![0x13, 0x88, 0x17, 0x70, 0, 0, 0, 0];
        datagram.extend([b'x'; 32]);
        let first = udp_fragment(77, 0, true, &datagram[..16]);
        let packet = decode(LinkType::Ethernet, &first, first.len() as u32).unwrap();
        assert_eq!((packet.protocol, packet.endpoints.unwrap().dst_port), (Protocol::OtherIp, 0));
        let expected = Fragment { id: 77, ip_number: 17, offset: 0, len: 16, more: true, ports: Some((5000, 6000)) };
        assert_eq!(packet.fragment, Some(expected));
        let last = udp_fragment(77, 16, false, &datagram[16..]);
        let packet = decode(LinkType::Ethernet, &last, last.len() as u32).unwrap();
        assert_eq!(packet.fragment, Some(Fragment { offset: 16, len: 24, more: false, ports: None, ..expected }));
        let whole = tcp_frame(b"x");
        assert_eq!(decode(LinkType::Ethernet, &whole, whole.len() as u32).unwrap().fragment, None);
    }

    #[test]
    fn reads_through_ip_in_ip_tunnels_to_the_innermost_transport() {
        let inner = &tcp_frame(b"MSH|")[14..];
        let mut frame = tcp_frame(b"")[..14].to_vec();
        let mut outer =
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::IPV4, [192, 0, 2, 1], [192, 0, 2, 2]).unwrap();
        outer.set_payload_len(inner.len()).unwrap();
        frame.extend(outer.to_bytes());
        frame.extend(inner);
        let packet = decode(LinkType::Ethernet, &frame, frame.len() as u32).unwrap();
        assert_eq!(packet.protocol, Protocol::Tcp);
        let endpoints = packet.endpoints.unwrap();
        assert_eq!((endpoints.src, endpoints.dst_port), (IpAddr::from([127, 0, 0, 1]), 2575), "the inner packet's");
        assert_eq!(packet.tcp.unwrap().payload, b"MSH|");
        // A broken inner packet leaves the outer one.
        let broken = &frame[..frame.len() - inner.len() + 10];
        let mut broken = broken.to_vec();
        outer.set_payload_len(10).unwrap();
        broken[14..34].copy_from_slice(&outer.to_bytes());
        assert_eq!(classify(LinkType::Ethernet, &broken), Ok(Protocol::OtherIp));
    }

    /// Found by the `packet_decoder` fuzz target: etherparse slices IGMP as a transport, which
    /// fell through to `other_link` with the packet's IP addresses; tshark (and the README)
    /// count IP with another transport as `other_ip`.
    #[test]
    fn igmp_is_other_ip() {
        // An IGMPv2 membership report for 239.1.2.3.
        let igmp = [0x16, 0, 0xfa, 0x04, 239, 1, 2, 3];
        let ip = etherparse::Ipv4Header::new(8, 1, etherparse::IpNumber::IGMP, [10, 0, 0, 1], [239, 1, 2, 3]).unwrap();
        let mut frame = tcp_frame(b"")[..14].to_vec();
        frame.extend(ip.to_bytes());
        frame.extend(igmp);
        let packet = decode(LinkType::Ethernet, &frame, frame.len() as u32).unwrap();
        assert_eq!(packet.protocol, Protocol::OtherIp);
        let endpoints = packet.endpoints.unwrap();
        assert_eq!((endpoints.dst, endpoints.src_port, endpoints.dst_port), (IpAddr::from([239, 1, 2, 3]), 0, 0));
        assert_eq!(classify(LinkType::RawIp, &frame[14..]), Ok(Protocol::OtherIp));
    }

    /// A tunnelled segment cut by the snapshot length is TCP between the inner addresses, as
    /// tshark reads it (`eth:ethertype:ip:ip:tcp`), not `other_ip` between the outer ones.
    #[test]
    fn a_cut_tunnelled_segment_reads_through_the_tunnel() {
        let inner = &tcp_frame(&[b'x'; 100])[14..];
        let mut frame = tcp_frame(b"")[..14].to_vec();
        let mut outer =
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::IPV4, [192, 0, 2, 1], [192, 0, 2, 2]).unwrap();
        outer.set_payload_len(inner.len()).unwrap();
        frame.extend(outer.to_bytes());
        frame.extend(inner);
        let cut = &frame[..96];
        let packet = decode(LinkType::Ethernet, cut, frame.len() as u32).unwrap();
        assert!(packet.snap_truncated);
        assert_eq!(packet.protocol, Protocol::Tcp);
        let endpoints = packet.endpoints.unwrap();
        assert_eq!((endpoints.src, endpoints.dst_port), (IpAddr::from([127, 0, 0, 1]), 2575));
        // Cut inside the inner IP header: the outer packet is all there is.
        let packet = decode(LinkType::Ethernet, &frame[..40], frame.len() as u32).unwrap();
        assert_eq!((packet.protocol, packet.endpoints.unwrap().src), (Protocol::OtherIp, IpAddr::from([192, 0, 2, 1])));
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
