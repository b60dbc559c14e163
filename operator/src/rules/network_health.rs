//! A network health score per device, 0 to 100, from what its exporter measures: 100 while the
//! exporter is up, no intrusion rule holds, the capture loses nothing and TCP retransmits
//! nothing; each problem takes its share off:
//!
//! `score = 100 × up × (1 − 0.5 × intrusion) × (1 − 0.25 × capture_loss) × (1 − 0.25 × min(1, 10 × retransmission_ratio))`
//!
//! where `intrusion` is 1 while any of the device's intrusion rules holds, `capture_loss` is 1
//! when its capture dropped packets in the last 5 minutes, and `retransmission_ratio` is
//! retransmitted TCP segments over TCP packets in the last 5 minutes (10 % or more takes the
//! whole quarter). A device whose exporter is down scores 0. The ward's score is its devices'
//! mean (`ward:wardwatch_network_health:avg`, federated).

use super::alert::{Scope, record};
use crate::monitoring::Rule;

/// The per-device score.
pub const DEVICE_SCORE: &str = "wardwatch:device_network_health:score";

const DEVICE: &str = "namespace, hospital, ward, device";

pub fn recording_rule(scope: &Scope) -> Rule {
    let series = |metric: &str, extra: &[&str]| scope.series(metric, extra);
    let up = format!("max by ({DEVICE}) ({})", series("up", &[r#"device!="""#]));
    let intrusion = format!("max by ({DEVICE}) ({})", series("wardwatch_ids_alert_active", &[]));
    let loss =
        format!("(max by ({DEVICE}) (rate({}[5m])) > bool 0)", series("wardwatch_capture_dropped_packets_total", &[]));
    let ratio = format!(
        "sum by ({DEVICE}) (rate({}[5m])) / clamp_min(sum by ({DEVICE}) (rate({}[5m])), 1e-9)",
        series("wardwatch_tcp_retransmitted_segments_total", &[]),
        series("wardwatch_packets_total", &[r#"protocol="tcp""#])
    );
    let expr = format!(
        "100 * {up} * (1 - 0.5 * {intrusion}) * (1 - 0.25 * {loss}) * (1 - 0.25 * clamp_max(10 * ({ratio}), 1)) \
         or on ({DEVICE}) (0 * {up})"
    );
    record(DEVICE_SCORE, expr, &[])
}
