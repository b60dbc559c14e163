//! The `wardwatch-exporter` binary on a capture file written by the test.

use std::process::Command;

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../src/testing.rs"]
mod testing;

use common::exporter;
use common::live::{get, served_address, terminate};

#[test]
fn read_with_summary_json_prints_totals_and_the_vitals_per_patient() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.pcap");
    let frames = testing::hl7_session(&[
        ("P-1001", "MSG1", &[("spo2", 88.5), ("heart_rate", 112.0)]),
        ("P-1001", "MSG2", &[("spo2", 86.0), ("temperature", 38.4)]),
    ]);
    testing::write_pcap(&path, pcap::Linktype::ETHERNET, &frames);

    // The file through the environment, as a pod spec would set it.
    let output = exporter().env("WARDWATCH_READ", &path).args(["--summary", "json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(summary["packets"], frames.len());
    assert_eq!(summary["bytes"], frames.iter().map(Vec::len).sum::<usize>());
    assert_eq!(summary["protocols"]["tcp"], frames.len());
    assert_eq!(summary["flows"]["created"], 1);
    assert_eq!(summary["tcp"]["handshakes"], 1);
    assert_eq!(summary["hl7"]["messages"]["oru_r01"], 2);
    assert_eq!(summary["hl7"]["acks"]["accepted"], 2);
    let patient = &summary["vitals"]["P-1001"];
    assert_eq!(patient["spo2"]["last"], 86.0);
    assert_eq!(patient["spo2"]["min"], 86.0);
    assert_eq!(patient["spo2"]["samples"], 2);
    assert_eq!(patient["heart_rate"]["last"], 112.0);
    assert_eq!(patient["temperature"]["last"], 38.4);
    assert_eq!(patient["temperature"]["unit"], "Cel");
}

#[test]
fn interface_and_read_cannot_be_combined_and_one_is_required() {
    let both = exporter().args(["--interface", "lo", "--read", "x.pcap"]).output().unwrap();
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    let neither = exporter().env_remove("WARDWATCH_READ").env_remove("WARDWATCH_INTERFACE").output().unwrap();
    assert!(!neither.status.success());
}

#[test]
fn an_unreadable_file_fails_with_its_name() {
    let output = exporter().args(["--read", "/nonexistent/capture.pcap", "--summary", "json"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/capture.pcap"));
}

#[test]
fn a_replayed_file_is_served_as_metrics_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.pcap");
    testing::write_pcap(&path, pcap::Linktype::ETHERNET, &testing::hl7_session(&[("P-5", "M1", &[("spo2", 89.0)])]));
    let mut child = exporter()
        .arg("--read")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let Some(address) = served_address(child.stderr.take().unwrap(), std::time::Duration::from_secs(10)) else {
        child.kill().unwrap();
        panic!("the exporter did not report its address");
    };

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get(&address, "/readyz").0 != "HTTP/1.1 200 OK" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, body) = get(&address, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.lines().any(|l| l == r#"wardwatch_vital_spo2_percent{patient="P-5"} 89"#), "{body}");
    assert!(body.lines().any(|l| l == "wardwatch_tcp_handshakes_total 1"), "{body}");

    terminate(&mut child);
}

#[test]
fn live_capture_on_loopback_prints_the_vitals_when_stopped() {
    use std::io::{Read, Write};
    use wardwatch_clinical::mllp;

    let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = gateway.local_addr().unwrap().port();
    let mut child = exporter()
        .args(["--interface", "lo", "--listen", "127.0.0.1:0", "--summary", "json"])
        .env("WARDWATCH_FILTER", format!("tcp port {port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let Some(address) = served_address(child.stderr.take().unwrap(), std::time::Duration::from_secs(10)) else {
        child.kill().unwrap();
        panic!("the exporter did not report its address");
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut ready = false;
    while !ready && std::time::Instant::now() < deadline {
        match child.try_wait().unwrap() {
            Some(status) => {
                eprintln!("SKIPPED live loopback CLI test: the exporter could not capture on lo ({status})");
                return;
            }
            None => ready = get(&address, "/readyz").0 == "HTTP/1.1 200 OK",
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ready, "the capture did not open");

    let mut device = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut accepted, _) = gateway.accept().unwrap();
    device.write_all(&mllp::frame(testing::oru("P-77", "LIVE1", &[("spo2", 92.5)]).as_bytes())).unwrap();
    accepted.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut received = vec![0u8; 4096];
    let n = accepted.read(&mut received).unwrap();
    assert!(n > 0);
    drop((device, accepted));
    // On SIGTERM the exporter still reads what the kernel captured; a short pause lets the
    // kernel finish queueing the closing segments.
    std::thread::sleep(std::time::Duration::from_millis(100));
    terminate(&mut child);

    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["vitals"]["P-77"]["spo2"]["last"], 92.5, "{stdout}");
    assert_eq!(summary["tcp"]["handshakes"], 1);
}

/// The environment the operator gives an exporter container of device 10.1.0.7.
fn ward_environment(command: &mut Command) -> &mut Command {
    command
        .env("WARDWATCH_DEVICE_ID", "monitor-7")
        .env("WARDWATCH_HL7_PORTS", "2575")
        .env("WARDWATCH_ALLOWED_CIDRS", "10.1.0.0/24")
        .env("WARDWATCH_ALLOWED_PORTS", "UDP/123,TCP/443,ICMP,TCP/2575")
        .env("WARDWATCH_LOCAL_CIDRS", "10.1.0.7/32")
        .env("WARDWATCH_IDS_SENSITIVITY", "medium")
        .env_remove("WARDWATCH_ALERT_URL")
}

/// An HL7 session from the device to the gateway, a port scan of the device by 10.1.0.66 (its
/// scanner's alert, not the device's), the device's own sweep of 12 ward hosts on TCP/443, and
/// the device contacting 203.0.113.9:443, written to a pcap file in `dir`.
fn attacked_ward_capture(dir: &std::path::Path) -> std::path::PathBuf {
    use testing::{Conversation, Flags, segment};
    let device = [10, 1, 0, 7];
    let mut hl7 = Conversation::between((device, 40000), ([10, 1, 0, 2], 2575));
    let mut frames = hl7.handshake();
    let message = testing::oru("P-9", "MSG1", &[("spo2", 97.0)]);
    frames.push(hl7.client(Flags::Ack, &wardwatch_clinical::mllp::frame(message.as_bytes())));
    for port in 1..=20 {
        frames.push(segment(([10, 1, 0, 66], 41000), (device, port), 7, 0, Flags::Syn, b""));
    }
    for host in 101..=112 {
        frames.push(segment((device, 41000), ([10, 1, 0, host], 443), 7, 0, Flags::Syn, b""));
    }
    frames.push(segment((device, 41001), ([203, 0, 113, 9], 443), 1, 0, Flags::Syn, b""));
    let path = dir.join("attacked.pcap");
    testing::write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
    path
}

/// The alert lines among `text` (the exporter's stderr also carries its log), in order.
fn alert_lines(text: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|line| line.starts_with("{\"device_id\""))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn alerts_are_json_lines_on_stderr_and_stdout_is_the_summary_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = attacked_ward_capture(dir.path());
    let output =
        ward_environment(&mut exporter()).arg("--read").arg(&path).args(["--summary", "json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // stdout is one JSON document, as `| jq .packets` needs.
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!("stdout is not one JSON document ({err}): {}", String::from_utf8_lossy(&output.stdout))
    });
    let values = alert_lines(&output.stderr);
    assert_eq!(values.len(), 2, "one line per alert: {}", String::from_utf8_lossy(&output.stderr));
    let types: Vec<&str> = values.iter().map(|v| v["alert_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["port_scan", "external_contact"]);
    assert_eq!(values[0]["device_id"], "monitor-7");
    // The device's sweep, not the scan aimed at it (10.1.0.66's, which came first).
    let scan = values[0]["description"].as_str().unwrap();
    assert!(scan.contains("10.1.0.7 probed 10 or more distinct hosts"), "{scan}");
    assert_eq!(values[0]["severity"], "warning");
    assert_eq!(values[1]["severity"], "critical");
    assert!(values[1]["description"].as_str().unwrap().contains("203.0.113.9:443"));
    assert!(values[0]["timestamp"].as_str().unwrap().starts_with("2026-09-21T14:13:20."));
    assert_eq!(summary["ids"]["alerts"]["port_scan"], 1);
    assert_eq!(summary["ids"]["alerts"]["external_contact"], 1);
    assert_eq!(summary["hl7"]["messages"]["oru_r01"], 1, "the HL7 path is unchanged");

    // --alert-lines FILE: the same lines in the file (appended to), none on stderr.
    let file = dir.path().join("alerts.jsonl");
    std::fs::write(&file, "").unwrap();
    for _ in 0..2 {
        let output = ward_environment(&mut exporter())
            .arg("--read")
            .arg(&path)
            .args(["--summary", "json", "--alert-lines"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(alert_lines(&output.stderr).is_empty());
    }
    let written = alert_lines(&std::fs::read(&file).unwrap());
    assert_eq!(written.len(), 4, "two runs appended two lines each");
    assert_eq!(written[2], values[0]);

    // A ward that allows every destination: the contact is no longer an alert, the scan still is.
    let output = ward_environment(&mut exporter())
        .env("WARDWATCH_ALLOWED_CIDRS", "0.0.0.0/0")
        .arg("--read")
        .arg(&path)
        .args(["--summary", "json", "--alert-lines", "stdout"])
        .output()
        .unwrap();
    // --alert-lines stdout: the alert lines, then the summary, on stdout.
    let values: Vec<serde_json::Value> =
        serde_json::Deserializer::from_slice(&output.stdout).into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(values.len(), 2, "one alert line and the summary");
    assert_eq!(values[0]["alert_type"], "port_scan");
    assert!(values[1]["packets"].is_number(), "{}", values[1]);
}

#[test]
fn a_malformed_ward_setting_is_refused_with_its_value() {
    let output = ward_environment(&mut exporter())
        .env("WARDWATCH_ALLOWED_PORTS", "TCP/443,SCTP/9")
        .args(["--read", "x.pcap", "--summary", "json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SCTP/9"), "{}", String::from_utf8_lossy(&output.stderr));

    let output = ward_environment(&mut exporter())
        .env("WARDWATCH_ALLOWED_CIDRS", "10.1.0.0/24,10.2.0.0/40")
        .args(["--read", "x.pcap", "--summary", "json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--allowed-cidrs") && stderr.contains(r#""10.2.0.0/40": bad prefix length"#), "{stderr}");
}

/// A one-shot HTTP listener on 127.0.0.1 that answers 200 to `count` requests and hands their
/// bodies back.
fn alert_receiver(count: usize) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let (bodies, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((stream, _)) = listener.accept() else { return };
            stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            let _ = bodies.send(format!("{} {}", request_line.trim(), String::from_utf8_lossy(&body)));
        }
    });
    (url, received)
}

#[test]
fn alerts_are_posted_to_the_alert_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = attacked_ward_capture(dir.path());
    let (url, received) = alert_receiver(2);
    let output = ward_environment(&mut exporter())
        .env("WARDWATCH_ALERT_URL", &url)
        .arg("--read")
        .arg(&path)
        .args(["--summary", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut posted = Vec::new();
    for _ in 0..2 {
        let request = received.recv_timeout(std::time::Duration::from_secs(10)).expect("an alert POST");
        let (line, body) = request.split_once(' ').unwrap();
        assert_eq!(line, "POST");
        let (_path, body) = body.split_once(" HTTP/1.1 ").unwrap();
        let alert: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(alert["device_id"], "monitor-7");
        posted.push(alert["alert_type"].as_str().unwrap().to_owned());
    }
    posted.sort();
    assert_eq!(posted, ["external_contact", "port_scan"]);
}

/// The device 10.1.0.7 sends HL7 to its gateway on port 6661 (not a declared HL7 port) and
/// opens TCP/443 to a private host and to a public one.
fn undeclared_ward_capture(dir: &std::path::Path) -> std::path::PathBuf {
    use testing::{Conversation, Flags, segment};
    let device = [10, 1, 0, 7];
    let mut hl7 = Conversation::between((device, 40000), ([10, 1, 0, 2], 6661));
    let mut frames = hl7.handshake();
    let message = testing::oru("P-9", "MSG1", &[("spo2", 97.0)]);
    frames.push(hl7.client(Flags::Ack, &wardwatch_clinical::mllp::frame(message.as_bytes())));
    frames.push(segment((device, 41000), ([192, 168, 5, 5], 443), 1, 0, Flags::Syn, b""));
    frames.push(segment((device, 41001), ([203, 0, 113, 9], 443), 1, 0, Flags::Syn, b""));
    let path = dir.join("undeclared.pcap");
    testing::write_pcap(&path, pcap::Linktype::ETHERNET, &frames);
    path
}

#[test]
fn without_a_declared_network_only_public_peers_are_external() {
    let dir = tempfile::tempdir().unwrap();
    let path = undeclared_ward_capture(dir.path());
    let alerts = |command: &mut Command| {
        let output = command.arg("--read").arg(&path).args(["--summary", "json"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        alert_lines(&output.stderr)
            .iter()
            .map(|v| format!("{} {}", v["alert_type"].as_str().unwrap(), v["description"].as_str().unwrap()))
            .collect::<Vec<_>>()
    };

    // Someone's capture, nothing declared: private peers are internal, no port is unexpected.
    let undeclared = alerts(exporter().env_remove("WARDWATCH_ALLOWED_CIDRS").env_remove("WARDWATCH_ALLOWED_PORTS"));
    assert_eq!(undeclared.len(), 1, "{undeclared:?}");
    assert!(undeclared[0].starts_with("external_contact 10.1.0.7 contacted 203.0.113.9:443/Tcp"), "{undeclared:?}");

    // A Ward that declares no CIDRs and no ports (the operator sets both, empty): every contact
    // beyond the device itself is external, and only the HL7 ports are expected, so the first
    // flow (HL7 on 6661) already breaks both rules (each fires once while it holds).
    let declared_empty = alerts(exporter().env("WARDWATCH_ALLOWED_CIDRS", "").env("WARDWATCH_ALLOWED_PORTS", ""));
    assert_eq!(declared_empty.len(), 2, "{declared_empty:?}");
    assert!(
        declared_empty[0].starts_with("external_contact 10.1.0.7 contacted 10.1.0.2:6661/Tcp"),
        "{declared_empty:?}"
    );
    assert!(
        declared_empty[1].starts_with("unexpected_port 10.1.0.7 contacted 10.1.0.2:6661/Tcp"),
        "{declared_empty:?}"
    );
}
