//! wardwatch's clinical vocabulary, one source of truth for the simulator (which writes HL7),
//! the exporter (which reads it off the wire) and the operator (which writes alert rules over the
//! exporter's metrics). No Kubernetes, no I/O.

pub mod hl7;
pub mod mllp;
pub mod obx;
pub mod terminology;
pub mod units;
pub mod vitals;

pub use vitals::{VITAL_SIGNS, VitalSign};
