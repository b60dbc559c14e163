//! The command line of `wardwatch-exporter`. Every flag has an environment variable
//! (`WARDWATCH_*`), which is how the operator configures the sidecar. Durations are written as
//! everywhere in wardwatch: `500ms`, `10s`, `5m`, `1h30m`. Parsing and the conversion into the
//! pipeline's configuration are here; running it is `main`'s job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Url;
use wardwatch_serve::duration::{at_least, parse as duration, positive};

use crate::decode::fragments::FragmentConfig;
use crate::flows::table::FlowConfig;
use crate::hl7::session::SessionConfig;
use crate::ids::config::{CidrList, PortList, PortNumbers};
use crate::ids::{IdsConfig, Sensitivity};
use crate::output::alerts::AlertLines;
use crate::pipeline::PipelineConfig;

#[derive(Parser)]
#[command(name = "wardwatch-exporter", version, about = "Captures a device's traffic and exports what it sees")]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Capture live on this interface (`any` for all).
    #[arg(long, env = "WARDWATCH_INTERFACE", conflicts_with = "read", required_unless_present = "read")]
    pub interface: Option<String>,
    /// Read this pcap or pcapng file instead of capturing live.
    #[arg(long, env = "WARDWATCH_READ")]
    pub read: Option<PathBuf>,
    /// BPF filter (tcpdump syntax) for live capture.
    #[arg(long, env = "WARDWATCH_FILTER")]
    pub filter: Option<String>,
    /// Bytes kept of each captured packet.
    #[arg(long, env = "WARDWATCH_SNAPLEN", default_value_t = 262_144)]
    pub snaplen: i32,
    /// Kernel capture buffer in bytes.
    #[arg(long, env = "WARDWATCH_BUFFER_SIZE", default_value_t = 4 * 1024 * 1024)]
    pub buffer_size: i32,
    /// Capture in promiscuous mode.
    #[arg(long, env = "WARDWATCH_PROMISCUOUS")]
    pub promiscuous: bool,
    /// Deliver each packet at once instead of letting the kernel batch them (lower latency, but
    /// a wake-up per packet: batching, the default, keeps up with several times the rate).
    #[arg(long, env = "WARDWATCH_IMMEDIATE")]
    pub immediate: bool,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "WARDWATCH_LISTEN", default_value = "0.0.0.0:9102")]
    pub listen: SocketAddr,
    /// Print totals in this format (with --read: then exit; live: when stopping).
    #[arg(long, env = "WARDWATCH_SUMMARY", value_enum)]
    pub summary: Option<SummaryFormat>,
    /// Stop a live capture after this long (e.g. `30s`).
    #[arg(long, env = "WARDWATCH_DURATION", value_parser = positive)]
    pub duration: Option<Duration>,
    /// Time between two HL7 reports the device is configured to send (`0s`: none expected),
    /// exposed for the device-health rules that call a device silent.
    #[arg(long, env = "WARDWATCH_EXPECTED_REPORT_INTERVAL", default_value = "0s", value_parser = duration)]
    pub expected_report_interval: Duration,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub ids: IdsArgs,
    #[command(flatten)]
    pub anomaly: AnomalyArgs,
}

