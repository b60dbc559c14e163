//! `wardwatch-simulator`: device twin, ward gateway, or labelled capture writer.

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use wardwatch_serve::{Endpoints, Readiness};
use wardwatch_simulator::cli::{Cli, Command, DeviceArgs, GatewayArgs, PcapArgs};
use wardwatch_simulator::device::Device;
use wardwatch_simulator::device::sent_log::SentLog;
use wardwatch_simulator::gateway::Gateway;
use wardwatch_simulator::{capture, live};

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).context("--log")?)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a pod's log (kubectl logs) would carry the escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Pcap(args) => pcap(&args),
        Command::Device(args) => runtime()?.block_on(device(*args)),
        Command::Gateway(args) => runtime()?.block_on(gateway(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn pcap(args: &PcapArgs) -> Result<()> {
    let config = args.config().map_err(anyhow::Error::msg)?;
    let labels = capture::write_files(&config, &args.out)?;
    let summary = serde_json::json!({
        "pcap": args.out,
        "labels": capture::labels_path(&args.out),
        "packets": labels.packets,
        "messages": labels.messages,
        "devices": labels.devices.len(),
        "attacks": labels.attacks.len(),
    });
    println!("{summary}");
    Ok(())
}

/// Runs the twin's HL7 feed, its configured background traffic and, if one is configured, its
/// network scenario side by side, until the feed and the attack are done or the process is
/// told to stop. A refused or failed attack ends the process with its error. The summary's
/// `background` is null when the background traffic was still going.
async fn device(args: DeviceArgs) -> Result<()> {
    let attack = args.network.live_attack().map_err(anyhow::Error::msg)?;
    let background = args.live_background().map_err(anyhow::Error::msg)?;
    tracing::info!(device_type = %args.network.device_type, network_scenario = %args.network.network_scenario, "device twin starting");
    let mut device = Device::new(args.config());
    if let Some(path) = &args.sent_log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening --sent-log {}", path.display()))?;
        device = device.with_sent_log(SentLog::new(Box::new(std::io::BufWriter::new(file))));
    }
    let sends_hl7 = args.network.device_type.sends_hl7();
    if !sends_hl7 {
        tracing::info!(device_type = %args.network.device_type, "this device type sends no HL7; no readings go to the gateway");
    }
    let mut report = None;
    let mut background_report = None;
    {
        // A device that sends no HL7 stays on as long as one that does: until terminated, or
        // for as many intervals as it was given readings.
        let feed = async {
            match (sends_hl7, args.readings) {
                (true, limit) => device.run(limit).await,
                (false, None) => std::future::pending().await,
                (false, Some(n)) => {
                    tokio::time::sleep(args.interval.saturating_mul(n.min(u32::MAX.into()) as u32)).await
                }
            }
        };
        let network = async {
            match &attack {
                Some(attack) => live::run(attack).await.map(Some),
                None => Ok(None),
            }
        };
        let side_traffic = live::background::run(&background);
        tokio::pin!(feed, network, side_traffic);
        // The background traffic goes on while the device is on: it ends with its own rounds,
        // or when the feed and the attack are done.
        let (mut feed_done, mut network_done, mut side_done) = (false, false, false);
        while !(feed_done && network_done) {
            tokio::select! {
                () = &mut feed, if !feed_done => feed_done = true,
                outcome = &mut network, if !network_done => {
                    network_done = true;
                    report = outcome?;
                }
                outcome = &mut side_traffic, if !side_done => {
                    side_done = true;
                    background_report = Some(outcome?);
                }
                signal = wardwatch_serve::terminated() => {
                    tracing::info!(%signal, "stopping");
                    break;
                }
            }
        }
    }
    let mut summary = stats_json(device.stats());
    summary["device_type"] = serde_json::json!(args.network.device_type);
    summary["attack"] = serde_json::to_value(&report)?;
    summary["background"] = serde_json::to_value(&background_report)?;
    println!("{summary}");
    Ok(())
}

fn stats_json(stats: &wardwatch_simulator::device::DeviceStats) -> serde_json::Value {
    serde_json::json!({
        "readings": stats.readings,
        "sent": stats.sent,
        "acked": stats.acked,
        "naks": stats.naks,
        "ack_timeouts": stats.ack_timeouts,
        "send_errors": stats.send_errors,
        "connects": stats.connects,
        "connect_failures": stats.connect_failures,
        "silent": stats.silent,
        "unsent": stats.unsent,
    })
}

async fn gateway(args: GatewayArgs) -> Result<()> {
    let gateway = Gateway::new(args.config());
    let hl7 = TcpListener::bind(&args.listen).await.with_context(|| format!("binding --listen {}", args.listen))?;
    let metrics = TcpListener::bind(&args.metrics_listen)
        .await
        .with_context(|| format!("binding --metrics-listen {}", args.metrics_listen))?;
    tracing::info!(hl7 = %hl7.local_addr()?, metrics = %metrics.local_addr()?, "gateway listening");
    // Ready once listening: the HL7 socket is what devices wait for.
    let endpoints = Endpoints::new(gateway.metrics().registry().clone(), Readiness::always());
    tokio::select! {
        () = std::sync::Arc::clone(&gateway).serve(hl7) => {}
        () = wardwatch_serve::serve(metrics, endpoints, std::future::pending()) => {}
        signal = wardwatch_serve::terminated() => tracing::info!(%signal, "stopping"),
    }
    Ok(())
}
