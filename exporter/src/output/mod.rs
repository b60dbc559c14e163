//! What leaves the exporter, each a sink of the pipeline's events: Prometheus metrics, alert
//! lines (stdout and POSTs), and the offline summary.

pub mod alerts;
pub mod metrics;
pub mod summary;
pub mod top_talkers;
