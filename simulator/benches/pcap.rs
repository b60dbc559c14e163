//! The pcap mode's speed in packets per second (generation and writing, as
//! `wardwatch-simulator pcap` does them), side by side with tcpdump reading the same file
//! (`tcpdump -r F -w /dev/null`): the ratio is the figure that travels between machines.
//!
//! Run: `cargo bench -p wardwatch-simulator --bench pcap` (the bench profile is optimised).

use std::process::Command;
use std::time::Instant;

use wardwatch_simulator::capture::{self, CaptureConfig};
use wardwatch_simulator::cli::pcap_config;

/// The capture `wardwatch-simulator pcap` writes with these flags.
fn config(scenario: &str, devices: u32, duration_s: f64, ecg: bool) -> CaptureConfig {
    let flags = [
        format!("--scenario={scenario}"),
        format!("--devices={devices}"),
        format!("--duration={}ms", (duration_s * 1000.0) as u64),
        format!("--ecg={ecg}"),
        "--seed=1".to_string(),
    ];
    pcap_config(&flags.iter().map(String::as_str).collect::<Vec<_>>()).expect("the capture's flags")
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("pcap mode against tcpdump -r F -w /dev/null on the same file");
    println!(
        "{:<40} {:>9} {:>8} {:>12} {:>10} {:>12} {:>8}",
        "capture", "packets", "MB", "sim pkt/s", "tcpdump s", "tcpdump pkt/s", "ratio %"
    );
    let captures = [("hypoxia", 200, 300.0, false), ("hypoxia", 200, 300.0, true), ("mixed-attacks", 70, 300.0, true)];
    for (scenario, devices, duration_s, ecg) in captures {
        let pcap = dir.path().join(format!("{scenario}-{ecg}.pcap"));
        let started = Instant::now();
        let labels = capture::write_files(&config(scenario, devices, duration_s, ecg), &pcap).unwrap();
        let simulator_s = started.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&pcap).unwrap().len();
        let started = Instant::now();
        let status = Command::new("tcpdump")
            .args(["-r", pcap.to_str().unwrap(), "-w", "/dev/null"])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("tcpdump (Debian's package)");
        let tcpdump_s = started.elapsed().as_secs_f64();
        assert!(status.success());
        let packets = labels.packets as f64;
        println!(
            "{:<40} {:>9} {:>8.1} {:>12.0} {:>10.3} {:>12.0} {:>8.2}",
            format!("{scenario}, {devices} dev, {duration_s} s, ECG {}", if ecg { "on" } else { "off" }),
            labels.packets,
            bytes as f64 / 1e6,
            packets / simulator_s,
            tcpdump_s,
            packets / tcpdump_s,
            100.0 * (packets / simulator_s) / (packets / tcpdump_s),
        );
    }
}
