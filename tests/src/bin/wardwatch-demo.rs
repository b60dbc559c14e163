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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use serde_json::{Value, json};
use testbed::alert_receiver::{AlertReceiver, Delivery};
use testbed::http_probe::{answers_ok, loopback_client};
use testbed::latency::{Latencies, Measured, attack_start, group_wait, seconds};
use testbed::netns::{Bridge, NetworkNamespace};
use testbed::pod::{self, PodFacts};
use testbed::pod_targets::{LocalPod, scrape_configs};
use testbed::process::wait_until_ready;
use testbed::smtp::{Mail, SmtpServer};
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
    /// Exits (status 0) once a firing alert reached a receiver, an e-mail arrived (when a receiver
    /// sends e-mail) and the quarantine webhook isolated a device.
    #[arg(long)]
    until_quarantined: bool,
    /// With --until-alert or --until-quarantined: also waits until a firing notification of this
    /// alert (by name) has arrived; repeatable.
    #[arg(long = "until-alertname")]
    until_alertnames: Vec<String>,
    /// With --until-alert or --until-quarantined: keeps watching this long more (to see that
    /// nothing arrives twice) before exiting, e.g. `40s`.
    #[arg(long, default_value = "0s", value_parser = wardwatch_serve::duration::parse)]
    linger: Duration,
    /// With --until-alert or --until-quarantined: gives up after this long.
    #[arg(long, default_value = "10m", value_parser = wardwatch_serve::duration::positive)]
    timeout: Duration,
    /// Writes what happened (every notification and e-mail with its arrival time, the
    /// quarantines, and the latencies) to this JSON file when the demo ends.
    #[arg(long)]
    report: Option<PathBuf>,
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

    say("starting the wardwatch operator, with its quarantine webhook");
    let webhook = format!("127.0.0.1:{}", free_port()?);
    let key_file = logs.join("webhook-key");
    std::fs::write(&key_file, random_key()?)?;
    let mut command = cp.command(&workspace_binary("wardwatch-operator")?);
    command.env("KUBECONFIG", cp.kubeconfig_path()).env("RUST_LOG", "info,kube=warn");
    command.args(["run", "--leader-election", "false", "--metrics-address", &format!("127.0.0.1:{}", free_port()?)]);
    command.args(["--webhook-address", &webhook, "--quarantine-webhook", &format!("http://{webhook}/quarantine")]);
    command.arg("--webhook-key-file").arg(&key_file);
    let mut operator = ManagedProcess::spawn_command("wardwatch-operator", command, &logs)?;
    let smtp = SmtpServer::start(&logs).await?;

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
        point_email_at(&cp, ward, smtp.address())?;
    }

    say("waiting for the operator's Deployments, PodMonitors, rules and routing");
    let deployments = wait_for_deployments(&cp, &mut operator, wards.len() + devices.len()).await?;

    say("plugging each pod into the node's bridge and starting its containers from the pod spec");
    let bridge = Bridge::create(node, "cni0", NODE_ADDRESS)?;
    let pods = place_pods(&deployments);
    let hosts = service_hosts(&cp, &pods)?;
    let host_refs: Vec<(&str, &str)> = hosts.iter().map(|(h, a)| (h.as_str(), a.as_str())).collect();
    let mut running = Vec::new();
    // The twins run as user 65532: their sent logs go to a directory anyone may write.
    let sent_logs = tempfile::Builder::new().prefix("wardwatch-demo-sent-").tempdir()?;
    std::fs::set_permissions(sent_logs.path(), std::os::unix::fs::PermissionsExt::from_mode(0o1777))?;
    for (deployment, local) in deployments.iter().zip(&pods) {
        let network = NetworkNamespace::create("pod", &host_refs)?;
        bridge.plug(&network, &format!("{}/24", local.ip))?;
        running.push(start_pod(deployment, local, network, args.speed, &logs, sent_logs.path()).await?);
        let containers: Vec<&str> =
            pod::start_order(pod::pod_spec(deployment)?)?.into_iter().filter_map(|c| c["name"].as_str()).collect();
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

    let mut record = Record::default();
    let outcome = watch(args, &cp, &prometheus, receiver, &smtp, &mut running, &mut record).await;
    let latencies = latencies(&cp, &wards, &record, sent_logs.path(), &running)?;
    for line in latencies.lines() {
        println!("[latency] {line}");
    }
    if let Some(path) = &args.report {
        let mut report = record.to_json(&latencies);
        // What the API server holds about the devices at the end: status and Events.
        report["devices"] = kubectl_json(&cp, &["get", "monitoreddevices", "--all-namespaces"])?["items"].clone();
        report["events"] = kubectl_json(&cp, &["get", "events", "--all-namespaces"])?["items"].clone();
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    outcome
}

/// What the receivers got and what the quarantine did, with arrival times.
#[derive(Default)]
struct Record {
    deliveries: Vec<Delivery>,
    emails: Vec<Mail>,
    /// `namespace/name` of each quarantine NetworkPolicy and when the demo first saw it.
    quarantines: Vec<(String, SystemTime)>,
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

impl Record {
    fn firing_delivered(&self) -> bool {
        self.deliveries.iter().any(|d| is_firing(&d.body))
    }

    /// Whether a webhook payload carried `alertname` firing.
    fn delivered(&self, alertname: &str) -> bool {
        self.deliveries.iter().any(|d| {
            d.body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["status"] == "firing" && a["labels"]["alertname"] == alertname)
        })
    }

    fn to_json(&self, latencies: &Latencies) -> Value {
        json!({
            "deliveries": self.deliveries.iter().map(|d| json!({"receiver": d.path.trim_start_matches('/'),
                "at": unix(d.at), "body": d.body})).collect::<Vec<_>>(),
            "emails": self.emails.iter().map(|m| json!({"at": unix(m.at), "text": m.text})).collect::<Vec<_>>(),
            "quarantines": self.quarantines.iter().map(|(p, at)| json!({"policy": p, "at": unix(*at)})).collect::<Vec<_>>(),
            "latencies": latencies.to_json(),
        })
    }
}

fn is_firing(body: &Value) -> bool {
    match body["alerts"].as_array() {
        Some(alerts) => alerts.iter().any(|a| a["status"] == "firing"),
        None => body["embeds"][0]["title"].as_str().unwrap_or_default().contains("FIRING"),
    }
}

/// Prints the alerts as Prometheus evaluates them, what the receivers and the SMTP server get,
/// and the quarantines, until Ctrl-C or the `--until-*` condition (and its linger) is met.
async fn watch(
    args: &Args,
    cp: &ControlPlane,
    prometheus: &Prometheus,
    mut receiver: AlertReceiver,
    smtp: &SmtpServer,
    pods: &mut [RunningPod],
    record: &mut Record,
) -> Result<()> {
    let deadline = Instant::now() + args.timeout;
    let expects_email = smtp_receivers(cp)?;
    let mut done_at: Option<Instant> = None;
    let mut last_report = String::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut status = tokio::time::interval(Duration::from_secs(5));
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    let policies: kube::Api<NetworkPolicy> = kube::Api::all(cp.client());
    loop {
        // Stopping returns normally, so every process is stopped and every namespace removed.
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            delivery = receiver.next(Duration::from_secs(3600)) => {
                if let Some(delivery) = delivery {
                    print_delivery(&delivery);
                    record.deliveries.push(delivery);
                }
            }
            _ = status.tick() => {
                for pod in pods.iter_mut() {
                    for process in &mut pod.processes {
                        process.check_running().with_context(|| format!("pod {}", pod.name))?;
                    }
                }
                let report = prometheus_report(prometheus).await?;
                if report != last_report {
                    println!("[prometheus] {report}");
                    last_report = report;
                }
            }
            _ = poll.tick() => {
                for mail in smtp.messages()?.into_iter().skip(record.emails.len()) {
                    let subject = mail.text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("(no subject)");
                    println!("[email] {subject}");
                    record.emails.push(mail);
                }
                let quarantine = kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=wardwatch");
                for policy in policies.list(&quarantine).await?.items {
                    let name = format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any());
                    if name.ends_with("-quarantine") && !record.quarantines.iter().any(|(n, _)| *n == name) {
                        println!("[quarantine] NetworkPolicy {name}: the device is isolated");
                        print_quarantined_devices(cp)?;
                        record.quarantines.push((name, SystemTime::now()));
                    }
                }
            }
        }
        let named = args.until_alertnames.iter().all(|name| record.delivered(name));
        let met = named
            && ((args.until_alert && record.firing_delivered())
                || (args.until_quarantined
                    && record.firing_delivered()
                    && !record.quarantines.is_empty()
                    && (!expects_email || !record.emails.is_empty())));
        match done_at {
            None if met => {
                if !args.linger.is_zero() {
                    println!(
                        "==> watching {} more for anything that arrives twice",
                        humantime::format_duration(args.linger)
                    );
                }
                done_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() >= args.linger => return Ok(()),
            _ => {}
        }
        if (args.until_alert || args.until_quarantined) && done_at.is_none() && Instant::now() > deadline {
            bail!("the --until condition was not met within {}", humantime::format_duration(args.timeout));
        }
    }
}