/// Commands besides capturing (which takes no command).
#[derive(Subcommand)]
pub enum Command {
    /// Trains the network anomaly model on a labelled capture and reports precision, recall,
    /// F1 and false-positive rate per attack scenario on others.
    Evaluate(crate::evaluate::EvaluateArgs),
    /// Measures the vital-sign anomaly model on clinical captures: how early it flags an
    /// episode beside the limit and NEWS2 alerts, and its false alarms on stable patients.
    EvaluateVitals(crate::evaluate_vitals::EvaluateVitalsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SummaryFormat {
    Json,
}

/// The intrusion rules (see the README for what each does and its severity).
#[derive(Args)]
pub struct IdsArgs {
    /// Device id written into each alert line.
    #[arg(long, env = "WARDWATCH_DEVICE_ID", default_value = "unknown")]
    pub device_id: String,
    /// Where each alert line (JSON) goes: `stderr`, `stdout` or a file path (appended to).
    /// stderr by default, so that stdout holds only the `--summary` document.
    #[arg(long, env = "WARDWATCH_ALERT_LINES", default_value = "stderr")]
    pub alert_lines: AlertLines,
    /// POST each alert line (JSON) to this URL as well.
    #[arg(long, env = "WARDWATCH_ALERT_URL", value_parser = http_url)]
    pub alert_url: Option<Url>,
    /// HL7/MLLP ports (TCP, comma-separated): always allowed destination ports.
    #[arg(long, env = "WARDWATCH_HL7_PORTS", default_value = "2575")]
    pub hl7_ports: PortNumbers,
    /// Destinations the device may contact (comma-separated CIDRs; empty: none besides its own
    /// addresses and loopback). Not given: the private, shared and link-local ranges
    /// ([`CidrList::internal_ranges`]), so that reading someone's capture flags only public peers.
    #[arg(long, env = "WARDWATCH_ALLOWED_CIDRS")]
    pub allowed_cidrs: Option<CidrList>,
    /// Transports and ports the device may use, e.g. `UDP/123,TCP/443,ICMP` (HL7 ports are
    /// implied; empty: only those). Not given: any transport and port, as nothing was declared.
    #[arg(long, env = "WARDWATCH_ALLOWED_PORTS")]
    pub allowed_ports: Option<PortList>,
    /// The device's own addresses (comma-separated CIDRs), to tell its egress and the contacts
    /// it makes from traffic to it. Default: a live interface's addresses; otherwise the side
    /// that opens a flow counts as the device.
    #[arg(long, env = "WARDWATCH_LOCAL_CIDRS", default_value = "")]
    pub local_cidrs: CidrList,
    /// low doubles the count, rate and volume thresholds, high halves them.
    #[arg(long, env = "WARDWATCH_IDS_SENSITIVITY", value_enum, default_value = "medium")]
    pub ids_sensitivity: SensitivityArg,
    /// Length of the counting windows, in packet time.
    #[arg(long, env = "WARDWATCH_IDS_WINDOW", default_value = "10s", value_parser = positive)]
    pub ids_window: Duration,
    /// Port scan: distinct destination ports from one source in a window.
    #[arg(long, env = "WARDWATCH_IDS_PORT_SCAN_PORTS", default_value_t = IdsConfig::default().port_scan_ports)]
    pub ids_port_scan_ports: u32,
    /// Port scan: distinct destination hosts from one source in a window.
    #[arg(long, env = "WARDWATCH_IDS_PORT_SCAN_HOSTS", default_value_t = IdsConfig::default().port_scan_hosts)]
    pub ids_port_scan_hosts: u32,
    /// SYN flood: SYNs per second to one destination (averaged over the window).
    #[arg(long, env = "WARDWATCH_IDS_SYN_FLOOD_RATE", default_value_t = IdsConfig::default().syn_flood_rate)]
    pub ids_syn_flood_rate: f64,
    /// SYN flood: share of those SYNs left half-open (0 to 1; not scaled by sensitivity).
    #[arg(long, env = "WARDWATCH_IDS_SYN_FLOOD_HALF_OPEN_RATIO", default_value_t = IdsConfig::default().syn_flood_half_open_ratio)]
    pub ids_syn_flood_half_open_ratio: f64,
    /// Exfiltration: egress bytes in a window versus the learnt per-window baseline.
    #[arg(long, env = "WARDWATCH_IDS_EXFILTRATION_FACTOR", default_value_t = IdsConfig::default().exfiltration_factor)]
    pub ids_exfiltration_factor: f64,
    /// Exfiltration: egress bytes in a window below which the rule never fires.
    #[arg(long, env = "WARDWATCH_IDS_EXFILTRATION_MIN_BYTES", default_value_t = IdsConfig::default().exfiltration_min_bytes)]
    pub ids_exfiltration_min_bytes: u64,
    /// Beaconing: near-periodic connections to one destination before firing.
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_CONNECTIONS", default_value_t = IdsConfig::default().beaconing_connections)]
    pub ids_beaconing_connections: u32,
    /// Beaconing: largest coefficient of variation of the intervals (not scaled by sensitivity).
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_MAX_JITTER", default_value_t = IdsConfig::default().beaconing_max_jitter)]
    pub ids_beaconing_max_jitter: f64,
    /// Beaconing: destination ports whose periodic connections are expected (e.g. `UDP/123,UDP/53`).
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_IGNORED_PORTS", default_value = "UDP/123,UDP/53")]
    pub ids_beaconing_ignored_ports: PortList,
    /// Most sources, destinations, addresses or beacon candidates each rule tracks.
    #[arg(long, env = "WARDWATCH_IDS_MAX_TRACKED", default_value_t = IdsConfig::default().max_tracked)]
    pub ids_max_tracked: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SensitivityArg {
    Low,
    Medium,
    High,
}

impl IdsArgs {
    pub fn config(&self) -> IdsConfig {
        IdsConfig {
            window: self.ids_window,
            sensitivity: match self.ids_sensitivity {
                SensitivityArg::Low => Sensitivity::Low,
                SensitivityArg::Medium => Sensitivity::Medium,
                SensitivityArg::High => Sensitivity::High,
            },
            port_scan_ports: self.ids_port_scan_ports,
            port_scan_hosts: self.ids_port_scan_hosts,
            syn_flood_rate: self.ids_syn_flood_rate,
            syn_flood_half_open_ratio: self.ids_syn_flood_half_open_ratio,
            exfiltration_factor: self.ids_exfiltration_factor,
            exfiltration_min_bytes: self.ids_exfiltration_min_bytes,
            beaconing_connections: self.ids_beaconing_connections,
            beaconing_max_jitter: self.ids_beaconing_max_jitter,
            beaconing_ignored_ports: self.ids_beaconing_ignored_ports.clone(),
            // The operator always sets both (a Ward's empty list is an empty value, not an
            // absent one), so these defaults serve only offline analysis and hand-run exporters.
            allowed_cidrs: self.allowed_cidrs.clone().unwrap_or_else(CidrList::internal_ranges),
            allowed_ports: self.allowed_ports.clone().unwrap_or_else(PortList::any),
            hl7_ports: self.hl7_ports.0.clone(),
            local_cidrs: self.local_cidrs.clone(),
            max_tracked: self.ids_max_tracked,
        }
    }
}

/// The shortest training window and retraining interval: one feature window
/// ([`crate::anomaly::features::WINDOW`]). Wards use minutes to hours; tests use seconds.
const SHORTEST_ANOMALY_PERIOD: Duration = Duration::from_secs(10);

/// Anomaly detection as the ward configures it (see [`crate::anomaly`]). The settings are also
/// exported (`wardwatch_anomaly_enabled` and the `_seconds` gauges).
#[derive(Args)]
pub struct AnomalyArgs {
    /// Whether the device's traffic gets anomaly scores.
    #[arg(long, env = "WARDWATCH_ANOMALY_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub anomaly_enabled: bool,
    /// How much traffic history trains the model (at least 10s, one feature window).
    #[arg(long, env = "WARDWATCH_ANOMALY_TRAINING_WINDOW", default_value = "10m", value_parser = at_least(SHORTEST_ANOMALY_PERIOD))]
    pub anomaly_training_window: Duration,
    /// How often the model is retrained (at least 10s).
    #[arg(long, env = "WARDWATCH_ANOMALY_RETRAIN_INTERVAL", default_value = "1h", value_parser = at_least(SHORTEST_ANOMALY_PERIOD))]
    pub anomaly_retrain_interval: Duration,
    /// Directory where trained models are saved and reloaded from at start (empty: not saved).
    #[arg(long, env = "WARDWATCH_ANOMALY_MODEL_DIR")]
    pub anomaly_model_dir: Option<PathBuf>,
}

impl AnomalyArgs {
    /// The detectors' configuration; `devices` and `max_patients` come from the capture's.
    pub fn config(
        &self,
        devices: crate::anomaly::features::Devices,
        max_patients: usize,
    ) -> Option<crate::anomaly::live::AnomalyConfig> {
        self.anomaly_enabled.then(|| crate::anomaly::live::AnomalyConfig {
            training_window: self.anomaly_training_window,
            retrain_interval: self.anomaly_retrain_interval,
            model_dir: self.anomaly_model_dir.clone().filter(|dir| !dir.as_os_str().is_empty()),
            devices,
            max_patients,
            seed: 1,
        })
    }
}

#[derive(Args)]
pub struct Limits {
    /// Most flows tracked at once; packets of further flows are counted as overflow.
    #[arg(long, env = "WARDWATCH_MAX_FLOWS", default_value_t = FlowConfig::default().max_flows)]
    pub max_flows: usize,
    /// Time without a packet after which a flow ends.
    #[arg(long, env = "WARDWATCH_FLOW_IDLE_TIMEOUT", default_value = "5m", value_parser = positive)]
    pub flow_idle_timeout: Duration,
    /// Time after which a long-lived flow is ended and started afresh.
    #[arg(long, env = "WARDWATCH_FLOW_ACTIVE_TIMEOUT", default_value = "30m", value_parser = positive)]
    pub flow_active_timeout: Duration,
    /// Out-of-order bytes held per TCP direction before a hole is skipped.
    #[arg(long, env = "WARDWATCH_MAX_REASSEMBLY_BYTES", default_value_t = SessionConfig::default().max_pending_bytes)]
    pub max_reassembly_bytes: usize,
    /// Bytes held across all TCP connections (out-of-order data and unfinished HL7 frames);
    /// past it the connection that grew drops what it holds.
    #[arg(long, env = "WARDWATCH_MAX_HELD_STREAM_BYTES", default_value_t = SessionConfig::default().max_held_bytes_total)]
    pub max_held_stream_bytes: usize,
    /// Largest HL7 message (MLLP frame) decoded, in bytes.
    #[arg(long, env = "WARDWATCH_MAX_HL7_MESSAGE_BYTES", default_value_t = SessionConfig::default().max_message_bytes)]
    pub max_hl7_message_bytes: usize,
    /// Patients whose vital-sign series are kept (the least recently reported go first).
    #[arg(long, env = "WARDWATCH_MAX_PATIENTS", default_value_t = 4)]
    pub max_patients: usize,
    /// IP datagrams whose fragments are tracked at once (fragments of more are counted untracked).
    #[arg(long, env = "WARDWATCH_MAX_FRAGMENTED_DATAGRAMS", default_value_t = FragmentConfig::default().max_datagrams)]
    pub max_fragmented_datagrams: usize,
    /// How long a fragmented IP datagram may take to complete.
    #[arg(long, env = "WARDWATCH_FRAGMENT_TIMEOUT", default_value = "30s", value_parser = positive)]
    pub fragment_timeout: Duration,
}

impl Cli {
    /// The pipeline these flags configure; `ids.local_cidrs` as given (empty unless set).
    pub fn pipeline(&self) -> PipelineConfig {
        let limits = &self.limits;
        PipelineConfig {
            flows: FlowConfig {
                idle_timeout: limits.flow_idle_timeout,
                active_timeout: limits.flow_active_timeout,
                max_flows: limits.max_flows,
            },
            session: SessionConfig {
                max_pending_bytes: limits.max_reassembly_bytes,
                max_message_bytes: limits.max_hl7_message_bytes,
                max_held_bytes_total: limits.max_held_stream_bytes,
                ..SessionConfig::default()
            },
            ids: self.ids.config(),
            fragments: FragmentConfig {
                max_datagrams: limits.max_fragmented_datagrams,
                timeout: limits.fragment_timeout,
            },
        }
    }
}

/// An `http` or `https` URL.
fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("{text:?}: the scheme is {other:?}, not http or https")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(flags: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["wardwatch-exporter", "--read=x.pcap"].iter().chain(flags))
    }

    #[test]
    fn every_flag_has_a_wardwatch_environment_variable() {
        let command = Cli::command();
        command.clone().debug_assert();
        let mut names = std::collections::HashSet::new();
        for arg in command.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
            let env = arg.get_env().unwrap_or_else(|| panic!("--{} has no env", arg.get_id()));
            let env = env.to_str().unwrap();
            assert!(env.starts_with("WARDWATCH_"), "{env}");
            assert!(names.insert(env.to_owned()), "{env} twice");
        }
    }

