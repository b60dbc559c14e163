//! `wardwatch-operator`: the operator binary.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wardwatch_operator::render;
use wardwatch_operator::run::RunArgs;

#[derive(Parser)]
#[command(
    name = "wardwatch-operator",
    version,
    about = "Reconciles wardwatch's Ward and MonitoredDevice resources",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, the operator runs (as `run`).
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (the default).
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions wardwatch serves, as YAML.
    Crd,
    /// Print the fleet dashboard (Grafana JSON) the chart ships for the central Grafana.
    FleetDashboard,
    /// Print the device dashboard (Grafana JSON) the chart ships for a hospital's Grafana.
    DeviceDashboard,
    /// Print the objects the operator would apply for the given resources, with no cluster.
    Render {
        /// A YAML file of Wards, MonitoredDevices and HospitalFederations (`-` for stdin); repeatable.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// The operator's quarantine webhook URL, for wards whose quarantine mode is OnAlert.
        #[arg(long, env = "WARDWATCH_QUARANTINE_WEBHOOK")]
        quarantine_webhook: Option<String>,
    },
}

fn read_input(path: &PathBuf) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => wardwatch_operator::run::run(cli.run).await?,
        Some(Command::Run(args)) => wardwatch_operator::run::run(*args).await?,
        Some(Command::Crd) => print!("{}", wardwatch_crds::crd_yaml()),
        Some(Command::FleetDashboard) => println!("{}", wardwatch_operator::dashboards::fleet::pretty_json()),
        Some(Command::DeviceDashboard) => println!("{}", wardwatch_operator::dashboards::device::pretty_json()),
        Some(Command::Render { files, quarantine_webhook }) => {
            let mut inputs = render::Inputs::default();
            for path in &files {
                inputs.add_yaml(&read_input(path)?, &path.display().to_string())?;
            }
            let (objects, warnings) = render::render(&inputs, quarantine_webhook.as_deref());
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", render::to_yaml(&objects));
        }
    }
    Ok(())
}
