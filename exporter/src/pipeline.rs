//! The pure packet pipeline: frame -> decode -> flow table -> TCP session -> HL7 -> vitals, with
//! the intrusion rules ([`crate::ids`]) fed from the same events. It keeps no counters of its
//! own; everything it learns goes to a [`Sink`] as an [`Event`] (the offline summary, the
//! Prometheus metrics and the alert output are sinks).

use std::net::IpAddr;
use std::time::Duration;

use crate::decode::fragments::{FragmentConfig, FragmentResult, FragmentTable};
use crate::decode::packet::{ArpSender, DecodeError, Endpoints, LinkType, Packet, Protocol, TcpSegment, decode};
use crate::flows::table::{Direction, EvictReason, FlowConfig, FlowStart, FlowTable, Observed};
use crate::hl7::message::{Hl7Error, Hl7Message};
use crate::hl7::reader::{Hl7Reader, Interpreting};
use crate::hl7::session::{SessionConfig, SessionEvent, SessionScratch, TcpSession};
use crate::ids::config::PeerClass;
use crate::ids::{Alert, AlertChange, Ids, IdsConfig, Rule};

/// Everything the pipeline reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event<'a> {
    /// A frame; `protocol` is `None` when it did not decode (a [`Event::DecodeError`] follows).
    Packet {
        protocol: Option<Protocol>,
        wire_len: u32,
    },
    DecodeError(DecodeError),
    /// Follows the [`Event::Packet`] of an IP fragment: what it did to its datagram.
    IpFragment(FragmentResult),
    /// Datagrams given up because their fragments did not all come in time.
    IpFragmentsExpired(u64),
    /// A frame the snapshot length cut short; counted, but not analysed past its headers.
    SnapTruncated,
    FlowCreated,
    /// Follows [`Event::FlowCreated`]: who opened the flow to what.
    FlowStarted(FlowStart),
    /// Wire bytes of one packet of a tracked flow; `from_client` says whether `src` opened the
    /// flow, `None` when the capture began after the flow did (nobody is known to have opened it).
    FlowBytes {
        at: Duration,
        src: IpAddr,
        dst: IpAddr,
        from_client: Option<bool>,
        wire_len: u32,
    },
    /// Follows [`Event::FlowBytes`] when one side is known to be the device: the packet as the
    /// device's traffic, sent (`outbound`) to `peer` or received from it.
    DeviceTraffic {
        at: Duration,
        peer: IpAddr,
        outbound: bool,
        peer_class: PeerClass,
        wire_len: u32,
    },
    FlowEvicted(EvictReason),
    /// A packet of a new flow found the flow table full.
    FlowOverflow,
    /// A SYN without ACK (every one, retransmissions included, tracked flow or not).
    TcpSyn {
        at: Duration,
        client: IpAddr,
        server: IpAddr,
        server_port: u16,
    },
    TcpHandshakeCompleted {
        at: Duration,
        client: IpAddr,
        server: IpAddr,
    },
    TcpHandshakeRtt(Duration),
    TcpReset,
    TcpRetransmission,
    /// Bytes of a TCP stream that were never captured.
    TcpStreamGap(u64),
    /// Bytes a connection held (out of order, or of an unfinished frame) and dropped because
    /// all connections together held more than the budget.
    TcpStreamShed(u64),
    /// The bytes of an HL7 message a TCP connection carried, its MLLP frame completed at `at`,
    /// not yet interpreted: a pipeline that reads HL7 itself turns each into the
    /// [`Event::Hl7AckRtt`], [`Event::Hl7Message`] and [`Event::Hl7Error`]s it means before its
    /// sink sees it; one made with [`Pipeline::deferring_hl7`] hands it on for an
    /// [`Hl7Reader`] elsewhere.
    Hl7Frame {
        connection: ConnectionId,
        direction: Direction,
        at: Duration,
        bytes: &'a [u8],
    },
    /// A connection that carried TCP left the flow table: its messages will not be answered.
    ConnectionClosed(ConnectionId),
    /// A message that parsed, seen at the given packet time.
    Hl7Message {
        message: &'a Hl7Message<'a>,
        at: Duration,
    },
    Hl7Error(Hl7Error),
    Hl7AckRtt(Duration),
    /// An ARP packet's sender (IPv4 over Ethernet).
    Arp {
        at: Duration,
        sender: ArpSender,
    },
    /// An intrusion rule started to fire.
    AlertFired(&'a Alert),
    /// An intrusion rule's condition no longer holds.
    AlertCleared(Rule),
    /// Inputs the intrusion rules did not look at because their tables were full.
    IdsUntracked(u64),
    /// An anomaly model's score crossed the threshold (reported by
    /// [`crate::anomaly::live::AnomalySink`], never by the pipeline itself).
    Anomaly(&'a crate::anomaly::live::AnomalyAlert),
}

/// One TCP connection's number, unique within a pipeline: the flow table may track the same
/// addresses and ports again after a connection was evicted, as another connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

/// Where events go.
pub trait Sink {
    fn record(&mut self, event: Event<'_>);

    /// Whether the sink looks at each packet's traffic ([`Event::FlowBytes`] and
    /// [`Event::DeviceTraffic`]): when it does not (a summary, the alert lines), a pipeline
    /// neither works out which device a packet is traffic of nor hands either event over.
    fn wants_traffic(&self) -> bool {
        true
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn record(&mut self, event: Event<'_>) {
        (**self).record(event);
    }

    fn wants_traffic(&self) -> bool {
        (**self).wants_traffic()
    }
}

/// Both sinks get every event (for example metrics and a summary).
impl<A: Sink, B: Sink> Sink for (A, B) {
    fn record(&mut self, event: Event<'_>) {
        self.0.record(event);
        self.1.record(event);
    }

    fn wants_traffic(&self) -> bool {
        self.0.wants_traffic() || self.1.wants_traffic()
    }
}

/// How often (in packet time) the flow table is swept for expired flows.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineConfig {
    pub flows: FlowConfig,
    pub session: SessionConfig,
    pub ids: IdsConfig,
    pub fragments: FragmentConfig,
}

/// What the pipeline keeps with each flow.
#[derive(Debug, Default)]
struct FlowState {
    /// The direction from the side that opened the flow; none for a TCP flow first seen
    /// mid-stream, whose opener the capture missed.
    client: Option<Direction>,
    /// Made at the flow's first TCP segment: a UDP flow carries none.
    connection: Option<Box<Connection>>,
}

/// A TCP flow's number and HL7 session.
#[derive(Debug)]
struct Connection {
    id: ConnectionId,
    session: TcpSession,
}

/// The pipeline's state: the live flows, their TCP sessions, and the intrusion rules.
pub struct Pipeline {
    session_config: SessionConfig,
    flows: FlowTable<FlowState>,
    fragments: FragmentTable,
    ids: Ids,
    last_sweep: Option<Duration>,
    /// What all TCP sessions hold for later, kept up to date at each segment and eviction
    /// (`TcpSession::held_bytes` summed over the table).
    held_bytes: usize,
    /// What the sessions reuse from message to message.
    scratch: SessionScratch,
    /// The number the next TCP connection gets.
    next_connection: u64,
    /// Reads the HL7 the sessions deframe; `None` when that is left to the sink
    /// ([`Pipeline::deferring_hl7`]).
    hl7: Option<Hl7Reader>,
}

/// Passes every event to the sink and to the intrusion rules, and tells the sink which
/// device's traffic each packet is (when it wants to know).
struct Tee<'p, S> {
    ids: &'p mut Ids,
    sink: &'p mut S,
    /// The sink's [`Sink::wants_traffic`], asked once per packet.
    wants_traffic: bool,
}

impl<S: Sink> Sink for Tee<'_, S> {
    fn record(&mut self, event: Event<'_>) {
        if self.wants_traffic || !matches!(event, Event::FlowBytes { .. }) {
            self.sink.record(event);
        }
        match event {
            Event::FlowStarted(start) => self.ids.on_flow_start(&start),
            Event::FlowBytes { at, src, dst, from_client, wire_len } => {
                self.ids.on_bytes(at, src, dst, from_client.unwrap_or(false), u64::from(wire_len));
                if !self.wants_traffic {
                    return;
                }
                let config = self.ids.config();
                if let Some(outbound) = config.device_direction(src, dst, from_client) {
                    let peer = if outbound { dst } else { src };
                    let peer_class = config.peer_class(peer);
                    self.sink.record(Event::DeviceTraffic { at, peer, outbound, peer_class, wire_len });
                }
            }
            Event::TcpSyn { at, client, server, server_port } => self.ids.on_syn(at, client, server, server_port),
            Event::TcpHandshakeCompleted { client, server, .. } => self.ids.on_handshake_completed(client, server),
            Event::Arp { at, sender } => self.ids.on_arp(at, sender),
            _ => {}
        }
    }
}

