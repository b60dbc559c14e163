//! Which IP fragment completes its datagram. Like tshark (which reassembles IPv4 and IPv6 by
//! default), wardwatch counts the fragment that completes a datagram under the datagram's
//! transport and every other fragment as `other_ip`. Only the byte ranges seen are kept, never
//! the data, in a table bounded in datagrams, in ranges per datagram and in time.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use foldhash::HashMap;
use serde::Serialize;

use crate::decode::packet::{Fragment, Protocol};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentConfig {
    /// Datagrams waiting for fragments at once; fragments of further datagrams are untracked.
    pub max_datagrams: usize,
    /// How long after its first fragment a datagram may still complete (packet time).
    pub timeout: Duration,
}

impl Default for FragmentConfig {
    fn default() -> Self {
        // Linux keeps fragments for 30 s (net.ipv4.ipfrag_time).
        Self { max_datagrams: 1024, timeout: Duration::from_secs(30) }
    }
}

/// Disjoint ranges a datagram may collect before it is given up: overlapping or adjacent
/// fragments merge, so only a pathological pattern of holes reaches this.
const MAX_RANGES_PER_DATAGRAM: usize = 64;

/// What one fragment did to its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FragmentResult {
    /// The datagram still misses data.
    Pending,
    /// This fragment completed the datagram.
    Reassembled,
    /// The table was full, or the datagram had too many holes: the fragment was not tracked
    /// (and its datagram is never completed).
    Untracked,
}

impl FragmentResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Reassembled => "reassembled",
            Self::Untracked => "untracked",
        }
    }
}

/// A completed datagram: its transport and, when its first fragment showed them, its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub ip_number: u8,
    pub ports: Option<(u16, u16)>,
}

