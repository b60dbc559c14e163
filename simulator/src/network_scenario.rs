//! Network behaviour scenarios, with the names the operator passes in
//! `WARDWATCH_NETWORK_SCENARIO`. Every scenario but `normal` is an attack: opt-in, aimed at one
//! configured target, bounded in rate and time.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkScenario {
    #[default]
    Normal,
    /// Probes many TCP ports of the target.
    PortScan,
    /// Many SYNs towards one port of the target, no handshake completed.
    SynFlood,
    /// Connections to an external address the ward does not allow.
    ExternalContact,
    /// A large upload to an external address.
    Exfiltration,
    /// Short connections at a near-constant period (command-and-control check-ins).
    Beaconing,
    /// ARP announcements claiming the target's IP for the device's MAC.
    ArpSpoof,
}

impl NetworkScenario {
    pub const ALL: [NetworkScenario; 7] = [
        NetworkScenario::Normal,
        NetworkScenario::PortScan,
        NetworkScenario::SynFlood,
        NetworkScenario::ExternalContact,
        NetworkScenario::Exfiltration,
        NetworkScenario::Beaconing,
        NetworkScenario::ArpSpoof,
    ];

    /// Every scenario but `normal`.
    pub const ATTACKS: [NetworkScenario; 6] = [
        NetworkScenario::PortScan,
        NetworkScenario::SynFlood,
        NetworkScenario::ExternalContact,
        NetworkScenario::Exfiltration,
        NetworkScenario::Beaconing,
        NetworkScenario::ArpSpoof,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NetworkScenario::Normal => "normal",
            NetworkScenario::PortScan => "port-scan",
            NetworkScenario::SynFlood => "syn-flood",
            NetworkScenario::ExternalContact => "external-contact",
            NetworkScenario::Exfiltration => "exfiltration",
            NetworkScenario::Beaconing => "beaconing",
            NetworkScenario::ArpSpoof => "arp-spoof",
        }
    }

    pub fn is_attack(self) -> bool {
        self != NetworkScenario::Normal
    }
}

impl fmt::Display for NetworkScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NetworkScenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkScenario::ALL.into_iter().find(|n| n.name() == s).ok_or_else(|| {
            let names: Vec<_> = NetworkScenario::ALL.iter().map(|n| n.name()).collect();
            format!("unknown network scenario {s:?}; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for scenario in NetworkScenario::ALL {
            assert_eq!(scenario.name().parse::<NetworkScenario>(), Ok(scenario));
            assert_eq!(serde_json::to_value(scenario).unwrap(), scenario.name());
        }
        assert!("ddos".parse::<NetworkScenario>().unwrap_err().contains("arp-spoof"));
        assert!(NetworkScenario::ATTACKS.iter().all(|s| s.is_attack()) && !NetworkScenario::Normal.is_attack());
    }
}