impl Pipeline {
    /// A pipeline that reads the HL7 messages it deframes: its sink sees what they say.
    pub fn new(config: PipelineConfig) -> Self {
        let hl7 = Some(Hl7Reader::new(config.session.max_awaiting_acks));
        Self { hl7, ..Self::deferring_hl7(config) }
    }

    /// A pipeline that hands its sink the HL7 messages it deframes as [`Event::Hl7Frame`]s
    /// and leaves reading them to an [`Hl7Reader`] of the sink's (on another thread, say).
    pub fn deferring_hl7(config: PipelineConfig) -> Self {
        Self {
            session_config: config.session,
            flows: FlowTable::new(config.flows),
            fragments: FragmentTable::new(config.fragments),
            ids: Ids::new(config.ids),
            last_sweep: None,
            held_bytes: 0,
            scratch: SessionScratch::default(),
            next_connection: 0,
            hl7: None,
        }
    }

    /// The intrusion rules' state.
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// What all TCP sessions hold for later (see [`SessionConfig::max_held_bytes_total`]).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Takes one frame captured at `at` (capture time), `wire_len` bytes long on the wire.
    pub fn process(&mut self, at: Duration, link: LinkType, frame: &[u8], wire_len: u32, sink: &mut impl Sink) {
        if self.last_sweep.is_none_or(|last| at.saturating_sub(last) >= SWEEP_INTERVAL) {
            self.expire(at, sink);
        }
        self.ids.advance(at);
        let sink = &mut Interpreting { reader: self.hl7.as_mut(), inner: sink };
        let wants_traffic = sink.wants_traffic();
        let mut tee = Tee { ids: &mut self.ids, sink: &mut *sink, wants_traffic };
        let tables = (&mut self.flows, &mut self.fragments);
        let Some((flow, direction, segment)) = track(tables, at, link, frame, wire_len, &mut tee) else {
            report_alerts(&mut self.ids, sink);
            return;
        };
        if let Some(segment) = segment {
            let next_connection = &mut self.next_connection;
            let connection = flow.state.connection.get_or_insert_with(|| {
                *next_connection += 1;
                Box::new(Connection { id: ConnectionId(*next_connection), session: TcpSession::default() })
            });
            let (id, session) = (connection.id, &mut connection.session);
            let held_before = session.held_bytes();
            session.on_segment(&self.session_config, &mut self.scratch, direction, &segment, &mut |event| {
                report(event, id, direction, at, &mut tee)
            });
            self.held_bytes = self.held_bytes.saturating_sub(held_before) + session.held_bytes();
            if self.held_bytes > self.session_config.max_held_bytes_total {
                // The connection that crossed the budget pays for it: a sender cannot make
                // the exporter drop other connections' data by holding back its own.
                let shed = session.shed(&self.session_config);
                self.held_bytes -= shed;
                tee.record(Event::TcpStreamShed(shed as u64));
            }
        }
        report_alerts(&mut self.ids, sink);
    }

