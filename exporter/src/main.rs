//! `wardwatch-exporter`: the packet-capturing exporter sidecar.
//!
//! - `--interface IF`: capture live and serve `/metrics`, `/healthz`, `/readyz` on `--listen`
//!   until SIGTERM or Ctrl-C (or `--duration`); with `--summary json`, print totals on the way out.
//! - `--read FILE --summary json`: read a pcap/pcapng file, print totals, exit.
//! - `--read FILE` alone: replay the file into the metrics, then serve them until stopped.
//!
//! In every mode each intrusion alert is one JSON line on stdout (before the summary, if any),
//! and with `--alert-url` also POSTed there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, ValueEnum};
use tokio::net::TcpListener;
use wardwatch_exporter::alert_output::{AlertOutput, AlertPoster};
use wardwatch_exporter::capture::{self, LiveConfig};
use wardwatch_exporter::flow::FlowConfig;
use wardwatch_exporter::fragments::FragmentConfig;
use wardwatch_exporter::ids::config::{Cidr, CidrList, PortList, PortNumbers};
use wardwatch_exporter::ids::{IdsConfig, Sensitivity};
use wardwatch_exporter::metrics::{Metrics, MetricsSink};
use wardwatch_exporter::offline;
use wardwatch_exporter::pipeline::{Pipeline, PipelineConfig, Sink};
use wardwatch_exporter::server::{ServerState, serve};
use wardwatch_exporter::session::SessionConfig;
use wardwatch_exporter::summary::Summary;

#[derive(Parser)]
#[command(name = "wardwatch-exporter", version, about = "Captures a device's traffic and exports what it sees")]
struct Cli {
    /// Capture live on this interface (`any` for all).
    #[arg(long, env = "WARDWATCH_INTERFACE", conflicts_with = "read", required_unless_present = "read")]
    interface: Option<String>,
    /// Read this pcap or pcapng file instead of capturing live.
    #[arg(long, env = "WARDWATCH_READ")]
    read: Option<PathBuf>,
    /// BPF filter (tcpdump syntax) for live capture.
    #[arg(long, env = "WARDWATCH_FILTER")]
    filter: Option<String>,
    /// Bytes kept of each captured packet.
    #[arg(long, env = "WARDWATCH_SNAPLEN", default_value_t = 262_144)]
    snaplen: i32,
    /// Kernel capture buffer in bytes.
    #[arg(long, env = "WARDWATCH_BUFFER_SIZE", default_value_t = 4 * 1024 * 1024)]
    buffer_size: i32,
    /// Capture in promiscuous mode.
    #[arg(long, env = "WARDWATCH_PROMISCUOUS")]
    promiscuous: bool,
    /// Deliver each packet at once instead of letting the kernel batch them (lower latency, but
    /// a wake-up per packet: batching, the default, keeps up with several times the rate).
    #[arg(long, env = "WARDWATCH_IMMEDIATE")]
    immediate: bool,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "WARDWATCH_LISTEN", default_value = "0.0.0.0:9102")]
    listen: SocketAddr,
    /// Print totals in this format (with --read: then exit; live: when stopping).
    #[arg(long, env = "WARDWATCH_SUMMARY", value_enum)]
    summary: Option<SummaryFormat>,
    /// Stop a live capture after this many seconds.
    #[arg(long, env = "WARDWATCH_DURATION_SECONDS")]
    duration_seconds: Option<u64>,
    /// Seconds between two HL7 reports the device is configured to send (0: none expected),
    /// exposed for the device-health rules that call a device silent.
    #[arg(long, env = "WARDWATCH_EXPECTED_REPORT_INTERVAL_SECONDS", default_value_t = 0.0)]
    expected_report_interval_seconds: f64,
    #[command(flatten)]
    limits: Limits,
    #[command(flatten)]
    ids: IdsArgs,
}

