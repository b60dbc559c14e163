//! The wardwatch operator: pure builders (custom resource in, desired objects out) and, around
//! them, the controllers that apply what they build.

pub mod monitoring;
pub mod rules;
