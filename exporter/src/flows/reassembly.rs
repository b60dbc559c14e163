//! TCP byte-stream reassembly for one direction of a connection: segments in, the stream's bytes
//! out in order. Out-of-order segments wait in a bounded buffer; retransmitted and overlapping
//! bytes are dropped; when the buffer is full the missing bytes are skipped and reported as a gap.

use std::collections::BTreeMap;

use crate::flows::seq::stream_position;

/// What the reassembler hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes never arrived and were skipped.
    Gap(u64),
}

/// What happened to the bytes pushed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub delivered_bytes: u64,
    /// Segments that arrived ahead of a hole and had to wait.
    pub out_of_order_segments: u64,
    /// Bytes that had been delivered or buffered already (retransmissions and overlaps), or
    /// that lie before the stream's start.
    pub duplicate_bytes: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
}

/// One direction of a TCP connection being put back in order.
#[derive(Debug)]
pub struct Reassembler {
    /// The sequence number of stream offset 0 (the byte after the SYN, or the first byte seen
    /// when the capture started in the middle of a connection).
    base: Option<u32>,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// The furthest stream offset reached (the end of the furthest segment seen): sequence
    /// numbers are read relative to it.
    highest: u64,
    /// Out-of-order data by stream offset.
    /// Made when a segment first arrives early, dropped when emptied: a map costs 24 bytes in
    /// each direction of each connection, and most never need one.
    #[allow(clippy::box_collection, reason = "8 bytes when absent instead of an empty map's 24")]
    pending: Option<Box<BTreeMap<u64, Vec<u8>>>>,
    pending_bytes: usize,
    max_pending_bytes: usize,
    /// Kept by test and fuzzing builds only: nothing else reads them (the session hears of gaps as
    /// chunks), and each of 100,000 TCP flows would carry 80 bytes of them.
    #[cfg(any(test, fuzzing))]
    pub stats: StreamStats,
}

impl Reassembler {
    /// A reassembler that holds at most `max_pending_bytes` of out-of-order data.
    pub fn new(max_pending_bytes: usize) -> Self {
        Self {
            base: None,
            next: 0,
            highest: 0,
            pending: None,
            pending_bytes: 0,
            max_pending_bytes,
            #[cfg(any(test, fuzzing))]
            stats: StreamStats::default(),
        }
    }

    /// Adds to the statistics (in test and fuzzing builds; elsewhere nothing).
    #[inline(always)]
    fn count(&mut self, update: impl FnOnce(&mut StreamStats)) {
        #[cfg(any(test, fuzzing))]
        update(&mut self.stats);
        #[cfg(not(any(test, fuzzing)))]
        let _ = update;
    }