impl Datagram {
    /// The protocol the whole datagram is counted as.
    pub fn protocol(&self) -> Protocol {
        match self.ip_number {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            58 => Protocol::Icmpv6,
            _ => Protocol::OtherIp,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    ip_number: u8,
}

#[derive(Debug)]
struct PendingDatagram {
    first_seen: Duration,
    /// Sorted, disjoint, non-adjacent byte ranges of the payload seen so far.
    ranges: Vec<Range<u32>>,
    /// The payload's length, once its last fragment came.
    len: Option<u32>,
    ports: Option<(u16, u16)>,
}

impl PendingDatagram {
    /// Adds `range` and merges it with what it touches; tells whether the ranges stay in bounds.
    fn add(&mut self, range: Range<u32>) -> bool {
        let mut merged = range;
        self.ranges.retain(|seen| {
            let touches = seen.start <= merged.end && merged.start <= seen.end;
            if touches {
                merged = merged.start.min(seen.start)..merged.end.max(seen.end);
            }
            !touches
        });
        let at = self.ranges.partition_point(|seen| seen.start < merged.start);
        self.ranges.insert(at, merged);
        self.ranges.len() <= MAX_RANGES_PER_DATAGRAM
    }

    fn is_complete(&self) -> bool {
        self.len.is_some_and(|len| self.ranges.len() == 1 && self.ranges[0] == (0..len))
    }
}

/// The datagrams waiting for more fragments.
#[derive(Debug, Default)]
pub struct FragmentTable {
    config: FragmentConfig,
    pending: HashMap<DatagramKey, PendingDatagram>,
}

impl FragmentTable {
    pub fn new(config: FragmentConfig) -> Self {
        Self { config, pending: HashMap::default() }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes a fragment from `src` to `dst` seen at `at`; the datagram when it completes it.
    pub fn observe(
        &mut self,
        at: Duration,
        src: IpAddr,
        dst: IpAddr,
        fragment: &Fragment,
    ) -> (FragmentResult, Option<Datagram>) {
        let key = DatagramKey { src, dst, id: fragment.id, ip_number: fragment.ip_number };
        if let Some(datagram) = self.pending.get(&key)
            && at.saturating_sub(datagram.first_seen) > self.config.timeout
        {
            // The identification came round again after the old datagram was given up.
            self.pending.remove(&key);
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= self.config.max_datagrams {
            return (FragmentResult::Untracked, None);
        }
        let datagram = self.pending.entry(key).or_insert_with(|| PendingDatagram {
            first_seen: at,
            ranges: Vec::new(),
            len: None,
            ports: None,
        });
        let end = fragment.offset.saturating_add(fragment.len);
        if !fragment.more {
            datagram.len = Some(end);
        }
        if fragment.ports.is_some() {
            datagram.ports = fragment.ports;
        }
        if !datagram.add(fragment.offset..end) {
            self.pending.remove(&key);
            return (FragmentResult::Untracked, None);
        }
        if !datagram.is_complete() {
            return (FragmentResult::Pending, None);
        }
        let ports = datagram.ports;
        self.pending.remove(&key);
        (FragmentResult::Reassembled, Some(Datagram { ip_number: key.ip_number, ports }))
    }

    /// Gives up the datagrams whose first fragment is older than the timeout at `now`; tells
    /// how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let before = self.pending.len();
        let timeout = self.config.timeout;
        self.pending.retain(|_, datagram| now.saturating_sub(datagram.first_seen) <= timeout);
        before - self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const DST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn fragment(id: u32, offset: u32, len: u32, more: bool) -> Fragment {
        let ports = (offset == 0).then_some((5000, 6000));
        Fragment { id, ip_number: 17, offset, len, more, ports }
    }

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(1_790_000_000 + seconds)
    }

    #[test]
    fn the_fragment_that_fills_the_last_hole_completes_the_datagram_in_any_order() {
        let parts = [fragment(7, 0, 512, true), fragment(7, 512, 512, true), fragment(7, 1024, 100, false)];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut table = FragmentTable::new(FragmentConfig::default());
            let results: Vec<_> = order.iter().map(|&i| table.observe(at(0), SRC, DST, &parts[i])).collect();
            let pending = (FragmentResult::Pending, None);
            let completed = (FragmentResult::Reassembled, Some(Datagram { ip_number: 17, ports: Some((5000, 6000)) }));
            assert_eq!(results, [pending, pending, completed], "order {order:?}");
            assert!(table.is_empty());
        }
    }

    #[test]
    fn duplicates_and_overlaps_do_not_complete_a_datagram_with_a_hole() {
        let mut table = FragmentTable::new(FragmentConfig::default());
        for part in [fragment(1, 0, 600, true), fragment(1, 0, 600, true), fragment(1, 400, 300, true)] {
            assert_eq!(table.observe(at(0), SRC, DST, &part).0, FragmentResult::Pending);
        }
        assert_eq!(table.observe(at(0), SRC, DST, &fragment(1, 800, 8, false)).0, FragmentResult::Pending);
        let (result, datagram) = table.observe(at(0), SRC, DST, &fragment(1, 696, 104, true));
        assert_eq!(result, FragmentResult::Reassembled, "696..800 fills the hole, overlapping 400..700");
        assert_eq!(datagram.unwrap().ports, Some((5000, 6000)));
    }

    #[test]
    fn datagrams_are_told_apart_by_addresses_identification_and_protocol() {
        let mut table = FragmentTable::new(FragmentConfig::default());
        table.observe(at(0), SRC, DST, &fragment(3, 0, 8, true));
        assert_eq!(table.observe(at(0), DST, SRC, &fragment(3, 8, 8, false)).0, FragmentResult::Pending);
        assert_eq!(table.observe(at(0), SRC, DST, &fragment(4, 8, 8, false)).0, FragmentResult::Pending);
        let icmp = Fragment { ip_number: 1, ..fragment(3, 8, 8, false) };
        assert_eq!(table.observe(at(0), SRC, DST, &icmp).0, FragmentResult::Pending);
        assert_eq!(table.len(), 4);
        assert_eq!(table.observe(at(0), SRC, DST, &fragment(3, 8, 8, false)).0, FragmentResult::Reassembled);
    }

    #[test]
    fn a_full_table_leaves_new_datagrams_untracked_until_old_ones_expire() {
        let config = FragmentConfig { max_datagrams: 2, timeout: Duration::from_secs(30) };
        let mut table = FragmentTable::new(config);
        table.observe(at(0), SRC, DST, &fragment(1, 0, 8, true));
        table.observe(at(1), SRC, DST, &fragment(2, 0, 8, true));
        assert_eq!(table.observe(at(2), SRC, DST, &fragment(3, 0, 8, true)).0, FragmentResult::Untracked);
        assert_eq!(table.observe(at(2), SRC, DST, &fragment(2, 8, 8, false)).0, FragmentResult::Reassembled);
        assert_eq!(table.observe(at(3), SRC, DST, &fragment(3, 0, 8, true)).0, FragmentResult::Pending);
        assert_eq!(table.expire(at(30)), 0);
        assert_eq!(table.expire(at(31)), 1, "datagram 1 started at 0");
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_late_fragment_after_the_timeout_starts_over() {
        let mut table = FragmentTable::new(FragmentConfig::default());
        table.observe(at(0), SRC, DST, &fragment(9, 0, 8, true));
        assert_eq!(table.observe(at(31), SRC, DST, &fragment(9, 8, 8, false)).0, FragmentResult::Pending);
        assert_eq!(table.observe(at(32), SRC, DST, &fragment(9, 0, 8, true)).0, FragmentResult::Reassembled);
    }

    #[test]
    fn a_datagram_with_too_many_holes_is_given_up() {
        let mut table = FragmentTable::new(FragmentConfig::default());
        let holes = MAX_RANGES_PER_DATAGRAM as u32;
        for i in 0..holes {
            assert_eq!(table.observe(at(0), SRC, DST, &fragment(5, 16 * i + 8, 8, true)).0, FragmentResult::Pending);
        }
        assert_eq!(table.observe(at(0), SRC, DST, &fragment(5, 16 * holes + 8, 8, true)).0, FragmentResult::Untracked);
        assert!(table.is_empty(), "its ranges were dropped");
    }
}
