//! A file replay on two CPUs, in two stages. On HL7-heavy traffic reading the messages costs
//! more than everything else a packet goes through, so the work splits there: a thread of its
//! own reads the file and runs the pipeline up to the deframed messages
//! ([`Pipeline::deferring_hl7`]), logging every event it reports, each message's bytes
//! included; the calling thread reads the messages of each log ([`Hl7Reader`]) and hands the
//! sink every event in the order a one-thread pipeline would have: what the sink sees is the
//! same, event for event.
//!
//! Logs cross in batches from a fixed pool (emptied ones go back to the first stage), so a
//! replay holds at most [`POOL_LOGS`] of them however long the file.

use std::sync::mpsc;
use std::time::Duration;

use crate::flows::table::Direction;
use crate::hl7::reader::{Hl7Reader, Interpreting};
use crate::ids::Alert;
use crate::pipeline::{ConnectionId, Event, Sink};

/// Entries a log takes before it is handed over (a few hundred packets' events).
const LOG_ENTRIES: usize = 4096;
/// Message bytes a log takes before it is handed over.
const LOG_BYTES: usize = 1 << 20;
/// Logs that exist at most.
const POOL_LOGS: usize = 8;

/// One event as the first stage reported it, owning what it borrowed.
#[derive(Debug)]
enum Entry {
    /// An event that borrows nothing.
    Plain(Event<'static>),
    Alert(Box<Alert>),
    /// An HL7 message whose bytes end at `end` in the log's bytes (and start where the
    /// previous frame's end).
    Frame {
        connection: ConnectionId,
        direction: Direction,
        at: Duration,
        end: usize,
    },
}

/// The events of a stretch of the replay, in order.
#[derive(Debug, Default)]
pub struct EventLog {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
}

impl EventLog {
    fn with_capacity() -> Self {
        Self { entries: Vec::with_capacity(LOG_ENTRIES), bytes: Vec::with_capacity(LOG_BYTES) }
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= LOG_ENTRIES || self.bytes.len() >= LOG_BYTES
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
    }

