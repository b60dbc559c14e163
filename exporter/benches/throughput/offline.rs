//! Offline throughput: the exporter, tcpdump and tshark reading the same captures, each on
//! every CPU and pinned to one, in the same rounds. The first capture is a ward at steady state
//! with devices of every type (HL7 with ECG strips, DICOM, DNS, NTP, HTTPS), the second a ward
//! of bedside monitors only (HL7-heavy: ORUs with ECG strips and their ACKs), the third the
//! attack-heavy `mixed-attacks` capture.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::captures::simulator_capture;
use crate::proc::{self, Usage, pinned, thousands};

/// The CPU the RSS readers, and every offline reader's one-CPU run, are pinned to
/// (`WARDWATCH_BENCH_CPU`, default 1).
pub fn reader_cpu() -> usize {
    std::env::var("WARDWATCH_BENCH_CPU").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

pub fn repeats() -> usize {
    std::env::var("WARDWATCH_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1)
}

/// One offline row: what it shows, the capture's file name and its simulator flags.
struct OfflineCapture {
    label: &'static str,
    file_name: &'static str,
    flags: &'static [&'static str],
}

/// The steady ward first: 200 devices of every type in turn for 10 minutes, no attack (the
/// simulator's `ward` scenario). The 144 that send HL7 (monitors, oximeters, pumps,
/// ventilators, analysers) send an ORU^R01 every second and get an ACK, the monitors' with a
/// one-second ECG strip; three patients in four are stable, the other 36 each go through an
/// episode of their own, six of each clinical scenario, starting at seeded times (the six
/// disconnects silence 1,346 readings). Imaging modalities send DICOM images, workstations
/// DNS, NTP and HTTPS: 747,084 packets, 590 MB, 84,911 ORU^R01 and as many ACKs.
/// Then the steady ward of monitors only: 200 bedside monitors for 10 minutes, patients
/// stable, each sending its vitals and a one-second ECG strip (lead II, 250 Hz) every second
/// and getting an ACK: 484,443 packets, 339 MB, 120,000 ORU^R01 and as many ACKs, the capture
/// issue 17 measured. Then `mixed-attacks`: 100 devices of every type for 30 minutes, every
/// network attack at seeded times (1,127,499 packets, 879 MB).
const CAPTURES: [OfflineCapture; 3] = [
    OfflineCapture {
        label: "steady ward",
        file_name: "ward-mixed-200dev-600s-seed1.pcap",
        flags: &["--scenario=ward", "--devices=200", "--duration=10m", "--seed=1", "--ecg=true"],
    },
    OfflineCapture {
        label: "steady ward, monitors",
        file_name: "ward-stable-200dev-600s-seed1.pcap",
        flags: &["--scenario=stable", "--devices=200", "--duration=10m", "--seed=1", "--ecg=true"],
    },
    OfflineCapture {
        label: "mixed-attacks",
        file_name: "mixed-attacks-100dev-1800s-seed5.pcap",
        flags: &["--scenario=mixed-attacks", "--devices=100", "--duration=30m", "--seed=5"],
    },
];

/// The captures to read: `WARDWATCH_BENCH_CAPTURE` alone if set, else [`CAPTURES`], written
/// once and reused.
fn capture_files() -> Vec<(String, PathBuf)> {
    if let Some(path) = std::env::var_os("WARDWATCH_BENCH_CAPTURE") {
        return vec![("WARDWATCH_BENCH_CAPTURE".into(), PathBuf::from(path))];
    }
    CAPTURES.iter().map(|c| (c.label.to_owned(), simulator_capture(c.file_name, c.flags))).collect()
}

/// What makes a reader's command, run after run.
type CommandMaker<'a> = Box<dyn Fn() -> Command + 'a>;

/// One reader's best run.
pub struct Measured {
    pub name: &'static str,
    pub best: Usage,
    /// The least CPU time of any run (the machine is shared: CPU time is steadier than wall).
    pub least_cpu_s: f64,
    pub runs: usize,
}

/// A reader to measure: its name, how many runs, the CPU it is pinned to (or every CPU), and
/// its command.
pub struct Reader<'a> {
    pub name: &'static str,
    pub runs: usize,
    pub cpu: Option<usize>,
    pub command: CommandMaker<'a>,
}

