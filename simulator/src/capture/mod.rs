//! Labelled captures without a network: N device twins on a ward network, synthesised straight
//! into pcap frames (Ethernet, IPv4, TCP with real handshakes, MLLP-framed ORU^R01 and the
//! gateway's ACKs; each device type's own traffic; the attacks of the network scenarios)
//! together with the ground truth. The exporter's test and benchmark input. Generation is pure
//! and deterministic for a seed; only `write_files` touches disk.

pub mod labels;
pub mod pcap_file;
pub mod plan;
pub mod ward;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use wardwatch_clinical::mllp;

use crate::device_type::DeviceType;
use crate::ecg::EcgGenerator;
use crate::gateway::verdict::{self, AckHeader};
use crate::hl7_profile::Hl7Profile;
use crate::oru::{self, Waveform, hl7_timestamp};
use crate::patient::Patient;
use crate::physiology::Vital;
use crate::scenario::{Episode, Timeline};
use crate::traffic::packet::{Endpoint, Frame};
use crate::traffic::tcp_session::{ROUND_TRIP_US, TcpSession};
use crate::traffic::{self, Host, Window, attack, background, hosts};
use labels::{Address, AttackLabel, DeviceLabels, EpisodeLabel, Labels, ReadingLabel, ip_string, mac_string};
use pcap_file::PcapWriter;
use plan::{CaptureScenario, PlanConfig};

/// What to capture.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    pub devices: u32,
    pub duration_s: f64,
    pub interval_s: f64,
    /// What the capture shows; a clinical scenario is played by every patient as `episode`, and
    /// `ward` gives each patient a scenario of its own (see `ward`).
    pub scenario: CaptureScenario,
    /// The episode's shape (each `ward` patient's too); its onset is also when a single network
    /// scenario's attack starts.
    pub episode: Episode,
    /// Every device's type, if fixed (see `plan::PlanConfig::device_type`).
    pub device_type: Option<DeviceType>,
    /// The address every attack aims at; each scenario has its own default.
    pub attack_target: Option<Ipv4Addr>,
    pub attack_duration_s: f64,
    /// Whether bedside monitors' ORUs carry each interval's ECG strip.
    pub ecg: bool,
    pub seed: u64,
    /// Unix time of the start of the capture.
    pub start_unix_s: u64,
    pub gateway_port: u16,
    pub hospital_id: String,
    pub ward: String,
    /// The gateway's application name.
    pub receiver: String,
    /// How every device codes its observations.
    pub hl7_profile: Hl7Profile,
}

/// A capture in memory: frames in time order and their labels.
pub struct Capture {
    pub frames: Vec<Frame>,
    pub labels: Labels,
}

/// Devices are numbered from 1 and placed after a few addresses kept for infrastructure.
const FIRST_DEVICE_HOST: u32 = 10;
/// A new connection is opened this long before the reading it carries.
const CONNECT_LEAD_US: u64 = 2_000;
/// Random streams of one device, apart from its patient's.
const BACKGROUND_STREAM: u64 = 0xb4c6_0000_0000_0001;
const ATTACK_STREAM: u64 = 0xa77a_0000_0000_0002;
/// Each device numbers its source ports from `index * PORTS_PER_DEVICE`: HL7 first, then its
/// background traffic, then attack flows.
const PORTS_PER_DEVICE: u32 = 64;
const BACKGROUND_PORTS: u32 = 16;
const ATTACK_PORTS: u32 = 40;

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
        if !self.attack_duration_s.is_finite() || self.attack_duration_s <= 0.0 || self.attack_duration_s > 3_600.0 {
            bail!("--attack-duration must be above 0 and at most 3600 s, not {}", self.attack_duration_s);
        }
        Ok(())
    }

    fn plan_config(&self) -> PlanConfig {
        PlanConfig {
            scenario: self.scenario,
            devices: self.devices,
            duration_s: self.duration_s,
            device_type: self.device_type,
            episode: Episode { scenario: self.scenario.clinical(), ..self.episode },
            attack_duration_s: self.attack_duration_s,
            start_unix_s: self.start_unix_s,
            seed: self.seed,
        }
    }
}

/// The twin behind device `index` (0-based).
struct DeviceTwin {
    device_type: DeviceType,
    context: oru::Context,
    host: Host,
    seed: u64,
}

