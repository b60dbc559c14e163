//! A SYN flood: SYNs at a high, bounded rate to one port of the target, each from a new source
//! port, none of them completed. The target answers each with a SYN-ACK that is never
//! acknowledged: the half-open connections that fill a listener's backlog.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::packet::{TcpFlags, tcp_frame};
use super::{Frame, Host, Window};
use crate::traffic::tcp_session::ROUND_TRIP_US;

/// SYNs per second: over twice the default intrusion threshold of 100 per second.
pub const SYNS_PER_S: u64 = 250;
/// The most SYNs one flood sends, whatever the window.
pub const MAX_SYNS: u64 = 5_000;
/// The port flooded: the gateway's MLLP listener.
pub const TARGET_PORT: u16 = 2575;
/// Source ports are drawn below the ephemeral range, so that they never meet a real flow.
const SOURCE_PORTS: std::ops::Range<u32> = 1024..32_768;

pub fn frames(attacker: Host, target: Host, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let spacing_us = 1_000_000 / SYNS_PER_S;
    let count = (window.length_us() / spacing_us).min(MAX_SYNS);
    let span = SOURCE_PORTS.end - SOURCE_PORTS.start;
    let first_port: u32 = rng.random_range(0..span);
    let mut frames = Vec::with_capacity(2 * count as usize);
    for n in 0..count {
        let t_us = window.start_us + n * spacing_us;
        // Consecutive ports from a random start: distinct for up to `span` SYNs.
        let port = (SOURCE_PORTS.start + (first_port + n as u32) % span) as u16;
        let from = attacker.at(port);
        let to = target.at(TARGET_PORT);
        let isn: u32 = rng.random();
        frames.push(Frame { timestamp_us: t_us, bytes: tcp_frame(from, to, isn, 0, n as u16, TcpFlags::SYN, &[]) });
        let answer = tcp_frame(to, from, rng.random(), isn.wrapping_add(1), n as u16, TcpFlags::SYN_ACK, &[]);
        frames.push(Frame { timestamp_us: t_us + ROUND_TRIP_US, bytes: answer });
    }
    frames
}
