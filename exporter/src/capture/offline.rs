//! Reading a pcap or pcapng file through libpcap.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::capture::batches::{PacketSource, RawPacket, read_all};
use crate::capture::mapped::{self, Replayed};
use crate::decode::packet::LinkType;
use crate::output::summary::Summary;
use crate::pipeline::{Pipeline, PipelineConfig, Sink};

/// Reads every frame of the capture at `path` into a [`Summary`].
pub fn summarize_file(path: &Path, config: PipelineConfig) -> Result<Summary> {
    let mut summary = Summary::default();
    replay_file(path, config, &mut summary)?;
    Ok(summary)
}

/// Runs every frame of the capture at `path` through a fresh pipeline into `sink`. With more
/// than one CPU, libpcap reads the file on a thread of its own ([`crate::capture::batches`])
/// while this one analyses. With one, a classic pcap file is read in place through a memory
/// map ([`mapped`]), with no copy to overlap; anything else, and whatever the map reader
/// leaves to it, libpcap reads.
pub fn replay_file(path: &Path, config: PipelineConfig, sink: &mut impl Sink) -> Result<()> {
    let one_cpu = std::thread::available_parallelism().map_or(1, |cpus| cpus.get()) == 1;
    replay_file_with(path, config, sink, one_cpu)
}

/// [`replay_file`], with the memory-mapped reader or (`mapped` false) libpcap alone.
fn replay_file_with(path: &Path, config: PipelineConfig, sink: &mut impl Sink, mapped: bool) -> Result<()> {
    // Declared before the capture, so it outlives the stdio stream that may read into it.
    let mut read_buffer = vec![0u8; READ_BUFFER_BYTES];
    // Opened first in any case: libpcap checks the file header and names the link type.
    let mut capture = pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
    let link = LinkType::from_dlt(capture.get_datalink().0);
    let mut pipeline = Pipeline::new(config);
    let mut last = Duration::ZERO;
    let mut process = |(time, wire_len, frame): RawPacket<'_>| {
        last = time;
        pipeline.process(time, link, frame, wire_len, sink);
    };
    let replayed = if mapped {
        mapped::replay(path, &mut process).with_context(|| format!("reading {}", path.display()))?
    } else {
        None
    };
    let skip = match replayed {
        Some(Replayed::Whole) => None,
        Some(Replayed::Stopped { packets }) => Some(packets),
        None => Some(0),
    };
    if let Some(skip) = skip {
        // libpcap reads on from the first record the map reader left to it.
        for _ in 0..skip {
            capture.next_packet().with_context(|| format!("reading {}", path.display()))?;
        }
        enlarge_read_buffer(&capture, &mut read_buffer);
        read_without_locking(&capture);
        read_all(FileSource(capture), &mut process).with_context(|| format!("reading {}", path.display()))?;
    }
    pipeline.finish(last, sink);
    Ok(())
}

/// An open capture file, read packet by packet.
struct FileSource(pcap::Capture<pcap::Offline>);