/// The intrusion rules (see the README for what each does and its severity).
#[derive(Args)]
struct IdsArgs {
    /// Device id written into each alert line.
    #[arg(long, env = "WARDWATCH_DEVICE_ID", default_value = "unknown")]
    device_id: String,
    /// POST each alert line (JSON) to this URL as well.
    #[arg(long, env = "WARDWATCH_ALERT_URL")]
    alert_url: Option<String>,
    /// HL7/MLLP ports (TCP, comma-separated): always allowed destination ports.
    #[arg(long, env = "WARDWATCH_HL7_PORTS", default_value = "2575")]
    hl7_ports: PortNumbers,
    /// Destinations the device may contact (comma-separated CIDRs; empty: none besides its own
    /// addresses and loopback).
    #[arg(long, env = "WARDWATCH_ALLOWED_CIDRS", default_value = "")]
    allowed_cidrs: CidrList,
    /// Transports and ports the device may use, e.g. `UDP/123,TCP/443,ICMP` (HL7 ports are implied).
    #[arg(long, env = "WARDWATCH_ALLOWED_PORTS", default_value = "")]
    allowed_ports: PortList,
    /// The device's own addresses (comma-separated CIDRs), to tell its egress and the contacts
    /// it makes from traffic to it. Default: a live interface's addresses; otherwise the side
    /// that opens a flow counts as the device.
    #[arg(long, env = "WARDWATCH_LOCAL_CIDRS", default_value = "")]
    local_cidrs: CidrList,
    /// low doubles the count, rate and volume thresholds, high halves them.
    #[arg(long, env = "WARDWATCH_IDS_SENSITIVITY", value_enum, default_value = "medium")]
    ids_sensitivity: SensitivityArg,
    /// Length of the counting windows, in seconds of packet time.
    #[arg(long, env = "WARDWATCH_IDS_WINDOW_SECONDS", default_value_t = IdsConfig::default().window.as_secs())]
    ids_window_seconds: u64,
    /// Port scan: distinct destination ports from one source in a window.
    #[arg(long, env = "WARDWATCH_IDS_PORT_SCAN_PORTS", default_value_t = IdsConfig::default().port_scan_ports)]
    ids_port_scan_ports: u32,
    /// Port scan: distinct destination hosts from one source in a window.
    #[arg(long, env = "WARDWATCH_IDS_PORT_SCAN_HOSTS", default_value_t = IdsConfig::default().port_scan_hosts)]
    ids_port_scan_hosts: u32,
    /// SYN flood: SYNs per second to one destination (averaged over the window).
    #[arg(long, env = "WARDWATCH_IDS_SYN_FLOOD_RATE", default_value_t = IdsConfig::default().syn_flood_rate)]
    ids_syn_flood_rate: f64,
    /// SYN flood: share of those SYNs left half-open (0 to 1; not scaled by sensitivity).
    #[arg(long, env = "WARDWATCH_IDS_SYN_FLOOD_HALF_OPEN_RATIO", default_value_t = IdsConfig::default().syn_flood_half_open_ratio)]
    ids_syn_flood_half_open_ratio: f64,
    /// Exfiltration: egress bytes in a window versus the learnt per-window baseline.
    #[arg(long, env = "WARDWATCH_IDS_EXFILTRATION_FACTOR", default_value_t = IdsConfig::default().exfiltration_factor)]
    ids_exfiltration_factor: f64,
    /// Exfiltration: egress bytes in a window below which the rule never fires.
    #[arg(long, env = "WARDWATCH_IDS_EXFILTRATION_MIN_BYTES", default_value_t = IdsConfig::default().exfiltration_min_bytes)]
    ids_exfiltration_min_bytes: u64,
    /// Beaconing: near-periodic connections to one destination before firing.
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_CONNECTIONS", default_value_t = IdsConfig::default().beaconing_connections)]
    ids_beaconing_connections: u32,
    /// Beaconing: largest coefficient of variation of the intervals (not scaled by sensitivity).
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_MAX_JITTER", default_value_t = IdsConfig::default().beaconing_max_jitter)]
    ids_beaconing_max_jitter: f64,
    /// Beaconing: destination ports whose periodic connections are expected (e.g. `UDP/123,UDP/53`).
    #[arg(long, env = "WARDWATCH_IDS_BEACONING_IGNORED_PORTS", default_value = "UDP/123,UDP/53")]
    ids_beaconing_ignored_ports: PortList,
    /// Most sources, destinations, addresses or beacon candidates each rule tracks.
    #[arg(long, env = "WARDWATCH_IDS_MAX_TRACKED", default_value_t = IdsConfig::default().max_tracked)]
    ids_max_tracked: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum SensitivityArg {
    Low,
    Medium,
    High,
}

impl IdsArgs {
    fn config(&self) -> IdsConfig {
        IdsConfig {
            window: Duration::from_secs(self.ids_window_seconds.max(1)),
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
            allowed_cidrs: self.allowed_cidrs.clone(),
            allowed_ports: self.allowed_ports.clone(),
            hl7_ports: self.hl7_ports.0.clone(),
            local_cidrs: self.local_cidrs.clone(),
            max_tracked: self.ids_max_tracked,
        }
    }

