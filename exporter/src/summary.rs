//! Totals over a stream of frames: what `--summary json` prints.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::{DecodeError, LinkType, Protocol, classify};

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub packets: u64,
    /// Bytes on the wire (the original length, not the captured length).
    pub bytes: u64,
    pub protocols: BTreeMap<Protocol, u64>,
    pub decode_errors: BTreeMap<DecodeError, u64>,
}

impl Summary {
    /// Counts one frame of `wire_len` bytes of which `frame` was captured.
    pub fn add(&mut self, link: LinkType, frame: &[u8], wire_len: u32) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        match classify(link, frame) {
            Ok(protocol) => *self.protocols.entry(protocol).or_default() += 1,
            Err(error) => *self.decode_errors.entry(error).or_default() += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::{tcp_frame, udp6_frame};

    #[test]
    fn counts_packets_bytes_protocols_and_errors() {
        let mut summary = Summary::default();
        let tcp = tcp_frame(b"MSH|");
        summary.add(LinkType::Ethernet, &tcp, tcp.len() as u32);
        summary.add(LinkType::Ethernet, &udp6_frame(b"x"), 1500);
        summary.add(LinkType::Ethernet, &tcp[..10], 60);
        assert_eq!(summary.packets, 3);
        assert_eq!(summary.bytes, tcp.len() as u64 + 1500 + 60);
        assert_eq!(summary.protocols, BTreeMap::from([(Protocol::Tcp, 1), (Protocol::Udp, 1)]));
        assert_eq!(summary.decode_errors, BTreeMap::from([(DecodeError::Truncated, 1)]));
    }
}
