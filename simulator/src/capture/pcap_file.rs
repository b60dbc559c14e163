//! The classic pcap file format (microsecond timestamps, Ethernet link type), written to any
//! `Write`: a 24-byte global header, then a 16-byte record header before each frame.

use std::io::{self, Write};

const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
pub const SNAPLEN: u32 = 65_535;

pub struct PcapWriter<W: Write> {
    out: W,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend(MAGIC_MICROSECONDS.to_le_bytes());
        header.extend(2u16.to_le_bytes()); // version 2.4
        header.extend(4u16.to_le_bytes());
        header.extend(0i32.to_le_bytes()); // timestamps are UTC
        header.extend(0u32.to_le_bytes()); // accuracy, always 0
        header.extend(SNAPLEN.to_le_bytes());
        header.extend(LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out, packets: 0 })
    }

    /// Writes one frame captured at `timestamp_us` microseconds since the Unix epoch.
    pub fn write_packet(&mut self, timestamp_us: u64, frame: &[u8]) -> io::Result<()> {
        let length = u32::try_from(frame.len()).map_err(|_| io::Error::other("frame too large for pcap"))?;
        let captured = length.min(SNAPLEN);
        let seconds = u32::try_from(timestamp_us / 1_000_000).map_err(|_| io::Error::other("timestamp past 2106"))?;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&seconds.to_le_bytes());
        record[4..8].copy_from_slice(&((timestamp_us % 1_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&captured.to_le_bytes());
        record[12..16].copy_from_slice(&length.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..captured as usize])?;
        self.packets += 1;
        Ok(())
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_have_the_documented_layout() {
        let mut writer = PcapWriter::new(Vec::new()).unwrap();
        writer.write_packet(1_795_305_600_123_456, &[0xaa; 60]).unwrap();
        assert_eq!(writer.packets(), 1);
        let bytes = writer.finish().unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 60);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 1_795_305_600);
        assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(bytes[32..36].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(bytes[36..40].try_into().unwrap()), 60);
    }
}
