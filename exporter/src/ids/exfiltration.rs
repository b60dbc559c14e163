//! Exfiltration: the device's egress bytes in a window far above its learnt baseline.

/// Windows over which the baseline is learnt; it is frozen afterwards, so that a slow increase
/// cannot teach the rule to accept it.
pub const LEARNING_WINDOWS: u32 = 6;
/// Weight of the newest window in the exponentially weighted baseline.
const BASELINE_WEIGHT: f64 = 0.3;

#[derive(Debug, Default)]
pub struct Exfiltration {
    window_bytes: u64,
    /// Egress bytes per window, once at least one window was learnt.
    baseline: Option<f64>,
    windows_learnt: u32,
}

impl Exfiltration {
    pub fn learning(&self) -> bool {
        self.windows_learnt < LEARNING_WINDOWS
    }

    /// Egress bytes of the device; describes the exfiltration while the window is above threshold.
    pub fn on_egress(&mut self, bytes: u64, factor: f64, min_bytes: u64) -> Option<String> {
        self.window_bytes += bytes;
        let baseline = self.baseline.filter(|_| !self.learning())?;
        let threshold = (baseline * factor).max(min_bytes as f64);
        (self.window_bytes as f64 > threshold)
            .then(|| format!("{} egress bytes in one window against a baseline of {baseline:.0}", self.window_bytes))
    }

    pub fn close_window(&mut self) {
        if self.learning() {
            let bytes = self.window_bytes as f64;
            self.baseline =
                Some(self.baseline.map_or(bytes, |old| BASELINE_WEIGHT * bytes + (1.0 - BASELINE_WEIGHT) * old));
            self.windows_learnt += 1;
        }
        self.window_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_fires_while_learning_then_the_baseline_times_the_factor_is_the_threshold() {
        let mut rule = Exfiltration::default();
        for _ in 0..LEARNING_WINDOWS {
            assert!(rule.on_egress(100_000, 10.0, 1000).is_none(), "learning");
            rule.close_window();
        }
        assert!(!rule.learning());
        // Baseline 100 kB a window: 1 MB is not above 10x, a byte more is.
        assert!(rule.on_egress(1_000_000, 10.0, 1000).is_none());
        assert!(rule.on_egress(1, 10.0, 1000).is_some());
        rule.close_window();
        assert!(rule.on_egress(500_000, 10.0, 1000).is_none(), "a new window starts from zero");
        rule.close_window();
        // The baseline stayed frozen: the large windows did not raise it.
        assert!(rule.on_egress(1_000_001, 10.0, 1000).is_some());
    }
}
