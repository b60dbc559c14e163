//! The device's top talkers: the peers it exchanged the most bytes with (both directions) in
//! the last complete minute of packet time that had traffic. At most [`RANKS`] are published,
//! from a table of at most [`MAX_PEERS`] peers per minute: bytes of further peers are not
//! remembered, so neither memory nor the exported series grow with the traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Peers published per minute (series `wardwatch_top_talker_bytes{rank="1".."5"}`).
pub const RANKS: usize = 5;
/// Peers counted per minute; a scan or flood touching more is ranked among the first ones seen.
pub const MAX_PEERS: usize = 4096;
/// The period ranked, aligned to whole minutes of packet time.
pub const PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct TopTalkers {
    bytes: HashMap<IpAddr, u64>,
    /// When the period being counted ends.
    period_end: Option<Duration>,
}

impl TopTalkers {
    /// Counts `bytes` exchanged with `peer` at packet time `at`. When `at` is past the period
    /// being counted, that period's ranking comes back (largest first, ties by address) and a
    /// new period starts with this packet.
    pub fn add(&mut self, at: Duration, peer: IpAddr, bytes: u32) -> Option<Vec<(IpAddr, u64)>> {
        let ranking = match self.period_end {
            Some(end) if at < end => None,
            _ => {
                let closed = self.period_end.is_some().then(|| self.ranking());
                self.bytes.clear();
                let start = at.as_secs() - at.as_secs() % PERIOD.as_secs();
                self.period_end = Some(Duration::from_secs(start) + PERIOD);
                closed
            }
        };
        let len = self.bytes.len();
        match self.bytes.get_mut(&peer) {
            Some(total) => *total += u64::from(bytes),
            None if len < MAX_PEERS => {
                self.bytes.insert(peer, u64::from(bytes));
            }
            None => {}
        }
        ranking
    }

    /// The current period's [`RANKS`] largest peers.
    fn ranking(&self) -> Vec<(IpAddr, u64)> {
        let mut peers: Vec<(IpAddr, u64)> = self.bytes.iter().map(|(peer, bytes)| (*peer, *bytes)).collect();
        peers.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        peers.truncate(RANKS);
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 1, 0, last])
    }

    #[test]
    fn a_closed_minute_is_ranked_by_bytes_and_bounded() {
        let mut top = TopTalkers::default();
        let minute = 1_790_000_040; // a whole minute
        for peer in 1..=8u8 {
            assert_eq!(top.add(Duration::from_secs(minute + 5), ip(peer), u32::from(peer) * 100), None);
        }
        assert_eq!(top.add(Duration::from_secs(minute + 59), ip(2), 1_000), None, "still the same minute");
        let ranking = top.add(Duration::from_secs(minute + 60), ip(1), 1).expect("the minute closed");
        assert_eq!(ranking, [(ip(2), 1_200), (ip(8), 800), (ip(7), 700), (ip(6), 600), (ip(5), 500)]);
        // The next minute starts with the packet that closed the last one.
        assert_eq!(top.add(Duration::from_secs(minute + 200), ip(9), 1), Some(vec![(ip(1), 1)]));
    }

    #[test]
    fn peers_beyond_the_table_are_not_remembered() {
        let mut top = TopTalkers::default();
        for n in 0..(MAX_PEERS as u32 + 100) {
            top.add(Duration::from_secs(60), IpAddr::from(n.to_be_bytes()), 10);
        }
        assert_eq!(top.bytes.len(), MAX_PEERS);
        let ranking = top.add(Duration::from_secs(120), ip(1), 1).unwrap();
        assert_eq!(ranking.len(), RANKS);
    }
}
