//! The `wardwatch-simulator` binary: its pcap mode read back by tshark's own HL7 dissector and by
//! tcpdump, and a gateway and a device twin configured through environment variables.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod common;

use common::{http_get, oru_by_tshark, run, start_gateway};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_wardwatch-simulator");
const PORT: u16 = 2575;

fn write_capture(dir: &Path, seed: &str) -> (std::path::PathBuf, Value) {
    let pcap = dir.join(format!("ward-{seed}.pcap"));
    let output = run(Command::new(BINARY).args(["pcap", "--devices", "3", "--duration", "2m"]).args([
        "--scenario",
        "hypoxia",
        "--onset",
        "5s",
        "--ramp",
        "20s",
        "--plateau",
        "80s",
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

    let decoded = oru_by_tshark(&pcap, PORT);
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

#[test]
fn a_device_twin_and_the_gateway_configured_by_environment() {
    let (_gateway, hl7, metrics) = start_gateway(BINARY);
    let device = run(Command::new(BINARY)
        .arg("device")
        .env("WARDWATCH_GATEWAY", format!("127.0.0.1:{hl7}"))
        .env("WARDWATCH_DEVICE_ID", "monitor-env")
        .env("WARDWATCH_PATIENT_ID", "P-42")
        .env("WARDWATCH_BED", "4")
        .env("WARDWATCH_SCENARIO", "sepsis")
        .env("WARDWATCH_INTERVAL", "20ms")
        .env("WARDWATCH_READINGS", "8")
        .env("WARDWATCH_LOG", "warn"));
    let stats: Value = serde_json::from_slice(&device.stdout).unwrap();
    assert_eq!((stats["sent"].as_u64(), stats["acked"].as_u64()), (Some(8), Some(8)), "{stats}");
    let text = http_get(metrics, "/metrics").unwrap();
    assert!(text.contains("wardwatch_gateway_messages_total{result=\"accepted\"} 8"), "{text}");
    assert!(text.contains("wardwatch_gateway_device_last_seen_timestamp_seconds{device=\"monitor-env\"}"), "{text}");
}
