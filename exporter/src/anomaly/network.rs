//! The network model of one device: its windows' counted features, plus how many peers and
//! destination ports in a window are new to it, scored by [`Clusters`].

use std::collections::BTreeMap;
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
    // A peer or port the device never used is the strongest sign there is of intrusion
    // (a contact outside, a beacon, a scan): one of either, for a device that never meets
    // new ones, is about 7 spreads.
    floor[RAW_FEATURES.len()..].fill(0.1);
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

/// The vector a training window is trained as: its novelty is what no other training window
/// has (see [`NetworkModel::train`]).
pub fn training_vector(
    window: &Window,
    peer_counts: &BTreeMap<IpAddr, u32>,
    port_counts: &BTreeMap<u32, u32>,
) -> [f64; FEATURES] {
    let once_peers = window.peers.iter().filter(|p| peer_counts.get(p) == Some(&1)).count();
    let once_ports = window.ports.iter().filter(|p| port_counts.get(p) == Some(&1)).count();
    vector(window, [once_peers as f64, once_ports as f64])
}

impl NetworkModel {
    /// Trains on one device's windows. Novelty in training is counted leave-one-out: a peer
    /// or port is new in a training window when no other training window has it. A device
    /// that keeps meeting new peers (a workstation) thus learns that this is normal for it,
    /// while one with a fixed set of peers learns that any new one is not.
    pub fn train(windows: &[Window], seed: u64) -> Result<Self, TrainError> {
        let (mut peer_counts, mut port_counts) = (BTreeMap::new(), BTreeMap::new());
        for window in windows {
            for p in &window.peers {
                *peer_counts.entry(*p).or_insert(0u32) += 1;
            }
            for p in &window.ports {
                *port_counts.entry(*p).or_insert(0u32) += 1;
            }
        }
        let rows: Vec<Vec<f64>> =
            windows.iter().map(|w| training_vector(w, &peer_counts, &port_counts).to_vec()).collect();
        let clusters = Clusters::train(&rows, &logged(), &min_std(), seed)?;
        let known_peers = peer_counts.into_keys().take(MAX_KNOWN).collect();
        let known_ports = port_counts.into_keys().take(MAX_KNOWN).collect();
        Ok(Self { clusters, known_peers, known_ports })
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
