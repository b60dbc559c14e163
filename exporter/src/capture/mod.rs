//! The libpcap edge: packets in from a live interface or a capture file, fed to the pipeline.

pub mod batches;
pub mod live;
pub mod mapped;
pub mod offline;
pub mod pcap_records;
