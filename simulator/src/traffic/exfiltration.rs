//! An exfiltration burst: one connection to an outside host carrying a large upload (TLS
//! records, so it looks like HTTPS) at a sustained rate, bounded in size.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::{Frame, Host, Window, ephemeral_port, tls};
use crate::traffic::tcp_session::{ROUND_TRIP_US, TcpSession};

pub const BYTES_PER_S: u64 = 2_000_000;
/// The most one burst uploads: thousands of times a monitor's HL7 feed over the same time.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

pub fn frames(device: Host, port_base: u32, drop: Host, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    // Leave time for the handshake and the close inside the window.
    let usable_us = window.length_us().saturating_sub(20_000);
    let bytes = (BYTES_PER_S * usable_us / 1_000_000).min(MAX_BYTES) as usize;
    if bytes == 0 {
        return Vec::new();
    }
    let mut session =
        TcpSession::new(device.at(ephemeral_port(port_base, 0)), drop.at(tls::PORT), rng.random(), rng.random());
    let mut frames = session.open(window.start_us);
    let (upload, acked_us) =
        session.upload(window.start_us + 2 * ROUND_TRIP_US, &tls::records(bytes, rng), BYTES_PER_S);
    frames.extend(upload);
    frames.extend(session.close(acked_us + ROUND_TRIP_US));
    frames
}
