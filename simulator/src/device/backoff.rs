//! Capped exponential backoff between reconnection attempts, with backon's delays (no jitter:
//! a twin's reconnections stay reproducible).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: <ExponentialBuilder as BackoffBuilder>::Backoff,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(initial.min(max))
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times();
        Self { builder, delays: builder.build() }
    }

    /// The wait before the next attempt; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().expect("the attempts are not limited")
    }

    /// After a success, start again from the initial delay.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(1000));
        // backon doubles in f32 seconds: to the microsecond is exact enough for reconnections.
        let mut delays = || (0..7).map(|_| backoff.next_delay().as_micros()).collect::<Vec<_>>();
        assert_eq!(delays(), [100_000, 200_000, 400_000, 800_000, 1_000_000, 1_000_000, 1_000_000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(100));
    }

    #[test]
    fn an_initial_delay_above_the_cap_is_capped() {
        let mut backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(5));
        assert_eq!(backoff.next_delay(), Duration::from_secs(5));
    }
}
