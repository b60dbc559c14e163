//! The node's NetworkPolicy enforcer: kube-router's firewall controller, built from its Go
//! module (tests/testbed/build.sh), as a process in the node's namespace beside kube-proxy. It
//! turns every NetworkPolicy into iptables rules and ipsets there (this kernel has both; it lacks
//! the nftables queue that kube-network-policies needs, see the README). Its router (BGP) and
//! service proxy stay off: the CNI bridge and kube-proxy do those jobs here.
//!
//! [`connects_from_pod`] is how a test sees the rules work: a TCP connection opened from inside
//! a pod's network namespace, so the packets leave through the pod's veth like its own.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::binaries::find_binary;
use crate::netns::NetworkNamespace;
use crate::node::network::SERVICE_CIDR;
use crate::process::ManagedProcess;

/// How often kube-router re-syncs every rule besides reacting to changes (its default is 5 min).
const FULL_SYNC: &str = "30s";

/// Starts kube-router's firewall controller for `node` (its metrics off; its health check on
/// its default port, 20244, inside the node's namespace, which has no route off the machine).
pub fn start(namespace: &NetworkNamespace, dir: &Path, node: &str, kubeconfig: &Path) -> Result<ManagedProcess> {
    let mut command = namespace.command(find_binary("kube-router")?);
    command.args([
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--hostname-override={node}"),
        "--run-firewall=true".to_owned(),
        "--run-router=false".to_owned(),
        "--run-service-proxy=false".to_owned(),
        "--run-loadbalancer=false".to_owned(),
        "--enable-cni=false".to_owned(),
        "--enable-pod-egress=false".to_owned(),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!("--iptables-sync-period={FULL_SYNC}"),
        "--metrics-port=0".to_owned(),
    ]);
    ManagedProcess::spawn_command("kube-router", command, dir)
}

/// Whether a TCP connection to `target` opens from inside the network namespace of the pod
/// whose uid is `pod_uid` within `timeout`. A refusal counts as blocked too: kube-router
/// rejects what a policy denies, so probe a port that listens.
pub fn connects_from_pod(pod_uid: &str, target: SocketAddr, timeout: Duration) -> Result<bool> {
    let pid = pod_process(pod_uid)?;
    let path = format!("/proc/{pid}/ns/net");
    let handle = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on this short-lived thread only; the descriptor is open.
                if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns into {path}: {}", std::io::Error::last_os_error());
                }
                Ok(TcpStream::connect_timeout(&target, timeout).is_ok())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the probe thread panicked"))?
    })
}

/// A process of the pod: one whose cgroup path names the pod's uid (the kubelet writes it
/// with dashes for cgroupfs and with underscores for the systemd driver).
fn pod_process(pod_uid: &str) -> Result<String> {
    let underscored = pod_uid.replace('-', "_");
    for entry in std::fs::read_dir("/proc")?.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        if cgroup.contains(pod_uid) || cgroup.contains(&underscored) {
            return Ok(name);
        }
    }
    bail!("no process of pod {pod_uid} runs")
}
