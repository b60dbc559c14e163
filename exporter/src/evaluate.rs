//! `wardwatch-exporter evaluate`: trains the network anomaly model on one labelled capture and
//! measures it on others, per attack scenario. Captures and labels come from
//! `wardwatch-simulator pcap` (`F.pcap` and `F.labels.json`).
//!
//! A window (one device, [`WINDOW`] of packet time) is positive for a scenario when that
//! device has an attack of the scenario overlapping the window, and normal when it has no
//! attack overlapping it. Per scenario: precision = TP / (TP + FP), where FP counts every
//! normal window over the threshold (all devices); recall = TP / positives; the false-positive
//! rate is FP / normal windows.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::anomaly::features::{Devices, FEATURES, NOVELTY_FEATURES, RAW_FEATURES, WINDOW, Window, WindowBuilder};
use crate::anomaly::model::THRESHOLD;
use crate::anomaly::network::{NetworkModel, training_vector};
use crate::capture::offline::replay_file;
use crate::pipeline::{Event, PipelineConfig, Sink};

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The capture to train on; attack windows in its labels (`A.labels.json`, if present) are
    /// left out of training.
    #[arg(long, env = "WARDWATCH_EVALUATE_TRAIN")]
    pub train: PathBuf,
    /// Captures to test on (repeatable).
    #[arg(long, env = "WARDWATCH_EVALUATE_TEST", required = true)]
    pub test: Vec<PathBuf>,
    /// Ground truth of each --test, in order (default: `B.labels.json` beside `B.pcap`).
    #[arg(long, env = "WARDWATCH_EVALUATE_LABELS")]
    pub labels: Vec<PathBuf>,
    /// Output format.
    #[arg(long, env = "WARDWATCH_EVALUATE_FORMAT", value_enum, default_value = "table")]
    pub format: Format,
    /// Write every window's features (train and test, as the model sees them) to this CSV.
    #[arg(long, env = "WARDWATCH_EVALUATE_DUMP_WINDOWS")]
    pub dump_windows: Option<PathBuf>,
    /// The start of each capture whose windows are neither trained on nor scored. A simulated
    /// capture starts with every device booting (opening its connections, its first DNS and
    /// NTP polls within about a minute), which a sidecar that starts beside a running device
    /// does not see again.
    #[arg(long, env = "WARDWATCH_EVALUATE_WARM_UP", default_value = "2m", value_parser = wardwatch_serve::duration::parse)]
    pub warm_up: std::time::Duration,
    /// Seed of the k-means initialisation.
    #[arg(long, env = "WARDWATCH_EVALUATE_SEED", default_value_t = 1)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// The parts of `wardwatch-labels/v1` the evaluation reads.
#[derive(Debug, Deserialize)]
pub struct Labels {
    pub devices: Vec<DeviceLabel>,
    pub attacks: Vec<AttackLabel>,
}

#[derive(Debug, Deserialize)]
pub struct DeviceLabel {
    pub device_id: String,
    pub device_type: String,
    pub ip: IpAddr,
    pub mac: String,
}

#[derive(Debug, Deserialize)]
pub struct AttackLabel {
    pub scenario: String,
    pub device_ip: IpAddr,
    pub start_unix_s: f64,
    pub end_unix_s: f64,
}

impl Labels {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The scenario of an attack by `device` overlapping the window starting at `start_s`.
    pub fn attack(&self, device: IpAddr, start_s: u64) -> Option<&str> {
        let (from, to) = (start_s as f64, (start_s + WINDOW.as_secs()) as f64);
        self.attacks
            .iter()
            .find(|a| a.device_ip == device && a.start_unix_s < to && a.end_unix_s >= from)
            .map(|a| a.scenario.as_str())
    }

    pub fn devices(&self) -> Devices {
        Devices::Listed(self.devices.iter().map(|d| (d.ip, parse_mac(&d.mac))).collect())
    }
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16)).collect::<Result<_, _>>().ok()?;
    bytes.try_into().ok()
}

/// Collects windows from the pipeline's events.
struct Collect(WindowBuilder);

impl Sink for Collect {
    fn record(&mut self, event: Event<'_>) {
        self.0.record(event);
    }
}

/// The pipeline of an evaluation. One pipeline reads a whole ward's capture here, whereas each
/// device has an exporter (and a flow table) of its own in a ward: with the sidecar's default
/// 4096 flows shared, one device's SYN flood would fill the table for everyone and hide the
/// other devices' new flows, which never happens live. So the table is made large.
fn evaluation_pipeline() -> PipelineConfig {
    let mut config = PipelineConfig::default();
    config.flows.max_flows = 1 << 20;
    config
}

