//! Standardisation learnt in training: each feature is taken as `ln(1 + x)` (counts and volumes
//! are heavy-tailed; a doubling weighs the same at 10 packets as at 10,000) and then centred
//! and divided by its training spread. A feature that did not vary in training gets a floor
//! spread instead of zero, so that any change in it counts a lot but stays finite.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Whether each feature is log-transformed before scaling.
    pub log: Vec<bool>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Learns means and spreads from `rows` (all of one length); `min_std[i]` is feature i's
    /// floor spread (in transformed units).
    pub fn fit(rows: &[Vec<f64>], log: &[bool], min_std: &[f64]) -> Self {
        let dims = log.len();
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; dims];
        let mut sq = vec![0.0; dims];
        for row in rows {
            for i in 0..dims {
                let x = transform(row[i], log[i]);
                mean[i] += x;
                sq[i] += x * x;
            }
        }
        for i in 0..dims {
            mean[i] /= n;
            sq[i] = (sq[i] / n - mean[i] * mean[i]).max(0.0).sqrt().max(min_std[i]);
        }
        Self { log: log.to_vec(), mean, std: sq }
    }

    /// `row` standardised into `out` (same length).
    pub fn apply(&self, row: &[f64], out: &mut [f64]) {
        for i in 0..out.len() {
            out[i] = (transform(row[i], self.log[i]) - self.mean[i]) / self.std[i];
        }
    }

    pub fn dims(&self) -> usize {
        self.mean.len()
    }
}

fn transform(x: f64, log: bool) -> f64 {
    if log { x.max(0.0).ln_1p() } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_with_a_floor() {
        let rows = vec![vec![0.0, 5.0], vec![2.0, 5.0]];
        let scaler = Scaler::fit(&rows, &[false, false], &[0.1, 0.5]);
        assert_eq!(scaler.mean, [1.0, 5.0]);
        assert_eq!(scaler.std, [1.0, 0.5]);
        let mut out = [0.0; 2];
        scaler.apply(&[3.0, 6.0], &mut out);
        assert_eq!(out, [2.0, 2.0]);
    }
}