    /// Evicts the flows idle or too old at `now` (packet time, or the wall clock when a live
    /// capture is quiet) and delivers what their streams still held.
    pub fn expire(&mut self, now: Duration, sink: &mut impl Sink) {
        self.last_sweep = Some(now);
        let sink = &mut Interpreting { reader: self.hl7.as_mut(), inner: sink };
        for (mut flow, reason) in self.flows.expire(now) {
            if let Some(Connection { id, session }) = flow.state.connection.as_deref_mut() {
                self.held_bytes = self.held_bytes.saturating_sub(session.held_bytes());
                session.finish(&self.session_config, &mut self.scratch, &mut |direction, event| {
                    report(event, *id, direction, now, sink)
                });
                sink.record(Event::ConnectionClosed(*id));
            }
            sink.record(Event::FlowEvicted(reason));
        }
        let expired = self.fragments.expire(now);
        if expired > 0 {
            sink.record(Event::IpFragmentsExpired(expired as u64));
        }
        // A quiet live capture still lets windows end, so alerts clear without traffic.
        self.ids.advance(now);
        report_alerts(&mut self.ids, sink);
    }

    /// The capture is over: delivers what every live stream still held. Flows stay in the table
    /// (they did not time out), so their counts are not reported as evictions.
    pub fn finish(&mut self, at: Duration, sink: &mut impl Sink) {
        let sink = &mut Interpreting { reader: self.hl7.as_mut(), inner: sink };
        let (config, held, scratch) = (&self.session_config, &mut self.held_bytes, &mut self.scratch);
        self.flows.for_each_state(|state| {
            if let Some(Connection { id, session }) = state.connection.as_deref_mut() {
                let held_before = session.held_bytes();
                session.finish(config, scratch, &mut |direction, event| report(event, *id, direction, at, sink));
                *held = held.saturating_sub(held_before) + session.held_bytes();
            }
        });
    }
}

