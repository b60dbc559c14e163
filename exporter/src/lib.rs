//! The exporter sidecar: capture, decode, count, export. Everything between the capture handle
//! and the metrics registry is plain functions over bytes and plain data ([`pipeline`]); libpcap
//! handles stay in [`offline`] and [`capture`], sockets in [`server`].

pub mod capture;
pub mod decode;
pub mod flow;
pub mod hl7vitals;
pub mod metrics;
pub mod offline;
pub mod pipeline;
pub mod reassembly;
pub mod server;
pub mod session;
pub mod summary;

#[cfg(test)]
mod testing;
