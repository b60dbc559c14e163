//! The exporter on one ward in its two HL7 dialects: the simulator's capture of 100 bedside
//! monitors for 30 minutes (no ECG strips, so that the vitals' OBX segments are what is read)
//! written once with LOINC-coded ORUs and once as IHE PCD-01 (MDC codes and units, the
//! containment rows), same seed and patients. Both are read by the exporter in the same rounds;
//! the table gives each dialect's rate beside the LOINC one as a ratio, with the CPU model.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::captures::simulator_capture;
use crate::offline::{Reader, exporter_summary, measure, reader_cpu, repeats};
use crate::proc::{cpu_model, thousands};

const PROFILES: [&str; 2] = ["loinc", "ihe-pcd-01"];

/// The ward's capture in `profile`, written once and reused.
fn capture_file(profile: &str) -> PathBuf {
    let flags = [
        "--scenario=sepsis",
        "--devices=100",
        "--device-type=bedside-monitor",
        "--duration=30m",
        "--ecg=false",
        "--seed=5",
        &format!("--hl7-profile={profile}"),
    ];
    simulator_capture(&format!("ward-{profile}-100dev-1800s-seed5.pcap"), &flags)
}

pub fn run() {
    let paths: Vec<PathBuf> = PROFILES.iter().map(|p| capture_file(p)).collect();
    let summaries: Vec<serde_json::Value> = paths.iter().map(|p| exporter_summary(p)).collect();
    // The same ward either way: the bench compares reading, not different contents.
    assert_eq!(summaries[0]["vitals"], summaries[1]["vitals"], "the two dialects must read as the same vitals");
    for summary in &summaries {
        assert_eq!(summary["hl7"]["errors"], serde_json::json!({}), "no HL7 errors in the simulator's captures");
    }
    println!();
    println!(
        "hl7 dialects: one ward (100 bedside monitors, 30 min, no ECG, seed 5) per dialect, best of {} per row, one run of each per round; CPU: {}",
        repeats(),
        cpu_model()
    );
    let files: Vec<String> = paths.iter().map(|p| p.to_str().unwrap().to_owned()).collect();
    let command = |file: &str| {
        let file = file.to_owned();
        move || {
            let mut c = Command::new(crate::exporter_binary());
            c.args(["--read", &file, "--summary", "json", "--alert-lines", "/dev/null"])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null());
            c
        }
    };
    let names = [["loinc", "loinc, one CPU"], ["ihe-pcd-01", "ihe-pcd-01, one CPU"]];
    let mut readers = Vec::new();
    for (file, [all_cpus, one_cpu]) in files.iter().zip(names) {
        readers.push(Reader { name: all_cpus, runs: repeats(), cpu: None, command: Box::new(command(file)) });
        readers.push(Reader {
            name: one_cpu,
            runs: repeats(),
            cpu: Some(reader_cpu()),
            command: Box::new(command(file)),
        });
    }
    let rows = measure(&readers);
    println!(
        "{:<22} {:>9} {:>9} {:>6} {:>8} {:>11} {:>8} {:>12} {:>10} {:>10}",
        "dialect", "packets", "ORUs", "MB", "wall s", "ORU/s", "CPU s", "ORU/CPU-s", "/loinc", "(CPU)"
    );
    for (i, row) in rows.iter().enumerate() {
        let (summary, path) = (&summaries[i / 2], &paths[i / 2]);
        let reference = &rows[i % 2];
        let orus = summary["hl7"]["messages"]["oru_r01"].as_u64().unwrap();
        let rate = orus as f64 / row.best.wall.as_secs_f64();
        let cpu_rate = orus as f64 / row.least_cpu_s;
        let reference_orus = summaries[0]["hl7"]["messages"]["oru_r01"].as_u64().unwrap() as f64;
        println!(
            "{:<22} {:>9} {:>9} {:>6.1} {:>8.3} {:>11} {:>8.3} {:>12} {:>9.3}x {:>9.3}x",
            row.name,
            thousands(summary["packets"].as_u64().unwrap()),
            thousands(orus),
            std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / 1e6,
            row.best.wall.as_secs_f64(),
            thousands(rate as u64),
            row.least_cpu_s,
            thousands(cpu_rate as u64),
            rate / (reference_orus / reference.best.wall.as_secs_f64()),
            cpu_rate / (reference_orus / reference.least_cpu_s),
        );
    }
}