/// Who opened a new flow, judged from its first packet: the sender of a UDP or ICMP packet or
/// of a TCP SYN; the receiver of a SYN-ACK (its SYN went by before the capture started). A TCP
/// flow first seen mid-stream (the capture started late, or the flow table re-made the flow
/// after its active timeout) has no known opener, so none: taking the first sender for the
/// client would make a server's answer (a kubelet probe's reply, say) look like the server
/// contacting the prober's ephemeral port.
fn flow_start(at: Duration, packet: &Packet<'_>, endpoints: &Endpoints) -> Option<FlowStart> {
    let from_sender = FlowStart {
        at,
        protocol: packet.protocol,
        client: endpoints.src,
        server: endpoints.dst,
        server_port: endpoints.dst_port,
    };
    if packet.protocol != Protocol::Tcp {
        return Some(from_sender);
    }
    let flags = packet.tcp.as_ref()?.flags;
    match (flags.syn, flags.ack) {
        (true, false) => Some(from_sender),
        (true, true) => Some(FlowStart {
            client: endpoints.dst,
            server: endpoints.src,
            server_port: endpoints.src_port,
            ..from_sender
        }),
        _ => None,
    }
}

/// Decodes one frame and accounts it in the flow table, reporting what it shows; hands back its
/// flow, direction and (for TCP, unless cut short) segment for the session to read.
fn track<'f, 'b>(
    (flows, fragments): (&'f mut FlowTable<FlowState>, &mut FragmentTable),
    at: Duration,
    link: LinkType,
    frame: &'b [u8],
    wire_len: u32,
    sink: &mut impl Sink,
) -> Option<(&'f mut crate::flows::table::Flow<FlowState>, Direction, Option<TcpSegment<'b>>)> {
    let mut packet = match decode(link, frame, wire_len) {
        Ok(packet) => packet,
        Err(error) => {
            sink.record(Event::Packet { protocol: None, wire_len });
            sink.record(Event::DecodeError(error));
            return None;
        }
    };
    let fragment_result = reassemble(fragments, at, &mut packet);
    sink.record(Event::Packet { protocol: Some(packet.protocol), wire_len });
    if let Some(result) = fragment_result {
        sink.record(Event::IpFragment(result));
    }
    if packet.snap_truncated {
        sink.record(Event::SnapTruncated);
    }
    if let Some(sender) = packet.arp {
        sink.record(Event::Arp { at, sender });
    }
    // A cut frame's headers count, but its payload is incomplete: sequence ranges and
    // reassembly would see holes that were never on the wire, so TCP analysis skips it.
    let segment = packet.tcp.filter(|_| !packet.snap_truncated);
    let endpoints = packet.endpoints?;
    if let Some(tcp) = &packet.tcp
        && tcp.flags.syn
        && !tcp.flags.ack
    {
        sink.record(Event::TcpSyn {
            at,
            client: endpoints.src,
            server: endpoints.dst,
            server_port: endpoints.dst_port,
        });
    }
    let observed = flows.observe(at, packet.protocol, &endpoints, wire_len, segment.as_ref());
    let Observed::Tracked { flow, direction, created, tcp } = observed else {
        sink.record(Event::FlowOverflow);
        return None;
    };
    if created {
        sink.record(Event::FlowCreated);
        if let Some(start) = flow_start(at, &packet, &endpoints) {
            // The first packet came from the client unless it is the server's SYN-ACK.
            flow.state.client = Some(if start.client == endpoints.src { direction } else { direction.reverse() });
            sink.record(Event::FlowStarted(start));
        }
    }
    let from_client = flow.state.client.map(|client| client == direction);
    sink.record(Event::FlowBytes { at, src: endpoints.src, dst: endpoints.dst, from_client, wire_len });
    if segment.is_some() {
        if tcp.handshake_completed {
            // The segment completing the handshake is the client's final ACK.
            sink.record(Event::TcpHandshakeCompleted { at, client: endpoints.src, server: endpoints.dst });
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
    }
    Some((flow, direction, segment))
}

/// Passes an IP fragment to the fragment table. The fragment that completes its datagram takes
/// the datagram's protocol and its first fragment's ports; the others stay `other_ip`.
fn reassemble(fragments: &mut FragmentTable, at: Duration, packet: &mut Packet<'_>) -> Option<FragmentResult> {
    let (fragment, endpoints) = (packet.fragment.as_ref()?, packet.endpoints.as_mut()?);
    let (result, datagram) = fragments.observe(at, endpoints.src, endpoints.dst, fragment);
    if let Some(datagram) = datagram {
        packet.protocol = datagram.protocol();
        (endpoints.src_port, endpoints.dst_port) = datagram.ports.unwrap_or_default();
    }
    Some(result)
}

/// Hands the intrusion rules' news to the sink.
fn report_alerts(ids: &mut Ids, sink: &mut impl Sink) {
    let untracked = ids.take_untracked();
    if untracked > 0 {
        sink.record(Event::IdsUntracked(untracked));
    }
    for change in ids.drain_changes() {
        match change {
            AlertChange::Fired(alert) => sink.record(Event::AlertFired(&alert)),
            AlertChange::Cleared { rule, .. } => sink.record(Event::AlertCleared(rule)),
        }
    }
}

/// Hands what a TCP session yielded in `direction` of `connection` at `at` to the sink.
fn report(event: SessionEvent<'_>, connection: ConnectionId, direction: Direction, at: Duration, sink: &mut impl Sink) {
    match event {
        SessionEvent::StreamGap(bytes) => sink.record(Event::TcpStreamGap(bytes)),
        SessionEvent::Message(bytes) => sink.record(Event::Hl7Frame { connection, direction, at, bytes }),
        SessionEvent::Unreadable(error) => sink.record(Event::Hl7Error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::table::Flow;

    /// The flow table holds up to 100,000 flows within the exporter's 64 MiB: the TCP state and
    /// session live behind boxes, so a flow without them stays small.
    #[test]
    fn a_flow_without_tcp_state_stays_small() {
        let size = size_of::<Flow<FlowState>>();
        assert!(size <= 160, "a flow takes {size} bytes");
        assert_eq!(size_of::<Option<Flow<FlowState>>>(), size, "a free place costs no more than a flow");
    }

    /// What the sessions in the table hold, counted afresh.
    fn held_in_table(pipeline: &mut Pipeline) -> usize {
        let mut held = 0;
        pipeline.flows.for_each_state(|state| held += state.connection.as_ref().map_or(0, |c| c.session.held_bytes()));
        held
    }

    #[test]
    fn connections_that_hold_back_data_stay_within_the_budget_for_all() {
        use crate::hl7::message::MessageKind;
        use crate::output::summary::Summary;
        use crate::testing::{Conversation, Flags, oru};
        use wardwatch_clinical::mllp;

        let budget = 64 * 1024;
        let config = PipelineConfig {
            session: SessionConfig { max_held_bytes_total: budget, ..SessionConfig::default() },
            ..PipelineConfig::default()
        };
        let mut pipeline = Pipeline::new(config);
        let mut summary = Summary::default();
        let mut at = Duration::from_secs(1_790_000_000);
        let mut process = |pipeline: &mut Pipeline, summary: &mut Summary, frame: &[u8]| {
            pipeline.process(at, LinkType::Ethernet, frame, frame.len() as u32, summary);
            at += Duration::from_millis(1);
        };
        // Twenty connections each open an MLLP frame and never end it (8 KiB held each), then
        // send 4 KiB beyond a hole (held out of order), against a budget of 64 KiB.
        let unfinished = [&[mllp::START_BLOCK][..], b"MSH|^~\\&|", &[b'x'; 8 * 1024]].concat();
        let mut conversations = Vec::new();
        for port in 0..20 {
            let mut conversation = Conversation::between(([10, 0, 0, 2], 41_000 + port), ([10, 0, 0, 1], 2575));
            for frame in conversation.handshake() {
                process(&mut pipeline, &mut summary, &frame);
            }
            process(&mut pipeline, &mut summary, &conversation.client(Flags::Ack, &unfinished));
            conversation.client_seq += 100;
            process(&mut pipeline, &mut summary, &conversation.client(Flags::Ack, &[b'y'; 4 * 1024]));
            assert_eq!(pipeline.held_bytes(), held_in_table(&mut pipeline), "the running total is exact");
            assert!(pipeline.held_bytes() <= budget, "{} bytes held", pipeline.held_bytes());
            conversations.push(conversation);
        }
        // The unfinished frames alone are 160 KiB, of which at most the budget is still held.
        let shed = summary.tcp.stream_shed_bytes as usize;
        assert!(shed >= 20 * 8 * 1024 - budget, "shed {shed} bytes");
        // A connection that shed reads its next whole message: the rest of the frame it was
        // in (more than the 4 KiB looked at to recognise MLLP) is passed over, not misread.
        let last = conversations.last_mut().unwrap();
        process(&mut pipeline, &mut summary, &last.client(Flags::Ack, &[b'z'; 6 * 1024]));
        let message = mllp::frame(oru("P1", "C1", &[("spo2", 97.0)]).as_bytes());
        process(&mut pipeline, &mut summary, &last.client(Flags::Ack, &message));
        assert_eq!(summary.hl7.messages.get(&MessageKind::OruR01), Some(&1));
        assert_eq!(summary.hl7.errors.len(), 0, "{:?}", summary.hl7.errors);
        // Evictions give the budget back.
        pipeline.expire(at + Duration::from_secs(3600), &mut summary);
        assert_eq!(pipeline.held_bytes(), 0);
        assert_eq!(held_in_table(&mut pipeline), 0);
    }

    /// Every event a sink saw, as text; `wants_traffic` as told.
    struct Transcript {
        events: Vec<String>,
        wants_traffic: bool,
    }

    impl Sink for Transcript {
        fn record(&mut self, event: Event<'_>) {
            self.events.push(format!("{event:?}"));
        }

        fn wants_traffic(&self) -> bool {
            self.wants_traffic
        }
    }

    #[test]
    fn a_sink_that_does_not_want_traffic_sees_everything_else() {
        use crate::testing::hl7_session;
        // No device addresses: the side that opens a flow is the device.
        let config = PipelineConfig::default();
        let frames = hl7_session(&[("P-1", "M1", &[("spo2", 97.0)]), ("P-1", "M2", &[("spo2", 96.0)])]);
        let mut transcripts = [true, false].map(|wants_traffic| {
            let mut transcript = Transcript { events: Vec::new(), wants_traffic };
            let mut pipeline = Pipeline::new(config.clone());
            for (i, frame) in frames.iter().enumerate() {
                let at = Duration::from_secs(1_790_000_000) + Duration::from_millis(i as u64);
                pipeline.process(at, LinkType::Ethernet, frame, frame.len() as u32, &mut transcript);
            }
            transcript.events
        });
        let traffic = |event: &String| event.starts_with("FlowBytes") || event.starts_with("DeviceTraffic");
        assert!(transcripts[0].iter().any(|e| e.starts_with("DeviceTraffic")), "{:?}", transcripts[0]);
        transcripts[0].retain(|event| !traffic(event));
        assert!(transcripts[0].iter().any(|e| e.starts_with("Hl7Message")));
        assert_eq!(transcripts[1], transcripts[0]);
    }
}
