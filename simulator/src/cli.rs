//! The command line of `wardwatch-simulator`. Every flag has an environment variable
//! (`WARDWATCH_*`), so that the operator can configure a pod through either. Durations take a
//! unit (`500ms`, `10s`, `5m`: `wardwatch_serve::duration`). Parsing and the conversion into the
//! library's configurations are here; running them is `main`'s job.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::capture::CaptureConfig;
use crate::capture::plan::CaptureScenario;
use crate::device::DeviceConfig;
use crate::device_type::DeviceType;
use crate::gateway::GatewayConfig;
use crate::hl7_profile::Hl7Profile;
use crate::live::background::{LiveBackground, Servers};
use crate::live::{LiveAttack, PortRange, Target};
use crate::network_scenario::NetworkScenario;
use crate::oru;
use crate::scenario::{Episode, Scenario, Timeline};
use crate::traffic::{dicom, dns, ntp, tls};
use wardwatch_serve::duration::{parse as duration, positive as positive_duration};

/// The start of captures unless told otherwise: 2026-11-22T00:00:00Z, so that a capture
/// depends on its flags only.
pub const DEFAULT_CAPTURE_START: u64 = 1_795_305_600;

#[derive(Debug, Parser)]
#[command(
    name = "wardwatch-simulator",
    version,
    about = "wardwatch's device twins, ward gateway and labelled captures"
)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax, e.g. `info` or `wardwatch_simulator=debug`).
    #[arg(long, env = "WARDWATCH_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A device twin: a simulated patient whose vitals are sent to the gateway as HL7 ORU^R01.
    Device(Box<DeviceArgs>),
    /// The ward gateway (central station): receives, validates and acknowledges HL7 messages.
    Gateway(GatewayArgs),
    /// Writes a labelled capture of N devices' traffic without sending anything.
    Pcap(PcapArgs),
}

/// The patient's scenario and its timeline.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario: stable, hypoxia, sepsis, tachyarrhythmia, hypotension, disconnect or artefact.
    #[arg(long, env = "WARDWATCH_SCENARIO", default_value = "stable")]
    pub scenario: Scenario,
    /// Seed of the patient's random processes: the same seed replays the same patient.
    #[arg(long, env = "WARDWATCH_SEED", default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: EpisodeShapeArgs,
}

impl ScenarioArgs {
    pub fn episode(&self) -> Episode {
        self.shape.episode(self.scenario)
    }
}

/// The shape of an episode in time.
#[derive(Debug, Args)]
pub struct EpisodeShapeArgs {
    /// Time from start until the episode begins.
    #[arg(long, env = "WARDWATCH_SCENARIO_ONSET", default_value = "1m", value_parser = duration)]
    pub onset: Duration,
    /// Time the episode takes to reach full severity.
    #[arg(long, env = "WARDWATCH_SCENARIO_RAMP", default_value = "2m", value_parser = duration)]
    pub ramp: Duration,
    /// Time at full severity.
    #[arg(long, env = "WARDWATCH_SCENARIO_PLATEAU", default_value = "5m", value_parser = duration)]
    pub plateau: Duration,
    /// Time to recover back to baseline.
    #[arg(long, env = "WARDWATCH_SCENARIO_RECOVERY", default_value = "2m", value_parser = duration)]
    pub recovery: Duration,
}

impl EpisodeShapeArgs {
    pub fn episode(&self, scenario: Scenario) -> Episode {
        Episode {
            scenario,
            onset_s: self.onset.as_secs_f64(),
            ramp_s: self.ramp.as_secs_f64(),
            plateau_s: self.plateau.as_secs_f64(),
            recovery_s: self.recovery.as_secs_f64(),
        }
    }
}

/// A live attack's one target, or none (`WARDWATCH_ATTACK_TARGET` is empty when the operator
/// sets up a normal device): an IP address, or a DNS name resolved when the attack starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttackTarget(pub Option<Target>);

fn attack_target(text: &str) -> Result<AttackTarget, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(AttackTarget(None));
    }
    text.parse().map(|target| AttackTarget(Some(target)))
}

/// A capture's attack target, or none: an address, as the frames are written offline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttackAddress(pub Option<IpAddr>);

