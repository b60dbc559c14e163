//! `wardwatch-demo`: the whole picture on one machine, as root, with no container engine.
//!
//! A network namespace of its own plays the node. In it run etcd and kube-apiserver (the test
//! bed's), prometheus-operator, the wardwatch operator, Prometheus, Alertmanager and a local
//! receiver for the ward's notification channels. The sample ward is applied with kubectl; the
//! operator writes its Deployments, PodMonitor, PrometheusRule and AlertmanagerConfig. The demo
//! then does a kubelet's and a CNI plugin's part: each Deployment's pod gets a network namespace
//! plugged into a bridge, and its containers run as local processes from the spec the operator
//! wrote. prometheus-operator renders the rules and the routing that Prometheus and
//! Alertmanager load, and the demo prints what the receivers get, until Ctrl-C (or, with
//! `--until-alert`, until the first alert is delivered).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};
use testbed::alert_receiver::{AlertReceiver, Delivery};
use testbed::netns::{Bridge, NetworkNamespace};
use testbed::pod::{self, PodFacts};
use testbed::pod_targets::{LocalPod, scrape_configs};
use testbed::{
    Alertmanager, ControlPlane, ManagedProcess, Prometheus, PrometheusOperator, free_port, workspace_binary,
};

#[derive(Parser)]
#[command(about = "Runs wardwatch locally: control plane, operator, a ward's twins, Prometheus, Alertmanager")]
struct Args {
    /// The manifests to apply (a Namespace, a Ward and its MonitoredDevices).
    #[arg(long, default_values_os_t = default_manifests())]
    manifest: Vec<PathBuf>,
    /// Plays the twins' clinical scenarios this many times faster than real time.
    #[arg(long, default_value_t = 4.0)]
    speed: f64,
    /// Exits (status 0) once the first firing alert reaches a receiver.
    #[arg(long)]
    until_alert: bool,
    /// With --until-alert: gives up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

fn default_manifests() -> Vec<PathBuf> {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    vec![manifests.join("namespace.yaml"), manifests.join("ward.yaml")]
}

/// The pod network: the node's bridge address, then gateways from .10 and devices from .21.
const NODE_ADDRESS: &str = "10.40.0.1/24";
const POD_PREFIX: &str = "10.40.0";

fn main() -> ExitCode {
    let args = Args::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("wardwatch-demo makes network namespaces and captures packets: run it as root");
        return ExitCode::from(2);
    }
    match demo(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wardwatch-demo: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &Args) -> Result<()> {
    let node = NetworkNamespace::create("demo", &[])?;
    // Everything the demo starts from here on lives in the node's namespace: its loopback is
    // the cluster's, and nothing touches the machine's own network.
    node.enter()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args, &node))
}

fn say(what: &str) {
    println!("==> {what}");
}