    /// Hands `sink` the logged events in order, the frames' messages read by `reader`.
    fn replay(&self, reader: &mut Hl7Reader, sink: &mut impl Sink) {
        let mut sink = Interpreting { reader: Some(reader), inner: sink };
        let mut start = 0;
        for entry in &self.entries {
            match entry {
                Entry::Plain(event) => sink.record(*event),
                Entry::Alert(alert) => sink.record(Event::AlertFired(alert)),
                &Entry::Frame { connection, direction, at, end } => {
                    let bytes = &self.bytes[start..end];
                    start = end;
                    sink.record(Event::Hl7Frame { connection, direction, at, bytes });
                }
            }
        }
    }
}

impl Sink for EventLog {
    fn record(&mut self, event: Event<'_>) {
        let entry = match event {
            Event::Hl7Frame { connection, direction, at, bytes } => {
                self.bytes.extend_from_slice(bytes);
                Entry::Frame { connection, direction, at, end: self.bytes.len() }
            }
            Event::AlertFired(alert) => Entry::Alert(Box::new(alert.clone())),
            // A deferring pipeline reads no message, and anomalies come from a sink behind it.
            Event::Hl7Message { .. } | Event::Anomaly(_) => {
                unreachable!("a deferring pipeline reported {event:?}")
            }
            Event::Packet { protocol, wire_len } => Entry::Plain(Event::Packet { protocol, wire_len }),
            Event::DecodeError(error) => Entry::Plain(Event::DecodeError(error)),
            Event::IpFragment(result) => Entry::Plain(Event::IpFragment(result)),
            Event::IpFragmentsExpired(count) => Entry::Plain(Event::IpFragmentsExpired(count)),
            Event::SnapTruncated => Entry::Plain(Event::SnapTruncated),
            Event::FlowCreated => Entry::Plain(Event::FlowCreated),
            Event::FlowStarted(start) => Entry::Plain(Event::FlowStarted(start)),
            Event::FlowBytes { at, src, dst, from_client, wire_len } => {
                Entry::Plain(Event::FlowBytes { at, src, dst, from_client, wire_len })
            }
            Event::DeviceTraffic { at, peer, outbound, peer_class, wire_len } => {
                Entry::Plain(Event::DeviceTraffic { at, peer, outbound, peer_class, wire_len })
            }
            Event::FlowEvicted(reason) => Entry::Plain(Event::FlowEvicted(reason)),
            Event::FlowOverflow => Entry::Plain(Event::FlowOverflow),
            Event::TcpSyn { at, client, server, server_port } => {
                Entry::Plain(Event::TcpSyn { at, client, server, server_port })
            }
            Event::TcpHandshakeCompleted { at, client, server } => {
                Entry::Plain(Event::TcpHandshakeCompleted { at, client, server })
            }
            Event::TcpHandshakeRtt(rtt) => Entry::Plain(Event::TcpHandshakeRtt(rtt)),
            Event::TcpReset => Entry::Plain(Event::TcpReset),
            Event::TcpRetransmission => Entry::Plain(Event::TcpRetransmission),
            Event::TcpStreamGap(bytes) => Entry::Plain(Event::TcpStreamGap(bytes)),
            Event::TcpStreamShed(bytes) => Entry::Plain(Event::TcpStreamShed(bytes)),
            Event::ConnectionClosed(connection) => Entry::Plain(Event::ConnectionClosed(connection)),
            Event::Hl7Error(error) => Entry::Plain(Event::Hl7Error(error)),
            Event::Hl7AckRtt(rtt) => Entry::Plain(Event::Hl7AckRtt(rtt)),
            Event::Arp { at, sender } => Entry::Plain(Event::Arp { at, sender }),
            Event::AlertCleared(rule) => Entry::Plain(Event::AlertCleared(rule)),
            Event::IdsUntracked(count) => Entry::Plain(Event::IdsUntracked(count)),
        };
        self.entries.push(entry);
    }
}

/// The first stage's side: the log being filled, and where full ones go.
pub struct LogWriter {
    log: EventLog,
    full: mpsc::Sender<EventLog>,
    emptied: mpsc::Receiver<EventLog>,
    made: usize,
    /// Whether the second stage is gone (it panicked): the rest is not logged.
    closed: bool,
    /// The second stage's sink's [`Sink::wants_traffic`].
    wants_traffic: bool,
}

impl LogWriter {
    /// Hands the log over when it is full (call between packets, so that a log ends with one).
    pub fn hand_over_if_full(&mut self) {
        if self.log.is_full() {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        if self.closed || self.log.is_empty() {
            return;
        }
        let full = std::mem::take(&mut self.log);
        // Either fails only when the second stage is gone.
        match self.full.send(full).ok().and_then(|()| self.take_empty()) {
            Some(next) => self.log = next,
            None => self.closed = true,
        }
    }

    /// An empty log: one given back, a new one while fewer than [`POOL_LOGS`] exist, or else
    /// the next one given back (waiting for it).
    fn take_empty(&mut self) -> Option<EventLog> {
        if let Ok(log) = self.emptied.try_recv() {
            return Some(log);
        }
        if self.made < POOL_LOGS {
            self.made += 1;
            return Some(EventLog::with_capacity());
        }
        self.emptied.recv().ok()
    }
}

impl Sink for LogWriter {
    fn record(&mut self, event: Event<'_>) {
        if !self.closed {
            self.log.record(event);
        }
    }

