//! Reading a capture on one thread while another analyses it. libpcap's file reader spends
//! about a third of the offline time in the kernel's copy and in its own per-packet `fread`s;
//! on a reader thread that time overlaps the analysis instead of adding to it. Packets cross in
//! batches (one channel message per few hundred packets, not per packet), from a fixed pool:
//! emptied batches go back to the reader, so a replay holds at most [`POOL_BATCHES`] of them
//! however long the file.

use std::sync::mpsc;
use std::time::Duration;

/// Bytes of packet data a batch is filled to before it is handed over.
pub const BATCH_BYTES: usize = 1 << 20;

/// Batches that exist at most: 6 MiB. The reader and the analyser take turns being the slower
/// (bulk transfers cost the reader, HL7 the analyser), and the pool has to carry the one
/// through the other's stretches. Measured on a 1.1 M-packet capture (medians of 12
/// interleaved runs, as the machine's own speed varied by a third between runs), 2 MiB pools
/// ran 5 to 10 % slower than this, however divided (2 × 1 MiB, 4 × 512, 8 × 256, 16 × 128
/// KiB); 1 MiB batches beat smaller ones.
const POOL_BATCHES: usize = 6;

/// The analyser gives emptied batches back this many at a time, so the reader, once it has
/// caught up and waits, wakes to fill several rather than one.
const RETURN_GROUP: usize = POOL_BATCHES / 2;

/// One packet's place in a batch.
#[derive(Clone, Copy, Debug)]
struct Entry {
    time: Duration,
    wire_len: u32,
    /// Where the captured bytes end in the batch's data; they start where the previous end.
    end: usize,
}

/// Packets copied out of the reader's buffers, in capture order.
#[derive(Debug)]
pub struct PacketBatch {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

impl PacketBatch {
    fn with_capacity(bytes: usize) -> Self {
        Self { data: Vec::with_capacity(bytes), entries: Vec::with_capacity(bytes / 256) }
    }

    /// Whether `captured` more bytes would take the batch past `limit` (a batch always takes its
    /// first packet, however large).
    fn is_full_for(&self, captured: usize, limit: usize) -> bool {
        !self.entries.is_empty() && self.data.len() + captured > limit
    }

    fn push(&mut self, time: Duration, wire_len: u32, captured: &[u8]) {
        self.data.extend_from_slice(captured);
        self.entries.push(Entry { time, wire_len, end: self.data.len() });
    }

    fn clear(&mut self) {
        self.data.clear();
        self.entries.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The packets: capture time, length on the wire, captured bytes.
    pub fn iter(&self) -> impl Iterator<Item = RawPacket<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |entry| {
            let bytes = &self.data[start..entry.end];
            start = entry.end;
            (entry.time, entry.wire_len, bytes)
        })
    }
}

/// A packet as a source gives it: capture time, length on the wire, captured bytes.
pub type RawPacket<'a> = (Duration, u32, &'a [u8]);

/// Packets read one at a time (a libpcap capture, or a list in tests); `Ok(None)` ends them.
pub trait PacketSource: Send {
    type Error: Send;
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Self::Error>;
}

