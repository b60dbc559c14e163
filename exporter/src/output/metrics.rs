//! The exporter's Prometheus metrics, in a registry of their own, and [`MetricsSink`], which turns
//! pipeline events into them. Every label takes values from a fixed set, except `patient`, whose
//! values are bounded by [`MetricsSink`] (a device reports one patient at a time).

use super::top_talkers::TopTalkers;
use crate::ids::config::PeerClass;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use anyhow::Result;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};
use wardwatch_clinical::VITAL_SIGNS;

use crate::decode::fragments::FragmentResult;
use crate::decode::packet::{DecodeError, Protocol};
use crate::flows::table::EvictReason;
use crate::hl7::message::{AckResult, Hl7Error, MessageKind};
use crate::ids::Rule;
use crate::output::alerts::DeliveryResult;
use crate::pipeline::{Event, Sink};

pub const PROTOCOLS: [Option<Protocol>; 8] = [
    Some(Protocol::Tcp),
    Some(Protocol::Udp),
    Some(Protocol::Icmp),
    Some(Protocol::Icmpv6),
    Some(Protocol::Arp),
    Some(Protocol::OtherIp),
    Some(Protocol::OtherLink),
    None,
];

/// The `protocol` label value; `undecoded` for frames that did not decode.
pub fn protocol_label(protocol: Option<Protocol>) -> &'static str {
    match protocol {
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Icmp) => "icmp",
        Some(Protocol::Icmpv6) => "icmpv6",
        Some(Protocol::Arp) => "arp",
        Some(Protocol::OtherIp) => "other_ip",
        Some(Protocol::OtherLink) => "other_link",
        None => "undecoded",
    }
}

/// `protocol`'s place in [`PROTOCOLS`].
fn protocol_index(protocol: Option<Protocol>) -> usize {
    match protocol {
        Some(Protocol::Tcp) => 0,
        Some(Protocol::Udp) => 1,
        Some(Protocol::Icmp) => 2,
        Some(Protocol::Icmpv6) => 3,
        Some(Protocol::Arp) => 4,
        Some(Protocol::OtherIp) => 5,
        Some(Protocol::OtherLink) => 6,
        None => 7,
    }
}

pub fn decode_error_label(error: DecodeError) -> &'static str {
    match error {
        DecodeError::Truncated => "truncated",
        DecodeError::Malformed => "malformed",
        DecodeError::UnsupportedLinkType => "unsupported_link_type",
    }
}

/// The `result` label of `wardwatch_hl7_messages_total`: the ACK's result for acknowledgements,
/// `parsed` for every other message that parsed.
fn hl7_result_label(ack: Option<AckResult>) -> &'static str {
    ack.map_or("parsed", AckResult::as_str)
}

/// Cumulative libpcap statistics (`pcap_stats`), as the capture handle reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub received: u32,
    /// Dropped by the kernel for lack of buffer space.
    pub dropped: u32,
    /// Dropped by the interface or its driver.
    pub if_dropped: u32,
}

impl CaptureStats {
    /// What happened since `earlier`; libpcap's counters are 32 bits and wrap.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            received: self.received.wrapping_sub(earlier.received),
            dropped: self.dropped.wrapping_sub(earlier.dropped),
            if_dropped: self.if_dropped.wrapping_sub(earlier.if_dropped),
        }
    }
}

/// Histogram buckets for round-trip times: 100 µs to about 6.5 s, four times apart.
fn rtt_buckets() -> Vec<f64> {
    exponential_buckets(0.0001, 4.0, 9).expect("valid bucket parameters")
}

