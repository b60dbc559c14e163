//! The node's cluster add-on, as a pod from an image `scripts/images.sh` packed from the test
//! bed's binary: CoreDNS behind the `kube-dns` Service, labelled as the NetworkPolicies that
//! allow DNS select it (`k8s-app: kube-dns`).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use crate::control_plane::ControlPlane;
use crate::node::images::tagged;
use crate::node::network::CLUSTER_DNS_IP;
use crate::node::wardwatch::ready_pods;
use crate::wait::eventually;

/// CoreDNS listens on 53 in its pod too, not only on its Service: NetworkPolicies see the pod's
/// port after kube-proxy's translation, and the ward's baseline allows DNS on 53 (as upstream
/// CoreDNS serves it). Its non-root user may bind it through the pod's
/// `net.ipv4.ip_unprivileged_port_start` sysctl, one of the kubelet's safe sysctls.
const DNS_POD_PORT: i32 = 53;

/// Applies CoreDNS (ServiceAccount, RBAC, Corefile, Deployment, the `kube-dns` Service at
/// [`CLUSTER_DNS_IP`]). It answers for `cluster.local` and forwards nothing: no query leaves the
/// machine.
pub async fn deploy_dns(cp: &ControlPlane, image_report: &str) -> Result<()> {
    let image = tagged(image_report, "localhost/wardwatch/coredns").context("no CoreDNS image")?;
    let labels = json!({"k8s-app": "kube-dns"});
    let corefile = format!(
        ".:{DNS_POD_PORT} {{\n    errors\n    ready :8181\n    kubernetes cluster.local in-addr.arpa {{\n        pods insecure\n    }}\n}}\n"
    );
    let objects = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
        "rules": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "system:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "coredns",
                "dnsPolicy": "Default",
                "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"},
                                    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}]},
                "containers": [{"name": "coredns", "image": image, "args": ["-conf", "/etc/coredns/Corefile"],
                    "ports": [{"name": "dns", "containerPort": DNS_POD_PORT, "protocol": "UDP"},
                              {"name": "dns-tcp", "containerPort": DNS_POD_PORT, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": true}]}],
                "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {"selector": labels, "clusterIP": CLUSTER_DNS_IP, "ports": [
                {"name": "dns", "port": 53, "targetPort": DNS_POD_PORT, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "targetPort": DNS_POD_PORT, "protocol": "TCP"}]}}),
    ];
    for object in &objects {
        cp.apply(object).await.with_context(|| format!("applying CoreDNS's {}", object["kind"]))?;
    }
    Ok(())
}

/// Waits until CoreDNS runs, Ready.
pub async fn wait_dns_ready(cp: &ControlPlane, timeout: Duration) -> Result<()> {
    eventually(timeout, "the CoreDNS pod Running and Ready", || async {
        Ok((!ready_pods(cp, "kube-system", "k8s-app=kube-dns").await?.is_empty()).then_some(()))
    })
    .await
}
