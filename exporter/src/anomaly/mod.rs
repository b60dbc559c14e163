//! Learned anomaly detection (issue 13): each device's traffic windows ([`features`]) and each
//! patient's vital signs ([`vitals`]) are scored against k-means clusters learnt from their own
//! baseline ([`model`], [`network`]); a score above [`model::THRESHOLD`] (1.0) is anomalous for
//! every device and patient. [`persist`] saves and reloads models; [`live`] is the sidecar's
//! sink that trains, scores, retrains and exports.

pub mod features;
pub mod learner;
pub mod live;
pub mod model;
pub mod network;
pub mod persist;
pub mod scaler;
pub mod vitals;

#[cfg(test)]
mod tests;
