//! The pcap mode's speed in packets per second (generation and writing, as
//! `wardwatch-simulator pcap` does them), side by side with tcpdump reading the same file
//! (`tcpdump -r F -w /dev/null`): the ratio is the figure that travels between machines.
//!
//! Run: `cargo bench -p wardwatch-simulator --bench pcap` (the bench profile is optimised).

use std::process::Command;
use std::time::Instant;

use wardwatch_simulator::capture::plan::CaptureScenario;
use wardwatch_simulator::capture::{self, CaptureConfig};
use wardwatch_simulator::scenario::Episode;

fn config(scenario: &str, devices: u32, duration_s: f64, ecg: bool) -> CaptureConfig {
    let scenario: CaptureScenario = scenario.parse().unwrap();
    CaptureConfig {
        devices,
        duration_s,
        interval_s: 1.0,
        scenario,
        episode: Episode::new(scenario.clinical()),
        device_type: None,
        attack_target: None,
        attack_duration_s: 30.0,
        ecg,
        seed: 1,
        start_unix_s: wardwatch_simulator::cli::DEFAULT_CAPTURE_START,
        gateway_port: 2575,
        hospital_id: "bench".into(),
        ward: "bench".into(),
        receiver: "WARDWATCH".into(),
    }
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
