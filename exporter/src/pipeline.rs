//! The pure packet pipeline: frame -> decode -> flow table -> TCP session -> HL7 -> vitals.
//! It keeps no counters of its own; everything it learns goes to a [`Sink`] as an [`Event`]
//! (the offline summary and the Prometheus metrics are two sinks).

use std::time::Duration;

use crate::decode::{DecodeError, LinkType, Protocol, decode};
use crate::flow::{EvictReason, FlowConfig, FlowTable, Observed};
use crate::hl7vitals::{Hl7Error, Hl7Message};
use crate::session::{SessionConfig, SessionEvent, TcpSession};

/// Everything the pipeline reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event<'a> {
    /// A frame; `protocol` is `None` when it did not decode (a [`Event::DecodeError`] follows).
    Packet {
        protocol: Option<Protocol>,
        wire_len: u32,
    },
    DecodeError(DecodeError),
    /// A frame the snapshot length cut short; counted, but not analysed past its headers.
    SnapTruncated,
    FlowCreated,
    FlowEvicted(EvictReason),
    /// A packet of a new flow found the flow table full.
    FlowOverflow,
    TcpHandshakeCompleted,
    TcpHandshakeRtt(Duration),
    TcpReset,
    TcpRetransmission,
    /// Bytes of a TCP stream that were never captured.
    TcpStreamGap(u64),
    /// A message that parsed, seen at the given packet time.
    Hl7Message {
        message: &'a Hl7Message,
        at: Duration,
    },
    Hl7Error(Hl7Error),
    Hl7AckRtt(Duration),
}

/// Where events go.
pub trait Sink {
    fn record(&mut self, event: Event<'_>);
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn record(&mut self, event: Event<'_>) {
        (**self).record(event);
    }
}

/// Both sinks get every event (for example metrics and a summary).
impl<A: Sink, B: Sink> Sink for (A, B) {
    fn record(&mut self, event: Event<'_>) {
        self.0.record(event);
        self.1.record(event);
    }
}

/// How often (in packet time) the flow table is swept for expired flows.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineConfig {
    pub flows: FlowConfig,
    pub session: SessionConfig,
}

/// The pipeline's state: the live flows and their TCP sessions.
pub struct Pipeline {
    config: PipelineConfig,
    flows: FlowTable<TcpSession>,
    last_sweep: Option<Duration>,
    session_events: Vec<SessionEvent>,
}

impl Pipeline {
    pub fn new(config: PipelineConfig) -> Self {
        Self { config, flows: FlowTable::new(config.flows), last_sweep: None, session_events: Vec::new() }
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Takes one frame captured at `at` (capture time), `wire_len` bytes long on the wire.
    pub fn process(&mut self, at: Duration, link: LinkType, frame: &[u8], wire_len: u32, sink: &mut impl Sink) {
        if self.last_sweep.is_none_or(|last| at.saturating_sub(last) >= SWEEP_INTERVAL) {
            self.expire(at, sink);
        }
        let packet = match decode(link, frame, wire_len) {
            Ok(packet) => packet,
            Err(error) => {
                sink.record(Event::Packet { protocol: None, wire_len });
                sink.record(Event::DecodeError(error));
                return;
            }
        };
        sink.record(Event::Packet { protocol: Some(packet.protocol), wire_len });
        if packet.snap_truncated {
            sink.record(Event::SnapTruncated);
        }
        // A cut frame's headers count, but its payload is incomplete: sequence ranges and
        // reassembly would see holes that were never on the wire, so TCP analysis skips it.
        let segment = packet.tcp.filter(|_| !packet.snap_truncated);
        let Some(endpoints) = packet.endpoints else { return };
        let observed = self.flows.observe(at, packet.protocol, &endpoints, wire_len, segment.as_ref());
        let Observed::Tracked { flow, direction, created, tcp } = observed else {
            sink.record(Event::FlowOverflow);
            return;
        };
        if created {
            sink.record(Event::FlowCreated);
        }
        let Some(segment) = segment else { return };
        if tcp.handshake_completed {
            sink.record(Event::TcpHandshakeCompleted);
        }
        if let Some(rtt) = tcp.handshake_rtt {
            sink.record(Event::TcpHandshakeRtt(rtt));
        }
        if tcp.reset {
            sink.record(Event::TcpReset);
        }
        if tcp.retransmission {
            sink.record(Event::TcpRetransmission);
        }
        flow.state.on_segment(&self.config.session, at, direction, &segment, &mut self.session_events);
        report(&mut self.session_events, at, sink);
    }

    /// Evicts the flows idle or too old at `now` (packet time, or the wall clock when a live
    /// capture is quiet) and delivers what their streams still held.
    pub fn expire(&mut self, now: Duration, sink: &mut impl Sink) {
        self.last_sweep = Some(now);
        for (mut flow, reason) in self.flows.expire(now) {
            flow.state.finish(&self.config.session, now, &mut self.session_events);
            report(&mut self.session_events, now, sink);
            sink.record(Event::FlowEvicted(reason));
        }
    }

    /// The capture is over: delivers what every live stream still held. Flows stay in the table
    /// (they did not time out), so their counts are not reported as evictions.
    pub fn finish(&mut self, at: Duration, sink: &mut impl Sink) {
        self.flows.for_each_state(|session| session.finish(&self.config.session, at, &mut self.session_events));
        report(&mut self.session_events, at, sink);
    }
}

fn report(session_events: &mut Vec<SessionEvent>, at: Duration, sink: &mut impl Sink) {
    for event in session_events.drain(..) {
        match event {
            SessionEvent::StreamGap(bytes) => sink.record(Event::TcpStreamGap(bytes)),
            SessionEvent::Message(Ok(message)) => {
                sink.record(Event::Hl7Message { message: &message, at });
                for error in &message.observation_errors {
                    sink.record(Event::Hl7Error(*error));
                }
            }
            SessionEvent::Message(Err(error)) => sink.record(Event::Hl7Error(error)),
            SessionEvent::AckRtt(rtt) => sink.record(Event::Hl7AckRtt(rtt)),
        }
    }
}
