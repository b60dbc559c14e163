//! When a model learns, scores and relearns, as a pure state machine over windows in packet
//! time (the live sink drives one per model; tests drive it directly).
//!
//! - Learning: windows are kept until they span the training window, then the model trains.
//! - Scoring: each window is scored. Windows at or under the threshold are kept (the most
//!   recent, a training window's worth) for retraining. Every retrain interval the model is
//!   retrained on them, so a slow drift is followed and attacks are not learnt as normal.
//!   When most windows since the last training scored over the threshold, the device's normal
//!   has changed rather than been attacked for a moment (attacks last seconds to minutes), and
//!   the model retrains on the most recent windows regardless of score: the change is absorbed
//!   after at most one retrain interval (while it lasts, the alert stays raised).

use std::collections::VecDeque;

use super::model::{THRESHOLD, TrainError};

/// A model the learner can train and ask for scores.
pub trait Detector: Sized {
    type Sample: Clone;
    fn train(samples: &[Self::Sample], seed: u64) -> Result<Self, TrainError>;
    fn score(&self, sample: &Self::Sample) -> f64;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnConfig {
    /// Packet time spanned by the training windows.
    pub training_s: u64,
    pub retrain_s: u64,
    /// Length of one window (to know how many make a training window).
    pub window_s: u64,
    pub seed: u64,
}

impl LearnConfig {
    fn capacity(&self) -> usize {
        (self.training_s / self.window_s.max(1)).max(1) as usize
    }
}

/// What one window did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Kept for the first training.
    Learning,
    Scored {
        score: f64,
        trained: bool,
    },
    /// The model was (re)trained on this window's arrival (the window scored first, if a
    /// model was there).
    TrainFailed(String),
}

pub struct Learner<D: Detector> {
    pub config: LearnConfig,
    pub model: Option<D>,
    /// Trainings so far (including a reloaded model's).
    pub version: u64,
    pub last_training_s: u64,
    pub training_windows: u64,
    first_s: Option<u64>,
    next_retrain_s: u64,
    normal: VecDeque<D::Sample>,
    recent: VecDeque<D::Sample>,
    scored_since_training: u64,
    anomalous_since_training: u64,
}

impl<D: Detector> Learner<D> {
    pub fn new(config: LearnConfig) -> Self {
        Self {
            config,
            model: None,
            version: 0,
            last_training_s: 0,
            training_windows: 0,
            first_s: None,
            next_retrain_s: 0,
            normal: VecDeque::new(),
            recent: VecDeque::new(),
            scored_since_training: 0,
            anomalous_since_training: 0,
        }
    }

    /// Starts from a saved model (scoring at once; the first retraining one interval after
    /// the first window).
    pub fn resume(config: LearnConfig, model: D, version: u64, last_training_s: u64, training_windows: u64) -> Self {
        Self { model: Some(model), version, last_training_s, training_windows, ..Self::new(config) }
    }

    pub fn is_scoring(&self) -> bool {
        self.model.is_some()
    }

    fn push(queue: &mut VecDeque<D::Sample>, sample: D::Sample, capacity: usize) {
        if queue.len() == capacity {
            queue.pop_front();
        }
        queue.push_back(sample);
    }

    fn train(&mut self, from_recent: bool, start_s: u64) -> Result<(), TrainError> {
        let samples: Vec<D::Sample> = if from_recent { &self.recent } else { &self.normal }.iter().cloned().collect();
        let model = D::train(&samples, self.config.seed)?;
        self.model = Some(model);
        self.version += 1;
        self.last_training_s = start_s;
        self.training_windows = samples.len() as u64;
        self.next_retrain_s = start_s + self.config.retrain_s;
        self.scored_since_training = 0;
        self.anomalous_since_training = 0;
        // What trained the model is its first retraining set.
        self.normal = samples.into();
        Ok(())
    }

