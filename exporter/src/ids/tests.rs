//! Each rule on its scenario, built from Ethernet frames and run through the whole pipeline,
//! on top of a ward device's normal life (an HL7 session to the gateway, NTP polls, the
//! gateway's ARP replies), which alone fires nothing.

use std::time::Duration;

use wardwatch_clinical::mllp;

use super::*;
use crate::decode::packet::LinkType;
use crate::pipeline::{Event, Pipeline, PipelineConfig, Sink};
use crate::testing::{Conversation, Flags, ack, arp_reply, datagram, oru, segment};

const DEVICE: [u8; 4] = [10, 1, 0, 7];
const GATEWAY: ([u8; 4], u16) = ([10, 1, 0, 2], 2575);
const NTP: ([u8; 4], u16) = ([10, 1, 0, 3], 123);
const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const START: u64 = 1_790_000_000;

fn at(seconds: f64) -> Duration {
    Duration::from_secs(START) + Duration::from_secs_f64(seconds)
}

/// The ward's expected behaviour, as the operator sets it.
fn ward_config() -> IdsConfig {
    IdsConfig {
        allowed_cidrs: "10.1.0.0/24".parse().unwrap(),
        allowed_ports: "UDP/123,TCP/443,ICMP,TCP/2575".parse().unwrap(),
        local_cidrs: "10.1.0.7/32".parse().unwrap(),
        ..IdsConfig::default()
    }
}

/// The ward's, allowing every TCP and UDP port: a scan then trips `port_scan` alone, not
/// `unexpected_port` at its first closed port as well.
fn any_port_config() -> IdsConfig {
    IdsConfig { allowed_ports: "TCP,UDP,ICMP".parse().unwrap(), ..ward_config() }
}

/// The ward's without the device's addresses, as when reading a capture file: the side that
/// opens a flow is the device.
fn capture_file_config() -> IdsConfig {
    IdsConfig { local_cidrs: Default::default(), ..ward_config() }
}

/// Another host of the ward, which scans and floods the device in the inbound cases.
const ATTACKER: [u8; 4] = [10, 1, 0, 66];

type Frames = Vec<(Duration, Vec<u8>)>;

/// `seconds` of a device's normal life: one ORU a second to the gateway (each ACKed), an NTP
/// poll every 16 s from a fresh source port, the gateway's ARP reply every 30 s.
fn normal(seconds: u32) -> Frames {
    let mut frames = Frames::new();
    let mut hl7 = Conversation::between((DEVICE, 40000), GATEWAY);
    for (i, frame) in hl7.handshake().into_iter().enumerate() {
        frames.push((at(i as f64 * 0.001), frame));
    }
    for second in 1..seconds {
        let t = f64::from(second);
        let control = format!("M{second}");
        let message = mllp::frame(oru("P-1", &control, &[("spo2", 96.0), ("heart_rate", 72.0)]).as_bytes());
        frames.push((at(t), hl7.client(Flags::Ack, &message)));
        frames.push((at(t + 0.002), hl7.server(Flags::Ack, &mllp::frame(ack("A", &control, "AA").as_bytes()))));
        if second % 16 == 0 {
            let port = 50000 + second as u16;
            frames.push((at(t + 0.1), datagram((DEVICE, port), NTP, &[0x23; 48])));
            frames.push((at(t + 0.101), datagram(NTP, (DEVICE, port), &[0x24; 48])));
        }
        if second % 30 == 0 {
            frames.push((at(t + 0.2), arp_reply(GATEWAY.0, GATEWAY_MAC)));
        }
    }
    frames
}

/// What the rules reported.
#[derive(Debug, Default)]
struct Alerts {
    fired: Vec<Rule>,
    cleared: Vec<Rule>,
    descriptions: Vec<String>,
}

impl Sink for Alerts {
    fn record(&mut self, event: Event<'_>) {
        match event {
            Event::AlertFired(alert) => {
                assert_eq!(alert.severity, alert.rule.severity());
                self.fired.push(alert.rule);
                self.descriptions.push(alert.description.clone());
            }
            Event::AlertCleared(rule) => self.cleared.push(rule),
            _ => {}
        }
    }
}

fn run(config: IdsConfig, mut frames: Frames) -> Alerts {
    frames.sort_by_key(|(t, _)| *t);
    let mut pipeline = Pipeline::new(PipelineConfig { ids: config, ..PipelineConfig::default() });
    let mut alerts = Alerts::default();
    for (t, frame) in &frames {
        pipeline.process(*t, LinkType::Ethernet, frame, frame.len() as u32, &mut alerts);
    }
    alerts
}

