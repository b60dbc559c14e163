//! `wardwatch-exporter`: the packet-capturing exporter sidecar.
//!
//! - `--interface IF`: capture live and serve `/metrics`, `/healthz`, `/readyz` on `--listen`
//!   until SIGTERM or Ctrl-C (or `--duration`); with `--summary json`, print totals on the way out.
//! - `--read FILE --summary json`: read a pcap/pcapng file, print totals, exit.
//! - `--read FILE` alone: replay the file into the metrics, then serve them until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, ValueEnum};
use tokio::net::TcpListener;
use wardwatch_exporter::capture::{self, LiveConfig};
use wardwatch_exporter::flow::FlowConfig;
use wardwatch_exporter::metrics::{Metrics, MetricsSink};
use wardwatch_exporter::offline;
use wardwatch_exporter::pipeline::{Pipeline, PipelineConfig};
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
    /// Let the kernel batch packets instead of delivering each at once (immediate mode is the default).
    #[arg(long, env = "WARDWATCH_NO_IMMEDIATE")]
    no_immediate: bool,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "WARDWATCH_LISTEN", default_value = "0.0.0.0:9102")]
    listen: SocketAddr,
    /// Print totals in this format (with --read: then exit; live: when stopping).
    #[arg(long, env = "WARDWATCH_SUMMARY", value_enum)]
    summary: Option<SummaryFormat>,
    /// Stop a live capture after this many seconds.
    #[arg(long, env = "WARDWATCH_DURATION_SECONDS")]
    duration_seconds: Option<u64>,
    #[command(flatten)]
    limits: Limits,
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
    /// Largest HL7 message (MLLP frame) decoded, in bytes.
    #[arg(long, env = "WARDWATCH_MAX_HL7_MESSAGE_BYTES", default_value_t = SessionConfig::default().max_message_bytes)]
    max_hl7_message_bytes: usize,
    /// Patients whose vital-sign series are kept (the least recently reported go first).
    #[arg(long, env = "WARDWATCH_MAX_PATIENTS", default_value_t = 4)]
    max_patients: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Json,
}

impl Limits {
    fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            flows: FlowConfig {
                idle_timeout: Duration::from_secs(self.flow_idle_timeout_seconds),
                active_timeout: Duration::from_secs(self.flow_active_timeout_seconds),
                max_flows: self.max_flows,
            },
            session: SessionConfig {
                max_pending_bytes: self.max_reassembly_bytes,
                max_message_bytes: self.max_hl7_message_bytes,
                ..SessionConfig::default()
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
    let config = cli.limits.pipeline();
    if let (Some(path), Some(format)) = (&cli.read, cli.summary) {
        return print_summary(format, &offline::summarize_file(path, config)?);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run_server(cli, config))
}

/// Serves the metrics while a capture (live, or a file replay) feeds them.
async fn run_server(cli: Cli, config: PipelineConfig) -> Result<()> {
    let metrics = Arc::new(Metrics::new()?);
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
        let live_config = LiveConfig {
            interface: cli.interface.clone().unwrap_or_default(),
            filter: cli.filter.clone(),
            snaplen: cli.snaplen,
            buffer_size: cli.buffer_size,
            promiscuous: cli.promiscuous,
            immediate: !cli.no_immediate,
            ..LiveConfig::default()
        };
        tokio::task::spawn_blocking(move || -> Result<Summary> {
            let mut summary = Summary::default();
            let mut sink = (MetricsSink::new(&metrics, max_patients), &mut summary);
            if let Some(path) = read {
                offline::replay_file(&path, config, &mut sink)?;
                state.set_ready(true);
                tracing::info!(file = %path.display(), "replayed; serving until stopped");
                return Ok(summary);
            }
            let mut handle = capture::open_live(&live_config)?;
            metrics.set_capture_open(true);
            state.set_ready(true);
            tracing::info!(interface = %live_config.interface, filter = ?live_config.filter, "capturing");
            let mut pipeline = Pipeline::new(config);
            let result =
                capture::run(&mut handle, &mut pipeline, &mut sink, Some(&metrics), &stop, live_config.read_timeout);
            metrics.set_capture_open(false);
            state.set_ready(false);
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
