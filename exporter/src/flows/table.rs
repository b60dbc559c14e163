//! The flow table: packets grouped by a direction-normalised 5-tuple, with per-direction counts,
//! TCP connection state, and eviction on idle and active timeouts. Time comes from the packets'
//! own timestamps (never the wall clock), so a capture file replays the same way every time.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use hashbrown::hash_table::{Entry, HashTable};

use serde::Serialize;

use crate::decode::packet::{Endpoints, Protocol, TcpSegment};
use crate::flows::seq::stream_position;

/// The first packet of a flow, seen from the side that sent it (the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowStart {
    pub at: Duration,
    pub protocol: Protocol,
    pub client: IpAddr,
    pub server: IpAddr,
    /// 0 for transports without ports.
    pub server_port: u16,
}

/// Bounds of the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// A flow with no packet for this long is evicted.
    pub idle_timeout: Duration,
    /// A flow older than this is evicted even if busy (a new one starts with its next packet),
    /// so that long-lived connections do not pin an entry forever.
    pub active_timeout: Duration,
    /// Hard cap on entries; packets of flows that do not fit are counted, not tracked.
    pub max_flows: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(300), active_timeout: Duration::from_secs(1800), max_flows: 4096 }
    }
}

/// A flow's identity: the protocol and both endpoints, the lower endpoint first, so that both
/// directions of a conversation share one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub protocol: Protocol,
    pub lower: (IpAddr, u16),
    pub upper: (IpAddr, u16),
}

/// Hashed as three words (each address as 128 bits, then the ports and protocol) rather than
/// field by field with enum tags and length prefixes: it is hashed once per packet. Keys that
/// are equal hash equally; an IPv4 address and the IPv6 address with the same low 32 bits
/// only collide.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let bits = |address: IpAddr| match address {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        state.write_u128(bits(self.lower.0));
        state.write_u128(bits(self.upper.0));
        state.write_u64(u64::from(self.lower.1) | u64::from(self.upper.1) << 16 | (self.protocol as u64) << 32);
    }
}

/// Which way a packet travels within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    LowerToUpper,
    UpperToLower,
}

impl Direction {
    pub fn index(self) -> usize {
        match self {
            Self::LowerToUpper => 0,
            Self::UpperToLower => 1,
        }
    }

    pub fn reverse(self) -> Self {
        match self {
            Self::LowerToUpper => Self::UpperToLower,
            Self::UpperToLower => Self::LowerToUpper,
        }
    }
}

impl FlowKey {
    /// The key of the flow a packet between `endpoints` belongs to, and the packet's direction.
    pub fn new(protocol: Protocol, endpoints: &Endpoints) -> (Self, Direction) {
        let src = (endpoints.src, endpoints.src_port);
        let dst = (endpoints.dst, endpoints.dst_port);
        if order_rank(src) <= order_rank(dst) {
            (Self { protocol, lower: src, upper: dst }, Direction::LowerToUpper)
        } else {
            (Self { protocol, lower: dst, upper: src }, Direction::UpperToLower)
        }
    }
}

/// An endpoint as integers that order as `(IpAddr, u16)` does (every IPv4 address before every
/// IPv6 one, then by address, then by port): compared as integers instead of field by field
/// through the address enums, once per packet.
fn order_rank((address, port): (IpAddr, u16)) -> (bool, u128, u16) {
    match address {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), port),
        IpAddr::V6(v6) => (true, u128::from(v6), port),
    }
}

/// Packets and wire bytes in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectionStats {
    pub packets: u64,
    pub bytes: u64,
}

/// How many disjoint sequence ranges are remembered per direction to spot retransmissions;
/// beyond it the oldest (lowest) range is forgotten.
const MAX_SEQ_RANGES: usize = 16;

/// The sequence ranges seen in one direction, as stream offsets from the first sequence number
/// seen (negative before it), coalesced and bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SeenRanges {
    base: Option<u32>,
    ranges: Ranges,
    /// The furthest offset reached, which sequence numbers are read relative to.
    highest: u64,
}

/// Disjoint, sorted, non-adjacent half-open ranges. An in-order stream has exactly one, kept
/// inline: only a stream with holes or reordering allocates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Ranges {
    #[default]
    Empty,
    One((i64, i64)),
    Many(Vec<(i64, i64)>),
}