/// Every window of the capture at `path`, in time order.
/// Every window of the capture at `path` after `warm_up` from its first, in time order.
pub fn windows_of(path: &Path, devices: Devices, warm_up: std::time::Duration) -> Result<Vec<Window>> {
    let mut sink = Collect(WindowBuilder::new(devices));
    replay_file(path, evaluation_pipeline(), &mut sink)?;
    sink.0.finish();
    let windows = sink.0.take_closed();
    let first = windows.iter().map(|w| w.start_s).min().unwrap_or(0);
    Ok(windows.into_iter().filter(|w| w.start_s >= first + warm_up.as_secs()).collect())
}

/// One scenario's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub positives: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub false_positive_rate: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub threshold: f64,
    pub devices: usize,
    pub train_windows: usize,
    pub test_windows: usize,
    pub normal_windows: u64,
    pub false_positives: u64,
    pub false_positive_rate: f64,
    pub scenarios: Vec<ScenarioResult>,
    /// Test windows scored per second (one thread, features already computed).
    pub score_windows_per_second: f64,
}

/// Tallies flagged windows per scenario; `truth` is the scenario of each window (None:
/// normal), `flagged` whether it scored over the threshold.
pub fn tally(truth: &[Option<String>], flagged: &[bool]) -> (Vec<ScenarioResult>, u64, u64) {
    let (mut normal, mut fp) = (0u64, 0u64);
    let mut per: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (t, &f) in truth.iter().zip(flagged) {
        match t {
            None => {
                normal += 1;
                fp += u64::from(f);
            }
            Some(s) => {
                let e = per.entry(s).or_default();
                e.0 += 1;
                e.1 += u64::from(f);
            }
        }
    }
    let fpr = if normal > 0 { fp as f64 / normal as f64 } else { 0.0 };
    let results = per
        .into_iter()
        .map(|(scenario, (positives, tp))| {
            let precision = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
            let recall = tp as f64 / positives as f64;
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ScenarioResult {
                scenario: scenario.to_owned(),
                positives,
                true_positives: tp,
                false_positives: fp,
                precision,
                recall,
                f1,
                false_positive_rate: fpr,
            }
        })
        .collect();
    (results, normal, fp)
}

pub fn run(args: &EvaluateArgs) -> Result<()> {
    let test_labels: Vec<PathBuf> = if args.labels.is_empty() {
        args.test.iter().map(|t| labels_path(t)).collect()
    } else if args.labels.len() == args.test.len() {
        args.labels.clone()
    } else {
        bail!("--labels: give one per --test ({} for {})", args.labels.len(), args.test.len());
    };
    let tests: Vec<Labels> = test_labels.iter().map(|p| Labels::read(p)).collect::<Result<_>>()?;
    let train_labels = Labels::read(&labels_path(&args.train)).ok();
    let devices = tests[0].devices();
    let train_devices = train_labels.as_ref().map_or(devices.clone(), Labels::devices);
    let train = windows_of(&args.train, train_devices, args.warm_up)?;
    let mut by_device: BTreeMap<IpAddr, Vec<Window>> = BTreeMap::new();
    for w in &train {
        if train_labels.as_ref().and_then(|l| l.attack(w.device, w.start_s)).is_none() {
            by_device.entry(w.device).or_default().push(w.clone());
        }
    }
    let mut models = BTreeMap::new();
    for (device, windows) in &by_device {
        models.insert(*device, NetworkModel::train(windows, args.seed).with_context(|| format!("training {device}"))?);
    }
    let mut test_windows = Vec::new();
    let mut truth = Vec::new();
    for (path, labels) in args.test.iter().zip(&tests) {
        for w in windows_of(path, labels.devices(), args.warm_up)? {
            if models.contains_key(&w.device) {
                truth.push(labels.attack(w.device, w.start_s).map(str::to_owned));
                test_windows.push(w);
            }
        }
    }
    // Features once, then the scoring alone is timed, as the sidecar scores a finished window.
    let features: Vec<(&NetworkModel, [f64; FEATURES])> = test_windows
        .iter()
        .map(|w| {
            let model = &models[&w.device];
            (model, model.features(w))
        })
        .collect();
    let scores: Vec<f64> = features.iter().map(|(m, f)| m.clusters.score(f)).collect();
    let rate = score_rate(&features);
    let flagged: Vec<bool> = scores.iter().map(|s| *s > THRESHOLD).collect();
    let (scenarios, normal, fp) = tally(&truth, &flagged);
    let report = Report {
        threshold: THRESHOLD,
        devices: models.len(),
        train_windows: by_device.values().map(Vec::len).sum(),
        test_windows: test_windows.len(),
        normal_windows: normal,
        false_positives: fp,
        false_positive_rate: if normal > 0 { fp as f64 / normal as f64 } else { 0.0 },
        scenarios,
        score_windows_per_second: rate,
    };
    if let Some(path) = &args.dump_windows {
        dump(path, &models, &by_device, &test_windows, &truth, &scores)?;
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print_table(&report),
    }
    Ok(())
}

