//! Synthesises the frames of one TCP connection (Ethernet, IPv4, TCP) as a capture would show
//! them: handshake, data both ways with consistent sequence and acknowledgement numbers, and
//! an orderly close. Pure: frames come back with their timestamps.

use crate::traffic::packet::{Endpoint, Frame, TcpFlags, tcp_frame};

/// Payload bytes per segment: the MSS of a 1500-byte Ethernet MTU without TCP options.
pub const MSS: usize = 1460;
/// Time between a packet and its answer on a ward network.
pub const ROUND_TRIP_US: u64 = 400;
/// A receiver acknowledges every second full segment (RFC 1122 delayed ACKs).
const SEGMENTS_PER_ACK: usize = 2;

/// A connection from `client` to `server`. Sequence numbers start at the given ISNs.
#[derive(Clone, Debug)]
pub struct TcpSession {
    client: Endpoint,
    server: Endpoint,
    /// Next sequence number each side sends.
    client_seq: u32,
    server_seq: u32,
    /// IPv4 identification counters.
    client_ip_id: u16,
    server_ip_id: u16,
}

impl TcpSession {
    pub fn new(client: Endpoint, server: Endpoint, client_isn: u32, server_isn: u32) -> Self {
        Self { client, server, client_seq: client_isn, server_seq: server_isn, client_ip_id: 1, server_ip_id: 1 }
    }

    /// SYN, SYN-ACK, ACK starting at `t_us`.
    pub fn open(&mut self, t_us: u64) -> Vec<Frame> {
        let syn = self.client_segment(t_us, TcpFlags::SYN, &[]);
        let syn_ack = self.server_segment(t_us + ROUND_TRIP_US, TcpFlags::SYN_ACK, &[]);
        let ack = self.client_segment(t_us + ROUND_TRIP_US + 50, TcpFlags::ACK, &[]);
        vec![syn, syn_ack, ack]
    }

    /// The client sends `request`; the server answers with `response` (which acknowledges the
    /// request), and the client acknowledges the response. Either may be empty. Meant for
    /// answers within one receive window; `upload` paces larger transfers.
    pub fn exchange(&mut self, t_us: u64, request: &[u8], response: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for (i, chunk) in request.chunks(MSS).enumerate() {
            frames.push(self.client_segment(t_us + i as u64 * 10, TcpFlags::PSH_ACK, chunk));
        }
        // The server answers a round trip after the request's last segment; the client acknowledges
        // the response half a round trip after its last.
        let request_sent = t_us + request.len().div_ceil(MSS).saturating_sub(1) as u64 * 10;
        let answered = request_sent + ROUND_TRIP_US;
        for (i, chunk) in response.chunks(MSS).enumerate() {
            frames.push(self.server_segment(answered + i as u64 * 10, TcpFlags::PSH_ACK, chunk));
        }
        let response_sent = answered + response.len().div_ceil(MSS).saturating_sub(1) as u64 * 10;
        frames.push(self.client_segment(response_sent + ROUND_TRIP_US / 2, TcpFlags::ACK, &[]));
        frames
    }

    /// The client sends `data` at `bytes_per_s`, the server acknowledging every second
    /// segment half a round trip after it arrives, as a bulk transfer looks on a LAN. Returns
    /// the frames and the time the last acknowledgement was seen.
    pub fn upload(&mut self, t_us: u64, data: &[u8], bytes_per_s: u64) -> (Vec<Frame>, u64) {
        let mut frames = Vec::with_capacity(data.len() / MSS * 3 / 2 + 2);
        let spacing_us = (MSS as u64 * 1_000_000 / bytes_per_s.max(1)).max(1);
        let chunks = data.chunks(MSS).count();
        let mut last_us = t_us;
        for (i, chunk) in data.chunks(MSS).enumerate() {
            let sent_us = t_us + i as u64 * spacing_us;
            frames.push(self.client_segment(sent_us, TcpFlags::PSH_ACK, chunk));
            if (i + 1) % SEGMENTS_PER_ACK == 0 || i + 1 == chunks {
                last_us = sent_us + ROUND_TRIP_US / 2;
                frames.push(self.server_segment(last_us, TcpFlags::ACK, &[]));
            }
        }
        (frames, last_us)
    }

    /// Client FIN, server FIN-ACK, client ACK.
    pub fn close(&mut self, t_us: u64) -> Vec<Frame> {
        let client_fin = self.client_segment(t_us, TcpFlags::FIN_ACK, &[]);
        let server_fin = self.server_segment(t_us + ROUND_TRIP_US, TcpFlags::FIN_ACK, &[]);
        let last_ack = self.client_segment(t_us + ROUND_TRIP_US + 50, TcpFlags::ACK, &[]);
        vec![client_fin, server_fin, last_ack]
    }

