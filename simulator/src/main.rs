//! `wardwatch-simulator`: device twin, ward gateway, or labelled capture writer.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use wardwatch_simulator::cli::{Cli, Command, DeviceArgs, GatewayArgs, PcapArgs};
use wardwatch_simulator::device::Device;
use wardwatch_simulator::gateway::Gateway;
use wardwatch_simulator::{capture, http};

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).context("--log")?)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Pcap(args) => pcap(&args),
        Command::Device(args) => runtime()?.block_on(device(args)),
        Command::Gateway(args) => runtime()?.block_on(gateway(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn pcap(args: &PcapArgs) -> Result<()> {
    let labels = capture::write_files(&args.config(), &args.out)?;
    let summary = serde_json::json!({
        "pcap": args.out,
        "labels": capture::labels_path(&args.out),
        "packets": labels.packets,
        "messages": labels.messages,
        "devices": labels.devices.len(),
    });
    println!("{summary}");
    Ok(())
}

async fn device(args: DeviceArgs) -> Result<()> {
    let mut device = Device::new(args.config());
    tokio::select! {
        () = device.run(args.readings) => {}
        () = terminated() => {}
    }
    println!("{}", serde_json::to_string(&stats_json(device.stats()))?);
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
    let render = Arc::clone(&gateway);
    tokio::select! {
        () = Arc::clone(&gateway).serve(hl7) => {}
        () = http::serve(metrics, Arc::new(move || render.metrics().render())) => {}
        () = terminated() => tracing::info!("terminating"),
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends).
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
    }
}