impl PacketSource for FileSource {
    type Error = pcap::Error;

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, pcap::Error> {
        match self.0.next_packet() {
            Ok(packet) => Ok(Some((packet_time(packet.header), packet.header.len, packet.data))),
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// The stdio buffer libpcap reads a capture file through (glibc's default is one 4 KiB block):
/// a larger one takes the file in fewer system calls. With the reader on its own thread,
/// 256 KiB ran 2-4 % faster than 1 MiB and 64 KiB (the batches it fills share the caches).
const READ_BUFFER_BYTES: usize = 256 << 10;

/// `__fsetlocking`'s "the caller locks" (glibc's stdio_ext.h).
const FSETLOCKING_BYCALLER: libc::c_int = 2;

unsafe extern "C" {
    /// libpcap's stdio stream of an offline capture (NULL for a live one).
    fn pcap_file(capture: *mut libc::c_void) -> *mut libc::FILE;
    /// Sets how a stdio stream locks (glibc and musl, stdio_ext.h).
    fn __fsetlocking(stream: *mut libc::FILE, locking: libc::c_int) -> libc::c_int;
}

/// Stops stdio locking the stream of `capture` on each read. libpcap reads a packet with two
/// `fread`s, and once a process has a second thread glibc takes the stream's lock, an atomic
/// operation, in each: in a replay that was about a sixth of the reader thread's time. Only
/// the thread that owns the capture reads it (`Capture` is `Send`, not `Sync`), so nothing
/// else needs the lock.
fn read_without_locking(capture: &pcap::Capture<pcap::Offline>) {
    if !cfg!(target_env = "gnu") {
        return;
    }
    // SAFETY: the capture is open, so its pcap_t and its FILE (when not NULL) are valid.
    unsafe {
        let file = pcap_file(capture.as_ptr().cast());
        if !file.is_null() {
            __fsetlocking(file, FSETLOCKING_BYCALLER);
        }
    }
}

/// Gives the stream of `capture`, a regular file, `buffer` instead of its default buffer; tells
/// whether it did. glibc's setvbuf on a stream already read from first seeks the file back to
/// the position read up to (and drops what its old buffer held), which is why only regular
/// files qualify, and only with glibc. The buffer must outlive the capture.
fn enlarge_read_buffer(capture: &pcap::Capture<pcap::Offline>, buffer: &mut [u8]) -> bool {
    if !cfg!(target_env = "gnu") {
        return false;
    }
    // SAFETY: the capture is open, so its pcap_t and FILE are valid; fstat fills a plain
    // struct; setvbuf gets a buffer of the length given that the caller keeps alive past the
    // capture's close.
    unsafe {
        let file = pcap_file(capture.as_ptr().cast());
        if file.is_null() {
            return false;
        }
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(libc::fileno(file), &mut stat) != 0 || stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            return false;
        }
        libc::setvbuf(file, buffer.as_mut_ptr().cast(), libc::_IOFBF, buffer.len()) == 0
    }
}

/// A packet's capture time since the Unix epoch (times before it count as the epoch).
pub fn packet_time(header: &pcap::PacketHeader) -> Duration {
    let seconds = u64::try_from(header.ts.tv_sec).unwrap_or(0);
    let micros = u64::try_from(header.ts.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::decode::packet::Protocol;
    use crate::decode::packet::tests::tcp_frame;
    use crate::testing::{hl7_session, write_pcap};

    #[test]
    fn summarizes_a_capture_written_by_libpcap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.pcap");
        let frames = vec![tcp_frame(b"MSH|a"), tcp_frame(b"MSH|bb")];
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let summary = summarize_file(&path, PipelineConfig::default()).unwrap();
        assert_eq!(summary.packets, 2);
        assert_eq!(summary.bytes, (frames[0].len() + frames[1].len()) as u64);
        assert_eq!(summary.protocols[&Protocol::Tcp], 2);
    }

    #[test]
    fn vitals_read_from_a_capture_file_equal_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hl7.pcap");
        let frames = hl7_session(&[
            ("P-1001", "MSG1", &[("spo2", 88.5), ("heart_rate", 112.0)]),
            ("P-1001", "MSG2", &[("spo2", 87.0), ("respiratory_rate", 24.0)]),
        ]);
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let summary = summarize_file(&path, PipelineConfig::default()).unwrap();
        let patient = &summary.vitals["P-1001"];
        let last: BTreeMap<&str, f64> = patient.iter().map(|(k, v)| (*k, v.last)).collect();
        assert_eq!(last, BTreeMap::from([("heart_rate", 112.0), ("respiratory_rate", 24.0), ("spo2", 87.0)]));
        assert_eq!(patient["spo2"].samples, 2);
        assert_eq!(summary.hl7.ack_rtt_seconds.count, 2);
        assert!((summary.hl7.ack_rtt_seconds.max - 0.001).abs() < 1e-6, "ACKs follow one millisecond later");
    }

    #[test]
    fn a_file_larger_than_the_read_buffer_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.pcap");
        // Frames of growing payloads, about 3 MiB in all: several refills of the buffer.
        let frames: Vec<Vec<u8>> = (0..3000).map(|i| tcp_frame(&vec![b'x'; 500 + i % 1000])).collect();
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let summary = summarize_file(&path, PipelineConfig::default()).unwrap();
        assert_eq!(summary.packets, frames.len() as u64);
        assert_eq!(summary.bytes, frames.iter().map(|f| f.len() as u64).sum::<u64>());
        assert_eq!(summary.decode_errors.len(), 0);
    }

    /// The summary, or the error, of `path` read through the map (`mapped`) or by libpcap.
    fn read(path: &Path, mapped: bool) -> std::result::Result<Summary, String> {
        let mut summary = Summary::default();
        replay_file_with(path, PipelineConfig::default(), &mut summary, mapped).map_err(|e| format!("{e:#}"))?;
        Ok(summary)
    }

    #[test]
    fn the_mapped_reader_reads_as_libpcap_does_and_hands_it_what_it_does_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hl7.pcap");
        let frames = hl7_session(&[
            ("P-1001", "MSG1", &[("spo2", 88.5), ("heart_rate", 112.0)]),
            ("P-1001", "MSG2", &[("spo2", 87.0), ("respiratory_rate", 24.0)]),
            ("P-1002", "MSG3", &[("spo2", 97.0)]),
        ]);
        write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let whole = read(&path, true).unwrap();
        assert_eq!(whole, read(&path, false).unwrap());
        assert_eq!(whole.packets, frames.len() as u64);
        // Records the map reader leaves to libpcap, from the fourth on: a captured length above
        // the wire length, then one past the snapshot length, then a file cut short.
        let bytes = std::fs::read(&path).unwrap();
        let fourth =
            (0..3).fold(24, |at, _| at + 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize);
        let mut patched = bytes.clone();
        patched[fourth + 12..fourth + 16].copy_from_slice(&1u32.to_le_bytes());
        let mut oversized = bytes.clone();
        oversized[16..20].copy_from_slice(&40u32.to_le_bytes());
        for (name, file) in [("caplen", patched), ("snaplen", oversized), ("cut", bytes[..bytes.len() - 7].to_vec())] {
            let path = dir.path().join(format!("{name}.pcap"));
            std::fs::write(&path, file).unwrap();
            assert_eq!(read(&path, true), read(&path, false), "{name}");
        }
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = summarize_file(Path::new("/nonexistent/x.pcap"), PipelineConfig::default()).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.pcap"));
    }
}
