//! What the operator, the exporter and the simulator share as processes: one way to serve
//! `/metrics`, `/healthz` and `/readyz` ([`endpoints`] answers, [`http`] serves them), and one
//! way to learn that the process should stop ([`shutdown`]: SIGTERM, as Kubernetes sends, or
//! SIGINT); and one syntax for the durations of their flags ([`duration`]). No Kubernetes
//! client here, so the exporter and the simulator stay free of one.

pub mod duration;
pub mod endpoints;
pub mod http;
pub mod shutdown;

pub use endpoints::{Endpoints, Readiness, encode};
pub use http::serve;
pub use shutdown::{Signal, terminated};
