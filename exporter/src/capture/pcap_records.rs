//! The records of a classic pcap file (version 2.4, microsecond or nanosecond time stamps,
//! either byte order) read from its bytes, exactly as libpcap's offline reader hands them over
//! (time stamps in microseconds, the captured bytes, the length on the wire), for files
//! libpcap reads without repair. Pure: the bytes come from a memory map (`mapped.rs`).
//!
//! Whatever libpcap would repair, refuse or report (a record longer than the file's snapshot
//! length or than 262,144 bytes, a captured length above the wire length, a truncated record)
//! is an [`Anomaly`] here: the caller hands the rest of the file to libpcap, which then does
//! what it always did.

use std::time::Duration;

/// The file header's length; records follow it.
pub const FILE_HEADER_BYTES: usize = 24;
/// A record header's length; the captured bytes follow it.
pub const RECORD_HEADER_BYTES: usize = 16;
/// libpcap's largest snapshot length for the link types the exporter reads.
const MAX_SNAPLEN: u32 = 262_144;

/// What the file header says, for a file these records can be read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFormat {
    big_endian: bool,
    nanoseconds: bool,
    snaplen: u32,
}

impl FileFormat {
    /// The format of a classic pcap file that starts with `header`, or `None` for anything
    /// else (pcapng, other versions, an odd snapshot length): libpcap's to read.
    pub fn of(header: &[u8]) -> Option<Self> {
        let header: &[u8; FILE_HEADER_BYTES] = header.get(..FILE_HEADER_BYTES)?.try_into().ok()?;
        let (big_endian, nanoseconds) = match header[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let format = Self { big_endian, nanoseconds, snaplen: 0 };
        let version = (format.u16_at(header, 4), format.u16_at(header, 6));
        let snaplen = format.u32_at(header, 16);
        // Version 2.4 is the one whose lengths libpcap never swaps.
        ((version == (2, 4)) && (1..=MAX_SNAPLEN).contains(&snaplen)).then_some(Self { snaplen, ..format })
    }

    fn u16_at(&self, bytes: &[u8], at: usize) -> u16 {
        let field = [bytes[at], bytes[at + 1]];
        if self.big_endian { u16::from_be_bytes(field) } else { u16::from_le_bytes(field) }
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> u32 {
        let field = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if self.big_endian { u32::from_be_bytes(field) } else { u32::from_le_bytes(field) }
    }

    /// The record at the start of `bytes`: its packet and the record's whole length; `None` at
    /// the end of the file (no byte left); an [`Anomaly`] for a record to leave to libpcap.
    pub fn record<'a>(&self, bytes: &'a [u8]) -> Result<Option<(Record<'a>, usize)>, Anomaly> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let header = bytes.get(..RECORD_HEADER_BYTES).ok_or(Anomaly)?;
        let (caplen, wire_len) = (self.u32_at(header, 8), self.u32_at(header, 12));
        if caplen > self.snaplen || caplen > wire_len {
            return Err(Anomaly);
        }
        let end = RECORD_HEADER_BYTES + caplen as usize;
        let data = bytes.get(RECORD_HEADER_BYTES..end).ok_or(Anomaly)?;
        // Time fields past 2^31 are left to libpcap, which has read them as signed numbers (and
        // may come to read them as unsigned ones); nanoseconds are scaled down as it does.
        let (seconds, fraction) = (self.u32_at(header, 0), self.u32_at(header, 4));
        if seconds > i32::MAX as u32 || fraction > i32::MAX as u32 {
            return Err(Anomaly);
        }
        let micros = if self.nanoseconds { fraction / 1000 } else { fraction };
        let time = Duration::from_secs(seconds.into()) + Duration::from_micros(micros.into());
        Ok(Some((Record { time, wire_len, data }, end)))
    }
}

/// One packet of the file, as libpcap gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Duration,
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// A record libpcap would repair or refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anomaly;

#[cfg(test)]
mod tests {
    use super::*;

    fn file_header(magic: [u8; 4], big_endian: bool, version: (u16, u16), snaplen: u32) -> Vec<u8> {
        let u16s = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32s = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut header = magic.to_vec();
        header.extend(u16s(version.0));
        header.extend(u16s(version.1));
        header.extend([0; 8]);
        header.extend(u32s(snaplen));
        header.extend(u32s(1));
        header
    }

    fn record(big_endian: bool, seconds: u32, fraction: u32, data: &[u8], wire_len: u32) -> Vec<u8> {
        let u32s = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut bytes = Vec::new();
        for field in [seconds, fraction, data.len() as u32, wire_len] {
            bytes.extend(u32s(field));
        }
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn classic_files_of_version_2_4_are_read_in_either_byte_order_and_resolution() {
        for (magic, big_endian, nanoseconds) in [
            ([0xd4, 0xc3, 0xb2, 0xa1], false, false),
            ([0x4d, 0x3c, 0xb2, 0xa1], false, true),
            ([0xa1, 0xb2, 0xc3, 0xd4], true, false),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, true),
        ] {
            let format = FileFormat::of(&file_header(magic, big_endian, (2, 4), 65_535)).unwrap();
            let fraction = if nanoseconds { 123_456_789 } else { 123_456 };
            let bytes = record(big_endian, 1_795_305_600, fraction, b"frame", 60);
            let (packet, length) = format.record(&bytes).unwrap().unwrap();
            assert_eq!(length, bytes.len());
            assert_eq!(packet.time, Duration::new(1_795_305_600, 123_456_000), "{magic:x?}");
            assert_eq!((packet.wire_len, packet.data), (60, &b"frame"[..]));
            assert_eq!(format.record(&[]), Ok(None));
        }
    }

    #[test]
    fn what_libpcap_would_repair_or_refuse_is_an_anomaly() {
        let magic = [0xd4, 0xc3, 0xb2, 0xa1];
        for (version, snaplen) in [((2, 3), 65_535), ((2, 4), 0), ((2, 4), 262_145), ((1, 4), 100)] {
            assert_eq!(FileFormat::of(&file_header(magic, false, version, snaplen)), None, "{version:?} {snaplen}");
        }
        assert_eq!(FileFormat::of(b"\x0a\x0d\x0d\x0a pcapng section"), None);
        assert_eq!(FileFormat::of(&magic), None, "a header cut short");
        let format = FileFormat::of(&file_header(magic, false, (2, 4), 8)).unwrap();
        assert_eq!(format.record(&record(false, 1, 0, &[0; 9], 9)), Err(Anomaly), "longer than the snapshot");
        assert_eq!(format.record(&record(false, 1, 0, &[0; 4], 3)), Err(Anomaly), "more captured than sent");
        let whole = record(false, 1, 0, &[0; 4], 4);
        assert_eq!(format.record(&whole[..whole.len() - 1]), Err(Anomaly), "a truncated record");
        assert_eq!(format.record(&whole[..10]), Err(Anomaly), "a truncated header");
    }

    #[test]
    fn time_fields_past_2_31_are_left_to_libpcap() {
        let format = FileFormat::of(&file_header([0xd4, 0xc3, 0xb2, 0xa1], false, (2, 4), 100)).unwrap();
        assert_eq!(format.record(&record(false, 0x8000_0000, 5, b"x", 1)), Err(Anomaly));
        assert_eq!(format.record(&record(false, 7, u32::MAX, b"x", 1)), Err(Anomaly));
        let latest = record(false, 0x7fff_ffff, 999_999, b"x", 1);
        let (packet, _) = format.record(&latest).unwrap().unwrap();
        assert_eq!(packet.time, Duration::new(0x7fff_ffff, 999_999_000));
    }
}
