//! A live HL7 exchange on loopback: `wardwatch-simulator gateway` on a free port, python-hl7's
//! `mllp_send` sending a hand-written file to it, and the exporter capturing on `lo`.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::live::{get, served_address, terminate};

/// python-hl7's `mllp_send`: in the cache's bin/, where scripts/python-hl7.sh links it, or on PATH.
pub fn mllp_send() -> PathBuf {
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
pub struct Gateway(Child);

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
pub fn start_gateway() -> (Gateway, String) {
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

/// Starts the exporter capturing the gateway's `port` on `lo`, and waits for its capture to
/// open; `None` (after a SKIPPED line) where this machine cannot capture on `lo`.
pub fn start_exporter(port: &str) -> Option<(Child, String)> {
    let mut exporter = super::exporter()
        .args(["--interface", "lo", "--listen", "127.0.0.1:0", "--summary", "json"])
        .env("WARDWATCH_FILTER", format!("tcp port {port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(address) = served_address(exporter.stderr.take().unwrap(), Duration::from_secs(10)) else {
        exporter.kill().unwrap();
        exporter.wait().unwrap();
        panic!("the exporter did not report its address");
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = exporter.try_wait().unwrap() {
            eprintln!("SKIPPED live loopback test: the exporter could not capture on lo ({status})");
            return None;
        }
        if get(&address, "/readyz").0 == "HTTP/1.1 200 OK" {
            return Some((exporter, address));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    exporter.kill().unwrap();
    exporter.wait().unwrap();
    panic!("the capture did not open");
}

/// Sends the HL7 file `text` (one segment a line, messages one after the other) to the gateway
/// on `port` with `mllp_send`; its answers, segments a line.
pub fn send_file(dir: &Path, port: &str, text: &str) -> String {
    let file = dir.join("messages.hl7");
    std::fs::write(&file, text).unwrap();
    // --loose: the file has one segment a line, as HL7 files on disk do.
    let sent = Command::new(mllp_send())
        .args(["--port", port, "--loose", "--file"])
        .arg(&file)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&sent.stdout).replace('\r', "\n");
    assert!(sent.status.success(), "mllp_send: {}{answer}", String::from_utf8_lossy(&sent.stderr));
    answer
}

/// Stops the exporter (SIGTERM) once the capture has caught up, and reads its summary.
pub fn stop_exporter(mut exporter: Child) -> (serde_json::Value, String) {
    // The capture sees the segments shortly after the sockets do.
    std::thread::sleep(Duration::from_millis(200));
    terminate(&mut exporter);
    let mut stdout = String::new();
    exporter.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let summary = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<serde_json::Value>()
        .last()
        .expect("a summary")
        .unwrap();
    (summary, stdout)
}

/// tcpdump writing what crosses `lo` on `port` to `path`, packet by packet; stopped on drop.
pub struct Tcpdump(Child);

impl Tcpdump {
    /// Starts tcpdump and waits until it listens.
    pub fn start(port: &str, path: &Path) -> Self {
        let mut child = Command::new("tcpdump")
            // Immediate mode: packets are written as they come, not when a kernel block fills; root:
            // the test's directory is not writable to the user tcpdump drops to.
            .args(["-i", "lo", "--immediate-mode", "-U", "-n", "-Z", "root", "-w"])
            .arg(path)
            .args(["tcp", "port", port])
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump is installed by scripts/install-deps.sh");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.contains("listening on lo"), "tcpdump: {line}");
        Self(child)
    }

    /// Stops tcpdump (SIGTERM: it writes out what it holds) once the capture has caught up.
    pub fn stop(mut self) {
        std::thread::sleep(Duration::from_millis(200));
        terminate(&mut self.0);
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
