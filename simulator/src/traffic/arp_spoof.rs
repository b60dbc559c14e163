//! ARP spoofing: gratuitous ARP replies, broadcast, announcing that the target's IP is at the
//! device's MAC, so that neighbours send the target's traffic to the device.

use super::packet::{ArpOp, BROADCAST_MAC, arp_frame};
use super::{Frame, Host, Window};

/// Announcements per second, as arpspoof-like tools repeat them to keep caches poisoned.
pub const PER_S: u64 = 2;
pub const MAX_ANNOUNCEMENTS: u64 = 1_200;

pub fn frames(device: Host, impersonated_ip: [u8; 4], window: Window) -> Vec<Frame> {
    let spacing_us = 1_000_000 / PER_S;
    (0..MAX_ANNOUNCEMENTS)
        .map(|n| window.start_us + n * spacing_us)
        .take_while(|t_us| window.contains(*t_us))
        .map(|t_us| Frame {
            timestamp_us: t_us,
            bytes: arp_frame(ArpOp::Reply, BROADCAST_MAC, device.mac, impersonated_ip, device.mac, impersonated_ip),
        })
        .collect()
}
