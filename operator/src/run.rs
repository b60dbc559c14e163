//! `wardwatch-operator run`: the long-running operator process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::watch;
use wardwatch_serve::{Endpoints, Readiness};

use crate::controller::{self, Scope, context::Settings};
use crate::leader::LeaderElector;
use crate::metrics::Metrics;
use crate::quarantine::{self, QuarantineWebhook, Webhook, WebhookKey};

/// The environment variable that may hold the webhook's master key itself (not a flag: a flag's
/// value shows in the process list).
pub const WEBHOOK_KEY_ENV: &str = "WARDWATCH_WEBHOOK_KEY";

/// The webhook's master key, from `--webhook-key-file` or else `WARDWATCH_WEBHOOK_KEY`.
fn webhook_key(args: &RunArgs) -> Result<Option<WebhookKey>> {
    if let Some(path) = &args.webhook_key_file {
        return WebhookKey::from_file(path).map(Some);
    }
    match std::env::var(WEBHOOK_KEY_ENV) {
        Ok(key) if !key.is_empty() => WebhookKey::new(key).context(WEBHOOK_KEY_ENV).map(Some),
        _ => Ok(None),
    }
}

/// Starts the quarantine webhook when a key is configured, on every replica (it only writes
/// the annotation; the leader's device controller isolates). Returns what the wards route to.
async fn start_webhook(
    args: &RunArgs,
    client: &kube::Client,
    metrics: &Arc<Metrics>,
) -> Result<Option<QuarantineWebhook>> {
    let Some(key) = webhook_key(args)? else {
        if args.quarantine_webhook.is_some() {
            tracing::warn!(
                "--quarantine-webhook is set but there is no webhook key (--webhook-key-file or \
                 {WEBHOOK_KEY_ENV}): the webhook is off and no ward routes to it"
            );
        }
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(args.webhook_address)
        .await
        .with_context(|| format!("binding the quarantine webhook to {}", args.webhook_address))?;
    tracing::info!(address = %listener.local_addr()?, "serving the quarantine webhook (POST {})", quarantine::PATH);
    let webhook = Arc::new(Webhook::new(client.clone(), key.clone(), metrics.clone()));
    tokio::spawn(quarantine::serve(listener, webhook));
    Ok(args.quarantine_webhook.clone().map(|url| QuarantineWebhook { url, key }))
}

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
    /// How often every object is reconciled even when nothing changes (e.g. 30s, 5m).
    #[arg(long, env = "WARDWATCH_RESYNC_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub resync_interval: Duration,
    /// Labels put on every ward's PodMonitor, PrometheusRule and AlertmanagerConfig, so that the
    /// cluster's Prometheus and Alertmanager select them (`release=kube-prometheus-stack` for
    /// kube-prometheus-stack's defaults); comma-separated `key=value`. A ward's own
    /// `spec.monitoringLabels` win.
    #[arg(long, env = "WARDWATCH_MONITORING_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub monitoring_labels: Vec<(String, String)>,
    /// The operator's quarantine webhook URL, routed to by wards whose quarantine mode is OnAlert
    /// (only with a webhook key: without one the webhook is off).
    #[arg(long, env = "WARDWATCH_QUARANTINE_WEBHOOK")]
    pub quarantine_webhook: Option<String>,
    /// Address of the quarantine webhook (`POST /quarantine`, plain HTTP), served by every
    /// replica when a webhook key is configured.
    #[arg(long, env = "WARDWATCH_WEBHOOK_ADDRESS", default_value = "0.0.0.0:8443")]
    pub webhook_address: SocketAddr,
    /// File holding the webhook's master key (each ward namespace's token is derived from it);
    /// the key may also come in the environment variable WARDWATCH_WEBHOOK_KEY.
    #[arg(long, env = "WARDWATCH_WEBHOOK_KEY_FILE")]
    pub webhook_key_file: Option<PathBuf>,
    /// Reconciles run at once per controller; bounds memory and the load on the API server.
    #[arg(long, env = "WARDWATCH_MAX_CONCURRENT_RECONCILES", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
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
    #[arg(long, env = "WARDWATCH_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum LogFormat {
    Text,
    Json,
}

