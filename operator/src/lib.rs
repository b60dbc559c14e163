//! The wardwatch operator: pure builders (custom resource in, desired objects out) and, around
//! them, the controllers that apply what they build.

pub mod apply;
pub mod cache;
pub mod controller;
pub mod dashboards;
pub mod desired;
pub mod error;
pub mod federation;
pub mod holds;
pub mod leader;
pub mod literal;
pub mod metrics;
pub mod monitoring;
pub mod monitors;
pub mod names;
pub mod policies;
pub mod quarantine;
pub mod render;
pub mod routing;
pub mod rules;
pub mod run;
pub mod status;
pub mod workloads;

#[cfg(test)]
mod builder_tests;
#[cfg(test)]
mod fixtures;
