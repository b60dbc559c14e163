//! A real node for the test bed: containerd (Debian's, with runc and the CNI bridge plugins),
//! the kubelet, kube-proxy and kube-scheduler built from the API server's module, and
//! kube-controller-manager with the controllers Deployments and pods need; kube-router's
//! firewall controller, which enforces NetworkPolicies (`enforcer.rs`); as a pod, CoreDNS
//! (built from its Go module) behind the `kube-dns` Service (`addons.rs`). The node lives in a
//! network namespace of its own, with a veth pair to the machine and no route off it; the API
//! server (on the machine's loopback) is forwarded to the node's address. wardwatch's images
//! are built without a container engine and imported into containerd.
//!
//! Everything stops and is removed when the [`Node`] drops: processes, containers and shims,
//! mounts, pod cgroups and the namespace. One node per test process (the veth pair's addresses
//! are fixed).

pub mod addons;
pub mod cleanup;
pub mod containerd;
pub mod enforcer;
pub mod forward;
pub mod images;
pub mod kubelet;
pub mod monitoring;
pub mod network;
pub mod services;
pub mod wardwatch;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::Api;
use tempfile::TempDir;

use crate::control_plane::{ControlPlane, NodeSupport};
use crate::netns::NetworkNamespace;
use crate::process::{ManagedProcess, scratch_dir};
use containerd::Containerd;
use network::{API_PORT, NODE_IP, NodeNetwork, SERVICE_CIDR};

/// The node's name in the API.
pub const NODE_NAME: &str = "wardwatch-node";

/// How long CoreDNS may take to run as a pod.
const ADDONS_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the kubelet may take to register a Ready node.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The controllers a node's workloads need: Deployments, ReplicaSets and StatefulSets
/// (prometheus-operator's Prometheus), owners' garbage, every namespace's `default`
/// ServiceAccount and `kube-root-ca.crt`, Service endpoints (EndpointSlices for kube-proxy, and
/// the older Endpoints, which Prometheus's discovery of its Alertmanagers reads), and the node
/// lifecycle (the kubelet registers with a `not-ready` taint that it lifts).
const CONTROLLERS: &[&str] = &[
    "node-lifecycle-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "endpointslice-controller",
    "endpoints-controller",
];

pub struct Node {
    // Dropped by hand in Drop, in this order.
    scheduler: Option<ManagedProcess>,
    enforcer: Option<ManagedProcess>,
    proxy: Option<ManagedProcess>,
    kubelet: Option<ManagedProcess>,
    containerd: Option<Containerd>,
    network: Option<NodeNetwork>,
    image_report: String,
    dir: TempDir,
}

/// What [`ControlPlane::start_with`] needs to serve this node.
pub fn control_plane_support() -> NodeSupport {
    NodeSupport { serving_names: NodeNetwork::serving_names(), service_cidr: SERVICE_CIDR.to_owned() }
}

impl Node {
    /// Builds the images, starts the node against `cp` (started with
    /// [`control_plane_support`]) and waits until it is Ready.
    pub async fn start(cp: &mut ControlPlane) -> Result<Self> {
        let dir = scratch_dir("wardwatch-node-")?;
        let (archives, image_report) = images::build(&dir.path().join("images"))?;
        let apiserver_port: u16 =
            cp.url().rsplit(':').next().and_then(|p| p.parse().ok()).context("the API server's port")?;
        let mut node = Self {
            scheduler: None,
            enforcer: None,
            proxy: None,
            kubelet: None,
            containerd: None,
            network: Some(NodeNetwork::create(apiserver_port)?),
            image_report,
            dir,
        };
        publish_kubernetes_endpoints(cp).await?;
        let ca = cp.admin_credentials().ca_cert.clone();
        cp.start_controller_manager_with(CONTROLLERS, &[format!("--root-ca-file={}", ca.display())]).await?;

        let dir = node.dir.path().to_owned();
        let containerd = Containerd::start(node.namespace(), &dir).await?;
        for archive in &archives {
            containerd.import(archive).with_context(|| format!("importing {}", archive.display()))?;
        }
        let socket = containerd.socket();
        node.containerd = Some(containerd);

        let kubeconfig = write_node_kubeconfig(&dir, cp)?;
        node.kubelet = Some(kubelet::start(node.namespace(), &dir, NODE_NAME, &kubeconfig, &socket, &ca)?);
        node.wait_ready(cp).await?;
        node.proxy = Some(services::start_proxy(node.namespace(), &dir, NODE_NAME, &kubeconfig)?);
        node.enforcer = Some(enforcer::start(node.namespace(), &dir, NODE_NAME, &kubeconfig)?);
        node.scheduler = Some(services::start_scheduler(&dir, cp.kubeconfig_path())?);
        addons::deploy_dns(cp, &node.image_report).await?;
        addons::wait_dns_ready(cp, ADDONS_TIMEOUT).await.with_context(|| node.logs())?;
        for process in [&mut node.proxy, &mut node.enforcer, &mut node.scheduler].into_iter().flatten() {
            process.check_running()?;
        }
        Ok(node)
    }

