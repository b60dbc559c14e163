//! The libpcap edge: packets in from a live interface or a capture file, fed to the pipeline.

pub mod live;
pub mod mapped;
pub mod offline;
pub mod pcap_records;
pub mod staged;

/// A packet as a capture gives it: capture time, length on the wire, captured bytes.
pub type RawPacket<'a> = (std::time::Duration, u32, &'a [u8]);
