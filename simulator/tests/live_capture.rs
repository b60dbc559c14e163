//! Live traffic read by a reference decoder: tcpdump captures a device twin talking to the
//! gateway on loopback, and tshark's own HL7 dissector must find in that capture exactly the
//! OBX values the twin says it sent (`--sent-log`). Capturing on `lo` needs root and tcpdump
//! and tshark (Debian's packages); without them the test fails and says so.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::{KillOnDrop, oru_by_tshark, run, start_gateway};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_wardwatch-simulator");
const READINGS: usize = 12;

/// tcpdump writing every packet of `filter` on `lo` to `pcap`, once it says it is listening.
fn start_capture(pcap: &std::path::Path, filter: &str) -> KillOnDrop {
    // SAFETY: a plain system call without arguments.
    assert_eq!(unsafe { libc::geteuid() }, 0, "capturing on lo needs root; run this test as root");
    for tool in ["tcpdump", "tshark"] {
        let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(found.is_ok_and(|s| s.success()), "{tool} is missing (Debian's {tool} package)");
    }
    // Immediate mode hands each packet over as it comes (else the kernel holds a block until
    // it fills or times out, and a capture stopped early has none); -U writes it at once.
    let mut child = Command::new("tcpdump")
        .args(["-i", "lo", "--immediate-mode", "-U", "-n", "-w", pcap.to_str().unwrap(), filter])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump starts");
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on lo") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("tcpdump said it is listening on lo");
    KillOnDrop(child)
}

/// Stops tcpdump with SIGINT, as at a terminal, so that it closes the file cleanly, after a
/// moment for the last packets to reach it.
fn stop_capture(mut capture: KillOnDrop) {
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a signal to our own child, by its id.
    unsafe { libc::kill(capture.0.id() as libc::pid_t, libc::SIGINT) };
    let status = capture.0.wait().unwrap();
    assert!(status.success(), "tcpdump ended with {status}");
}

/// (device, control id) -> [(LOINC, value)] from the twin's `--sent-log`.
fn oru_by_sent_log(text: &str) -> BTreeMap<(String, String), Vec<(String, f64)>> {
    text.lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line).unwrap();
            let key =
                (message["device_id"].as_str().unwrap().to_owned(), message["control_id"].as_str().unwrap().to_owned());
            let observations = message["observations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| (o["loinc"].as_str().unwrap().to_owned(), o["value"].as_f64().unwrap()))
                .collect();
            (key, observations)
        })
        .collect()
}

#[test]
fn tshark_decodes_from_a_live_capture_the_values_the_twin_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, hl7, _metrics) = start_gateway(BINARY);
    let pcap = dir.path().join("live.pcap");
    let capture = start_capture(&pcap, &format!("tcp port {hl7}"));
    let sent_log = dir.path().join("sent.jsonl");
    let device = run(Command::new(BINARY).arg("device").args([
        &format!("--gateway=127.0.0.1:{hl7}"),
        "--device-id=ventilator-live",
        "--patient-id=P-9",
        "--bed=9",
        "--device-type=ventilator",
        "--scenario=sepsis",
        "--onset=0",
        "--speed=30",
        "--interval=50ms",
        &format!("--readings={READINGS}"),
        &format!("--sent-log={}", sent_log.display()),
        "--log=warn",
    ]));
    let stats: Value = serde_json::from_slice(&device.stdout).unwrap();
    assert_eq!(stats["acked"].as_u64(), Some(READINGS as u64), "{stats}");
    // The twin has its last ACK; the gateway's close comes when it is stopped.
    drop(gateway);
    stop_capture(capture);

    let sent = oru_by_sent_log(&std::fs::read_to_string(&sent_log).unwrap());
    assert_eq!(sent.len(), READINGS, "one line per message");
    let decoded = oru_by_tshark(&pcap, hl7);
    assert_eq!(decoded, sent);
    let ventilator = ["59408-5", "9279-1", "19889-5", "3150-0"];
    for observations in decoded.values() {
        let codes: Vec<&str> = observations.iter().map(|(code, _)| code.as_str()).collect();
        assert_eq!(codes, ventilator, "a ventilator's SpO2, RR, EtCO2 and FiO2");
    }
}
