//! Port scan: one source opening flows to many distinct destination ports or hosts in a window.
//! The sources are the device's own addresses (the caller passes only the device's probes), or
//! in a capture file without device addresses every side that opens a flow.

use std::net::IpAddr;

use foldhash::{HashMap, HashSet};

use super::Tracked;

/// What one source reached in the current window; each set stops growing at its threshold.
#[derive(Debug, Default)]
struct Reach {
    ports: HashSet<u16>,
    hosts: HashSet<IpAddr>,
}

#[derive(Debug, Default)]
pub struct PortScan {
    sources: HashMap<IpAddr, Reach>,
}

impl PortScan {
    /// A probe (SYN, or a new non-TCP flow) from `source` to `host`:`port`; describes the scan
    /// once a threshold is met.
    pub fn on_probe(
        &mut self,
        source: IpAddr,
        host: IpAddr,
        port: u16,
        ports: usize,
        hosts: usize,
        cap: usize,
    ) -> Tracked<String> {
        if !self.sources.contains_key(&source) && self.sources.len() >= cap {
            return Tracked::Untracked;
        }
        let reach = self.sources.entry(source).or_default();
        if reach.ports.len() < ports {
            reach.ports.insert(port);
        }
        if reach.hosts.len() < hosts {
            reach.hosts.insert(host);
        }
        if reach.ports.len() >= ports {
            Tracked::Holds(format!("{source} probed {} or more distinct ports in one window", reach.ports.len()))
        } else if reach.hosts.len() >= hosts {
            Tracked::Holds(format!("{source} probed {} or more distinct hosts in one window", reach.hosts.len()))
        } else {
            Tracked::Quiet
        }
    }

    pub fn close_window(&mut self) {
        self.sources.clear();
    }
}
