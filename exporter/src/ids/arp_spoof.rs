//! ARP spoofing: an IPv4 address announced from a different MAC address than before.

use std::net::Ipv4Addr;

use foldhash::HashMap;

use super::Tracked;
use crate::decode::packet::ArpSender;

/// The MAC each IPv4 address was last announced from. Not reset per window: bindings outlive
/// windows. Bounded: addresses beyond the cap are untracked.
#[derive(Debug, Default)]
pub struct ArpSpoof {
    bindings: HashMap<Ipv4Addr, [u8; 6]>,
}

impl ArpSpoof {
    pub fn on_arp(&mut self, sender: ArpSender, cap: usize) -> Tracked<String> {
        // ARP probes (RFC 5227) come from 0.0.0.0: they claim no address.
        if sender.ip.is_unspecified() {
            return Tracked::Quiet;
        }
        let full = self.bindings.len() >= cap;
        match self.bindings.get_mut(&sender.ip) {
            Some(mac) if *mac != sender.mac => {
                let before = *mac;
                *mac = sender.mac;
                Tracked::Holds(format!("{} moved from MAC {} to {}", sender.ip, mac_text(before), mac_text(sender.mac)))
            }
            Some(_) => Tracked::Quiet,
            None if full => Tracked::Untracked,
            None => {
                self.bindings.insert(sender.ip, sender.mac);
                Tracked::Quiet
            }
        }
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|byte| format!("{byte:02x}")).join(":")
}