    fn wants_traffic(&self) -> bool {
        self.wants_traffic
    }
}

/// Runs `first_stage` on a thread of its own with a [`LogWriter`] for its sink, and hands
/// `sink` everything it logs, its HL7 frames read by a fresh [`Hl7Reader`] (that remembers up
/// to `max_awaiting_acks` messages per connection), on this thread. Returns what `first_stage`
/// returned, after every event it logged before returning went to `sink`.
pub fn run<T: Send>(
    max_awaiting_acks: usize,
    first_stage: impl FnOnce(&mut LogWriter) -> T + Send,
    sink: &mut impl Sink,
) -> T {
    let (full_tx, full_rx) = mpsc::channel::<EventLog>();
    let (empty_tx, empty_rx) = mpsc::channel::<EventLog>();
    let mut reader = Hl7Reader::new(max_awaiting_acks);
    let wants_traffic = sink.wants_traffic();
    std::thread::scope(|scope| {
        // Named, so that profiles and `top -H` tell the stages apart.
        let first_stage_thread = std::thread::Builder::new().name("first-stage".into());
        let first = first_stage_thread.spawn_scoped(scope, move || {
            let log = EventLog::with_capacity();
            let mut writer = LogWriter { log, full: full_tx, emptied: empty_rx, made: 1, closed: false, wants_traffic };
            let outcome = first_stage(&mut writer);
            writer.hand_over();
            outcome
        });
        let first = first.expect("starting the first stage's thread");
        for mut log in full_rx {
            log.replay(&mut reader, sink);
            log.clear();
            // Fails only when the first stage is done.
            let _ = empty_tx.send(log);
        }
        first.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::packet::LinkType;
    use crate::output::summary::Summary;
    use crate::pipeline::{Pipeline, PipelineConfig};
    use crate::testing::hl7_session;

    /// Every event a sink saw, as text.
    #[derive(Default)]
    struct Transcript(Vec<String>);

    impl Sink for Transcript {
        fn record(&mut self, event: Event<'_>) {
            self.0.push(format!("{event:?}"));
        }
    }

    /// Many sessions' frames, long enough to fill several logs.
    fn frames() -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for i in 0..400 {
            let patient = format!("P-{}", i % 7);
            let id = format!("MSG{i}");
            frames.extend(hl7_session(&[(&patient, &id, &[("spo2", 90.0 + f64::from(i % 9)), ("heart_rate", 70.0)])]));
        }
        frames
    }

    #[test]
    fn the_sink_sees_what_a_one_thread_pipeline_shows_it_event_for_event() {
        let frames = frames();
        let at = |i: usize| Duration::from_secs(1_790_000_000) + Duration::from_millis(i as u64 * 300);
        let mut inline = Transcript::default();
        let mut pipeline = Pipeline::new(PipelineConfig::default());
        for (i, frame) in frames.iter().enumerate() {
            pipeline.process(at(i), LinkType::Ethernet, frame, frame.len() as u32, &mut inline);
        }
        pipeline.finish(at(frames.len()), &mut inline);

        let mut staged = Transcript::default();
        let handed_over = run(
            PipelineConfig::default().session.max_awaiting_acks,
            |log| {
                let mut pipeline = Pipeline::deferring_hl7(PipelineConfig::default());
                for (i, frame) in frames.iter().enumerate() {
                    pipeline.process(at(i), LinkType::Ethernet, frame, frame.len() as u32, log);
                    log.hand_over_if_full();
                }
                pipeline.finish(at(frames.len()), log);
                "done"
            },
            &mut staged,
        );
        assert_eq!(handed_over, "done");
        assert!(inline.0.iter().any(|e| e.starts_with("Hl7AckRtt")), "ACKs were timed");
        assert!(inline.0.len() > 2 * LOG_ENTRIES, "{} events: more than one log", inline.0.len());
        assert_eq!(staged.0, inline.0);
    }

    #[test]
    fn a_first_stage_that_logs_nothing_hands_over_nothing() {
        let mut summary = Summary::default();
        assert_eq!(run(64, |_| 7, &mut summary), 7);
        assert_eq!(summary, Summary::default());
    }
}