fn attack_address(text: &str) -> Result<AttackAddress, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(AttackAddress(None));
    }
    text.parse().map(|ip| AttackAddress(Some(ip))).map_err(|e| format!("{text:?} is not an IP address: {e}"))
}

/// Where the device sits.
#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// Hospital id (MSH-4 sending facility, PID-3 assigning authority).
    #[arg(long, env = "WARDWATCH_HOSPITAL_ID", default_value = "hospital")]
    pub hospital_id: String,
    /// Ward (PV1-3 point of care).
    #[arg(long, env = "WARDWATCH_WARD", default_value = "ward")]
    pub ward: String,
    /// The gateway's HL7 application name (MSH-5 of ORUs, MSH-3 of ACKs).
    #[arg(long, env = "WARDWATCH_GATEWAY_APPLICATION", default_value = "WARDWATCH")]
    pub gateway_application: String,
}

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The gateway's address, `host:port`.
    #[arg(long, env = "WARDWATCH_GATEWAY")]
    pub gateway: String,
    /// Device id (MSH-3 sending application).
    #[arg(long, env = "WARDWATCH_DEVICE_ID")]
    pub device_id: String,
    /// Patient id (PID-3).
    #[arg(long, env = "WARDWATCH_PATIENT_ID")]
    pub patient_id: String,
    /// Bed (PV1-3).
    #[arg(long, env = "WARDWATCH_BED")]
    pub bed: String,
    /// How the ORUs code vitals: `loinc` (LOINC codes, UCUM units) or `ihe-pcd-01` (IEEE 11073
    /// MDC codes and units, as IHE PCD-01 bedside monitors send them).
    #[arg(long, env = "WARDWATCH_HL7_PROFILE", default_value = "loinc")]
    pub hl7_profile: Hl7Profile,
    #[command(flatten)]
    pub place: PlaceArgs,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Time between two readings.
    #[arg(long, env = "WARDWATCH_INTERVAL", default_value = "1s", value_parser = positive_duration)]
    pub interval: Duration,
    /// Simulated seconds per wall-clock second (plays a scenario faster).
    #[arg(long, env = "WARDWATCH_SPEED", default_value_t = 1.0, value_parser = positive)]
    pub speed: f64,
    /// How long to wait for a TCP connection to the gateway.
    #[arg(long, env = "WARDWATCH_CONNECT_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub connect_timeout: Duration,
    /// How long to wait for the gateway's ACK before reconnecting.
    #[arg(long, env = "WARDWATCH_ACK_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub ack_timeout: Duration,
    /// First wait before reconnecting; doubles on each failure.
    #[arg(long, env = "WARDWATCH_BACKOFF_INITIAL", default_value = "500ms", value_parser = positive_duration)]
    pub backoff_initial: Duration,
    /// Longest wait between reconnection attempts.
    #[arg(long, env = "WARDWATCH_BACKOFF_MAX", default_value = "30s", value_parser = positive_duration)]
    pub backoff_max: Duration,
    /// Largest HL7 message accepted from the gateway, in bytes.
    #[arg(long, env = "WARDWATCH_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Stop after this many readings (default: run until terminated).
    #[arg(long, env = "WARDWATCH_READINGS")]
    pub readings: Option<u64>,
    /// Whether a bedside monitor's ORUs carry each interval's ECG strip (lead II, 250 Hz) as
    /// an NA observation.
    #[arg(long, env = "WARDWATCH_ECG", default_value_t = true, action = clap::ArgAction::Set)]
    pub ecg: bool,
    /// A file to append one JSON line to per ORU^R01 written to the gateway (device id,
    /// control id, time, each OBX's LOINC code and value). Off unless set.
    #[arg(long, env = "WARDWATCH_SENT_LOG")]
    pub sent_log: Option<PathBuf>,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub background: BackgroundArgs,
}

/// A server the background traffic may use: `IP` (the protocol's port) or `IP:port`; empty
/// for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerArg(Option<(IpAddr, Option<u16>)>);

