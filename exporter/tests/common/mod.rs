//! What the exporter's integration tests share: running the binary, reading its `--summary json`
//! counts, the same counts as tshark reads them, and talking to a running exporter.

pub mod gateway;
pub mod live;
pub mod tshark;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
}

/// Packets, bytes on the wire and packets per protocol (by the exporter's protocol names).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
    pub protocols: BTreeMap<String, u64>,
}

/// `wardwatch-exporter --read path --summary json`: its counts and the whole summary.
pub fn exporter_counts(path: &Path) -> (Counts, serde_json::Value) {
    let output = exporter().arg("--read").arg(path).args(["--summary", "json"]).output().unwrap();
    assert!(output.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    // stdout is the summary alone (alert lines go to stderr).
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document on stdout");
    let protocols = summary["protocols"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(protocol, count)| (protocol.clone(), count.as_u64().unwrap()))
        .collect();
    let counts =
        Counts { packets: summary["packets"].as_u64().unwrap(), bytes: summary["bytes"].as_u64().unwrap(), protocols };
    (counts, summary)
}
