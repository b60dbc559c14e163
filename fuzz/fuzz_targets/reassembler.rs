//! TCP reassembly of one direction, the flow table's retransmission detection over the same
//! segments, MLLP deframing of the delivered stream, and the HL7 session on top.
//!
//! The input is a sequence of segments placed on a known stream, so that what comes out can be
//! checked, not just survived. Every byte of the stream has a true 64-bit position; the byte at
//! a position is the input's `content` there (an MLLP/HL7 stream, from the seeds) and a hash of
//! the position elsewhere, so a byte delivered at the wrong place (4 GiB off, say) shows.
//!
//! Input: `config: u8 | isn: u32 LE | content_len: u16 LE | content | segments`, each segment
//! 7 bytes: `op: u8 | len: u16 LE (11 bits) | delta: i32 LE`. `op` bit 0 is SYN; bits 1-2
//! place the segment's data: 0 at the end of the previous one plus `delta as i8`, 1 plus
//! `delta as i16` (in order, retransmitted, overlapping, small holes), 2 at the highest
//! position seen plus `delta` (far ahead, far behind, before the stream's start; kept within
//! the 2^31 either way that sequence numbers can tell apart), 3 at the raw sequence number
//! `delta` (anything at all; the checks that need the true stream stop there).
//!
//! Checked: no panic; out-of-order bytes held never exceed the bound; every delivered byte is
//! the stream's byte at that position; a gap never skips bytes that arrived, and never runs
//! past the highest byte seen; the stream's statistics add up; after a flush nothing is held
//! and the stream reached its highest byte; the flow table flags a segment as retransmitted
//! exactly when a reference (the same range bookkeeping on true positions) does; MLLP gives
//! the same messages whatever the chunking, none longer than its bound.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wardwatch_clinical::mllp;
use wardwatch_exporter::decode::packet::{Endpoints, Protocol, TcpFlags, TcpSegment};
use wardwatch_exporter::flows::reassembly::{Chunk, Reassembler};
use wardwatch_exporter::flows::table::Direction;
use wardwatch_exporter::flows::table::{FlowConfig, FlowTable, Observed};
use wardwatch_exporter::hl7::session::{SessionConfig, SessionScratch, TcpSession};

const HALF: u64 = 1 << 31;
/// Where true positions start: far from 0 so that nothing underflows.
const ORIGIN: u64 = 1 << 40;
/// As in flow.rs.
const MAX_SEQ_RANGES: usize = 16;

fn hash(position: u64) -> u8 {
    (position.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

struct Stream<'a> {
    origin: u64,
    content: &'a [u8],
}

impl Stream<'_> {
    /// Appends the `len` bytes from `start` on to `out` (slices where it can: the per-byte
    /// loops of a fuzz target are instrumented, and slow).
    fn fill(&self, start: u64, len: usize, out: &mut Vec<u8>) {
        let end = start + len as u64;
        let content_end = self.origin + self.content.len() as u64;
        let mut at = start;
        while at < end {
            if (self.origin..content_end).contains(&at) {
                let upto = end.min(content_end);
                out.extend_from_slice(&self.content[(at - self.origin) as usize..(upto - self.origin) as usize]);
                at = upto;
            } else {
                let upto = if at < self.origin { end.min(self.origin) } else { end };
                out.extend((at..upto).map(hash));
                at = upto;
            }
        }
    }
}

/// A merged set of half-open ranges.
#[derive(Default)]
struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    fn insert(&mut self, start: u64, end: u64) {
        if start < end {
            insert_merged(&mut self.0, start, end);
        }
    }

    fn intersects(&self, start: u64, end: u64) -> bool {
        self.0.iter().any(|&(s, e)| s < end && start < e)
    }
}

/// flow.rs's bookkeeping of sequence ranges, on true positions (no unwrapping needed).
fn insert_merged(ranges: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let (mut start, mut end) = (start, end);
    ranges.retain(|&(s, e)| {
        let touches = s <= end && start <= e;
        if touches {
            start = start.min(s);
            end = end.max(e);
        }
        !touches
    });
    let at = ranges.partition_point(|&(s, _)| s < start);
    ranges.insert(at, (start, end));
}

#[derive(Default)]
struct ReferenceSeen(Vec<(u64, u64)>);

impl ReferenceSeen {
    fn record(&mut self, start: u64, end: u64) -> bool {
        let repeated = self.0.iter().any(|&(s, e)| s <= start && end <= e);
        if !repeated {
            insert_merged(&mut self.0, start, end);
            if self.0.len() > MAX_SEQ_RANGES {
                self.0.remove(0);
            }
        }
        repeated
    }
}

/// MLLP fed chunk by chunk and, for comparison, in one go per gap-free stretch.
struct Mllp {
    max: usize,
    chunked: mllp::Decoder,
    chunked_events: Vec<mllp::Event>,
    stretch: Vec<u8>,
}