pub struct Metrics {
    registry: Registry,
    packets: IntCounterVec,
    bytes: IntCounterVec,
    decode_errors: IntCounterVec,
    snap_truncated: IntCounter,
    ip_fragments: IntCounterVec,
    ip_fragments_expired: IntCounter,
    flows_active: IntGauge,
    flows_created: IntCounter,
    flows_evicted: IntCounterVec,
    flow_overflow: IntCounter,
    tcp_handshakes: IntCounter,
    tcp_resets: IntCounter,
    tcp_retransmissions: IntCounter,
    tcp_stream_gap_bytes: IntCounter,
    tcp_stream_shed_bytes: IntCounter,
    tcp_handshake_rtt: Histogram,
    hl7_messages: IntCounterVec,
    hl7_errors: IntCounterVec,
    hl7_ack_rtt: Histogram,
    hl7_last_message: Gauge,
    hl7_expected_interval: Gauge,
    vital_observations: IntCounterVec,
    /// When each patient's each vital sign was last observed (packet time), so rules can tell
    /// a fresh value from one a silent device left behind.
    vital_observed: GaugeVec,
    /// One gauge family per vital sign, by its metric name, labelled by patient.
    vitals: HashMap<&'static str, GaugeVec>,
    capture_open: IntGauge,
    ids_alerts: IntCounterVec,
    ids_alert_active: IntGaugeVec,
    ids_untracked: IntCounter,
    alert_deliveries: IntCounterVec,
    capture_received: IntCounter,
    capture_dropped: IntCounterVec,
    device_traffic_bytes: IntCounterVec,
    device_traffic_packets: IntCounterVec,
    top_talker_bytes: GaugeVec,
    anomaly_enabled: IntGauge,
    anomaly_training_window: Gauge,
    anomaly_retrain_interval: Gauge,
}

