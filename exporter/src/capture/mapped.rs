//! A classic pcap file read in place, through a read-only memory map: each packet is a slice of
//! the page cache, with no `read` copying the file into the process and no libpcap copying each
//! record out of its stdio buffer (together about a third of a one-CPU replay's time, and all
//! of tcpdump's). Every replay reads classic pcap files this way, on one CPU or in two stages
//! (`staged.rs`).
//!
//! The records are parsed by `pcap_records.rs`; what it leaves to libpcap, libpcap reads (see
//! [`replay`]).
//!
//! Pages already read are dropped from the mapping as the replay moves on, so the process's
//! resident memory holds a few MiB of the file, not all of it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::capture::RawPacket;
use crate::capture::pcap_records::{FILE_HEADER_BYTES, FileFormat};

/// Bytes read between two drops of the pages behind the replay: a replay holds a few MiB of
/// the file. In a process with a second thread each drop interrupts the other CPU to flush its
/// TLB; dropping every MiB, and asking the kernel each time to read the next 4 MiB ahead (which
/// `MADV_SEQUENTIAL` has it do anyway), took 7 % of a two-stage replay's first stage.
const RELEASE_EVERY: usize = 4 << 20;
/// How far ahead of the replay the pages are mapped in, in one call each time pages are
/// dropped, rather than page fault by page fault (a fault maps 16 pages at most).
const POPULATE_AHEAD: usize = 2 * RELEASE_EVERY;

/// How far [`replay`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Every record.
    Whole,
    /// This many records, then one libpcap must read (it repairs, refuses or reports it).
    Stopped { packets: u64 },
}

/// Who maps the file's pages in ahead of the replay and drops those behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// The replaying thread itself, between packets.
    Inline,
    /// A thread of its own, told how far the replay got: on two CPUs (the two-stage replay),
    /// those system calls, a quarter of the first stage's time on a ward's capture (mapping
    /// pages in and out, and the TLB flushes), run beside the replay rather than in it.
    OwnThread,
}

