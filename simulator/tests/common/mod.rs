//! Pieces the simulator's test binaries share.
// Each test binary uses only some of them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs a command (the simulator, tshark, tcpdump) and fails the test if it cannot start or fails.
pub fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); tshark and tcpdump come from Debian's packages"));
    assert!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// (device, control id) -> [(LOINC, value)] for every ORU^R01 tshark's HL7 dissector finds.
pub fn oru_by_tshark(pcap: &Path, port: u16) -> BTreeMap<(String, String), Vec<(String, f64)>> {
    let mut messages = BTreeMap::new();
    for oru in testbed::tshark::oru_messages(pcap, port).unwrap() {
        let key = (oru.sender, oru.control_id);
        assert!(messages.insert(key, oru.observations).is_none(), "a message decoded twice");
    }
    messages
}

/// A free port on 127.0.0.1 (released right away for the child to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary gateway` on free loopback ports and waits until it is healthy; returns it
/// (killed on drop), its HL7 port and its metrics port.
pub fn start_gateway(binary: &str) -> (KillOnDrop, u16, u16) {
    let (hl7, metrics) = (free_port(), free_port());
    let gateway = KillOnDrop(
        Command::new(binary)
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
    (gateway, hl7, metrics)
}