fn summary(events: &[mllp::Event]) -> (Vec<&[u8]>, usize, Vec<usize>) {
    let mut messages = Vec::new();
    let (mut garbage, mut oversized) = (0, Vec::new());
    for event in events {
        match event {
            mllp::Event::Message(m) => messages.push(m.as_slice()),
            mllp::Event::Garbage(n) => garbage += n,
            mllp::Event::Oversized(n) => oversized.push(*n),
        }
    }
    (messages, garbage, oversized)
}

impl Mllp {
    fn new(max: usize) -> Self {
        Self { max, chunked: mllp::Decoder::new(max), chunked_events: Vec::new(), stretch: Vec::new() }
    }

    fn data(&mut self, data: &[u8]) {
        self.chunked.push(data, &mut self.chunked_events);
        assert!(self.chunked.pending() <= self.max + 1);
        self.stretch.extend_from_slice(data);
    }

    /// A gap, or the end: checks the stretch and starts another.
    fn end_stretch(&mut self) {
        let mut whole = mllp::Decoder::new(self.max);
        let mut whole_events = Vec::new();
        whole.push(&self.stretch, &mut whole_events);
        let (chunked, whole) = (summary(&self.chunked_events), summary(&whole_events));
        assert_eq!(chunked, whole, "MLLP depends on the chunking");
        assert!(chunked.0.iter().all(|m| m.len() <= self.max), "a message over the bound");
        *self = Self::new(self.max);
    }
}

/// What the reassembler should deliver, and what it did.
struct Model<'a> {
    stream: Stream<'a>,
    /// The true position of the reassembler's stream offset 0, once it has one.
    base: Option<u64>,
    /// Delivered and skipped so far, as a stream offset.
    offset: u64,
    /// True positions of the stream's bytes that arrived.
    received: RangeSet,
    /// Whether the true positions are known (no raw segment so far).
    exact: bool,
    mllp: Mllp,
    delivered: u64,
    gap_bytes: u64,
    gaps: u64,
    /// Scratch: the bytes a chunk should hold.
    expected: Vec<u8>,
}

