//! Grafana dashboards from one source: the ward's ([`ward`], a ConfigMap per ward that the
//! kube-prometheus-stack Grafana sidecar loads, label `grafana_dashboard: "1"`) and the fleet's
//! across federated hospitals ([`fleet`]) and one device's with its patient ([`device`], linked
//! from the ward's), both shipped by the chart, all built with [`grafana`].

pub mod device;
pub mod fleet;
pub mod grafana;
pub mod network;
pub mod ward;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use wardwatch_crds::Ward;

use crate::names;

/// The ward's dashboard JSON (see [`ward`]).
pub fn dashboard_json(ward: &Ward) -> serde_json::Value {
    let namespace = ward.namespace().unwrap_or_default();
    let selector = format!(r#"namespace="{namespace}",ward="{}""#, ward.name_any());
    let title =
        ward.spec.display_name.clone().unwrap_or_else(|| format!("{} / {}", ward.spec.hospital_id, ward.name_any()));
    let uid = format!("wardwatch-{namespace}-{}", ward.name_any());
    let tags = ["wardwatch", ward.spec.hospital_id.as_str(), ward.spec.department.as_str()];
    ward::dashboard_json(&uid, &format!("wardwatch: {title}"), &tags, &selector)
}

pub fn dashboard_config_map(ward: &Ward) -> ConfigMap {
    let mut labels = names::ward_labels(ward);
    labels.insert("grafana_dashboard".to_owned(), "1".to_owned());
    let json = grafana::pretty(&dashboard_json(ward));
    ConfigMap {
        metadata: names::owned_metadata(ward, names::dashboard(ward), labels),
        data: Some(BTreeMap::from([(format!("{}.json", names::dashboard(ward)), json)])),
        ..ConfigMap::default()
    }
}