    fn client_segment(&mut self, t_us: u64, flags: TcpFlags, payload: &[u8]) -> Frame {
        let bytes =
            tcp_frame(self.client, self.server, self.client_seq, self.server_seq, self.client_ip_id, flags, payload);
        self.client_seq = advance(self.client_seq, flags, payload);
        self.client_ip_id = self.client_ip_id.wrapping_add(1);
        Frame { timestamp_us: t_us, bytes }
    }

    fn server_segment(&mut self, t_us: u64, flags: TcpFlags, payload: &[u8]) -> Frame {
        let bytes =
            tcp_frame(self.server, self.client, self.server_seq, self.client_seq, self.server_ip_id, flags, payload);
        self.server_seq = advance(self.server_seq, flags, payload);
        self.server_ip_id = self.server_ip_id.wrapping_add(1);
        Frame { timestamp_us: t_us, bytes }
    }
}

/// SYN and FIN each take one sequence number, as data bytes do.
fn advance(seq: u32, flags: TcpFlags, payload: &[u8]) -> u32 {
    seq.wrapping_add(payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    const CLIENT: Endpoint = Endpoint { mac: [2, 0, 0, 0, 0, 1], ip: [10, 20, 0, 11], port: 40_001 };
    const SERVER: Endpoint = Endpoint { mac: [2, 0, 0, 0, 0, 0xfe], ip: [10, 20, 0, 1], port: 2575 };

    /// (from client, flags "SFPA", seq, ack, payload length)
    fn decode(frame: &Frame) -> (bool, String, u32, u32, usize) {
        let packet = SlicedPacket::from_ethernet(&frame.bytes).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &packet.net else { panic!("not IPv4") };
        let Some(TransportSlice::Tcp(tcp)) = &packet.transport else { panic!("not TCP") };
        let flags: String = [(tcp.syn(), 'S'), (tcp.fin(), 'F'), (tcp.psh(), 'P'), (tcp.ack(), 'A')]
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, c)| *c)
            .collect();
        let from_client = ip.header().source() == CLIENT.ip;
        (from_client, flags, tcp.sequence_number(), tcp.acknowledgment_number(), tcp.payload().len())
    }

    #[test]
    fn sequence_and_acknowledgement_numbers_follow_the_bytes() {
        let mut session = TcpSession::new(CLIENT, SERVER, 1000, 5000);
        let mut frames = session.open(1_000_000);
        frames.extend(session.exchange(2_000_000, &[b'x'; 3000], b"ack"));
        frames.extend(session.close(3_000_000));
        let decoded: Vec<_> = frames.iter().map(decode).collect();
        let expected = [
            (true, "S", 1000, 0, 0),
            (false, "SA", 5000, 1001, 0),
            (true, "A", 1001, 5001, 0),
            (true, "PA", 1001, 5001, 1460),
            (true, "PA", 2461, 5001, 1460),
            (true, "PA", 3921, 5001, 80),
            (false, "PA", 5001, 4001, 3),
            (true, "A", 4001, 5004, 0),
            (true, "FA", 4001, 5004, 0),
            (false, "FA", 5004, 4002, 0),
            (true, "A", 4002, 5005, 0),
        ];
        let expected: Vec<_> = expected.iter().map(|&(c, f, s, a, l)| (c, f.to_owned(), s, a, l)).collect();
        assert_eq!(decoded, expected);
        assert!(frames.windows(2).all(|w| w[0].timestamp_us < w[1].timestamp_us), "time moves forward");
    }

    #[test]
    fn an_upload_is_paced_and_acknowledged_every_second_segment() {
        let mut session = TcpSession::new(CLIENT, SERVER, 0, 0);
        let (frames, last) = session.upload(0, &[7; 5 * 1460], 1460 * 1000);
        let decoded: Vec<_> = frames.iter().map(decode).collect();
        let acks: Vec<_> = decoded.iter().filter(|d| !d.0).map(|d| d.3).collect();
        assert_eq!(acks, [2920, 5840, 7300]);
        assert_eq!(decoded.iter().filter(|d| d.0).count(), 5);
        assert_eq!(frames[1].timestamp_us, 1000, "a segment per millisecond at 1460 kB/s");
        assert_eq!(last, 4000 + ROUND_TRIP_US / 2);
    }

    #[test]
    fn ip_and_tcp_checksums_verify() {
        let mut session = TcpSession::new(CLIENT, SERVER, 7, 9);
        for frame in session.exchange(0, b"MSH|^~\\&|x", b"MSA|AA") {
            let packet = SlicedPacket::from_ethernet(&frame.bytes).unwrap();
            let Some(NetSlice::Ipv4(ip)) = &packet.net else { panic!("not IPv4") };
            let header = ip.header().to_header();
            assert_eq!(header.header_checksum, header.calc_header_checksum());
            let Some(TransportSlice::Tcp(tcp)) = &packet.transport else { panic!("not TCP") };
            let computed = tcp.to_header().calc_checksum_ipv4(&header, tcp.payload()).unwrap();
            assert_eq!(tcp.checksum(), computed);
        }
    }
}
