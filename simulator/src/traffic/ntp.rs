//! NTP (RFC 5905) client requests and server replies, 48 bytes each, on UDP 123.

use super::packet::udp_frame;
use super::{Endpoint, Frame};

pub const PORT: u16 = 123;
/// Seconds from the NTP era (1900) to the Unix epoch.
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;
/// How long the server takes to answer.
const SERVER_DELAY_US: u64 = 300;

/// The 64-bit NTP timestamp of a Unix time in microseconds.
pub fn timestamp(unix_us: u64) -> [u8; 8] {
    let seconds = (unix_us / 1_000_000 + NTP_UNIX_OFFSET_S) as u32;
    let fraction = (((unix_us % 1_000_000) << 32) / 1_000_000) as u32;
    let mut out = [0; 8];
    out[..4].copy_from_slice(&seconds.to_be_bytes());
    out[4..].copy_from_slice(&fraction.to_be_bytes());
    out
}

/// A client's request sent at `t_us` (Unix microseconds): version 4, mode 3, the transmit
/// timestamp set, as SNTP clients send it.
pub fn request(t_us: u64) -> [u8; 48] {
    let mut request = [0u8; 48];
    request[0] = 0x23; // leap indicator 0, version 4, mode 3 (client)
    request[40..48].copy_from_slice(&timestamp(t_us));
    request
}

/// Whether `bytes` is a server's reply (mode 4) to the request whose transmit timestamp was
/// `transmit`: the reply's origin timestamp echoes it.
pub fn is_reply_to(bytes: &[u8], transmit: &[u8]) -> bool {
    bytes.len() >= 48 && bytes[0] & 0x07 == 4 && bytes[24..32] == *transmit
}

/// A client's request at `t_us` and the server's reply; `ip_id` numbers the request.
pub fn exchange(client: Endpoint, server: Endpoint, t_us: u64, ip_id: u16) -> Vec<Frame> {
    let request = request(t_us);
    let reply_us = t_us + SERVER_DELAY_US;
    let mut reply = [0u8; 48];
    reply[0] = 0x24; // version 4, mode 4 (server)
    reply[1] = 2; // stratum 2: synchronised to a stratum-1 server
    reply[2] = 6; // poll 64 s
    reply[3] = 0xec; // precision 2^-20 s
    reply[4..8].copy_from_slice(&0x0000_0010u32.to_be_bytes()); // root delay
    reply[8..12].copy_from_slice(&0x0000_0020u32.to_be_bytes()); // root dispersion
    reply[12..16].copy_from_slice(&[192, 0, 2, 123]); // reference id: the upstream server
    reply[16..24].copy_from_slice(&timestamp(t_us.saturating_sub(30_000_000)));
    reply[24..32].copy_from_slice(&request[40..48]); // origin: the client's transmit time
    reply[32..40].copy_from_slice(&timestamp(t_us + SERVER_DELAY_US / 2));
    reply[40..48].copy_from_slice(&timestamp(reply_us));
    vec![
        Frame { timestamp_us: t_us, bytes: udp_frame(client, server, ip_id, &request) },
        Frame { timestamp_us: reply_us, bytes: udp_frame(server, client, ip_id, &reply) },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_from_1900_with_a_binary_fraction() {
        let ts = timestamp(1_500_000);
        assert_eq!(u32::from_be_bytes(ts[..4].try_into().unwrap()), 2_208_988_801);
        assert_eq!(u32::from_be_bytes(ts[4..].try_into().unwrap()), 1 << 31);
    }

    #[test]
    fn the_reply_echoes_the_request_and_is_recognised_as_its_answer() {
        let client = Endpoint { mac: [2, 0, 0, 0, 0, 1], ip: [10, 0, 0, 1], port: 40_000 };
        let server = Endpoint { mac: [2, 0, 0, 0, 0, 2], ip: [10, 0, 0, 2], port: PORT };
        let frames = exchange(client, server, 5_000_000, 1);
        // Past the Ethernet, IPv4 and UDP headers.
        let (sent, reply) = (&frames[0].bytes[42..], &frames[1].bytes[42..]);
        assert_eq!(sent, request(5_000_000));
        assert!(is_reply_to(reply, &sent[40..48]));
        assert!(!is_reply_to(sent, &sent[40..48]), "a request is no reply");
        assert!(!is_reply_to(reply, &timestamp(6_000_000)), "nor an answer to another request");
    }
}
