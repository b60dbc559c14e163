//! Contact with an address the ward does not allow: short HTTPS-like connections to an
//! outside host, one every few seconds through the window.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::{Frame, Host, Window, ephemeral_port, tls};
use crate::traffic::tcp_session::TcpSession;

pub const PERIOD_US: u64 = 10_000_000;
pub const MAX_CONNECTIONS: u64 = 60;

pub fn frames(device: Host, port_base: u32, outside: Host, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    for n in 0..MAX_CONNECTIONS {
        let t_us = window.start_us + n * PERIOD_US;
        // Open, one exchange, close: about 10 ms.
        if t_us + 10_000 >= window.end_us {
            break;
        }
        let mut session = TcpSession::new(
            device.at(ephemeral_port(port_base, n as u32)),
            outside.at(tls::PORT),
            rng.random(),
            rng.random(),
        );
        frames.extend(session.open(t_us));
        let request = tls::records(rng.random_range(300..900), rng);
        let response = tls::records(rng.random_range(1_000..6_000), rng);
        frames.extend(session.exchange(t_us + 1_000, &request, &response));
        frames.extend(session.close(t_us + 5_000));
    }
    frames
}
