//! `wardwatch-operator run`: the long-running operator process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::watch;

use crate::controller::{self, Scope, context::Settings};
use crate::leader::LeaderElector;
use crate::metrics::{self, Metrics};

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "WARDWATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Log format.
    #[arg(long, env = "WARDWATCH_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "WARDWATCH_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// How often every object is reconciled even when nothing changes (e.g. 300s, 5m).
    #[arg(long, env = "WARDWATCH_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// The operator's quarantine webhook URL, routed to by wards whose quarantine mode is OnAlert.
    #[arg(long, env = "WARDWATCH_QUARANTINE_WEBHOOK")]
    pub quarantine_webhook: Option<String>,
    /// Elect a leader among replicas through a Lease.
    #[arg(long, env = "WARDWATCH_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "WARDWATCH_LEADER_ELECTION_ID", default_value = "wardwatch-operator")]
    pub leader_election_id: String,
    /// This replica's identity in the Lease (default: the pod or host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a leader's Lease is valid without renewal.
    #[arg(long, env = "WARDWATCH_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum LogFormat {
    Text,
    Json,
}

/// `300ms`, `5s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 30s or 5m"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

pub async fn run(args: RunArgs) -> Result<()> {
    init_logging(args.log_format);
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(Metrics::new());
    let listener =
        metrics::bind(args.metrics_address).await.with_context(|| format!("binding {}", args.metrics_address))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    tokio::spawn(metrics::serve(listener, metrics.clone()));

    // Set once, on SIGTERM/SIGINT or when leadership is lost; the controllers stop on it.
    let (stop_tx, stop_rx) = watch::channel(None::<StopReason>);
    let stop_on_signal = stop_tx.clone();
    tokio::spawn(async move {
        termination().await;
        let _ = stop_on_signal.send(Some(StopReason::Signal));
    });
    let stopped = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(Option::is_some).await;
        }
    };

    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("wardwatch-operator-{}", std::process::id()));
    let elector = args.leader_election.then(|| {
        Arc::new(LeaderElector::new(
            client.clone(),
            &args.leader_election_namespace,
            &args.leader_election_id,
            &identity,
            args.lease_duration,
        ))
    });
    if let Some(elector) = &elector {
        metrics.set_ready(true);
        let renew_every = args.lease_duration / 3;
        tracing::info!(%identity, lease = %args.leader_election_id, "waiting to become leader");
        let mut stop = stop_rx.clone();
        loop {
            match elector.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => tracing::warn!(%err, "leader election"),
            }
            tokio::select! {
                _ = tokio::time::sleep(renew_every) => {}
                _ = stop.wait_for(Option::is_some) => return Ok(()),
            }
        }
        tracing::info!(%identity, "became leader");
        metrics.leader.set(1);
        let (elector, stop_tx, lease_duration) = (elector.clone(), stop_tx.clone(), args.lease_duration);
        tokio::spawn(async move {
            let mut last_renewed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(renew_every).await;
                match elector.try_acquire_or_renew().await {
                    Ok(true) => last_renewed = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::error!("another replica holds the lease: stepping down");
                        let _ = stop_tx.send(Some(StopReason::LostLeadership));
                        return;
                    }
                    // The API server may be briefly away; keep leading until the lease would lapse.
                    Err(err) if last_renewed.elapsed() < lease_duration => tracing::warn!(%err, "renewing the lease"),
                    Err(err) => {
                        tracing::error!(%err, "could not renew the lease in time: stepping down");
                        let _ = stop_tx.send(Some(StopReason::LostLeadership));
                        return;
                    }
                }
            }
        });
    }

    let scope = args.namespace.clone().map_or(Scope::All, Scope::Namespace);
    let settings = Settings { quarantine_webhook: args.quarantine_webhook.clone(), resync: args.resync_interval };
    controller::run(client, scope, settings, metrics.clone(), stopped).await;
    metrics.leader.set(0);

    let reason = *stop_rx.borrow();
    if reason == Some(StopReason::LostLeadership) {
        // Exit non-zero: the pod restarts and rejoins the election as a standby.
        anyhow::bail!("lost leadership");
    }
    if let Some(elector) = &elector
        && let Err(err) = elector.release().await
    {
        tracing::warn!(%err, "releasing the lease");
    }
    tracing::info!("stopped");
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopReason {
    Signal,
    LostLeadership,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        assert!(parse_duration("5 minutes").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("m").is_err());
    }
}
