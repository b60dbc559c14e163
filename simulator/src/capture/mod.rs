//! Labelled captures without a network: N device twins talking to the gateway, synthesised
//! straight into pcap frames (Ethernet, IPv4, TCP with real handshakes, MLLP-framed ORU^R01
//! and the gateway's ACKs) together with the ground truth. The exporter's test and benchmark
//! input. Generation is pure and deterministic for a seed; only `write_files` touches disk.

pub mod labels;
pub mod pcap_file;
pub mod tcp_session;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use wardwatch_clinical::mllp;

use crate::gateway::verdict::{self, AckHeader};
use crate::oru::{self, hl7_timestamp};
use crate::patient::Patient;
use crate::scenario::{Episode, Timeline};
use labels::{Address, DeviceLabels, EpisodeLabel, Labels, ReadingLabel, ip_string, mac_string};
use pcap_file::PcapWriter;
use tcp_session::{Endpoint, Frame, ROUND_TRIP_US, TcpSession};

/// What to capture.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    pub devices: u32,
    pub duration_s: f64,
    pub interval_s: f64,
    /// The episode every device plays (each with its own patient seed).
    pub episode: Episode,
    pub seed: u64,
    /// Unix time of the start of the capture.
    pub start_unix_s: u64,
    pub gateway_port: u16,
    pub hospital_id: String,
    pub ward: String,
    /// The gateway's application name.
    pub receiver: String,
}

/// A capture in memory: frames in time order and their labels.
pub struct Capture {
    pub frames: Vec<Frame>,
    pub labels: Labels,
}

const GATEWAY_MAC: [u8; 6] = [0x02, 0x57, 0x57, 0xff, 0xff, 0xfe];
const GATEWAY_IP: [u8; 4] = [10, 20, 0, 1];
/// Devices are numbered from 1 and placed after a few addresses kept for infrastructure.
const FIRST_DEVICE_HOST: u32 = 10;
/// A new connection is opened this long before the reading it carries.
const CONNECT_LEAD_US: u64 = 2_000;

impl CaptureConfig {
    fn validate(&self) -> Result<()> {
        if self.devices == 0 || self.devices > 60_000 {
            bail!("--devices must be between 1 and 60000, not {}", self.devices);
        }
        if !self.interval_s.is_finite() || self.interval_s < 0.01 {
            bail!("--interval must be at least 0.01 s, not {}", self.interval_s);
        }
        if !self.duration_s.is_finite() || self.duration_s <= 0.0 {
            bail!("--duration must be positive, not {}", self.duration_s);
        }
        Ok(())
    }
}

/// The twin behind device `index` (0-based).
struct DeviceTwin {
    context: oru::Context,
    endpoint: Endpoint,
    seed: u64,
}

fn device_twin(config: &CaptureConfig, index: u32) -> DeviceTwin {
    let number = index + 1;
    let host = FIRST_DEVICE_HOST + index;
    let [_, _, hi, lo] = host.to_be_bytes();
    let [_, _, n_hi, n_lo] = number.to_be_bytes();
    DeviceTwin {
        context: oru::Context {
            device_id: format!("monitor-{number:03}"),
            hospital_id: config.hospital_id.clone(),
            receiver: config.receiver.clone(),
            patient_id: format!("P-{number:05}"),
            bed: number.to_string(),
            ward: config.ward.clone(),
        },
        endpoint: Endpoint { mac: [0x02, 0x57, 0x57, 0x00, n_hi, n_lo], ip: [10, 20, hi, lo], port: 0 },
        seed: device_seed(config.seed, index),
    }
}

