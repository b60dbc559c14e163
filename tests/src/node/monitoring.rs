//! prometheus-operator as a pod on the node, from its module's own example RBAC and Deployment
//! (copied by `tests/testbed/build.sh`), with the images `scripts/images.sh` packed from the test
//! bed's binaries; and a `Prometheus` and an `Alertmanager` set up the way kube-prometheus-stack
//! sets them up by default.

use std::path::PathBuf;

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

use crate::binaries::cache_dir;
use crate::control_plane::ControlPlane;
use crate::node::images::tagged;
use crate::wait::eventually;

/// The namespace the monitoring stack runs in.
pub const NAMESPACE: &str = "monitoring";
/// The Prometheus object's name; its pod is `prometheus-<name>-0`.
pub const PROMETHEUS: &str = "wardwatch";

fn manifest_dir() -> PathBuf {
    cache_dir().join("manifests/prometheus-operator")
}

/// Reads one of the module's example manifests, moved to [`NAMESPACE`].
fn example(file: &str) -> Result<Value> {
    let path = manifest_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}; run `bash tests/testbed/build.sh`", path.display()))?;
    let mut value: Value = serde_yaml::from_str(&text)?;
    if !value["kind"].as_str().is_some_and(|kind| kind.starts_with("Cluster")) {
        value["metadata"]["namespace"] = json!(NAMESPACE);
    }
    if let Some(subjects) = value.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects {
            subject["namespace"] = json!(NAMESPACE);
        }
    }
    Ok(value)
}

/// The label kube-prometheus-stack's Prometheus selects monitors and rules by (`release: <its
/// release name>`); wardwatch's objects carry it through the chart's `monitoringLabels`.
pub const RELEASE_LABEL: (&str, &str) = ("release", "kube-prometheus-stack");

/// Applies prometheus-operator (service account, cluster role and binding, Deployment with our
/// images) and Prometheus's RBAC, then a `Prometheus` and an `Alertmanager` configured as
/// kube-prometheus-stack configures them by default: PodMonitors and PrometheusRules selected by
/// [`RELEASE_LABEL`] in every namespace, every AlertmanagerConfig matched `OnNamespace` (its
/// routes only see alerts labelled with its own namespace), alerts sent to the Alertmanager.
pub async fn deploy(cp: &ControlPlane, image_report: &str) -> Result<()> {
    let image = |repository: &str| {
        tagged(image_report, repository).with_context(|| format!("no image {repository} in the node's images"))
    };
    let (operator, reloader, prometheus, alertmanager) = (
        image("localhost/wardwatch/prometheus-operator")?,
        image("localhost/wardwatch/prometheus-config-reloader")?,
        image("localhost/wardwatch/prometheus")?,
        image("localhost/wardwatch/alertmanager")?,
    );
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})).await?;
    for file in [
        "prometheus-operator-service-account.yaml",
        "prometheus-operator-cluster-role.yaml",
        "prometheus-operator-cluster-role-binding.yaml",
        "prometheus-service-account.yaml",
        "prometheus-cluster-role.yaml",
        "prometheus-cluster-role-binding.yaml",
    ] {
        cp.apply(&example(file)?).await.with_context(|| format!("applying {file}"))?;
    }
    let mut deployment = example("prometheus-operator-deployment.yaml")?;
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    container["image"] = json!(operator);
    // Only the reloader's image changes; the kubelet Service it would keep is not needed.
    container["args"] = json!([
        format!("--prometheus-config-reloader={reloader}"),
        "--watch-referenced-objects-in-all-namespaces=true",
        "--disable-unmanaged-prometheus-configuration=true",
    ]);
    cp.apply(&deployment).await.context("applying prometheus-operator's Deployment")?;

    let release = json!({"matchLabels": {RELEASE_LABEL.0: RELEASE_LABEL.1}});
    cp.apply(&json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": PROMETHEUS, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "image": prometheus,
            "version": tag_of(&prometheus),
            "serviceAccountName": "prometheus",
            "podMonitorSelector": release,
            "podMonitorNamespaceSelector": {},
            "serviceMonitorSelector": release,
            "serviceMonitorNamespaceSelector": {},
            "ruleSelector": release,
            "ruleNamespaceSelector": {},
            "evaluationInterval": "5s",
            "alerting": {"alertmanagers": [{
                "namespace": NAMESPACE, "name": "alertmanager-operated", "port": "web", "apiVersion": "v2",
            }]},
            "resources": {"requests": {"memory": "100Mi"}},
        },
    }))
    .await
    .context("applying the Prometheus")?;
    cp.apply(&json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Alertmanager",
        "metadata": {"name": ALERTMANAGER, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "image": alertmanager,
            "version": tag_of(&alertmanager),
            "alertmanagerConfigSelector": {},
            "alertmanagerConfigNamespaceSelector": {},
            "alertmanagerConfigMatcherStrategy": {"type": "OnNamespace"},
            "resources": {"requests": {"memory": "50Mi"}},
        },
    }))
    .await
    .context("applying the Alertmanager")?;
    Ok(())
}

/// The Alertmanager object's name; its pod is `alertmanager-<name>-0`.
pub const ALERTMANAGER: &str = "wardwatch";

fn tag_of(image: &str) -> String {
    image.rsplit_once(':').map(|(_, tag)| tag.to_owned()).unwrap_or_default()
}

/// Waits until the operator has rendered a configuration for [`PROMETHEUS`] that satisfies
/// `accept` (the Secret `prometheus-<name>`, gzipped), and returns it as YAML text.
pub async fn rendered_prometheus_config(
    cp: &ControlPlane,
    timeout: Duration,
    accept: impl Fn(&str) -> bool,
) -> Result<String> {
    let secrets: Api<Secret> = Api::namespaced(cp.client(), NAMESPACE);
    let name = format!("prometheus-{PROMETHEUS}");
    eventually(timeout, &format!("Secret {NAMESPACE}/{name} with the expected configuration"), || async {
        let Some(secret) = secrets.get_opt(&name).await? else { return Ok(None) };
        let Some(gz) = secret.data.unwrap_or_default().remove("prometheus.yaml.gz") else { return Ok(None) };
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz.0[..]).read_to_string(&mut text).context("gunzip")?;
        Ok(accept(&text).then_some(text))
    })
    .await
}

/// The Prometheus pod prometheus-operator runs for [`PROMETHEUS`].
pub fn prometheus_pod() -> String {
    format!("prometheus-{PROMETHEUS}-0")
}

/// The Alertmanager pod prometheus-operator runs for [`ALERTMANAGER`].
pub fn alertmanager_pod() -> String {
    format!("alertmanager-{ALERTMANAGER}-0")
}
