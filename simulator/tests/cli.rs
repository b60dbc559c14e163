//! The `wardwatch-simulator` binary: its pcap mode read back by tshark's own HL7 dissector and by
//! tcpdump, and a gateway and a device twin configured through environment variables.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::run;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_wardwatch-simulator");
const PORT: u16 = 2575;

fn write_capture(dir: &Path, seed: &str) -> (std::path::PathBuf, Value) {
    let pcap = dir.join(format!("ward-{seed}.pcap"));
    let output = run(Command::new(BINARY).args(["pcap", "--devices", "3", "--duration", "120"]).args([
        "--scenario",
        "hypoxia",
        "--onset",
        "5",
        "--ramp",
        "20",
        "--plateau",
        "80",
        "--seed",
        seed,
        "--gateway-port",
        &PORT.to_string(),
        "--out",
        pcap.to_str().unwrap(),
    ]));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    let labels: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("ward-{seed}.labels.json"))).unwrap()).unwrap();
    assert_eq!(summary["packets"], labels["packets"]);
    (pcap, labels)
}

/// (device, control id) -> [(LOINC, value)] for every ORU^R01 tshark's HL7 dissector finds.
fn oru_by_tshark(pcap: &Path) -> BTreeMap<(String, String), Vec<(String, f64)>> {
    let decode = format!("tcp.port=={PORT},hl7");
    let output = run(Command::new("tshark").args(["-r", pcap.to_str().unwrap(), "-d", &decode]).args([
        "-Y",
        "hl7.message.type == \"ORU\"",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=`",
        "-e",
        "hl7.segment",
    ]));
    let mut messages = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        // tshark prints each segment's terminating CR as the two characters `\r`.
        let segments: Vec<Vec<&str>> =
            line.split('`').map(|s| s.trim_end_matches("\\r").split('|').collect()).collect();
        let msh = segments.iter().find(|s| s[0] == "MSH").expect("an MSH segment");
        // Fields as written: in MSH, index n is MSH-(n+1) because MSH-1 is the separator.
        let key = (msh[2].to_owned(), msh[9].to_owned());
        let observations = segments
            .iter()
            .filter(|s| s[0] == "OBX" && s[2] == "NM")
            .map(|s| (s[3].split('^').next().unwrap().to_owned(), s[5].parse::<f64>().unwrap()))
            .collect();
        assert!(messages.insert(key, observations).is_none(), "a message decoded twice");
    }
    messages
}

/// The same from the labels: what the simulator says it sent.
fn oru_by_labels(labels: &Value) -> BTreeMap<(String, String), Vec<(String, f64)>> {
    let mut messages = BTreeMap::new();
    for device in labels["devices"].as_array().unwrap() {
        for reading in device["readings"].as_array().unwrap() {
            let Some(control_id) = reading["control_id"].as_str() else { continue };
            let reported = reading["reported"].as_object().unwrap();
            // The labels list what was sent, keyed by vital; the OBX follow the catalogue's order.
            let observations = wardwatch_clinical::VITAL_SIGNS
                .iter()
                .filter_map(|v| Some((v.loinc.to_owned(), reported.get(v.key)?.as_f64().unwrap())))
                .collect();
            messages.insert((device["device_id"].as_str().unwrap().to_owned(), control_id.to_owned()), observations);
        }
    }
    messages
}

#[test]
fn tshark_decodes_the_values_the_labels_report_and_tcpdump_counts_the_same_packets() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, labels) = write_capture(dir.path(), "11");

    let decoded = oru_by_tshark(&pcap);
    let labelled = oru_by_labels(&labels);
    assert_eq!(decoded.len() as u64, labels["messages"].as_u64().unwrap());
    assert_eq!(decoded, labelled);
    let lowest_spo2 = decoded.values().flatten().filter(|(loinc, _)| loinc == "59408-5").map(|(_, v)| *v);
    assert!(lowest_spo2.fold(100.0, f64::min) < 90.0, "the hypoxia episode is on the wire");

    let tcpdump = run(Command::new("tcpdump").args(["-n", "-r", pcap.to_str().unwrap()]));
    assert_eq!(String::from_utf8(tcpdump.stdout).unwrap().lines().count() as u64, labels["packets"].as_u64().unwrap());

    // tshark's expert system has notes (the handshakes and closes) but no warnings or errors.
    let decode = format!("tcp.port=={PORT},hl7");
    let expert =
        run(Command::new("tshark").args(["-r", pcap.to_str().unwrap(), "-d", &decode, "-q", "-z", "expert,note"]));
    let expert = String::from_utf8(expert.stdout).unwrap();
    assert!(expert.contains("Notes"), "{expert}");
    for level in ["Warns", "Errors"] {
        assert!(!expert.contains(level), "{expert}");
    }
}

#[test]
fn the_same_seed_writes_the_same_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = write_capture(dir.path(), "5");
    let renamed = dir.path().join("first.pcap");
    std::fs::rename(&a, &renamed).unwrap();
    let (b, _) = write_capture(dir.path(), "5");
    assert_eq!(std::fs::read(renamed).unwrap(), std::fs::read(b).unwrap());
}

/// A free port on 127.0.0.1 (released right away for the child to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_device_twin_and_the_gateway_configured_by_environment() {
    let (hl7, metrics) = (free_port(), free_port());
    let _gateway = KillOnDrop(
        Command::new(BINARY)
            .arg("gateway")
            .env("WARDWATCH_LISTEN", format!("127.0.0.1:{hl7}"))
            .env("WARDWATCH_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .env("WARDWATCH_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while http_get(metrics, "/healthz").is_none_or(|r| !r.ends_with("ok\n")) {
        assert!(started.elapsed() < Duration::from_secs(10), "the gateway did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let device = run(Command::new(BINARY)
        .arg("device")
        .env("WARDWATCH_GATEWAY", format!("127.0.0.1:{hl7}"))
        .env("WARDWATCH_DEVICE_ID", "monitor-env")
        .env("WARDWATCH_PATIENT_ID", "P-42")
        .env("WARDWATCH_BED", "4")
        .env("WARDWATCH_SCENARIO", "sepsis")
        .env("WARDWATCH_INTERVAL", "0.02")
        .env("WARDWATCH_READINGS", "8")
        .env("WARDWATCH_LOG", "warn"));
    let stats: Value = serde_json::from_slice(&device.stdout).unwrap();
    assert_eq!((stats["sent"].as_u64(), stats["acked"].as_u64()), (Some(8), Some(8)), "{stats}");
    let text = http_get(metrics, "/metrics").unwrap();
    assert!(text.contains("wardwatch_gateway_messages_total{result=\"accepted\"} 8"), "{text}");
    assert!(text.contains("wardwatch_gateway_device_last_seen_timestamp_seconds{device=\"monitor-env\"}"), "{text}");
}
