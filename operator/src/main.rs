//! `wardwatch-operator`: the operator binary.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wardwatch-operator", version, about = "Reconciles wardwatch's Ward and MonitoredDevice resources")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions wardwatch serves, as YAML.
    Crd,
}

fn main() {
    match Cli::parse().command {
        Command::Crd => print!("{}", wardwatch_crds::crd_yaml()),
    }
}