/// Normal life for three minutes with `attack` mixed in.
fn with_normal(attack: Frames) -> Frames {
    let mut frames = normal(180);
    frames.extend(attack);
    frames
}

/// SYNs from `scanner` to `ports` of `target`, each answered by RST, starting at `from`.
fn port_scan(scanner: [u8; 4], target: [u8; 4], ports: std::ops::RangeInclusive<u16>, from: f64) -> Frames {
    let mut frames = Frames::new();
    for (i, port) in ports.enumerate() {
        let t = from + i as f64 * 0.001;
        frames.push((at(t), segment((scanner, 41000), (target, port), 7, 0, Flags::Syn, b"")));
        frames.push((at(t + 0.0005), segment((target, port), (scanner, 41000), 0, 8, Flags::Rst, b"")));
    }
    frames
}

/// The device's scan of `ports` of the attacker's host, starting at `from`.
fn device_scan(ports: std::ops::RangeInclusive<u16>, from: f64) -> Frames {
    port_scan(DEVICE, ATTACKER, ports, from)
}

/// The attacker's scan of `ports` of the device, starting at `from`.
fn inbound_scan(ports: std::ops::RangeInclusive<u16>, from: f64) -> Frames {
    port_scan(ATTACKER, DEVICE, ports, from)
}

/// UDP datagrams from `scanner` to `ports` of `target` (new flows), starting at `from`.
fn udp_scan(scanner: [u8; 4], target: [u8; 4], ports: std::ops::RangeInclusive<u16>, from: f64) -> Frames {
    ports
        .enumerate()
        .map(|(i, port)| (at(from + i as f64 * 0.001), datagram((scanner, 41000), (target, port), b"probe")))
        .collect()
}

/// 1200 SYNs from `sources` (port 30000 and up) to `target`:2575 in 3.6 s from t = 80 s.
fn syn_flood(sources: impl Fn(u32) -> [u8; 4], target: [u8; 4]) -> Frames {
    (0..1200u32)
        .map(|i| {
            let t = 80.0 + f64::from(i) * 0.003;
            (at(t), segment((sources(i), 30000 + i as u16), (target, 2575), i, 0, Flags::Syn, b""))
        })
        .collect()
}

/// The device flooding the gateway's HL7 port.
fn device_flood() -> Frames {
    syn_flood(|_| DEVICE, GATEWAY.0)
}

/// 200 outside hosts flooding the device's port 2575.
fn inbound_flood() -> Frames {
    syn_flood(|i| [198, 51, 100, (i % 200) as u8 + 1], DEVICE)
}

/// 1200 completed handshakes from `client` (port 30000 and up) to the gateway's HL7 port.
fn completed_handshakes(client: [u8; 4]) -> Frames {
    let mut frames = Frames::new();
    for i in 0..1200u32 {
        let t = 80.0 + f64::from(i) * 0.003;
        let mut connection = Conversation::between((client, 30000 + i as u16), GATEWAY);
        for (k, frame) in connection.handshake().into_iter().enumerate() {
            frames.push((at(t + k as f64 * 0.0001), frame));
        }
    }
    frames
}

fn fires_exactly(rule: Rule, attack: Frames) -> Alerts {
    let alerts = run(ward_config(), with_normal(attack));
    assert_eq!(alerts.fired, [rule], "{:?}", alerts.descriptions);
    alerts
}

