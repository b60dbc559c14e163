//! Vital-sign patterns: each patient's vital signs, averaged over a window, as one vector
//! scored by [`Clusters`] learnt from that patient's own baseline. Distance is taken across
//! all signs at once, so moderate moves together (heart and breathing rate up while blood
//! pressure falls, as in sepsis) score high while no single sign crosses its threshold.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::learner::Detector;
use super::model::{Clusters, TrainError};
use crate::hl7::message::Hl7Message;

/// The signs in a vitals vector, by key.
pub const VITALS: [&str; 6] = ["heart_rate", "respiratory_rate", "systolic_bp", "diastolic_bp", "spo2", "temperature"];

/// The smallest spread of each sign that counts as one standard deviation, about half a NEWS2
/// band: a 10-minute baseline sees less variation than a stable patient shows over hours
/// (blood pressure wanders by 5-8 mmHg), and without a floor that drift would score high.
/// (beats/min, breaths/min, mmHg, mmHg, %, °C)
pub const MIN_STD: [f64; 6] = [10.0, 3.0, 10.0, 8.0, 2.0, 0.5];

/// One patient's signs averaged over one window.
#[derive(Clone, Debug, PartialEq)]
pub struct VitalsSample {
    pub start_s: u64,
    pub values: [f64; 6],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitalsModel {
    pub clusters: Clusters,
}

impl Detector for VitalsModel {
    type Sample = VitalsSample;

    fn train(samples: &[VitalsSample], seed: u64) -> Result<Self, TrainError> {
        let rows: Vec<Vec<f64>> = samples.iter().map(|s| s.values.to_vec()).collect();
        Clusters::train(&rows, &[false; 6], &MIN_STD, seed).map(|clusters| Self { clusters })
    }

    fn score(&self, sample: &VitalsSample) -> f64 {
        self.clusters.score(&sample.values)
    }
}

impl VitalsModel {
    pub fn is_consistent(&self) -> bool {
        self.clusters.is_consistent(VITALS.len()) && self.clusters.scaler.log == [false; 6]
    }
}

#[derive(Clone, Debug, Default)]
struct Sums {
    sum: [f64; 6],
    count: [u32; 6],
}

/// Averages each patient's observations per window; a sign not observed in a window keeps its
/// last value (monitors report some signs less often than others).
#[derive(Debug)]
pub struct VitalsWindows {
    window_s: u64,
    current: Option<u64>,
    sums: BTreeMap<String, Sums>,
    last: BTreeMap<String, [f64; 6]>,
    closed: Vec<(String, VitalsSample)>,
}

impl VitalsWindows {
    pub fn new(window: Duration) -> Self {
        Self {
            window_s: window.as_secs().max(1),
            current: None,
            sums: BTreeMap::new(),
            last: BTreeMap::new(),
            closed: Vec::new(),
        }
    }

    pub fn advance(&mut self, at: Duration) {
        let index = at.as_secs() / self.window_s;
        match self.current {
            Some(current) if index > current => {
                self.close();
                self.current = Some(index);
            }
            None => self.current = Some(index),
            _ => {}
        }
    }

    fn close(&mut self) {
        let Some(current) = self.current else { return };
        for (patient, sums) in std::mem::take(&mut self.sums) {
            let last = self.last.entry(patient.clone()).or_insert([f64::NAN; 6]);
            for (value, (sum, count)) in last.iter_mut().zip(sums.sum.iter().zip(sums.count)) {
                if count > 0 {
                    *value = sum / f64::from(count);
                }
            }
            // A sign never reported counts as 0: constant, so it does not move the score.
            let values = last.map(|v| if v.is_nan() { 0.0 } else { v });
            self.closed.push((patient, VitalsSample { start_s: current * self.window_s, values }));
        }
    }

    pub fn finish(&mut self) {
        self.close();
        self.current = None;
    }

    pub fn record(&mut self, message: &Hl7Message<'_>, at: Duration) {
        if message.observations.is_empty() {
            return;
        }
        self.advance(at);
        let sums = self.sums.entry(message.patient.to_string()).or_default();
        for observation in &message.observations {
            if let Some(i) = VITALS.iter().position(|k| *k == observation.vital.key) {
                sums.sum[i] += observation.value;
                sums.count[i] += 1;
            }
        }
    }

    /// Forgets a patient (evicted by the patient limit).
    pub fn forget(&mut self, patient: &str) {
        self.sums.remove(patient);
        self.last.remove(patient);
    }

    pub fn take_closed(&mut self) -> Vec<(String, VitalsSample)> {
        std::mem::take(&mut self.closed)
    }
}
