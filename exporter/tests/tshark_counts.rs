//! The exporter's packet, byte and per-protocol counts equal tshark's on captures written by
//! the test: one of each thing the decoder tells apart, on every link type it reads.

use etherparse::{ArpEthIpv4Packet, ArpOperation, PacketBuilder, VlanId};

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../src/testing.rs"]
mod testing;

fn ethernet() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
}

fn built(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = Vec::new();
    write(&mut frame);
    frame
}

/// One of each thing the decoder tells apart, Ethernet-framed.
fn assorted_frames() -> Vec<Vec<u8>> {
    let mut frames = testing::hl7_session(&[("P-7", "M1", &[("spo2", 95.0)])]);
    frames.push(built(|out| ethernet().ipv6([0; 16], [0; 16], 64).udp(5353, 5353).write(out, b"mdns").unwrap()));
    let v4 = || ethernet().ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64);
    frames.push(built(|out| v4().udp(5000, 514).write(out, b"syslog").unwrap()));
    frames.push(built(|out| v4().icmpv4_echo_request(1, 1).write(out, b"ping").unwrap()));
    frames.push(built(|out| {
        ethernet().ipv6([0xfe; 16], [0xfd; 16], 64).icmpv6_echo_request(1, 1).write(out, b"ping6").unwrap()
    }));
    frames.push(built(|out| {
        let vlan = ethernet().single_vlan(VlanId::try_new(42).unwrap());
        vlan.ipv4([10, 0, 1, 1], [10, 0, 1, 2], 64).tcp(1234, 2575, 7, 1000).write(out, b"vlan").unwrap()
    }));
    frames.push(built(|out| {
        let arp = ArpEthIpv4Packet {
            operation: ArpOperation::REQUEST,
            sender_mac: [2, 0, 0, 0, 0, 1],
            sender_ipv4: [10, 0, 0, 1],
            target_mac: [0; 6],
            target_ipv4: [10, 0, 0, 2],
        };
        ethernet().arp(arp.into()).write(out).unwrap()
    }));
    frames
}

/// A UDP datagram (5000 -> 6000) of `len` bytes cut into IPv4 fragments of `chunk` bytes (a
/// multiple of 8), in the order given by `order` (indexes of the fragments).
fn udp_fragments(id: u16, len: usize, chunk: usize, order: &[usize]) -> Vec<Vec<u8>> {
    let mut datagram = Vec::new();
    etherparse::UdpHeader::without_ipv4_checksum(5000, 6000, len - 8).unwrap().write(&mut datagram).unwrap();
    datagram.extend((0..len - 8).map(|i| i as u8));
    let pieces: Vec<&[u8]> = datagram.chunks(chunk).collect();
    order
        .iter()
        .map(|&i| {
            let mut ip = etherparse::Ipv4Header::new(
                pieces[i].len() as u16,
                64,
                etherparse::IpNumber::UDP,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
            )
            .unwrap();
            ip.identification = id;
            ip.more_fragments = i + 1 < pieces.len();
            ip.fragment_offset = etherparse::IpFragOffset::try_new((i * chunk / 8) as u16).unwrap();
            ip.header_checksum = ip.calc_header_checksum();
            let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
            frame.extend(ip.to_bytes());
            frame.extend(pieces[i]);
            frame
        })
        .collect()
}

/// The counts of `path` by the exporter and by tshark, which must be equal and free of decode
/// errors.
fn assert_counts_equal_tsharks(path: &std::path::Path) -> common::Counts {
    let (counts, summary) = common::exporter_counts(path);
    assert_eq!(summary["decode_errors"], serde_json::json!({}), "{}", path.display());
    assert_eq!(counts, common::tshark::counts(path), "{}", path.display());
    counts
}

