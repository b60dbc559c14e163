//! Offline throughput: the exporter, tcpdump and tshark reading the same capture.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use wardwatch_simulator::capture::{self, CaptureConfig};
use wardwatch_simulator::cli::pcap_config;

use crate::proc::{self, Usage, pinned, thousands};

/// The CPU the RSS readers, and the exporter's one-CPU offline run, are pinned to
/// (`WARDWATCH_BENCH_CPU`, default 1).
pub fn reader_cpu() -> usize {
    std::env::var("WARDWATCH_BENCH_CPU").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

pub fn repeats() -> usize {
    std::env::var("WARDWATCH_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1)
}

/// The simulator's `mixed-attacks` capture: 100 devices for 1800 s, seed 5 (1,127,499 packets),
/// as `wardwatch-simulator pcap --scenario mixed-attacks --devices 100 --duration 30m --seed 5`
/// writes it.
fn capture_config() -> CaptureConfig {
    pcap_config(&["--scenario=mixed-attacks", "--devices=100", "--duration=30m", "--seed=5"])
        .expect("the capture's flags")
}

/// `WARDWATCH_BENCH_CAPTURE` if set, else the simulator's capture, written once and reused.
fn capture_file() -> PathBuf {
    if let Some(path) = std::env::var_os("WARDWATCH_BENCH_CAPTURE") {
        return PathBuf::from(path);
    }
    let path = crate::work_dir().join("mixed-attacks-100dev-1800s-seed5.pcap");
    if !path.is_file() {
        // In a child process: the simulator holds the capture in memory while writing it, and
        // Linux carries a process's peak RSS into the ru_maxrss of every child it starts later
        // (execve records the old address space's peak), which would inflate the RSS columns.
        let started = Instant::now();
        let status = Command::new(std::env::current_exe().expect("the bench's own path"))
            .env(WRITE_CAPTURE_ENV, &path)
            .status()
            .expect("starting the bench to write the capture");
        assert!(status.success(), "writing the simulator's capture failed");
        println!("wrote {} with the simulator's pcap mode in {:.1} s", path.display(), started.elapsed().as_secs_f64());
    }
    path
}

/// Set to a path, the bench only writes the simulator's capture there and exits.
pub const WRITE_CAPTURE_ENV: &str = "WARDWATCH_BENCH_WRITE_CAPTURE";

/// Writes the simulator's capture to `path` (in the child that `capture_file` starts).
pub fn write_capture(path: &Path) {
    let labels = capture::write_files(&capture_config(), path).expect("writing the simulator's capture");
    println!("{} packets", thousands(labels.packets));
}

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
    pub command: Box<dyn Fn() -> Command + 'a>,
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

pub fn run() {
    let path = capture_file();
    let file = path.to_str().unwrap().to_owned();
    let packets = exporter_packets(&path);
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!();
    // Every reader may use every CPU: the exporter reads the file on one thread and analyses
    // on another, tcpdump and tshark use one each. The exporter's run pinned to one CPU and the
    // CPU-time columns show what the second thread buys.
    let tshark_runs = std::env::var("WARDWATCH_BENCH_TSHARK_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    println!(
        "offline: {} ({} packets, {:.0} MB), readers on all CPUs (the exporter also pinned to CPU {}), best of {} (tshark: {}), one run of each per round",
        path.display(),
        thousands(packets),
        bytes as f64 / 1e6,
        reader_cpu(),
        repeats(),
        tshark_runs
    );
    let exporter_command = || {
        let mut c = Command::new(crate::exporter_binary());
        // Alert lines to stdout, discarded with the summary, as every earlier run of this bench did.
        c.args(["--read", &file, "--summary", "json", "--alert-lines", "stdout"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        c
    };
    let mut readers = vec![
        Reader { name: "wardwatch-exporter", runs: repeats(), cpu: None, command: Box::new(exporter_command) },
        Reader {
            name: "wardwatch-exporter, one CPU",
            runs: repeats(),
            cpu: Some(reader_cpu()),
            command: Box::new(exporter_command),
        },
    ];
    if crate::have("tcpdump") {
        readers.push(Reader {
            name: "tcpdump -r F -w /dev/null",
            runs: repeats(),
            cpu: None,
            command: Box::new(|| {
                let mut c = Command::new("tcpdump");
                c.args(["-r", &file, "-w", "/dev/null"]).stdout(Stdio::null()).stderr(Stdio::null());
                c
            }),
        });
    } else {
        println!("SKIPPED tcpdump: not installed (bash scripts/install-deps.sh)");
    }
    if crate::have("tshark") {
        readers.push(Reader {
            name: "tshark -r F -q -z conv,tcp",
            runs: tshark_runs,
            cpu: None,
            command: Box::new(|| {
                let mut c = Command::new("tshark");
                c.args(["-r", &file, "-q", "-z", "conv,tcp"]).stdout(Stdio::null()).stderr(Stdio::null());
                c
            }),
        });
    } else {
        println!("SKIPPED tshark: not installed (bash scripts/install-deps.sh)");
    }
    let rows = measure(&readers);
    println!(
        "{:<28} {:>5} {:>9} {:>12} {:>9} {:>14} {:>9} {:>13} {:>11}",
        "reader", "runs", "wall s", "pkt/s", "CPU s", "pkt/CPU-s", "peak MiB", "exporter/x", "(CPU-based)"
    );
    let (exporter_rate, exporter_cpu_rate) =
        (packets as f64 / rows[0].best.wall.as_secs_f64(), packets as f64 / rows[0].least_cpu_s);
    for row in &rows {
        let rate = packets as f64 / row.best.wall.as_secs_f64();
        let cpu_rate = packets as f64 / row.least_cpu_s;
        println!(
            "{:<28} {:>5} {:>9.3} {:>12} {:>9.3} {:>14} {:>9.1} {:>12.3}x {:>10.3}x",
            row.name,
            row.runs,
            row.best.wall.as_secs_f64(),
            thousands(rate as u64),
            row.least_cpu_s,
            thousands(cpu_rate as u64),
            proc::mib(row.best.max_rss),
            exporter_rate / rate,
            exporter_cpu_rate / cpu_rate,
        );
    }
    println!("goals: exporter/tcpdump >= 0.5x, exporter/tshark >= 20x (wall-clock column, first row)");
}
