//! The HL7 side of one TCP connection: each direction reassembled, recognised as MLLP or not,
//! deframed into messages; messages matched with the ACKs that answer them (MSH-10 = MSA-2).

use std::time::Duration;

use wardwatch_clinical::mllp;

use crate::decode::packet::TcpSegment;
use crate::flows::reassembly::{Chunk, Reassembler};
use crate::flows::table::Direction;
use crate::hl7::acks::AwaitingAcks;
use crate::hl7::message::{Hl7Error, Hl7Message, MessageKind, VitalObservation, interpret_reusing};

/// Bounds of the per-connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Out-of-order bytes held per direction before a hole is skipped.
    pub max_pending_bytes: usize,
    /// MLLP frames longer than this are discarded.
    pub max_message_bytes: usize,
    /// Messages remembered per connection while their ACK is awaited.
    pub max_awaiting_acks: usize,
    /// Stream bytes looked at for the start of an MLLP frame before a direction is taken to
    /// carry something else and left alone.
    pub detect_bytes: usize,
    /// Bytes held across all connections (out-of-order data, unfinished MLLP frames, bytes
    /// waiting for a frame start). The per-connection bounds times the flow table's cap would
    /// allow gigabytes; past this budget the connection that grew sheds what it holds.
    pub max_held_bytes_total: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_pending_bytes: 256 * 1024,
            max_message_bytes: 1024 * 1024,
            max_awaiting_acks: 64,
            detect_bytes: 4096,
            max_held_bytes_total: 16 * 1024 * 1024,
        }
    }
}

/// What a connection yielded. A message borrows from the stream's bytes, so it is handed out
/// as it is read, not kept (and lent: its buffers go back to the [`SessionScratch`]).
#[derive(Debug, PartialEq)]
pub enum SessionEvent<'a> {
    /// Bytes of the stream that were never captured.
    StreamGap(u64),
    /// A complete MLLP frame, interpreted.
    Message(&'a Result<Hl7Message<'a>, Hl7Error>),
    /// A message's ACK came back this long after the message.
    AckRtt(Duration),
}

/// The start of an MLLP frame that holds an HL7 message: the start block, then `MSH`.
const MLLP_MESSAGE_START: &[u8] = &[mllp::START_BLOCK, b'M', b'S', b'H'];

/// How one direction's bytes are being read.
#[derive(Debug)]
enum Framing {
    /// Not yet known: the first bytes are kept until an MLLP frame start shows up.
    Detecting(Vec<u8>),
    Mllp(mllp::Decoder),
    /// Something else (TLS, HTTP, ...): ignored from here on.
    NotMllp,
}

#[derive(Debug)]
struct DirectionStream {
    reassembler: Reassembler,
    framing: Framing,
}

/// What the sessions of one pipeline share from message to message, so that reading a message
/// allocates nothing in the steady state: the vectors its observations and errors are read
/// into, and a spare buffer for the next MLLP frame that spans segments. One pipeline reads one
/// message at a time, so one scratch serves all its connections.
#[derive(Debug, Default)]
pub struct SessionScratch {
    observations: Vec<VitalObservation>,
    observation_errors: Vec<Hl7Error>,
    frame: Vec<u8>,
}

/// Per-connection HL7 state, kept in the flow table next to the flow.
#[derive(Debug, Default)]
pub struct TcpSession {
    directions: [Option<DirectionStream>; 2],
    awaiting_ack: AwaitingAcks,
}