#[test]
fn packet_byte_and_protocol_counts_equal_tsharks_on_ethernet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assorted.pcap");
    let assorted = assorted_frames();
    let mut frames: Vec<(&[u8], u32)> = assorted.iter().map(|f| (f.as_slice(), f.len() as u32)).collect();
    // A large segment of which the snapshot length kept 100 bytes.
    let large = testing::segment(testing::CLIENT, testing::SERVER, 1, 1, testing::Flags::Ack, &[b'x'; 1200]);
    frames.push((&large[..100], large.len() as u32));
    testing::write_pcap_with_lengths(&path, pcap::Linktype::ETHERNET, &frames);
    let counts = assert_counts_equal_tsharks(&path);
    assert_eq!(counts.protocols.len(), 5, "tcp, udp, icmp, icmpv6 and arp: {counts:?}");
}

#[test]
fn packet_byte_and_protocol_counts_equal_tsharks_on_linux_cooked_v1_and_v2() {
    let dir = tempfile::tempdir().unwrap();
    let udp = |i: u16| PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(4000 + i, 53);
    let v1: Vec<Vec<u8>> = (0..3u16)
        .map(|i| {
            built(|out| {
                PacketBuilder::linux_sll(etherparse::LinuxSllPacketType::OUTGOING, 6, [2, 0, 0, 0, 0, 1, 0, 0])
                    .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                    .udp(4000 + i, 53)
                    .write(out, b"query")
                    .unwrap()
            })
        })
        .collect();
    let mut v1 = v1;
    // `any` also captures loopback (ARPHRD_LOOPBACK 772), whose cooked header etherparse refuses.
    let mut on_loopback = v1[0].clone();
    on_loopback[2..4].copy_from_slice(&772u16.to_be_bytes());
    v1.push(on_loopback);
    let v1_path = dir.path().join("cooked.pcap");
    testing::write_pcap(&v1_path, pcap::Linktype::LINUX_SLL, &v1);

    // Linux cooked v2 has no builder in etherparse: its 20-byte header, written by hand.
    let sll2 = |protocol: u16, arphrd: u16, payload: &[u8]| {
        let mut frame = protocol.to_be_bytes().to_vec();
        frame.extend([0, 0, 0, 0, 0, 2]); // reserved, interface index 2
        frame.extend(arphrd.to_be_bytes());
        frame.extend([4, 6, 2, 0, 0, 0, 0, 1, 0, 0]); // outgoing, 6-byte address
        frame.extend(payload);
        frame
    };
    let mut v2: Vec<Vec<u8>> =
        (0..3u16).map(|i| sll2(0x0800, 1, &built(|out| udp(i).write(out, b"q").unwrap()))).collect();
    let tcp = &testing::segment(testing::CLIENT, testing::SERVER, 9, 9, testing::Flags::Syn, b"")[14..];
    v2.push(sll2(0x0800, 772, tcp)); // on loopback (ARPHRD_LOOPBACK)
    let ipv6 =
        built(|out| PacketBuilder::ipv6([1; 16], [2; 16], 64).icmpv6_echo_request(1, 2).write(out, b"6").unwrap());
    v2.push(sll2(0x86dd, 1, &ipv6));
    let v2_path = dir.path().join("cooked-v2.pcap");
    testing::write_pcap(&v2_path, pcap::Linktype(276), &v2);

    assert_counts_equal_tsharks(&v1_path);
    let counts = assert_counts_equal_tsharks(&v2_path);
    assert_eq!(counts.protocols.keys().collect::<Vec<_>>(), ["icmpv6", "tcp", "udp"]);
}

#[test]
fn ipv4_fragments_are_counted_as_tshark_reassembles_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fragments.pcap");
    let mut frames = udp_fragments(1, 1500, 512, &[0, 1, 2]);
    frames.extend(udp_fragments(2, 1500, 512, &[2, 0, 1])); // out of order
    frames.extend(udp_fragments(3, 1500, 512, &[0, 0, 2, 1])); // a duplicate
    frames.extend(udp_fragments(4, 1500, 512, &[0, 2])); // never completes
    testing::write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
    let (counts, summary) = common::exporter_counts(&path);
    let expected = [("other_ip".to_owned(), 9), ("udp".to_owned(), 3)];
    assert_eq!(counts.protocols, expected.into(), "one udp per completed datagram");
    assert_eq!(counts, common::tshark::counts(&path));
    assert_eq!(summary["ip_fragments"]["fragments"], serde_json::json!({"pending": 9, "reassembled": 3}));
}
