//! Paces a live scenario: one permit per `1 / rate` seconds, until the count or the time is
//! used up, whichever comes first. Every live loop runs on one of these, so none is unbounded.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    spacing: Duration,
    start: Instant,
    deadline: Instant,
    max: u64,
    issued: u64,
}

impl Pacer {
    pub fn new(rate_per_s: f64, duration: Duration, max: u64) -> Self {
        let start = Instant::now();
        Self { spacing: Duration::from_secs_f64(1.0 / rate_per_s), start, deadline: start + duration, max, issued: 0 }
    }

    /// Waits for the next slot; `false` once the count is reached or the next slot would fall
    /// after the deadline.
    pub async fn next(&mut self) -> bool {
        if self.issued >= self.max {
            return false;
        }
        let slot = self.start + self.spacing.mul_f64(self.issued as f64);
        if slot >= self.deadline {
            return false;
        }
        tokio::time::sleep_until(slot).await;
        self.issued += 1;
        true
    }

    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Whether the time is up (for loops that wait on something else between permits).
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_count_or_the_deadline() {
        let mut by_count = Pacer::new(100.0, Duration::from_secs(10), 5);
        let started = Instant::now();
        while by_count.next().await {}
        assert_eq!(by_count.issued(), 5);
        assert_eq!(started.elapsed(), Duration::from_millis(40));

        let mut by_time = Pacer::new(10.0, Duration::from_secs(2), 1_000);
        while by_time.next().await {}
        assert_eq!(by_time.issued(), 20, "ten a second for two seconds");
    }
}