    /// Takes the window that starts at `start_s` (packet time, Unix seconds).
    pub fn observe(&mut self, sample: D::Sample, start_s: u64) -> Outcome {
        let capacity = self.config.capacity();
        let first = *self.first_s.get_or_insert(start_s);
        let Some(model) = &self.model else {
            Self::push(&mut self.normal, sample, capacity);
            if start_s + self.config.window_s >= first + self.config.training_s {
                return match self.train(false, start_s) {
                    Ok(()) => Outcome::Scored { score: 0.0, trained: true },
                    Err(err) => Outcome::TrainFailed(err.to_string()),
                };
            }
            return Outcome::Learning;
        };
        if self.next_retrain_s == 0 {
            self.next_retrain_s = start_s + self.config.retrain_s;
        }
        let score = model.score(&sample);
        self.scored_since_training += 1;
        Self::push(&mut self.recent, sample.clone(), capacity);
        if score > THRESHOLD {
            self.anomalous_since_training += 1;
        } else {
            Self::push(&mut self.normal, sample, capacity);
        }
        if start_s < self.next_retrain_s {
            return Outcome::Scored { score, trained: false };
        }
        let changed = self.anomalous_since_training * 2 > self.scored_since_training;
        match self.train(changed, start_s) {
            Ok(()) => Outcome::Scored { score, trained: true },
            Err(err) => {
                self.next_retrain_s = start_s + self.config.retrain_s;
                Outcome::TrainFailed(err.to_string())
            }
        }
    }
}

/// Windows at or under the threshold after which an anomaly has ended: a score that dips under
/// 1.0 for a window or two in the middle of an episode does not make it a new one.
pub const CLEAR_AFTER_WINDOWS: u32 = 3;

/// Whether an anomaly is going on, so that it alerts once when it starts, not at every window
/// it lasts or every time its score bobs around the threshold.
#[derive(Clone, Debug, Default)]
pub struct Raised {
    active: bool,
    quiet: u32,
}

impl Raised {
    /// Takes the next window's score: true when it starts an anomaly.
    pub fn starts(&mut self, score: f64) -> bool {
        if score > THRESHOLD {
            let starts = !self.active;
            self.active = true;
            self.quiet = 0;
            return starts;
        }
        self.quiet += 1;
        if self.quiet >= CLEAR_AFTER_WINDOWS {
            self.active = false;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::model::Clusters;

    /// One-dimensional samples around a level.
    struct Level(Clusters);

    impl Detector for Level {
        type Sample = f64;
        fn train(samples: &[f64], seed: u64) -> Result<Self, TrainError> {
            let rows: Vec<Vec<f64>> = samples.iter().map(|x| vec![*x]).collect();
            Clusters::train(&rows, &[false], &[0.5], seed).map(Level)
        }
        fn score(&self, x: &f64) -> f64 {
            self.0.score(&[*x])
        }
    }

    fn noise(i: u64) -> f64 {
        ((i * 7919) % 13) as f64 / 13.0 - 0.5
    }

    #[test]
    fn an_anomaly_starts_once_and_ends_after_quiet_windows() {
        let mut raised = Raised::default();
        let starts: Vec<bool> = [2.0, 0.5, 2.0, 0.5, 0.5, 0.5, 2.0].iter().map(|s| raised.starts(*s)).collect();
        assert_eq!(starts, [true, false, false, false, false, false, true]);
    }

    #[test]
    fn learns_then_scores_and_absorbs_a_lasting_change_by_retraining() {
        let config = LearnConfig { training_s: 600, retrain_s: 1200, window_s: 10, seed: 1 };
        let mut learner = Learner::<Level>::new(config);
        let mut t = 1_000_000;
        let mut scores = Vec::new();
        for i in 0..60 {
            let outcome = learner.observe(10.0 + noise(i), t);
            assert_eq!(outcome == Outcome::Learning, i < 59, "window {i}: {outcome:?}");
            t += 10;
        }
        assert!(learner.is_scoring());
        assert_eq!(learner.version, 1);
        // The device's normal moves from 10 to 30 for good: anomalous at first...
        for i in 0..240 {
            if let Outcome::Scored { score, .. } = learner.observe(30.0 + noise(i), t) {
                scores.push(score);
            }
            t += 10;
        }
        assert!(scores[0] > THRESHOLD, "the change is anomalous at first");
        // ...then learnt: the last interval's windows are normal again.
        assert!(learner.version >= 2);
        assert!(scores[scores.len() - 60..].iter().all(|s| *s <= THRESHOLD), "{scores:?}");
        // A brief spike is not learnt: after the next retraining, it still scores high.
        assert!(learner.model.as_ref().unwrap().score(&80.0) > THRESHOLD);
    }
}
