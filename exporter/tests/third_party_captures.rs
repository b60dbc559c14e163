//! Wireshark's own test captures (`test/captures` of the wireshark source package, fetched from
//! Debian by `scripts/wireshark-captures.sh`): on every one whose link type the exporter reads,
//! its packet, byte and per-protocol counts equal tshark's. Captures of other link types, and
//! files that are not captures, are listed as skipped with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
mod common;

use common::Counts;

/// Where the install script extracts the captures (`WARDWATCH_WIRESHARK_CAPTURES` overrides).
fn captures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WARDWATCH_WIRESHARK_CAPTURES") {
        return dir.into();
    }
    let cache = std::env::var_os("WARDWATCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/wardwatch"));
    cache.join("wireshark-captures/current/test/captures")
}

/// DLT/LINKTYPE numbers the exporter decodes: Ethernet, Linux cooked v1 and v2, raw IP.
const SUPPORTED_LINK_TYPES: [i32; 7] = [1, 113, 276, 12, 101, 228, 229];

/// A file the exporter should read as tshark does, or why it is not compared.
enum Verdict {
    Compare(PathBuf),
    Skip(String),
}

/// Decides about the capture at `path`, decompressing a `.gz` into `scratch` first (libpcap
/// reads no compressed files, tshark does).
fn verdict(path: &Path, scratch: &Path) -> Verdict {
    let readable = if path.extension().is_some_and(|e| e == "gz") {
        let output = Command::new("gzip").arg("-dc").arg(path).output().expect("gzip runs");
        if !output.status.success() {
            return Verdict::Skip(format!("gzip: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        let unpacked = scratch.join(path.file_stem().unwrap());
        std::fs::write(&unpacked, output.stdout).unwrap();
        unpacked
    } else {
        path.to_owned()
    };
    let capture = match pcap::Capture::from_file(&readable) {
        Ok(capture) => capture,
        Err(err) => return Verdict::Skip(format!("not a capture libpcap reads ({err})")),
    };
    let link = capture.get_datalink();
    if !SUPPORTED_LINK_TYPES.contains(&link.0) {
        let name = link.get_name().unwrap_or_else(|_| "unnamed".into());
        return Verdict::Skip(format!("link type {name} ({}) is not one the exporter decodes", link.0));
    }
    if let Err(err) = read_through(capture) {
        return Verdict::Skip(format!("libpcap stops reading it: {err}"));
    }
    Verdict::Compare(readable)
}

/// Reads every packet, boundedly: libpcap refuses pcapng files whose interfaces differ in link
/// type or snapshot length, at the first packet of the second interface.
fn read_through(mut capture: pcap::Capture<pcap::Offline>) -> Result<(), pcap::Error> {
    for _ in 0..10_000_000 {
        match capture.next_packet() {
            Ok(_) => {}
            Err(pcap::Error::NoMorePackets) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Frames (by tshark's frame number) where the exporter's protocol and tshark's differ, as
/// "frame N: tshark's layers".
fn explain(path: &Path, exporter: &Counts, tshark: &Counts) -> String {
    let frames = common::tshark::frames(path);
    let mut lines = vec![format!("exporter {exporter:?}"), format!("tshark   {tshark:?}")];
    for frame in frames.iter().take(5_000) {
        let layers: Vec<&str> = frame.layers.iter().map(String::as_str).collect();
        let protocol = common::tshark::protocol_of(&layers);
        if exporter.protocols.get(protocol).copied().unwrap_or(0) != tshark.protocols[protocol] {
            lines.push(format!("  frame {} ({protocol}): {}", frame.number, frame.layers.join(":")));
        }
    }
    lines.truncate(20);
    lines.join("\n")
}

#[test]
fn counts_on_wiresharks_test_captures_equal_tsharks() {
    let dir = captures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; scripts/install-deps.sh fetches Wireshark's test captures", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let scratch = tempfile::tempdir().unwrap();
    let (mut compared, mut skipped, mut mismatches) = (Vec::new(), Vec::new(), Vec::new());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match verdict(path, scratch.path()) {
            Verdict::Skip(reason) => skipped.push(format!("{name}: {reason}")),
            Verdict::Compare(readable) => {
                let (exporter, _) = common::exporter_counts(&readable);
                let tshark = common::tshark::counts(&readable);
                if exporter != tshark {
                    mismatches.push(format!("{name}:\n{}", explain(&readable, &exporter, &tshark)));
                }
                compared.push(name);
            }
        }
    }
    eprintln!("compared {} Wireshark captures with tshark, skipped {}:", compared.len(), skipped.len());
    for line in &skipped {
        eprintln!("  skipped {line}");
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} captures differ from tshark:\n{}",
        mismatches.len(),
        compared.len(),
        mismatches.join("\n")
    );
    assert!(compared.len() >= 50, "only {} captures compared in {}", compared.len(), dir.display());
}
