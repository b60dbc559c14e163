//! A TCP SYN scan: one SYN to each of the target's ports 1-1024 from one source port, paced.
//! Open ports answer with a SYN-ACK; closed ones are filtered and stay silent (so no RSTs).

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::packet::{TcpFlags, tcp_frame};
use super::{Frame, Host, Window};
use crate::traffic::tcp_session::ROUND_TRIP_US;

/// Ports probed: the well-known range, as a default nmap-style sweep starts.
pub const PORTS: u16 = 1024;
/// Probes per second: well above an intrusion rule's 15 distinct ports per 10 s, and bounded.
pub const PROBES_PER_S: u64 = 200;
/// The scanner's fixed source port, outside the ephemeral range so it never meets a real flow.
pub const SOURCE_PORT: u16 = 61_001;
/// Ports of the scanned range a ward server listens on: SSH, HTTP, DICOM, HTTPS (MLLP's 2575
/// is above the range).
pub const OPEN_PORTS: [u16; 4] = [22, 80, 104, 443];

pub fn frames(scanner: Host, target: Host, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    let spacing_us = 1_000_000 / PROBES_PER_S;
    for port in 1..=PORTS {
        let t_us = window.start_us + u64::from(port - 1) * spacing_us;
        if !window.contains(t_us) {
            break;
        }
        let from = scanner.at(SOURCE_PORT);
        let to = target.at(port);
        let isn: u32 = rng.random();
        frames.push(Frame { timestamp_us: t_us, bytes: tcp_frame(from, to, isn, 0, port, TcpFlags::SYN, &[]) });
        if OPEN_PORTS.contains(&port) {
            let answer = tcp_frame(to, from, rng.random(), isn.wrapping_add(1), port, TcpFlags::SYN_ACK, &[]);
            frames.push(Frame { timestamp_us: t_us + ROUND_TRIP_US, bytes: answer });
        }
    }
    frames
}