impl Ranges {
    fn as_slice(&self) -> &[(i64, i64)] {
        match self {
            Self::Empty => &[],
            Self::One(range) => std::slice::from_ref(range),
            Self::Many(ranges) => ranges,
        }
    }
}

impl SeenRanges {
    /// Records `[seq, seq + len)` and tells whether all of it had been seen before.
    fn record(&mut self, seq: u32, len: u32) -> bool {
        let base = *self.base.get_or_insert(seq);
        let start = stream_position(seq, base, self.highest);
        let end = start + i64::from(len);
        let repeated = self.ranges.as_slice().iter().any(|&(s, e)| s <= start && end <= e);
        if !repeated {
            self.insert(start, end);
        }
        self.highest = self.highest.max(u64::try_from(end).unwrap_or(0));
        repeated
    }

    fn insert(&mut self, start: i64, end: i64) {
        match &mut self.ranges {
            Ranges::Empty => {
                self.ranges = Ranges::One((start, end));
                return;
            }
            // Touching the one range: it grows in place (what the general case does too).
            Ranges::One((s, e)) if *s <= end && start <= *e => {
                (*s, *e) = ((*s).min(start), (*e).max(end));
                return;
            }
            Ranges::One(range) => self.ranges = Ranges::Many(vec![*range]),
            Ranges::Many(_) => {}
        }
        let Ranges::Many(ranges) = &mut self.ranges else { return };
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
        if ranges.len() > MAX_SEQ_RANGES {
            ranges.remove(0);
        }
    }
}

/// The SYN that opened a connection, kept to time the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SynSent {
    direction: Direction,
    at: Duration,
    /// Karn's rule: once the SYN was sent again, the SYN/ACK cannot be matched to one of them.
    retransmitted: bool,
}

/// What TCP told about one connection so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpState {
    syn: Option<SynSent>,
    /// The SYN/ACK's sequence number, which the handshake's final ACK acknowledges plus one.
    syn_ack_seq: Option<u32>,
    pub established: bool,
    pub fin_seen: [bool; 2],
    pub reset: bool,
    seen: [SeenRanges; 2],
}

/// What one TCP segment changed in its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpEvents {
    /// The three-way handshake just completed.
    pub handshake_completed: bool,
    /// The first RST of the connection.
    pub reset: bool,
    /// The segment's whole sequence range had been seen before.
    pub retransmission: bool,
    /// Time from the SYN to its SYN/ACK, when this segment is that SYN/ACK.
    pub handshake_rtt: Option<Duration>,
}

impl TcpState {
    fn observe(&mut self, at: Duration, direction: Direction, segment: &TcpSegment<'_>) -> TcpEvents {
        let mut events = TcpEvents::default();
        let flags = segment.flags;
        let seq_len = segment.seq_len();
        if seq_len > 0 {
            events.retransmission = self.seen[direction.index()].record(segment.seq, seq_len);
        }
        if flags.rst && !self.reset {
            self.reset = true;
            events.reset = true;
        }
        if flags.fin {
            self.fin_seen[direction.index()] = true;
        }
        match (flags.syn, flags.ack) {
            (true, false) => match &mut self.syn {
                Some(syn) if syn.direction == direction => syn.retransmitted |= events.retransmission,
                Some(_) => {}
                None => self.syn = Some(SynSent { direction, at, retransmitted: false }),
            },
            (true, true) => {
                if let Some(syn) = self.syn.filter(|syn| syn.direction != direction)
                    && self.syn_ack_seq.is_none()
                {
                    self.syn_ack_seq = Some(segment.seq);
                    if !syn.retransmitted {
                        events.handshake_rtt = Some(at.saturating_sub(syn.at));
                    }
                }
            }
            (false, true) => {
                let from_client = self.syn.is_some_and(|syn| syn.direction == direction);
                if !self.established
                    && from_client
                    && self.syn_ack_seq.is_some_and(|seq| segment.ack == seq.wrapping_add(1))
                {
                    self.established = true;
                    events.handshake_completed = true;
                }
            }
            (false, false) => {}
        }
        events
    }
}

/// One flow and the state `T` its users keep with it (it is dropped with the flow).
#[derive(Clone, Debug)]
pub struct Flow<T> {
    pub key: FlowKey,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// Indexed by [`Direction::index`].
    pub directions: [DirectionStats; 2],
    /// TCP only, made at the flow's first segment (a UDP flow carries none).
    pub tcp: Option<Box<TcpState>>,
    pub state: T,
}

