//! What the operator, the exporter and the simulator share as processes: one way to serve
//! `/metrics`, `/healthz` and `/readyz` ([`endpoints`] answers, [`http`] serves them), and one
//! way to learn that the process should stop ([`shutdown`]: SIGTERM, as Kubernetes sends, or
//! SIGINT). No Kubernetes client here, so the exporter and the simulator stay free of one.

pub mod endpoints;
pub mod http;
pub mod shutdown;

pub use endpoints::{Endpoints, Readiness, encode};
pub use http::serve;
pub use shutdown::{Signal, terminated};
