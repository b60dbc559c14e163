//! HL7 v2 over MLLP: a reassembled TCP connection deframed into messages, and what each message
//! says (its kind, its ACK, the vital signs it carries).

pub mod acks;
pub mod message;
pub mod reader;
pub mod session;