    pub fn namespace(&self) -> &NetworkNamespace {
        self.network.as_ref().expect("the network lives as long as the node").namespace()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `scripts/images.sh`'s report: each image's name, archive and size.
    pub fn image_report(&self) -> &str {
        &self.image_report
    }

    pub fn containerd(&self) -> &Containerd {
        self.containerd.as_ref().expect("containerd runs as long as the node")
    }

    /// Fails with the tail of its log if any of the node's programs has exited.
    pub fn check_running(&mut self) -> Result<()> {
        for process in
            [&mut self.kubelet, &mut self.proxy, &mut self.enforcer, &mut self.scheduler].into_iter().flatten()
        {
            process.check_running()?;
        }
        if let Some(containerd) = &mut self.containerd {
            containerd.process().check_running()?;
        }
        Ok(())
    }

    /// The last lines of each program's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for process in [&self.kubelet, &self.proxy, &self.enforcer, &self.scheduler].into_iter().flatten() {
            text.push_str(&format!("--- {}\n{}\n", process.name(), process.log_tail(20)));
        }
        text
    }

    async fn wait_ready(&mut self, cp: &ControlPlane) -> Result<()> {
        let nodes: Api<NodeObject> = Api::all(cp.client());
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(kubelet) = &mut self.kubelet {
                kubelet.check_running()?;
            }
            if let Ok(Some(node)) = nodes.get_opt(NODE_NAME).await
                && is_ready_and_untainted(&node)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("node {NODE_NAME} not Ready and untainted after {READY_TIMEOUT:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Ready, and without the taints that keep pods off it.
fn is_ready_and_untainted(node: &NodeObject) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let tainted = node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|taints| !taints.is_empty());
    ready && !tainted
}

impl Drop for Node {
    fn drop(&mut self) {
        drop(self.scheduler.take());
        drop(self.enforcer.take());
        drop(self.proxy.take());
        drop(self.kubelet.take());
        if let Some(containerd) = self.containerd.take() {
            let (runc_root, socket) = (containerd.runc_root(), containerd.socket());
            cleanup::remove_containers(&runc_root);
            drop(containerd);
            cleanup::kill_shims(&socket);
        }
        cleanup::unmount_under(self.dir.path());
        cleanup::remove_pod_cgroups();
        drop(self.network.take());
    }
}

/// The `kubernetes` Service's endpoint: the node's address, forwarded to the API server (the
/// test bed's API server runs with `--endpoint-reconciler-type=none`, so it writes none).
async fn publish_kubernetes_endpoints(cp: &ControlPlane) -> Result<()> {
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {
            "kubernetes.io/service-name": "kubernetes",
            "endpointslice.kubernetes.io/managed-by": "wardwatch-testbed",
        }},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [NODE_IP.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}],
    });
    cp.apply(&slice).await.context("publishing the kubernetes Service's EndpointSlice")?;
    Ok(())
}

/// A kubeconfig for the node's programs: the API server at the node's address, as the admin.
fn write_node_kubeconfig(dir: &Path, cp: &ControlPlane) -> Result<PathBuf> {
    let credentials = cp.admin_credentials();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {
            "server": NodeNetwork::api_url(),
            "certificate-authority": credentials.ca_cert,
        }}],
        "users": [{"name": "admin", "user": {
            "client-certificate": credentials.client_cert,
            "client-key": credentials.client_key,
        }}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin"}}],
        "current-context": "testbed",
    });
    let path = dir.join("node.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig)?)?;
    Ok(path)
}

/// Runs a command to completion, failing with its stderr.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
