//! Pure frame builders: Ethernet II with IPv4 and TCP or UDP, and ARP. Checksums are computed,
//! so every frame verifies in tshark. Nothing here touches a socket.

use etherparse::{IpHeaders, Ipv4Header, PacketBuilder, TcpHeader};

/// One side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub mac: [u8; 6],
    pub ip: [u8; 4],
    pub port: u16,
}

/// One frame and when it was seen, in microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub timestamp_us: u64,
    pub bytes: Vec<u8>,
}

pub const TTL: u8 = 64;
/// The receive window every synthesised TCP endpoint advertises.
pub const WINDOW: u16 = 64_240;
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
}

impl TcpFlags {
    pub const SYN: TcpFlags = TcpFlags { syn: true, fin: false, rst: false, psh: false, ack: false };
    pub const SYN_ACK: TcpFlags = TcpFlags { syn: true, fin: false, rst: false, psh: false, ack: true };
    pub const ACK: TcpFlags = TcpFlags { syn: false, fin: false, rst: false, psh: false, ack: true };
    pub const PSH_ACK: TcpFlags = TcpFlags { syn: false, fin: false, rst: false, psh: true, ack: true };
    pub const FIN_ACK: TcpFlags = TcpFlags { syn: false, fin: true, rst: false, psh: false, ack: true };
}

/// One TCP segment in an Ethernet frame. `ack` is written only when the ACK flag is set.
pub fn tcp_frame(
    from: Endpoint,
    to: Endpoint,
    seq: u32,
    ack: u32,
    ip_id: u16,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = TcpHeader::new(from.port, to.port, seq, WINDOW);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = flags.psh;
    tcp.ack = flags.ack;
    tcp.acknowledgment_number = if flags.ack { ack } else { 0 };
    let builder = PacketBuilder::ethernet2(from.mac, to.mac)
        .ip(IpHeaders::Ipv4(ipv4(from.ip, to.ip, ip_id), Default::default()))
        .tcp_header(tcp);
    let mut bytes = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut bytes, payload).expect("a TCP segment within the MTU serialises");
    bytes
}

/// One UDP datagram in an Ethernet frame.
pub fn udp_frame(from: Endpoint, to: Endpoint, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(from.mac, to.mac)
        .ip(IpHeaders::Ipv4(ipv4(from.ip, to.ip, ip_id), Default::default()))
        .udp(from.port, to.port);
    let mut bytes = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut bytes, payload).expect("a UDP datagram within the MTU serialises");
    bytes
}

/// An IPv4 packet (header, TCP segment, no Ethernet) as a raw socket with `IP_HDRINCL` sends
/// it: the live SYN flood's frames, built by the same code as the capture's.
pub fn ipv4_tcp_packet(from: Endpoint, to: Endpoint, seq: u32, ip_id: u16, flags: TcpFlags) -> Vec<u8> {
    let mut tcp = TcpHeader::new(from.port, to.port, seq, WINDOW);
    tcp.syn = flags.syn;
    tcp.ack = flags.ack;
    let builder = PacketBuilder::ip(IpHeaders::Ipv4(ipv4(from.ip, to.ip, ip_id), Default::default())).tcp_header(tcp);
    let mut bytes = Vec::with_capacity(builder.size(0));
    builder.write(&mut bytes, &[]).expect("a bare TCP segment serialises");
    bytes
}

fn ipv4(source: [u8; 4], destination: [u8; 4], identification: u16) -> Ipv4Header {
    Ipv4Header { source, destination, time_to_live: TTL, identification, dont_fragment: true, ..Ipv4Header::default() }
}

/// ARP operation codes (RFC 826).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// An ARP packet for IPv4 over Ethernet in an Ethernet frame from `sender_mac` to `eth_dst`.
pub fn arp_frame(
    op: ArpOp,
    eth_dst: [u8; 6],
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
    target_mac: [u8; 6],
    target_ip: [u8; 4],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(42);
    bytes.extend(eth_dst);
    bytes.extend(sender_mac);
    bytes.extend(0x0806u16.to_be_bytes()); // EtherType ARP
    bytes.extend(1u16.to_be_bytes()); // hardware: Ethernet
    bytes.extend(0x0800u16.to_be_bytes()); // protocol: IPv4
    bytes.extend([6, 4]);
    bytes.extend((op as u16).to_be_bytes());
    bytes.extend(sender_mac);
    bytes.extend(sender_ip);
    bytes.extend(target_mac);
    bytes.extend(target_ip);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice};

    const A: Endpoint = Endpoint { mac: [2, 0, 0, 0, 0, 1], ip: [10, 20, 0, 11], port: 40_000 };
    const B: Endpoint = Endpoint { mac: [2, 0, 0, 0, 0, 2], ip: [10, 20, 0, 1], port: 53 };

    #[test]
    fn udp_frames_carry_their_payload_with_a_valid_checksum() {
        let bytes = udp_frame(A, B, 7, b"hello");
        let packet = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &packet.net else { panic!("not IPv4") };
        let Some(TransportSlice::Udp(udp)) = &packet.transport else { panic!("not UDP") };
        assert_eq!((udp.source_port(), udp.destination_port(), udp.payload()), (40_000, 53, &b"hello"[..]));
        let computed = udp.to_header().calc_checksum_ipv4(&ip.header().to_header(), udp.payload()).unwrap();
        assert_eq!(udp.checksum(), computed);
    }

    #[test]
    fn rst_and_ack_numbers_are_written_as_asked() {
        let flags = TcpFlags { rst: true, ack: true, ..TcpFlags::default() };
        let bytes = tcp_frame(A, B, 10, 99, 1, flags, &[]);
        let packet = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = &packet.transport else { panic!("not TCP") };
        assert!(tcp.rst() && tcp.ack() && !tcp.syn());
        assert_eq!(tcp.acknowledgment_number(), 99);
        let syn = ipv4_tcp_packet(A, B, 5, 1, TcpFlags::SYN);
        assert_eq!(syn.len(), 40);
        let packet = SlicedPacket::from_ip(&syn).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = &packet.transport else { panic!("not TCP") };
        assert!(tcp.syn() && !tcp.ack());
    }

    #[test]
    fn arp_frames_have_the_rfc_826_layout() {
        let bytes = arp_frame(ArpOp::Reply, BROADCAST_MAC, A.mac, B.ip, BROADCAST_MAC, B.ip);
        assert_eq!(bytes.len(), 42);
        let packet = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &packet.link else { panic!("not Ethernet") };
        assert_eq!(eth.ether_type(), etherparse::EtherType::ARP);
        assert_eq!(&bytes[20..22], &[0, 2]);
        assert_eq!(&bytes[22..28], &A.mac);
        assert_eq!(&bytes[28..32], &B.ip);
    }
}
