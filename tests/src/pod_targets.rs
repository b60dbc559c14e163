//! Prometheus scrape configuration for pods that run as local processes.
//!
//! In a cluster, prometheus-operator turns a PodMonitor into a `kubernetes_sd` job and
//! Prometheus discovers the pods. Without a kubelet there are no pod objects to discover, so
//! this builder does the discovery's part for pods whose addresses the caller knows: it selects
//! them with the PodMonitor's selector, takes each endpoint's named container port, and applies
//! the PodMonitor's relabelings to the pod's labels, giving the targets the labels
//! (`namespace`, `pod`, `container`, `endpoint`, `job` and the relabelled ones) that the
//! operator's rules and dashboards select on.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// A pod running locally: where it is and what its template says.
pub struct LocalPod {
    pub namespace: String,
    pub name: String,
    pub ip: String,
    pub labels: BTreeMap<String, String>,
    /// (container, port name, port number) for every named container port.
    pub ports: Vec<(String, String, u16)>,
}

impl LocalPod {
    /// The pod a Deployment's template makes, at `ip`.
    pub fn from_deployment(deployment: &Value, name: &str, ip: &str) -> Result<Self> {
        let template = &deployment["spec"]["template"];
        let labels = serde_json::from_value(template["metadata"]["labels"].clone()).context("template labels")?;
        let mut ports = Vec::new();
        // Prometheus' pod discovery lists the ports of init containers (sidecars) too.
        for container in crate::pod::start_order(&template["spec"])? {
            for port in container["ports"].as_array().into_iter().flatten() {
                if let (Some(port_name), Some(number)) = (port["name"].as_str(), port["containerPort"].as_u64()) {
                    ports.push((
                        container["name"].as_str().unwrap_or_default().to_owned(),
                        port_name.to_owned(),
                        number as u16,
                    ));
                }
            }
        }
        Ok(Self {
            namespace: deployment["metadata"]["namespace"].as_str().unwrap_or("default").to_owned(),
            name: name.to_owned(),
            ip: ip.to_owned(),
            labels,
            ports,
        })
    }
}

