//! The network panels the ward and the device dashboards share: traffic in and out, the top
//! talkers, a topology of who talks to what kind of peer, and HL7 and TCP latency. Every query
//! reads the exporter's bounded series (README: exporter metrics).

use super::grafana::{Kind, Panel, Query};

/// The panels for the series `selector` (matchers without braces) picks, one line or row per
/// device.
pub fn panels(selector: &str) -> Vec<Panel> {
    let series = |metric: &str| format!("{metric}{{{selector}}}");
    let traffic = series("wardwatch_device_traffic_bytes_total");
    vec![
        Panel::new(
            Kind::TimeSeries,
            "Traffic in and out",
            "Bps",
            "Wire bytes per second each device sent (out) and received (in), any peer.",
            vec![Query::new(
                format!("sum by (device, direction) (rate({traffic}[$__rate_interval]))"),
                "{{device}} {{direction}}",
            )],
        ),
        Panel::new(
            Kind::Table,
            "Topology: who talks to what",
            "Bps",
            "One row per edge from a device to a kind of peer, in each direction, over the last 5 minutes: local (the host, multicast, broadcast), allowed (the ward's networks and gateway), external (outside them, what ExternalContactDetected is about).",
            vec![Query::new(
                format!("sum by (device, direction, peer_class) (rate({traffic}[5m])) > 0"),
                "{{device}} {{direction}} {{peer_class}}",
            )],
        ),
        Panel::new(
            Kind::Table,
            "Top talkers, last complete minute",
            "bytes",
            "Each device's five largest peers by bytes exchanged in its last complete minute with traffic (the exporter keeps no more, so this never grows with the traffic).",
            vec![Query::new(
                format!("topk(20, max by (device, rank, peer) ({}))", series("wardwatch_top_talker_bytes")),
                "{{device}} {{rank}} {{peer}}",
            )],
        ),
        Panel::new(
            Kind::TimeSeries,
            "HL7 ACK latency, 95th percentile",
            "s",
            "From each HL7 message on the wire to its ACK: the central station's answer time as the device sees it.",
            vec![Query::new(
                format!(
                    "histogram_quantile(0.95, sum by (device, le) (rate({}[$__rate_interval])))",
                    series("wardwatch_hl7_ack_rtt_seconds_bucket")
                ),
                "{{device}}",
            )],
        ),
        Panel::new(
            Kind::TimeSeries,
            "TCP handshake round trip, mean since the exporter started",
            "s",
            "SYN to SYN/ACK. Devices keep their HL7 connection open, so new handshakes are rare: a mean over the exporter's life says more than a rate over minutes.",
            vec![Query::new(
                format!(
                    "sum by (device) ({}) / sum by (device) ({} > 0)",
                    series("wardwatch_tcp_handshake_rtt_seconds_sum"),
                    series("wardwatch_tcp_handshake_rtt_seconds_count")
                ),
                "{{device}}",
            )],
        ),
    ]
}
