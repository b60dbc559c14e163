//! Reading a pcap or pcapng file through libpcap.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::capture::RawPacket;
use crate::capture::mapped::{self, Paging, Replayed};
use crate::capture::staged;
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
/// than one CPU, in two stages ([`staged`]): the file read and the packets analysed up to the
/// HL7 messages on a thread of their own, the messages read on this one. With one, all of it
/// here, without handing anything over.
pub fn replay_file(path: &Path, config: PipelineConfig, sink: &mut impl Sink) -> Result<()> {
    if std::thread::available_parallelism().map_or(1, |cpus| cpus.get()) > 1 {
        replay_staged(path, config, sink)
    } else {
        replay_in_place(path, config, sink, true)
    }
}

/// The replay on this thread alone, the file read through the memory map (`mapped`) or by
/// libpcap alone.
fn replay_in_place(path: &Path, config: PipelineConfig, sink: &mut impl Sink, mapped: bool) -> Result<()> {
    let mut pipeline = Pipeline::new(config);
    let paging = mapped.then_some(Paging::Inline);
    let last = read_packets(path, paging, |link, (time, wire_len, frame)| {
        pipeline.process(time, link, frame, wire_len, sink);
    })?;
    pipeline.finish(last, sink);
    Ok(())
}

/// The replay in two stages ([`staged`]).
fn replay_staged(path: &Path, config: PipelineConfig, sink: &mut impl Sink) -> Result<()> {
    let max_awaiting_acks = config.session.max_awaiting_acks;
    staged::run(
        max_awaiting_acks,
        |log| {
            let mut pipeline = Pipeline::deferring_hl7(config);
            let last = read_packets(path, Some(Paging::OwnThread), |link, (time, wire_len, frame)| {
                pipeline.process(time, link, frame, wire_len, log);
                log.hand_over_if_full();
            })?;
            pipeline.finish(last, log);
            Ok(())
        },
        sink,
    )
}

/// Hands `consume` every packet of the capture at `path`, in order, with the file's link type;
/// returns the last packet's time. A classic pcap file is read in place through a memory map
/// ([`mapped`], paged as `paging` says; `None` leaves the whole file to libpcap); anything
/// else, and whatever the map reader leaves to it, libpcap reads.
fn read_packets(
    path: &Path,
    paging: Option<Paging>,
    mut consume: impl FnMut(LinkType, RawPacket<'_>),
) -> Result<Duration> {
    // Declared before the capture, so it outlives the stdio stream that may read into it.
    let mut read_buffer = vec![0u8; READ_BUFFER_BYTES];
    // Opened first in any case: libpcap checks the file header and names the link type.
    let mut capture = pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
    let link = LinkType::from_dlt(capture.get_datalink().0);
    let mut last = Duration::ZERO;
    let mut process = |packet: RawPacket<'_>| {
        last = packet.0;
        consume(link, packet);
    };
    let replayed = match paging {
        Some(paging) => {
            mapped::replay(path, paging, &mut process).with_context(|| format!("reading {}", path.display()))?
        }
        None => None,
    };
    let skip = match replayed {
        Some(Replayed::Whole) => return Ok(last),
        Some(Replayed::Stopped { packets }) => packets,
        None => 0,
    };
    // libpcap reads on from the first record the map reader left to it.
    for _ in 0..skip {
        capture.next_packet().with_context(|| format!("reading {}", path.display()))?;
    }
    enlarge_read_buffer(&capture, &mut read_buffer);
    read_without_locking(&capture);
    loop {
        match capture.next_packet() {
            Ok(packet) => process((packet_time(packet.header), packet.header.len, packet.data)),
            Err(pcap::Error::NoMorePackets) => return Ok(last),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
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
        replay_in_place(path, PipelineConfig::default(), &mut summary, mapped).map_err(|e| format!("{e:#}"))?;
        Ok(summary)
    }

    /// The summary, or the error, of `path` replayed in two stages.
    fn read_staged(path: &Path) -> std::result::Result<Summary, String> {
        let mut summary = Summary::default();
        replay_staged(path, PipelineConfig::default(), &mut summary).map_err(|e| format!("{e:#}"))?;
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
        assert_eq!(whole, read_staged(&path).unwrap());
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
            assert_eq!(read(&path, true), read_staged(&path), "{name}, in two stages");
        }
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = summarize_file(Path::new("/nonexistent/x.pcap"), PipelineConfig::default()).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.pcap"));
    }
}
