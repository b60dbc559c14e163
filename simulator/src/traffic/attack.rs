//! One attack in a capture: which scenario, from which device, at which target, when. The
//! dispatcher hands it to the module that synthesises that behaviour.

use rand::rngs::ChaCha8Rng;

use super::{Frame, Host, Window, arp_spoof, beaconing, exfiltration, external_contact, hosts, port_scan, syn_flood};
use crate::network_scenario::NetworkScenario;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attack {
    pub scenario: NetworkScenario,
    pub attacker: Host,
    /// Where the attacker's own flows start numbering their source ports.
    pub port_base: u32,
    pub target: [u8; 4],
    pub window: Window,
}

/// The target a scenario aims at when none is configured: the gateway for attacks on the
/// ward, documentation addresses for the outside.
pub fn default_target(scenario: NetworkScenario) -> [u8; 4] {
    match scenario {
        NetworkScenario::Normal | NetworkScenario::PortScan | NetworkScenario::SynFlood | NetworkScenario::ArpSpoof => {
            hosts::GATEWAY.ip
        }
        NetworkScenario::ExternalContact => hosts::EXTERNAL_CONTACT,
        NetworkScenario::Exfiltration => hosts::EXFILTRATION_DROP,
        NetworkScenario::Beaconing => hosts::BEACON_SERVER,
    }
}

/// The attack's frames, all inside its window.
pub fn frames(attack: &Attack, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let target = hosts::resolve(attack.target);
    let (device, window, base) = (attack.attacker, attack.window, attack.port_base);
    match attack.scenario {
        NetworkScenario::Normal => Vec::new(),
        NetworkScenario::PortScan => port_scan::frames(device, target, window, rng),
        NetworkScenario::SynFlood => syn_flood::frames(device, target, window, rng),
        NetworkScenario::ExternalContact => external_contact::frames(device, base, target, window, rng),
        NetworkScenario::Exfiltration => exfiltration::frames(device, base, target, window, rng),
        NetworkScenario::Beaconing => beaconing::frames(device, base, target, window, rng),
        NetworkScenario::ArpSpoof => arp_spoof::frames(device, attack.target, window),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    const DEVICE: Host = Host { mac: [2, 0x57, 0x57, 0, 0, 1], ip: [10, 20, 0, 10] };
    const START: u64 = 1_795_305_600_000_000;

    fn run(scenario: NetworkScenario, seconds: u64) -> Vec<Frame> {
        let window = Window { start_us: START, end_us: START + seconds * 1_000_000 };
        let attack = Attack { scenario, attacker: DEVICE, port_base: 100, target: default_target(scenario), window };
        let frames = frames(&attack, &mut ChaCha8Rng::seed_from_u64(3));
        assert!(frames.iter().all(|f| window.contains(f.timestamp_us)), "{scenario}: a frame outside the window");
        frames
    }

    /// (source IP, destination IP, destination port, SYN, ACK, payload length) of a TCP frame.
    type Segment = ([u8; 4], [u8; 4], u16, bool, bool, usize);

    fn tcp(frames: &[Frame]) -> Vec<Segment> {
        frames
            .iter()
            .filter_map(|f| {
                let packet = SlicedPacket::from_ethernet(&f.bytes).ok()?;
                let Some(NetSlice::Ipv4(ip)) = &packet.net else { return None };
                let Some(TransportSlice::Tcp(t)) = &packet.transport else { return None };
                let h = ip.header();
                Some((h.source(), h.destination(), t.destination_port(), t.syn(), t.ack(), t.payload().len()))
            })
            .collect()
    }

    #[test]
    fn a_port_scan_probes_1024_ports_of_the_target_and_open_ones_answer() {
        let segments = tcp(&run(NetworkScenario::PortScan, 30));
        let probed: BTreeSet<u16> = segments.iter().filter(|s| s.0 == DEVICE.ip && s.3 && !s.4).map(|s| s.2).collect();
        assert_eq!(probed.len(), 1024);
        assert!(segments.iter().all(|s| s.0 == DEVICE.ip || s.0 == hosts::GATEWAY.ip));
        assert_eq!(segments.iter().filter(|s| s.3 && s.4).count(), port_scan::OPEN_PORTS.len());
        // A short window cuts the scan, never stretches it.
        let short = tcp(&run(NetworkScenario::PortScan, 1));
        assert_eq!(short.iter().filter(|s| s.3 && !s.4).count(), 200);
    }

    #[test]
    fn a_syn_flood_never_completes_a_handshake() {
        let segments = tcp(&run(NetworkScenario::SynFlood, 4));
        let syns = segments.iter().filter(|s| s.3 && !s.4).count();
        assert_eq!(syns, 1000, "250 per second");
        assert!(segments.iter().all(|s| s.3), "only SYNs and SYN-ACKs, never the final ACK");
        let longest = tcp(&run(NetworkScenario::SynFlood, 3600));
        assert_eq!(longest.iter().filter(|s| s.3 && !s.4).count() as u64, syn_flood::MAX_SYNS);
    }

    #[test]
    fn exfiltration_uploads_megabytes_outside() {
        let segments = tcp(&run(NetworkScenario::Exfiltration, 3));
        let up: usize = segments.iter().filter(|s| s.0 == DEVICE.ip).map(|s| s.5).sum();
        let down: usize = segments.iter().filter(|s| s.1 == DEVICE.ip).map(|s| s.5).sum();
        assert!(up > 5_000_000 && down == 0, "{up} up, {down} down");
        assert!(segments.iter().all(|s| !hosts::is_ward(s.1) || s.1 == DEVICE.ip));
    }

    #[test]
    fn beacons_and_contacts_are_periodic_connections_outside() {
        for (scenario, period_s) in [(NetworkScenario::Beaconing, 5), (NetworkScenario::ExternalContact, 10)] {
            let segments = tcp(&run(scenario, 60));
            let connections = segments.iter().filter(|s| s.3 && !s.4).count() as u64;
            assert_eq!(connections, 60 / period_s, "{scenario}");
            assert!(segments.iter().all(|s| s.0 == default_target(scenario) || s.1 == default_target(scenario)));
        }
    }

    #[test]
    fn arp_spoofing_announces_the_target_ip_at_the_device_mac() {
        let frames = run(NetworkScenario::ArpSpoof, 10);
        assert_eq!(frames.len(), 20);
        for frame in &frames {
            assert_eq!(&frame.bytes[22..28], &DEVICE.mac, "sender MAC");
            assert_eq!(&frame.bytes[28..32], &hosts::GATEWAY.ip, "sender IP");
        }
    }
}