/// Hands `consume` every packet of the classic pcap file at `path`, in order, as libpcap's
/// offline reader would. `None` when the file is not one this reader reads (pcapng, another
/// version, not a regular file, ...): nothing was consumed, and libpcap is to read it all.
pub fn replay(
    path: &Path,
    paging: Paging,
    mut consume: impl FnMut(RawPacket<'_>),
) -> std::io::Result<Option<Replayed>> {
    let Some(map) = Map::open(path)? else { return Ok(None) };
    let Some(format) = FileFormat::of(map.bytes()) else { return Ok(None) };
    Ok(Some(match paging {
        Paging::Inline => {
            let mut pager = Pager::start(&map);
            read_records(&map, format, &mut consume, |offset| pager.reached(&map, offset))
        }
        Paging::OwnThread => std::thread::scope(|scope| {
            let (progress, reached) = std::sync::mpsc::channel::<usize>();
            let map = &map;
            // If the thread cannot be started, the pages are mapped as the replay faults on
            // them and the whole file stays mapped until the end: slower, and more resident,
            // but read whole.
            let pager = std::thread::Builder::new().name("pager".into()).spawn_scoped(scope, move || {
                let mut pager = Pager::start(map);
                for offset in reached {
                    pager.reached(map, offset);
                }
            });
            // A send fails only when the pager is gone (not started, or it panicked: the join
            // says so).
            let tell = |offset| {
                let _ = progress.send(offset);
            };
            let replayed = read_records(map, format, &mut consume, tell);
            drop(progress);
            if let Ok(pager) = pager {
                pager.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
            replayed
        }),
    }))
}

/// Reads the records of `map` in order into `consume`, telling `reached` how far it got every
/// [`RELEASE_EVERY`] bytes (every byte before that offset is done with).
fn read_records(
    map: &Map,
    format: FileFormat,
    consume: &mut impl FnMut(RawPacket<'_>),
    mut reached: impl FnMut(usize),
) -> Replayed {
    let bytes = map.bytes();
    let (mut offset, mut packets, mut told) = (FILE_HEADER_BYTES, 0, 0);
    loop {
        let (packet, length) = match format.record(&bytes[offset..]) {
            Ok(Some(record)) => record,
            Ok(None) => return Replayed::Whole,
            Err(_) => return Replayed::Stopped { packets },
        };
        consume((packet.time, packet.wire_len, packet.data));
        offset += length;
        packets += 1;
        if offset - told >= RELEASE_EVERY {
            reached(offset);
            told = offset;
        }
    }
}

/// How far the pages are mapped in, and dropped.
struct Pager {
    released: usize,
    populated: usize,
}

impl Pager {
    fn start(map: &Map) -> Self {
        Self { released: 0, populated: map.populate(0, POPULATE_AHEAD) }
    }

    /// The replay is done with every byte before `offset`.
    fn reached(&mut self, map: &Map, offset: usize) {
        self.released = map.release(self.released, offset);
        self.populated = map.populate(self.populated, offset + POPULATE_AHEAD);
    }
}

/// A whole file mapped read-only.
struct Map {
    address: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only, its bytes are only ever read, and `madvise` on it may come
// from any thread: a page dropped while another thread reads it is mapped again from the page
// cache, with the same bytes.
unsafe impl Sync for Map {}

impl Map {
    /// Maps the regular file at `path`; `None` when it is not one, or is empty.
    fn open(path: &Path) -> std::io::Result<Option<Self>> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let Ok(len) = usize::try_from(metadata.len()) else { return Ok(None) };
        if !metadata.is_file() || len == 0 {
            return Ok(None);
        }
        // SAFETY: a fresh read-only private mapping of a file we opened; the kernel checks
        // the arguments. The mapping outlives the descriptor, which may be closed after.
        let address =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let map = Self { address, len };
        // SAFETY: advice on our own mapping; a refusal changes nothing but speed.
        unsafe { libc::madvise(map.address, map.len, libc::MADV_SEQUENTIAL) };
        Ok(Some(map))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped readable at `address` until `drop`; the slice borrows
        // `self`. The file could change under the map; that shows as odd bytes (which the
        // parser checks), not as undefined behaviour of this process, as long as it is not
        // truncated: like every mmap reader, a capture must not be cut while it is replayed.
        unsafe { std::slice::from_raw_parts(self.address.cast::<u8>(), self.len) }
    }

    /// Maps the pages from `from` (page-aligned, where the last call ended) up to `to` into
    /// the process (`MADV_POPULATE_READ`, Linux 5.14; where it is refused, pages are mapped as
    /// the replay faults on them, as before); returns where the populated range ends.
    fn populate(&self, from: usize, to: usize) -> usize {
        let end = to.min(self.len).div_ceil(page_size()) * page_size();
        if end > from {
            // SAFETY: a page-aligned range inside our own read-only mapping (its last page may
            // extend past the file's end, as the mapping does); populating only reads the file.
            unsafe { libc::madvise(self.address.cast::<u8>().add(from).cast(), end - from, libc::MADV_POPULATE_READ) };
        }
        end.max(from)
    }

    /// Drops the whole pages from `from` (page-aligned, where the last drop ended) up to
    /// `offset` from the process (they stay in the page cache); returns where the dropped range
    /// ends.
    fn release(&self, from: usize, offset: usize) -> usize {
        let end = offset / page_size() * page_size();
        if end > from {
            // SAFETY: a page-aligned range inside our own read-only private mapping, which is
            // read again only from `offset` on; MADV_DONTNEED on it only unmaps the pages.
            unsafe { libc::madvise(self.address.cast::<u8>().add(from).cast(), end - from, libc::MADV_DONTNEED) };
        }
        end.max(from)
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once; no slice of it outlives `self`.
        unsafe { libc::munmap(self.address, self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_classic_pcap_are_left_to_libpcap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcapng");
        for paging in [Paging::Inline, Paging::OwnThread] {
            std::fs::write(&path, b"\x0a\x0d\x0d\x0a and the rest of a pcapng file").unwrap();
            assert_eq!(replay(&path, paging, |_| panic!("nothing to read")).unwrap(), None);
            std::fs::write(&path, b"").unwrap();
            assert_eq!(replay(&path, paging, |_| panic!("nothing to read")).unwrap(), None);
            assert!(replay(&dir.path().join("missing"), paging, |_| {}).is_err());
        }
    }

    #[test]
    fn a_pager_thread_leaves_the_replay_what_it_reads_inline() {
        use crate::decode::packet::tests::tcp_frame;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.pcap");
        // About 12 MiB: the pages are dropped and mapped ahead several times.
        let frames: Vec<Vec<u8>> = (0..3000u32).map(|i| tcp_frame(&vec![(i % 251) as u8; 4000])).collect();
        crate::testing::write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
        let read = |paging| {
            let mut seen = Vec::new();
            let replayed = replay(&path, paging, |(time, wire_len, bytes)| seen.push((time, wire_len, bytes.to_vec())));
            (replayed.unwrap(), seen)
        };
        let inline = read(Paging::Inline);
        assert_eq!(inline.0, Some(Replayed::Whole));
        assert_eq!(inline.1.len(), frames.len());
        assert!(inline.1.iter().zip(&frames).all(|((_, _, bytes), frame)| bytes == frame));
        assert_eq!(read(Paging::OwnThread), inline);
    }
}