    fn poster(&self, metrics: Option<Arc<Metrics>>) -> Result<Option<AlertPoster>> {
        self.alert_url.clone().map(|url| AlertPoster::start(url, metrics)).transpose()
    }
}

/// How long the exporter waits at exit for queued alert POSTs.
const ALERT_POST_WAIT: Duration = Duration::from_secs(10);

/// The addresses of a live capture interface, as single-host CIDRs (none for `any` or unknown).
fn interface_addresses(name: &str) -> CidrList {
    let devices = pcap::Device::list().unwrap_or_default();
    let addresses = devices.iter().filter(|d| d.name == name).flat_map(|d| d.addresses.iter());
    CidrList(addresses.map(|a| Cidr::host(a.addr)).collect())
}

#[derive(Args)]
struct Limits {
    /// Most flows tracked at once; packets of further flows are counted as overflow.
    #[arg(long, env = "WARDWATCH_MAX_FLOWS", default_value_t = FlowConfig::default().max_flows)]
    max_flows: usize,
    /// Seconds without a packet after which a flow ends.
    #[arg(long, env = "WARDWATCH_FLOW_IDLE_TIMEOUT_SECONDS", default_value_t = FlowConfig::default().idle_timeout.as_secs())]
    flow_idle_timeout_seconds: u64,
    /// Seconds after which a long-lived flow is ended and started afresh.
    #[arg(long, env = "WARDWATCH_FLOW_ACTIVE_TIMEOUT_SECONDS", default_value_t = FlowConfig::default().active_timeout.as_secs())]
    flow_active_timeout_seconds: u64,
    /// Out-of-order bytes held per TCP direction before a hole is skipped.
    #[arg(long, env = "WARDWATCH_MAX_REASSEMBLY_BYTES", default_value_t = SessionConfig::default().max_pending_bytes)]
    max_reassembly_bytes: usize,
    /// Bytes held across all TCP connections (out-of-order data and unfinished HL7 frames);
    /// past it the connection that grew drops what it holds.
    #[arg(long, env = "WARDWATCH_MAX_HELD_STREAM_BYTES", default_value_t = SessionConfig::default().max_held_bytes_total)]
    max_held_stream_bytes: usize,
    /// Largest HL7 message (MLLP frame) decoded, in bytes.
    #[arg(long, env = "WARDWATCH_MAX_HL7_MESSAGE_BYTES", default_value_t = SessionConfig::default().max_message_bytes)]
    max_hl7_message_bytes: usize,
    /// Patients whose vital-sign series are kept (the least recently reported go first).
    #[arg(long, env = "WARDWATCH_MAX_PATIENTS", default_value_t = 4)]
    max_patients: usize,
    /// IP datagrams whose fragments are tracked at once (fragments of more are counted untracked).
    #[arg(long, env = "WARDWATCH_MAX_FRAGMENTED_DATAGRAMS", default_value_t = FragmentConfig::default().max_datagrams)]
    max_fragmented_datagrams: usize,
    /// How long a fragmented IP datagram may take to complete.
    #[arg(long, env = "WARDWATCH_FRAGMENT_TIMEOUT_SECONDS", default_value_t = FragmentConfig::default().timeout.as_secs())]
    fragment_timeout_seconds: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Json,
}

impl Cli {
    fn pipeline(&self) -> PipelineConfig {
        let mut ids = self.ids.config();
        if ids.local_cidrs.is_empty()
            && let Some(interface) = &self.interface
        {
            ids.local_cidrs = interface_addresses(interface);
            tracing::info!(interface, addresses = %ids.local_cidrs, "the device's addresses, for the intrusion rules");
        }
        let limits = &self.limits;
        PipelineConfig {
            flows: FlowConfig {
                idle_timeout: Duration::from_secs(limits.flow_idle_timeout_seconds),
                active_timeout: Duration::from_secs(limits.flow_active_timeout_seconds),
                max_flows: limits.max_flows,
            },
            session: SessionConfig {
                max_pending_bytes: limits.max_reassembly_bytes,
                max_message_bytes: limits.max_hl7_message_bytes,
                max_held_bytes_total: limits.max_held_stream_bytes,
                ..SessionConfig::default()
            },
            ids,
            fragments: FragmentConfig {
                max_datagrams: limits.max_fragmented_datagrams,
                timeout: Duration::from_secs(limits.fragment_timeout_seconds),
            },
        }
    }
}

fn print_summary(format: SummaryFormat, summary: &Summary) -> Result<()> {
    match format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(summary)?),
    }
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = cli.pipeline();
    if let (Some(path), Some(format)) = (&cli.read, cli.summary) {
        let poster = cli.ids.poster(None)?;
        let mut summary = Summary::default();
        let alerts = AlertOutput::new(cli.ids.device_id.clone(), std::io::stdout(), poster.as_ref());
        offline::replay_file(path, config, &mut (&mut summary, alerts))?;
        if let Some(poster) = poster {
            poster.close(ALERT_POST_WAIT);
        }
        return print_summary(format, &summary);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run_server(cli, config))
}

