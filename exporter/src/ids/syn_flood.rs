//! SYN flood: many SYNs to one destination in a window, most of them never completing the
//! handshake. The caller passes only the device's own SYNs and handshakes: a flood aimed at the
//! device is its attacker's alert.

use std::net::IpAddr;

use foldhash::HashMap;

use super::Tracked;

#[derive(Debug, Default, Clone, Copy)]
struct Handshakes {
    syns: u64,
    completed: u64,
}

#[derive(Debug, Default)]
pub struct SynFlood {
    destinations: HashMap<IpAddr, Handshakes>,
}

impl SynFlood {
    /// A SYN without ACK to `server`; describes the flood once `syns` and `half_open_ratio` are met.
    pub fn on_syn(&mut self, server: IpAddr, syns: u64, half_open_ratio: f64, cap: usize) -> Tracked<String> {
        if !self.destinations.contains_key(&server) && self.destinations.len() >= cap {
            return Tracked::Untracked;
        }
        let seen = self.destinations.entry(server).or_default();
        seen.syns += 1;
        let half_open = seen.syns.saturating_sub(seen.completed);
        let ratio = half_open as f64 / seen.syns as f64;
        if seen.syns >= syns && ratio >= half_open_ratio {
            Tracked::Holds(format!(
                "{} SYNs to {server} in one window, {:.0}% of them half-open",
                seen.syns,
                ratio * 100.0
            ))
        } else {
            Tracked::Quiet
        }
    }

    /// A handshake to `server` completed (only destinations already seen with SYNs are tracked).
    pub fn on_handshake(&mut self, server: IpAddr) {
        if let Some(seen) = self.destinations.get_mut(&server) {
            seen.completed += 1;
        }
    }

    pub fn close_window(&mut self) {
        self.destinations.clear();
    }
}
