//! Classifies one captured frame by its outermost transport, with etherparse doing the parsing.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use serde::Serialize;

/// The link type of a capture, as libpcap reports it (DLT/LINKTYPE numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (`any` interface).
    LinuxSll,
    /// Raw IPv4/IPv6 without a link header.
    RawIp,
    Other(i32),
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            12 | 101 => Self::RawIp,
            other => Self::Other(other),
        }
    }
}

/// What a frame turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Arp,
    /// IPv4/IPv6 with another transport (or a fragment without one).
    OtherIp,
    /// A link-layer frame that carries no IP or ARP.
    OtherLink,
}

/// Why a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeError {
    /// Shorter than its headers claim (snaplen cut, or a broken packet).
    Truncated,
    /// A header field holds a value that cannot be (bad version, bad header length, ...).
    Malformed,
    /// The capture's link type is not one wardwatch decodes.
    UnsupportedLinkType,
}

/// Classifies one frame captured with link type `link`.
pub fn classify(link: LinkType, frame: &[u8]) -> Result<Protocol, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(frame),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(frame),
        LinkType::RawIp => SlicedPacket::from_ip(frame),
        LinkType::Other(_) => return Err(DecodeError::UnsupportedLinkType),
    }
    .map_err(|err| match err {
        etherparse::err::packet::SliceError::Len(_) => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    })?;
    Ok(match (&sliced.transport, &sliced.net) {
        (Some(TransportSlice::Tcp(_)), _) => Protocol::Tcp,
        (Some(TransportSlice::Udp(_)), _) => Protocol::Udp,
        (Some(TransportSlice::Icmpv4(_)), _) => Protocol::Icmp,
        (Some(TransportSlice::Icmpv6(_)), _) => Protocol::Icmpv6,
        (None, Some(NetSlice::Arp(_))) => Protocol::Arp,
        (None, Some(NetSlice::Ipv4(_) | NetSlice::Ipv6(_))) => Protocol::OtherIp,
        _ => Protocol::OtherLink,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    pub(crate) fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64)
            .tcp(40000, 2575, 1, 65535);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    pub(crate) fn udp6_frame(payload: &[u8]) -> Vec<u8> {
        let builder =
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6([0; 16], [0; 16], 64).udp(5353, 5353);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn classifies_transports() {
        assert_eq!(classify(LinkType::Ethernet, &tcp_frame(b"MSH|")), Ok(Protocol::Tcp));
        assert_eq!(classify(LinkType::Ethernet, &udp6_frame(b"q")), Ok(Protocol::Udp));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors_not_panics() {
        let frame = tcp_frame(b"hello");
        assert_eq!(classify(LinkType::Ethernet, &frame[..20]), Err(DecodeError::Truncated));
        let mut bad_version = frame.clone();
        bad_version[14] = 0x75; // IP version 7
        assert_eq!(classify(LinkType::Ethernet, &bad_version), Err(DecodeError::Malformed));
        assert_eq!(classify(LinkType::Other(147), &frame), Err(DecodeError::UnsupportedLinkType));
        for cut in 0..frame.len() {
            let _ = classify(LinkType::Ethernet, &frame[..cut]);
        }
    }
}
