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

/// What the decoder found in a byte stream. [`Decoder::push`] gives messages as owned bytes,
/// [`Decoder::push_each`] lends them (`Event<&[u8]>`).
#[derive(Debug, PartialEq, Eq)]
pub enum Event<Message = Vec<u8>> {
    /// A complete message (without framing bytes).
    Message(Message),
    /// This many bytes arrived outside any frame and were skipped.
    Garbage(usize),
    /// A frame grew past the size limit and was discarded.
    Oversized(usize),
}

/// The most room a spare frame buffer keeps ([`Decoder::push_each_reusing`]): a vital-sign ORU
/// with a waveform is a few KiB; larger frames are rare and give their room back.
pub const SPARE_FRAME_BYTES: usize = 64 << 10;

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
    ///
    /// Byte for byte: outside a frame everything up to a start block is garbage; inside one,
    /// a start block abandons the frame (counted as garbage) and opens a new one, a carriage
    /// return after an end block completes it, and any other byte is the message's, until it
    /// has more than `max_message` + 1 bytes. Inside a frame only start and end blocks are
    /// looked for (with memchr): the carriage returns between HL7 segments need no stop, as
    /// only the one right after an end block matters.
    pub fn push(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        self.push_each(bytes, |event| {
            events.push(match event {
                Event::Message(message) => Event::Message(message.to_vec()),
                Event::Garbage(bytes) => Event::Garbage(bytes),
                Event::Oversized(bytes) => Event::Oversized(bytes),
            })
        });
    }

    /// [`Decoder::push`] that hands each event to `on_event` as it is found, lending each
    /// message: a frame that comes whole in one push is lent from `bytes`, uncopied.
    pub fn push_each(&mut self, bytes: &[u8], on_event: impl FnMut(Event<&[u8]>)) {
        self.push_each_reusing(bytes, &mut Vec::new(), on_event);
    }

    /// [`Decoder::push_each`] with a spare frame buffer shared by many decoders: a frame that
    /// spans pushes is gathered in the spare's room (taken when the frame opens, given back
    /// when it ends) rather than in a buffer allocated and freed per frame. The decoder holds
    /// the buffer only while a frame is open, as with [`Decoder::push_each`]; the spare keeps
    /// at most [`SPARE_FRAME_BYTES`] of room.
    pub fn push_each_reusing(&mut self, bytes: &[u8], spare: &mut Vec<u8>, mut on_event: impl FnMut(Event<&[u8]>)) {
        let events = &mut on_event;
        let mut rest = bytes;
        while !rest.is_empty() {
            if !self.in_frame {
                let Some(start) = memchr::memchr(START_BLOCK, rest) else {
                    self.garbage += rest.len();
                    break;
                };
                self.garbage += start;
                self.flush_garbage(events);
                self.in_frame = true;
                self.buffer.clear();
                rest = &rest[start + 1..];
                if let Some(end) = self.whole_frame(rest) {
                    events(Event::Message(&rest[..end]));
                    self.in_frame = false;
                    rest = &rest[end + 2..];
                    continue;
                }
                if self.buffer.capacity() == 0 {
                    self.buffer = std::mem::take(spare);
                }
                // Room for what is at hand: one allocation instead of a doubling per segment
                // line.
                self.buffer.reserve(rest.len().min(self.max_message.saturating_add(2)));
                continue;
            }
            if rest[0] == CARRIAGE_RETURN && self.buffer.last() == Some(&END_BLOCK) {
                // The end block taken last (in this push or the one before) ends the frame.
                self.buffer.pop();
                self.in_frame = false;
                events(Event::Message(&self.buffer));
                // The room goes back with the frame, as an idle connection holds none: to the
                // spare, for the next frame of any connection, unless it is large.
                let mut room = std::mem::take(&mut self.buffer);
                if room.capacity() <= SPARE_FRAME_BYTES && room.capacity() > spare.capacity() {
                    room.clear();
                    *spare = room;
                }
                rest = &rest[1..];
                continue;
            }
            let Some(at) = memchr::memchr2(START_BLOCK, END_BLOCK, rest) else {
                match self.take(rest, events) {
                    // The frame grew too large and was dropped: what follows is outside a frame.
                    Some(taken) => {
                        rest = &rest[taken..];
                        continue;
                    }
                    None => break,
                }
            };
            if rest[at] == START_BLOCK {
                if let Some(taken) = self.take(&rest[..at], events) {
                    rest = &rest[taken..];
                    continue;
                }
                self.garbage += self.buffer.len() + 1;
                self.flush_garbage(events);
                self.buffer.clear();
                rest = &rest[at + 1..];
                continue;
            }
            // An end block is the message's byte until a carriage return follows it.
            let taken = self.take(&rest[..=at], events).unwrap_or(at + 1);
            rest = &rest[taken..];
        }
        self.flush_garbage(events);
    }

    /// Where the message of a frame just opened ends in `rest` (the bytes after its start
    /// block), when the whole frame is there and within the size limit: the end block, and
    /// the carriage return after it, come before any start block. `None` leaves the frame to
    /// the byte-by-byte rules of [`Decoder::push`], which then decide the same way from the
    /// held bytes.
    fn whole_frame(&self, rest: &[u8]) -> Option<usize> {
        let mut from = 0;
        loop {
            let at = from + memchr::memchr2(START_BLOCK, END_BLOCK, &rest[from..])?;
            if rest[at] == START_BLOCK {
                return None;
            }
            match rest.get(at + 1) {
                // The message and its end block fit in the limit `take` keeps.
                Some(&CARRIAGE_RETURN) => return (at + 1 < self.max_message.saturating_add(2)).then_some(at),
                Some(_) => from = at + 1,
                None => return None,
            }
        }
    }

    /// Appends message bytes (no start block among them) to the open frame. If the frame passes
    /// `max_message` + 1 bytes, reports it oversized, closes it and returns how many of `bytes`
    /// it took.
    fn take(&mut self, bytes: &[u8], events: &mut impl FnMut(Event<&[u8]>)) -> Option<usize> {
        let limit = self.max_message.saturating_add(2);
        let room = limit.saturating_sub(self.buffer.len());
        if bytes.len() < room {
            self.buffer.extend_from_slice(bytes);
            return None;
        }
        self.buffer.extend_from_slice(&bytes[..room]);
        events(Event::Oversized(self.buffer.len()));
        // Give the room back: an oversized frame's buffer is as large as the bound allows.
        self.buffer = Vec::new();
        self.in_frame = false;
        Some(room)
    }

    /// Bytes of an unfinished frame held so far.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// Memory the decoder holds for frames: its buffer's capacity, at least [`Decoder::pending`].
    pub fn held_bytes(&self) -> usize {
        self.buffer.capacity()
    }

    fn flush_garbage(&mut self, events: &mut impl FnMut(Event<&[u8]>)) {
        if self.garbage > 0 {
            events(Event::Garbage(std::mem::take(&mut self.garbage)));
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
        assert_eq!(decoder.held_bytes(), 0, "the oversized frame's room is given back");
    }

    /// The decoder as its documentation describes it, one byte at a time.
    fn reference(stream: &[u8], max_message: usize) -> (Vec<Event>, usize) {
        let (mut events, mut garbage, mut frame, mut in_frame) = (Vec::new(), 0, Vec::new(), false);
        for &byte in stream {
            if !in_frame {
                if byte == START_BLOCK {
                    (in_frame, frame) = (true, Vec::new());
                } else {
                    garbage += 1;
                }
            } else if byte == START_BLOCK {
                garbage += frame.len() + 1;
                frame.clear();
            } else if byte == CARRIAGE_RETURN && frame.last() == Some(&END_BLOCK) {
                frame.pop();
                events.push(Event::Message(std::mem::take(&mut frame)));
                in_frame = false;
            } else {
                frame.push(byte);
                if frame.len() > max_message + 1 {
                    events.push(Event::Oversized(frame.len()));
                    in_frame = false;
                }
            }
        }
        (events, garbage)
    }

    /// Messages and oversized frames in order, and the garbage total.
    fn without_garbage(events: Vec<Event>) -> (Vec<Event>, usize) {
        let mut garbage = 0;
        let kept = events
            .into_iter()
            .filter(|event| match event {
                Event::Garbage(n) => {
                    garbage += n;
                    false
                }
                _ => true,
            })
            .collect();
        (kept, garbage)
    }

    #[test]
    fn streams_decode_as_the_byte_for_byte_description_says_in_any_chunking() {
        // Streams of delimiters and a letter, from a fixed linear congruential sequence.
        let mut state = 0x2545_f491_u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let alphabet = [START_BLOCK, END_BLOCK, CARRIAGE_RETURN, b'a', b'a', b'a'];
        for _ in 0..2000 {
            let stream: Vec<u8> = (0..next() % 64).map(|_| alphabet[next() % alphabet.len()]).collect();
            let max_message = next() % 12;
            let chunk = 1 + next() % 16;
            let mut decoder = Decoder::new(max_message);
            let mut events = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.push(piece, &mut events);
            }
            assert_eq!(without_garbage(events), reference(&stream, max_message), "{stream:?} in chunks of {chunk}");
        }
    }

    /// Two decoders sharing one spare frame buffer, their pushes interleaved, each find what a
    /// decoder of its own finds.
    #[test]
    fn decoders_sharing_a_spare_buffer_find_what_each_finds_alone() {
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let alphabet = [START_BLOCK, END_BLOCK, CARRIAGE_RETURN, b'a', b'a', b'a', b'a', b'a'];
        let mut spare = Vec::new();
        for _ in 0..500 {
            let streams: [Vec<u8>; 2] =
                std::array::from_fn(|_| (0..next() % 200).map(|_| alphabet[next() % alphabet.len()]).collect());
            let (max_message, chunk) = (next() % 40, 1 + next() % 16);
            let mut shared = [Decoder::new(max_message), Decoder::new(max_message)];
            let mut found: [Vec<Event>; 2] = Default::default();
            let chunks: [Vec<&[u8]>; 2] = std::array::from_fn(|i| streams[i].chunks(chunk).collect());
            for round in 0..chunks[0].len().max(chunks[1].len()) {
                for i in 0..2 {
                    if let Some(piece) = chunks[i].get(round) {
                        shared[i].push_each_reusing(piece, &mut spare, |event| {
                            found[i].push(match event {
                                Event::Message(message) => Event::Message(message.to_vec()),
                                Event::Garbage(n) => Event::Garbage(n),
                                Event::Oversized(n) => Event::Oversized(n),
                            })
                        });
                    }
                }
            }
            for i in 0..2 {
                let mut alone = Decoder::new(max_message);
                let mut expected = Vec::new();
                for piece in &chunks[i] {
                    alone.push(piece, &mut expected);
                }
                assert_eq!(found[i], expected, "{:?} in chunks of {chunk}", streams[i]);
                assert_eq!(shared[i].pending(), alone.pending());
            }
        }
        assert!(spare.capacity() <= SPARE_FRAME_BYTES);
    }

    #[test]
    fn an_unfinished_frame_is_held() {
        let mut decoder = Decoder::new(1024);
        decoder.push(&[START_BLOCK, b'M', b'S', b'H'], &mut Vec::new());
        assert_eq!(decoder.pending(), 3);
        assert!(decoder.held_bytes() >= 3);
    }

    #[test]
    fn a_frame_whole_in_one_push_is_lent_uncopied_and_one_cut_is_held() {
        let mut stream = frame(b"MSH|A\rPID|1\r");
        stream.extend(frame(b"MSH|B\r"));
        let mut decoder = Decoder::new(1024);
        let (whole, cut) = stream.split_at(stream.len() - 4);
        let mut lent = Vec::new();
        decoder.push_each(whole, |event| {
            if let Event::Message(message) = event {
                lent.push((message.to_vec(), whole.as_ptr_range().contains(&message.as_ptr())));
            }
        });
        assert_eq!(lent, vec![(b"MSH|A\rPID|1\r".to_vec(), true)]);
        assert_eq!(decoder.pending(), 4, "the second frame's first bytes (MSH|) are held");
        let mut held = Vec::new();
        decoder.push_each(cut, |event| {
            if let Event::Message(message) = event {
                held.push(message.to_vec());
            }
        });
        assert_eq!(held, vec![b"MSH|B\r".to_vec()]);
        assert_eq!(decoder.held_bytes(), 0, "a finished frame's room goes back");
    }
}