/// `key=value`, a Kubernetes label (the API server checks the syntax when the objects are applied).
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.trim().to_owned(), value.trim().to_owned())),
        _ => Err(format!("{text:?} is not a label such as release=kube-prometheus-stack")),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    // Colour only on a terminal: a pod's log (kubectl logs) would carry the escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn run(args: RunArgs) -> Result<()> {
    init_logging(args.log_format);
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind(args.metrics_address)
        .await
        .with_context(|| format!("binding {}", args.metrics_address))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    let readiness = Readiness::not_yet("not ready");
    let endpoints = Endpoints::new(metrics.registry.clone(), readiness.clone());
    tokio::spawn(wardwatch_serve::serve(listener, endpoints, std::future::pending()));
    let quarantine_webhook = start_webhook(&args, &client, &metrics).await?;
    // A standby replica is healthy and ready too; `wardwatch_operator_leader` tells who leads.
    readiness.set(true);

    let (signal_tx, signal_rx) = watch::channel(false);
    tokio::spawn(async move {
        let signal = wardwatch_serve::terminated().await;
        tracing::info!(%signal, "shutting down");
        let _ = signal_tx.send(true);
    });

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
    let scope = args.namespace.clone().map_or(Scope::All, Scope::Namespace);
    let settings = Settings {
        quarantine_webhook,
        resync: args.resync_interval,
        concurrency: args.max_concurrent_reconciles,
        monitoring_labels: args.monitoring_labels.iter().cloned().collect(),
    };

    loop {
        // Stand by until this replica leads (or a signal ends the wait).
        if let Some(elector) = &elector
            && !wait_for_leadership(elector, &identity, args.lease_duration / 3, signal_rx.clone()).await
        {
            return Ok(());
        }
        metrics.leader.set(1);

        // Lead until a signal, or until the lease cannot be kept.
        let (lost_tx, lost_rx) = watch::channel(false);
        let renewer = elector.clone().map(|e| tokio::spawn(keep_leading(e, args.lease_duration, lost_tx)));
        loop {
            let stop = {
                let (mut signal, mut lost) = (signal_rx.clone(), lost_rx.clone());
                async move {
                    // Without leader election nobody holds the sender of `lost`: its closed
                    // channel must not read as a lost lease, so only `Ok` ends the wait.
                    tokio::select! {
                        _ = signal.wait_for(|s| *s) => {}
                        Ok(_) = lost.wait_for(|l| *l) => {}
                    }
                }
            };
            let stopped = controller::run(client.clone(), scope.clone(), settings.clone(), metrics.clone(), stop).await;
            if stopped == controller::Stopped::Desynced && !*signal_rx.borrow() && !*lost_rx.borrow() {
                tracing::warn!("a watch desynced (410 Gone): restarting the controllers to list afresh");
                continue;
            }
            break;
        }
        metrics.leader.set(0);
        if let Some(renewer) = renewer {
            renewer.abort();
        }
        if *signal_rx.borrow() {
            if let Some(elector) = &elector
                && let Err(err) = elector.release().await
            {
                tracing::warn!(%err, "releasing the lease");
            }
            tracing::info!("stopped");
            return Ok(());
        }
        tracing::warn!("lost leadership: controllers stopped, standing by again");
    }
}

/// Tries for the lease every `retry` until this replica holds it (true) or a signal arrives (false).
async fn wait_for_leadership(
    elector: &LeaderElector,
    identity: &str,
    retry: Duration,
    mut signal: watch::Receiver<bool>,
) -> bool {
    tracing::info!(%identity, "waiting to become leader");
    loop {
        match elector.try_acquire_or_renew().await {
            Ok(true) => {
                tracing::info!(%identity, "became leader");
                return true;
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(%err, "leader election"),
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = signal.wait_for(|s| *s) => return false,
        }
    }
}

/// Renews the lease every third of its duration; sets `lost` when another replica holds it or
/// when it could not be renewed for a whole lease duration (the API server may be briefly away).
async fn keep_leading(elector: Arc<LeaderElector>, lease_duration: Duration, lost: watch::Sender<bool>) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease_duration / 3).await;
        match elector.try_acquire_or_renew().await {
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::error!("another replica holds the lease: stepping down");
                let _ = lost.send(true);
                return;
            }
            Err(err) if last_renewed.elapsed() < lease_duration => tracing::warn!(%err, "renewing the lease"),
            Err(err) => {
                tracing::error!(%err, "could not renew the lease in time: stepping down");
                let _ = lost.send(true);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn durations_take_units() {
        let args =
            Command::try_parse_from(["operator", "--resync-interval=1h30m", "--lease-duration=500ms"]).unwrap().run;
        assert_eq!(args.resync_interval, Duration::from_secs(5400));
        assert_eq!(args.lease_duration, Duration::from_millis(500));
        let defaults = Command::try_parse_from(["operator"]).unwrap().run;
        assert_eq!(
            (defaults.resync_interval, defaults.lease_duration),
            (Duration::from_secs(300), Duration::from_secs(15))
        );
        for bad in ["--resync-interval=42", "--lease-duration=5 fortnights", "--resync-interval=m"] {
            assert!(Command::try_parse_from(["operator", bad]).is_err(), "{bad} accepted");
        }
    }
}
