//! Third-party HL7 on the wire: python-hl7's `mllp_send` sends an ORU^R01 written here by hand
//! (HL7 v2.5, LOINC-coded OBX) to `wardwatch-simulator gateway` on loopback, while the exporter
//! captures on `lo`. The gateway ACKs, and the exporter's vitals are the OBX values.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

use common::live::{get, served_address, terminate};

/// The message, as a person would write it to a file: one segment a line.
const ORU: &str = "\
MSH|^~\\&|PULSEOX-12|ICU-7|CENTRAL|ST-MARY|20261122103000||ORU^R01^ORU_R01|MLLPSEND-1|P|2.5
PID|1||P-3RD^^^ST-MARY^MR||Doe^Jane||19610214|F
PV1|1|I|ICU^^7
OBR|1||MLLPSEND-1|VITALS^Vital signs^L|||20261122103000
OBX|1|NM|59408-5^Oxygen saturation in Arterial blood by Pulse oximetry^LN||91|%^percent^UCUM|||||F
OBX|2|NM|8867-4^Heart rate^LN||104|/min^per minute^UCUM|||||F
OBX|3|NM|9279-1^Respiratory rate^LN||22|/min^per minute^UCUM|||||F
OBX|4|NM|8310-5^Body temperature^LN||37.9|Cel^degree Celsius^UCUM|||||F
";

/// The values of the OBX segments above, by the exporter's vital key.
const SENT: [(&str, f64); 4] =
    [("spo2", 91.0), ("heart_rate", 104.0), ("respiratory_rate", 22.0), ("temperature", 37.9)];

/// python-hl7's `mllp_send`: in the cache's bin/, where scripts/python-hl7.sh links it, or on PATH.
fn mllp_send() -> PathBuf {
    let cache = std::env::var_os("WARDWATCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/wardwatch"));
    let cached = cache.join("bin/mllp_send");
    if cached.exists() {
        return cached;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("mllp_send"))
        .find(|path| path.exists())
        .expect("mllp_send is installed by scripts/install-deps.sh (scripts/python-hl7.sh)")
}

/// The simulator binary, built into the same target directory as the exporter.
fn simulator() -> Command {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_wardwatch-exporter")).with_file_name("wardwatch-simulator");
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace` builds it, or `cargo build -p wardwatch-simulator`",
        path.display()
    );
    Command::new(path)
}

/// Kills the gateway when the test ends, however it ends.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `line` without ANSI colour sequences (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
}

/// Starts the gateway on a free loopback port; hands it back with its HL7 address.
fn start_gateway() -> (Gateway, String) {
    let child = simulator()
        .args(["gateway", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gateway = Gateway(child);
    let stderr = gateway.0.stderr.take().unwrap();
    let (found, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, rest)) = without_colours(&line).split_once("hl7=") {
                let _ = found.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    let address = receive.recv_timeout(Duration::from_secs(10)).expect("the gateway reports its HL7 address");
    (gateway, address)
}

#[test]
fn vitals_sent_by_python_hl7_to_the_gateway_are_the_exporters_on_loopback() {
    let (_gateway, hl7_address) = start_gateway();
    let port = hl7_address.rsplit_once(':').unwrap().1;
    let mut exporter = common::exporter()
        .args(["--interface", "lo", "--listen", "127.0.0.1:0", "--summary", "json"])
        .env("WARDWATCH_FILTER", format!("tcp port {port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(address) = served_address(exporter.stderr.take().unwrap(), Duration::from_secs(10)) else {
        exporter.kill().unwrap();
        panic!("the exporter did not report its address");
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ready = false;
    while !ready && Instant::now() < deadline {
        if let Some(status) = exporter.try_wait().unwrap() {
            eprintln!("SKIPPED mllp_send loopback test: the exporter could not capture on lo ({status})");
            return;
        }
        ready = get(&address, "/readyz").0 == "HTTP/1.1 200 OK";
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready, "the capture did not open");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oru.hl7");
    std::fs::write(&file, ORU).unwrap();
    // --loose: the file has one segment a line, as HL7 files on disk do.
    let sent = Command::new(mllp_send())
        .args(["--port", port, "--loose", "--file"])
        .arg(&file)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&sent.stdout).replace('\r', "\n");
    assert!(sent.status.success(), "mllp_send: {}{answer}", String::from_utf8_lossy(&sent.stderr));
    assert!(answer.lines().any(|l| l.starts_with("MSA|AA|MLLPSEND-1")), "the gateway accepts: {answer}");

    // The capture sees the segments shortly after the sockets do.
    std::thread::sleep(Duration::from_millis(200));
    terminate(&mut exporter);
    let mut stdout = String::new();
    exporter.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let summary: serde_json::Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<serde_json::Value>()
        .last()
        .expect("a summary")
        .unwrap();
    let patient = &summary["vitals"]["P-3RD"];
    for (vital, value) in SENT {
        assert_eq!(patient[vital]["last"], value, "{vital}: {stdout}");
    }
    assert_eq!(summary["hl7"]["messages"]["oru_r01"], 1, "{stdout}");
    assert_eq!(summary["hl7"]["acks"]["accepted"], 1, "the ACK on the wire too: {stdout}");
    assert_eq!(summary["hl7"]["errors"], serde_json::json!({}), "{stdout}");
}
