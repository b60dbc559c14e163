//! Live network scenarios: a device twin that was asked to (opt-in, `--network-scenario`)
//! plays one attack against its ONE configured target, bounded in rate, count and time.
//! Port scans, connection bursts, exfiltration and beaconing use ordinary TCP sockets. A true
//! half-open SYN flood and ARP spoofing need raw frames; those are sent only from a network
//! namespace of the caller's own (see `namespace`), and refused otherwise.

pub mod background;
pub mod namespace;
pub mod pacer;
pub mod ports;
pub mod raw;
pub mod sockets;
pub mod target;

use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::network_scenario::NetworkScenario;
use pacer::Pacer;
pub use ports::PortRange;
pub use target::Target;

/// No live scenario goes faster than this, whatever it is asked: packets, probes or
/// connections per second.
pub const MAX_RATE_PER_S: f64 = 500.0;
/// Nor longer than this.
pub const MAX_DURATION: Duration = Duration::from_secs(3_600);
/// Nor more operations (probes, SYNs, connections, segments, announcements) than this.
pub const MAX_OPERATIONS: u64 = 100_000;

/// One live attack, as configured.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveAttack {
    pub scenario: NetworkScenario,
    /// The only host the attack touches: an address, or a name resolved to one address when
    /// the attack starts.
    pub target: Target,
    /// Ports probed by a port scan; the first is the one the other scenarios use.
    pub ports: PortRange,
    pub rate_per_s: f64,
    pub duration: Duration,
    pub max_operations: u64,
    /// Wait before the attack starts.
    pub onset: Duration,
}

/// What an attack did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttackReport {
    pub scenario: NetworkScenario,
    /// The address attacked (a name's, once resolved).
    pub target: String,
    /// Probes, SYNs, connection attempts, segments or announcements sent.
    pub operations: u64,
    /// Connections the target accepted.
    pub connected: u64,
    /// Connection attempts refused or timed out.
    pub failed: u64,
    /// Payload bytes written.
    pub bytes: u64,
}

impl LiveAttack {
    /// The rate each scenario goes at unless told otherwise: fast enough to be the attack it
    /// is, slow enough to stay polite on a test network.
    pub fn default_rate(scenario: NetworkScenario) -> f64 {
        match scenario {
            NetworkScenario::Normal => 0.0,
            NetworkScenario::PortScan => 100.0,
            NetworkScenario::SynFlood => 200.0,
            NetworkScenario::ExternalContact => 0.5,
            NetworkScenario::Exfiltration => 400.0,
            NetworkScenario::Beaconing => 0.2,
            NetworkScenario::ArpSpoof => 2.0,
        }
    }

    /// The port each scenario aims at unless told otherwise.
    pub fn default_ports(scenario: NetworkScenario) -> PortRange {
        match scenario {
            NetworkScenario::PortScan => PortRange { first: 1, last: 1024 },
            NetworkScenario::SynFlood => PortRange::single(2575),
            _ => PortRange::single(443),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !self.scenario.is_attack() {
            bail!("{} is not an attack scenario", self.scenario);
        }
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0 && self.rate_per_s <= MAX_RATE_PER_S) {
            bail!("the attack rate must be above 0 and at most {MAX_RATE_PER_S} per second, not {}", self.rate_per_s);
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            bail!("the attack duration must be above 0 and at most {} s", MAX_DURATION.as_secs());
        }
        if self.max_operations == 0 || self.max_operations > MAX_OPERATIONS {
            bail!("the attack's operation cap must be between 1 and {MAX_OPERATIONS}");
        }
        self.target.validate()
    }

    fn pacer(&self) -> Pacer {
        Pacer::new(self.rate_per_s, self.duration, self.max_operations)
    }
}

/// Plays the attack to its end (rate, count and time bounded) and reports what it did.
pub async fn run(attack: &LiveAttack) -> Result<AttackReport> {
    attack.validate()?;
    // The raw scenarios check their namespace before waiting, so a refusal comes at once.
    let raw_frames = matches!(attack.scenario, NetworkScenario::SynFlood | NetworkScenario::ArpSpoof);
    if raw_frames {
        namespace::ensure_private_network_namespace(attack.scenario)?;
    }
    tokio::time::sleep(attack.onset).await;
    let target = attack.target.resolve().await?;
    tracing::warn!(scenario = %attack.scenario, target = %attack.target, address = %target, rate = attack.rate_per_s,
        duration_s = attack.duration.as_secs_f64(), "starting the configured network attack scenario");
    let mut report = AttackReport { scenario: attack.scenario, target: target.to_string(), ..AttackReport::default() };
    let mut pacer = attack.pacer();
    match attack.scenario {
        NetworkScenario::Normal => {}
        NetworkScenario::PortScan => sockets::port_scan(attack, target, &mut pacer, &mut report).await,
        NetworkScenario::ExternalContact | NetworkScenario::Beaconing => {
            sockets::connections(attack, target, &mut pacer, &mut report).await
        }
        NetworkScenario::Exfiltration => sockets::exfiltrate(attack, target, &mut pacer, &mut report).await,
        NetworkScenario::SynFlood => raw::syn_flood(attack, target, &mut pacer, &mut report).await?,
        NetworkScenario::ArpSpoof => raw::arp_spoof(attack, target, &mut pacer, &mut report).await?,
    }
    tracing::info!(?report, "network attack scenario finished");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attack(scenario: NetworkScenario) -> LiveAttack {
        LiveAttack {
            scenario,
            target: Target::Address("127.0.0.1".parse().unwrap()),
            ports: LiveAttack::default_ports(scenario),
            rate_per_s: LiveAttack::default_rate(scenario),
            duration: Duration::from_secs(10),
            max_operations: 100,
            onset: Duration::ZERO,
        }
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(attack(NetworkScenario::PortScan).validate().is_ok());
        assert!(attack(NetworkScenario::Normal).validate().is_err());
        let mut fast = attack(NetworkScenario::SynFlood);
        fast.rate_per_s = 10_000.0;
        assert!(fast.validate().unwrap_err().to_string().contains("500"));
        let mut long = attack(NetworkScenario::Beaconing);
        long.duration = Duration::from_secs(7_200);
        assert!(long.validate().is_err());
        let mut many = attack(NetworkScenario::Exfiltration);
        many.max_operations = MAX_OPERATIONS + 1;
        assert!(many.validate().is_err());
        let mut nowhere = attack(NetworkScenario::PortScan);
        nowhere.target = Target::Address("0.0.0.0".parse().unwrap());
        assert!(nowhere.validate().is_err());
    }

    #[test]
    fn every_attack_has_a_rate_within_the_cap() {
        for scenario in NetworkScenario::ATTACKS {
            let rate = LiveAttack::default_rate(scenario);
            assert!(rate > 0.0 && rate <= MAX_RATE_PER_S, "{scenario}");
        }
    }
}