/// Scores the features over and over for at least half a second: windows per second.
fn score_rate(features: &[(&NetworkModel, [f64; FEATURES])]) -> f64 {
    if features.is_empty() {
        return 0.0;
    }
    let started = Instant::now();
    let (mut scored, mut sink) = (0u64, 0.0);
    while started.elapsed().as_secs_f64() < 0.5 {
        for (model, f) in features {
            sink += model.clusters.score(std::hint::black_box(f));
        }
        scored += features.len() as u64;
    }
    std::hint::black_box(sink);
    scored as f64 / started.elapsed().as_secs_f64()
}

pub fn labels_path(capture: &Path) -> PathBuf {
    let name = capture.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".pcapng").or_else(|| name.strip_suffix(".pcap")).unwrap_or(&name);
    capture.with_file_name(format!("{stem}.labels.json"))
}

/// The CSV other detectors read: `set,device,start_s,scenario,score,<features>`; `set` is
/// `train` or `test`; `scenario` is empty for normal windows (training rows are all normal).
fn dump(
    path: &Path,
    models: &BTreeMap<IpAddr, NetworkModel>,
    train: &BTreeMap<IpAddr, Vec<Window>>,
    test: &[Window],
    truth: &[Option<String>],
    scores: &[f64],
) -> Result<()> {
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    let names: Vec<&str> = RAW_FEATURES.iter().chain(NOVELTY_FEATURES.iter()).copied().collect();
    writeln!(out, "set,device,start_s,scenario,score,{}", names.join(","))?;
    let row = |out: &mut dyn Write, set: &str, w: &Window, f: &[f64; FEATURES], scenario: &str, score: f64| {
        let values: Vec<String> = f.iter().map(|x| x.to_string()).collect();
        writeln!(out, "{set},{},{},{scenario},{score},{}", w.device, w.start_s, values.join(","))
    };
    for (device, windows) in train {
        let model = &models[device];
        // Training rows carry the novelty the model was trained with (leave-one-out).
        let (mut peers, mut ports) = (BTreeMap::new(), BTreeMap::new());
        for w in windows {
            w.peers.iter().for_each(|p| *peers.entry(*p).or_insert(0u32) += 1);
            w.ports.iter().for_each(|p| *ports.entry(*p).or_insert(0u32) += 1);
        }
        for w in windows {
            let f = training_vector(w, &peers, &ports);
            row(&mut out, "train", w, &f, "", model.clusters.score(&f))?;
        }
    }
    for ((w, t), score) in test.iter().zip(truth).zip(scores) {
        row(&mut out, "test", w, &models[&w.device].features(w), t.as_deref().unwrap_or(""), *score)?;
    }
    out.flush()?;
    Ok(())
}

fn print_table(report: &Report) {
    println!(
        "{} devices, {} training windows, {} test windows ({} normal), threshold {}",
        report.devices, report.train_windows, report.test_windows, report.normal_windows, report.threshold
    );
    println!(
        "{:<18} {:>9} {:>5} {:>5} {:>9} {:>7} {:>6} {:>8}",
        "scenario", "positives", "TP", "FP", "precision", "recall", "F1", "FPR"
    );
    for s in &report.scenarios {
        println!(
            "{:<18} {:>9} {:>5} {:>5} {:>9.3} {:>7.3} {:>6.3} {:>7.2}%",
            s.scenario,
            s.positives,
            s.true_positives,
            s.false_positives,
            s.precision,
            s.recall,
            s.f1,
            s.false_positive_rate * 100.0
        );
    }
    println!(
        "false-positive rate on normal windows: {:.2}% ({} of {})",
        report.false_positive_rate * 100.0,
        report.false_positives,
        report.normal_windows
    );
    println!("scoring: {:.0} windows/s (one thread)", report.score_windows_per_second);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_tallied_against_all_normal_windows() {
        let truth = vec![None, None, None, None, Some("port-scan".to_owned()), Some("port-scan".to_owned())];
        let flagged = vec![false, false, false, true, true, false];
        let (results, normal, fp) = tally(&truth, &flagged);
        assert_eq!((normal, fp), (4, 1));
        assert_eq!(results[0].precision, 0.5);
        assert_eq!(results[0].recall, 0.5);
        assert_eq!(results[0].false_positive_rate, 0.25);
    }

    #[test]
    fn labels_sit_beside_their_capture() {
        assert_eq!(labels_path(Path::new("/tmp/b.pcap")), PathBuf::from("/tmp/b.labels.json"));
    }
}
