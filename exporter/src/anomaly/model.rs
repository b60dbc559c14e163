//! The clustering model both detectors use: standardised feature vectors, k-means centres
//! learnt with `linfa-clustering`, and a score that is the distance to the nearest centre
//! divided by a scale learnt from the training data itself.
//!
//! The scale makes one threshold mean the same for every device and patient: a score of
//! [`THRESHOLD`] (1.0) is [`SCALE_MARGIN`] times the [`SCALE_QUANTILE`] quantile of the
//! training vectors' own distances. A busy workstation and a quiet pump get different scales,
//! but for both a score above 1 is "further from its normal than almost all of its normal".

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::scaler::Scaler;

/// Scores above this are anomalous, for every model.
pub const THRESHOLD: f64 = 1.0;
/// The quantile of training distances that the scale starts from.
pub const SCALE_QUANTILE: f64 = 0.99;
/// How far beyond that quantile the threshold lies: k-means fits its own training vectors
/// closely, and fresh normal traffic lies further out.
pub const SCALE_MARGIN: f64 = 2.0;
/// The smallest scale, in training spreads: whatever the training distances, a vector within
/// two spreads of a centre (summed over all features) is normal. Devices whose traffic barely
/// varies (a pump, a monitor) fit their centres so closely that the quantile alone would call
/// any fresh jitter anomalous.
pub const MIN_SCALE: f64 = 2.0;
/// Most clusters; fewer for small training sets (one per [`VECTORS_PER_CLUSTER`]).
pub const MAX_CLUSTERS: usize = 6;
const VECTORS_PER_CLUSTER: usize = 10;

/// A trained clustering model over vectors of one length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clusters {
    pub scaler: Scaler,
    /// Centres in standardised units, one row each.
    pub centres: Vec<Vec<f64>>,
    /// The distance that scores 1.0.
    pub scale: f64,
    /// Vectors trained on.
    pub trained_on: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no vectors to train on")]
    Empty,
    #[error("k-means failed: {0}")]
    KMeans(String),
}

impl Clusters {
    /// Trains on `rows` with k-means (seeded: the same rows and seed give the same model).
    pub fn train(rows: &[Vec<f64>], log: &[bool], min_std: &[f64], seed: u64) -> Result<Self, TrainError> {
        if rows.is_empty() {
            return Err(TrainError::Empty);
        }
        let scaler = Scaler::fit(rows, log, min_std);
        let dims = scaler.dims();
        let mut data = Array2::<f64>::zeros((rows.len(), dims));
        for (i, row) in rows.iter().enumerate() {
            scaler.apply(row, data.row_mut(i).as_slice_mut().expect("a fresh array is contiguous"));
        }
        let k = (rows.len() / VECTORS_PER_CLUSTER).clamp(1, MAX_CLUSTERS);
        let dataset = DatasetBase::from(data.clone());
        let fitted = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
            .n_runs(4)
            .max_n_iterations(200)
            .tolerance(1e-6)
            .fit(&dataset)
            .map_err(|e| TrainError::KMeans(e.to_string()))?;
        let centres: Vec<Vec<f64>> = fitted.centroids().rows().into_iter().map(|r| r.to_vec()).collect();
        let mut model = Self { scaler, centres, scale: 1.0, trained_on: rows.len() };
        let mut distances: Vec<f64> = data.rows().into_iter().map(|r| model.distance(r.as_slice().unwrap())).collect();
        model.scale = (quantile(&mut distances, SCALE_QUANTILE) * SCALE_MARGIN).max(MIN_SCALE);
        Ok(model)
    }

    /// Distance from a standardised vector to the nearest centre.
    fn distance(&self, scaled: &[f64]) -> f64 {
        let mut best = f64::INFINITY;
        for centre in &self.centres {
            let d: f64 = centre.iter().zip(scaled).map(|(c, x)| (c - x) * (c - x)).sum();
            best = best.min(d);
        }
        best.sqrt()
    }

    /// The score of a raw vector: 0 at a centre, [`THRESHOLD`] at the learnt scale.
    pub fn score(&self, raw: &[f64]) -> f64 {
        let mut scaled = [0.0f64; 64];
        let dims = self.scaler.dims();
        if dims <= scaled.len() {
            self.scaler.apply(raw, &mut scaled[..dims]);
            self.distance(&scaled[..dims]) / self.scale
        } else {
            let mut scaled = vec![0.0; dims];
            self.scaler.apply(raw, &mut scaled);
            self.distance(&scaled) / self.scale
        }
    }

    /// Whether this model can score vectors of `dims` features (a saved model may not).
    pub fn is_consistent(&self, dims: usize) -> bool {
        let d = self.scaler.dims();
        d == dims
            && self.scaler.log.len() == d
            && self.scaler.std.len() == d
            && self.scaler.std.iter().all(|s| s.is_finite() && *s > 0.0)
            && self.scaler.mean.iter().all(|m| m.is_finite())
            && !self.centres.is_empty()
            && self.centres.iter().all(|c| c.len() == d && c.iter().all(|x| x.is_finite()))
            && self.scale.is_finite()
            && self.scale > 0.0
    }
}

/// The `q` quantile of `values` (nearest rank; 0 when empty). Reorders `values`.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(seed: u64, n: usize) -> Vec<Vec<f64>> {
        // Two clouds, deterministic.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|i| if i % 2 == 0 { vec![10.0 + next(), 1.0 + next()] } else { vec![50.0 + next(), 3.0 + next()] })
            .collect()
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let data = rows(1, 200);
        let a = Clusters::train(&data, &[false, false], &[0.1, 0.1], 7).unwrap();
        let b = Clusters::train(&data, &[false, false], &[0.1, 0.1], 7).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn normal_scores_low_and_far_scores_high() {
        let data = rows(1, 200);
        let model = Clusters::train(&data, &[false, false], &[0.1, 0.1], 7).unwrap();
        let normal = rows(2, 200);
        let over = normal.iter().filter(|r| model.score(r) > THRESHOLD).count();
        assert_eq!(over, 0, "no normal vector over the threshold");
        assert!(model.score(&[30.0, 8.0]) > THRESHOLD, "far from both clouds is anomalous");
        assert!(model.is_consistent(2) && !model.is_consistent(3));
    }
}
