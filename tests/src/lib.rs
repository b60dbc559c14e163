//! wardwatch's test bed: real parts started on loopback for the end-to-end suites.
//!
//! - [`ControlPlane`]: etcd and kube-apiserver (built from their Go modules by
//!   `tests/testbed/build.sh`), with generated certificates, a `kube::Client` and a kubeconfig
//!   file for kubectl and helm;
//! - [`Prometheus`] and [`Alertmanager`] from Debian's packages, with a given configuration;
//! - [`PrometheusOperator`], the real renderer of PrometheusRule and AlertmanagerConfig objects.
//!
//! Every process lives in a [`ManagedProcess`], which kills it when the handle drops (also when a
//! test panics) and, through `PR_SET_PDEATHSIG`, when the test process dies. Ports are picked
//! free on 127.0.0.1 and state lives in a fresh temporary directory, so parallel tests do not
//! collide.

pub mod alert_receiver;
pub mod binaries;
pub mod control_plane;
pub mod http_probe;
pub mod latency;
pub mod netns;
pub mod node;
pub mod pki;
pub mod pod;
pub mod pod_targets;
pub mod process;
pub mod prometheus;
pub mod prometheus_operator;
pub mod smtp;
pub mod tshark;
pub mod wait;

pub use binaries::{Missing, find_binary, workspace_binary};
pub use control_plane::{AdminCredentials, ControlPlane, NodeSupport};
pub use process::{ManagedProcess, free_port};
pub use prometheus::{Alertmanager, Placement, Prometheus};
pub use prometheus_operator::PrometheusOperator;
pub use wait::eventually;
