//! The HL7 side of one TCP connection: each direction reassembled, recognised as MLLP or not,
//! deframed into messages (which [`crate::hl7::reader`] interprets and times).

use wardwatch_clinical::mllp;

use crate::decode::packet::TcpSegment;
use crate::flows::reassembly::{Chunk, Reassembler};
use crate::flows::table::Direction;
use crate::hl7::message::Hl7Error;

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
/// as it is read, not kept.
#[derive(Debug, PartialEq)]
pub enum SessionEvent<'a> {
    /// Bytes of the stream that were never captured.
    StreamGap(u64),
    /// The message of a complete MLLP frame, still to be interpreted.
    Message(&'a [u8]),
    /// A frame that could not be read.
    Unreadable(Hl7Error),
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

/// What the sessions of one pipeline share from message to message, so that deframing a
/// message allocates nothing in the steady state: a spare buffer for the next MLLP frame that
/// spans segments. One pipeline reads one message at a time, so one scratch serves all its
/// connections.
#[derive(Debug, Default)]
pub struct SessionScratch {
    frame: Vec<u8>,
}

/// Per-connection HL7 state, kept in the flow table next to the flow.
#[derive(Debug, Default)]
pub struct TcpSession {
    directions: [Option<DirectionStream>; 2],
}

impl TcpSession {
    /// Takes one segment travelling in `direction`, handing what it completes to `out`.
    pub fn on_segment(
        &mut self,
        config: &SessionConfig,
        scratch: &mut SessionScratch,
        direction: Direction,
        segment: &TcpSegment<'_>,
        out: &mut impl FnMut(SessionEvent<'_>),
    ) {
        let stream = self.directions[direction.index()].get_or_insert_with(|| DirectionStream {
            reassembler: Reassembler::new(config.max_pending_bytes),
            framing: Framing::Detecting(Vec::new()),
        });
        if matches!(stream.framing, Framing::NotMllp) {
            return;
        }
        let DirectionStream { reassembler, framing } = stream;
        // What the stream yields is handed out as it comes, in stream order.
        reassembler.push(segment.seq, segment.flags.syn, segment.payload, &mut |chunk| {
            read_chunk(config, framing, &mut scratch.frame, chunk, out)
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

    /// The connection is over: delivers what waits behind holes, each with its direction.
    pub fn finish(
        &mut self,
        config: &SessionConfig,
        scratch: &mut SessionScratch,
        out: &mut impl FnMut(Direction, SessionEvent<'_>),
    ) {
        for direction in [Direction::LowerToUpper, Direction::UpperToLower] {
            let Some(DirectionStream { reassembler, framing }) = &mut self.directions[direction.index()] else {
                continue;
            };
            reassembler.flush(&mut |chunk| {
                read_chunk(config, framing, &mut scratch.frame, chunk, &mut |event| out(direction, event))
            });
        }
    }
}

/// Feeds one chunk of in-order stream bytes to the direction's framing; `spare_frame` is the
/// scratch's spare MLLP frame buffer.
fn read_chunk(
    config: &SessionConfig,
    framing: &mut Framing,
    spare_frame: &mut Vec<u8>,
    chunk: Chunk<'_>,
    found: &mut impl FnMut(SessionEvent<'_>),
) {
    match chunk {
        Chunk::Gap(bytes) => {
            found(SessionEvent::StreamGap(bytes));
            match framing {
                Framing::Detecting(seen) => seen.clear(),
                Framing::Mllp(decoder) => {
                    // The frame the hole fell into cannot be completed: drop it and resynchronise
                    // on the next start block.
                    if decoder.pending() > 0 {
                        found(SessionEvent::Unreadable(Hl7Error::StreamGap));
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
fn deframe(
    decoder: &mut mllp::Decoder,
    spare_frame: &mut Vec<u8>,
    data: &[u8],
    found: &mut impl FnMut(SessionEvent<'_>),
) {
    decoder.push_each_reusing(data, spare_frame, |event| match event {
        mllp::Event::Message(message) => found(SessionEvent::Message(message)),
        mllp::Event::Oversized(_) => found(SessionEvent::Unreadable(Hl7Error::OversizedFrame)),
        // Bytes between frames (keep-alives, stray CR/LF) carry nothing to count.
        mllp::Event::Garbage(_) => {}
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::packet::TcpFlags;
    use crate::testing::oru;

    fn segment(seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment { seq, ack: 0, flags: TcpFlags { ack: true, ..TcpFlags::default() }, payload }
    }

    /// What the segment completed, each message's bytes as a string.
    fn feed(session: &mut TcpSession, direction: Direction, seq: u32, payload: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        let (config, mut scratch) = (SessionConfig::default(), SessionScratch::default());
        session.on_segment(&config, &mut scratch, direction, &segment(seq, payload), &mut |event| {
            events.push(match event {
                SessionEvent::Message(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => format!("{other:?}"),
            });
        });
        events
    }

    #[test]
    fn a_message_split_over_segments_comes_out_whole_once_its_frame_ends() {
        let mut session = TcpSession::default();
        let message = oru("P-1", "C1", &[("spo2", 97.0)]);
        let framed = mllp::frame(message.as_bytes());
        let (first, rest) = framed.split_at(20);
        assert!(feed(&mut session, Direction::LowerToUpper, 1, first).is_empty());
        assert_eq!(feed(&mut session, Direction::LowerToUpper, 21, rest), [message]);
    }

    #[test]
    fn a_direction_that_is_not_mllp_stops_holding_data() {
        let mut session = TcpSession::default();
        let config = SessionConfig::default();
        // The stream starts, bytes arrive ahead of a hole, then enough in-order bytes to rule
        // MLLP out.
        feed(&mut session, Direction::LowerToUpper, 1, &[0x17; 100]);
        feed(&mut session, Direction::LowerToUpper, 10_000, &[0x17; 512]);
        assert_eq!(session.directions[0].as_ref().unwrap().reassembler.pending_bytes(), 512);
        feed(&mut session, Direction::LowerToUpper, 101, &vec![0x17; config.detect_bytes]);
        let stream = session.directions[0].as_ref().unwrap();
        assert!(matches!(stream.framing, Framing::NotMllp));
        assert_eq!(stream.reassembler.pending_bytes(), 0);
        assert!(feed(&mut session, Direction::LowerToUpper, 20_000, &[0x0b, b'M', b'S', b'H']).is_empty());
    }
}