    #[test]
    fn defaults_are_the_pipelines() {
        // With the network declared, as the operator always does.
        let cli = parse(&["--allowed-cidrs=", "--allowed-ports="]).unwrap();
        assert_eq!(cli.pipeline(), PipelineConfig::default());
        assert_eq!(cli.expected_report_interval, Duration::ZERO);
    }

    #[test]
    fn an_undeclared_network_trusts_internal_ranges_and_any_port() {
        let ids = parse(&[]).unwrap().pipeline().ids;
        assert_eq!(ids.allowed_cidrs, CidrList::internal_ranges());
        assert!(ids.allowed_cidrs.contains("172.20.1.1".parse().unwrap()));
        assert!(ids.allowed_cidrs.contains("fd00::1".parse().unwrap()));
        assert!(!ids.allowed_cidrs.contains("8.8.8.8".parse().unwrap()));
        assert!(!ids.allowed_cidrs.contains("172.32.0.1".parse().unwrap()));
        assert_eq!(ids.allowed_ports, PortList::any());
    }

    #[test]
    fn durations_take_units() {
        let cli = parse(&[
            "--ids-window=1m",
            "--flow-idle-timeout=90s",
            "--flow-active-timeout=1h30m",
            "--fragment-timeout=500ms",
            "--expected-report-interval=5s",
            "--duration=2s",
        ])
        .unwrap();
        let config = cli.pipeline();
        assert_eq!(config.ids.window, Duration::from_secs(60));
        assert_eq!(config.flows.idle_timeout, Duration::from_secs(90));
        assert_eq!(config.flows.active_timeout, Duration::from_secs(5400));
        assert_eq!(config.fragments.timeout, Duration::from_millis(500));
        assert_eq!(cli.expected_report_interval, Duration::from_secs(5));
        assert_eq!(cli.duration, Some(Duration::from_secs(2)));
        for bad in ["--ids-window=10", "--ids-window=0s", "--flow-idle-timeout=soon", "--duration=-1s"] {
            let err = parse(&[bad]).err().unwrap_or_else(|| panic!("{bad} accepted")).to_string();
            assert!(err.contains(bad.split('=').next().unwrap()), "{err}");
        }
    }

