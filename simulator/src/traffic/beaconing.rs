//! Beaconing: a short check-in connection to a command-and-control host at a near-constant
//! period (a little jitter, as implants add), through the window.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::{Frame, Host, Window, ephemeral_port, tls};
use crate::traffic::tcp_session::TcpSession;

pub const PERIOD_US: u64 = 5_000_000;
/// Jitter around the period, either way.
pub const JITTER_US: u64 = 100_000;
pub const MAX_BEACONS: u64 = 720;

pub fn frames(device: Host, port_base: u32, server: Host, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    for n in 0..MAX_BEACONS {
        let t_us = window.start_us + n * PERIOD_US + rng.random_range(0..2 * JITTER_US);
        if t_us + 10_000 >= window.end_us {
            break;
        }
        let mut session = TcpSession::new(
            device.at(ephemeral_port(port_base, n as u32)),
            server.at(tls::PORT),
            rng.random(),
            rng.random(),
        );
        frames.extend(session.open(t_us));
        let check_in = tls::records(200, rng);
        let orders = tls::records(120, rng);
        frames.extend(session.exchange(t_us + 1_000, &check_in, &orders));
        frames.extend(session.close(t_us + 3_000));
    }
    frames
}
