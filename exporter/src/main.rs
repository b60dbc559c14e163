//! `wardwatch-exporter`: the packet-capturing exporter sidecar.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(name = "wardwatch-exporter", version, about = "Captures a device's traffic and exports what it sees")]
struct Cli {
    /// Read this pcap or pcapng file instead of capturing live.
    #[arg(long, env = "WARDWATCH_READ")]
    read: PathBuf,
    /// Print totals in this format and exit.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Json)]
    summary: SummaryFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Json,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let summary = wardwatch_exporter::offline::summarize_file(&cli.read)?;
    match cli.summary {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
    }
    Ok(())
}