async fn run(args: &Args, node: &NetworkNamespace) -> Result<()> {
    say("starting etcd and kube-apiserver, and installing the CRDs");
    let cp = ControlPlane::start().await?;
    cp.install_prometheus_operator_crds().await?;
    cp.install_crds(&wardwatch_crds::crds()).await?;
    let logs = cp.dir().to_owned();

    say("starting prometheus-operator, with a Prometheus and an Alertmanager selecting every namespace");
    let prometheus_operator = PrometheusOperator::start(&cp).await?;
    kubectl(&cp, &["create", "namespace", "monitoring"])?;
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "hospital", "namespace": "monitoring"},
        "spec": {"version": "v2.42.0", "ruleSelector": {}, "ruleNamespaceSelector": {}, "podMonitorSelector": {},
                 "podMonitorNamespaceSelector": {}}}))
        .await?;
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
        "metadata": {"name": "hospital", "namespace": "monitoring"},
        "spec": {"version": "v0.25.0", "alertmanagerConfigSelector": {}, "alertmanagerConfigNamespaceSelector": {}}}))
        .await?;

    say("starting the wardwatch operator");
    let mut command = cp.command(&workspace_binary("wardwatch-operator")?);
    command.env("KUBECONFIG", cp.kubeconfig_path()).env("RUST_LOG", "info,kube=warn");
    command.args(["run", "--leader-election", "false", "--metrics-address", &format!("127.0.0.1:{}", free_port()?)]);
    let mut operator = ManagedProcess::spawn_command("wardwatch-operator", command, &logs)?;

    let receiver = AlertReceiver::start().await?;
    let manifests: Vec<String> = args.manifest.iter().map(|p| p.display().to_string()).collect();
    say(&format!("kubectl apply -f {}", manifests.join(" -f ")));
    let mut apply = vec!["apply"];
    for manifest in &manifests {
        apply.extend(["-f", manifest.as_str()]);
    }
    print!("{}", kubectl(&cp, &apply)?);
    let wards = manifest_objects(&args.manifest, "Ward")?;
    let devices = manifest_objects(&args.manifest, "MonitoredDevice")?;
    for ward in &wards {
        create_receiver_secrets(&cp, ward, receiver.url())?;
    }

    say("waiting for the operator's Deployments, PodMonitors, rules and routing");
    let deployments = wait_for_deployments(&cp, &mut operator, wards.len() + devices.len()).await?;

    say("plugging each pod into the node's bridge and starting its containers from the pod spec");
    let bridge = Bridge::create(node, "cni0", NODE_ADDRESS)?;
    let pods = place_pods(&deployments);
    let hosts = service_hosts(&cp, &pods)?;
    let host_refs: Vec<(&str, &str)> = hosts.iter().map(|(h, a)| (h.as_str(), a.as_str())).collect();
    let mut running = Vec::new();
    for (deployment, local) in deployments.iter().zip(&pods) {
        let network = NetworkNamespace::create("pod", &host_refs)?;
        bridge.plug(&network, &format!("{}/24", local.ip))?;
        running.push(start_pod(deployment, local, network, args.speed, &logs)?);
        let containers: Vec<&str> = pod::pod_spec(deployment)?["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        println!("    {:<28} {:<12} {}", local.name, local.ip, containers.join(" + "));
    }

    let pod_monitors = kubectl_json(&cp, &["get", "podmonitors", "--all-namespaces"])?;
    let mut jobs = Vec::new();
    for monitor in pod_monitors["items"].as_array().into_iter().flatten() {
        jobs.extend(scrape_configs(monitor, &pods)?);
    }
    let rule_files = prometheus_operator
        .rendered_rule_files("monitoring", "hospital", Duration::from_secs(60), |files| {
            files.iter().any(|(_, content)| content.contains("HypoxiaDetected"))
        })
        .await?;
    let alertmanager_config = prometheus_operator
        .rendered_alertmanager_config("monitoring", "hospital", Duration::from_secs(60), |config| {
            wards.iter().all(|w| config.contains(w["metadata"]["name"].as_str().unwrap_or("?")))
        })
        .await?;

    say("starting Alertmanager with the routing prometheus-operator rendered from the AlertmanagerConfigs");
    let alertmanager = Alertmanager::start(&alertmanager_config).await?;
    say("starting Prometheus with the rules prometheus-operator rendered and a job per PodMonitor endpoint");
    let config = json!({
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": rule_files.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager.address()]}]}]},
        "scrape_configs": jobs,
    });
    let files: Vec<(&str, &str)> = rule_files.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let prometheus = Prometheus::start(&serde_yaml::to_string(&config)?, &files).await?;

    println!();
    println!("The node's network namespace is {}. From another shell:", node.name());
    println!("  ip netns exec {} curl -s {}/api/v1/alerts", node.name(), prometheus.url());
    println!("  ip netns exec {} curl -s {}/api/v2/alerts", node.name(), alertmanager.url());
    println!("  kubectl --kubeconfig {} get wards,monitoreddevices -A", cp.kubeconfig_path().display());
    println!("Logs: {}", logs.display());
    println!();
    print!("{}", kubectl(&cp, &["get", "wards,monitoreddevices", "--all-namespaces"])?);

    watch(args, &prometheus, receiver, &mut running).await
}