impl ServerArg {
    pub fn address(self, default_port: u16) -> Option<SocketAddr> {
        self.0.map(|(ip, port)| SocketAddr::new(ip, port.unwrap_or(default_port)))
    }
}

fn server(text: &str) -> Result<ServerArg, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(ServerArg(None));
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(ServerArg(Some((address.ip(), Some(address.port())))));
    }
    text.parse::<IpAddr>()
        .map(|ip| ServerArg(Some((ip, None))))
        .map_err(|_| format!("{text:?} is neither an IP address nor IP:port"))
}

/// The device type's traffic besides HL7 (as the pcap mode writes it), each kind sent only
/// to its configured server: nothing unless set.
#[derive(Debug, Args)]
pub struct BackgroundArgs {
    /// NTP server (IP or IP:port, port 123 by default) the device polls every 64 s.
    #[arg(long, env = "WARDWATCH_NTP_SERVER", default_value = "", value_parser = server)]
    pub ntp_server: ServerArg,
    /// DNS server (port 53 by default) a workstation looks the health record's name up on.
    #[arg(long, env = "WARDWATCH_DNS_SERVER", default_value = "", value_parser = server)]
    pub dns_server: ServerArg,
    /// Where a workstation's HTTPS-like sessions go (port 443 by default), every 15 to 45 s.
    #[arg(long, env = "WARDWATCH_HTTPS_TARGET", default_value = "", value_parser = server)]
    pub https_target: ServerArg,
    /// The PACS an imaging modality stores a study to every 2 to 4 minutes (port 104 by
    /// default).
    #[arg(long, env = "WARDWATCH_DICOM_TARGET", default_value = "", value_parser = server)]
    pub dicom_target: ServerArg,
    /// Rounds of each kind of background traffic at most (at most 100000).
    #[arg(long, env = "WARDWATCH_BACKGROUND_MAX", default_value_t = 10_000)]
    pub background_max: u64,
}

/// The device's kind and its network behaviour: normal, or one opt-in attack scenario aimed at
/// one target, bounded in rate, count and time.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Device type: bedside-monitor, pulse-oximeter, infusion-pump, ventilator,
    /// point-of-care-analyzer, imaging-modality or workstation.
    #[arg(long, env = "WARDWATCH_DEVICE_TYPE", default_value = "bedside-monitor")]
    pub device_type: DeviceType,
    /// Network scenario: normal, or an attack (port-scan, syn-flood, external-contact,
    /// exfiltration, beaconing, arp-spoof) played against --attack-target only. syn-flood and
    /// arp-spoof send raw frames and run only inside a network namespace made for them.
    #[arg(long, env = "WARDWATCH_NETWORK_SCENARIO", default_value = "normal")]
    pub network_scenario: NetworkScenario,
    /// The one host an attack scenario aims at (empty for normal): an IP address, or a DNS name
    /// (a Service of the ward, say) looked up once when the attack starts, whose first address
    /// is then the only one touched.
    #[arg(long, env = "WARDWATCH_ATTACK_TARGET", default_value = "", value_parser = attack_target)]
    pub attack_target: AttackTarget,
    /// Ports: the range a port scan probes (default 1-1024), or the port the other TCP
    /// scenarios use (default 2575 for syn-flood, 443 otherwise).
    #[arg(long, env = "WARDWATCH_ATTACK_PORTS")]
    pub attack_ports: Option<PortRange>,
    /// Probes, SYNs, connections, segments or announcements per second (each scenario has its
    /// own default; at most 500).
    #[arg(long, env = "WARDWATCH_ATTACK_RATE", value_parser = positive)]
    pub attack_rate: Option<f64>,
    /// How long the attack lasts at most (at most 1h).
    #[arg(long, env = "WARDWATCH_ATTACK_DURATION", default_value = "1m", value_parser = positive_duration)]
    pub attack_duration: Duration,
    /// Most operations the attack makes, whatever the time (at most 100000).
    #[arg(long, env = "WARDWATCH_ATTACK_MAX", default_value_t = 10_000)]
    pub attack_max: u64,
    /// Time after start before the attack begins.
    #[arg(long, env = "WARDWATCH_ATTACK_ONSET", default_value = "0s", value_parser = duration)]
    pub attack_onset: Duration,
}

