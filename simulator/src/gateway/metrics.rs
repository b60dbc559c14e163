//! The gateway's own metrics. Device ids come off the wire, so the per-device series are capped:
//! a ward has a known number of beds, and a flood of invented ids must not grow the registry.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::ack::AckCode;
use crate::gateway::verdict::Malformed;

pub struct GatewayMetrics {
    registry: Registry,
    messages: IntCounterVec,
    malformed: IntCounterVec,
    last_seen: GaugeVec,
    untracked_devices: IntCounter,
    connections: IntGauge,
    connections_total: IntCounter,
    max_devices: usize,
    tracked: Mutex<HashSet<String>>,
}

impl GatewayMetrics {
    /// Metrics that track at most `max_devices` distinct devices.
    pub fn new(max_devices: usize) -> Self {
        let registry = Registry::new();
        let messages = IntCounterVec::new(
            Opts::new("wardwatch_gateway_messages_total", "HL7 messages received, by outcome: accepted (AA), error (AE, or unanswerable without MSH), rejected (AR)"),
            &["result"],
        )
        .expect("valid metric");
        let malformed = IntCounterVec::new(
            Opts::new("wardwatch_gateway_malformed_messages_total", "Messages or bytes refused, by reason"),
            &["reason"],
        )
        .expect("valid metric");
        let last_seen = GaugeVec::new(
            Opts::new(
                "wardwatch_gateway_device_last_seen_timestamp_seconds",
                "Unix time of the last accepted message from each device",
            ),
            &["device"],
        )
        .expect("valid metric");
        let untracked_devices = IntCounter::new(
            "wardwatch_gateway_untracked_device_messages_total",
            "Accepted messages from devices beyond the per-device series limit",
        )
        .expect("valid metric");
        let connections =
            IntGauge::new("wardwatch_gateway_connections", "Open device connections").expect("valid metric");
        let connections_total = IntCounter::new("wardwatch_gateway_connections_total", "Device connections accepted")
            .expect("valid metric");
        for collector in [
            Box::new(messages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(malformed.clone()),
            Box::new(last_seen.clone()),
            Box::new(untracked_devices.clone()),
            Box::new(connections.clone()),
            Box::new(connections_total.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        // Every label value exists from the start, so that rate() sees the first increment.
        for code in [AckCode::Accept, AckCode::Error, AckCode::Reject] {
            messages.with_label_values(&[result_label(code)]);
        }
        for reason in Malformed::ALL {
            malformed.with_label_values(&[reason.as_str()]);
        }
        Self {
            registry,
            messages,
            malformed,
            last_seen,
            untracked_devices,
            connections,
            connections_total,
            max_devices,
            tracked: Mutex::new(HashSet::new()),
        }
    }

    pub fn message(&self, code: AckCode) {
        self.messages.with_label_values(&[result_label(code)]).inc();
    }

    pub fn malformed(&self, reason: Malformed) {
        self.malformed.with_label_values(&[reason.as_str()]).inc();
    }

    pub fn seen(&self, device: &str, unix_seconds: f64) {
        let mut tracked = self.tracked.lock().expect("metrics lock");
        if tracked.contains(device) || tracked.len() < self.max_devices {
            tracked.insert(device.to_owned());
            self.last_seen.with_label_values(&[device]).set(unix_seconds);
        } else {
            self.untracked_devices.inc();
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
        self.connections_total.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        wardwatch_serve::encode(&self.registry)
    }
}

/// `result` label values: what the gateway answered.
pub fn result_label(code: AckCode) -> &'static str {
    match code {
        AckCode::Accept => "accepted",
        AckCode::Error => "error",
        AckCode::Reject => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let metrics = GatewayMetrics::new(10);
        metrics.message(AckCode::Accept);
        metrics.message(AckCode::Accept);
        metrics.malformed(Malformed::Garbage);
        metrics.seen("monitor-1", 1_795_316_645.0);
        metrics.connection_opened();
        let text = metrics.render();
        assert!(text.contains("wardwatch_gateway_messages_total{result=\"accepted\"} 2"), "{text}");
        assert!(text.contains("wardwatch_gateway_messages_total{result=\"rejected\"} 0"), "{text}");
        assert!(text.contains("wardwatch_gateway_malformed_messages_total{reason=\"garbage\"} 1"), "{text}");
        assert!(text.contains("wardwatch_gateway_device_last_seen_timestamp_seconds{device=\"monitor-1\"} 1795316645"));
        assert!(text.contains("wardwatch_gateway_connections 1"));
    }

    #[test]
    fn device_series_are_capped() {
        let metrics = GatewayMetrics::new(2);
        for device in ["a", "b", "c", "d", "a"] {
            metrics.seen(device, 1.0);
        }
        let text = metrics.render();
        assert_eq!(text.matches("wardwatch_gateway_device_last_seen_timestamp_seconds{").count(), 2, "{text}");
        assert!(text.contains("wardwatch_gateway_untracked_device_messages_total 2"), "{text}");
    }
}
