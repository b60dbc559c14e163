//! The anomaly machinery end to end on synthetic events: save and reload, corrupt files,
//! the live sink's series and alerts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use prometheus::Registry;

use super::features::{Devices, RAW_FEATURES, WINDOW, Window};
use super::live::{AnomalyConfig, AnomalyMetrics, AnomalySink, NETWORK};
use super::network::NetworkModel;
use super::persist::{self, Saved};
use crate::decode::packet::Protocol;
use crate::flows::table::FlowStart;
use crate::ids::config::CidrList;
use crate::output::metrics::tests::sample;
use crate::pipeline::{Event, Sink};

const DEV: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const START: u64 = 1_790_000_000;

fn window(i: u64, packets: f64) -> Window {
    let mut raw = [0.0; RAW_FEATURES.len()];
    raw[0] = packets + (i % 5) as f64;
    raw[1] = packets;
    raw[2] = raw[0] * 200.0;
    raw[3] = packets * 60.0;
    raw[4] = 1.0;
    raw[8] = 140.0;
    raw[14] = 1.0;
    Window { device: DEV, start_s: START + i * 10, raw, peers: vec![GW], ports: vec![(6 << 16) | 2575] }
}

#[test]
fn network_training_is_deterministic_for_a_seed() {
    let windows: Vec<Window> = (0..120).map(|i| window(i, 20.0 + (i % 7) as f64 * 3.0)).collect();
    assert_eq!(NetworkModel::train(&windows, 9).unwrap(), NetworkModel::train(&windows, 9).unwrap());
}

#[test]
fn a_saved_model_reloads_to_identical_scores() {
    let windows: Vec<Window> = (0..120).map(|i| window(i, 20.0)).collect();
    let model = NetworkModel::train(&windows, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    persist::save(dir.path(), &Saved::new(NETWORK, 4, START, 120, &model)).unwrap();
    let loaded = persist::load::<NetworkModel>(dir.path(), NETWORK, NetworkModel::is_consistent).unwrap().unwrap();
    assert_eq!((loaded.version, loaded.training_windows), (4, 120));
    for w in windows.iter().chain([&window(7, 400.0)]) {
        assert_eq!(model.score(w).to_bits(), loaded.body.score(w).to_bits());
    }
}

#[test]
fn unusable_saved_models_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = persist::path(dir.path(), NETWORK);
    for bad in [&b"{not json"[..], br#"{"format":"wardwatch-anomaly-model","format_version":999}"#, b""] {
        std::fs::write(&path, bad).unwrap();
        assert!(persist::load::<NetworkModel>(dir.path(), NETWORK, NetworkModel::is_consistent).is_err());
    }
    // A model of other dimensions parses but does not fit.
    let windows: Vec<Window> = (0..30).map(|i| window(i, 20.0)).collect();
    let mut model = NetworkModel::train(&windows, 3).unwrap();
    model.clusters.centres[0].pop();
    persist::save(dir.path(), &Saved::new(NETWORK, 1, START, 30, &model)).unwrap();
    assert!(persist::load::<NetworkModel>(dir.path(), NETWORK, NetworkModel::is_consistent).is_err());
    std::fs::remove_file(&path).unwrap();
    assert!(persist::load::<NetworkModel>(dir.path(), NETWORK, NetworkModel::is_consistent).unwrap().is_none());
}

/// Feeds the sink one window's worth of the device's usual traffic (or a scan) at window `i`.
fn traffic(sink: &mut impl Sink, i: u64, scan: bool) {
    let base = Duration::from_secs(START + i * WINDOW.as_secs());
    for k in 0..10u64 {
        let at = base + Duration::from_millis(k * 900);
        for (src, dst, len) in [(DEV, GW, 300 + (i % 3) as u32 * 10), (GW, DEV, 60)] {
            sink.record(Event::Packet { protocol: Some(Protocol::Tcp), wire_len: len });
            sink.record(Event::FlowBytes { at, src, dst, from_client: Some(src == DEV), wire_len: len });
        }
        if scan {
            for port in 0..50 {
                let start = FlowStart {
                    at,
                    protocol: Protocol::Tcp,
                    client: DEV,
                    server: GW,
                    server_port: 1000 + port + k as u16 * 50,
                };
                sink.record(Event::FlowStarted(start));
                sink.record(Event::TcpSyn { at, client: DEV, server: GW, server_port: start.server_port });
            }
        }
    }
}

/// What the sink behind the anomaly sink received.
#[derive(Default)]
struct Seen(Vec<(String, f64)>);

impl Sink for Seen {
    fn record(&mut self, event: Event<'_>) {
        if let Event::Anomaly(alert) = event {
            self.0.push((alert.alert_type().to_owned(), alert.score));
        }
    }
}

fn config(dir: Option<&std::path::Path>) -> AnomalyConfig {
    AnomalyConfig {
        training_window: Duration::from_secs(60),
        retrain_interval: Duration::from_secs(3600),
        model_dir: dir.map(Into::into),
        devices: Devices::Single { local: CidrList::default() },
        max_patients: 4,
        seed: 1,
    }
}

#[test]
fn the_sidecar_learns_scores_alerts_saves_and_relearns_a_corrupt_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(persist::path(dir.path(), NETWORK), b"\0garbage").unwrap();
    let registry = Registry::new();
    let metrics = AnomalyMetrics::register(&registry).unwrap();
    let render = || prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    let mut sink = AnomalySink::new(config(Some(dir.path())), &metrics, Seen::default());
    let text = render();
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_load_errors_total{model="network"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_state{model="network",state="learning"}"#), Some(1.0));
    for i in 0..8 {
        traffic(&mut sink, i, false);
    }
    let text = render();
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_state{model="network",state="scoring"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_version{model="network"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"wardwatch_anomaly_training_windows{model="network"}"#), Some(6.0));
    assert!(sink.inner().0.is_empty(), "normal traffic raised {:?}", sink.inner().0);
    for i in 8..10 {
        traffic(&mut sink, i, true);
    }
    traffic(&mut sink, 10, false);
    let alerts = &sink.inner().0;
    assert_eq!(alerts.len(), 1, "one alert per anomaly, not per window: {alerts:?}");
    assert_eq!(alerts[0].0, "anomaly_network");
    assert!(sample(&render(), r#"wardwatch_anomaly_score{model="network",patient=""}"#).unwrap() > 1.0);
    // The saved model replaced the corrupt file: a restart scores at once with it.
    let loaded = persist::load::<NetworkModel>(dir.path(), NETWORK, NetworkModel::is_consistent).unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    let registry = Registry::new();
    let metrics = AnomalyMetrics::register(&registry).unwrap();
    let sink = AnomalySink::new(config(Some(dir.path())), &metrics, Seen::default());
    assert_eq!(sink.network_version(), Some(1));
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_state{model="network",state="scoring"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"wardwatch_anomaly_model_load_errors_total{model="network"}"#), Some(0.0));
}

#[test]
fn disabled_detection_passes_events_through_untouched() {
    let mut sink = AnomalySink::disabled(Seen::default());
    for i in 0..20 {
        traffic(&mut sink, i, i > 10);
    }
    assert!(sink.inner().0.is_empty());
    assert_eq!(sink.network_version(), None);
}