impl NetworkArgs {
    /// The attack to play, if any, checked against the bounds.
    pub fn live_attack(&self) -> Result<Option<LiveAttack>, String> {
        let scenario = self.network_scenario;
        if !scenario.is_attack() {
            return Ok(None);
        }
        let Some(target) = self.attack_target.0.clone() else {
            return Err(format!("--network-scenario {scenario} needs --attack-target: the only address it may aim at"));
        };
        let attack = LiveAttack {
            scenario,
            target,
            ports: self.attack_ports.unwrap_or_else(|| LiveAttack::default_ports(scenario)),
            rate_per_s: self.attack_rate.unwrap_or_else(|| LiveAttack::default_rate(scenario)),
            duration: self.attack_duration,
            max_operations: self.attack_max,
            onset: self.attack_onset,
        };
        attack.validate().map_err(|e| e.to_string())?;
        Ok(Some(attack))
    }
}

impl DeviceArgs {
    /// The background traffic to send, checked against its bounds.
    pub fn live_background(&self) -> Result<LiveBackground, String> {
        let args = &self.background;
        let background = LiveBackground {
            device_type: self.network.device_type,
            servers: Servers {
                ntp: args.ntp_server.address(ntp::PORT),
                dns: args.dns_server.address(dns::PORT),
                https: args.https_target.address(tls::PORT),
                dicom: args.dicom_target.address(dicom::PORT),
            },
            speed: self.speed,
            max_per_activity: args.background_max,
            patient_id: self.patient_id.clone(),
            seed: self.scenario.seed,
        };
        background.validate().map_err(|e| e.to_string())?;
        Ok(background)
    }