/// Serves the metrics while a capture (live, or a file replay) feeds them.
async fn run_server(cli: Cli, config: PipelineConfig) -> Result<()> {
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_expected_report_interval(cli.expected_report_interval_seconds);
    let state = Arc::new(ServerState::new(Arc::clone(&metrics)));
    let listener = TcpListener::bind(cli.listen).await.with_context(|| format!("listening on {}", cli.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics /healthz /readyz");
    let mut server = tokio::spawn(serve(listener, Arc::clone(&state), shutdown_signal()));

    let stop = Arc::new(AtomicBool::new(false));
    let live = cli.interface.is_some();
    let mut capture_thread = {
        let (metrics, state, stop) = (Arc::clone(&metrics), Arc::clone(&state), Arc::clone(&stop));
        let max_patients = cli.limits.max_patients;
        let read = cli.read.clone();
        let poster = cli.ids.poster(Some(Arc::clone(&metrics)))?;
        let device_id = cli.ids.device_id.clone();
        let live_config = LiveConfig {
            interface: cli.interface.clone().unwrap_or_default(),
            filter: cli.filter.clone(),
            snaplen: cli.snaplen,
            buffer_size: cli.buffer_size,
            promiscuous: cli.promiscuous,
            immediate: cli.immediate,
            ..LiveConfig::default()
        };
        tokio::task::spawn_blocking(move || -> Result<Summary> {
            let mut summary = Summary::default();
            let alerts = AlertOutput::new(device_id, std::io::stdout(), poster.as_ref());
            let mut sink = (MetricsSink::new(&metrics, max_patients), (&mut summary, alerts));
            let result = feed(read, config, &live_config, &metrics, &state, &stop, &mut sink);
            drop(sink);
            if let Some(poster) = poster {
                poster.close(ALERT_POST_WAIT);
            }
            result.map(|()| summary)
        })
    };

    let deadline = async {
        match cli.duration_seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    // A live capture that ends by itself has failed; a replay ends at once and keeps serving.
    tokio::select! {
        () = shutdown_signal() => {}
        () = deadline => {}
        served = &mut server => served??,
        captured = &mut capture_thread, if live => {
            captured??;
            bail!("capture on {} ended", cli.interface.unwrap_or_default());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let summary = capture_thread.await??;
    if let Some(format) = cli.summary {
        print_summary(format, &summary)?;
    }
    Ok(())
}

/// Runs a file replay (`read`) or a live capture through a pipeline into `sink`.
fn feed(
    read: Option<PathBuf>,
    config: PipelineConfig,
    live_config: &LiveConfig,
    metrics: &Metrics,
    state: &ServerState,
    stop: &AtomicBool,
    sink: &mut impl Sink,
) -> Result<()> {
    if let Some(path) = read {
        offline::replay_file(&path, config, sink)?;
        state.set_ready(true);
        tracing::info!(file = %path.display(), "replayed; serving until stopped");
        return Ok(());
    }
    let mut handle = capture::open_live(live_config)?;
    metrics.set_capture_open(true);
    state.set_ready(true);
    tracing::info!(interface = %live_config.interface, filter = ?live_config.filter, "capturing");
    let mut pipeline = Pipeline::new(config);
    let result = capture::run(&mut handle, &mut pipeline, sink, Some(metrics), stop, live_config.read_timeout);
    metrics.set_capture_open(false);
    state.set_ready(false);
    result
}

/// Completes on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