/// Each device's own seed, spread so that neighbouring devices are unrelated.
pub fn device_seed(seed: u64, index: u32) -> u64 {
    splitmix64(seed ^ u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// SplitMix64's output function: a cheap, well-mixed hash of a 64-bit value.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Generates the whole capture in memory.
pub fn generate(config: &CaptureConfig) -> Result<Capture> {
    config.validate()?;
    let gateway = Endpoint { mac: GATEWAY_MAC, ip: GATEWAY_IP, port: config.gateway_port };
    let start_us = config.start_unix_s * 1_000_000;
    let interval_us = (config.interval_s * 1e6).round() as u64;
    let timeline = Timeline::of(config.episode);
    let mut frames = Vec::new();
    let mut devices = Vec::new();
    let mut messages = 0;
    for index in 0..config.devices {
        let twin = device_twin(config, index);
        // Stagger the devices across one interval, as monitors switched on at different times.
        let phase_us = interval_us * u64::from(index) / u64::from(config.devices);
        let mut patient = Patient::new(timeline.clone(), twin.seed);
        let mut session: Option<TcpSession> = None;
        let mut connections = 0u32;
        let mut readings = Vec::new();
        let mut last_us = start_us;
        for k in 1u64.. {
            let offset_us = phase_us + k * interval_us;
            if offset_us as f64 > config.duration_s * 1e6 {
                break;
            }
            let t_us = start_us + offset_us;
            let reading = patient.advance(config.interval_s);
            let time_unix_s = t_us as f64 / 1e6;
            let Some(vitals) = reading.reported else {
                if let Some(mut open) = session.take() {
                    frames.extend(open.close(t_us));
                }
                readings.push(ReadingLabel {
                    time_unix_s,
                    scenario: reading.scenario,
                    control_id: None,
                    truth: reading.truth,
                    reported: None,
                });
                continue;
            };
            let open = session.get_or_insert_with(|| {
                let mut endpoint = twin.endpoint;
                endpoint.port = ephemeral_port(index, connections);
                let isn = |side: u64| splitmix64(twin.seed ^ (u64::from(connections) << 1) ^ side) as u32;
                let mut fresh = TcpSession::new(endpoint, gateway, isn(0), isn(1));
                connections += 1;
                frames.extend(fresh.open(t_us - CONNECT_LEAD_US));
                fresh
            });
            let control_id = k.to_string();
            let unix_s = (t_us / 1_000_000) as i64;
            let request = oru::build(&twin.context, &oru::observations(&vitals), unix_s, &control_id);
            let ack_id = format!("GW{messages}");
            let header = AckHeader { sender: &config.receiver, timestamp: &hl7_timestamp(unix_s), control_id: &ack_id };
            let answer = verdict::judge(request.as_bytes(), &header);
            let ack = answer.ack.context("the gateway answers every ORU the simulator builds")?;
            frames.extend(open.exchange(t_us, &mllp::frame(request.as_bytes()), &mllp::frame(ack.as_bytes())));
            messages += 1;
            last_us = t_us;
            readings.push(ReadingLabel {
                time_unix_s,
                scenario: reading.scenario,
                control_id: Some(control_id),
                truth: reading.truth,
                reported: Some(vitals),
            });
        }
        if let Some(mut open) = session.take() {
            frames.extend(open.close(last_us + 4 * ROUND_TRIP_US));
        }
        devices.push(DeviceLabels {
            device_id: twin.context.device_id,
            patient_id: twin.context.patient_id,
            bed: twin.context.bed,
            ward: twin.context.ward,
            hospital_id: twin.context.hospital_id,
            mac: mac_string(twin.endpoint.mac),
            ip: ip_string(twin.endpoint.ip),
            seed: twin.seed,
            episodes: timeline.episodes.iter().map(|e| EpisodeLabel::new(e, config.start_unix_s)).collect(),
            readings,
        });
    }
    // Stable: frames of one device keep their order when timestamps tie.
    frames.sort_by_key(|f| f.timestamp_us);
    let labels = Labels {
        format: labels::FORMAT,
        seed: config.seed,
        scenario: config.episode.scenario,
        start_unix_s: config.start_unix_s,
        duration_s: config.duration_s,
        interval_s: config.interval_s,
        gateway: Address { mac: mac_string(GATEWAY_MAC), ip: ip_string(GATEWAY_IP), port: config.gateway_port },
        packets: frames.len() as u64,
        messages,
        devices,
    };
    Ok(Capture { frames, labels })
}

/// Source port of a device's `connection`-th connection: in the Linux ephemeral range, distinct
/// for a device's successive connections.
fn ephemeral_port(device: u32, connection: u32) -> u16 {
    const FIRST: u32 = 32_768;
    const COUNT: u32 = 60_999 - FIRST + 1;
    (FIRST + (device.wrapping_mul(64).wrapping_add(connection)) % COUNT) as u16
}

/// Where the labels of `pcap` go: `F.pcap` -> `F.labels.json`.
pub fn labels_path(pcap: &Path) -> PathBuf {
    pcap.with_extension("labels.json")
}

/// Generates the capture and writes `pcap` and its labels file.
pub fn write_files(config: &CaptureConfig, pcap: &Path) -> Result<Labels> {
    let capture = generate(config)?;
    let file = File::create(pcap).with_context(|| format!("creating {}", pcap.display()))?;
    let mut writer = PcapWriter::new(BufWriter::new(file))?;
    for frame in &capture.frames {
        writer.write_packet(frame.timestamp_us, &frame.bytes)?;
    }
    writer.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let labels_file = labels_path(pcap);
    let mut out =
        BufWriter::new(File::create(&labels_file).with_context(|| format!("creating {}", labels_file.display()))?);
    serde_json::to_writer(&mut out, &capture.labels)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(capture.labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physiology::Vital;
    use crate::scenario::Scenario;
    use etherparse::{SlicedPacket, TransportSlice};
    use wardwatch_clinical::hl7::Message;
    use wardwatch_clinical::mllp::{Decoder, Event};

    fn config(devices: u32, scenario: Scenario) -> CaptureConfig {
        CaptureConfig {
            devices,
            duration_s: 60.0,
            interval_s: 1.0,
            episode: Episode { scenario, onset_s: 10.0, ramp_s: 5.0, plateau_s: 20.0, recovery_s: 5.0 },
            seed: 9,
            start_unix_s: 1_795_305_600,
            gateway_port: 2575,
            hospital_id: "st-mary".into(),
            ward: "icu-east".into(),
            receiver: "WARDWATCH".into(),
        }
    }

    /// The MLLP messages each direction carried, reassembled from the TCP payloads in order.
    fn messages(frames: &[Frame], port: u16) -> (Vec<Message>, Vec<Message>) {
        let mut to_gateway = std::collections::HashMap::new();
        let mut from_gateway = std::collections::HashMap::new();
        let (mut requests, mut answers, mut events) = (Vec::new(), Vec::new(), Vec::new());
        for frame in frames {
            let packet = SlicedPacket::from_ethernet(&frame.bytes).unwrap();
            let Some(TransportSlice::Tcp(tcp)) = packet.transport else { panic!("not TCP") };
            let (decoders, out, key) = if tcp.destination_port() == port {
                (&mut to_gateway, &mut requests, tcp.source_port())
            } else {
                (&mut from_gateway, &mut answers, tcp.destination_port())
            };
            decoders.entry(key).or_insert_with(|| Decoder::new(1 << 20)).push(tcp.payload(), &mut events);
            for event in events.drain(..) {
                let Event::Message(bytes) = event else { panic!("{event:?}") };
                out.push(Message::parse(&bytes).unwrap());
            }
        }
        (requests, answers)
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(&config(3, Scenario::Hypoxia)).unwrap().frames;
        assert_eq!(a, generate(&config(3, Scenario::Hypoxia)).unwrap().frames);
        let mut other = config(3, Scenario::Hypoxia);
        other.seed = 10;
        assert_ne!(a, generate(&other).unwrap().frames);
    }

    #[test]
    fn packet_counts_follow_connections_and_messages() {
        let capture = generate(&config(4, Scenario::Stable)).unwrap();
        // Each device: handshake (3), one reading per second (request, ACK, client ACK), close (3).
        let readings: usize = capture.labels.devices.iter().map(|d| d.readings.len()).sum();
        assert_eq!(capture.labels.messages as usize, readings);
        assert_eq!(capture.frames.len(), 4 * 6 + 3 * readings);
        assert_eq!(capture.labels.packets as usize, capture.frames.len());
        assert!(capture.frames.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us));
    }

    #[test]
    fn a_disconnect_closes_and_reopens_the_connection() {
        let capture = generate(&config(1, Scenario::Disconnect)).unwrap();
        let device = &capture.labels.devices[0];
        let silent = device.readings.iter().filter(|r| r.reported.is_none()).count();
        assert_eq!(silent, 30, "onset 10 s to end 40 s");
        let sent = device.readings.len() - silent;
        assert_eq!(capture.frames.len(), 2 * 6 + 3 * sent);
        let syns = capture
            .frames
            .iter()
            .filter(|f| matches!(SlicedPacket::from_ethernet(&f.bytes).unwrap().transport, Some(TransportSlice::Tcp(t)) if t.syn() && !t.ack()))
            .count();
        assert_eq!(syns, 2);
    }

    #[test]
    fn the_wire_carries_what_the_labels_report_and_every_message_is_accepted() {
        let capture = generate(&config(2, Scenario::Hypoxia)).unwrap();
        let (requests, answers) = messages(&capture.frames, 2575);
        assert_eq!(requests.len() as u64, capture.labels.messages);
        assert_eq!(answers.len(), requests.len());
        assert!(answers.iter().all(|a| a.segment("MSA").unwrap().field(1) == "AA"));
        for device in &capture.labels.devices {
            let sent: Vec<_> = requests
                .iter()
                .filter(|m| m.segment("MSH").unwrap().field(3) == device.device_id)
                .map(|m| {
                    (
                        m.control_id(),
                        m.segments_named("OBX").map(|o| o.field(5).parse::<f64>().unwrap()).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let labelled: Vec<_> = device
                .readings
                .iter()
                .filter_map(|r| Some((r.control_id.clone()?, r.reported?.iter().map(|(_, v)| v).collect::<Vec<_>>())))
                .collect();
            assert_eq!(sent, labelled, "{}", device.device_id);
        }
        let plateau = &capture.labels.devices[0].episodes[0];
        let low = capture.labels.devices[0]
            .readings
            .iter()
            .filter(|r| {
                r.time_unix_s > plateau.plateau_start_unix_s + 10.0 && r.time_unix_s < plateau.plateau_end_unix_s
            })
            .all(|r| r.truth.get(Vital::Spo2) < 93.0);
        assert!(low, "a short hypoxia episode still desaturates");
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut bad = config(0, Scenario::Stable);
        assert!(generate(&bad).is_err());
        bad.devices = 1;
        bad.interval_s = 0.0;
        assert!(generate(&bad).is_err());
    }

    #[test]
    fn labels_sit_next_to_the_capture() {
        assert_eq!(labels_path(Path::new("/tmp/ward.pcap")), Path::new("/tmp/ward.labels.json"));
    }
}
