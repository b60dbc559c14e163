//! The device dashboard, for the hospital's Grafana: one device and its patient, reached from
//! the ward dashboard's device panels. Variables: `ward`, `device`.

use serde_json::Value;
use wardwatch_clinical::VITAL_SIGNS;

use super::grafana::{self, Kind, Panel, Query, dashboard, label_variable};
use super::network;
use crate::rules::network_health::DEVICE_SCORE;

pub const UID: &str = "wardwatch-device";

const SELECTED: &str = r#"ward=~"$ward",device=~"$device""#;

/// The link to this dashboard for the device a panel's series names (a Grafana data link).
pub fn link_from_series() -> Value {
    serde_json::json!({
        "title": "Device ${__field.labels.device}",
        "url": format!("/d/{UID}?var-ward=${{__field.labels.ward}}&var-device=${{__field.labels.device}}&${{__url_time_range}}"),
        "targetBlank": false,
    })
}

pub fn panels() -> Vec<Panel> {
    let selected = |metric: &str| format!("{metric}{{{SELECTED}}}");
    let rate = |metric: &str, by: &str| format!("sum by ({by}) (rate({}[$__rate_interval]))", selected(metric));
    // The device's patient and bed, from its exporter's target labels.
    let patient = format!(r#"group by (namespace, ward, patient, bed) (up{{{SELECTED},patient!=""}})"#);
    let mut panels = vec![
        Panel::new(
            Kind::TimeSeries,
            "Network health score",
            "none",
            "100 when the exporter is up and sees no intrusion, capture loss or retransmission.",
            vec![Query::new(selected(DEVICE_SCORE), "{{device}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "NEWS2 of the device's patient",
            "none",
            "5-6 urgent review, 7+ emergency response.",
            vec![Query::new(
                format!("wardwatch:news2_score * on (namespace, ward, patient) group_left (bed) {patient}"),
                "bed {{bed}}",
            )],
        ),
    ];
    panels.extend(VITAL_SIGNS.iter().map(|vital| {
        let title = grafana::vital_title(vital);
        let about = format!("As the device's exporter reads it off the wire ({}).", vital.metric);
        Panel::new(Kind::TimeSeries, &title, "none", &about, vec![Query::new(selected(vital.metric), "{{device}}")])
    }));
    panels.extend([
        Panel::new(
            Kind::Stacked,
            "Traffic by protocol",
            "Bps",
            "Wire bytes per second the device's exporter counted.",
            vec![Query::new(rate("wardwatch_bytes_total", "protocol"), "{{protocol}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Active flows",
            "none",
            "Flows the exporter tracks now.",
            vec![Query::new(selected("wardwatch_flows_active"), "{{device}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "TCP retransmissions and resets",
            "pps",
            "Retransmitted segments and resets per second.",
            vec![
                Query::new(rate("wardwatch_tcp_retransmitted_segments_total", "device"), "retransmitted"),
                Query::new(rate("wardwatch_tcp_resets_total", "device"), "resets"),
            ],
        ),
        Panel::new(
            Kind::Table,
            "Intrusion rules",
            "none",
            "1 while the rule holds; the quarantine webhook acts on the network alerts they raise.",
            vec![Query::new(selected("wardwatch_ids_alert_active"), "{{rule}}")],
        ),
        Panel::new(
            Kind::TimeSeries,
            "Capture loss",
            "pps",
            "Packets the kernel or the interface dropped before the exporter saw them.",
            vec![Query::new(rate("wardwatch_capture_dropped_packets_total", "reason"), "{{reason}}")],
        ),
    ]);
    panels.extend(network::panels(SELECTED));
    panels
}

/// The device dashboard JSON.
pub fn dashboard_json() -> Value {
    let ward = label_variable("ward", "ward", r#"up{device!=""}"#);
    let device = label_variable("device", "device", r#"up{ward=~"$ward",device!=""}"#);
    dashboard(UID, "wardwatch: device", &["wardwatch", "device"], vec![ward, device], &panels())
}

/// The device dashboard as the chart ships it (`charts/wardwatch/dashboards/device.json`).
pub fn pretty_json() -> String {
    grafana::pretty(&dashboard_json())
}
