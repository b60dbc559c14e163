//! Device twins and the gateway talking MLLP over real sockets on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;
use wardwatch_serve::{Endpoints, Readiness};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wardwatch_clinical::hl7::Message;
use wardwatch_clinical::mllp::{self, Decoder, Event};
use wardwatch_simulator::ack::{self, AckCode};
use wardwatch_simulator::device::{Device, DeviceConfig, DeviceStats};
use wardwatch_simulator::device_type::DeviceType;
use wardwatch_simulator::gateway::{Gateway, GatewayConfig};
use wardwatch_simulator::hl7_profile::Hl7Profile;
use wardwatch_simulator::oru;
use wardwatch_simulator::physiology::{Physiology, Vital};
use wardwatch_simulator::scenario::{Episode, Scenario, Timeline};

const DEADLINE: Duration = Duration::from_secs(15);

fn context(device: &str) -> oru::Context {
    oru::Context {
        device_id: device.into(),
        hospital_id: "st-mary".into(),
        receiver: "WARDWATCH".into(),
        patient_id: format!("P-{device}"),
        bed: "1".into(),
        ward: "icu-east".into(),
        profile: Default::default(),
    }
}

fn device_config(gateway: String, device: &str, timeline: Timeline) -> DeviceConfig {
    DeviceConfig {
        gateway,
        context: context(device),
        device_type: DeviceType::BedsideMonitor,
        timeline,
        seed: 1,
        interval: Duration::from_millis(10),
        speed: 1.0,
        connect_timeout: Duration::from_secs(1),
        ack_timeout: Duration::from_secs(2),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        max_message_bytes: 64 * 1024,
        ecg: true,
    }
}

async fn start_gateway() -> (Arc<Gateway>, String, String) {
    let gateway = Gateway::new(GatewayConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(Arc::clone(&gateway).serve(listener));
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_address = metrics_listener.local_addr().unwrap().to_string();
    let endpoints = Endpoints::new(gateway.metrics().registry().clone(), Readiness::always());
    tokio::spawn(wardwatch_serve::serve(metrics_listener, endpoints, std::future::pending()));
    (gateway, address, metrics_address)
}

async fn run_device(config: DeviceConfig, readings: u64) -> DeviceStats {
    let mut device = Device::new(config);
    tokio::time::timeout(DEADLINE, device.run(Some(readings))).await.expect("device finished in time");
    device.stats().clone()
}

/// `GET path` over HTTP/1.1; returns (status line, body).
async fn http_get(address: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(DEADLINE, stream.read_to_string(&mut response)).await.unwrap().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn metric(text: &str, series: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
    line.unwrap_or_else(|| panic!("{series} not in\n{text}")).rsplit(' ').next().unwrap().parse().unwrap()
}

/// Sends `bytes` and reads the next MLLP message back, if one comes within `wait`.
async fn send_and_read(stream: &mut TcpStream, decoder: &mut Decoder, bytes: &[u8], wait: Duration) -> Option<Message> {
    stream.write_all(bytes).await.unwrap();
    let mut buffer = [0u8; 4096];
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(read) => read.unwrap(),
            Err(_) => return None,
        };
        assert!(n > 0, "the gateway closed the connection");
        decoder.push(&buffer[..n], &mut events);
        if let Some(Event::Message(bytes)) = events.iter().find(|e| matches!(e, Event::Message(_))) {
            return Some(Message::parse(bytes).unwrap());
        }
    }
}

