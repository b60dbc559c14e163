//! The ward gateway, the central station: receives ORU^R01 over MLLP from many devices,
//! validates each message and acknowledges it, and counts what it saw.

pub mod metrics;
pub mod server;
pub mod verdict;

pub use metrics::GatewayMetrics;
pub use server::{Gateway, GatewayConfig};
