//! Reading a pcap or pcapng file through libpcap.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::decode::LinkType;
use crate::pipeline::{Pipeline, PipelineConfig, Sink};
use crate::summary::Summary;

/// Reads every frame of the capture at `path` into a [`Summary`].
pub fn summarize_file(path: &Path, config: PipelineConfig) -> Result<Summary> {
    let mut summary = Summary::default();
    replay_file(path, config, &mut summary)?;
    Ok(summary)
}

/// Runs every frame of the capture at `path` through a fresh pipeline into `sink`.
pub fn replay_file(path: &Path, config: PipelineConfig, sink: &mut impl Sink) -> Result<()> {
    let mut capture = pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
    let link = LinkType::from_dlt(capture.get_datalink().0);
    let mut pipeline = Pipeline::new(config);
    let mut last = Duration::ZERO;
    loop {
        match capture.next_packet() {
            Ok(packet) => {
                last = packet_time(packet.header);
                pipeline.process(last, link, packet.data, packet.header.len, sink);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
    pipeline.finish(last, sink);
    Ok(())
}

/// A packet's capture time since the Unix epoch (times before it count as the epoch).
pub fn packet_time(header: &pcap::PacketHeader) -> Duration {
    let seconds = u64::try_from(header.ts.tv_sec).unwrap_or(0);
    let micros = u64::try_from(header.ts.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::Command;

    use etherparse::{ArpEthIpv4Packet, ArpOperation, PacketBuilder, VlanId};

    use super::*;
    use crate::decode::Protocol;
    use crate::decode::tests::{tcp_frame, udp6_frame};
    use crate::testing::{hl7_session, write_pcap, write_pcap_with_lengths};

    #[test]
    fn summarizes_a_capture_written_by_libpcap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.pcap");
        let frames = vec![tcp_frame(b"MSH|a"), tcp_frame(b"MSH|bb")];
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let summary = summarize_file(&path, PipelineConfig::default()).unwrap();
        assert_eq!(summary.packets, 2);
        assert_eq!(summary.bytes, (frames[0].len() + frames[1].len()) as u64);
        assert_eq!(summary.protocols[&Protocol::Tcp], 2);
    }

    #[test]
    fn vitals_read_from_a_capture_file_equal_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hl7.pcap");
        let frames = hl7_session(&[
            ("P-1001", "MSG1", &[("spo2", 88.5), ("heart_rate", 112.0)]),
            ("P-1001", "MSG2", &[("spo2", 87.0), ("respiratory_rate", 24.0)]),
        ]);
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let summary = summarize_file(&path, PipelineConfig::default()).unwrap();
        let patient = &summary.vitals["P-1001"];
        let last: BTreeMap<&str, f64> = patient.iter().map(|(k, v)| (*k, v.last)).collect();
        assert_eq!(last, BTreeMap::from([("heart_rate", 112.0), ("respiratory_rate", 24.0), ("spo2", 87.0)]));
        assert_eq!(patient["spo2"].samples, 2);
        assert_eq!(summary.hl7.ack_rtt_seconds.count, 2);
        assert!((summary.hl7.ack_rtt_seconds.max - 0.001).abs() < 1e-6, "ACKs follow one millisecond later");
    }

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
        let mut frames = hl7_session(&[("P-7", "M1", &[("spo2", 95.0)])]);
        frames.push(udp6_frame(b"mdns"));
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

    /// Per-frame (length, protocols) as tshark reads the file, mapped to wardwatch's protocols
    /// by the outermost transport, as [`crate::decode::classify`] does.
    fn tshark_counts(path: &Path) -> (u64, u64, BTreeMap<Protocol, u64>) {
        let output = Command::new("tshark")
            .args(["-r"])
            .arg(path)
            .args(["-T", "fields", "-e", "frame.len", "-e", "frame.protocols"])
            .output()
            .expect("tshark is installed by scripts/install-deps.sh");
        assert!(output.status.success(), "tshark: {}", String::from_utf8_lossy(&output.stderr));
        let (mut packets, mut bytes, mut protocols) = (0, 0, BTreeMap::new());
        for line in String::from_utf8(output.stdout).unwrap().lines() {
            let (len, stack) = line.split_once('\t').unwrap();
            packets += 1;
            bytes += len.parse::<u64>().unwrap();
            let layers: Vec<&str> = stack.split(':').collect();
            let transport = layers.iter().find_map(|layer| match *layer {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                "icmp" => Some(Protocol::Icmp),
                "icmpv6" => Some(Protocol::Icmpv6),
                _ => None,
            });
            let protocol = transport.unwrap_or(if layers.contains(&"arp") {
                Protocol::Arp
            } else if layers.contains(&"ip") || layers.contains(&"ipv6") {
                Protocol::OtherIp
            } else {
                Protocol::OtherLink
            });
            *protocols.entry(protocol).or_default() += 1;
        }
        (packets, bytes, protocols)
    }

    #[test]
    fn packet_byte_and_protocol_counts_equal_tsharks() {
        let dir = tempfile::tempdir().unwrap();
        let ethernet_file = dir.path().join("assorted.pcap");
        let assorted = assorted_frames();
        let mut frames: Vec<(&[u8], u32)> = assorted.iter().map(|f| (f.as_slice(), f.len() as u32)).collect();
        // A large segment of which the snapshot length kept 100 bytes.
        let large = tcp_frame(&[b'x'; 1200]);
        frames.push((&large[..100], large.len() as u32));
        write_pcap_with_lengths(&ethernet_file, pcap::Linktype::ETHERNET, &frames);
        let cooked_file = dir.path().join("cooked.pcap");
        let cooked: Vec<Vec<u8>> = (0..3u16)
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
        write_pcap(&cooked_file, pcap::Linktype::LINUX_SLL, &cooked);
        for file in [&ethernet_file, &cooked_file] {
            let summary = summarize_file(file, PipelineConfig::default()).unwrap();
            assert!(summary.decode_errors.is_empty(), "{:?}", summary.decode_errors);
            assert_eq!((summary.packets, summary.bytes, summary.protocols), tshark_counts(file), "{}", file.display());
        }
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = summarize_file(Path::new("/nonexistent/x.pcap"), PipelineConfig::default()).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.pcap"));
    }
}
