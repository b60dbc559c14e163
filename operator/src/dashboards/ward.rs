//! The ward's dashboard, for the hospital's Grafana and Prometheus: each patient's vital signs
//! and NEWS2 by bed, the ward's alert timeline, and what its devices do on the network.
//! Variable: `bed`.

use serde_json::Value;
use wardwatch_clinical::VITAL_SIGNS;

use super::grafana::{self, Kind, Panel, Query, dashboard, label_variable};
use super::{device, network};

/// The panels, for the ward whose series `selector` (`namespace="…",ward="…"`, no braces)
/// picks.
pub fn panels(selector: &str) -> Vec<Panel> {
    let ward = |metric: &str| format!("{metric}{{{selector}}}");
    let by_bed = |metric: &str| format!(r#"{metric}{{{selector},bed=~"$bed"}}"#);
    let rate = |metric: &str, by: &str| format!("sum by ({by}) (rate({}[$__rate_interval]))", ward(metric));
    let news2_by_bed = format!(
        "{} * on (namespace, ward, patient) group_left (bed) {}",
        ward("wardwatch:news2_score"),
        by_bed("wardwatch:patient_bed:info")
    );
    let mut panels: Vec<Panel> = VITAL_SIGNS
        .iter()
        .map(|vital| {
            let title = grafana::vital_title(vital);
            let about = format!("As each bed's device reports it ({}).", vital.metric);
            Panel::new(Kind::TimeSeries, &title, "none", &about, vec![Query::new(by_bed(vital.metric), "bed {{bed}}")])
        })
        .collect();
    panels.extend([
        Panel::new(
            Kind::TimeSeries,
            "NEWS2 by bed",
            "none",
            "The National Early Warning Score 2 aggregate of each bed's patient: 5-6 urgent review, 7+ emergency response.",
            vec![Query::new(news2_by_bed.clone(), "bed {{bed}}")],
        ),
        Panel::new(
            Kind::Heatmap,
            "NEWS2 heatmap by bed",
            "none",
            "Each bed a row, darker as its patient's NEWS2 rises: a ward's deterioration at a glance.",
            vec![Query::new(news2_by_bed, "bed {{bed}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "SpO2 trend: lowest in 30 minutes at the current slope",
            "percent",
            "predict_linear over the last 15 minutes of each patient's lowest SpO2: a falling line crosses the alarm limit before the alarm does.",
            vec![Query::new(
                format!(
                    "predict_linear({}[15m], 1800) * on (namespace, ward, patient) group_left (bed) {}",
                    ward("wardwatch:patient_spo2:min"),
                    by_bed("wardwatch:patient_bed:info")
                ),
                "bed {{bed}}",
            )],
        ),
        Panel::new(
            Kind::Stacked,
            "Alerts firing",
            "none",
            "The ward's firing alerts over time, by name and severity (Prometheus's ALERTS series).",
            vec![Query::new(
                format!(r#"sum by (alertname, severity) (ALERTS{{{selector},alertstate="firing"}})"#),
                "{{alertname}} ({{severity}})",
            )],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Network health score by device",
            "none",
            "100 when the exporter is up and sees no intrusion, capture loss or retransmission; each takes its share off (see the README's definition).",
            vec![Query::new(ward(crate::rules::network_health::DEVICE_SCORE), "{{device}}")],
        )
        .linked(device::link_from_series()),
        Panel::new(
            Kind::Stat,
            "Scrape targets up",
            "none",
            "1 for each exporter and gateway Prometheus reaches.",
            vec![Query::new(ward("up"), "{{device}}{{component}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Traffic by device",
            "Bps",
            "Wire bytes per second each exporter counted (both directions).",
            vec![Query::new(rate("wardwatch_bytes_total", "ward, device"), "{{device}}")],
        )
        .linked(device::link_from_series()),
        Panel::new(
            Kind::Stacked,
            "Protocol mix",
            "Bps",
            "Wire bytes per second by protocol, over all the ward's exporters.",
            vec![Query::new(rate("wardwatch_bytes_total", "protocol"), "{{protocol}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "TCP retransmissions and resets",
            "pps",
            "Retransmitted segments and resets per second by device: loss, or connections refused.",
            vec![
                Query::new(rate("wardwatch_tcp_retransmitted_segments_total", "device"), "{{device}} retransmitted"),
                Query::new(rate("wardwatch_tcp_resets_total", "device"), "{{device}} resets"),
            ],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Active flows",
            "none",
            "Flows each exporter tracks now (bounded by its --max-flows).",
            vec![Query::new(format!("sum by (device) ({})", ward("wardwatch_flows_active")), "{{device}}")],
        ),
        Panel::new(
            Kind::Table,
            "Intrusion-rule firings in the last hour",
            "none",
            "By device and rule; the network alerts and the quarantine act on these.",
            vec![Query::new(
                format!("sum by (device, rule) (increase({}[1h]))", ward("wardwatch_ids_alerts_total")),
                "{{device}} {{rule}}",
            )],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Capture loss",
            "pps",
            "Packets the kernel or the interface dropped before the exporter saw them.",
            vec![Query::new(rate("wardwatch_capture_dropped_packets_total", "device"), "{{device}}")],
        ),
    ]);
    panels.extend(network::panels(selector));
    panels
}

/// The ward's dashboard JSON.
pub fn dashboard_json(uid: &str, title: &str, tags: &[&str], selector: &str) -> Value {
    let bed = label_variable("bed", "bed", &format!("wardwatch:patient_bed:info{{{selector}}}"));
    dashboard(uid, title, tags, vec![bed], &panels(selector))
}