async fn prometheus_report(prometheus: &Prometheus) -> Result<String> {
    let up = prometheus.query("up == 1").await?.len();
    let targets = prometheus.active_targets().await?.len();
    let alerts = prometheus.alerts().await?;
    Ok(format!(
        "targets up {up}/{targets}; alerts: {}",
        if alerts.is_empty() {
            "none".to_owned()
        } else {
            alerts.iter().map(describe_alert).collect::<Vec<_>>().join(", ")
        }
    ))
}

fn print_quarantined_devices(cp: &ControlPlane) -> Result<()> {
    let devices = kubectl_json(cp, &["get", "monitoreddevices", "--all-namespaces"])?;
    for device in devices["items"].as_array().into_iter().flatten() {
        if device["status"]["quarantined"] == true {
            println!(
                "[quarantine] {}: {}",
                device["metadata"]["name"].as_str().unwrap_or("?"),
                device["status"]["quarantineReason"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
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

/// Prints a notification.
fn print_delivery(delivery: &Delivery) {
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
        return;
    }
    let title = delivery.body["embeds"][0]["title"].as_str().unwrap_or_default();
    println!("[{receiver}] {title}");
}

/// From the twin's SpO2 crossing the ward's limit to the first notification of HypoxiaDetected,
/// and from the start of the workstation's scan to the quarantine NetworkPolicy.
fn latencies(
    cp: &ControlPlane,
    wards: &[Value],
    record: &Record,
    sent_logs: &Path,
    pods: &[RunningPod],
) -> Result<Latencies> {
    let mut measured = Latencies::default();
    for ward in wards {
        let namespace = ward["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = ward["metadata"]["name"].as_str().unwrap_or_default();
        let live = kubectl_json(cp, &["-n", namespace, "get", "ward", name])?;
        let scrape = seconds(live["spec"]["scrapeInterval"].as_str().unwrap_or("5s"));
        let limit = live["spec"]["thresholds"]["spo2Percent"]["low"].as_f64().unwrap_or(90.0);
        let routing = kubectl_json(cp, &["-n", namespace, "get", "alertmanagerconfig", &format!("{name}-routing")])?;
        let rules = kubectl_json(cp, &["-n", namespace, "get", "prometheusrule", &format!("{name}-wardwatch")])?;
        let for_of = |alert: &str| {
            rules["spec"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .find(|r| r["alert"] == alert)
                .and_then(|r| r["for"].as_str())
                .map_or(0.0, seconds)
        };

        // The first ORU a twin sent with SpO2 below the limit (the sent log has whole seconds).
        let mut crossed: Option<f64> = None;
        for entry in std::fs::read_dir(sent_logs)?.flatten() {
            for line in std::fs::read_to_string(entry.path()).unwrap_or_default().lines() {
                let Ok(sent) = serde_json::from_str::<Value>(line) else { continue };
                let low = sent["observations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["key"] == "spo2" && o["value"].as_f64().is_some_and(|v| v < limit));
                if low {
                    let at = sent["unix_s"].as_f64().unwrap_or(f64::MAX);
                    crossed = Some(crossed.map_or(at, |c: f64| c.min(at)));
                    break;
                }
            }
        }
        let hypoxia_labels =
            [("alertname", "HypoxiaDetected"), ("category", "clinical"), ("severity", "critical"), ("ward", name)];
        for delivery in &record.deliveries {
            let receiver = delivery.path.trim_start_matches('/');
            let is_hypoxia = delivery.body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["status"] == "firing" && a["labels"]["alertname"] == "HypoxiaDetected");
            if let (true, Some(from)) = (is_hypoxia, crossed) {
                if measured.0.iter().any(|m| m.what.contains(&format!("-> {receiver}"))) {
                    continue;
                }
                let wait = group_wait(&routing, receiver, &hypoxia_labels).unwrap_or(0.0);
                let hold = for_of("HypoxiaDetected");
                measured.0.push(Measured {
                    what: format!("SpO2 < {limit} -> HypoxiaDetected at {receiver}"),
                    from,
                    to: unix(delivery.at),
                    floor: hold + scrape + scrape + wait,
                    floor_parts: format!(
                        "for {hold} s + scrape {scrape} s + evaluation {scrape} s + group_wait {wait} s"
                    ),
                });
            }
        }

        // The scan starts when the twin logs it; the policy is seen within 250 ms of its creation.
        let scan_started = pods
            .iter()
            .filter(|p| p.name.contains("-twin-"))
            .find_map(|pod| pod.processes.iter().find_map(|process| attack_start(process.log_path())));
        if let (Some(from), Some((policy, at))) = (scan_started, record.quarantines.first()) {
            let labels =
                [("alertname", "PortScanDetected"), ("category", "network"), ("severity", "warning"), ("ward", name)];
            let wait = group_wait(&routing, "wardwatch-quarantine", &labels).unwrap_or(0.0);
            measured.0.push(Measured {
                what: format!("first scan packet -> NetworkPolicy {policy}"),
                from,
                to: unix(*at),
                floor: scrape + scrape + wait,
                floor_parts: format!("scrape {scrape} s + evaluation {scrape} s + group_wait {wait} s"),
            });
        }
    }
    Ok(measured)
}

/// Whether any Ward of the cluster sends e-mail.
fn smtp_receivers(cp: &ControlPlane) -> Result<bool> {
    let wards = kubectl_json(cp, &["get", "wards", "--all-namespaces"])?;
    Ok(wards["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|w| w["spec"]["alerting"]["receivers"].as_array().into_iter().flatten().any(|r| r["email"].is_object())))
}

/// Points the Ward's e-mail receivers at the local SMTP server (which speaks no TLS).
fn point_email_at(cp: &ControlPlane, ward: &Value, smarthost: &str) -> Result<()> {
    let namespace = ward["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = ward["metadata"]["name"].as_str().unwrap_or_default();
    let mut patch = Vec::new();
    for (index, receiver) in ward["spec"]["alerting"]["receivers"].as_array().into_iter().flatten().enumerate() {
        if receiver["email"].is_object() {
            patch.push(json!({"op": "replace", "path": format!("/spec/alerting/receivers/{index}/email/smarthost"), "value": smarthost}));
            patch.push(json!({"op": "add", "path": format!("/spec/alerting/receivers/{index}/email/requireTls"), "value": false}));
            println!(
                "    Ward {namespace}/{name}: e-mail receiver {} -> smtp://{smarthost}",
                receiver["name"].as_str().unwrap_or("?")
            );
        }
    }
    if !patch.is_empty() {
        kubectl(cp, &["-n", namespace, "patch", "ward", name, "--type=json", "-p", &Value::from(patch).to_string()])?;
    }
    Ok(())
}

/// 32 random bytes, hex: the quarantine webhook's master key.
fn random_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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

/// Starts the pod's containers in the kubelet's order: each sidecar, once its startup probe
/// answers, before the next container (the exporter's capture is open before its twin sends).
async fn start_pod(
    deployment: &Value,
    local: &LocalPod,
    network: NetworkNamespace,
    speed: f64,
    logs: &Path,
    sent_logs: &Path,
) -> Result<RunningPod> {
    let spec = pod::pod_spec(deployment)?;
    let facts = PodFacts {
        name: local.name.clone(),
        namespace: local.namespace.clone(),
        ip: local.ip.clone(),
        volumes: logs.join("volumes").join(&local.name),
    };
    let speed = speed.to_string();
    let mut processes = Vec::new();
    for container in pod::start_order(spec)? {
        let name = container["name"].as_str().context("a container without a name")?;
        let image = container["image"].as_str().context("a container without an image")?;
        // ghcr.io/wardwatch/wardwatch-exporter:0.1.0 is the wardwatch-exporter binary.
        let program = image.rsplit('/').next().and_then(|i| i.split(':').next()).unwrap_or(image);
        let sent_log = sent_logs.join(format!("{}.jsonl", local.name)).display().to_string();
        let extra: Vec<(&str, &str)> = if container["args"][0] == "device" {
            vec![("WARDWATCH_SPEED", speed.as_str()), ("WARDWATCH_SENT_LOG", sent_log.as_str())]
        } else {
            vec![]
        };
        let command = pod::container_command(spec, name, &workspace_binary(program)?, &network, &facts, &extra)?;
        let mut process = ManagedProcess::spawn_command(&format!("{}-{name}", local.name), command, logs)?;
        if let Some((path, port)) = pod::startup_probe(container)? {
            let (client, url) = (loopback_client(), format!("http://{}:{port}{path}", local.ip));
            wait_until_ready(&mut process, Duration::from_secs(30), || answers_ok(&client, &url)).await?;
        }
        processes.push(process);
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
