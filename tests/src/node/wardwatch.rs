//! wardwatch on the node as a user installs it: the chart with `helm install`, the sample ward
//! with `kubectl apply -f manifests/`, and the ward's alerting Secret pointed at a receiver.
//! Shared by the real-node suite and the demo.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

use crate::control_plane::ControlPlane;
use crate::netns::NetworkNamespace;
use crate::node::monitoring;

/// The sample ward's namespace (manifests/namespace.yaml).
pub const WARD_NAMESPACE: &str = "st-mary";
/// The namespace the chart is installed in.
pub const OPERATOR_NAMESPACE: &str = "wardwatch-system";

/// A path in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// `helm install wardwatch charts/wardwatch` into [`OPERATOR_NAMESPACE`], with the release
/// label kube-prometheus-stack's Prometheus selects ([`monitoring::RELEASE_LABEL`]) as the
/// chart's `monitoringLabels`; returns helm's output.
pub fn helm_install(cp: &ControlPlane) -> Result<String> {
    let chart = repo_path("charts/wardwatch");
    let label = format!("monitoringLabels.{}={}", monitoring::RELEASE_LABEL.0, monitoring::RELEASE_LABEL.1);
    let chart = chart.display().to_string();
    let args =
        ["install", "wardwatch", &chart, "--namespace", OPERATOR_NAMESPACE, "--create-namespace", "--set", &label];
    succeeded("helm install", cp.helm(&args)?)
}

/// `kubectl apply -f manifests/`, then the ward's alerting Secret (placeholders in the
/// manifests) pointed at `receiver`: the team's webhook at `<receiver>/team`, Discord at
/// `<receiver>/discord`. Returns kubectl's output.
pub async fn apply_sample_ward(cp: &ControlPlane, receiver: &str) -> Result<String> {
    let manifests = repo_path("manifests/").display().to_string();
    let output = succeeded("kubectl apply", cp.kubectl(&["apply", "-f", &manifests])?)?;
    let secrets: Api<Secret> = Api::namespaced(cp.client(), WARD_NAMESPACE);
    let urls = serde_json::json!({"stringData": {
        "team-webhook-url": format!("{receiver}/team"),
        "discord-webhook-url": format!("{receiver}/discord"),
    }});
    secrets
        .patch("icu-east-alerting", &PatchParams::default(), &Patch::Merge(urls))
        .await
        .context("pointing the ward's alerting Secret at the receiver")?;
    Ok(output)
}

fn succeeded(what: &str, output: std::process::Output) -> Result<String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(stdout)
}

/// Pods of `namespace` matching `selector` that are Running and Ready.
pub async fn ready_pods(cp: &ControlPlane, namespace: &str, selector: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(cp.client(), namespace);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list.items.into_iter().filter(is_ready).collect())
}

/// Running, with the pod's Ready condition true: every container ready, sidecars (init
/// containers that keep running) included.
pub fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.clone().unwrap_or_default();
    let ready = status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Ready" && c.status == "True");
    status.phase.as_deref() == Some("Running") && ready
}

/// Every pod with its phase and container states, and the Events, for failure messages.
pub fn pod_summary(cp: &ControlPlane) -> String {
    let pods =
        cp.kubectl(&["get", "pods", "-A", "-o", "wide"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let events = cp
        .kubectl(&["get", "events", "-A", "--sort-by=.lastTimestamp"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let operators = cp
        .kubectl(&[
            "logs",
            "-n",
            OPERATOR_NAMESPACE,
            "-l",
            "app.kubernetes.io/name=wardwatch-operator",
            "--prefix",
            "--tail=15",
        ])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let wards =
        cp.kubectl(&["get", "wards,monitoreddevices", "-A"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    format!(
        "{}\n{}\n{}\n--- the operators' logs\n{}",
        pods.unwrap_or_default(),
        wards.unwrap_or_default(),
        events.unwrap_or_default(),
        operators.unwrap_or_default()
    )
}

/// A plain HTTP/1.0 GET from inside `namespace` (the node's: pod IPs are reachable there);
/// the body on 200.
pub fn http_get(namespace: &NetworkNamespace, address: &str, path: &str) -> Result<String> {
    namespace.within(|| get(address, path))?
}

fn get(address: &str, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address.parse()?, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    anyhow::ensure!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    Ok(body.to_owned())
}

/// The `IP:port` of the pod `name` in `namespace`.
pub async fn pod_address(cp: &ControlPlane, namespace: &str, name: &str, port: u16) -> Result<String> {
    let pods: Api<Pod> = Api::namespaced(cp.client(), namespace);
    let ip = pods.get(name).await?.status.and_then(|s| s.pod_ip).with_context(|| format!("pod {name} has no IP"))?;
    Ok(format!("{ip}:{port}"))
}

/// The in-cluster Prometheus's active targets of the ward's PodMonitor.
pub fn ward_targets(namespace: &NetworkNamespace, prometheus: &str) -> Result<Vec<serde_json::Value>> {
    let body: serde_json::Value =
        serde_json::from_str(&http_get(namespace, prometheus, "/api/v1/targets?state=active")?)?;
    let prefix = format!("podMonitor/{WARD_NAMESPACE}/");
    Ok(body["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["scrapePool"].as_str().is_some_and(|pool| pool.starts_with(&prefix)))
        .cloned()
        .collect())
}
