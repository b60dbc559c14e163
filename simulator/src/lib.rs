//! Device twins and the ward gateway. The message builders, the physiology and the scenarios
//! are pure; sockets, timers and files live at the edges (`device`, `gateway::server`; the metrics
//! endpoint is `wardwatch-serve`'s).

pub mod ack;
pub mod capture;
pub mod cli;
pub mod device;
pub mod device_type;
pub mod ecg;
pub mod gateway;
pub mod hl7_profile;
pub mod live;
pub mod network_scenario;
pub mod oru;
pub mod patient;
pub mod physiology;
pub mod scenario;
pub mod traffic;
