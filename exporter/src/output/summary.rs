//! Totals over a capture: what `--summary json` prints. A [`Sink`] of the pipeline's events.

use std::collections::BTreeMap;

use foldhash::HashMap;
use serde::{Serialize, Serializer};

use crate::decode::fragments::FragmentResult;
use crate::decode::packet::{DecodeError, Protocol};
use crate::flows::table::EvictReason;
use crate::hl7::message::{AckResult, Hl7Error, MessageKind};
use crate::ids::Rule;
use crate::pipeline::{Event, Sink};

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub packets: u64,
    /// Bytes on the wire (the original length, not the captured length).
    pub bytes: u64,
    /// Packets by protocol, for the frames that decoded.
    pub protocols: BTreeMap<Protocol, u64>,
    pub decode_errors: BTreeMap<DecodeError, u64>,
    /// Frames the snapshot length cut short (counted above, not analysed past their headers).
    pub snap_truncated: u64,
    pub ip_fragments: FragmentTotals,
    pub flows: FlowTotals,
    pub tcp: TcpTotals,
    pub hl7: Hl7Totals,
    /// Vital signs seen, by patient (PID-3) and vital key, printed sorted by both. Hash maps
    /// while counting: each message's patient and each of its observations are found with one
    /// hash and one comparison, not a string comparison per level of a tree.
    #[serde(serialize_with = "sorted_vitals")]
    pub vitals: HashMap<String, HashMap<&'static str, VitalTotals>>,
    pub ids: IdsTotals,
}

