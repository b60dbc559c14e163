//! Beaconing: the device connecting to one destination again and again at a near-fixed period.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use foldhash::HashMap;

use super::Tracked;
use crate::decode::packet::Protocol;

/// Intervals shorter than this are a burst (retries, parallel connections), not a period.
const MIN_PERIOD: Duration = Duration::from_secs(1);
/// A destination with no connection for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Where the device connects to.
pub type Destination = (IpAddr, u16, Protocol);

#[derive(Debug, Default)]
struct Connections {
    /// The most recent connection start times, at most the threshold many.
    starts: VecDeque<Duration>,
    /// The period, while the connections are periodic.
    period: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct Beaconing {
    destinations: HashMap<Destination, Connections>,
}

impl Beaconing {
    /// The device opened a flow to `destination` at `at`.
    pub fn on_connection(
        &mut self,
        destination: Destination,
        at: Duration,
        connections: usize,
        max_jitter: f64,
        cap: usize,
    ) -> Tracked<String> {
        if !self.destinations.contains_key(&destination) && self.destinations.len() >= cap {
            return Tracked::Untracked;
        }
        let tracked = self.destinations.entry(destination).or_default();
        tracked.starts.push_back(at);
        while tracked.starts.len() > connections {
            tracked.starts.pop_front();
        }
        tracked.period = None;
        if tracked.starts.len() < connections {
            return Tracked::Quiet;
        }
        let intervals: Vec<f64> = tracked
            .starts
            .iter()
            .zip(tracked.starts.iter().skip(1))
            .map(|(a, b)| b.saturating_sub(*a).as_secs_f64())
            .collect();
        let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
        let variance = intervals.iter().map(|i| (i - mean).powi(2)).sum::<f64>() / intervals.len() as f64;
        let jitter = variance.sqrt() / mean;
        if mean < MIN_PERIOD.as_secs_f64() || jitter >= max_jitter {
            return Tracked::Quiet;
        }
        tracked.period = Some(Duration::from_secs_f64(mean));
        let (host, port, protocol) = destination;
        Tracked::Holds(format!(
            "{} connections to {host}:{port}/{protocol:?} every {mean:.1}s (jitter {jitter:.3})",
            tracked.starts.len()
        ))
    }

    /// Whether some destination still beacons at `now`: its next connection is not overdue
    /// (twice its period). Forgets destinations long silent.
    pub fn still_beaconing(&mut self, now: Duration) -> bool {
        self.destinations.retain(|_, c| c.starts.back().is_some_and(|last| now.saturating_sub(*last) < FORGET_AFTER));
        let mut beaconing = false;
        for connections in self.destinations.values_mut() {
            if let (Some(period), Some(last)) = (connections.period, connections.starts.back()) {
                if now.saturating_sub(*last) <= period * 2 {
                    beaconing = true;
                } else {
                    connections.period = None;
                }
            }
        }
        beaconing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beaconing_holds_until_a_connection_is_two_periods_overdue() {
        let mut rule = Beaconing::default();
        let destination = (IpAddr::from([10, 1, 0, 5]), 443, Protocol::Tcp);
        let mut outcome = Tracked::Quiet;
        for i in 0..4u64 {
            outcome = rule.on_connection(destination, Duration::from_secs(100 + 30 * i), 4, 0.1, 16);
        }
        assert!(matches!(outcome, Tracked::Holds(_)), "{outcome:?}");
        assert!(rule.still_beaconing(Duration::from_secs(190 + 59)));
        assert!(!rule.still_beaconing(Duration::from_secs(190 + 61)));
        assert!(!rule.still_beaconing(Duration::from_secs(190 + 30)), "once overdue, it takes new connections");
    }

    #[test]
    fn a_burst_is_not_a_period() {
        let mut rule = Beaconing::default();
        let destination = (IpAddr::from([10, 1, 0, 5]), 443, Protocol::Tcp);
        for i in 0..10u64 {
            let outcome = rule.on_connection(destination, Duration::from_millis(100 * i), 4, 0.1, 16);
            assert_eq!(outcome, Tracked::Quiet);
        }
    }
}
