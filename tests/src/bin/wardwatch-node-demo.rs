//! `wardwatch-node-demo`: wardwatch on a real node, as a user meets it, on one machine, as root.
//!
//! It builds the images (`scripts/images.sh`), starts etcd and kube-apiserver, then the node in a
//! network namespace of its own (containerd, the kubelet, kube-proxy, kube-scheduler,
//! kube-controller-manager; CoreDNS as a pod); runs `helm install`
//! of `charts/wardwatch`; starts prometheus-operator with a Prometheus and an Alertmanager as
//! kube-prometheus-stack sets them up; runs `kubectl apply -f manifests/`, with the ward's team
//! webhook and Discord channel pointed at a receiver in the node's namespace; shows the pods
//! starting, then the pods, the Prometheus targets, the alerts as the receiver gets them and the
//! quarantines, until Ctrl-C (or, with `--until-alertname`, until those alerts were delivered).
//! Stopping removes everything it started.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::Value;
use testbed::ControlPlane;
use testbed::alert_receiver::AlertReceiver;
use testbed::node::wardwatch::{self, WARD_NAMESPACE};
use testbed::node::{self, Node, monitoring};

#[derive(Parser)]
#[command(about = "Runs wardwatch on a real node: helm install, kubectl apply -f manifests/, Prometheus, Alertmanager")]
struct Args {
    /// Exits (status 0) once a firing notification of each of these alerts (by name) has reached
    /// the receiver; repeatable.
    #[arg(long = "until-alertname")]
    until_alertnames: Vec<String>,
    /// With --until-alertname: gives up (status 1) after this long, from the start.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// How long the pods may take to start before the demo says what it sees and stops.
const STARTUP: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let args = Args::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("wardwatch-node-demo runs containerd and a kubelet and makes network namespaces: run it as root");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wardwatch-node-demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wardwatch-node-demo: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct Clock(Instant);

impl Clock {
    fn say(&self, what: &str) {
        println!("==> [{:>5.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

async fn demo(args: &Args) -> Result<()> {
    let clock = Clock(Instant::now());
    clock.say("starting etcd and kube-apiserver");
    let mut cp = ControlPlane::start_with(Some(node::control_plane_support())).await?;
    clock
        .say("building the images and starting the node: containerd, kubelet, kube-proxy, kube-router (NetworkPolicies), scheduler; CoreDNS as a pod");
    let mut node = Node::start(&mut cp).await?;
    print!("{}", node.image_report());
    let outcome = on_the_node(args, &clock, &cp, &mut node).await;
    clock.say("stopping: the node's containers, its processes and namespace, the control plane");
    drop(node);
    drop(cp);
    outcome
}

async fn on_the_node(args: &Args, clock: &Clock, cp: &ControlPlane, node: &mut Node) -> Result<()> {
    cp.install_prometheus_operator_crds().await?;
    clock.say("helm install wardwatch charts/wardwatch --namespace wardwatch-system --set monitoringLabels.release=kube-prometheus-stack");
    print!("{}", wardwatch::helm_install(cp)?);
    clock.say("prometheus-operator, a Prometheus and an Alertmanager, as kube-prometheus-stack sets them up");
    monitoring::deploy(cp, node.image_report()).await?;
    let mut receiver = AlertReceiver::start_in(node.namespace(), node::network::BRIDGE_IP.parse()?).await?;
    clock.say(&format!("kubectl apply -f manifests/ (the ward's receivers post to {})", receiver.url()));
    print!("{}", wardwatch::apply_sample_ward(cp, receiver.url()).await?);

    wait_for_pods(clock, cp).await?;
    print!("{}", String::from_utf8_lossy(&cp.kubectl(&["get", "pods", "-A", "-o", "wide"])?.stdout));
    print!("{}", String::from_utf8_lossy(&cp.kubectl(&["get", "wards,monitoreddevices", "-A"])?.stdout));
    // prometheus-operator creates the Prometheus pod after the others may all be Ready.
    let prometheus = testbed::eventually(Duration::from_secs(120), "the Prometheus pod's address", || async {
        Ok(wardwatch::pod_address(cp, monitoring::NAMESPACE, &monitoring::prometheus_pod(), 9090).await.ok())
    })
    .await?;
    show_targets(clock, node, &prometheus).await?;

    println!();
    println!("The node's network namespace is {}. From another shell:", node.namespace().name());
    println!("  ip netns exec {} curl -s http://{prometheus}/api/v1/alerts", node.namespace().name());
    println!("  kubectl --kubeconfig {} get pods,wards,monitoreddevices -A", cp.kubeconfig_path().display());
    println!("Logs: {} and {}", cp.dir().display(), node.dir().display());
    println!();
    clock.say("watching the alerts the ward's receivers get (Ctrl-C stops and removes everything)");
    watch(args, clock, cp, node, &prometheus, &mut receiver).await
}

/// Prints how many of the pods are Running and Ready whenever that changes, until all are.
async fn wait_for_pods(clock: &Clock, cp: &ControlPlane) -> Result<()> {
    let pods: Api<Pod> = Api::all(cp.client());
    let deadline = Instant::now() + STARTUP;
    let mut last = String::new();
    loop {
        let all = pods.list(&ListParams::default()).await?.items;
        let ready = all.iter().filter(|pod| wardwatch::is_ready(pod)).count();
        let waiting: Vec<String> = all.iter().filter(|pod| !wardwatch::is_ready(pod)).map(waiting_reason).collect();
        let line = format!("{ready}/{} pods Running and Ready{}", all.len(), summary(&waiting));
        if line != last {
            clock.say(&line);
            last = line;
        }
        let ward_pods = all.iter().filter(|p| p.namespace().as_deref() == Some(WARD_NAMESPACE)).count();
        // The ward's six pods and the monitoring stack's three have been created, and all are up.
        if ward_pods >= 6 && all.len() >= 11 && ready == all.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the pods did not all start within {STARTUP:?}\n{}", wardwatch::pod_summary(cp));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `name (reason)` of a pod not yet ready: its first waiting container's reason, or its phase.
fn waiting_reason(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    // A sidecar (init container) that cannot start holds back the pod's other containers.
    let mut statuses =
        status.init_container_statuses.into_iter().flatten().chain(status.container_statuses.into_iter().flatten());
    let reason = statuses
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .or(status.phase)
        .unwrap_or_else(|| "Pending".to_owned());
    format!("{} ({reason})", pod.name_any())
}

fn summary(waiting: &[String]) -> String {
    match waiting.len() {
        0 => String::new(),
        1..=3 => format!("; waiting: {}", waiting.join(", ")),
        n => format!("; waiting: {} and {} more", waiting[..3].join(", "), n - 3),
    }
}

/// Waits until Prometheus has found the ward's exporters, then prints each target.
async fn show_targets(clock: &Clock, node: &Node, prometheus: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let targets = loop {
        let targets = wardwatch::ward_targets(node.namespace(), prometheus).unwrap_or_default();
        if !targets.is_empty() && targets.iter().all(|t| t["health"] == "up") {
            break targets;
        }
        if Instant::now() > deadline {
            bail!("Prometheus found no healthy targets of the ward within 120 s: {targets:?}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    clock.say(&format!("Prometheus scrapes {} targets of the ward, found by Kubernetes pod discovery", targets.len()));
    for target in &targets {
        let labels = &target["labels"];
        println!(
            "    {:<22} {:<12} {:<10} device={} bed={} {}",
            labels["instance"].as_str().unwrap_or("?"),
            labels["component"].as_str().unwrap_or("?"),
            target["health"].as_str().unwrap_or("?"),
            labels["device"].as_str().unwrap_or("-"),
            labels["bed"].as_str().unwrap_or("-"),
            target["scrapeUrl"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// Prints every notification and quarantine as it happens, and Prometheus's firing alerts when
/// they change, until Ctrl-C, SIGTERM, or every `--until-alertname` was delivered.
async fn watch(
    args: &Args,
    clock: &Clock,
    cp: &ControlPlane,
    node: &mut Node,
    prometheus: &str,
    receiver: &mut AlertReceiver,
) -> Result<()> {
    let wanted: BTreeSet<&str> = args.until_alertnames.iter().map(String::as_str).collect();
    let mut delivered = BTreeSet::new();
    let mut quarantined = BTreeSet::new();
    let mut last_firing = String::new();
    let policies: Api<NetworkPolicy> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let deadline = tokio::time::Instant::now() + args.timeout.saturating_sub(clock.0.elapsed());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = tokio::time::sleep_until(deadline), if !wanted.is_empty() => {
                bail!("not every alert of {wanted:?} was delivered within {:?}; delivered: {delivered:?}", args.timeout)
            }
            delivery = receiver.next(Duration::from_secs(3600)) => {
                let Some(delivery) = delivery else { continue };
                for alert in delivery.body["alerts"].as_array().into_iter().flatten() {
                    let name = alert["labels"]["alertname"].as_str().unwrap_or("?");
                    clock.say(&format!("[{}] {} {}: {}", delivery.path.trim_start_matches('/'), alert["status"].as_str().unwrap_or("?"),
                        name, alert["annotations"]["summary"].as_str().unwrap_or("")));
                    if alert["status"] == "firing" {
                        delivered.insert(name.to_owned());
                    }
                }
                if let Some(title) = delivery.body["embeds"][0]["title"].as_str() {
                    clock.say(&format!("[{}] {title}", delivery.path.trim_start_matches('/')));
                }
                if !wanted.is_empty() && wanted.iter().all(|name| delivered.contains(*name)) {
                    clock.say(&format!("delivered: {}", wanted.iter().copied().collect::<Vec<_>>().join(", ")));
                    return Ok(());
                }
            }
            _ = tick.tick() => {
                node.check_running()?;
                for policy in policies.list(&ListParams::default().labels("app.kubernetes.io/managed-by=wardwatch")).await?.items {
                    let name = policy.name_any();
                    if name.ends_with("-quarantine") && quarantined.insert(name.clone()) {
                        clock.say(&format!("[quarantine] NetworkPolicy {WARD_NAMESPACE}/{name}: the device is isolated (kube-router enforces it)"));
                    }
                }
                let firing = firing_alerts(node, prometheus).unwrap_or_else(|error| format!("(Prometheus: {error:#})"));
                if firing != last_firing {
                    clock.say(&format!("[prometheus] firing: {firing}"));
                    last_firing = firing;
                }
            }
        }
    }
}

/// `Name (bed)` of each firing alert in the in-cluster Prometheus, sorted.
fn firing_alerts(node: &Node, prometheus: &str) -> Result<String> {
    let body: Value = serde_json::from_str(&wardwatch::http_get(node.namespace(), prometheus, "/api/v1/alerts")?)
        .context("Prometheus's alerts")?;
    let mut firing: Vec<String> = body["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .map(|a| match a["labels"]["bed"].as_str().or(a["labels"]["device"].as_str()) {
            Some(which) => format!("{} ({which})", a["labels"]["alertname"].as_str().unwrap_or("?")),
            None => a["labels"]["alertname"].as_str().unwrap_or("?").to_owned(),
        })
        .collect();
    firing.sort();
    firing.dedup();
    Ok(if firing.is_empty() { "none".to_owned() } else { firing.join(", ") })
}
