//! The kubelet, configured for this kind of machine (`docs: real-node.md`): cgroup v1 with the
//! cgroupfs driver, no swap, a small disk (eviction thresholds lowered, image GC off), and the
//! API server's CA for client certificates (the API server calls it with the admin's).

use std::path::Path;

use anyhow::Result;

use crate::binaries::find_binary;
use crate::netns::NetworkNamespace;
use crate::node::network::{CLUSTER_DNS_IP, NODE_IP};
use crate::process::ManagedProcess;

/// Starts the kubelet in the node's namespace as node `name`, talking to containerd at
/// `containerd_socket` and to the API server through `kubeconfig`.
pub fn start(
    namespace: &NetworkNamespace,
    dir: &Path,
    name: &str,
    kubeconfig: &Path,
    containerd_socket: &Path,
    client_ca: &Path,
) -> Result<ManagedProcess> {
    let root = dir.join("kubelet");
    for sub in ["static-pods", "pod-logs"] {
        std::fs::create_dir_all(root.join(sub))?;
    }
    // The node's resolver, for pods with dnsPolicy Default: one on the pod's own loopback, which
    // answers nothing, so no query leaves the pod. ClusterFirst pods ask CoreDNS.
    std::fs::write(root.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
    let config = root.join("config.yaml");
    std::fs::write(&config, serde_yaml::to_string(&configuration(&root, containerd_socket, client_ca))?)?;
    let mut command = namespace.command(find_binary("kubelet")?);
    command.args([
        format!("--config={}", config.display()),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--root-dir={}", root.join("root").display()),
        format!("--hostname-override={name}"),
        format!("--node-ip={NODE_IP}"),
        "--v=1".to_owned(),
    ]);
    ManagedProcess::spawn_command("kubelet", command, dir)
}

fn configuration(root: &Path, containerd_socket: &Path, client_ca: &Path) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        // The machine has cgroup v1 hierarchies (cgroup2 only at /sys/fs/cgroup/unified).
        "failCgroupV1": false,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": format!("unix://{}", containerd_socket.display()),
        "failSwapOn": false,
        "staticPodPath": root.join("static-pods"),
        "podLogsDir": root.join("pod-logs"),
        "resolvConf": root.join("resolv.conf"),
        // A small, fairly full disk must not evict the test's pods or delete its images. The
        // node shares the machine's disk with the build: 1 % of a 252 GB disk (2.5 GB) was
        // once all that was left after a build, and the kubelet evicted CoreDNS and never ran
        // the operator. An absolute floor keeps the test independent of the disk's size.
        "evictionHard": {"nodefs.available": "512Mi", "imagefs.available": "512Mi", "memory.available": "100Mi"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "address": NODE_IP.to_string(),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": false},
            "x509": {"clientCAFile": client_ca},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": "cluster.local",
        // CoreDNS listens in the node's namespace, which pods reach at the bridge's address.
        "clusterDNS": [CLUSTER_DNS_IP],
        "serializeImagePulls": false,
        "nodeStatusReportFrequency": "10s",
    })
}
