//! `wardwatch-exporter`: the packet-capturing exporter sidecar.
//!
//! - `--interface IF`: capture live and serve `/metrics`, `/healthz`, `/readyz` on `--listen`
//!   until SIGTERM or Ctrl-C (or `--duration`); with `--summary json`, print totals on the way out.
//! - `--read FILE --summary json`: read a pcap/pcapng file, print totals, exit.
//! - `--read FILE` alone: replay the file into the metrics, then serve them until stopped.
//!
//! In every mode each intrusion alert is one JSON line where `--alert-lines` says (stderr by
//! default, so that stdout holds only the summary), and with `--alert-url` also POSTed there. The flags are in [`wardwatch_exporter::cli`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::net::TcpListener;
use wardwatch_exporter::anomaly::features::Devices;
use wardwatch_exporter::anomaly::live::{AnomalyMetrics, AnomalySink};
use wardwatch_exporter::capture::live::{self, LiveConfig};
use wardwatch_exporter::capture::offline;
use wardwatch_exporter::cli::{Cli, Command, IdsArgs, SummaryFormat};
use wardwatch_exporter::ids::config::{Cidr, CidrList};
use wardwatch_exporter::output::alerts::{AlertOutput, AlertPoster, DeliveryReport};
use wardwatch_exporter::output::metrics::{Metrics, MetricsSink};
use wardwatch_exporter::output::summary::Summary;
use wardwatch_exporter::pipeline::{Pipeline, PipelineConfig, Sink};
use wardwatch_serve::{Endpoints, Readiness};

/// How long the exporter waits at exit for queued alert POSTs.
const ALERT_POST_WAIT: Duration = Duration::from_secs(10);

fn poster(ids: &IdsArgs, report: DeliveryReport) -> Result<Option<AlertPoster>> {
    ids.alert_url.clone().map(|url| AlertPoster::start(url, report)).transpose()
}

/// The addresses of a live capture interface, as single-host CIDRs (none for `any` or unknown).
fn interface_addresses(name: &str) -> CidrList {
    let devices = pcap::Device::list().unwrap_or_default();
    let addresses = devices.iter().filter(|d| d.name == name).flat_map(|d| d.addresses.iter());
    CidrList(addresses.map(|a| Cidr::host(a.addr)).collect())
}

/// The pipeline the flags configure; a live capture without `--local-cidrs` takes its
/// interface's addresses as the device's.
fn pipeline(cli: &Cli) -> PipelineConfig {
    let mut config = cli.pipeline();
    if config.ids.local_cidrs.is_empty()
        && let Some(interface) = &cli.interface
    {
        config.ids.local_cidrs = interface_addresses(interface);
        tracing::info!(interface, addresses = %config.ids.local_cidrs, "the device's addresses, for the intrusion rules");
    }
    config
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
    match &cli.command {
        Some(Command::Evaluate(args)) => return wardwatch_exporter::evaluate::run(args),
        Some(Command::EvaluateVitals(args)) => return wardwatch_exporter::evaluate_vitals::run(args),
        None => {}
    }
    let config = pipeline(&cli);
    if let (Some(path), Some(format)) = (&cli.read, cli.summary) {
        let poster = poster(&cli.ids, Arc::new(|_| {}))?;
        let mut summary = Summary::default();
        let out = alert_lines(&cli)?;
        let alerts = AlertOutput::new(cli.ids.device_id.clone(), out, poster.as_ref());
        offline::replay_file(path, config, &mut (&mut summary, alerts))?;
        if let Some(poster) = poster {
            poster.close(ALERT_POST_WAIT);
        }
        return print_summary(format, &summary);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run_server(cli, config))
}

/// Where the alert lines go (`--alert-lines`), opened.
fn alert_lines(cli: &Cli) -> Result<Box<dyn std::io::Write + Send>> {
    let target = &cli.ids.alert_lines;
    target.open().with_context(|| format!("opening --alert-lines {target:?}"))
}

