//! The ward's Grafana dashboard, as a ConfigMap the kube-prometheus-stack Grafana sidecar loads
//! (label `grafana_dashboard: "1"`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use serde_json::json;
use wardwatch_clinical::VITAL_SIGNS;
use wardwatch_crds::Ward;

use crate::names;

/// The dashboard JSON: one time-series panel per vital sign, a line per patient and bed.
pub fn dashboard_json(ward: &Ward) -> serde_json::Value {
    let selector = format!(r#"{{namespace="{}",ward="{}"}}"#, ward.namespace().unwrap_or_default(), ward.name_any());
    let panels: Vec<_> = VITAL_SIGNS
        .iter()
        .enumerate()
        .map(|(i, vital)| {
            json!({
                "id": i + 1,
                "type": "timeseries",
                "title": format!("{} ({})", vital.loinc_name, vital.ucum),
                "gridPos": {"x": (i % 2) * 12, "y": (i / 2) * 8, "w": 12, "h": 8},
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [{"refId": "A", "expr": format!("{}{selector}", vital.metric),
                             "legendFormat": "{{patient}} bed {{bed}}"}],
            })
        })
        .collect();
    let title =
        ward.spec.display_name.clone().unwrap_or_else(|| format!("{} / {}", ward.spec.hospital_id, ward.name_any()));
    json!({
        "uid": format!("wardwatch-{}-{}", ward.namespace().unwrap_or_default(), ward.name_any()),
        "title": format!("wardwatch: {title}"),
        "tags": ["wardwatch", ward.spec.hospital_id, ward.spec.department],
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    })
}

pub fn dashboard_config_map(ward: &Ward) -> ConfigMap {
    let mut labels = names::ward_labels(ward);
    labels.insert("grafana_dashboard".to_owned(), "1".to_owned());
    let json = serde_json::to_string_pretty(&dashboard_json(ward)).expect("JSON values serialise");
    ConfigMap {
        metadata: names::owned_metadata(ward, names::dashboard(ward), labels),
        data: Some(BTreeMap::from([(format!("{}.json", names::dashboard(ward)), json)])),
        ..ConfigMap::default()
    }
}
