//! MLLP (Minimal Lower Layer Protocol, HL7 v2 transport over TCP): each message is framed as
//! `0x0B <message> 0x1C 0x0D`.

pub const START_BLOCK: u8 = 0x0b;
pub const END_BLOCK: u8 = 0x1c;
pub const CARRIAGE_RETURN: u8 = 0x0d;

/// Wraps one HL7 message in an MLLP frame.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 3);
    framed.push(START_BLOCK);
    framed.extend_from_slice(message);
    framed.extend_from_slice(&[END_BLOCK, CARRIAGE_RETURN]);
    framed
}

/// What the decoder found in a byte stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete message (without framing bytes).
    Message(Vec<u8>),
    /// This many bytes arrived outside any frame and were skipped.
    Garbage(usize),
    /// A frame grew past the size limit and was discarded.
    Oversized(usize),
}

/// Incremental MLLP deframer: feed it bytes as they arrive, in any chunking.
#[derive(Debug)]
pub struct Decoder {
    buffer: Vec<u8>,
    in_frame: bool,
    max_message: usize,
    garbage: usize,
}

impl Decoder {
    /// A decoder that discards frames larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self { buffer: Vec::new(), in_frame: false, max_message, garbage: 0 }
    }

    /// Consumes `bytes` and appends what they completed to `events`.
    pub fn push(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        for &byte in bytes {
            if !self.in_frame {
                if byte == START_BLOCK {
                    self.flush_garbage(events);
                    self.in_frame = true;
                    self.buffer.clear();
                } else {
                    self.garbage += 1;
                }
                continue;
            }
            match byte {
                // A start block inside a frame: the previous frame was cut off; start again.
                START_BLOCK => {
                    self.garbage += self.buffer.len() + 1;
                    self.flush_garbage(events);
                    self.buffer.clear();
                }
                CARRIAGE_RETURN if self.buffer.last() == Some(&END_BLOCK) => {
                    self.buffer.pop();
                    self.in_frame = false;
                    events.push(Event::Message(std::mem::take(&mut self.buffer)));
                }
                _ => {
                    self.buffer.push(byte);
                    if self.buffer.len() > self.max_message + 1 {
                        events.push(Event::Oversized(self.buffer.len()));
                        self.buffer.clear();
                        self.in_frame = false;
                    }
                }
            }
        }
        self.flush_garbage(events);
    }

    /// Bytes of an unfinished frame held so far.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    fn flush_garbage(&mut self, events: &mut Vec<Event>) {
        if self.garbage > 0 {
            events.push(Event::Garbage(std::mem::take(&mut self.garbage)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_chunks(stream: &[u8], chunk: usize) -> Vec<Event> {
        let mut decoder = Decoder::new(1024);
        let mut events = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.push(piece, &mut events);
        }
        events
    }

    #[test]
    fn frames_round_trip_in_any_chunking() {
        let mut stream = frame(b"MSH|^~\\&|A\rPID|1\r");
        stream.extend(frame(b"MSH|^~\\&|B\r"));
        for chunk in [1, 2, 3, 7, stream.len()] {
            assert_eq!(
                decode_in_chunks(&stream, chunk),
                vec![Event::Message(b"MSH|^~\\&|A\rPID|1\r".to_vec()), Event::Message(b"MSH|^~\\&|B\r".to_vec())],
                "chunk size {chunk}"
            );
        }
    }

    /// (messages, total garbage bytes): garbage is reported per push, so its split depends on
    /// the chunking but its total does not.
    fn messages_and_garbage(events: Vec<Event>) -> (Vec<Vec<u8>>, usize) {
        let mut messages = Vec::new();
        let mut garbage = 0;
        for event in events {
            match event {
                Event::Message(m) => messages.push(m),
                Event::Garbage(n) => garbage += n,
                Event::Oversized(n) => panic!("unexpected oversized frame of {n}"),
            }
        }
        (messages, garbage)
    }

    #[test]
    fn bytes_outside_frames_are_counted_not_fatal() {
        let mut stream = b"xyz".to_vec();
        stream.extend(frame(b"MSH|1"));
        stream.extend(b"\r\n");
        for chunk in [1, 2, stream.len()] {
            assert_eq!(messages_and_garbage(decode_in_chunks(&stream, chunk)), (vec![b"MSH|1".to_vec()], 5));
        }
    }

    #[test]
    fn a_cut_off_frame_is_dropped_when_the_next_starts() {
        let mut stream = vec![START_BLOCK, b'M', b'S'];
        stream.extend(frame(b"MSH|2"));
        for chunk in [1, 4, stream.len()] {
            assert_eq!(messages_and_garbage(decode_in_chunks(&stream, chunk)), (vec![b"MSH|2".to_vec()], 3));
        }
    }

    #[test]
    fn oversized_frames_are_discarded() {
        let mut decoder = Decoder::new(4);
        let mut events = Vec::new();
        decoder.push(&frame(b"0123456789"), &mut events);
        assert!(matches!(events[0], Event::Oversized(_)), "{events:?}");
        assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
    }
}
