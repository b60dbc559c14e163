//! Packets into flows: the flow table with its TCP connection state, and TCP byte-stream
//! reassembly.

pub mod reassembly;
mod seq;
pub mod table;
