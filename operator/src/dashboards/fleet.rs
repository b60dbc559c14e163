//! The fleet dashboard, for the central Grafana and Prometheus: every federated hospital and
//! ward, from the ward- and bed-level series that cross the hospitals' boundary (no patient
//! identifier). Variables: `hospital`, `ward`.

use serde_json::Value;

use super::grafana::{self, Kind, Panel, Query, dashboard, label_variable};
use crate::rules::federated::{
    BED_NEWS2, WARD_ALERTS, WARD_BYTES, WARD_CAPTURE_DROPPED, WARD_INTRUSIONS, WARD_NETWORK_HEALTH, WARD_NEWS2_BANDS,
    WARD_TARGETS, WARD_TARGETS_UP,
};

pub const UID: &str = "wardwatch-fleet";

const SELECTED: &str = r#"hospital=~"$hospital",ward=~"$ward""#;

fn selected(metric: &str) -> String {
    format!("{metric}{{{SELECTED}}}")
}

pub fn panels() -> Vec<Panel> {
    vec![
        Panel::new(
            Kind::Stat,
            "Hospitals reachable",
            "none",
            "1 while the central Prometheus pulls the hospital's /federate; HospitalUnreachable fires after three failed pulls.",
            vec![Query::new(r#"up{federation!="",hospital=~"$hospital"}"#, "{{hospital}} ({{federation}})")],
        ),
        Panel::new(
            Kind::Table,
            "Scrape targets up, by ward",
            "percentunit",
            "The share of each ward's exporters and gateway its hospital's Prometheus reaches.",
            vec![Query::new(
                format!("{} / {}", selected(WARD_TARGETS_UP), selected(WARD_TARGETS)),
                "{{hospital}} {{ward}}",
            )],
        ),
        Panel::new(
            Kind::Stacked,
            "Patients by NEWS2 risk band",
            "none",
            "Low 0-4, medium 5-6 (urgent review), high 7+ (emergency response), by hospital and ward.",
            vec![Query::new(
                format!("sum by (hospital, ward, band) ({})", selected(WARD_NEWS2_BANDS)),
                "{{hospital}} {{ward}} {{band}}",
            )],
        ),
        Panel::new(
            Kind::Heatmap,
            "NEWS2 heatmap by ward",
            "none",
            "Each ward a row, coloured by the highest NEWS2 among its beds: where patients deteriorate, across hospitals.",
            vec![Query::new(format!("max by (hospital, ward) ({})", selected(BED_NEWS2)), "{{hospital}} {{ward}}")],
        ),
        Panel::new(
            Kind::Table,
            "Highest NEWS2 by bed",
            "none",
            "The 20 beds with the highest NEWS2 aggregate score.",
            vec![Query::new(format!("topk(20, {})", selected(BED_NEWS2)), "{{hospital}} {{ward}} {{bed}}")],
        ),
        Panel::new(
            Kind::Stacked,
            "Alerts firing, by hospital and severity",
            "none",
            "Every ward's firing alerts (clinical, device, network).",
            vec![Query::new(
                format!("sum by (hospital, severity) ({})", selected(WARD_ALERTS)),
                "{{hospital}} {{severity}}",
            )],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Network health by ward",
            "none",
            "The mean of the ward's devices' network health scores (0-100).",
            vec![Query::new(selected(WARD_NETWORK_HEALTH), "{{hospital}} {{ward}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Traffic by ward",
            "Bps",
            "Wire bytes per second the ward's exporters counted.",
            vec![Query::new(format!("sum by (hospital, ward) ({})", selected(WARD_BYTES)), "{{hospital}} {{ward}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Capture loss by ward",
            "pps",
            "Packets the captures lost; above 0 the intrusion rules and vital signs may miss traffic.",
            vec![Query::new(selected(WARD_CAPTURE_DROPPED), "{{hospital}} {{ward}}")],
        ),
        Panel::new(
            Kind::Table,
            "Intrusion-rule firings in the last hour",
            "none",
            "By hospital, ward and rule.",
            vec![Query::new(
                format!("sum by (hospital, ward, rule) ({})", selected(WARD_INTRUSIONS)),
                "{{hospital}} {{ward}} {{rule}}",
            )],
        ),
    ]
}

/// The fleet dashboard JSON.
pub fn dashboard_json() -> Value {
    let hospital = label_variable("hospital", "hospital", WARD_TARGETS);
    let ward = label_variable("ward", "ward", &format!(r#"{WARD_TARGETS}{{hospital=~"$hospital"}}"#));
    dashboard(UID, "wardwatch: fleet", &["wardwatch", "fleet"], vec![hospital, ward], &panels())
}

/// The fleet dashboard as the chart ships it (`charts/wardwatch/dashboards/fleet.json`).
pub fn pretty_json() -> String {
    grafana::pretty(&dashboard_json())
}