impl TcpSession {
    /// Takes one segment travelling in `direction` at `at`, handing what it completes to `out`.
    pub fn on_segment(
        &mut self,
        config: &SessionConfig,
        scratch: &mut SessionScratch,
        at: Duration,
        direction: Direction,
        segment: &TcpSegment<'_>,
        out: &mut impl FnMut(SessionEvent<'_>),
    ) {
        let Self { directions, awaiting_ack } = self;
        let stream = directions[direction.index()].get_or_insert_with(|| DirectionStream {
            reassembler: Reassembler::new(config.max_pending_bytes),
            framing: Framing::Detecting(Vec::new()),
        });
        if matches!(stream.framing, Framing::NotMllp) {
            return;
        }
        let DirectionStream { reassembler, framing } = stream;
        // What the stream yields is read as it comes, in stream order.
        let SessionScratch { observations, observation_errors, frame } = scratch;
        let mut buffers = (observations, observation_errors);
        let mut found = |found: Found<'_>| on_found(config, &mut buffers, awaiting_ack, at, direction, found, out);
        reassembler.push(segment.seq, segment.flags.syn, segment.payload, &mut |chunk| {
            read_chunk(config, framing, frame, chunk, &mut found)
        });
        if matches!(framing, Framing::NotMllp) {
            // Nothing more will be read from this direction: free what waits out of order.
            *reassembler = Reassembler::new(0);
        }
    }

    /// Memory this connection holds for later: out-of-order bytes, unfinished MLLP frames and
    /// bytes waiting for a frame start.
    pub fn held_bytes(&self) -> usize {
        self.directions
            .iter()
            .flatten()
            .map(|stream| {
                stream.reassembler.pending_bytes()
                    + match &stream.framing {
                        Framing::Detecting(seen) => seen.capacity(),
                        Framing::Mllp(decoder) => decoder.held_bytes(),
                        Framing::NotMllp => 0,
                    }
            })
            .sum()
    }

    /// Drops everything the connection holds and tells how much that was. Each direction picks
    /// up again at its next segment, as when a capture starts in the middle of a connection:
    /// one known to carry MLLP waits for the next frame start (a message cut by the shedding is
    /// lost, not misread), one still undecided looks afresh.
    pub fn shed(&mut self, config: &SessionConfig) -> usize {
        let held = self.held_bytes();
        for stream in self.directions.iter_mut().flatten() {
            match &mut stream.framing {
                Framing::NotMllp => continue,
                Framing::Detecting(seen) => *seen = Vec::new(),
                Framing::Mllp(decoder) => *decoder = mllp::Decoder::new(config.max_message_bytes),
            }
            stream.reassembler = Reassembler::new(config.max_pending_bytes);
        }
        held
    }

    /// The connection is over: delivers what waits behind holes.
    pub fn finish(
        &mut self,
        config: &SessionConfig,
        scratch: &mut SessionScratch,
        at: Duration,
        out: &mut impl FnMut(SessionEvent<'_>),
    ) {
        let Self { directions, awaiting_ack } = self;
        let SessionScratch { observations, observation_errors, frame } = scratch;
        let mut buffers = (observations, observation_errors);
        for (index, direction) in [Direction::LowerToUpper, Direction::UpperToLower].into_iter().enumerate() {
            let Some(DirectionStream { reassembler, framing }) = &mut directions[index] else { continue };
            let mut found = |found: Found<'_>| on_found(config, &mut buffers, awaiting_ack, at, direction, found, out);
            reassembler.flush(&mut |chunk| read_chunk(config, framing, frame, chunk, &mut found));
        }
    }
}

/// What a direction's framing found in its stream.
enum Found<'a> {
    /// Bytes of the stream that were never captured.
    Gap(u64),
    /// A frame that could not be read.
    Unreadable(Hl7Error),
    /// A whole MLLP frame's message.
    Message(&'a [u8]),
}

/// The vectors a message's observations and errors are read into, lent by the scratch.
type Buffers<'s> = (&'s mut Vec<VitalObservation>, &'s mut Vec<Hl7Error>);

/// Reports what a direction found, `at` the time of the segment that completed it; a message
/// is interpreted (into the scratch's vectors, given back once it is reported) and, when it
/// answers one sent the other way, timed.
fn on_found(
    config: &SessionConfig,
    (observations, observation_errors): &mut Buffers<'_>,
    awaiting_ack: &mut AwaitingAcks,
    at: Duration,
    direction: Direction,
    found: Found<'_>,
    out: &mut impl FnMut(SessionEvent<'_>),
) {
    let bytes = match found {
        Found::Gap(bytes) => return out(SessionEvent::StreamGap(bytes)),
        Found::Unreadable(error) => return out(SessionEvent::Message(&Err(error))),
        Found::Message(bytes) => bytes,
    };
    let interpreted = interpret_reusing(bytes, std::mem::take(*observations), std::mem::take(*observation_errors));
    if let Ok(message) = &interpreted {
        match_ack(config, awaiting_ack, at, direction, message, out);
    }
    out(SessionEvent::Message(&interpreted));
    if let Ok(message) = interpreted {
        (**observations, **observation_errors) = (message.observations, message.observation_errors);
        observations.clear();
        observation_errors.clear();
    }
}

fn match_ack(
    config: &SessionConfig,
    awaiting_ack: &mut AwaitingAcks,
    at: Duration,
    direction: Direction,
    message: &Hl7Message<'_>,
    out: &mut impl FnMut(SessionEvent<'_>),
) {
    if let Some(ack) = &message.ack {
        if let Some(sent_at) = awaiting_ack.take_answered(direction, &ack.acknowledged_control_id) {
            out(SessionEvent::AckRtt(at.saturating_sub(sent_at)));
        }
    } else if message.kind != MessageKind::Ack && !message.control_id.is_empty() {
        awaiting_ack.push(config.max_awaiting_acks, direction, &message.control_id, at);
    }
}

/// Feeds one chunk of in-order stream bytes to the direction's framing; `spare_frame` is the
/// scratch's spare MLLP frame buffer.
fn read_chunk(
    config: &SessionConfig,
    framing: &mut Framing,
    spare_frame: &mut Vec<u8>,
    chunk: Chunk<'_>,
    found: &mut impl FnMut(Found<'_>),
) {
    match chunk {
        Chunk::Gap(bytes) => {
            found(Found::Gap(bytes));
            match framing {
                Framing::Detecting(seen) => seen.clear(),
                Framing::Mllp(decoder) => {
                    // The frame the hole fell into cannot be completed: drop it and resynchronise
                    // on the next start block.
                    if decoder.pending() > 0 {
                        found(Found::Unreadable(Hl7Error::StreamGap));
                    }
                    *decoder = mllp::Decoder::new(config.max_message_bytes);
                }
                Framing::NotMllp => {}
            }
        }
        Chunk::Data(data) => {
            if let Framing::Detecting(seen) = framing {
                seen.extend_from_slice(data);
                match memchr::memmem::find(seen, MLLP_MESSAGE_START) {
                    Some(start) => {
                        let mut decoder = mllp::Decoder::new(config.max_message_bytes);
                        let seen = std::mem::take(seen);
                        deframe(&mut decoder, spare_frame, &seen[start..], found);
                        *framing = Framing::Mllp(decoder);
                    }
                    None if seen.len() >= config.detect_bytes => *framing = Framing::NotMllp,
                    None => {}
                }
            } else if let Framing::Mllp(decoder) = framing {
                deframe(decoder, spare_frame, data, found);
            }
        }
    }
}

/// Takes the frames out of in-order MLLP stream bytes.
fn deframe(decoder: &mut mllp::Decoder, spare_frame: &mut Vec<u8>, data: &[u8], found: &mut impl FnMut(Found<'_>)) {
    decoder.push_each_reusing(data, spare_frame, |event| match event {
        mllp::Event::Message(message) => found(Found::Message(message)),
        mllp::Event::Oversized(_) => found(Found::Unreadable(Hl7Error::OversizedFrame)),
        // Bytes between frames (keep-alives, stray CR/LF) carry nothing to count.
        mllp::Event::Garbage(_) => {}
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::packet::TcpFlags;
    use crate::testing::{ack, oru};

    fn segment(seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment { seq, ack: 0, flags: TcpFlags { ack: true, ..TcpFlags::default() }, payload }
    }

    /// What the segment completed: the ACK round trips it timed, and how many events it gave.
    fn feed(
        session: &mut TcpSession,
        at_ms: u64,
        direction: Direction,
        seq: u32,
        payload: &[u8],
    ) -> (Vec<Duration>, usize) {
        let (mut rtts, mut events) = (Vec::new(), 0);
        let at = Duration::from_millis(at_ms);
        let (config, mut scratch) = (SessionConfig::default(), SessionScratch::default());
        session.on_segment(&config, &mut scratch, at, direction, &segment(seq, payload), &mut |event| {
            events += 1;
            if let SessionEvent::AckRtt(rtt) = event {
                rtts.push(rtt);
            }
        });
        (rtts, events)
    }

    #[test]
    fn an_ack_is_matched_only_from_the_other_direction() {
        let mut session = TcpSession::default();
        let oru = mllp::frame(oru("P-1", "C1", &[("spo2", 97.0)]).as_bytes());
        feed(&mut session, 0, Direction::LowerToUpper, 1, &oru);
        let same_way = mllp::frame(ack("A0", "C1", "AA").as_bytes());
        let (rtts, events) = feed(&mut session, 5, Direction::LowerToUpper, 1 + oru.len() as u32, &same_way);
        assert_eq!((rtts, events), (vec![], 1), "the ACK is read, but answers nothing sent its way");
        let reply = mllp::frame(ack("A1", "C1", "AA").as_bytes());
        let (rtts, _) = feed(&mut session, 7, Direction::UpperToLower, 100, &reply);
        assert_eq!(rtts, [Duration::from_millis(7)]);
    }

    #[test]
    fn a_direction_that_is_not_mllp_stops_holding_data() {
        let mut session = TcpSession::default();
        let config = SessionConfig::default();
        // The stream starts, bytes arrive ahead of a hole, then enough in-order bytes to rule
        // MLLP out.
        feed(&mut session, 0, Direction::LowerToUpper, 1, &[0x17; 100]);
        feed(&mut session, 1, Direction::LowerToUpper, 10_000, &[0x17; 512]);
        assert_eq!(session.directions[0].as_ref().unwrap().reassembler.pending_bytes(), 512);
        feed(&mut session, 2, Direction::LowerToUpper, 101, &vec![0x17; config.detect_bytes]);
        let stream = session.directions[0].as_ref().unwrap();
        assert!(matches!(stream.framing, Framing::NotMllp));
        assert_eq!(stream.reassembler.pending_bytes(), 0);
        assert_eq!(feed(&mut session, 2, Direction::LowerToUpper, 20_000, &[0x0b, b'M', b'S', b'H']).1, 0);
    }
}
