//! The exporter sidecar: capture, decode, count, export. The decoding and counting here are
//! plain functions over bytes; libpcap handles stay in [`offline`] (and, later, live capture).

pub mod decode;
pub mod offline;
pub mod summary;