    #[test]
    fn anomaly_settings_are_checked() {
        let cli = parse(&["--anomaly-enabled=true", "--anomaly-training-window=10m", "--anomaly-retrain-interval=1h"])
            .unwrap();
        assert!(cli.anomaly.anomaly_enabled);
        assert_eq!(cli.anomaly.anomaly_training_window, Duration::from_secs(600));
        assert_eq!(cli.anomaly.anomaly_retrain_interval, Duration::from_secs(3600));
        assert!(parse(&["--anomaly-training-window=10s"]).is_ok(), "tests train in seconds");
        assert!(parse(&["--anomaly-training-window=5s"]).is_err());
        assert_eq!(cli.anomaly.anomaly_model_dir, None, "not persisted by default");
        assert!(parse(&["--anomaly-retrain-interval=often"]).is_err());
        assert!(parse(&["--anomaly-enabled=maybe"]).is_err());
    }

    #[test]
    fn an_alert_url_must_be_a_url() {
        assert!(parse(&["--alert-url=http://receiver:8080/alerts"]).is_ok());
        for bad in ["--alert-url=receiver:8080/alerts", "--alert-url=/alerts"] {
            let err = parse(&[bad]).err().unwrap_or_else(|| panic!("{bad} accepted")).to_string();
            assert!(err.contains("--alert-url"), "{err}");
        }
    }
}
