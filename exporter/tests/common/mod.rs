//! What the exporter's integration tests share: running the binary, reading its `--summary json`
//! counts, the same counts as tshark reads them, and talking to a running exporter.

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
    // Alert lines may come first (stdout is a stream of JSON values): the summary is the last.
    let summary = serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<serde_json::Value>()
        .last()
        .expect("a summary on stdout")
        .unwrap();
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
