//! The network model of one device: its windows' counted features, plus how many peers and
//! destination ports in a window are new to it, scored by [`Clusters`].

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::features::{FEATURES, RAW_FEATURES, Window};
use super::model::{Clusters, TrainError};

/// Most peers and ports a model remembers as known.
const MAX_KNOWN: usize = 4096;

/// Floor spreads (in `ln(1 + x)` units for counts, plain units for shares and ratios): a
/// feature that never varied in training moves the score by one floor per this much change.
fn min_std() -> [f64; FEATURES] {
    let mut floor = [0.25; FEATURES];
    // Shares and ratios (not logged): a swing of 0.05 is one spread.
    for i in [11, 13, 14, 15, 16] {
        floor[i] = 0.05;
    }
    floor
}

fn logged() -> [bool; FEATURES] {
    let mut log = [true; FEATURES];
    for i in [11, 13, 14, 15, 16] {
        log[i] = false;
    }
    log
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkModel {
    pub clusters: Clusters,
    /// Peers and `protocol << 16 | port` destination ports seen in training, sorted.
    pub known_peers: Vec<IpAddr>,
    pub known_ports: Vec<u32>,
}

/// The novelty features of `window` against sorted known sets.
fn novelty(window: &Window, peers: &[IpAddr], ports: &[u32]) -> [f64; 2] {
    let new_peers = window.peers.iter().filter(|p| peers.binary_search(p).is_err()).count();
    let new_ports = window.ports.iter().filter(|p| ports.binary_search(p).is_err()).count();
    [new_peers as f64, new_ports as f64]
}

fn vector(window: &Window, novelty: [f64; 2]) -> [f64; FEATURES] {
    let mut v = [0.0; FEATURES];
    v[..RAW_FEATURES.len()].copy_from_slice(&window.raw);
    v[RAW_FEATURES.len()..].copy_from_slice(&novelty);
    v
}

fn insert_sorted<T: Ord + Copy>(set: &mut Vec<T>, items: &[T]) {
    for item in items {
        if set.len() >= MAX_KNOWN {
            return;
        }
        if let Err(i) = set.binary_search(item) {
            set.insert(i, *item);
        }
    }
}

impl NetworkModel {
    /// Trains on one device's windows in time order. Novelty in training is counted as it
    /// would have been live: against the peers and ports of the windows before (the first
    /// window, for which everything is new, counts none), so a device that keeps meeting new
    /// peers learns that this is normal for it.
    pub fn train(windows: &[Window], seed: u64) -> Result<Self, TrainError> {
        let (mut peers, mut ports) = (Vec::new(), Vec::new());
        let mut rows = Vec::with_capacity(windows.len());
        for (i, window) in windows.iter().enumerate() {
            let new = if i == 0 { [0.0; 2] } else { novelty(window, &peers, &ports) };
            rows.push(vector(window, new).to_vec());
            insert_sorted(&mut peers, &window.peers);
            insert_sorted(&mut ports, &window.ports);
        }
        let clusters = Clusters::train(&rows, &logged(), &min_std(), seed)?;
        Ok(Self { clusters, known_peers: peers, known_ports: ports })
    }

    /// The full feature vector of a window (counted and novelty features), as scored.
    pub fn features(&self, window: &Window) -> [f64; FEATURES] {
        vector(window, novelty(window, &self.known_peers, &self.known_ports))
    }

    pub fn score(&self, window: &Window) -> f64 {
        self.clusters.score(&self.features(window))
    }

    pub fn is_consistent(&self) -> bool {
        self.clusters.is_consistent(FEATURES)
            && self.known_peers.is_sorted()
            && self.known_ports.is_sorted()
            && self.clusters.scaler.log == logged()
    }
}