#[test]
fn normal_ward_traffic_fires_nothing() {
    let alerts = run(ward_config(), normal(180));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

#[test]
fn a_port_scan_by_the_device_fires_port_scan() {
    // The ward's ports: the scan's first closed port is an unexpected port as well.
    let alerts = run(ward_config(), with_normal(device_scan(1..=20, 80.0)));
    assert_eq!(alerts.fired, [Rule::UnexpectedPort, Rule::PortScan], "{:?}", alerts.descriptions);
    assert!(alerts.descriptions[1].contains("10.1.0.7 probed 15"), "{:?}", alerts.descriptions);
    // Where every port is allowed, only the scan speaks; UDP probes count as TCP ones do.
    for scan in [device_scan(1..=20, 80.0), udp_scan(DEVICE, ATTACKER, 1..=20, 80.0)] {
        let alerts = run(any_port_config(), with_normal(scan));
        assert_eq!(alerts.fired, [Rule::PortScan], "{:?}", alerts.descriptions);
    }
}

/// The node's kubelet probing the device's metrics port (9478) from an ephemeral port, in a
/// connection that opened before the capture started: what the capture sees first is either the
/// device's answer or, when only the SYN was missed, the device's SYN-ACK.
fn probe_answered_before_the_capture(first_seen: Flags, from: f64) -> Frames {
    let prober = ([10, 1, 0, 1], 49870);
    let mut probe = Conversation::between(prober, (DEVICE, 9478));
    let mut frames = Frames::new();
    if first_seen == Flags::SynAck {
        frames.push((at(from), probe.server(Flags::SynAck, b"")));
        frames.push((at(from + 0.001), probe.client(Flags::Ack, b"")));
    }
    let answer = probe.server(Flags::Ack, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    frames.push((at(from + 0.002), answer));
    frames.push((at(from + 0.003), probe.client(Flags::Fin, b"")));
    frames.push((at(from + 0.004), probe.server(Flags::Fin, b"")));
    frames
}

#[test]
fn a_connection_opened_before_the_capture_is_nobodys_contact() {
    // Judged by its first packet, the device would have contacted 10.1.0.1:49870, a port the
    // ward does not allow, and been quarantined at its exporter's start. Found on the real node.
    // Read from a file (no device addresses), a seen SYN-ACK rightly makes the prober the
    // opener, and so the device; only the mid-stream case is nobody's there.
    let cases = [(Flags::Ack, ward_config()), (Flags::Ack, capture_file_config()), (Flags::SynAck, ward_config())];
    for (first_seen, config) in cases {
        let mut frames = probe_answered_before_the_capture(first_seen, 0.0005);
        frames.extend(normal(60));
        let alerts = run(config, frames);
        assert!(alerts.fired.is_empty(), "{first_seen:?}: {:?}", alerts.descriptions);
    }
    // A connection the device opens is still judged when the SYN is all the capture missed.
    let mut outbound = Conversation::between((DEVICE, 40100), ([10, 1, 0, 9], 8080));
    let frames = vec![(at(80.0), outbound.server(Flags::SynAck, b"")), (at(80.001), outbound.client(Flags::Ack, b""))];
    let alerts = run(ward_config(), with_normal(frames));
    assert_eq!(alerts.fired, [Rule::UnexpectedPort], "{:?}", alerts.descriptions);
    assert!(alerts.descriptions[0].contains("10.1.0.7 contacted 10.1.0.9:8080/Tcp"), "{:?}", alerts.descriptions);
}

#[test]
fn a_port_scan_of_the_device_is_not_the_devices_alert() {
    // The scanner's own exporter raises it; the target's raises nothing, or the quarantine
    // webhook would isolate the victim.
    for scan in [inbound_scan(1..=20, 80.0), udp_scan(ATTACKER, DEVICE, 1..=20, 80.0)] {
        for config in [ward_config(), any_port_config()] {
            let alerts = run(config, with_normal(scan.clone()));
            assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
        }
    }
    // Nor does another host's sweep of the ward that the capture happens to see.
    let sweep = (1..=12u8)
        .map(|host| {
            (
                at(80.0 + f64::from(host) * 0.01),
                segment((ATTACKER, 41000), ([10, 1, 0, 100 + host], 443), 7, 0, Flags::Syn, b""),
            )
        })
        .collect();
    let alerts = run(ward_config(), with_normal(sweep));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

#[test]
fn a_host_sweep_fires_port_scan() {
    // The device tries TCP/443, an allowed port, on 12 hosts of the ward.
    let sweep = (1..=12u8)
        .map(|host| {
            (
                at(80.0 + f64::from(host) * 0.01),
                segment((DEVICE, 41000), ([10, 1, 0, 100 + host], 443), 7, 0, Flags::Syn, b""),
            )
        })
        .collect();
    let alerts = fires_exactly(Rule::PortScan, sweep);
    assert!(alerts.descriptions[0].contains("10.1.0.7 probed 10 or more distinct hosts"), "{:?}", alerts.descriptions);
}

#[test]
fn a_syn_flood_by_the_device_fires_syn_flood() {
    let alerts = fires_exactly(Rule::SynFlood, device_flood());
    assert!(alerts.descriptions[0].contains("SYNs to 10.1.0.2"), "{:?}", alerts.descriptions);
}

#[test]
fn a_syn_flood_at_the_device_is_not_the_devices_alert() {
    let alerts = run(ward_config(), with_normal(inbound_flood()));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

#[test]
fn many_completed_handshakes_are_not_a_syn_flood() {
    let alerts = run(ward_config(), with_normal(completed_handshakes(DEVICE)));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

#[test]
fn another_hosts_completed_handshakes_do_not_hide_the_devices_syn_flood() {
    // Only the device's SYNs are counted, so only its handshakes offset them.
    let mut frames = device_flood();
    frames.extend(completed_handshakes([10, 1, 0, 9]));
    fires_exactly(Rule::SynFlood, frames);
}

#[test]
fn contact_outside_the_allowed_cidrs_fires_external_contact() {
    let contact = vec![(at(80.0), segment((DEVICE, 41001), ([203, 0, 113, 9], 443), 1, 0, Flags::Syn, b""))];
    let alerts = fires_exactly(Rule::ExternalContact, contact);
    assert!(alerts.descriptions[0].contains("203.0.113.9:443"), "{:?}", alerts.descriptions);
}

#[test]
fn a_port_not_allowed_fires_unexpected_port() {
    let telnet = vec![(at(80.0), segment((DEVICE, 41002), ([10, 1, 0, 2], 23), 1, 0, Flags::Syn, b""))];
    fires_exactly(Rule::UnexpectedPort, telnet);
    let tftp = vec![(at(80.0), datagram((DEVICE, 41002), ([10, 1, 0, 2], 69), b"\x00\x01boot"))];
    fires_exactly(Rule::UnexpectedPort, tftp);
}

#[test]
fn an_ip_changing_its_mac_fires_arp_spoof() {
    let spoof = vec![(at(80.0), arp_reply(GATEWAY.0, [2, 0x66, 0, 0, 0, 0x66]))];
    let alerts = fires_exactly(Rule::ArpSpoof, spoof);
    assert!(
        alerts.descriptions[0].contains("02:00:00:00:00:02") && alerts.descriptions[0].contains("02:66:00:00:00:66")
    );
}

/// A new connection to the gateway carrying `segments` segments of 1400 bytes in two seconds.
fn upload(segments: u32, from: f64) -> Frames {
    let mut connection = Conversation::between((DEVICE, 41003), GATEWAY);
    let mut frames: Frames =
        connection.handshake().into_iter().enumerate().map(|(k, f)| (at(from + k as f64 * 0.001), f)).collect();
    for i in 0..segments {
        frames.push((
            at(from + 0.01 + f64::from(i) * 2.0 / f64::from(segments)),
            connection.client(Flags::Ack, &[b'x'; 1400]),
        ));
    }
    frames
}

#[test]
fn egress_far_above_the_baseline_fires_exfiltration() {
    fires_exactly(Rule::Exfiltration, upload(1500, 80.0));
}

#[test]
fn egress_above_the_baseline_but_under_the_minimum_volume_is_not_exfiltration() {
    // About 140 kB: many times the HL7 baseline, but under the 256 KiB floor.
    let alerts = run(ward_config(), with_normal(upload(100, 80.0)));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

/// Connections from the device to 10.1.0.5:443 (allowed host and port) every `period` seconds,
/// with `wobble` seconds of alternating jitter.
fn beacons(count: u16, period: f64, wobble: f64) -> Frames {
    (0..count)
        .map(|i| {
            let jitter = if i % 2 == 0 { wobble } else { -wobble };
            let t = 10.0 + f64::from(i) * period + jitter;
            (at(t), segment((DEVICE, 42000 + i), ([10, 1, 0, 5], 443), 1, 0, Flags::Syn, b""))
        })
        .collect()
}

#[test]
fn periodic_connections_fire_beaconing() {
    let alerts = fires_exactly(Rule::Beaconing, beacons(6, 20.0, 0.1));
    assert!(alerts.descriptions[0].contains("every 20"), "{:?}", alerts.descriptions);
}

#[test]
fn irregular_or_too_few_connections_are_not_beaconing() {
    let irregular = beacons(8, 20.0, 6.0);
    let alerts = run(ward_config(), with_normal(irregular));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
    let alerts = run(ward_config(), with_normal(beacons(5, 20.0, 0.1)));
    assert!(alerts.fired.is_empty(), "{:?}", alerts.descriptions);
}

#[test]
fn sensitivity_moves_the_threshold() {
    let ten_ports = || with_normal(device_scan(1..=10, 80.0));
    assert!(run(any_port_config(), ten_ports()).fired.is_empty(), "medium: 15 ports");
    let high = IdsConfig { sensitivity: Sensitivity::High, ..any_port_config() };
    assert_eq!(run(high, ten_ports()).fired, [Rule::PortScan], "high: 8 ports");
    let twenty_ports = with_normal(device_scan(1..=20, 80.0));
    let low = IdsConfig { sensitivity: Sensitivity::Low, ..any_port_config() };
    assert!(run(low, twenty_ports).fired.is_empty(), "low: 30 ports");
}

#[test]
fn an_alert_holds_while_its_condition_does_and_clears_after_a_quiet_window() {
    // Scans in three consecutive windows: one alert.
    let mut scans = Frames::new();
    for from in [80.0, 85.0, 92.0, 101.0] {
        scans.extend(device_scan(1..=20, from));
    }
    let alerts = run(any_port_config(), with_normal(scans.clone()));
    assert_eq!(alerts.fired, [Rule::PortScan]);
    assert_eq!(alerts.cleared, [Rule::PortScan], "cleared once the scans stopped");
    // After it cleared, a new scan is a new alert.
    scans.extend(device_scan(1..=20, 150.0));
    let alerts = run(any_port_config(), with_normal(scans));
    assert_eq!(alerts.fired, [Rule::PortScan, Rule::PortScan]);
    assert_eq!(alerts.cleared, [Rule::PortScan, Rule::PortScan]);
}

#[test]
fn quiet_capture_time_clears_active_alerts() {
    let mut pipeline = Pipeline::new(PipelineConfig { ids: any_port_config(), ..PipelineConfig::default() });
    let mut alerts = Alerts::default();
    for (t, frame) in device_scan(1..=20, 0.0) {
        pipeline.process(t, LinkType::Ethernet, &frame, frame.len() as u32, &mut alerts);
    }
    assert!(pipeline.ids().is_active(Rule::PortScan));
    pipeline.expire(at(25.0), &mut alerts);
    assert!(!pipeline.ids().is_active(Rule::PortScan));
    assert_eq!(alerts.cleared, [Rule::PortScan]);
}

#[test]
fn tables_are_bounded_and_what_does_not_fit_is_counted() {
    // Without the device's addresses every SYN's source counts, so many sources can be tracked.
    let mut ids = Ids::new(IdsConfig { max_tracked: 2, ..capture_file_config() });
    for host in 1..=5u8 {
        ids.on_syn(at(0.0), [10, 1, 0, 100 + host].into(), DEVICE.into(), 2575);
    }
    // The port-scan table holds 2 of the 5 sources; the one destination fits the SYN-flood table.
    assert_eq!(ids.take_untracked(), 3);
    for port in 1..=3u16 {
        ids.on_syn(at(0.1), [10, 1, 0, 101].into(), [10, 1, 0, 200 + port as u8].into(), port);
    }
    // A tracked source, three more destinations: the SYN-flood table has room for one of them.
    assert_eq!(ids.take_untracked(), 2);
    assert_eq!(ids.take_untracked(), 0, "counted once");
}

#[test]
fn without_local_cidrs_the_side_that_opens_a_flow_is_the_device() {
    let config = capture_file_config();
    let contact = vec![(at(80.0), segment((DEVICE, 41001), ([203, 0, 113, 9], 443), 1, 0, Flags::Syn, b""))];
    assert_eq!(run(config.clone(), with_normal(contact)).fired, [Rule::ExternalContact]);
    assert!(run(config.clone(), normal(180)).fired.is_empty());
    // Whoever scans or floods is the device: the scans and floods of 10.1.0.7 by others are
    // alerts here, as they were before the device's addresses narrowed what counts.
    let alerts = run(config.clone(), with_normal(inbound_scan(1..=20, 80.0)));
    assert_eq!(alerts.fired, [Rule::UnexpectedPort, Rule::PortScan], "{:?}", alerts.descriptions);
    assert!(alerts.descriptions[1].contains("10.1.0.66 probed 15"), "{:?}", alerts.descriptions);
    let alerts = run(config.clone(), with_normal(inbound_flood()));
    assert_eq!(alerts.fired, [Rule::SynFlood], "{:?}", alerts.descriptions);
    assert!(alerts.descriptions[0].contains("SYNs to 10.1.0.7"), "{:?}", alerts.descriptions);
    assert_eq!(run(config, with_normal(device_flood())).fired, [Rule::SynFlood]);
}
