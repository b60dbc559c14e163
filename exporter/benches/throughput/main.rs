//! The exporter's speed, side by side with reference tools, in one run:
//!
//! - **offline**: the release `wardwatch-exporter --read F --summary json` against
//!   `tcpdump -r F -w /dev/null` (the cost of reading the file) and `tshark -r F -q -z conv,tcp`
//!   (a full analyser), each on all CPUs and pinned to one, on three captures of the
//!   simulator's pcap mode: a ward at steady state with devices of every type (`ward`), the
//!   same with bedside monitors only (HL7-heavy, issue 17's capture) and the attack-heavy
//!   `mixed-attacks`;
//!   packets per second and the ratios exporter/tcpdump and exporter/tshark;
//! - **live**: the exporter capturing on `lo`, pinned to one CPU, while a bounded UDP sender on
//!   the other CPU sends to 127.0.0.1 at rising rates; sent, captured, libpcap's drop counts
//!   (scraped from `/metrics`) and the exporter's CPU;
//! - **rss**: the exporter's peak RSS holding 100,000 active flows (UDP, then TCP with handshake
//!   and an HL7 message), next to tshark's on the same files;
//! - **hl7**: the exporter on one ward's capture in LOINC and in IHE PCD-01 (MDC codes and
//!   units), the PCD-01 rate as a ratio of the LOINC one, with the CPU model.
//!
//! Run: `cargo bench -p wardwatch-exporter --bench throughput` (the README's exporter section
//! lists the environment variables that choose the parts, the capture and the rates).

mod captures;
mod dialects;
mod flows;
mod live;
mod offline;
mod proc;

use std::path::PathBuf;

/// The exporter binary cargo built with this bench (the bench profile: optimised, LTO).
pub fn exporter_binary() -> PathBuf {
    let path = std::env::var_os("WARDWATCH_BENCH_EXPORTER_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wardwatch-exporter")), PathBuf::from);
    assert!(path.is_file(), "the exporter binary {} is missing", path.display());
    path
}

/// Where generated captures are kept between runs (the target directory, not the source tree).
pub fn work_dir() -> PathBuf {
    let dir = std::env::var_os("WARDWATCH_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wardwatch-bench"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("creating the bench's work directory");
    dir
}

/// Whether a tool is on the PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    if let Some(path) = std::env::var_os(captures::WRITE_CAPTURE_ENV) {
        captures::write_capture(std::path::Path::new(&path));
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument picks parts, like the env variable.
    let parts = std::env::var("WARDWATCH_BENCH_PARTS").unwrap_or_else(|_| "offline,live,rss,hl7".into());
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |part: &str| {
        if args.is_empty() { parts.split(',').any(|p| p.trim() == part) } else { args.iter().any(|a| a == part) }
    };
    println!(
        "wardwatch-exporter throughput bench: {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        proc::load_average()
    );
    // A child's ru_maxrss is at least what its parent held when starting it.
    let own_peak = proc::own_peak_rss();
    println!("this bench process's peak RSS: {:.1} MiB (the floor of every peak RSS below)", proc::mib(own_peak));
    if wanted("offline") {
        offline::run();
    }
    if wanted("live") {
        live::run();
    }
    if wanted("rss") {
        flows::run();
    }
    if wanted("hl7") {
        dialects::run();
    }
    println!(
        "load average at the end: {}; this bench process's peak RSS: {:.1} MiB",
        proc::load_average(),
        proc::mib(proc::own_peak_rss())
    );
}
