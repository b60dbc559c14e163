//! Pure synthesis of the traffic around the HL7 feed, for the pcap mode: each device type's
//! background traffic (time, names, web, DICOM) and each network scenario's attack, as
//! timestamped Ethernet frames. Deterministic for a random generator's seed; nothing here
//! sends anything (the live scenarios are in `crate::live`).

pub mod arp_spoof;
pub mod attack;
pub mod background;
pub mod beaconing;
pub mod dicom;
pub mod dns;
pub mod exfiltration;
pub mod external_contact;
pub mod hosts;
pub mod ntp;
pub mod packet;
pub mod port_scan;
pub mod syn_flood;
pub mod tcp_session;
pub mod tls;

pub use packet::{Endpoint, Frame};

/// A machine on the synthesised network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    pub mac: [u8; 6],
    pub ip: [u8; 4],
}

impl Host {
    pub fn at(self, port: u16) -> Endpoint {
        Endpoint { mac: self.mac, ip: self.ip, port }
    }
}

/// A span of capture time, microseconds since the Unix epoch, end excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_us: u64,
    pub end_us: u64,
}

impl Window {
    pub fn contains(&self, t_us: u64) -> bool {
        (self.start_us..self.end_us).contains(&t_us)
    }

    pub fn length_us(&self) -> u64 {
        self.end_us.saturating_sub(self.start_us)
    }
}

/// Source port of a host's `n`-th flow of one kind: inside the Linux ephemeral range
/// (32768-60999), starting at `base` and distinct for the range's size.
pub fn ephemeral_port(base: u32, n: u32) -> u16 {
    const FIRST: u32 = 32_768;
    const COUNT: u32 = 60_999 - FIRST + 1;
    (FIRST + base.wrapping_add(n) % COUNT) as u16
}
