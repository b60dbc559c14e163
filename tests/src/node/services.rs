//! kube-proxy (Services, in the node's namespace) and kube-scheduler (on the machine's
//! loopback, beside the API server).

use std::path::Path;

use anyhow::Result;

use crate::binaries::find_binary;
use crate::netns::NetworkNamespace;
use crate::node::network::POD_CIDR;
use crate::process::ManagedProcess;

/// kube-proxy in iptables mode inside the node's namespace. It masquerades all Service
/// traffic: a pod reaching a Service whose endpoint sits on the same bridge gets the answer
/// back through the node, where the connection's NAT is undone. It leaves the machine-wide
/// conntrack settings alone.
pub fn start_proxy(namespace: &NetworkNamespace, dir: &Path, node: &str, kubeconfig: &Path) -> Result<ManagedProcess> {
    let config = dir.join("kube-proxy.yaml");
    let value = serde_json::json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig},
        "mode": "iptables",
        "hostnameOverride": node,
        "clusterCIDR": POD_CIDR,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "iptables": {"masqueradeAll": true},
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    });
    std::fs::write(&config, serde_yaml::to_string(&value)?)?;
    let mut command = namespace.command(find_binary("kube-proxy")?);
    command.arg(format!("--config={}", config.display()));
    ManagedProcess::spawn_command("kube-proxy", command, dir)
}

/// kube-scheduler with the control plane's kubeconfig, no leader election and no serving port.
pub fn start_scheduler(dir: &Path, kubeconfig: &Path) -> Result<ManagedProcess> {
    let args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".to_owned(),
        "--secure-port=0".to_owned(),
    ];
    ManagedProcess::spawn("kube-scheduler", &find_binary("kube-scheduler")?, &args, dir)
}
