//! The exporter sidecar: capture, decode, count, export. Everything between the capture handle
//! and the metrics registry is plain functions over bytes and plain data ([`pipeline`]); libpcap
//! handles stay in [`offline`] and [`capture`], sockets in [`server`]. The intrusion rules
//! ([`ids`]) are pure too; their alerts leave through [`alert_output`] (stdout, optional POST).

pub mod alert_output;
pub mod batches;
pub mod capture;
pub mod decode;
pub mod flow;
pub mod fragments;
pub mod hl7vitals;
pub mod ids;
pub mod metrics;
pub mod offline;
pub mod pipeline;
pub mod reassembly;
mod seq;
pub mod server;
pub mod session;
pub mod summary;

#[cfg(test)]
mod testing;
