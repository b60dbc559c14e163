//! The node's network: a namespace of its own with a veth pair to the machine (the kubelet
//! refuses a loopback node IP, and the API server reaches the kubelet through it), the pod
//! bridge's addresses, the Service range, and no default route: nothing a pod sends can leave
//! the machine.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::Result;

use crate::netns::NetworkNamespace;
use crate::node::forward::Forwarder;

/// The node's address (its end of the veth pair).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
/// The machine's end of the veth pair.
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
/// Pods get addresses here (inside the sample ward's allowed `10.40.0.0/16`).
pub const POD_CIDR: &str = "10.40.0.0/24";
/// The pod bridge's address (host-local gives the gateway the subnet's first address): the node
/// as its pods see it.
pub const BRIDGE_IP: &str = "10.40.0.1";
/// The `kube-dns` Service's ClusterIP, where CoreDNS answers the pods (`addons.rs`).
pub const CLUSTER_DNS_IP: &str = "10.40.254.10";
/// ClusterIPs come from here (inside the same allowed range).
pub const SERVICE_CIDR: &str = "10.40.254.0/24";
/// The `kubernetes` Service's ClusterIP: the first address of [`SERVICE_CIDR`].
pub const KUBERNETES_SERVICE_IP: &str = "10.40.254.1";
/// The port the API server answers on at [`NODE_IP`] (forwarded to its loopback port).
pub const API_PORT: u16 = 6443;

/// The namespace, its veth pair and the forwarder to the API server; dropping removes them all.
pub struct NodeNetwork {
    // The forwarder's listener lives in the namespace: stop it first.
    _api: Forwarder,
    namespace: NetworkNamespace,
}

impl NodeNetwork {
    /// Creates the namespace and the veth pair, and forwards `NODE_IP:API_PORT` to the API
    /// server's loopback port.
    pub fn create(apiserver_port: u16) -> Result<Self> {
        let namespace = NetworkNamespace::create("node", &[])?;
        // Both ends named after the namespace's pid suffix, so parallel runs do not collide.
        let host_side = format!("wwn{}", std::process::id() % 1_000_000);
        let _ = std::process::Command::new("ip").args(["link", "del", &host_side]).output();
        run_ip(&["link", "add", &host_side, "type", "veth", "peer", "name", "eth0", "netns", namespace.name()])?;
        namespace.ip(&format!("addr add {NODE_IP}/30 dev eth0"))?;
        namespace.ip("link set eth0 up")?;
        run_ip(&["addr", "add", &format!("{HOST_IP}/30"), "dev", &host_side])?;
        run_ip(&["link", "set", &host_side, "up"])?;
        // Routed pods need forwarding inside the node; the namespace has no default route.
        crate::node::run(namespace.exec("sysctl").args(["-q", "-w", "net.ipv4.ip_forward=1"]))?;
        // Pod-to-pod traffic on the bridge passes the IP hooks, where kube-proxy's rules (and a
        // NetworkPolicy enforcer's) live, as kubeadm requires of every node.
        crate::node::run(namespace.exec("sysctl").args(["-q", "-w", "net.bridge.bridge-nf-call-iptables=1"]))?;
        let api = Forwarder::start(
            &namespace,
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, API_PORT)),
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, apiserver_port)),
        )?;
        Ok(Self { _api: api, namespace })
    }

    pub fn namespace(&self) -> &NetworkNamespace {
        &self.namespace
    }

    /// `https://NODE_IP:API_PORT`, the API server as the node and its pods see it.
    pub fn api_url() -> String {
        format!("https://{NODE_IP}:{API_PORT}")
    }

    /// The names the API server's certificate must carry for the node and its pods.
    pub fn serving_names() -> Vec<String> {
        let mut names = vec![NODE_IP.to_string(), KUBERNETES_SERVICE_IP.to_owned()];
        for suffix in ["", ".default", ".default.svc", ".default.svc.cluster.local"] {
            names.push(format!("kubernetes{suffix}"));
        }
        names
    }
}

fn run_ip(args: &[&str]) -> Result<()> {
    crate::node::run(std::process::Command::new("ip").args(args))
}