/// Why a flow left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictReason {
    Idle,
    Active,
}

impl EvictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Active => "active",
        }
    }
}

/// What [`FlowTable::observe`] did with a packet.
pub enum Observed<'a, T> {
    Tracked {
        flow: &'a mut Flow<T>,
        direction: Direction,
        created: bool,
        tcp: TcpEvents,
    },
    /// The table is full and the packet's flow is not in it.
    Overflow,
}

/// The flows currently alive: a slab of flows, and an index of their places by key.
///
/// The index holds only places (4 bytes a flow), hashed by the key of the flow in each: the
/// key lives once, in the slab, and growing the index moves little. The flows themselves stay
/// in one vector whose freed places are reused. A large vector grows by remapping, not by
/// copying into a second one, so the peak memory of a table of 100,000 flows is about what the
/// flows take, not twice that.
#[derive(Debug)]
pub struct FlowTable<T> {
    config: FlowConfig,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Option<Flow<T>>>,
    /// Places in `slots` that hold no flow, reused first.
    free: Vec<u32>,
    /// The flow of the last packet and its place: packets come in runs of one flow (a burst of
    /// segments, a message and its ACK), and a run's later packets need no hash lookup.
    /// Cleared when flows leave the table.
    last: Option<(FlowKey, u32)>,
}

/// Whether place `slot` of `slots` holds the flow with `key`.
fn holds<T>(slots: &[Option<Flow<T>>], slot: u32, key: &FlowKey) -> bool {
    slots[slot as usize].as_ref().is_some_and(|flow| flow.key == *key)
}

impl<T: Default> FlowTable<T> {
    pub fn new(config: FlowConfig) -> Self {
        Self {
            config,
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            free: Vec::new(),
            last: None,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, key: &FlowKey) -> Option<&Flow<T>> {
        let slots = &self.slots;
        let slot = self.index.find(self.hasher.hash_one(key), |&slot| holds(slots, slot, key))?;
        slots[*slot as usize].as_ref()
    }

    /// Accounts one packet of `wire_len` bytes seen at `at` between `endpoints`.
    pub fn observe(
        &mut self,
        at: Duration,
        protocol: Protocol,
        endpoints: &Endpoints,
        wire_len: u32,
        tcp: Option<&TcpSegment<'_>>,
    ) -> Observed<'_, T> {
        let (key, direction) = FlowKey::new(protocol, endpoints);
        let (slot, created) = match self.last {
            Some((last, slot)) if last == key => (slot as usize, false),
            _ => match self.look_up(key, at) {
                Some(found) => found,
                None => return Observed::Overflow,
            },
        };
        self.last = Some((key, slot as u32));
        let Some(flow) = self.slots[slot].as_mut() else {
            unreachable!("every indexed place holds its flow");
        };
        flow.last_seen = flow.last_seen.max(at);
        let stats = &mut flow.directions[direction.index()];
        stats.packets += 1;
        stats.bytes += u64::from(wire_len);
        let tcp = tcp
            .map(|segment| flow.tcp.get_or_insert_with(Box::default).observe(at, direction, segment))
            .unwrap_or_default();
        Observed::Tracked { flow, direction, created, tcp }
    }