/// Runs the readers round by round, one run of each per round, so that all of them meet the
/// same drifts of a shared machine's speed; a reader with fewer runs takes the middle rounds.
pub fn measure(readers: &[Reader<'_>]) -> Vec<Measured> {
    let rounds = readers.iter().map(|r| r.runs).max().unwrap_or(0);
    let mut results: Vec<Vec<Usage>> = readers.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (reader, results) in readers.iter().zip(&mut results) {
            let first = (rounds - reader.runs) / 2;
            if !(first..first + reader.runs).contains(&round) {
                continue;
            }
            let mut command = (reader.command)();
            if let Some(cpu) = reader.cpu {
                pinned(&mut command, cpu);
            }
            let usage = proc::run(&mut command);
            assert!(usage.success, "{} failed: {command:?}", reader.name);
            results.push(usage);
        }
    }
    readers
        .iter()
        .zip(results)
        .map(|(reader, results)| {
            let best = *results.iter().min_by(|a, b| a.wall.cmp(&b.wall)).unwrap();
            let least_cpu_s = results.iter().map(|u| u.cpu_s).fold(f64::INFINITY, f64::min);
            Measured { name: reader.name, best, least_cpu_s, runs: results.len() }
        })
        .collect()
}

/// The exporter's `--summary json` of `path`.
pub fn exporter_summary(path: &Path) -> serde_json::Value {
    let output = Command::new(crate::exporter_binary())
        .args(["--read", path.to_str().unwrap(), "--summary", "json", "--alert-lines", "/dev/null"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .expect("running the exporter");
    assert!(output.status.success(), "the exporter failed on {}", path.display());
    // stdout is the summary alone (alert lines go to stderr).
    serde_json::from_slice(&output.stdout).expect("the summary")
}

/// The exporter's packet count for `path` (also checks that it reads the whole file).
fn exporter_packets(path: &Path) -> u64 {
    exporter_summary(path)["packets"].as_u64().expect("the summary's packet count")
}

/// The exporter's rate over each reference's, for one capture: on every CPU and pinned to one,
/// by wall clock.
struct Ratios {
    label: String,
    packets: u64,
    all_cpus: [Option<f64>; 2],
    one_cpu: [Option<f64>; 2],
}

pub fn run() {
    let tshark_runs = std::env::var("WARDWATCH_BENCH_TSHARK_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let ratios: Vec<Ratios> =
        capture_files().iter().map(|(label, path)| run_capture(label, path, tshark_runs)).collect();
    println!();
    println!(
        "offline, the exporter's rate over each reference's (wall clock, same rounds; one CPU: every reader pinned to CPU {}):",
        reader_cpu()
    );
    println!(
        "{:<26} {:>10} {:>14} {:>14} {:>14} {:>14}",
        "capture", "packets", "/tcpdump all", "/tshark all", "/tcpdump 1 CPU", "/tshark 1 CPU"
    );
    let shown = |ratio: Option<f64>| ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.3}x"));
    for row in &ratios {
        println!(
            "{:<26} {:>10} {:>14} {:>14} {:>14} {:>14}",
            row.label,
            thousands(row.packets),
            shown(row.all_cpus[0]),
            shown(row.all_cpus[1]),
            shown(row.one_cpu[0]),
            shown(row.one_cpu[1]),
        );
    }
    println!(
        "goals (issue 17, steady ward of every device type): all CPUs >= 0.5x tcpdump and >= 30x tshark, one CPU >= 0.35x tcpdump; mixed-attacks: no slower than before (the monitors-only ward is the capture issue 17 first measured)"
    );
}

/// Measures every reader on `path`, prints its table and gives the ratios.
fn run_capture(label: &str, path: &Path, tshark_runs: usize) -> Ratios {
    let file = path.to_str().unwrap().to_owned();
    let packets = exporter_packets(path);
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    println!();
    // The exporter reads the file on one thread and analyses on another when it may use more
    // than one CPU, and reads in place when pinned; tcpdump and tshark use one thread either way.
    println!(
        "offline, {label}: {} ({} packets, {:.0} MB), each reader on all CPUs and pinned to CPU {}, best of {} (tshark: {}), one run of each per round; load average {}",
        path.display(),
        thousands(packets),
        bytes as f64 / 1e6,
        reader_cpu(),
        repeats(),
        tshark_runs,
        proc::load_average()
    );
    let exporter_command = || {
        let mut c = Command::new(crate::exporter_binary());
        // Alert lines to stdout, discarded with the summary, as every earlier run of this bench did.
        c.args(["--read", &file, "--summary", "json", "--alert-lines", "stdout"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        c
    };
    let tcpdump_command = || {
        let mut c = Command::new("tcpdump");
        c.args(["-r", &file, "-w", "/dev/null"]).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let tshark_command = || {
        let mut c = Command::new("tshark");
        c.args(["-r", &file, "-q", "-z", "conv,tcp"]).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    // (name, runs, command) of each reader; every one runs on all CPUs and pinned.
    let mut kinds: Vec<(&'static str, usize, CommandMaker<'_>)> =
        vec![("wardwatch-exporter", repeats(), Box::new(exporter_command))];
    for (tool, name, runs, command) in [
        ("tcpdump", "tcpdump -r F -w /dev/null", repeats(), Box::new(tcpdump_command) as CommandMaker<'_>),
        ("tshark", "tshark -r F -q -z conv,tcp", tshark_runs, Box::new(tshark_command)),
    ] {
        if crate::have(tool) {
            kinds.push((name, runs, command));
        } else {
            println!("SKIPPED {tool}: not installed (bash scripts/install-deps.sh)");
        }
    }
    let mut readers = Vec::new();
    for &(name, runs, ref command) in &kinds {
        for cpu in [None, Some(reader_cpu())] {
            readers.push(Reader { name, runs, cpu, command: Box::new(command) });
        }
    }
    let rows = measure(&readers);
    println!(
        "{:<28} {:>5} {:>5} {:>9} {:>12} {:>9} {:>14} {:>9} {:>13} {:>11}",
        "reader", "CPUs", "runs", "wall s", "pkt/s", "CPU s", "pkt/CPU-s", "peak MiB", "exporter/x", "(CPU-based)"
    );
    // Rows alternate all CPUs, one CPU; the exporter's are the first two.
    let rate = |row: &Measured| packets as f64 / row.best.wall.as_secs_f64();
    let cpu_rate = |row: &Measured| packets as f64 / row.least_cpu_s;
    for (i, (row, reader)) in rows.iter().zip(&readers).enumerate() {
        let exporter = &rows[i % 2];
        println!(
            "{:<28} {:>5} {:>5} {:>9.3} {:>12} {:>9.3} {:>14} {:>9.1} {:>12.3}x {:>10.3}x",
            row.name,
            reader.cpu.map_or_else(|| "all".to_owned(), |cpu| format!("#{cpu}")),
            row.runs,
            row.best.wall.as_secs_f64(),
            thousands(rate(row) as u64),
            row.least_cpu_s,
            thousands(cpu_rate(row) as u64),
            proc::mib(row.best.max_rss),
            rate(exporter) / rate(row),
            cpu_rate(exporter) / cpu_rate(row),
        );
    }
    let ratio = |reference: &str, placement: usize| {
        let at = rows.iter().position(|row| row.name.starts_with(reference))? + placement;
        Some(rate(&rows[placement]) / rate(&rows[at]))
    };
    Ratios {
        label: label.to_owned(),
        packets,
        all_cpus: [ratio("tcpdump", 0), ratio("tshark", 0)],
        one_cpu: [ratio("tcpdump", 1), ratio("tshark", 1)],
    }
}