/// One Prometheus scrape job per PodMonitor endpoint, with a static target per selected pod.
pub fn scrape_configs(pod_monitor: &Value, pods: &[LocalPod]) -> Result<Vec<Value>> {
    let namespace = pod_monitor["metadata"]["namespace"].as_str().context("PodMonitor namespace")?;
    let name = pod_monitor["metadata"]["name"].as_str().context("PodMonitor name")?;
    let match_labels: BTreeMap<String, String> =
        serde_json::from_value(pod_monitor["spec"]["selector"]["matchLabels"].clone()).unwrap_or_default();
    if !pod_monitor["spec"]["selector"]["matchExpressions"].is_null() {
        bail!("PodMonitor {namespace}/{name}: matchExpressions are not supported by the local discovery");
    }
    let selected: Vec<&LocalPod> = pods
        .iter()
        .filter(|pod| pod.namespace == namespace && match_labels.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
        .collect();

    let mut jobs = Vec::new();
    for (index, endpoint) in pod_monitor["spec"]["podMetricsEndpoints"].as_array().into_iter().flatten().enumerate() {
        let port_name = endpoint["port"].as_str().context("a podMetricsEndpoint without a port name")?;
        let mut static_configs = Vec::new();
        for pod in &selected {
            let Some((container, _, number)) = pod.ports.iter().find(|(_, p, _)| p == port_name) else { continue };
            let mut labels = BTreeMap::from([
                ("namespace".to_owned(), pod.namespace.clone()),
                ("pod".to_owned(), pod.name.clone()),
                ("container".to_owned(), container.clone()),
                ("endpoint".to_owned(), port_name.to_owned()),
                ("job".to_owned(), format!("{namespace}/{name}")),
            ]);
            for relabeling in endpoint["relabelings"].as_array().into_iter().flatten() {
                let (target, value) = relabel(relabeling, pod)?;
                if !value.is_empty() {
                    labels.insert(target, value);
                }
            }
            static_configs.push(json!({"targets": [format!("{}:{number}", pod.ip)], "labels": labels}));
        }
        let mut job = json!({
            "job_name": format!("podMonitor/{namespace}/{name}/{index}"),
            "metrics_path": endpoint["path"].as_str().unwrap_or("/metrics"),
            "static_configs": static_configs,
        });
        if let Some(interval) = endpoint["interval"].as_str() {
            job["scrape_interval"] = json!(interval);
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// A `replace` relabeling from one pod label: (target label, value).
fn relabel(relabeling: &Value, pod: &LocalPod) -> Result<(String, String)> {
    let action = relabeling["action"].as_str().unwrap_or("replace");
    let sources: Vec<&str> =
        relabeling["sourceLabels"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let target = relabeling["targetLabel"].as_str();
    let (true, [source], Some(target)) = (action.eq_ignore_ascii_case("replace"), sources.as_slice(), target) else {
        bail!("relabeling {relabeling} is not a one-label replace; the local discovery does not support it");
    };
    let value = pod
        .labels
        .iter()
        .find(|(label, _)| format!("__meta_kubernetes_pod_label_{}", sanitize(label)) == *source)
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    Ok((target.to_owned(), value))
}

/// Kubernetes label names as Prometheus's service discovery spells them in meta labels.
fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_pods_get_the_relabelled_labels_and_their_named_port() {
        let monitor = json!({
            "metadata": {"namespace": "st-mary", "name": "icu-east-pods"},
            "spec": {
                "selector": {"matchLabels": {"wardwatch.io/ward": "icu-east"}},
                "podMetricsEndpoints": [{"port": "metrics", "interval": "5s", "path": "/metrics", "relabelings": [
                    {"sourceLabels": ["__meta_kubernetes_pod_label_wardwatch_io_bed"], "targetLabel": "bed"},
                    {"sourceLabels": ["__meta_kubernetes_pod_label_wardwatch_io_patient"], "targetLabel": "patient"},
                ]}],
            },
        });
        let pod = |name: &str, ward: &str, bed: Option<&str>| LocalPod {
            namespace: "st-mary".into(),
            name: name.into(),
            ip: "10.40.0.21".into(),
            labels: [("wardwatch.io/ward", ward)]
                .into_iter()
                .chain(bed.map(|b| ("wardwatch.io/bed", b)))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ports: vec![("exporter".into(), "metrics".into(), 9478)],
        };
        let pods =
            [pod("bed-01", "icu-east", Some("ICU-01")), pod("ws", "icu-east", None), pod("other", "icu-west", None)];
        let jobs = scrape_configs(&monitor, &pods).unwrap();
        assert_eq!(jobs.len(), 1);
        let targets = jobs[0]["static_configs"].as_array().unwrap();
        assert_eq!(targets.len(), 2, "the other ward's pod is not selected");
        assert_eq!(targets[0]["targets"][0], "10.40.0.21:9478");
        assert_eq!(targets[0]["labels"]["bed"], "ICU-01");
        assert_eq!(targets[0]["labels"]["job"], "st-mary/icu-east-pods");
        assert_eq!(targets[0]["labels"]["container"], "exporter");
        assert!(targets[1]["labels"].get("bed").is_none(), "an absent pod label sets no target label");
        assert_eq!(jobs[0]["scrape_interval"], "5s");
    }

    #[test]
    fn unsupported_relabelings_are_refused_by_name() {
        let monitor = json!({
            "metadata": {"namespace": "n", "name": "m"},
            "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "metrics", "relabelings": [{"action": "drop", "sourceLabels": ["x"]}]}]},
        });
        let pod = LocalPod {
            namespace: "n".into(),
            name: "p".into(),
            ip: "10.0.0.1".into(),
            labels: BTreeMap::new(),
            ports: vec![("c".into(), "metrics".into(), 1)],
        };
        assert!(scrape_configs(&monitor, &[pod]).unwrap_err().to_string().contains("one-label replace"));
    }
}