    /// The place of the flow with `key`, made at `at` if it is new (and whether it is); `None`
    /// when it is new and the table is full.
    fn look_up(&mut self, key: FlowKey, at: Duration) -> Option<(usize, bool)> {
        // One lookup: the entry tells whether the flow is new.
        let full = self.index.len() >= self.config.max_flows;
        let (slots, hasher) = (&self.slots, &self.hasher);
        let rehash = |&slot: &u32| slots[slot as usize].as_ref().map_or(0, |flow| hasher.hash_one(flow.key));
        let entry = self.index.entry(hasher.hash_one(key), |&slot| holds(slots, slot, &key), rehash);
        Some(match entry {
            Entry::Occupied(entry) => (*entry.get() as usize, false),
            Entry::Vacant(_) if full => return None,
            Entry::Vacant(entry) => {
                let flow = Flow {
                    key,
                    first_seen: at,
                    last_seen: at,
                    directions: Default::default(),
                    tcp: None,
                    state: T::default(),
                };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.slots[slot as usize] = Some(flow);
                        slot as usize
                    }
                    None => {
                        self.slots.push(Some(flow));
                        self.slots.len() - 1
                    }
                };
                // At most `max_flows` places are in use, and a table holds far fewer than 2^32.
                entry.insert(u32::try_from(slot).unwrap_or(u32::MAX));
                (slot, true)
            }
        })
    }

    /// Lets `f` work on the state of every live flow.
    pub fn for_each_state(&mut self, mut f: impl FnMut(&mut T)) {
        self.slots.iter_mut().flatten().for_each(|flow| f(&mut flow.state));
    }

    /// Removes and returns the flows that are idle or too old at `now`.
    pub fn expire(&mut self, now: Duration) -> Vec<(Flow<T>, EvictReason)> {
        let FlowConfig { idle_timeout, active_timeout, .. } = self.config;
        let reason = |flow: &Flow<T>| {
            if now.saturating_sub(flow.last_seen) >= idle_timeout {
                Some(EvictReason::Idle)
            } else if now.saturating_sub(flow.first_seen) >= active_timeout {
                Some(EvictReason::Active)
            } else {
                None
            }
        };
        let mut expired = Vec::new();
        for (slot, place) in self.slots.iter_mut().enumerate() {
            let Some(why) = place.as_ref().and_then(reason) else { continue };
            let Some(flow) = place.take() else { continue };
            let place = u32::try_from(slot).unwrap_or(u32::MAX);
            if let Ok(entry) = self.index.find_entry(self.hasher.hash_one(flow.key), |&indexed| indexed == place) {
                entry.remove();
            }
            self.free.push(place);
            self.last = None;
            expired.push((flow, why));
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::packet::TcpFlags;

    const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 2], 40000);
    const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 2575);

    fn endpoints(from: ([u8; 4], u16), to: ([u8; 4], u16)) -> Endpoints {
        Endpoints { src: from.0.into(), dst: to.0.into(), src_port: from.1, dst_port: to.1 }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
        TcpFlags { syn, ack, fin, rst }
    }

    fn segment(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment { seq, ack, flags, payload }
    }

    type Table = FlowTable<()>;

    fn send(table: &mut Table, at: Duration, from_client: bool, seg: TcpSegment<'_>) -> Option<TcpEvents> {
        let ends = if from_client { endpoints(CLIENT, SERVER) } else { endpoints(SERVER, CLIENT) };
        match table.observe(at, Protocol::Tcp, &ends, 60 + seg.payload.len() as u32, Some(&seg)) {
            Observed::Tracked { tcp, .. } => Some(tcp),
            Observed::Overflow => None,
        }
    }

    #[test]
    fn endpoints_rank_as_they_order() {
        let endpoints: Vec<(IpAddr, u16)> = ["0.0.0.1", "10.0.0.2", "255.255.255.255", "::", "::1", "fe80::1"]
            .iter()
            .flat_map(|a| [0, 80, 65535].map(|port| (a.parse().unwrap(), port)))
            .collect();
        for a in &endpoints {
            for b in &endpoints {
                assert_eq!(order_rank(*a).cmp(&order_rank(*b)), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn both_directions_share_one_key() {
        let (forward, d1) = FlowKey::new(Protocol::Udp, &endpoints(CLIENT, SERVER));
        let (backward, d2) = FlowKey::new(Protocol::Udp, &endpoints(SERVER, CLIENT));
        assert_eq!(forward, backward);
        assert_eq!(d1, d2.reverse());
        let (other_protocol, _) = FlowKey::new(Protocol::Tcp, &endpoints(CLIENT, SERVER));
        assert_ne!(forward, other_protocol);
    }

    #[test]
    fn counts_packets_and_bytes_per_direction() {
        let mut table = Table::new(FlowConfig::default());
        for (i, from_client) in [true, true, false].into_iter().enumerate() {
            let ends = if from_client { endpoints(CLIENT, SERVER) } else { endpoints(SERVER, CLIENT) };
            let created = matches!(
                table.observe(secs(i as u64), Protocol::Udp, &ends, 100, None),
                Observed::Tracked { created: true, .. }
            );
            assert_eq!(created, i == 0);
        }
        assert_eq!(table.len(), 1);
        let (key, client_direction) = FlowKey::new(Protocol::Udp, &endpoints(CLIENT, SERVER));
        let flow = table.get(&key).unwrap();
        assert_eq!(flow.directions[client_direction.index()], DirectionStats { packets: 2, bytes: 200 });
        assert_eq!(flow.directions[client_direction.reverse().index()], DirectionStats { packets: 1, bytes: 100 });
        assert_eq!((flow.first_seen, flow.last_seen), (secs(0), secs(2)));
    }

    #[test]
    fn handshake_rtt_completion_and_reset() {
        let mut table = Table::new(FlowConfig::default());
        let t0 = secs(100);
        let syn = send(&mut table, t0, true, segment(1000, 0, flags(true, false, false, false), b"")).unwrap();
        assert_eq!(syn, TcpEvents::default());
        let syn_ack = send(
            &mut table,
            t0 + Duration::from_millis(3),
            false,
            segment(5000, 1001, flags(true, true, false, false), b""),
        )
        .unwrap();
        assert_eq!(syn_ack.handshake_rtt, Some(Duration::from_millis(3)));
        assert!(!syn_ack.handshake_completed);
        let ack = send(
            &mut table,
            t0 + Duration::from_millis(4),
            true,
            segment(1001, 5001, flags(false, true, false, false), b""),
        )
        .unwrap();
        assert!(ack.handshake_completed);
        let data = send(
            &mut table,
            t0 + Duration::from_millis(5),
            true,
            segment(1001, 5001, flags(false, true, false, false), b"x"),
        )
        .unwrap();
        assert!(!data.handshake_completed, "completion is reported once");
        let rst = send(
            &mut table,
            t0 + Duration::from_millis(6),
            false,
            segment(5001, 0, flags(false, false, false, true), b""),
        )
        .unwrap();
        assert!(rst.reset);
        let rst_again = send(
            &mut table,
            t0 + Duration::from_millis(7),
            false,
            segment(5001, 0, flags(false, false, false, true), b""),
        )
        .unwrap();
        assert!(!rst_again.reset, "a connection is reset once");
    }

    #[test]
    fn a_retransmitted_syn_gives_no_rtt_sample() {
        let mut table = Table::new(FlowConfig::default());
        let syn = segment(1000, 0, flags(true, false, false, false), b"");
        send(&mut table, secs(1), true, syn);
        assert!(send(&mut table, secs(2), true, syn).unwrap().retransmission);
        let syn_ack = send(&mut table, secs(3), false, segment(1, 1001, flags(true, true, false, false), b"")).unwrap();
        assert_eq!(syn_ack.handshake_rtt, None);
    }

    #[test]
    fn repeated_sequence_ranges_are_retransmissions_filled_holes_are_not() {
        let mut table = Table::new(FlowConfig::default());
        let ack = flags(false, true, false, false);
        let at = secs(1);
        assert!(!send(&mut table, at, true, segment(100, 1, ack, b"aaaa")).unwrap().retransmission);
        // Skip 104..108, send 108..112: out of order, not a retransmission.
        assert!(!send(&mut table, at, true, segment(108, 1, ack, b"cccc")).unwrap().retransmission);
        // Fill the hole: new data.
        assert!(!send(&mut table, at, true, segment(104, 1, ack, b"bbbb")).unwrap().retransmission);
        // Repeat a part of what was seen: retransmission.
        assert!(send(&mut table, at, true, segment(102, 1, ack, b"aabb")).unwrap().retransmission);
        // A pure ACK occupies no sequence space and is never one.
        assert!(!send(&mut table, at, true, segment(112, 1, ack, b"")).unwrap().retransmission);
        // Partly new data is not a retransmission either.
        assert!(!send(&mut table, at, true, segment(110, 1, ack, b"ccdd")).unwrap().retransmission);
        // The other direction has its own sequence space.
        assert!(!send(&mut table, at, false, segment(100, 1, ack, b"aaaa")).unwrap().retransmission);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut table = Table::new(FlowConfig::default());
        let ack = flags(false, true, false, false);
        let start = u32::MAX - 3;
        send(&mut table, secs(1), true, segment(start, 1, ack, b"abcdefgh"));
        assert!(
            !send(&mut table, secs(1), true, segment(start.wrapping_add(8), 1, ack, b"ijkl")).unwrap().retransmission
        );
        assert!(send(&mut table, secs(1), true, segment(2, 1, ack, b"gh")).unwrap().retransmission, "across the wrap");
    }

    /// Found by the `reassembler` fuzz target, which checks the flow table against a reference
    /// on true stream positions: a segment from before the first sequence number seen was taken
    /// as about 4 GiB ahead, the furthest point jumped there, and later retransmissions were
    /// read a wrap further on and no longer recognised.
    #[test]
    fn old_data_from_before_the_first_segment_does_not_hide_retransmissions() {
        let mut table = Table::new(FlowConfig::default());
        let ack = flags(false, true, false, false);
        let at = secs(1);
        assert!(!send(&mut table, at, true, segment(5000, 1, ack, b"abcd")).unwrap().retransmission);
        // Data from before the capture started: new to the flow table, not 4 GiB ahead.
        assert!(!send(&mut table, at, true, segment(4990, 1, ack, b"0123456789")).unwrap().retransmission);
        assert!(send(&mut table, at, true, segment(4990, 1, ack, b"0123456789")).unwrap().retransmission);
        assert!(send(&mut table, at, true, segment(5000, 1, ack, b"abcd")).unwrap().retransmission);
        assert!(!send(&mut table, at, true, segment(5004, 1, ack, b"efgh")).unwrap().retransmission);
        let mut seen = SeenRanges::default();
        seen.record(5000, 4);
        seen.record(4990, 10);
        assert_eq!((seen.ranges.as_slice(), seen.highest), ([(-10, 4)].as_slice(), 4));
    }

    #[test]
    fn seen_ranges_stay_bounded() {
        let mut seen = SeenRanges::default();
        for i in 0..100u32 {
            seen.record(i * 10, 5);
        }
        assert_eq!(seen.ranges.as_slice().len(), MAX_SEQ_RANGES);
        assert!(seen.record(990, 5), "recent ranges are remembered");
    }

    #[test]
    fn idle_and_active_timeouts_follow_packet_time() {
        let config = FlowConfig {
            idle_timeout: Duration::from_secs(10),
            active_timeout: Duration::from_secs(60),
            max_flows: 10,
        };
        let mut table = Table::new(config);
        let quiet = endpoints(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 2));
        let busy = endpoints(([10, 0, 0, 3], 1), ([10, 0, 0, 4], 2));
        table.observe(secs(0), Protocol::Udp, &quiet, 1, None);
        for t in 0..=9 {
            table.observe(secs(t), Protocol::Udp, &busy, 1, None);
        }
        assert!(table.expire(secs(9)).is_empty());
        let expired: Vec<_> = table.expire(secs(10)).into_iter().map(|(f, why)| (f.key.lower.0, why)).collect();
        assert_eq!(expired, [(IpAddr::from([10, 0, 0, 1]), EvictReason::Idle)]);
        for t in 10..=60 {
            table.observe(secs(t), Protocol::Udp, &busy, 1, None);
        }
        let expired: Vec<_> = table.expire(secs(60)).into_iter().map(|(_, why)| why).collect();
        assert_eq!(expired, [EvictReason::Active]);
        assert!(table.is_empty());
        // The evicted flow was the last one seen: its next packet starts a new flow.
        let Observed::Tracked { created, flow, .. } = table.observe(secs(61), Protocol::Udp, &busy, 1, None) else {
            panic!("the table has room");
        };
        assert!(created);
        assert_eq!((flow.first_seen, flow.directions[0].packets + flow.directions[1].packets), (secs(61), 1));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_new_flows_but_keeps_tracking_known_ones() {
        let config = FlowConfig { max_flows: 2, ..FlowConfig::default() };
        let mut table = Table::new(config);
        let flow = |last: u8| endpoints(([10, 0, 0, 1], 1), ([10, 0, 0, last], 2));
        for last in [2, 3] {
            assert!(matches!(table.observe(secs(0), Protocol::Udp, &flow(last), 1, None), Observed::Tracked { .. }));
        }
        assert!(matches!(table.observe(secs(0), Protocol::Udp, &flow(4), 1, None), Observed::Overflow));
        assert!(matches!(
            table.observe(secs(0), Protocol::Udp, &flow(2), 1, None),
            Observed::Tracked { created: false, .. }
        ));
        assert_eq!(table.len(), 2);
    }
}