fn msa_code(ack: &Message) -> String {
    ack.segment("MSA").unwrap().field(1).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_are_acknowledged_and_malformed_frames_are_counted_not_fatal() {
    let (_gateway, address, metrics_address) = start_gateway().await;
    let devices = ["monitor-1", "monitor-2", "monitor-3"];
    let runs: Vec<_> = devices
        .iter()
        .map(|d| {
            let mut config = device_config(address.clone(), d, Timeline::single(Scenario::Stable));
            // One twin speaks IHE PCD-01 (MDC codes, HL7 v2.6): the gateway acknowledges either dialect.
            if *d == "monitor-2" {
                config.context.profile = Hl7Profile::IhePcd01;
            }
            tokio::spawn(run_device(config, 12))
        })
        .collect();
    for run in runs {
        let stats = run.await.unwrap();
        assert_eq!((stats.sent, stats.acked, stats.naks, stats.ack_timeouts), (12, 12, 0, 0), "{stats:?}");
        assert_eq!(stats.connects, 1);
    }

    // A misbehaving client on one connection: garbage, a message without MSH, a wrong type,
    // then a good message, which must still be accepted.
    let mut raw = TcpStream::connect(&address).await.unwrap();
    let mut decoder = Decoder::new(64 * 1024);
    let short = Duration::from_millis(300);
    let mut garbage_then_no_msh = b"hello".to_vec();
    garbage_then_no_msh.extend(mllp::frame(b"PID|1||P-9\r"));
    assert!(send_and_read(&mut raw, &mut decoder, &garbage_then_no_msh, short).await.is_none(), "no MSH, no ACK");
    let adt = b"MSH|^~\\&|intruder|st-mary|WARDWATCH|st-mary|20261122000000||ADT^A01|BAD1|P|2.5\r";
    let ack = send_and_read(&mut raw, &mut decoder, &mllp::frame(adt), DEADLINE).await.unwrap();
    assert_eq!((msa_code(&ack), ack.segment("MSA").unwrap().field(2)), ("AR".into(), "BAD1"));
    let good = oru::build(&context("monitor-9"), &oru::observations(Physiology::new().vitals(), &Vital::ALL), 0, "OK1");
    let ack = send_and_read(&mut raw, &mut decoder, &mllp::frame(good.as_bytes()), DEADLINE).await.unwrap();
    assert_eq!(msa_code(&ack), "AA");

    let (status, health) = http_get(&metrics_address, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(health, "ok\n");
    let (status, text) = http_get(&metrics_address, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(metric(&text, "wardwatch_gateway_messages_total{result=\"accepted\"}"), 37.0);
    assert_eq!(metric(&text, "wardwatch_gateway_messages_total{result=\"rejected\"}"), 1.0);
    assert_eq!(metric(&text, "wardwatch_gateway_messages_total{result=\"error\"}"), 1.0);
    assert_eq!(metric(&text, "wardwatch_gateway_malformed_messages_total{reason=\"garbage\"}"), 1.0);
    assert_eq!(metric(&text, "wardwatch_gateway_malformed_messages_total{reason=\"no_msh\"}"), 1.0);
    assert_eq!(metric(&text, "wardwatch_gateway_malformed_messages_total{reason=\"unsupported_message_type\"}"), 1.0);
    for device in devices.iter().chain(&["monitor-9"]) {
        let seen =
            metric(&text, &format!("wardwatch_gateway_device_last_seen_timestamp_seconds{{device=\"{device}\"}}"));
        assert!(seen > 1.7e9, "{device}: {seen}");
    }
    assert!(!text.contains("device=\"intruder\""), "rejected messages create no device series");
    assert_eq!(metric(&text, "wardwatch_gateway_connections_total"), 4.0);
    assert_eq!(metric(&text, "wardwatch_gateway_connections"), 1.0, "the raw client is still connected");
    let (status, _) = http_get(&metrics_address, "/nothing").await;
    assert!(status.contains("404"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_reconnects_with_backoff_when_the_gateway_comes_up_late() {
    // Reserve a port, free it, and bring the gateway up on it only after a while.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let device = tokio::spawn(run_device(device_config(address.clone(), "monitor-late", Timeline::default()), 40));
    tokio::time::sleep(Duration::from_millis(120)).await;
    let gateway = Gateway::new(GatewayConfig::default());
    tokio::spawn(Arc::clone(&gateway).serve(TcpListener::bind(&address).await.unwrap()));
    let stats = device.await.unwrap();
    assert!(stats.connect_failures >= 2, "{stats:?}");
    assert!(stats.unsent >= stats.connect_failures, "readings while down are dropped: {stats:?}");
    assert_eq!(stats.connects, 1, "{stats:?}");
    assert!(stats.acked >= 10, "{stats:?}");
    assert_eq!(stats.acked + stats.unsent, 40, "{stats:?}");
    // Backoff spaces the attempts: at most one per doubling until the cap, so far fewer
    // attempts than readings while the gateway was down.
    assert!(stats.connect_failures < stats.unsent, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naks_are_counted() {
    // A gateway that answers every message with AE.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut decoder = Decoder::new(64 * 1024);
        let (mut buffer, mut events) = ([0u8; 4096], Vec::new());
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            if n == 0 {
                return;
            }
            decoder.push(&buffer[..n], &mut events);
            for event in events.drain(..) {
                if let Event::Message(bytes) = event {
                    let original = Message::parse(&bytes).unwrap();
                    let nak = ack::build(&original, "GW", AckCode::Error, "no", "20261122000000", "N1");
                    stream.write_all(&mllp::frame(nak.as_bytes())).await.unwrap();
                }
            }
        }
    });
    let stats = run_device(device_config(address, "monitor-nak", Timeline::default()), 5).await;
    assert_eq!((stats.sent, stats.naks, stats.acked, stats.connects), (5, 5, 0, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_episode_silences_the_twin_and_it_comes_back() {
    let (gateway, address, _) = start_gateway().await;
    // At 10 ms per reading and speed 100, each reading is one simulated second.
    let episode =
        Episode { scenario: Scenario::Disconnect, onset_s: 10.0, ramp_s: 0.0, plateau_s: 10.0, recovery_s: 0.0 };
    let mut config = device_config(address, "monitor-off", Timeline::of(episode));
    config.speed = 100.0;
    let stats = run_device(config, 30).await;
    assert_eq!(stats.silent, 10, "{stats:?}");
    assert_eq!((stats.acked, stats.connects), (20, 2), "{stats:?}");
    let text = gateway.metrics().render();
    assert_eq!(metric(&text, "wardwatch_gateway_messages_total{result=\"accepted\"}"), 20.0);
}