impl Metrics {
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| -> Result<IntCounter> {
            let metric = IntCounter::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let counter_vec = |name: &str, help: &str, label: &[&str]| -> Result<IntCounterVec> {
            let metric = IntCounterVec::new(Opts::new(name, help), label)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let int_gauge = |name: &str, help: &str| -> Result<IntGauge> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let histogram = |name: &str, help: &str| -> Result<Histogram> {
            let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(rtt_buckets()))?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let mut vitals = HashMap::new();
        for vital in VITAL_SIGNS {
            let help = format!("Last {} (LOINC {}, {}) reported over HL7", vital.loinc_name, vital.loinc, vital.ucum);
            let gauge = GaugeVec::new(Opts::new(vital.metric, help), &["patient"])?;
            registry.register(Box::new(gauge.clone()))?;
            vitals.insert(vital.metric, gauge);
        }
        let hl7_last_message = Gauge::new(
            "wardwatch_hl7_last_message_timestamp_seconds",
            "Capture time of the last HL7 message that parsed (Unix seconds)",
        )?;
        registry.register(Box::new(hl7_last_message.clone()))?;
        let hl7_expected_interval = Gauge::new(
            "wardwatch_hl7_expected_report_interval_seconds",
            "Seconds between two HL7 reports the device is configured to send (0: none expected); \
             device-health rules call a device silent after several of them",
        )?;
        registry.register(Box::new(hl7_expected_interval.clone()))?;
        let gauge = |name: &str, help: &str| -> Result<Gauge> {
            let metric = Gauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let vital_observed = GaugeVec::new(
            Opts::new(
                "wardwatch_vital_observed_timestamp_seconds",
                "Capture time of the last observation of each vital sign, per patient (Unix seconds)",
            ),
            &["patient", "vital"],
        )?;
        registry.register(Box::new(vital_observed.clone()))?;
        let top_talker_bytes = GaugeVec::new(
            Opts::new(
                "wardwatch_top_talker_bytes",
                "Bytes exchanged with each of the device's top 5 peers in the last complete minute with traffic",
            ),
            &["rank", "peer"],
        )?;
        registry.register(Box::new(top_talker_bytes.clone()))?;
        let metrics = Self {
            device_traffic_bytes: counter_vec(
                "wardwatch_device_traffic_bytes_total",
                "Wire bytes the device sent (out) and received (in), by kind of peer",
                &["direction", "peer_class"],
            )?,
            device_traffic_packets: counter_vec(
                "wardwatch_device_traffic_packets_total",
                "Packets the device sent (out) and received (in), by kind of peer",
                &["direction", "peer_class"],
            )?,
            top_talker_bytes,
            packets: counter_vec("wardwatch_packets_total", "Frames captured, by protocol", &["protocol"])?,
            bytes: counter_vec("wardwatch_bytes_total", "Bytes on the wire of the frames captured", &["protocol"])?,
            decode_errors: counter_vec(
                "wardwatch_decode_errors_total",
                "Frames that could not be decoded, by reason",
                &["reason"],
            )?,
            snap_truncated: counter(
                "wardwatch_snaplen_truncated_packets_total",
                "Frames the capture's snapshot length cut short (headers decoded, payload not analysed)",
            )?,
            ip_fragments: counter_vec(
                "wardwatch_ip_fragments_total",
                "IP fragments, by what they did to their datagram (pending, reassembled, untracked)",
                &["result"],
            )?,
            ip_fragments_expired: counter(
                "wardwatch_ip_fragment_datagrams_expired_total",
                "Fragmented IP datagrams given up because their fragments did not all come in time",
            )?,
            flows_active: int_gauge("wardwatch_flows_active", "Flows in the flow table")?,
            flows_created: counter("wardwatch_flows_created_total", "Flows that entered the flow table")?,
            flows_evicted: counter_vec(
                "wardwatch_flows_evicted_total",
                "Flows that left the flow table, by timeout (idle, active)",
                &["reason"],
            )?,
            flow_overflow: counter(
                "wardwatch_flow_table_overflow_packets_total",
                "Packets of new flows not tracked because the flow table was full",
            )?,
            tcp_handshakes: counter("wardwatch_tcp_handshakes_total", "TCP three-way handshakes completed")?,
            tcp_resets: counter("wardwatch_tcp_resets_total", "TCP connections reset (first RST of each)")?,
            tcp_retransmissions: counter(
                "wardwatch_tcp_retransmitted_segments_total",
                "TCP segments whose sequence range had been seen before",
            )?,
            tcp_stream_gap_bytes: counter(
                "wardwatch_tcp_stream_gap_bytes_total",
                "Bytes of TCP streams skipped during reassembly because they were never captured",
            )?,
            tcp_stream_shed_bytes: counter(
                "wardwatch_tcp_stream_shed_bytes_total",
                "Bytes TCP connections held (out of order or of unfinished HL7 frames) and dropped to stay within the exporter's budget for all connections",
            )?,
            tcp_handshake_rtt: histogram("wardwatch_tcp_handshake_rtt_seconds", "Time from SYN to SYN/ACK")?,
            hl7_messages: counter_vec(
                "wardwatch_hl7_messages_total",
                "HL7 messages that parsed, by type (oru_r01, ack, other) and result (parsed, or the ACK's)",
                &["type", "result"],
            )?,
            hl7_errors: counter_vec(
                "wardwatch_hl7_parse_errors_total",
                "HL7 messages or observations that could not be used, by reason",
                &["reason"],
            )?,
            hl7_ack_rtt: histogram(
                "wardwatch_hl7_ack_rtt_seconds",
                "Time from an HL7 message to the ACK naming its control id",
            )?,
            hl7_last_message,
            hl7_expected_interval,
            vital_observed,
            vital_observations: counter_vec(
                "wardwatch_vital_observations_total",
                "Vital-sign values decoded from HL7 OBX segments, by vital",
                &["vital"],
            )?,
            vitals,
            capture_open: int_gauge("wardwatch_capture_open", "1 while the packet capture is open")?,
            ids_alerts: counter_vec(
                "wardwatch_ids_alerts_total",
                "Intrusion alerts fired, by rule and severity (once per episode)",
                &["rule", "severity"],
            )?,
            ids_alert_active: {
                let gauge = IntGaugeVec::new(
                    Opts::new("wardwatch_ids_alert_active", "1 while an intrusion rule's condition holds, by rule"),
                    &["rule"],
                )?;
                registry.register(Box::new(gauge.clone()))?;
                gauge
            },
            ids_untracked: counter(
                "wardwatch_ids_untracked_inputs_total",
                "Inputs the intrusion rules did not look at because their bounded tables were full",
            )?,
            alert_deliveries: counter_vec(
                "wardwatch_alert_deliveries_total",
                "Alert POSTs to --alert-url, by result (sent, failed, dropped: the queue was full)",
                &["result"],
            )?,
            capture_received: counter(
                "wardwatch_capture_received_packets_total",
                "Packets the capture received (libpcap ps_recv)",
            )?,
            capture_dropped: counter_vec(
                "wardwatch_capture_dropped_packets_total",
                "Packets dropped before the exporter saw them: kernel (ps_drop), interface (ps_ifdrop)",
                &["reason"],
            )?,
            anomaly_enabled: int_gauge(
                "wardwatch_anomaly_enabled",
                "1 when the ward asks for anomaly scores on this device's traffic and its patients' vital signs",
            )?,
            anomaly_training_window: gauge(
                "wardwatch_anomaly_training_window_seconds",
                "The traffic history the ward's anomaly model is to be trained on",
            )?,
            anomaly_retrain_interval: gauge(
                "wardwatch_anomaly_retrain_interval_seconds",
                "How often the ward's anomaly model is to be retrained",
            )?,
            registry,
        };
        metrics.initialise_label_values();
        Ok(metrics)
    }

    /// Creates every series of the fixed label sets at zero, so that rates and absent() work
    /// from the first scrape.
    fn initialise_label_values(&self) {
        for protocol in PROTOCOLS {
            self.packets.with_label_values(&[protocol_label(protocol)]);
            self.bytes.with_label_values(&[protocol_label(protocol)]);
        }
        for error in [DecodeError::Truncated, DecodeError::Malformed, DecodeError::UnsupportedLinkType] {
            self.decode_errors.with_label_values(&[decode_error_label(error)]);
        }
        for result in [FragmentResult::Pending, FragmentResult::Reassembled, FragmentResult::Untracked] {
            self.ip_fragments.with_label_values(&[result.as_str()]);
        }
        for reason in [EvictReason::Idle, EvictReason::Active] {
            self.flows_evicted.with_label_values(&[reason.as_str()]);
        }
        for error in Hl7Error::ALL {
            self.hl7_errors.with_label_values(&[error.as_str()]);
        }
        for kind in MessageKind::ALL {
            let usual = if kind == MessageKind::Ack { Some(AckResult::Accepted) } else { None };
            self.hl7_messages.with_label_values(&[kind.as_str(), hl7_result_label(usual)]);
        }
        for vital in VITAL_SIGNS {
            self.vital_observations.with_label_values(&[vital.key]);
        }
        for reason in ["kernel", "interface"] {
            self.capture_dropped.with_label_values(&[reason]);
        }
        for rule in Rule::ALL {
            self.ids_alerts.with_label_values(&[rule.as_str(), rule.severity().as_str()]);
            self.ids_alert_active.with_label_values(&[rule.as_str()]);
        }
        for result in DeliveryResult::ALL {
            self.alert_deliveries.with_label_values(&[result.as_str()]);
        }
    }

    /// Counts one alert POST's outcome.
    pub fn record_alert_delivery(&self, result: DeliveryResult) {
        self.alert_deliveries.with_label_values(&[result.as_str()]).inc();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        wardwatch_serve::encode(&self.registry)
    }

    /// The device's configured report interval (0 when it sends no HL7 on a schedule).
    pub fn set_expected_report_interval(&self, seconds: f64) {
        self.hl7_expected_interval.set(seconds);
    }

    /// The ward's anomaly-detection settings, as configured.
    pub fn set_anomaly_settings(&self, enabled: bool, training_window: Duration, retrain_interval: Duration) {
        self.anomaly_enabled.set(i64::from(enabled));
        self.anomaly_training_window.set(training_window.as_secs_f64());
        self.anomaly_retrain_interval.set(retrain_interval.as_secs_f64());
    }

    pub fn set_capture_open(&self, open: bool) {
        self.capture_open.set(i64::from(open));
    }

    pub fn set_active_flows(&self, flows: usize) {
        self.flows_active.set(i64::try_from(flows).unwrap_or(i64::MAX));
    }

    /// Adds what libpcap counted since the last call.
    pub fn add_capture_stats(&self, delta: CaptureStats) {
        self.capture_received.inc_by(u64::from(delta.received));
        self.capture_dropped.with_label_values(&["kernel"]).inc_by(u64::from(delta.dropped));
        self.capture_dropped.with_label_values(&["interface"]).inc_by(u64::from(delta.if_dropped));
    }
}

/// Records pipeline events in [`Metrics`], keeping vital-sign series for at most `max_patients`
/// patients: when another patient appears, the least recently reported one's series go.
pub struct MetricsSink<'m> {
    metrics: &'m Metrics,
    /// The packet and byte counters of each protocol, in [`PROTOCOLS`]' order, looked up once:
    /// a packet then costs two atomic additions instead of two label lookups in the registry.
    per_protocol: Vec<(IntCounter, IntCounter)>,
    max_patients: usize,
    /// Most recently reported last.
    patients: VecDeque<String>,
    /// The device traffic counters (packets, bytes), looked up once: by direction (out, in),
    /// then by peer class in [`PeerClass::ALL`]'s order.
    per_direction: [[(IntCounter, IntCounter); 3]; 2],
    top_talkers: TopTalkers,
}

impl<'m> MetricsSink<'m> {
    pub fn new(metrics: &'m Metrics, max_patients: usize) -> Self {
        let per_protocol = PROTOCOLS
            .iter()
            .map(|&protocol| {
                let label = [protocol_label(protocol)];
                (metrics.packets.with_label_values(&label), metrics.bytes.with_label_values(&label))
            })
            .collect();
        let per_direction = ["out", "in"].map(|direction| {
            PeerClass::ALL.map(|class| {
                let labels = [direction, class.as_str()];
                (
                    metrics.device_traffic_packets.with_label_values(&labels),
                    metrics.device_traffic_bytes.with_label_values(&labels),
                )
            })
        });
        Self {
            metrics,
            per_protocol,
            max_patients: max_patients.max(1),
            patients: VecDeque::new(),
            per_direction,
            top_talkers: TopTalkers::default(),
        }
    }