    pub fn config(&self) -> DeviceConfig {
        DeviceConfig {
            gateway: self.gateway.clone(),
            context: oru::Context {
                device_id: self.device_id.clone(),
                hospital_id: self.place.hospital_id.clone(),
                receiver: self.place.gateway_application.clone(),
                patient_id: self.patient_id.clone(),
                bed: self.bed.clone(),
                ward: self.place.ward.clone(),
                profile: self.hl7_profile,
            },
            device_type: self.network.device_type,
            timeline: Timeline::of(self.scenario.episode()),
            seed: self.scenario.seed,
            interval: self.interval,
            speed: self.speed,
            connect_timeout: self.connect_timeout,
            ack_timeout: self.ack_timeout,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
            max_message_bytes: self.max_message_bytes,
            ecg: self.ecg && self.network.device_type == DeviceType::BedsideMonitor,
        }
    }
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address for HL7 over MLLP (2575 is MLLP's registered port).
    #[arg(long, env = "WARDWATCH_LISTEN", default_value = "0.0.0.0:2575")]
    pub listen: String,
    /// Address for `/metrics` and `/healthz`.
    #[arg(long, env = "WARDWATCH_METRICS_LISTEN", default_value = "0.0.0.0:9102")]
    pub metrics_listen: String,
    /// The gateway's HL7 application name (MSH-3 of its ACKs).
    #[arg(long, env = "WARDWATCH_GATEWAY_APPLICATION", default_value = "WARDWATCH")]
    pub application: String,
    /// Devices that get their own last-seen series (the ward's bed count is plenty).
    #[arg(long, env = "WARDWATCH_MAX_DEVICES", default_value_t = 256)]
    pub max_devices: usize,
    /// Largest HL7 message accepted, in bytes.
    #[arg(long, env = "WARDWATCH_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Silence after which a device connection is closed.
    #[arg(long, env = "WARDWATCH_IDLE_TIMEOUT", default_value = "5m", value_parser = positive_duration)]
    pub idle_timeout: Duration,
}

impl GatewayArgs {
    pub fn config(&self) -> GatewayConfig {
        GatewayConfig {
            application: self.application.clone(),
            max_message_bytes: self.max_message_bytes,
            max_devices: self.max_devices,
            idle_timeout: self.idle_timeout,
        }
    }
}

#[derive(Debug, Args)]
pub struct PcapArgs {
    /// Number of devices.
    #[arg(long, env = "WARDWATCH_DEVICES", default_value_t = 1)]
    pub devices: u32,
    /// How much traffic.
    #[arg(long, env = "WARDWATCH_DURATION", default_value = "10m", value_parser = positive_duration)]
    pub duration: Duration,
    /// Time between two readings of a device.
    #[arg(long, env = "WARDWATCH_INTERVAL", default_value = "1s", value_parser = positive_duration)]
    pub interval: Duration,
    /// The capture to write; the labels go to the same name with `.labels.json`.
    #[arg(long, env = "WARDWATCH_OUT")]
    pub out: PathBuf,
    /// The gateway's TCP port in the capture.
    #[arg(long, env = "WARDWATCH_GATEWAY_PORT", default_value_t = 2575)]
    pub gateway_port: u16,
    /// Unix time at which the capture starts.
    #[arg(long, env = "WARDWATCH_START", default_value_t = DEFAULT_CAPTURE_START)]
    pub start: u64,
    #[command(flatten)]
    pub place: PlaceArgs,
    /// What the capture shows: a clinical scenario (stable, hypoxia, sepsis, tachyarrhythmia,
    /// hypotension, disconnect, artefact) every patient plays; a network scenario (normal,
    /// port-scan, syn-flood, external-contact, exfiltration, beaconing, arp-spoof) the first
    /// device plays from --onset; mixed-attacks: devices of every type, every network scenario
    /// at seeded random times; or ward: devices of every type, no attack, three patients in
    /// four stable and every fourth playing the next other clinical scenario in turn, its
    /// episode shaped by --onset etc. and starting a seeded number of seconds after --onset.
    #[arg(long, env = "WARDWATCH_SCENARIO", default_value = "stable")]
    pub scenario: CaptureScenario,
    /// Seed of every random process in the capture: the same seed writes the same file.
    #[arg(long, env = "WARDWATCH_SEED", default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: EpisodeShapeArgs,
    /// Every device's type (bedside-monitor, pulse-oximeter, infusion-pump, ventilator,
    /// point-of-care-analyzer, imaging-modality, workstation). Default: bedside monitors, or
    /// every type in turn for mixed-attacks and ward.
    #[arg(long, env = "WARDWATCH_DEVICE_TYPE")]
    pub device_type: Option<DeviceType>,
    /// The IPv4 address every attack aims at (default: the gateway for port-scan, syn-flood
    /// and arp-spoof; documentation addresses outside the ward for the others).
    #[arg(long, env = "WARDWATCH_ATTACK_TARGET", default_value = "", value_parser = attack_address)]
    pub attack_target: AttackAddress,
    /// How long each attack lasts at most.
    #[arg(long, env = "WARDWATCH_ATTACK_DURATION", default_value = "30s", value_parser = positive_duration)]
    pub attack_duration: Duration,
    /// Whether bedside monitors' ORUs carry each interval's ECG strip (lead II, 250 Hz).
    #[arg(long, env = "WARDWATCH_ECG", default_value_t = true, action = clap::ArgAction::Set)]
    pub ecg: bool,
    /// How every device's ORUs code vitals: `loinc` or `ihe-pcd-01` (see `device`).
    #[arg(long, env = "WARDWATCH_HL7_PROFILE", default_value = "loinc")]
    pub hl7_profile: Hl7Profile,
}

/// The capture `wardwatch-simulator pcap FLAGS` writes, configured as the binary configures it
/// (flags, then `WARDWATCH_*` variables, then defaults): for benchmarks and tests that want the
/// binary's captures without running it. `--out` need not be among the flags.
pub fn pcap_config(flags: &[&str]) -> Result<CaptureConfig, String> {
    let command = ["wardwatch-simulator", "pcap", "--out=unused.pcap"].into_iter().chain(flags.iter().copied());
    let cli = Cli::try_parse_from(command).map_err(|e| e.to_string())?;
    let Command::Pcap(args) = cli.command else { unreachable!("parsed as the pcap command") };
    args.config()
}

impl PcapArgs {
    pub fn config(&self) -> Result<CaptureConfig, String> {
        let attack_target = match self.attack_target.0 {
            None => None,
            Some(IpAddr::V4(ip)) => Some(ip),
            Some(IpAddr::V6(ip)) => return Err(format!("--attack-target {ip}: captures are IPv4 only")),
        };
        Ok(CaptureConfig {
            devices: self.devices,
            duration_s: self.duration.as_secs_f64(),
            interval_s: self.interval.as_secs_f64(),
            scenario: self.scenario,
            episode: self.shape.episode(self.scenario.clinical()),
            device_type: self.device_type,
            attack_target,
            attack_duration_s: self.attack_duration.as_secs_f64(),
            ecg: self.ecg,
            seed: self.seed,
            start_unix_s: self.start,
            gateway_port: self.gateway_port,
            hospital_id: self.place.hospital_id.clone(),
            ward: self.place.ward.clone(),
            receiver: self.place.gateway_application.clone(),
            hl7_profile: self.hl7_profile,
        })
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.trim().parse::<f64>().map_err(|e| format!("{text:?} is not a number: {e}"))
}

fn positive(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    if value.is_finite() && value > 0.0 { Ok(value) } else { Err(format!("{text} is not a positive number")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_a_wardwatch_environment_variable() {
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let mut names = std::collections::HashSet::new();
            for arg in sub.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
                let env = arg.get_env().unwrap_or_else(|| panic!("{} --{} has no env", sub.get_name(), arg.get_id()));
                let env = env.to_str().unwrap();
                assert!(env.starts_with("WARDWATCH_"), "{env}");
                assert!(names.insert(env.to_owned()), "{} uses {env} twice", sub.get_name());
            }
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn device_flags_become_a_device_config() {
        let cli = Cli::try_parse_from([
            "wardwatch-simulator",
            "device",
            "--gateway=gw:2575",
            "--device-id=monitor-7",
            "--patient-id=P-7",
            "--bed=7",
            "--scenario=sepsis",
            "--seed=5",
            "--interval=500ms",
            "--onset=0",
        ])
        .unwrap();
        let Command::Device(args) = cli.command else { panic!("not device") };
        let config = args.config();
        assert_eq!(config.context.device_id, "monitor-7");
        assert_eq!(config.interval, Duration::from_millis(500));
        assert_eq!(config.timeline.episodes[0].scenario, Scenario::Sepsis);
        assert_eq!(config.timeline.episodes[0].onset_s, 0.0);
        assert_eq!(config.seed, 5);
    }

    fn device_network(flags: &[&str]) -> NetworkArgs {
        let base = ["wardwatch-simulator", "device", "--gateway=gw:2575", "--device-id=d", "--patient-id=p", "--bed=1"];
        let cli = Cli::try_parse_from(base.iter().chain(flags)).unwrap();
        let Command::Device(args) = cli.command else { panic!("not device") };
        args.network
    }

    #[test]
    fn device_network_flags_become_a_bounded_live_attack() {
        let normal = device_network(&["--device-type=ventilator", "--attack-target="]);
        assert_eq!(normal.device_type, DeviceType::Ventilator);
        assert_eq!(normal.live_attack(), Ok(None));
        let scan =
            device_network(&["--network-scenario=port-scan", "--attack-target=10.0.0.9", "--attack-ports=20-30"])
                .live_attack()
                .unwrap()
                .unwrap();
        assert_eq!(scan.target, Target::Address("10.0.0.9".parse().unwrap()));
        let named = device_network(&["--network-scenario=port-scan", "--attack-target=icu-east-gateway.st-mary.svc"]);
        assert_eq!(named.live_attack().unwrap().unwrap().target, Target::Name("icu-east-gateway.st-mary.svc".into()));
        assert_eq!(scan.ports.ports().count(), 11);
        assert_eq!(scan.rate_per_s, LiveAttack::default_rate(NetworkScenario::PortScan));
        let untargeted = device_network(&["--network-scenario=beaconing"]).live_attack().unwrap_err();
        assert!(untargeted.contains("--attack-target"), "{untargeted}");
        let too_fast =
            device_network(&["--network-scenario=syn-flood", "--attack-target=10.0.0.9", "--attack-rate=5000"]);
        assert!(too_fast.live_attack().is_err());
        let bad_ip = ["wardwatch-simulator", "device", "--gateway=g", "--device-id=d", "--patient-id=p", "--bed=1"];
        let err = Cli::try_parse_from(bad_ip.iter().chain(&["--attack-target=10.0.0"])).unwrap_err();
        assert!(err.to_string().contains("--attack-target"), "{err}");
    }

    #[test]
    fn background_servers_are_off_unless_set_and_take_their_protocols_port() {
        let parse = |flags: &[&str]| {
            let base = ["wardwatch-simulator", "device", "--gateway=g:1", "--device-id=d", "--patient-id=p", "--bed=1"];
            let cli = Cli::try_parse_from(base.iter().chain(flags)).unwrap();
            let Command::Device(args) = cli.command else { panic!("not device") };
            args.live_background()
        };
        assert_eq!(parse(&[]).unwrap().servers, Servers::default());
        let servers =
            parse(&["--ntp-server=127.0.0.1", "--dicom-target=127.0.0.1:11112", "--https-target=::1"]).unwrap().servers;
        assert_eq!(servers.ntp, Some("127.0.0.1:123".parse().unwrap()));
        assert_eq!(servers.dicom, Some("127.0.0.1:11112".parse().unwrap()));
        assert_eq!(servers.https, Some("[::1]:443".parse().unwrap()));
        assert_eq!(servers.dns, None);
        assert!(parse(&["--background-max=0"]).is_err());
        let base = ["wardwatch-simulator", "device", "--gateway=g:1", "--device-id=d", "--patient-id=p", "--bed=1"];
        let err = Cli::try_parse_from(base.iter().chain(&["--ntp-server=time.example"])).unwrap_err();
        assert!(err.to_string().contains("--ntp-server"), "{err}");
    }

    #[test]
    fn pcap_takes_network_scenarios_mixed_attacks_and_ward() {
        let cli = Cli::try_parse_from([
            "wardwatch-simulator",
            "pcap",
            "--out=x.pcap",
            "--scenario=mixed-attacks",
            "--device-type=workstation",
            "--attack-target=192.0.2.1",
        ])
        .unwrap();
        let Command::Pcap(args) = cli.command else { panic!("not pcap") };
        let config = args.config().unwrap();
        assert_eq!(config.scenario, CaptureScenario::MixedAttacks);
        assert_eq!(config.device_type, Some(DeviceType::Workstation));
        assert_eq!(config.attack_target, Some(std::net::Ipv4Addr::new(192, 0, 2, 1)));
        let cli = Cli::try_parse_from(["wardwatch-simulator", "pcap", "--out=x.pcap", "--attack-target=::1"]).unwrap();
        let Command::Pcap(args) = cli.command else { panic!("not pcap") };
        assert!(args.config().unwrap_err().contains("IPv4"));
        let ward = pcap_config(&["--scenario=ward", "--onset=2m"]).unwrap();
        assert_eq!(ward.scenario, CaptureScenario::Ward);
        assert_eq!(ward.episode.onset_s, 120.0);
    }

    #[test]
    fn pcap_config_is_the_binarys_for_the_same_flags() {
        let flags = ["--scenario=sepsis", "--devices=3", "--seed=9"];
        let command = ["wardwatch-simulator", "pcap", "--out=x.pcap"].into_iter().chain(flags);
        let Command::Pcap(args) = Cli::try_parse_from(command).unwrap().command else { panic!("not pcap") };
        let config = pcap_config(&flags).unwrap();
        assert_eq!(format!("{config:?}"), format!("{:?}", args.config().unwrap()));
        assert_eq!((config.devices, config.seed), (3, 9));
        assert!(pcap_config(&["--devices=x"]).unwrap_err().contains("--devices"));
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for bad in [
            ["--scenario", "asystole"],
            ["--interval", "0"],
            ["--interval", "1"],
            ["--duration", "-1s"],
            ["--onset", "60"],
            ["--devices", "x"],
        ] {
            let flag = format!("{}={}", bad[0], bad[1]);
            let err = Cli::try_parse_from(["wardwatch-simulator", "pcap", "--out", "x.pcap", &flag]).unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{err}");
        }
    }
}
