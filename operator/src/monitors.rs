//! The ward's PodMonitor: Prometheus scrapes every exporter (devices and gateway) and the
//! gateway's own metrics, with hospital, ward, device, patient and bed as target labels.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use wardwatch_crds::Ward;

use crate::monitoring::{LabelSelector, PodMetricsEndpoint, PodMonitor, PodMonitorSpec, RelabelConfig};
use crate::names::{self, TARGET_LABELS};

/// Prometheus's name for a pod label in service discovery metadata.
fn discovery_label(pod_label: &str) -> String {
    let sanitized: String = pod_label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("__meta_kubernetes_pod_label_{sanitized}")
}

fn endpoint(port: &str, interval: &str) -> PodMetricsEndpoint {
    PodMetricsEndpoint {
        port: port.to_owned(),
        path: "/metrics".to_owned(),
        interval: interval.to_owned(),
        relabelings: TARGET_LABELS
            .iter()
            .map(|(pod_label, target)| RelabelConfig {
                source_labels: vec![discovery_label(pod_label)],
                target_label: Some((*target).to_owned()),
                ..RelabelConfig::default()
            })
            .collect(),
    }
}

pub fn pod_monitor(ward: &Ward) -> PodMonitor {
    let interval = &ward.spec.scrape_interval;
    let mut monitor = PodMonitor::new(
        &names::pod_monitor(ward),
        PodMonitorSpec {
            selector: LabelSelector {
                match_labels: BTreeMap::from([
                    (names::LABEL_MANAGED_BY.to_owned(), "wardwatch".to_owned()),
                    (names::LABEL_WARD.to_owned(), ward.name_any()),
                ]),
            },
            pod_metrics_endpoints: vec![endpoint("metrics", interval), endpoint("gateway-metrics", interval)],
            pod_target_labels: Vec::new(),
        },
    );
    monitor.metadata.namespace = ward.namespace();
    monitor.metadata.labels = Some(names::monitoring_labels(ward));
    monitor.metadata.owner_references = ward.controller_owner_ref(&()).map(|o| vec![o]);
    monitor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_labels_follow_prometheus_sanitising() {
        assert_eq!(discovery_label("wardwatch.io/device-type"), "__meta_kubernetes_pod_label_wardwatch_io_device_type");
    }
}