/// Serves the metrics while a capture (live, or a file replay) feeds them.
async fn run_server(cli: Cli, config: PipelineConfig) -> Result<()> {
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_expected_report_interval(cli.expected_report_interval.as_secs_f64());
    let anomaly = &cli.anomaly;
    metrics.set_anomaly_settings(
        anomaly.anomaly_enabled,
        anomaly.anomaly_training_window,
        anomaly.anomaly_retrain_interval,
    );
    let readiness = Readiness::not_yet("capture not open");
    let listener = TcpListener::bind(cli.listen).await.with_context(|| format!("listening on {}", cli.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics /healthz /readyz");
    let endpoints = Endpoints::new(metrics.registry().clone(), readiness.clone());
    let server = tokio::spawn(wardwatch_serve::serve(listener, endpoints, std::future::pending()));

    let stop = Arc::new(AtomicBool::new(false));
    let live = cli.interface.is_some();
    let mut capture_thread = {
        let (metrics, readiness, stop) = (Arc::clone(&metrics), readiness.clone(), Arc::clone(&stop));
        let max_patients = cli.limits.max_patients;
        let read = cli.read.clone();
        let report: DeliveryReport = {
            let metrics = Arc::clone(&metrics);
            Arc::new(move |result| metrics.record_alert_delivery(result))
        };
        let poster = poster(&cli.ids, report)?;
        let device_id = cli.ids.device_id.clone();
        let out = alert_lines(&cli)?;
        let live_config = LiveConfig {
            interface: cli.interface.clone().unwrap_or_default(),
            filter: cli.filter.clone(),
            snaplen: cli.snaplen,
            buffer_size: cli.buffer_size,
            promiscuous: cli.promiscuous,
            immediate: cli.immediate,
            ..LiveConfig::default()
        };
        let anomaly = cli.anomaly.config(Devices::Single { local: config.ids.local_cidrs.clone() }, max_patients);
        let anomaly_metrics = match anomaly {
            Some(_) => Some(AnomalyMetrics::register(metrics.registry())?),
            None => None,
        };
        tokio::task::spawn_blocking(move || -> Result<Summary> {
            let mut summary = Summary::default();
            let alerts = AlertOutput::new(device_id, out, poster.as_ref());
            let sinks = (MetricsSink::new(&metrics, max_patients), (&mut summary, alerts));
            let mut sink = match (anomaly, &anomaly_metrics) {
                (Some(config), Some(anomaly_metrics)) => AnomalySink::new(config, anomaly_metrics, sinks),
                _ => AnomalySink::disabled(sinks),
            };
            let result = feed(read, config, &live_config, &metrics, &readiness, &stop, &mut sink);
            drop(sink);
            if let Some(poster) = poster {
                poster.close(ALERT_POST_WAIT);
            }
            result.map(|()| summary)
        })
    };

    let deadline = async {
        match cli.duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    // A live capture that ends by itself has failed; a replay ends at once and keeps serving.
    tokio::select! {
        signal = wardwatch_serve::terminated() => tracing::info!(%signal, "stopping"),
        () = deadline => {}
        captured = &mut capture_thread, if live => {
            captured??;
            bail!("capture on {} ended", cli.interface.unwrap_or_default());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let summary = capture_thread.await??;
    server.abort();
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
    readiness: &Readiness,
    stop: &AtomicBool,
    sink: &mut impl Sink,
) -> Result<()> {
    if let Some(path) = read {
        offline::replay_file(&path, config, sink)?;
        readiness.set(true);
        tracing::info!(file = %path.display(), "replayed; serving until stopped");
        return Ok(());
    }
    let mut handle = live::open_live(live_config)?;
    metrics.set_capture_open(true);
    readiness.set(true);
    tracing::info!(interface = %live_config.interface, filter = ?live_config.filter, "capturing");
    let mut pipeline = Pipeline::new(config);
    let result = live::run(&mut handle, &mut pipeline, sink, Some(metrics), stop, live_config.read_timeout);
    metrics.set_capture_open(false);
    readiness.set(false);
    result
}