/// Prints the alerts as Prometheus evaluates them and as the receivers get them.
async fn watch(
    args: &Args,
    prometheus: &Prometheus,
    mut receiver: AlertReceiver,
    pods: &mut [RunningPod],
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout_seconds);
    let mut last_report = String::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        for pod in pods.iter_mut() {
            for process in &mut pod.processes {
                process.check_running().with_context(|| format!("pod {}", pod.name))?;
            }
        }
        let up = prometheus.query("up == 1").await?.len();
        let targets = prometheus.active_targets().await?.len();
        let alerts = prometheus.alerts().await?;
        let report = format!(
            "targets up {up}/{targets}; alerts: {}",
            if alerts.is_empty() {
                "none".to_owned()
            } else {
                alerts.iter().map(describe_alert).collect::<Vec<_>>().join(", ")
            }
        );
        if report != last_report {
            println!("[prometheus] {report}");
            last_report = report;
        }
        // Stopping returns normally, so every process is stopped and every namespace removed.
        let wait = tokio::select! {
            delivery = receiver.next(Duration::from_secs(5)) => delivery,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        if let Some(delivery) = wait {
            let firing = print_delivery(&delivery);
            if firing && args.until_alert {
                return Ok(());
            }
        }
        if args.until_alert && Instant::now() > deadline {
            bail!("no alert reached a receiver within {} s", args.timeout_seconds);
        }
    }
}

fn describe_alert(alert: &Value) -> String {
    let labels = &alert["labels"];
    let mut text =
        format!("{} {}", alert["state"].as_str().unwrap_or("?"), labels["alertname"].as_str().unwrap_or("?"));
    for key in ["device", "bed", "patient"] {
        if let Some(value) = labels[key].as_str() {
            text.push_str(&format!(" {key}={value}"));
        }
    }
    text
}

/// Prints a notification; true if it carries a firing alert.
fn print_delivery(delivery: &Delivery) -> bool {
    let receiver = delivery.path.trim_start_matches('/');
    // Alertmanager's webhook payload has `alerts`; the Discord one has an embed per group.
    if let Some(alerts) = delivery.body["alerts"].as_array() {
        for alert in alerts {
            let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
            println!(
                "[{receiver}] {} {}: {summary}",
                alert["status"].as_str().unwrap_or("?").to_uppercase(),
                describe_alert(alert).trim_start_matches("? ")
            );
        }
        return alerts.iter().any(|a| a["status"] == "firing");
    }
    let title = delivery.body["embeds"][0]["title"].as_str().unwrap_or_default();
    println!("[{receiver}] {title}");
    title.contains("FIRING")
}

/// The objects of `kind` in the manifests.
fn manifest_objects(manifests: &[PathBuf], kind: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for path in manifests {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document)?;
            if value["kind"] == kind {
                objects.push(value);
            }
        }
    }
    Ok(objects)
}

/// The Secrets a Ward's receivers name (`{name, key}` references), each key pointing at the
/// local receiver under the receiver's name, so every channel's notifications arrive here.
fn create_receiver_secrets(cp: &ControlPlane, ward: &Value, receiver_url: &str) -> Result<()> {
    let namespace = ward["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for receiver in ward["spec"]["alerting"]["receivers"].as_array().into_iter().flatten() {
        let name = receiver["name"].as_str().unwrap_or("receiver");
        collect_secret_refs(receiver, &mut |secret, key| {
            secrets.entry(secret.to_owned()).or_default().insert(key.to_owned(), format!("{receiver_url}/{name}"));
        });
    }
    for (secret, keys) in secrets {
        let data: BTreeMap<&String, String> = keys.iter().map(|(k, v)| (k, v.clone())).collect();
        let object = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": namespace},
                            "stringData": data});
        let file = cp.dir().join(format!("secret-{secret}.json"));
        std::fs::write(&file, object.to_string())?;
        kubectl(cp, &["apply", "-f", &file.display().to_string()])?;
        println!(
            "    Secret {namespace}/{secret}: {} -> {receiver_url}/<receiver>",
            keys.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

fn collect_secret_refs(value: &Value, found: &mut impl FnMut(&str, &str)) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(name)), Some(Value::String(key)), 2) =
                (map.get("name"), map.get("key"), map.len())
            {
                found(name, key);
            }
            map.values().for_each(|v| collect_secret_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secret_refs(v, found)),
        _ => {}
    }
}

