//! The README's demo command, end to end on real parts, and what issue 12 asks of alerting:
//! `wardwatch-demo --until-quarantined` brings up the control plane, prometheus-operator, the
//! operator (with its quarantine webhook), the sample ward's pods (a monitor in the hypoxia
//! scenario, a port-scanning workstation), Prometheus and Alertmanager loaded with what
//! prometheus-operator rendered from the ward's PrometheusRule and AlertmanagerConfig, a local
//! webhook receiver (the team webhook and Discord) and a real SMTP server (aiosmtpd). It exits
//! once an alert was delivered, an e-mail arrived and a device was quarantined, after watching
//! 40 s more for anything delivered twice, and leaves a JSON report that this test reads.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

const PATIENT: &str = "MRN-100234";

fn run_demo() -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_wardwatch-demo"))
        .args([
            "--until-quarantined",
            "--until-alertname",
            "HypoxiaDetected",
            "--linger",
            "40s",
            "--speed",
            "10",
            "--timeout",
            "5m",
        ])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (stdout, report)
}

/// Alertmanager's webhook payloads to `receiver`.
fn webhook_payloads<'a>(report: &'a Value, receiver: &str) -> Vec<&'a Value> {
    report["deliveries"].as_array().unwrap().iter().filter(|d| d["receiver"] == receiver).map(|d| &d["body"]).collect()
}

/// The text of every chat message and e-mail, which leaves the hospital.
fn external_texts(report: &Value) -> Vec<String> {
    let mut texts: Vec<String> = webhook_payloads(report, "security").iter().map(|b| b.to_string()).collect();
    texts.extend(report["emails"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()));
    texts
}

#[test]
fn the_demo_pages_once_per_patient_and_isolates_the_scanning_workstation() {
    let (stdout, report) = run_demo();
    assert!(stdout.contains("targets up 7/7"), "every exporter and the gateway are scraped:\n{stdout}");

    // The team webhook (in-hospital) gets every label: one HypoxiaDetected for the patient,
    // although the monitor's exporter and the gateway's both report the patient's SpO2.
    let team = webhook_payloads(&report, "icu-team");
    let hypoxia: BTreeSet<&str> = team
        .iter()
        .flat_map(|b| b["alerts"].as_array().unwrap())
        .filter(|a| a["labels"]["alertname"] == "HypoxiaDetected" && a["status"] == "firing")
        .map(|a| {
            assert_eq!(a["labels"]["patient"], PATIENT);
            assert_eq!(a["labels"]["bed"], "ICU-01");
            assert_eq!(a["labels"]["category"], "clinical");
            a["fingerprint"].as_str().unwrap()
        })
        .collect();
    assert_eq!(hypoxia.len(), 1, "one alert for one patient: {hypoxia:?}\n{stdout}");

    // Nothing is delivered twice: no two notifications to one receiver carry the same group in
    // the same state.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for delivery in report["deliveries"].as_array().unwrap() {
        let body = &delivery["body"];
        let state = match body["alerts"].as_array() {
            Some(alerts) => {
                let mut set: Vec<String> = alerts
                    .iter()
                    .map(|a| format!("{}={}", a["fingerprint"].as_str().unwrap(), a["status"].as_str().unwrap()))
                    .collect();
                set.sort();
                format!("{}|{}", body["groupKey"], set.join(","))
            }
            None => body.to_string(),
        };
        *seen.entry((delivery["receiver"].as_str().unwrap().to_owned(), state)).or_default() += 1;
    }
    for mail in report["emails"].as_array().unwrap() {
        // Date and Message-Id differ between any two messages: compare what follows the headers.
        let text = mail["text"].as_str().unwrap();
        let body = text.split_once("\n\n").map_or(text, |(_, body)| body);
        let subject = text.lines().find(|l| l.starts_with("Subject:")).unwrap_or_default();
        *seen.entry(("email".to_owned(), format!("{subject}\n{body}"))).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    // Discord and e-mail (outside the hospital) hear of the hypoxia, by ward and bed (a later
    // notification of the patient's group, with another alert joined, may name it again: it
    // differs, as checked above), and never of the patient's identifier.
    for texts in [
        webhook_payloads(&report, "security").iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        report["emails"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect(),
    ] {
        let firing: Vec<&String> =
            texts.iter().filter(|t| t.contains("HypoxiaDetected") && t.contains("FIRING")).collect();
        assert!(!firing.is_empty(), "{texts:#?}");
        assert!(firing[0].contains("ICU-01") && firing[0].contains("icu-east"), "{}", firing[0]);
    }
    for text in external_texts(&report) {
        assert!(!text.contains("MRN-"), "a patient identifier left the hospital: {text}");
    }

    // The quarantine webhook isolated the scanning workstation, and nothing else.
    let policies: Vec<&str> =
        report["quarantines"].as_array().unwrap().iter().map(|q| q["policy"].as_str().unwrap()).collect();
    assert_eq!(policies, ["st-mary/nurse-station-ws-quarantine"], "{stdout}");
    let devices = report["devices"].as_array().unwrap();
    for device in devices {
        let name = device["metadata"]["name"].as_str().unwrap();
        let quarantined = device["status"]["quarantined"] == true;
        assert_eq!(quarantined, name == "nurse-station-ws", "{name}: {}", device["status"]);
        if quarantined {
            assert_eq!(device["status"]["phase"], "Quarantined");
            let reason = device["status"]["quarantineReason"].as_str().unwrap();
            assert!(reason.contains("network alert") && reason.contains("Detected"), "{reason}");
            assert!(device["metadata"]["annotations"]["wardwatch.io/quarantine"].is_string());
        }
    }
    let events: Vec<&Value> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == "nurse-station-ws" || e["regarding"]["name"] == "nurse-station-ws")
        .collect();
    for reason in ["QuarantineRequested", "Quarantined"] {
        assert!(events.iter().any(|e| e["reason"] == reason), "no {reason} Event: {events:#?}");
    }
}
