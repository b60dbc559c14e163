//! Test fixtures: Ethernet frames of a TCP conversation built with etherparse, and HL7 messages
//! laid out as wardwatch's device twins send them (MSH, PID, PV1, OBR, one OBX per vital).

use etherparse::PacketBuilder;
use wardwatch_clinical::hl7::{Separators, Writer};
use wardwatch_clinical::vitals::by_key;

pub const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 2], 40000);
pub const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 2575);

/// Which TCP flags a segment carries besides ACK (which every segment after the SYN carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flags {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
}

/// One TCP conversation (by default between [`CLIENT`] and [`SERVER`]), tracking both sequence numbers.
pub struct Conversation {
    pub client: ([u8; 4], u16),
    pub server: ([u8; 4], u16),
    pub client_seq: u32,
    pub server_seq: u32,
}

impl Default for Conversation {
    fn default() -> Self {
        Self::between(CLIENT, SERVER)
    }
}

impl Conversation {
    pub fn between(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Self {
        Self { client, server, client_seq: 1_000, server_seq: 50_000 }
    }

    /// SYN, SYN/ACK, ACK.
    pub fn handshake(&mut self) -> Vec<Vec<u8>> {
        let syn = self.client(Flags::Syn, b"");
        let syn_ack = self.server(Flags::SynAck, b"");
        let ack = self.client(Flags::Ack, b"");
        vec![syn, syn_ack, ack]
    }

    /// A segment from the client; sequence numbers advance as TCP's would.
    pub fn client(&mut self, flags: Flags, payload: &[u8]) -> Vec<u8> {
        let frame = segment(self.client, self.server, self.client_seq, self.server_seq, flags, payload);
        self.client_seq = advance(self.client_seq, flags, payload);
        frame
    }

    pub fn server(&mut self, flags: Flags, payload: &[u8]) -> Vec<u8> {
        let frame = segment(self.server, self.client, self.server_seq, self.client_seq, flags, payload);
        self.server_seq = advance(self.server_seq, flags, payload);
        frame
    }
}

fn advance(seq: u32, flags: Flags, payload: &[u8]) -> u32 {
    let control = u32::from(matches!(flags, Flags::Syn | Flags::SynAck | Flags::Fin));
    seq.wrapping_add(payload.len() as u32 + control)
}

/// One Ethernet/IPv4/TCP frame.
pub fn segment(from: ([u8; 4], u16), to: ([u8; 4], u16), seq: u32, ack: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let base = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from.0, to.0, 64)
        .tcp(from.1, to.1, seq, 65535);
    let builder = match flags {
        Flags::Syn => base.syn(),
        Flags::SynAck => base.syn().ack(ack),
        Flags::Ack => base.ack(ack),
        Flags::Fin => base.fin().ack(ack),
        Flags::Rst => base.rst().ack(ack),
    };
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

/// One Ethernet/IPv4/UDP datagram.
pub fn datagram(from: ([u8; 4], u16), to: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let builder =
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(from.0, to.0, 64).udp(from.1, to.1);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

/// An ARP reply in which `ip` says it is at `mac`, sent from `mac`.
pub fn arp_reply(ip: [u8; 4], mac: [u8; 6]) -> Vec<u8> {
    let arp = etherparse::ArpEthIpv4Packet {
        operation: etherparse::ArpOperation::REPLY,
        sender_mac: mac,
        sender_ipv4: ip,
        target_mac: [2, 0, 0, 0, 0, 7],
        target_ipv4: [10, 1, 0, 7],
    };
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac, [2, 0, 0, 0, 0, 7]).arp(arp.into()).write(&mut frame).unwrap();
    frame
}

/// An ORU^R01 for `patient` with control id `control_id` and the given (vital key, value) pairs.
pub fn oru(patient: &str, control_id: &str, values: &[(&str, f64)]) -> String {
    let mut w = Writer::new(Separators::default());
    w.segment("MSH")
        .field(&["monitor-7"])
        .field(&["st-mary"])
        .field(&["WARDWATCH"])
        .field(&["st-mary"])
        .field(&["20261122030405"])
        .field(&[])
        .field(&["ORU", "R01", "ORU_R01"])
        .field(&[control_id])
        .field(&["P"])
        .field(&["2.5"])
        .end();
    w.segment("PID").field(&["1"]).field(&[]).field(&[patient, "", "", "st-mary", "MR"]).end();
    w.segment("PV1").field(&["1"]).field(&["I"]).field(&["icu-east", "", "7"]).end();
    w.segment("OBR").field(&["1"]).field(&[]).field(&[control_id]).field(&["VITALS", "Vital signs", "L"]).end();
    for (i, (key, value)) in values.iter().enumerate() {
        let vital = by_key(key).unwrap();
        w.segment("OBX")
            .field(&[&(i + 1).to_string()])
            .field(&["NM"])
            .field(&[vital.loinc, vital.loinc_name, "LN"])
            .field(&[])
            .field(&[&value.to_string()])
            .field(&[vital.ucum, vital.ucum, "UCUM"])
            .field(&[])
            .field(&[])
            .field(&[])
            .field(&[])
            .field(&["F"])
            .end();
    }
    w.finish()
}

/// The gateway's ACK (MSA-1 `code`) to the message with control id `acknowledged`.
pub fn ack(control_id: &str, acknowledged: &str, code: &str) -> String {
    let mut w = Writer::new(Separators::default());
    w.segment("MSH")
        .field(&["WARDWATCH"])
        .field(&["st-mary"])
        .field(&["monitor-7"])
        .field(&["st-mary"])
        .field(&["20261122030406"])
        .field(&[])
        .field(&["ACK", "R01", "ACK"])
        .field(&[control_id])
        .field(&["P"])
        .field(&["2.5"])
        .end();
    w.segment("MSA").field(&[code]).field(&[acknowledged]).end();
    w.finish()
}

/// Writes `frames` to a pcap file of link type `linktype` with libpcap itself, one millisecond
/// apart from a fixed start time.
pub fn write_pcap(path: &std::path::Path, linktype: pcap::Linktype, frames: &[Vec<u8>]) {
    let whole: Vec<(&[u8], u32)> = frames.iter().map(|f| (f.as_slice(), f.len() as u32)).collect();
    write_pcap_with_lengths(path, linktype, &whole);
}

/// Like [`write_pcap`], with each frame's length on the wire given: frames shorter than it
/// are recorded as cut by the snapshot length.
pub fn write_pcap_with_lengths(path: &std::path::Path, linktype: pcap::Linktype, frames: &[(&[u8], u32)]) {
    let dead = pcap::Capture::dead(linktype).unwrap();
    let mut out = dead.savefile(path).unwrap();
    for (i, (frame, wire_len)) in frames.iter().enumerate() {
        let ts = libc::timeval { tv_sec: 1_790_000_000, tv_usec: (i as libc::suseconds_t) * 1000 };
        let header = pcap::PacketHeader { ts, caplen: frame.len() as u32, len: *wire_len };
        out.write(&pcap::Packet::new(&header, frame));
    }
    out.flush().unwrap();
}

/// One ORU to send: patient, control id, and (vital key, value) pairs.
pub type SentOru<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

/// An HL7 session over MLLP: handshake, each ORU answered by an AA ACK, then FIN both ways.
pub fn hl7_session(messages: &[SentOru<'_>]) -> Vec<Vec<u8>> {
    use wardwatch_clinical::mllp;
    let mut conversation = Conversation::default();
    let mut frames = conversation.handshake();
    for (i, (patient, control_id, values)) in messages.iter().enumerate() {
        frames.push(conversation.client(Flags::Ack, &mllp::frame(oru(patient, control_id, values).as_bytes())));
        let ack_id = format!("ACK{i}");
        frames.push(conversation.server(Flags::Ack, &mllp::frame(ack(&ack_id, control_id, "AA").as_bytes())));
    }
    frames.push(conversation.client(Flags::Fin, b""));
    frames.push(conversation.server(Flags::Fin, b""));
    frames.push(conversation.client(Flags::Ack, b""));
    frames
}