/// Reads `source` to its end, handing `consume` each packet in order: through a reader thread
/// ([`read_in_batches`]) when the process may run on more than one CPU (its affinity and
/// cgroup quota, as `available_parallelism` reads them), else in place, without the copy into
/// batches, which on one CPU would only add to the analysis. Returns the source's error, if
/// reading stopped at one, after every packet read before it was consumed.
pub fn read_all<S: PacketSource>(mut source: S, mut consume: impl FnMut(RawPacket<'_>)) -> Result<(), S::Error> {
    if std::thread::available_parallelism().map_or(1, |cpus| cpus.get()) > 1 {
        return read_in_batches(source, BATCH_BYTES, |batch| batch.iter().for_each(&mut consume));
    }
    read_in_place(&mut source, consume)
}

/// Reads `source` to its end on this thread, handing `consume` each packet as the source has it.
fn read_in_place<S: PacketSource>(source: &mut S, mut consume: impl FnMut(RawPacket<'_>)) -> Result<(), S::Error> {
    while let Some(packet) = source.next_packet()? {
        consume(packet);
    }
    Ok(())
}

/// Reads `source` to its end on a thread of its own, handing `consume` the packets in batches
/// of about `batch_bytes`, in order, on the calling thread. Returns the source's error, if
/// reading stopped at one, after every packet read before it was consumed.
pub fn read_in_batches<S: PacketSource>(
    mut source: S,
    batch_bytes: usize,
    mut consume: impl FnMut(&PacketBatch),
) -> Result<(), S::Error> {
    // The pool bounds the batches, so the channels need no bound of their own. No deadlock:
    // the reader waits for an emptied batch only after handing one over, and the analyser
    // holds fewer than RETURN_GROUP emptied ones, so when the reader waits, at least
    // POOL_BATCHES - RETURN_GROUP + 1 are full or being analysed.
    let (full_tx, full_rx) = mpsc::channel::<PacketBatch>();
    let (empty_tx, empty_rx) = mpsc::channel::<PacketBatch>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut pool = Pool { emptied: empty_rx, made: 0, batch_bytes };
            let Some(mut batch) = pool.take() else { return Ok(()) };
            let outcome = loop {
                let (time, wire_len, bytes) = match source.next_packet() {
                    Ok(Some(packet)) => packet,
                    Ok(None) => break Ok(()),
                    Err(err) => break Err(err),
                };
                if batch.is_full_for(bytes.len(), batch_bytes) {
                    let full = std::mem::replace(&mut batch, PacketBatch::with_capacity(0));
                    let next = full_tx.send(full).ok().and_then(|()| pool.take());
                    // Either fails only when the analyser is gone.
                    let Some(next) = next else { return Ok(()) };
                    batch = next;
                }
                batch.push(time, wire_len, bytes);
            };
            if !batch.is_empty() {
                let _ = full_tx.send(batch);
            }
            outcome
        });
        let mut emptied = Vec::with_capacity(RETURN_GROUP);
        for mut batch in full_rx {
            consume(&batch);
            batch.clear();
            emptied.push(batch);
            if emptied.len() >= RETURN_GROUP {
                for batch in emptied.drain(..) {
                    let _ = empty_tx.send(batch);
                }
            }
        }
        reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The reader's side of the batch pool: emptied batches coming back, and how many were made.
struct Pool {
    emptied: mpsc::Receiver<PacketBatch>,
    made: usize,
    batch_bytes: usize,
}

impl Pool {
    /// An empty batch: one given back, a new one while fewer than [`POOL_BATCHES`] exist, or
    /// else the next one given back (waiting for it). `None` when the analyser is gone.
    fn take(&mut self) -> Option<PacketBatch> {
        if let Ok(batch) = self.emptied.try_recv() {
            return Some(batch);
        }
        if self.made < POOL_BATCHES {
            self.made += 1;
            return Some(PacketBatch::with_capacity(self.batch_bytes));
        }
        self.emptied.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets from a list; fails with its index at `fail_at`.
    struct ListSource {
        packets: Vec<Vec<u8>>,
        next: usize,
        fail_at: Option<usize>,
    }

    impl PacketSource for ListSource {
        type Error = usize;

        fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, usize> {
            let index = self.next;
            if self.fail_at == Some(index) {
                return Err(index);
            }
            self.next += 1;
            Ok(self
                .packets
                .get(index)
                .map(|bytes| (Duration::from_millis(index as u64), index as u32 + 1000, &bytes[..])))
        }
    }

    fn packets(count: usize) -> Vec<Vec<u8>> {
        // Lengths 0 to 299: empty packets, and batches that end short of their limit.
        (0..count).map(|i| vec![(i % 251) as u8; i % 300]).collect()
    }

    /// A packet as the consumer saw it: time, length on the wire, bytes.
    type Seen = (Duration, u32, Vec<u8>);

    /// Reads `source` and gives back what the consumer saw: the packets, and each batch's size.
    fn read_all(source: ListSource, batch_bytes: usize) -> (Result<(), usize>, Vec<Seen>, Vec<usize>) {
        let (mut seen, mut sizes) = (Vec::new(), Vec::new());
        let outcome = read_in_batches(source, batch_bytes, |batch| {
            assert!(!batch.is_empty(), "no empty batch is handed over");
            sizes.push(batch.iter().map(|(_, _, bytes)| bytes.len()).sum());
            seen.extend(batch.iter().map(|(time, wire_len, bytes)| (time, wire_len, bytes.to_vec())));
        });
        (outcome, seen, sizes)
    }

    #[test]
    fn every_packet_arrives_once_in_order_with_its_time_and_length() {
        let list = packets(5000);
        let (outcome, seen, sizes) = read_all(ListSource { packets: list.clone(), next: 0, fail_at: None }, 4096);
        assert_eq!(outcome, Ok(()));
        assert_eq!(seen.len(), list.len());
        for (index, (time, wire_len, bytes)) in seen.iter().enumerate() {
            assert_eq!(
                (*time, *wire_len, bytes),
                (Duration::from_millis(index as u64), index as u32 + 1000, &list[index])
            );
        }
        // Many batches went over, each within its limit.
        assert!(sizes.len() > 100, "{} batches", sizes.len());
        assert!(sizes.iter().all(|&size| size <= 4096), "{sizes:?}");
    }

    #[test]
    fn the_batches_come_from_a_pool_of_bounded_size() {
        let source = ListSource { packets: packets(20_000), next: 0, fail_at: None };
        let mut buffers = std::collections::HashSet::new();
        let mut batches = 0;
        read_in_batches(source, 4096, |batch| {
            buffers.insert(batch.data.as_ptr() as usize);
            batches += 1;
        })
        .unwrap();
        assert!(batches > 10 * POOL_BATCHES, "{batches} batches");
        assert!(buffers.len() <= POOL_BATCHES, "{} distinct buffers", buffers.len());
    }

    #[test]
    fn a_packet_larger_than_a_batch_travels_alone() {
        let list = vec![vec![1; 10], vec![2; 10_000], vec![3; 10]];
        let (outcome, seen, sizes) = read_all(ListSource { packets: list.clone(), next: 0, fail_at: None }, 100);
        assert_eq!(outcome, Ok(()));
        assert_eq!(seen.into_iter().map(|(_, _, bytes)| bytes).collect::<Vec<_>>(), list);
        assert_eq!(sizes, [10, 10_000, 10]);
    }

    #[test]
    fn a_read_error_comes_after_the_packets_read_before_it() {
        let (outcome, seen, _) = read_all(ListSource { packets: packets(1000), next: 0, fail_at: Some(700) }, 4096);
        assert_eq!(outcome, Err(700));
        assert_eq!(seen.len(), 700);
    }

    #[test]
    fn read_in_place_gives_the_same_packets_and_error() {
        let list = packets(1000);
        let mut seen = Vec::new();
        let mut source = ListSource { packets: list.clone(), next: 0, fail_at: Some(700) };
        let outcome = read_in_place(&mut source, |(time, wire_len, bytes)| seen.push((time, wire_len, bytes.to_vec())));
        assert_eq!(outcome, Err(700));
        assert_eq!(seen.len(), 700);
        assert_eq!(seen[699], (Duration::from_millis(699), 1699, list[699].clone()));
        let mut count = 0;
        let source = ListSource { packets: list, next: 0, fail_at: None };
        assert_eq!(super::read_all(source, |_| count += 1), Ok(()));
        assert_eq!(count, 1000);
    }

    #[test]
    fn an_empty_source_hands_over_nothing() {
        let (outcome, seen, sizes) = read_all(ListSource { packets: Vec::new(), next: 0, fail_at: None }, 4096);
        assert_eq!((outcome, seen.len(), sizes.len()), (Ok(()), 0, 0));
    }
}
