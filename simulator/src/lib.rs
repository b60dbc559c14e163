//! Device twins and the ward gateway. The message builders here are pure; sockets and timers
//! live at the edges.

pub mod ack;
pub mod oru;
