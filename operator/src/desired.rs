//! Everything the operator wants to exist, per ward, per device and per federation, as plain
//! objects (`apiVersion`, `kind`, `metadata`, ...) ready for server-side apply.

use serde::Serialize;
use serde_json::Value;
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use crate::{dashboards, federation, monitors, policies, routing, rules, workloads};

fn object(resource: impl Serialize) -> Value {
    serde_json::to_value(resource).expect("Kubernetes objects serialise to JSON")
}

/// The ward's own objects: gateway Deployment and Service, PrometheusRule, PodMonitor,
/// AlertmanagerConfig, baseline NetworkPolicy, dashboard ConfigMap.
pub fn ward_objects(ward: &Ward, quarantine_webhook: Option<&str>) -> Vec<Value> {
    vec![
        object(workloads::gateway_deployment(ward)),
        object(workloads::gateway_service(ward)),
        object(rules::ward_prometheus_rule(ward)),
        object(monitors::pod_monitor(ward)),
        object(routing::alertmanager_config(ward, quarantine_webhook)),
        object(policies::baseline_policy(ward)),
        object(dashboards::dashboard_config_map(ward)),
    ]
}

/// A device's objects: its Deployment, and its quarantine NetworkPolicy while it is isolated.
pub fn device_objects(ward: &Ward, device: &MonitoredDevice) -> Vec<Value> {
    let mut objects = vec![object(workloads::device_deployment(ward, device))];
    if policies::quarantine_reason(device).is_some() {
        objects.push(object(policies::quarantine_policy(ward, device)));
    }
    objects
}

/// A federation's ScrapeConfigs, one per member hospital.
pub fn federation_objects(federation: &HospitalFederation) -> Vec<Value> {
    federation.spec.members.iter().map(|member| object(federation::scrape_config(federation, member))).collect()
}

/// `kind/namespace/name` of an object, for logs, events and tests.
pub fn object_ref(object: &Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}