impl Model<'_> {
    fn chunk(&mut self, chunk: Chunk<'_>) {
        match chunk {
            Chunk::Data(bytes) => {
                assert!(!bytes.is_empty(), "empty data chunk");
                if self.exact {
                    let base = self.base.expect("data before any base");
                    self.expected.clear();
                    self.stream.fill(base + self.offset, bytes.len(), &mut self.expected);
                    if bytes != self.expected.as_slice() {
                        let i = bytes.iter().zip(&self.expected).position(|(a, b)| a != b).unwrap_or(0);
                        panic!(
                            "wrong byte at offset {}: {} for {}",
                            self.offset + i as u64,
                            bytes[i],
                            self.expected[i]
                        );
                    }
                }
                self.offset += bytes.len() as u64;
                self.delivered += bytes.len() as u64;
                self.mllp.data(bytes);
            }
            Chunk::Gap(n) => {
                assert!(n > 0, "an empty gap");
                if self.exact {
                    let base = self.base.expect("a gap before any base");
                    let (start, end) = (base + self.offset, base + self.offset + n);
                    assert!(!self.received.intersects(start, end), "a gap over bytes that arrived: {start}..{end}");
                }
                self.offset += n;
                self.gap_bytes += n;
                self.gaps += 1;
                self.mllp.end_stretch();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 7 {
        return;
    }
    let config = data[0];
    let max_pending = [0, 1, 16, 100, 512, 2048, 8192, 65536][usize::from(config & 7)];
    let max_message = [1, 8, 64, 512, 4096, 65536, 3, 32][usize::from(config >> 3 & 7)];
    let isn = u32::from_le_bytes(data[1..5].try_into().unwrap());
    let content_len = usize::from(u16::from_le_bytes([data[5], data[6]]));
    let content = &data[7..(7 + content_len).min(data.len())];
    let mut records = &data[7 + content.len()..];
    let stream = Stream { origin: ORIGIN + u64::from(isn), content };

    let mut reassembler = Reassembler::new(max_pending);
    let mut flows: FlowTable<()> = FlowTable::new(FlowConfig::default());
    let endpoints = Endpoints {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        src_port: 40000,
        dst_port: 2575,
    };
    let session_config = SessionConfig {
        max_pending_bytes: max_pending,
        max_message_bytes: max_message,
        max_awaiting_acks: 4,
        detect_bytes: 64,
        max_held_bytes_total: usize::MAX,
    };
    let mut session = TcpSession::default();
    let mut scratch = SessionScratch::default();

    let mut model = Model {
        stream,
        base: None,
        offset: 0,
        received: RangeSet::default(),
        exact: true,
        mllp: Mllp::new(max_message),
        delivered: 0,
        gap_bytes: 0,
        gaps: 0,
        expected: Vec::new(),
    };
    // Highest true position the reassembler and the flow table have reached.
    let mut highest_stream: Option<u64> = None;
    let mut highest_flow: Option<u64> = None;
    let mut cursor = model.stream.origin;
    let mut reference = ReferenceSeen::default();
    let mut at = Duration::from_secs(1);
    let mut payload = Vec::new();

    while records.len() >= 7 {
        let op = records[0];
        let len = usize::from(u16::from_le_bytes([records[1], records[2]]) & 0x07ff);
        let delta = i32::from_le_bytes(records[3..7].try_into().unwrap());
        records = &records[7..];
        let syn = op & 1 == 1;
        let mode = op >> 1 & 3;

        // Where the segment's data starts, as a true position.
        let data_start = match mode {
            0 => Some(cursor.wrapping_add_signed(i64::from(delta as i8))),
            1 => Some(cursor.wrapping_add_signed(i64::from(delta as i16))),
            2 => Some(highest_stream.unwrap_or(cursor).wrapping_add_signed(i64::from(delta))),
            _ => None,
        };
        let (seq, data_start) = match data_start {
            Some(start) if model.exact => {
                // Within 2^31 of both reference points: what sequence numbers can tell apart.
                let syn_len = u64::from(syn);
                let mut lo = 0u64;
                let mut hi = u64::MAX;
                if let Some(h) = highest_stream {
                    (lo, hi) = (lo.max(h - HALF), hi.min(h + HALF - 1));
                }
                if let Some(h) = highest_flow {
                    (lo, hi) = (lo.max(h - HALF + syn_len), hi.min(h + HALF - 1 + syn_len));
                }
                if lo > hi {
                    continue;
                }
                let start =
                    if (lo..=hi).contains(&start) { start } else { lo + (start - lo.min(start)) % (hi - lo + 1) };
                ((start - syn_len) as u32, start)
            }
            Some(_) | None => {
                model.exact = false;
                (delta as u32, u64::from(delta as u32))
            }
        };
        cursor = data_start + len as u64;
        payload.clear();
        model.stream.fill(data_start, len, &mut payload);

        // The reassembler.
        if model.exact {
            if model.base.is_none() && (syn || len > 0) {
                model.base = Some(data_start);
                highest_stream = Some(data_start);
            }
            if len > 0 {
                let end = data_start + len as u64;
                highest_stream = highest_stream.map(|h| h.max(end));
                // Bytes at or after the base count as arrived (those before it are not stream).
                let base = model.base.unwrap();
                model.received.insert(data_start.max(base), end.max(base));
            }
        }
        reassembler.push(seq, syn, &payload, &mut |chunk| model.chunk(chunk));
        assert!(
            reassembler.pending_bytes() <= max_pending,
            "{} bytes held, bound {max_pending}",
            reassembler.pending_bytes()
        );
        let stats = reassembler.stats;
        assert_eq!(
            (stats.delivered_bytes, stats.gap_bytes, stats.gaps),
            (model.delivered, model.gap_bytes, model.gaps)
        );
        if model.exact
            && let (Some(base), Some(highest)) = (model.base, highest_stream)
        {
            assert!(base + model.offset <= highest, "delivered past the highest byte seen");
        }

        // The flow table, against the reference.
        let flags = TcpFlags { syn, ack: !syn, fin: false, rst: false };
        let segment = TcpSegment { seq, ack: 0, flags, payload: &payload };
        let Observed::Tracked { tcp, .. } =
            flows.observe(at, Protocol::Tcp, &endpoints, 40 + len as u32, Some(&segment))
        else {
            panic!("one flow overflowed the table");
        };
        if model.exact && (syn || len > 0) {
            let (start, end) = (data_start - u64::from(syn), data_start + len as u64);
            let expected = reference.record(start, end);
            highest_flow = Some(highest_flow.map_or(end, |h| h.max(end)));
            assert_eq!(tcp.retransmission, expected, "retransmission of {start}..{end}");
        }

        // The HL7 session on the same segment.
        session.on_segment(&session_config, &mut scratch, Direction::LowerToUpper, &segment, &mut |_| {});
        at += Duration::from_millis(10);
    }

    reassembler.flush(&mut |chunk| model.chunk(chunk));
    assert_eq!(reassembler.pending_bytes(), 0, "held after a flush");
    if model.exact
        && let (Some(base), Some(highest)) = (model.base, highest_stream)
    {
        assert_eq!(base + model.offset, highest, "a flush reaches the highest byte seen");
    }
    model.mllp.end_stretch();
    session.finish(&session_config, &mut scratch, &mut |_, _| {});
});