async fn wait_for_deployments(cp: &ControlPlane, operator: &mut ManagedProcess, expected: usize) -> Result<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        operator.check_running()?;
        let list = kubectl_json(
            cp,
            &["get", "deployments", "--all-namespaces", "-l", "app.kubernetes.io/managed-by=wardwatch"],
        )?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= expected {
            return Ok(items);
        }
        if Instant::now() > deadline {
            bail!(
                "the operator wrote {} of {expected} Deployments in 60 s; its log:\n{}",
                items.len(),
                operator.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An address per Deployment's pod: gateways first.
fn place_pods(deployments: &[Value]) -> Vec<LocalPod> {
    let is_gateway = |d: &Value| d["spec"]["template"]["metadata"]["labels"]["wardwatch.io/component"] == "gateway";
    let (mut gateway_host, mut device_host) = (10, 21);
    deployments
        .iter()
        .map(|deployment| {
            let host = if is_gateway(deployment) { &mut gateway_host } else { &mut device_host };
            let ip = format!("{POD_PREFIX}.{host}");
            *host += 1;
            let name = format!("{}-0", deployment["metadata"]["name"].as_str().unwrap_or("pod"));
            LocalPod::from_deployment(deployment, &name, &ip).expect("a Deployment the operator wrote has a template")
        })
        .collect()
}

/// Cluster DNS for the pods: each Service's names resolve to the address of the pod its
/// selector picks.
fn service_hosts(cp: &ControlPlane, pods: &[LocalPod]) -> Result<Vec<(String, String)>> {
    let services = kubectl_json(cp, &["get", "services", "--all-namespaces"])?;
    let mut hosts = Vec::new();
    for service in services["items"].as_array().into_iter().flatten() {
        let namespace = service["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = service["metadata"]["name"].as_str().unwrap_or_default();
        let Some(selector) = service["spec"]["selector"].as_object() else { continue };
        let chosen = pods.iter().find(|pod| {
            pod.namespace == namespace
                && selector.iter().all(|(k, v)| v.as_str() == pod.labels.get(k).map(String::as_str))
        });
        if let Some(pod) = chosen {
            hosts.push((format!("{name}.{namespace}.svc"), pod.ip.clone()));
            hosts.push((format!("{name}.{namespace}.svc.cluster.local"), pod.ip.clone()));
        }
    }
    Ok(hosts)
}

/// A pod's containers, running in its network namespace. Fields drop in order: the processes
/// before the namespace.
struct RunningPod {
    processes: Vec<ManagedProcess>,
    _network: NetworkNamespace,
    name: String,
}

fn start_pod(
    deployment: &Value,
    local: &LocalPod,
    network: NetworkNamespace,
    speed: f64,
    logs: &Path,
) -> Result<RunningPod> {
    let spec = pod::pod_spec(deployment)?;
    let facts = PodFacts { name: local.name.clone(), namespace: local.namespace.clone(), ip: local.ip.clone() };
    let speed = speed.to_string();
    let mut processes = Vec::new();
    for container in spec["containers"].as_array().into_iter().flatten() {
        let name = container["name"].as_str().context("a container without a name")?;
        let image = container["image"].as_str().context("a container without an image")?;
        // ghcr.io/wardwatch/wardwatch-exporter:0.1.0 is the wardwatch-exporter binary.
        let program = image.rsplit('/').next().and_then(|i| i.split(':').next()).unwrap_or(image);
        let extra: Vec<(&str, &str)> =
            if container["args"][0] == "device" { vec![("WARDWATCH_SPEED", speed.as_str())] } else { vec![] };
        let command = pod::container_command(spec, name, &workspace_binary(program)?, &network, &facts, &extra)?;
        processes.push(ManagedProcess::spawn_command(&format!("{}-{name}", local.name), command, logs)?);
    }
    Ok(RunningPod { processes, _network: network, name: local.name.clone() })
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Result<String> {
    let output = cp.kubectl(args)?;
    if !output.status.success() {
        bail!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn kubectl_json(cp: &ControlPlane, args: &[&str]) -> Result<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    Ok(serde_json::from_str(&kubectl(cp, &all)?)?)
}
