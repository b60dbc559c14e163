//! The exporter sidecar: capture, decode, count, export. Its folders are the stages a packet
//! goes through:
//!
//! - [`capture`]: libpcap, live ([`capture::live`]) or from a file ([`capture::offline`]), the
//!   edge that feeds the pipeline;
//! - [`decode`]: frames into packets ([`decode::packet`]), IP fragments ([`decode::fragments`]);
//! - [`flows`]: the flow table ([`flows::table`]) and TCP reassembly ([`flows::reassembly`]);
//! - [`hl7`]: MLLP over a reassembled connection ([`hl7::session`]), HL7 messages and the vital
//!   signs they carry ([`hl7::message`]);
//! - [`ids`]: the intrusion rules (detection);
//! - [`output`]: what leaves the exporter, as sinks of the pipeline's events: Prometheus metrics
//!   ([`output::metrics`], served by `wardwatch-serve`), alert lines and POSTs
//!   ([`output::alerts`]) and the offline summary ([`output::summary`]).
//!
//! The flags are in [`cli`]. [`pipeline`] strings decode, flows, HL7 and ids together: plain functions over bytes and
//! plain data, reporting what it learns as events to a sink. libpcap handles stay in
//! [`capture`], sockets in `main` and `wardwatch-serve`.

pub mod anomaly;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod evaluate;
pub mod evaluate_vitals;
pub mod flows;
pub mod hl7;
pub mod ids;
pub mod output;
pub mod pipeline;

#[cfg(test)]
mod testing;