    /// Bytes of out-of-order data held.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Takes one segment (sequence number, SYN flag, payload) and hands on what it completed.
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8], deliver: &mut impl FnMut(Chunk<'_>)) {
        if syn && self.base.is_none() {
            self.base = Some(seq.wrapping_add(1));
        }
        if payload.is_empty() {
            return;
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let base = *self.base.get_or_insert(data_seq);
        let position = stream_position(data_seq, base, self.highest);
        // Bytes from before the stream's start (before the SYN, or before the first byte the
        // capture saw) are none of the stream's: dropped like retransmitted ones.
        let before = usize::try_from(position.min(0).unsigned_abs()).unwrap_or(usize::MAX).min(payload.len());
        self.count(|stats| stats.duplicate_bytes += before as u64);
        let payload = &payload[before..];
        if payload.is_empty() {
            return;
        }
        let start = position.max(0) as u64;
        let end = start + payload.len() as u64;
        self.highest = self.highest.max(end);
        if end <= self.next {
            self.count(|stats| stats.duplicate_bytes += payload.len() as u64);
            return;
        }
        if start <= self.next {
            let skip = (self.next - start) as usize;
            self.count(|stats| stats.duplicate_bytes += skip as u64);
            self.deliver(&payload[skip..], deliver);
            self.drain(deliver);
            return;
        }
        self.count(|stats| stats.out_of_order_segments += 1);
        self.buffer(start, payload);
        while self.pending_bytes > self.max_pending_bytes {
            self.skip_to_first_pending(deliver);
        }
    }

    /// Skips every hole and delivers all that is buffered (the connection is over).
    pub fn flush(&mut self, deliver: &mut impl FnMut(Chunk<'_>)) {
        while self.pending.as_ref().is_some_and(|pending| !pending.is_empty()) {
            self.skip_to_first_pending(deliver);
        }
    }

    fn buffer(&mut self, start: u64, payload: &[u8]) {
        // Bytes already buffered at the same offset: keep the longer copy.
        let held = self.pending.as_ref().and_then(|pending| pending.get(&start)).map_or(0, Vec::len);
        if held >= payload.len() {
            self.count(|stats| stats.duplicate_bytes += payload.len() as u64);
            return;
        }
        self.count(|stats| stats.duplicate_bytes += held as u64);
        self.pending_bytes = self.pending_bytes - held + payload.len();
        self.pending.get_or_insert_with(Box::default).insert(start, payload.to_vec());
    }

    fn deliver(&mut self, data: &[u8], deliver: &mut impl FnMut(Chunk<'_>)) {
        self.next += data.len() as u64;
        self.count(|stats| stats.delivered_bytes += data.len() as u64);
        deliver(Chunk::Data(data));
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, deliver: &mut impl FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.as_mut().and_then(|pending| pending.first_entry()) {
            let start = *entry.key();
            if start > self.next {
                break;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            let end = start + data.len() as u64;
            if end <= self.next {
                self.count(|stats| stats.duplicate_bytes += data.len() as u64);
                continue;
            }
            let skip = (self.next - start) as usize;
            self.count(|stats| stats.duplicate_bytes += skip as u64);
            self.deliver(&data[skip..], deliver);
        }
        if self.pending.as_ref().is_some_and(|pending| pending.is_empty()) {
            self.pending = None;
        }
    }

    fn skip_to_first_pending(&mut self, deliver: &mut impl FnMut(Chunk<'_>)) {
        let Some(&first) = self.pending.as_ref().and_then(|pending| pending.keys().next()) else { return };
        if first > self.next {
            let missing = first - self.next;
            self.count(|stats| stats.gaps += 1);
            self.count(|stats| stats.gap_bytes += missing);
            self.next = first;
            deliver(Chunk::Gap(missing));
        }
        self.drain(deliver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What came out: the bytes, with `[gap N]` where N bytes were skipped.
    fn run(reassembler: &mut Reassembler, segments: &[(u32, bool, &[u8])]) -> String {
        let mut out = String::new();
        for &(seq, syn, payload) in segments {
            reassembler.push(seq, syn, payload, &mut |chunk| match chunk {
                Chunk::Data(data) => out.push_str(std::str::from_utf8(data).unwrap()),
                Chunk::Gap(n) => out.push_str(&format!("[gap {n}]")),
            });
        }
        out
    }

    const ISN: u32 = 1000;

    #[test]
    fn in_order_segments_pass_straight_through() {
        let mut r = Reassembler::new(1024);
        let out = run(&mut r, &[(ISN, true, b""), (ISN + 1, false, b"hello "), (ISN + 7, false, b"world")]);
        assert_eq!(out, "hello world");
        assert_eq!(r.stats, StreamStats { delivered_bytes: 11, ..StreamStats::default() });
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        let mut r = Reassembler::new(1024);
        let out = run(
            &mut r,
            &[(ISN, true, b""), (ISN + 7, false, b"world"), (ISN + 4, false, b"lo "), (ISN + 1, false, b"hel")],
        );
        assert_eq!(out, "hello world");
        assert_eq!(r.stats.out_of_order_segments, 2);
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn retransmissions_and_overlaps_are_dropped() {
        let mut r = Reassembler::new(1024);
        let out = run(
            &mut r,
            &[
                (ISN, true, b""),
                (ISN + 1, false, b"abcd"),
                (ISN + 1, false, b"abcd"), // retransmitted whole
                (ISN + 3, false, b"cdef"), // overlaps two delivered bytes
                (ISN + 9, false, b"ij"),   // ahead
                (ISN + 9, false, b"ij"),   // the same, again, while waiting
                (ISN + 7, false, b"ghi"),  // fills the hole and overlaps the waiting one
            ],
        );
        assert_eq!(out, "abcdefghij");
        assert_eq!(r.stats.duplicate_bytes, 4 + 2 + 2 + 1);
    }

    #[test]
    fn a_gap_is_skipped_once_the_buffer_is_full() {
        let mut r = Reassembler::new(8);
        let out = run(
            &mut r,
            &[(ISN, true, b""), (ISN + 1, false, b"ab"), (ISN + 8, false, b"hijk"), (ISN + 12, false, b"lmnop")],
        );
        assert_eq!(out, "ab[gap 5]hijklmnop");
        assert_eq!((r.stats.gaps, r.stats.gap_bytes), (1, 5));
        // The late bytes of the hole are now old news.
        assert_eq!(run(&mut r, &[(ISN + 3, false, b"cde")]), "");
    }

    #[test]
    fn a_capture_that_starts_mid_connection_picks_up_at_the_first_segment() {
        let mut r = Reassembler::new(1024);
        assert_eq!(run(&mut r, &[(77_000, false, b"xy"), (77_002, false, b"z")]), "xyz");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::new(1024);
        let isn = u32::MAX - 2;
        let out = run(
            &mut r,
            &[(isn, true, b""), (isn.wrapping_add(5), false, b"efg"), (isn.wrapping_add(1), false, b"abcd")],
        );
        assert_eq!(out, "abcdefg");
    }

    /// Found by the `reassembler` fuzz target: a segment from before the stream's start
    /// (here: before the first byte the capture saw) was taken as about 4 GiB ahead, waited
    /// there, and once the buffer was full a 4 GiB gap was skipped to deliver it.
    #[test]
    fn data_from_before_the_stream_start_is_old_not_four_gib_ahead() {
        let mut r = Reassembler::new(8);
        assert_eq!(run(&mut r, &[(5000, false, b"abc")]), "abc");
        // Ten bytes before the first seen, overlapping it, and seven new ones.
        assert_eq!(run(&mut r, &[(4990, false, b"0123456789abcdefghij")]), "defghij");
        assert_eq!(run(&mut r, &[(4000, false, b"old")]), "");
        assert_eq!(r.pending_bytes(), 0);
        assert_eq!((r.stats.gaps, r.stats.delivered_bytes, r.stats.duplicate_bytes), (0, 10, 13 + 3));
        // The same before a SYN's sequence number.
        let mut r = Reassembler::new(8);
        let out = run(&mut r, &[(ISN, true, b""), (ISN - 4, false, b"xxxxxab"), (ISN + 3, false, b"cd")]);
        assert_eq!(out, "abcd");
        assert_eq!(r.stats.gaps, 0);
    }

    #[test]
    fn far_behind_across_a_wrap_is_old_data() {
        // The sequence numbers wrapped within the stream: a retransmission from before the wrap
        // is old data, new data after it is delivered.
        let mut r = Reassembler::new(8);
        let isn = u32::MAX - 5;
        run(
            &mut r,
            &[(isn, true, b""), (isn.wrapping_add(1), false, b"abcdefgh"), (isn.wrapping_add(9), false, b"ij")],
        );
        assert_eq!(run(&mut r, &[(isn.wrapping_add(1), false, b"abcd")]), "");
        assert_eq!(run(&mut r, &[(isn.wrapping_add(11), false, b"k")]), "k");
        assert_eq!(r.stats.gaps, 0);
    }

    #[test]
    fn flush_skips_holes_and_delivers_the_rest() {
        let mut r = Reassembler::new(1024);
        run(&mut r, &[(ISN, true, b""), (ISN + 5, false, b"xyz")]);
        let mut out = Vec::new();
        r.flush(&mut |chunk| {
            out.push(match chunk {
                Chunk::Data(d) => String::from_utf8(d.to_vec()).unwrap(),
                Chunk::Gap(n) => format!("[gap {n}]"),
            })
        });
        assert_eq!(out, ["[gap 4]", "xyz"]);
    }
}
