//! Frames into packets: the outermost transport of each frame, and which IP fragment completes
//! its datagram.

pub mod fragments;
pub mod packet;