/// The vitals by patient and vital key, in the order of the keys.
fn sorted_vitals<S: Serializer>(
    vitals: &HashMap<String, HashMap<&'static str, VitalTotals>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&str, BTreeMap<&str, &VitalTotals>> = vitals
        .iter()
        .map(|(patient, vitals)| (patient.as_str(), vitals.iter().map(|(key, totals)| (*key, totals)).collect()))
        .collect();
    sorted.serialize(serializer)
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct IdsTotals {
    /// Alerts fired, by rule (a rule fires once per episode, however long it holds).
    pub alerts: BTreeMap<Rule, u64>,
    /// Inputs the rules did not look at because their tables were full.
    pub untracked: u64,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct FragmentTotals {
    /// IP fragments by what they did to their datagram.
    pub fragments: BTreeMap<FragmentResult, u64>,
    /// Datagrams given up because their fragments did not all come in time.
    pub expired_datagrams: u64,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowTotals {
    pub created: u64,
    pub evicted: BTreeMap<EvictReason, u64>,
    /// Packets of new flows that found the flow table full.
    pub overflow_packets: u64,
}

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct TcpTotals {
    pub handshakes: u64,
    pub resets: u64,
    pub retransmissions: u64,
    pub stream_gap_bytes: u64,
    /// Bytes dropped to keep all connections within `--max-held-stream-bytes`.
    pub stream_shed_bytes: u64,
    pub handshake_rtt_seconds: RttTotals,
}

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Hl7Totals {
    pub messages: BTreeMap<MessageKind, u64>,
    pub acks: BTreeMap<AckResult, u64>,
    pub errors: BTreeMap<Hl7Error, u64>,
    /// From a message to the ACK that names its control id.
    pub ack_rtt_seconds: RttTotals,
}

/// Count, mean and maximum of round-trip times.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct RttTotals {
    pub count: u64,
    pub sum: f64,
    pub max: f64,
}

impl RttTotals {
    fn add(&mut self, seconds: f64) {
        self.count += 1;
        self.sum += seconds;
        self.max = self.max.max(seconds);
    }
}

/// What was seen of one vital sign of one patient.
#[derive(Debug, PartialEq, Serialize)]
pub struct VitalTotals {
    pub samples: u64,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

impl Sink for Summary {
    fn record(&mut self, event: Event<'_>) {
        match event {
            Event::Packet { protocol, wire_len } => {
                self.packets += 1;
                self.bytes += u64::from(wire_len);
                if let Some(protocol) = protocol {
                    *self.protocols.entry(protocol).or_default() += 1;
                }
            }
            Event::DecodeError(error) => *self.decode_errors.entry(error).or_default() += 1,
            Event::SnapTruncated => self.snap_truncated += 1,
            Event::IpFragment(result) => *self.ip_fragments.fragments.entry(result).or_default() += 1,
            Event::IpFragmentsExpired(count) => self.ip_fragments.expired_datagrams += count,
            Event::FlowCreated => self.flows.created += 1,
            Event::FlowEvicted(reason) => *self.flows.evicted.entry(reason).or_default() += 1,
            Event::FlowOverflow => self.flows.overflow_packets += 1,
            Event::TcpHandshakeCompleted { .. } => self.tcp.handshakes += 1,
            Event::TcpHandshakeRtt(rtt) => self.tcp.handshake_rtt_seconds.add(rtt.as_secs_f64()),
            Event::TcpReset => self.tcp.resets += 1,
            Event::TcpRetransmission => self.tcp.retransmissions += 1,
            Event::TcpStreamGap(bytes) => self.tcp.stream_gap_bytes += bytes,
            Event::TcpStreamShed(bytes) => self.tcp.stream_shed_bytes += bytes,
            Event::Hl7Message { message, .. } => {
                *self.hl7.messages.entry(message.kind).or_default() += 1;
                if let Some(ack) = &message.ack {
                    *self.hl7.acks.entry(ack.result).or_default() += 1;
                }
                // A message's observations are of its one patient: the patient's series are
                // looked up once per message, not once per observation.
                if !message.observations.is_empty() {
                    let patient: &str = &message.patient;
                    // Looked up before inserting: a known patient's name is not copied again.
                    let vitals = match self.vitals.get_mut(patient) {
                        Some(vitals) => vitals,
                        None => self.vitals.entry(patient.to_owned()).or_default(),
                    };
                    for observation in &message.observations {
                        let value = observation.value;
                        vitals
                            .entry(observation.vital.key)
                            .and_modify(|t| {
                                t.samples += 1;
                                t.last = value;
                                t.min = t.min.min(value);
                                t.max = t.max.max(value);
                            })
                            .or_insert(VitalTotals {
                                samples: 1,
                                last: value,
                                min: value,
                                max: value,
                                unit: observation.vital.ucum,
                            });
                    }
                }
            }
            Event::Hl7Error(error) => *self.hl7.errors.entry(error).or_default() += 1,
            Event::Hl7AckRtt(rtt) => self.hl7.ack_rtt_seconds.add(rtt.as_secs_f64()),
            Event::AlertFired(alert) => *self.ids.alerts.entry(alert.rule).or_default() += 1,
            Event::IdsUntracked(count) => self.ids.untracked += count,
            Event::FlowStarted(_)
            | Event::FlowBytes { .. }
            | Event::DeviceTraffic { .. }
            | Event::TcpSyn { .. }
            | Event::Arp { .. }
            | Event::AlertCleared(_)
            | Event::Anomaly(_)
            // What HL7 frames mean comes as the events an `Hl7Reader` makes of them.
            | Event::Hl7Frame { .. }
            | Event::ConnectionClosed(_) => {}
        }
    }

    /// The summary counts packets, not who talks to whom.
    fn wants_traffic(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::decode::packet::LinkType;
    use crate::decode::packet::tests::{tcp_frame, udp_fragment, udp6_frame};
    use crate::hl7::session::SessionConfig;
    use crate::pipeline::{Pipeline, PipelineConfig};
    use crate::testing::{Conversation, Flags, ack, oru};
    use wardwatch_clinical::mllp;

    fn summarize(frames: &[Vec<u8>], config: PipelineConfig) -> Summary {
        let mut pipeline = Pipeline::new(config);
        let mut summary = Summary::default();
        let mut at = Duration::from_secs(1_790_000_000);
        for frame in frames {
            pipeline.process(at, LinkType::Ethernet, frame, frame.len() as u32, &mut summary);
            at += Duration::from_millis(2);
        }
        pipeline.finish(at, &mut summary);
        summary
    }

    #[test]
    fn counts_packets_bytes_protocols_and_errors() {
        let tcp = tcp_frame(b"MSH|");
        let frames = [tcp.clone(), udp6_frame(b"x"), tcp[..10].to_vec()];
        let summary = summarize(&frames, PipelineConfig::default());
        assert_eq!(summary.packets, 3);
        assert_eq!(summary.bytes, frames.iter().map(|f| f.len() as u64).sum::<u64>());
        assert_eq!(summary.protocols, BTreeMap::from([(Protocol::Tcp, 1), (Protocol::Udp, 1)]));
        assert_eq!(summary.decode_errors, BTreeMap::from([(DecodeError::Truncated, 1)]));
        assert_eq!(summary.flows.created, 2);
    }

    #[test]
    fn the_fragment_completing_a_datagram_counts_as_its_transport_the_others_as_other_ip() {
        let mut datagram = vec![0x13, 0x88, 0x17, 0x70, 0, 0, 0, 0];
        datagram.extend([b'x'; 40]);
        let frames = [
            udp_fragment(1, 16, true, &datagram[16..32]),
            udp_fragment(1, 32, false, &datagram[32..]),
            udp_fragment(1, 0, true, &datagram[..16]),
            udp_fragment(2, 0, true, &datagram[..16]),
        ];
        let summary = summarize(&frames, PipelineConfig::default());
        assert_eq!(summary.protocols, BTreeMap::from([(Protocol::Udp, 1), (Protocol::OtherIp, 3)]));
        let fragments = BTreeMap::from([(FragmentResult::Pending, 3), (FragmentResult::Reassembled, 1)]);
        assert_eq!(summary.ip_fragments.fragments, fragments);

        // Datagram 2 never completes: it is given up once its time is over.
        let config = PipelineConfig {
            fragments: crate::decode::fragments::FragmentConfig { max_datagrams: 1, timeout: Duration::from_millis(1) },
            ..PipelineConfig::default()
        };
        let mut pipeline = Pipeline::new(config);
        let mut summary = Summary::default();
        let start = Duration::from_secs(1_790_000_000);
        pipeline.process(start, LinkType::Ethernet, &frames[3], frames[3].len() as u32, &mut summary);
        pipeline.process(start, LinkType::Ethernet, &frames[0], frames[0].len() as u32, &mut summary);
        assert_eq!(summary.ip_fragments.fragments[&FragmentResult::Untracked], 1, "the table holds one datagram");
        pipeline.expire(start + Duration::from_secs(1), &mut summary);
        assert_eq!(summary.ip_fragments.expired_datagrams, 1);
    }

    /// Two ORU messages and their ACKs, the ORUs cut into segments.
    struct SplitSession {
        /// The handshake.
        before: Vec<Vec<u8>>,
        /// The ORU data segments.
        data: Vec<Vec<u8>>,
        /// The ACKs and the close.
        after: Vec<Vec<u8>>,
    }

    fn hl7_session(segment_len: usize) -> SplitSession {
        let mut conversation = Conversation::default();
        let before = conversation.handshake();
        let mut stream = mllp::frame(oru("P-1001", "MSG1", &[("spo2", 88.5), ("heart_rate", 112.0)]).as_bytes());
        stream.extend(mllp::frame(oru("P-1001", "MSG2", &[("spo2", 91.0), ("temperature", 38.2)]).as_bytes()));
        let data: Vec<Vec<u8>> = stream.chunks(segment_len).map(|c| conversation.client(Flags::Ack, c)).collect();
        let after = vec![
            conversation.server(Flags::Ack, &mllp::frame(ack("A1", "MSG1", "AA").as_bytes())),
            conversation.server(Flags::Ack, &mllp::frame(ack("A2", "MSG2", "AA").as_bytes())),
            conversation.client(Flags::Fin, b""),
            conversation.server(Flags::Fin, b""),
        ];
        SplitSession { before, data, after }
    }

    /// Patients and their vitals are printed in the order of their names, as a tree map would.
    #[test]
    fn vitals_are_printed_sorted() {
        let mut summary = Summary::default();
        for (patient, vitals) in
            [("P-2", ["spo2", "heart_rate"]), ("P-10", ["temperature", "etco2"]), ("A", ["wbc", "fio2"])]
        {
            let totals = || VitalTotals { samples: 1, last: 1.0, min: 1.0, max: 1.0, unit: "%" };
            summary.vitals.insert(patient.to_owned(), vitals.iter().map(|key| (*key, totals())).collect());
        }
        let json = serde_json::to_string(&summary).unwrap();
        let at = |needle: &str| json.find(needle).unwrap_or_else(|| panic!("{needle} in {json}"));
        assert!(at("\"A\"") < at("\"P-10\"") && at("\"P-10\"") < at("\"P-2\""), "{json}");
        assert!(at("\"fio2\"") < at("\"wbc\"") && at("\"heart_rate\"") < at("\"spo2\""), "{json}");
        assert!(at("\"etco2\"") < at("\"temperature\""), "{json}");
    }

    fn assert_vitals_as_sent(summary: &Summary) {
        let patient = &summary.vitals["P-1001"];
        let mut keys: Vec<&str> = patient.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, ["heart_rate", "spo2", "temperature"]);
        assert_eq!(
            (patient["spo2"].samples, patient["spo2"].last, patient["spo2"].min, patient["spo2"].max),
            (2, 91.0, 88.5, 91.0)
        );
        assert_eq!((patient["heart_rate"].last, patient["heart_rate"].unit), (112.0, "/min"));
        assert_eq!((patient["temperature"].last, patient["temperature"].unit), (38.2, "Cel"));
        assert_eq!(summary.hl7.messages[&MessageKind::OruR01], 2);
        assert_eq!(summary.hl7.messages[&MessageKind::Ack], 2);
        assert_eq!(summary.hl7.acks[&AckResult::Accepted], 2);
        assert_eq!(summary.hl7.ack_rtt_seconds.count, 2, "each ORU matched with its ACK");
    }

    #[test]
    fn vitals_from_an_in_order_session() {
        let SplitSession { before, data, after } = hl7_session(100);
        let frames: Vec<_> = before.into_iter().chain(data).chain(after).collect();
        let summary = summarize(&frames, PipelineConfig::default());
        assert_vitals_as_sent(&summary);
        assert_eq!(summary.tcp.handshakes, 1);
        assert_eq!(summary.tcp.handshake_rtt_seconds.count, 1);
        assert!((summary.tcp.handshake_rtt_seconds.max - 0.002).abs() < 1e-9, "SYN to SYN/ACK is one frame apart");
        assert_eq!(summary.tcp.retransmissions, 0);
        assert!(summary.hl7.errors.is_empty(), "{:?}", summary.hl7.errors);
        assert_eq!(summary.flows.created, 1);
    }

    #[test]
    fn vitals_from_segments_in_reverse_order() {
        let SplitSession { before, mut data, after } = hl7_session(60);
        data.reverse();
        let frames: Vec<_> = before.into_iter().chain(data).chain(after).collect();
        let summary = summarize(&frames, PipelineConfig::default());
        assert_vitals_as_sent(&summary);
        assert_eq!(summary.tcp.retransmissions, 0, "reordering is not retransmission");
    }

    #[test]
    fn vitals_from_duplicated_segments_count_once() {
        let SplitSession { before, data, after } = hl7_session(80);
        let duplicated: Vec<_> = data.iter().flat_map(|f| [f.clone(), f.clone()]).collect();
        let frames: Vec<_> = before.into_iter().chain(duplicated).chain(after).collect();
        let summary = summarize(&frames, PipelineConfig::default());
        assert_vitals_as_sent(&summary);
        assert_eq!(summary.tcp.retransmissions, data.len() as u64);
    }

    #[test]
    fn a_gap_loses_its_message_and_the_stream_recovers() {
        let mut conversation = Conversation::default();
        let mut frames = conversation.handshake();
        let first = mllp::frame(oru("P-1001", "MSG1", &[("spo2", 80.0)]).as_bytes());
        let (head, tail) = first.split_at(first.len() / 2);
        frames.push(conversation.client(Flags::Ack, head));
        let _lost = conversation.client(Flags::Ack, &tail[..10]);
        frames.push(conversation.client(Flags::Ack, &tail[10..]));
        let second = mllp::frame(oru("P-1001", "MSG2", &[("spo2", 95.0)]).as_bytes());
        frames.push(conversation.client(Flags::Ack, &second));
        let config = PipelineConfig {
            session: SessionConfig { max_pending_bytes: second.len(), ..SessionConfig::default() },
            ..PipelineConfig::default()
        };
        let summary = summarize(&frames, config);
        assert_eq!(summary.tcp.stream_gap_bytes, 10);
        assert_eq!(summary.hl7.errors, BTreeMap::from([(Hl7Error::StreamGap, 1)]));
        let spo2 = &summary.vitals["P-1001"]["spo2"];
        assert_eq!((spo2.samples, spo2.last), (1, 95.0), "only the message after the gap");
    }

    #[test]
    fn unparseable_hl7_is_counted_not_fatal() {
        let mut conversation = Conversation::default();
        let mut frames = conversation.handshake();
        let mut stream = mllp::frame(b"MSH|^~\\&|x\rpid|lower case\r");
        stream.extend(mllp::frame(oru("", "MSG3", &[("spo2", 97.0)]).as_bytes()));
        stream.extend(mllp::frame(oru("P-2", "MSG4", &[("spo2", 97.0)]).as_bytes()));
        stream.extend(mllp::frame(oru("P-3", "MSG5", &[("spo2", 0.96)]).replace("|%^%^UCUM", "|cd").as_bytes()));
        frames.push(conversation.client(Flags::Ack, &stream));
        let summary = summarize(&frames, PipelineConfig::default());
        assert_eq!(summary.hl7.errors, BTreeMap::from([(Hl7Error::BadSegmentName, 1), (Hl7Error::UnitMismatch, 1)]));
        assert_eq!(summary.vitals["P-2"]["spo2"].last, 97.0);
        // Without a patient identifier, the bed of PV1-3 names the series.
        assert_eq!(summary.vitals["bed:icu-east/7"]["spo2"].last, 97.0);
        assert!(!summary.vitals.contains_key("P-3"), "an unknown unit is not guessed");
    }

    #[test]
    fn a_refused_connection_is_a_reset_not_a_handshake() {
        let mut conversation = Conversation::default();
        let frames = vec![conversation.client(Flags::Syn, b""), conversation.server(Flags::Rst, b"")];
        let summary = summarize(&frames, PipelineConfig::default());
        assert_eq!((summary.tcp.resets, summary.tcp.handshakes), (1, 0));
    }

    #[test]
    fn traffic_that_is_not_mllp_is_left_alone() {
        let mut conversation = Conversation::default();
        let mut frames = conversation.handshake();
        for _ in 0..10 {
            frames.push(conversation.client(Flags::Ack, &[0x16; 1000]));
        }
        let summary = summarize(&frames, PipelineConfig::default());
        assert!(summary.hl7.messages.is_empty() && summary.hl7.errors.is_empty());
        assert_eq!(summary.protocols[&Protocol::Tcp], 13);
    }
}