    fn touch_patient(&mut self, patient: &str) {
        if let Some(i) = self.patients.iter().position(|p| p == patient) {
            if let Some(p) = self.patients.remove(i) {
                self.patients.push_back(p);
            }
            return;
        }
        while self.patients.len() >= self.max_patients {
            let Some(gone) = self.patients.pop_front() else { break };
            for vital in VITAL_SIGNS {
                // Not every patient has every vital: a missing series is fine.
                if let Some(gauge) = self.metrics.vitals.get(vital.metric) {
                    let _ = gauge.remove_label_values(&[gone.as_str()]);
                }
                let _ = self.metrics.vital_observed.remove_label_values(&[gone.as_str(), vital.key]);
            }
        }
        self.patients.push_back(patient.to_owned());
    }
}

impl Sink for MetricsSink<'_> {
    fn record(&mut self, event: Event<'_>) {
        let m = self.metrics;
        match event {
            Event::Packet { protocol, wire_len } => {
                let (packets, bytes) = &self.per_protocol[protocol_index(protocol)];
                packets.inc();
                bytes.inc_by(u64::from(wire_len));
            }
            Event::DecodeError(error) => m.decode_errors.with_label_values(&[decode_error_label(error)]).inc(),
            Event::SnapTruncated => m.snap_truncated.inc(),
            Event::IpFragment(result) => m.ip_fragments.with_label_values(&[result.as_str()]).inc(),
            Event::IpFragmentsExpired(count) => m.ip_fragments_expired.inc_by(count),
            Event::FlowCreated => {
                m.flows_created.inc();
                m.flows_active.inc();
            }
            Event::FlowEvicted(reason) => {
                m.flows_evicted.with_label_values(&[reason.as_str()]).inc();
                m.flows_active.dec();
            }
            Event::FlowOverflow => m.flow_overflow.inc(),
            Event::TcpHandshakeCompleted { .. } => m.tcp_handshakes.inc(),
            Event::TcpHandshakeRtt(rtt) => m.tcp_handshake_rtt.observe(rtt.as_secs_f64()),
            Event::TcpReset => m.tcp_resets.inc(),
            Event::TcpRetransmission => m.tcp_retransmissions.inc(),
            Event::TcpStreamGap(bytes) => m.tcp_stream_gap_bytes.inc_by(bytes),
            Event::TcpStreamShed(bytes) => m.tcp_stream_shed_bytes.inc_by(bytes),
            Event::Hl7Message { message, at } => {
                let result = hl7_result_label(message.ack.as_ref().map(|ack| ack.result));
                m.hl7_messages.with_label_values(&[message.kind.as_str(), result]).inc();
                m.hl7_last_message.set(at.as_secs_f64());
                if !message.observations.is_empty() {
                    self.touch_patient(&message.patient);
                }
                for observation in &message.observations {
                    m.vital_observations.with_label_values(&[observation.vital.key]).inc();
                    if let Some(gauge) = m.vitals.get(observation.vital.metric) {
                        gauge.with_label_values(&[&*message.patient]).set(observation.value);
                    }
                    m.vital_observed
                        .with_label_values(&[&*message.patient, observation.vital.key])
                        .set(at.as_secs_f64());
                }
            }
            Event::Hl7Error(error) => m.hl7_errors.with_label_values(&[error.as_str()]).inc(),
            Event::Hl7AckRtt(rtt) => m.hl7_ack_rtt.observe(rtt.as_secs_f64()),
            Event::AlertFired(alert) => {
                m.ids_alerts.with_label_values(&[alert.rule.as_str(), alert.severity.as_str()]).inc();
                m.ids_alert_active.with_label_values(&[alert.rule.as_str()]).set(1);
            }
            Event::AlertCleared(rule) => m.ids_alert_active.with_label_values(&[rule.as_str()]).set(0),
            Event::IdsUntracked(count) => m.ids_untracked.inc_by(count),
            Event::DeviceTraffic { at, peer, outbound, peer_class, wire_len } => {
                let (packets, bytes) = &self.per_direction[usize::from(!outbound)][peer_class.index()];
                packets.inc();
                bytes.inc_by(u64::from(wire_len));
                if let Some(ranking) = self.top_talkers.add(at, peer, wire_len) {
                    m.top_talker_bytes.reset();
                    for (rank, (peer, bytes)) in ranking.iter().enumerate() {
                        let labels = [(rank + 1).to_string(), peer.to_string()];
                        m.top_talker_bytes
                            .with_label_values(&[labels[0].as_str(), labels[1].as_str()])
                            .set(*bytes as f64);
                    }
                }
            }
            // The anomaly sink keeps its own series (crate::anomaly::live).
            Event::FlowStarted(_)
            | Event::FlowBytes { .. }
            | Event::TcpSyn { .. }
            | Event::Arp { .. }
            | Event::Anomaly(_)
            // What HL7 frames mean comes as the events an `Hl7Reader` makes of them.
            | Event::Hl7Frame { .. }
            | Event::ConnectionClosed(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hl7::message::interpret;
    use crate::testing::oru;

    /// The value of the sample `series` (name with labels, as exposed) in `text`.
    pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn message_event(sink: &mut MetricsSink<'_>, patient: &str, spo2: f64) {
        let text = oru(patient, "M1", &[("spo2", spo2), ("heart_rate", 70.0)]);
        let message = interpret(text.as_bytes()).unwrap();
        sink.record(Event::Hl7Message { message: &message, at: Duration::from_secs(1_790_000_000) });
    }

    #[test]
    fn protocol_indexes_follow_the_protocol_list() {
        for (i, protocol) in PROTOCOLS.into_iter().enumerate() {
            assert_eq!(protocol_index(protocol), i, "{}", protocol_label(protocol));
        }
    }

    #[test]
    fn events_become_series_with_bounded_labels() {
        let metrics = Metrics::new().unwrap();
        let mut sink = MetricsSink::new(&metrics, 4);
        sink.record(Event::Packet { protocol: Some(Protocol::Tcp), wire_len: 100 });
        sink.record(Event::Packet { protocol: None, wire_len: 20 });
        sink.record(Event::DecodeError(DecodeError::Truncated));
        sink.record(Event::FlowCreated);
        sink.record(Event::TcpHandshakeRtt(Duration::from_millis(3)));
        message_event(&mut sink, "P-1", 88.5);
        let text = metrics.render();
        assert_eq!(sample(&text, r#"wardwatch_packets_total{protocol="tcp"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"wardwatch_bytes_total{protocol="tcp"}"#), Some(100.0));
        assert_eq!(sample(&text, r#"wardwatch_packets_total{protocol="undecoded"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"wardwatch_packets_total{protocol="udp"}"#), Some(0.0), "pre-initialised");
        assert_eq!(sample(&text, r#"wardwatch_decode_errors_total{reason="truncated"}"#), Some(1.0));
        assert_eq!(sample(&text, "wardwatch_flows_active"), Some(1.0));
        assert_eq!(sample(&text, "wardwatch_tcp_handshake_rtt_seconds_count"), Some(1.0));
        assert_eq!(sample(&text, r#"wardwatch_vital_spo2_percent{patient="P-1"}"#), Some(88.5));
        assert_eq!(sample(&text, r#"wardwatch_vital_heart_rate_beats_per_minute{patient="P-1"}"#), Some(70.0));
        assert_eq!(sample(&text, r#"wardwatch_hl7_messages_total{result="parsed",type="oru_r01"}"#), Some(1.0));
        assert_eq!(sample(&text, "wardwatch_hl7_last_message_timestamp_seconds"), Some(1_790_000_000.0));
        let observed = r#"wardwatch_vital_observed_timestamp_seconds{patient="P-1",vital="spo2"}"#;
        assert_eq!(sample(&text, observed), Some(1_790_000_000.0));
        assert_eq!(sample(&text, "wardwatch_hl7_expected_report_interval_seconds"), Some(0.0));
        metrics.set_expected_report_interval(5.0);
        let text = metrics.render();
        assert_eq!(sample(&text, "wardwatch_hl7_expected_report_interval_seconds"), Some(5.0));
    }

    #[test]
    fn the_devices_traffic_is_counted_by_direction_and_peer_class_with_its_top_talkers() {
        use crate::decode::packet::LinkType;
        use crate::pipeline::{Pipeline, PipelineConfig};
        use crate::testing::{Conversation, Flags, datagram};

        let mut config = PipelineConfig::default();
        config.ids.local_cidrs = "10.1.0.7".parse().unwrap();
        config.ids.allowed_cidrs = "10.1.0.0/24".parse().unwrap();
        let mut pipeline = Pipeline::new(config);
        let metrics = Metrics::new().unwrap();
        let mut sink = MetricsSink::new(&metrics, 4);
        let minute = 1_790_000_040;
        let mut feed = |at: u64, frame: Vec<u8>| {
            let len = frame.len() as u32;
            pipeline.process(Duration::from_secs(at), LinkType::Ethernet, &frame, len, &mut sink);
            len
        };
        // HL7 to the gateway (allowed), an upload outside, and a datagram from a peer to the device.
        let mut hl7 = Conversation::between(([10, 1, 0, 7], 40000), ([10, 1, 0, 2], 2575));
        let [syn, syn_ack, ack] = <[Vec<u8>; 3]>::try_from(hl7.handshake()).unwrap();
        let (out_allowed, in_allowed) = (feed(minute, syn) + feed(minute, ack), feed(minute, syn_ack));
        let upload = feed(minute + 1, datagram(([10, 1, 0, 7], 5000), ([203, 0, 113, 9], 443), &[7; 900]));
        let inbound = feed(minute + 2, datagram(([10, 1, 0, 66], 5000), ([10, 1, 0, 7], 9), b"x"));
        let late = feed(minute + 61, hl7.client(Flags::Ack, b"late"));

        let text = metrics.render();
        let traffic = |what: &str, direction: &str, class: &str| {
            sample(
                &text,
                &format!(r#"wardwatch_device_traffic_{what}_total{{direction="{direction}",peer_class="{class}"}}"#),
            )
        };
        assert_eq!(traffic("bytes", "out", "allowed"), Some(f64::from(out_allowed + late)));
        assert_eq!(traffic("packets", "out", "allowed"), Some(3.0));
        assert_eq!(traffic("bytes", "in", "allowed"), Some(f64::from(in_allowed + inbound)));
        assert_eq!(traffic("bytes", "out", "external"), Some(f64::from(upload)));
        assert_eq!(traffic("packets", "in", "external"), Some(0.0), "pre-initialised");
        // The first minute's ranking, published by the packet that closed it.
        let top = |rank: &str, peer: &str| {
            sample(&text, &format!(r#"wardwatch_top_talker_bytes{{peer="{peer}",rank="{rank}"}}"#))
        };
        assert_eq!(top("1", "203.0.113.9"), Some(f64::from(upload)));
        assert_eq!(top("2", "10.1.0.2"), Some(f64::from(out_allowed + in_allowed)));
        assert_eq!(top("3", "10.1.0.66"), Some(f64::from(inbound)));
        assert_eq!(text.matches("wardwatch_top_talker_bytes{").count(), 3);
    }

    #[test]
    fn every_series_name_has_the_prefix_and_the_total_stays_small() {
        let metrics = Metrics::new().unwrap();
        let mut sink = MetricsSink::new(&metrics, 4);
        for i in 0..20 {
            message_event(&mut sink, &format!("P-{i}"), 90.0);
        }
        let text = metrics.render();
        let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(series.iter().all(|l| l.starts_with("wardwatch_")), "{text}");
        assert!(series.len() <= 200, "{} series", series.len());
        let patients: Vec<&str> =
            series.iter().filter(|l| l.starts_with("wardwatch_vital_spo2_percent{")).copied().collect();
        assert_eq!(patients.len(), 4, "only the most recent patients keep series: {patients:?}");
        assert!(sample(&text, r#"wardwatch_vital_spo2_percent{patient="P-19"}"#).is_some());
        let observed = series.iter().filter(|l| l.starts_with("wardwatch_vital_observed_timestamp_seconds{")).count();
        assert_eq!(observed, 8, "two vitals of the four patients kept: {text}");
    }

    #[test]
    fn alerts_count_by_rule_and_severity_and_hold_a_gauge_while_active() {
        use crate::ids::{Alert, Rule, Severity};
        let metrics = Metrics::new().unwrap();
        let text = metrics.render();
        for rule in Rule::ALL {
            let counter = format!(
                r#"wardwatch_ids_alerts_total{{rule="{}",severity="{}"}}"#,
                rule.as_str(),
                rule.severity().as_str()
            );
            assert_eq!(sample(&text, &counter), Some(0.0), "pre-registered: {counter}");
            let gauge = format!(r#"wardwatch_ids_alert_active{{rule="{}"}}"#, rule.as_str());
            assert_eq!(sample(&text, &gauge), Some(0.0), "pre-registered: {gauge}");
        }
        let mut sink = MetricsSink::new(&metrics, 4);
        let alert = Alert {
            rule: Rule::SynFlood,
            severity: Severity::Critical,
            at: Duration::from_secs(1_790_000_000),
            description: "flood".into(),
        };
        sink.record(Event::AlertFired(&alert));
        sink.record(Event::IdsUntracked(3));
        let text = metrics.render();
        assert_eq!(sample(&text, r#"wardwatch_ids_alerts_total{rule="syn_flood",severity="critical"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"wardwatch_ids_alert_active{rule="syn_flood"}"#), Some(1.0));
        assert_eq!(sample(&text, "wardwatch_ids_untracked_inputs_total"), Some(3.0));
        sink.record(Event::AlertCleared(Rule::SynFlood));
        let text = metrics.render();
        assert_eq!(sample(&text, r#"wardwatch_ids_alert_active{rule="syn_flood"}"#), Some(0.0));
        assert_eq!(sample(&text, r#"wardwatch_ids_alerts_total{rule="syn_flood",severity="critical"}"#), Some(1.0));
    }

    #[test]
    fn anomaly_settings_are_exported_in_seconds() {
        let metrics = Metrics::new().unwrap();
        assert_eq!(sample(&metrics.render(), "wardwatch_anomaly_enabled"), Some(0.0));
        metrics.set_anomaly_settings(true, Duration::from_secs(600), Duration::from_secs(3600));
        let text = metrics.render();
        assert_eq!(sample(&text, "wardwatch_anomaly_enabled"), Some(1.0));
        assert_eq!(sample(&text, "wardwatch_anomaly_training_window_seconds"), Some(600.0));
        assert_eq!(sample(&text, "wardwatch_anomaly_retrain_interval_seconds"), Some(3600.0));
    }

    #[test]
    fn alert_deliveries_count_by_result_from_zero() {
        let metrics = Metrics::new().unwrap();
        metrics.record_alert_delivery(DeliveryResult::Failed);
        let text = metrics.render();
        assert_eq!(sample(&text, r#"wardwatch_alert_deliveries_total{result="failed"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"wardwatch_alert_deliveries_total{result="dropped"}"#), Some(0.0));
    }

    #[test]
    fn capture_stats_deltas_survive_counter_wrap() {
        let earlier = CaptureStats { received: u32::MAX - 1, dropped: 5, if_dropped: 0 };
        let now = CaptureStats { received: 3, dropped: 7, if_dropped: 1 };
        assert_eq!(now.since(earlier), CaptureStats { received: 5, dropped: 2, if_dropped: 1 });
        let metrics = Metrics::new().unwrap();
        metrics.add_capture_stats(now.since(earlier));
        let text = metrics.render();
        assert_eq!(sample(&text, "wardwatch_capture_received_packets_total"), Some(5.0));
        assert_eq!(sample(&text, r#"wardwatch_capture_dropped_packets_total{reason="kernel"}"#), Some(2.0));
    }
}