fn device_twin(config: &CaptureConfig, index: u32, device_type: DeviceType) -> DeviceTwin {
    let number = index + 1;
    let host = FIRST_DEVICE_HOST + index;
    let [_, _, hi, lo] = host.to_be_bytes();
    let [_, _, n_hi, n_lo] = number.to_be_bytes();
    DeviceTwin {
        device_type,
        context: oru::Context {
            device_id: format!("{}-{number:03}", id_prefix(device_type)),
            hospital_id: config.hospital_id.clone(),
            receiver: config.receiver.clone(),
            patient_id: format!("P-{number:05}"),
            bed: number.to_string(),
            ward: config.ward.clone(),
            profile: config.hl7_profile,
        },
        host: Host { mac: [0x02, 0x57, 0x57, 0x00, n_hi, n_lo], ip: [10, 20, hi, lo] },
        seed: device_seed(config.seed, index),
    }
}

/// The first part of a device id, by type.
fn id_prefix(device_type: DeviceType) -> &'static str {
    match device_type {
        DeviceType::BedsideMonitor => "monitor",
        DeviceType::PulseOximeter => "oximeter",
        DeviceType::InfusionPump => "pump",
        DeviceType::Ventilator => "ventilator",
        DeviceType::PointOfCareAnalyzer => "analyzer",
        DeviceType::ImagingModality => "imaging",
        DeviceType::Workstation => "workstation",
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
    let plan = plan::plan(&config.plan_config())?;
    let start_us = config.start_unix_s * 1_000_000;
    let window = Window { start_us, end_us: start_us + (config.duration_s * 1e6) as u64 };
    let mut frames = Vec::new();
    let mut devices = Vec::new();
    let mut twins = Vec::new();
    let mut messages = 0;
    for index in 0..config.devices {
        let twin = device_twin(config, index, plan.device_types[index as usize]);
        let timeline = &plan.timelines[index as usize];
        let readings = if twin.device_type.sends_hl7() {
            let feed = hl7_feed(config, &twin, index, timeline, messages)?;
            frames.extend(feed.frames);
            messages += feed.messages;
            feed.readings
        } else {
            Vec::new()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(twin.seed ^ BACKGROUND_STREAM);
        let port_base = index * PORTS_PER_DEVICE + BACKGROUND_PORTS;
        frames.extend(background::frames(
            twin.device_type,
            twin.host,
            port_base,
            &twin.context.patient_id,
            window,
            &mut rng,
        ));
        devices.push(DeviceLabels {
            device_id: twin.context.device_id.clone(),
            device_type: twin.device_type,
            patient_id: twin.context.patient_id.clone(),
            bed: twin.context.bed.clone(),
            ward: twin.context.ward.clone(),
            hospital_id: twin.context.hospital_id.clone(),
            mac: mac_string(twin.host.mac),
            ip: ip_string(twin.host.ip),
            seed: twin.seed,
            episodes: timeline.episodes.iter().map(|e| EpisodeLabel::new(e, config.start_unix_s)).collect(),
            readings,
        });
        twins.push(twin);
    }
    let mut attacks = Vec::new();
    for planned in &plan.attacks {
        let twin = &twins[planned.device as usize];
        let target = config.attack_target.map_or_else(|| attack::default_target(planned.scenario), |ip| ip.octets());
        let attack = attack::Attack {
            scenario: planned.scenario,
            attacker: twin.host,
            port_base: planned.device * PORTS_PER_DEVICE + ATTACK_PORTS,
            target,
            window: planned.window,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(twin.seed ^ ATTACK_STREAM ^ planned.scenario as u64);
        let attack_frames = attack::frames(&attack, &mut rng);
        let (Some(first), Some(last)) =
            (attack_frames.iter().map(|f| f.timestamp_us).min(), attack_frames.iter().map(|f| f.timestamp_us).max())
        else {
            bail!("the {} attack's window ({} s) is too short for it", planned.scenario, config.attack_duration_s);
        };
        attacks.push(AttackLabel {
            scenario: planned.scenario,
            device_id: twin.context.device_id.clone(),
            device_ip: ip_string(twin.host.ip),
            device_mac: mac_string(twin.host.mac),
            target: ip_string(target),
            start_unix_s: first as f64 / 1e6,
            end_unix_s: last as f64 / 1e6,
            packets: attack_frames.len() as u64,
        });
        frames.extend(attack_frames);
    }
    attacks.sort_by(|a, b| a.start_unix_s.total_cmp(&b.start_unix_s));
    // Stable: frames of one flow keep their order when timestamps tie.
    frames.sort_by_key(|f| f.timestamp_us);
    let labels = Labels {
        format: labels::FORMAT,
        seed: config.seed,
        scenario: config.scenario,
        start_unix_s: config.start_unix_s,
        duration_s: config.duration_s,
        interval_s: config.interval_s,
        gateway: Address {
            mac: mac_string(hosts::GATEWAY.mac),
            ip: ip_string(hosts::GATEWAY.ip),
            port: config.gateway_port,
        },
        packets: frames.len() as u64,
        messages,
        devices,
        attacks,
    };
    Ok(Capture { frames, labels })
}

/// One device's HL7 feed: its frames, readings and message count.
struct Hl7Feed {
    frames: Vec<Frame>,
    readings: Vec<ReadingLabel>,
    messages: u64,
}

/// A device's readings sent as ORU^R01 over one MLLP connection (closed while the device is
/// off the network), each answered by the gateway's ACK. `first_ack` numbers the gateway's
/// ACKs across devices.
fn hl7_feed(
    config: &CaptureConfig,
    twin: &DeviceTwin,
    index: u32,
    timeline: &Timeline,
    first_ack: u64,
) -> Result<Hl7Feed> {
    let gateway = hosts::GATEWAY.at(config.gateway_port);
    let start_us = config.start_unix_s * 1_000_000;
    let interval_us = (config.interval_s * 1e6).round() as u64;
    // Stagger the devices across one interval, as monitors switched on at different times.
    let phase_us = interval_us * u64::from(index) / u64::from(config.devices);
    let mut patient = Patient::new(timeline.clone(), twin.seed);
    let mut ecg = (config.ecg && twin.device_type == DeviceType::BedsideMonitor).then(EcgGenerator::new);
    let mut session: Option<TcpSession> = None;
    let mut connections = 0u32;
    let mut feed = Hl7Feed { frames: Vec::new(), readings: Vec::new(), messages: 0 };
    let mut last_us = start_us;
    for k in 1u64.. {
        let offset_us = phase_us + k * interval_us;
        if offset_us as f64 > config.duration_s * 1e6 {
            break;
        }
        let t_us = start_us + offset_us;
        let reading = patient.advance(config.interval_s);
        let heart_rate = reading.truth.get(Vital::HeartRate);
        let strip = ecg.as_mut().map(|ecg| ecg.strip(config.interval_s, |_| heart_rate));
        let time_unix_s = t_us as f64 / 1e6;
        let Some(vitals) = reading.reported else {
            if let Some(mut open) = session.take() {
                feed.frames.extend(open.close(t_us));
            }
            feed.readings.push(ReadingLabel {
                time_unix_s,
                scenario: reading.scenario,
                control_id: None,
                truth: reading.truth,
                reported: None,
            });
            continue;
        };
        let open = session.get_or_insert_with(|| {
            let endpoint = Endpoint { port: ephemeral_port(index, connections), ..twin.host.at(0) };
            let isn = |side: u64| splitmix64(twin.seed ^ (u64::from(connections) << 1) ^ side) as u32;
            let mut fresh = TcpSession::new(endpoint, gateway, isn(0), isn(1));
            connections += 1;
            feed.frames.extend(fresh.open(t_us - CONNECT_LEAD_US));
            fresh
        });
        let control_id = k.to_string();
        let unix_s = (t_us / 1_000_000) as i64;
        let waveform = strip.as_deref().map(|samples_mv| Waveform { samples_mv });
        let observations = oru::observations(&vitals, twin.device_type.vitals());
        let request = oru::build_with_waveform(&twin.context, &observations, waveform, unix_s, &control_id);
        let ack_id = format!("GW{}", first_ack + feed.messages);
        let header = AckHeader { sender: &config.receiver, timestamp: &hl7_timestamp(unix_s), control_id: &ack_id };
        let answer = verdict::judge(request.as_bytes(), &header);
        let ack = answer.ack.context("the gateway answers every ORU the simulator builds")?;
        feed.frames.extend(open.exchange(t_us, &mllp::frame(request.as_bytes()), &mllp::frame(ack.as_bytes())));
        feed.messages += 1;
        last_us = t_us;
        feed.readings.push(ReadingLabel {
            time_unix_s,
            scenario: reading.scenario,
            control_id: Some(control_id),
            truth: reading.truth,
            reported: Some(observations),
        });
    }
    if let Some(mut open) = session.take() {
        feed.frames.extend(open.close(last_us + 4 * ROUND_TRIP_US));
    }
    Ok(feed)
}

/// Source port of a device's `connection`-th HL7 connection.
fn ephemeral_port(device: u32, connection: u32) -> u16 {
    traffic::ephemeral_port(device.wrapping_mul(PORTS_PER_DEVICE), connection)
}

/// Where the labels of `pcap` go: `F.pcap` -> `F.labels.json`.
pub fn labels_path(pcap: &Path) -> PathBuf {
    pcap.with_extension("labels.json")
}

/// Generates the capture and writes `pcap` and its labels file.
pub fn write_files(config: &CaptureConfig, pcap: &Path) -> Result<Labels> {
    let capture = generate(config)?;
    let file = File::create(pcap).with_context(|| format!("creating {}", pcap.display()))?;
    // Large writes: a capture is tens to hundreds of megabytes.
    let mut writer = PcapWriter::new(BufWriter::with_capacity(1 << 20, file))?;
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
            scenario: CaptureScenario::Clinical(scenario),
            episode: Episode { scenario, onset_s: 10.0, ramp_s: 5.0, plateau_s: 20.0, recovery_s: 5.0 },
            device_type: None,
            attack_target: None,
            attack_duration_s: 30.0,
            // One segment per message, for the counts below; the wire test turns strips on.
            ecg: false,
            seed: 9,
            start_unix_s: 1_795_305_600,
            gateway_port: 2575,
            hospital_id: "st-mary".into(),
            ward: "icu-east".into(),
            receiver: "WARDWATCH".into(),
            hl7_profile: Hl7Profile::Loinc,
        }
    }

    /// The MLLP messages each direction carried, reassembled from the TCP payloads in order.
    fn messages(frames: &[Frame], port: u16) -> (Vec<Message>, Vec<Message>) {
        let mut to_gateway = std::collections::HashMap::new();
        let mut from_gateway = std::collections::HashMap::new();
        let (mut requests, mut answers, mut events) = (Vec::new(), Vec::new(), Vec::new());
        for frame in frames {
            let packet = SlicedPacket::from_ethernet(&frame.bytes).unwrap();
            let Some(TransportSlice::Tcp(tcp)) = packet.transport else { continue };
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

    /// The frames of the HL7 feeds (TCP to or from the gateway's port), without NTP and the rest.
    fn hl7_frames(frames: &[Frame]) -> Vec<&Frame> {
        frames
            .iter()
            .filter(|f| matches!(SlicedPacket::from_ethernet(&f.bytes).unwrap().transport, Some(TransportSlice::Tcp(t)) if t.source_port() == 2575 || t.destination_port() == 2575))
            .collect()
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
    fn mixed_attacks_are_deterministic_for_a_seed_and_label_every_attack() {
        let mixed = |seed| CaptureConfig {
            scenario: CaptureScenario::MixedAttacks,
            devices: 7,
            attack_duration_s: 3.0,
            seed,
            ..config(7, Scenario::Stable)
        };
        let a = generate(&mixed(9)).unwrap();
        assert_eq!(a.frames, generate(&mixed(9)).unwrap().frames);
        assert_ne!(a.frames, generate(&mixed(10)).unwrap().frames);
        assert_eq!(a.labels.attacks.len(), 6);
        let packets: u64 = a.labels.attacks.iter().map(|l| l.packets).sum();
        assert!(packets > 1_000, "{packets} attack packets");
        let start = a.labels.start_unix_s as f64;
        assert!(a.labels.attacks.iter().all(|l| l.start_unix_s >= start && l.end_unix_s <= start + 60.0));
        assert!(a.labels.attacks.windows(2).all(|w| w[0].start_unix_s <= w[1].start_unix_s), "in time order");
    }

    #[test]
    fn a_ward_is_deterministic_for_a_seed_and_labels_each_devices_own_episode() {
        let ward = |seed| CaptureConfig { scenario: CaptureScenario::Ward, seed, ..config(28, Scenario::Stable) };
        let a = generate(&ward(9)).unwrap();
        assert_eq!(a.frames, generate(&ward(9)).unwrap().frames);
        assert_ne!(a.frames, generate(&ward(10)).unwrap().frames);
        assert!(a.labels.attacks.is_empty());
        let plan = plan::plan(&ward(9).plan_config()).unwrap();
        for (device, timeline) in a.labels.devices.iter().zip(&plan.timelines) {
            let expected: Vec<_> = timeline.episodes.iter().map(|e| EpisodeLabel::new(e, 1_795_305_600)).collect();
            assert_eq!(device.episodes, expected, "{}", device.device_id);
            let mut played: Vec<_> = device.readings.iter().map(|r| r.scenario).collect();
            played.dedup();
            played.retain(|s| *s != Scenario::Stable);
            let labelled: Vec<_> = device.episodes.iter().map(|e| e.scenario).collect();
            assert_eq!(played, labelled, "{} plays the episode its labels name", device.device_id);
        }
        // 28 devices of every type: 20 HL7 patients, of whom every fourth has an episode.
        let episodes: Vec<_> = a.labels.devices.iter().flat_map(|d| &d.episodes).collect();
        let scenarios: Vec<_> = episodes.iter().map(|e| e.scenario).collect();
        assert_eq!(scenarios, Scenario::ALL[1..6]);
        assert!(episodes.windows(2).any(|w| w[0].start_unix_s != w[1].start_unix_s), "staggered onsets");
    }

    #[test]
    fn packet_counts_follow_connections_and_messages() {
        let capture = generate(&config(4, Scenario::Stable)).unwrap();
        // Each device: handshake (3), one reading per second (request, ACK, client ACK), close (3).
        let readings: usize = capture.labels.devices.iter().map(|d| d.readings.len()).sum();
        assert_eq!(capture.labels.messages as usize, readings);
        assert_eq!(hl7_frames(&capture.frames).len(), 4 * 6 + 3 * readings);
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
        assert_eq!(hl7_frames(&capture.frames).len(), 2 * 6 + 3 * sent);
        let syns = hl7_frames(&capture.frames)
            .into_iter()
            .filter(|f| matches!(SlicedPacket::from_ethernet(&f.bytes).unwrap().transport, Some(TransportSlice::Tcp(t)) if t.syn() && !t.ack()))
            .count();
        assert_eq!(syns, 2);
    }

    #[test]
    fn the_wire_carries_what_the_labels_report_and_every_message_is_accepted() {
        let capture = generate(&CaptureConfig { ecg: true, ..config(2, Scenario::Hypoxia) }).unwrap();
        let (requests, answers) = messages(&capture.frames, 2575);
        for request in &requests {
            let strip = request.segments_named("OBX").find(|o| o.field(2) == "NA").expect("an ECG strip");
            let samples: Vec<f64> = strip.field(5).split('^').map(|v| v.parse().unwrap()).collect();
            assert_eq!(samples.len(), 250, "one second at 250 Hz");
            assert!(samples.iter().copied().fold(f64::MIN, f64::max) > 0.5, "an R wave in every second");
        }
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
                        m.segments_named("OBX")
                            .filter(|o| o.field(2) == "NM")
                            .map(|o| o.field(5).parse::<f64>().unwrap())
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            let labelled: Vec<_> = device
                .readings
                .iter()
                .filter_map(|r| {
                    Some((r.control_id.clone()?, r.reported.as_ref()?.iter().map(|o| o.value).collect::<Vec<_>>()))
                })
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
    fn each_device_type_sends_and_labels_only_its_own_vitals() {
        for device_type in DeviceType::ALL.into_iter().filter(|t| t.sends_hl7()) {
            let capture =
                generate(&CaptureConfig { device_type: Some(device_type), ..config(1, Scenario::Sepsis) }).unwrap();
            let expected: Vec<&str> = device_type.vitals().iter().map(|v| v.sign().loinc).collect();
            let (requests, answers) = messages(&capture.frames, 2575);
            assert_eq!(requests.len() as u64, capture.labels.messages, "{device_type}");
            assert!(answers.iter().all(|a| a.segment("MSA").unwrap().field(1) == "AA"), "{device_type}");
            for request in &requests {
                let codes: Vec<String> = request
                    .segments_named("OBX")
                    .filter(|o| o.field(2) == "NM")
                    .map(|o| request.component(o.field(3), 1))
                    .collect();
                assert_eq!(codes, expected, "{device_type}");
            }
            let keys: Vec<&str> = device_type.vitals().iter().map(|v| v.key()).collect();
            for reading in &capture.labels.devices[0].readings {
                let reported = reading.reported.as_ref().expect("sepsis keeps the device on the network");
                assert_eq!(reported.iter().map(|o| o.vital.key).collect::<Vec<_>>(), keys, "{device_type}");
                for observation in reported {
                    let vital = Vital::ALL.into_iter().find(|v| v.key() == observation.vital.key).unwrap();
                    assert_eq!(observation.value, reading.truth.get(vital), "no artefact in sepsis");
                }
            }
        }
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
