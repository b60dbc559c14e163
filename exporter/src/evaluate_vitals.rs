//! `wardwatch-exporter evaluate-vitals`: the vital-sign anomaly model on clinical captures of
//! `wardwatch-simulator pcap --scenario <clinical>`. Each patient's windows go through the
//! sidecar's [`Learner`]: it trains on the first `--training-window` (which should end before
//! the episode's onset), then scores, retraining every `--retrain-interval` as live. Reported per patient: when the score first exceeded 1.0, and when
//! the operator's single-parameter limits and NEWS2 (aggregate >= 5 or one parameter 3) would
//! first have alerted, both computed from the same 10-s window means (the live rules read the
//! latest value instead, so they can fire a few seconds earlier on a noisy reading); and, for
//! patients without an episode, anomaly alerts (rising edges over 1.0) per patient-day.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::anomaly::features::WINDOW;
use crate::anomaly::learner::{LearnConfig, Learner, Outcome, Raised};
use crate::anomaly::vitals::{VitalsModel, VitalsSample, VitalsWindows};
use crate::capture::offline::replay_file;
use crate::evaluate::Format;
use crate::pipeline::{Event, PipelineConfig, Sink};

#[derive(Args, Debug)]
pub struct EvaluateVitalsArgs {
    /// Clinical captures (repeatable); labels beside each (`F.labels.json`).
    #[arg(long, env = "WARDWATCH_EVALUATE_CAPTURE", required = true)]
    pub capture: Vec<PathBuf>,
    /// The start of each capture that trains each patient's model.
    #[arg(long, env = "WARDWATCH_EVALUATE_TRAINING_WINDOW", default_value = "10m", value_parser = wardwatch_serve::duration::positive)]
    pub training_window: Duration,
    /// How often each patient's model retrains (on its recent windows that scored normal).
    #[arg(long, env = "WARDWATCH_EVALUATE_RETRAIN_INTERVAL", default_value = "1h", value_parser = wardwatch_serve::duration::positive)]
    pub retrain_interval: Duration,
    #[arg(long, env = "WARDWATCH_EVALUATE_FORMAT", value_enum, default_value = "table")]
    pub format: Format,
    #[arg(long, env = "WARDWATCH_EVALUATE_SEED", default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Deserialize)]
struct Labels {
    start_unix_s: u64,
    duration_s: f64,
    devices: Vec<Device>,
}

#[derive(Debug, Deserialize)]
struct Device {
    patient_id: String,
    episodes: Vec<Episode>,
}

#[derive(Debug, Deserialize)]
struct Episode {
    scenario: String,
    start_unix_s: f64,
}

/// One patient's result; times in seconds after the episode's onset (None: never).
#[derive(Debug, Serialize)]
pub struct PatientResult {
    pub capture: String,
    pub patient: String,
    pub scenario: String,
    pub anomaly_s: Option<f64>,
    pub limit_s: Option<f64>,
    pub news2_s: Option<f64>,
    /// Scored hours (after training).
    pub scored_hours: f64,
    /// Anomaly alerts (rising edges over the threshold).
    pub anomaly_alerts: u64,
}

struct Collect(VitalsWindows);

impl Sink for Collect {
    fn record(&mut self, event: Event<'_>) {
        match event {
            Event::Hl7Message { message, at } => self.0.record(message, at),
            Event::FlowBytes { at, .. } => self.0.advance(at),
            _ => {}
        }
    }
}

/// NEWS2 (RCP 2017) of respiratory rate, SpO2 (scale 1, on air), systolic pressure, heart rate
/// and temperature, compared at band midpoints as the operator's rules do: (sum, max part).
pub fn news2(v: &[f64; 6]) -> (u32, u32) {
    let [hr, rr, sbp, _dbp, spo2, temp] = *v;
    let band = |x: f64, edges: &[(f64, u32)], last: u32| edges.iter().find(|(e, _)| x < *e).map_or(last, |(_, s)| *s);
    let parts = [
        band(rr, &[(8.5, 3), (11.5, 1), (20.5, 0), (24.5, 2)], 3),
        band(spo2, &[(91.5, 3), (93.5, 2), (95.5, 1)], 0),
        band(sbp, &[(90.5, 3), (100.5, 2), (110.5, 1), (219.5, 0)], 3),
        band(hr, &[(40.5, 3), (50.5, 1), (90.5, 0), (110.5, 1), (130.5, 2)], 3),
        band(temp, &[(35.05, 3), (36.05, 1), (38.05, 0), (39.05, 1)], 2),
    ];
    (parts.iter().sum(), parts.into_iter().max().unwrap_or(0))
}

/// Whether a window breaks one of the operator's default limits, with the limit's "for".
fn limits(v: &[f64; 6]) -> [(bool, u64); 10] {
    let [hr, rr, sbp, dbp, spo2, temp] = *v;
    [
        (hr < 50.0, 10),
        (hr > 120.0, 30),
        (rr < 8.0, 30),
        (rr > 30.0, 60),
        (sbp < 90.0, 30),
        (sbp > 160.0, 60),
        (dbp < 50.0, 60),
        (dbp > 90.0, 60),
        (spo2 < 90.0 && spo2 > 0.0, 10),
        (temp > 38.5 || (temp < 36.0 && temp > 0.0), 300),
    ]
}

/// The first window start at which `hold[i]` has held for `for_s` (consecutive windows).
fn first_held(samples: &[VitalsSample], conditions: impl Fn(&[f64; 6]) -> Vec<(bool, u64)>) -> Option<u64> {
    let mut since: Vec<Option<u64>> = Vec::new();
    for s in samples {
        let c = conditions(&s.values);
        since.resize(c.len(), None);
        for (i, (holds, for_s)) in c.into_iter().enumerate() {
            if holds {
                let from = *since[i].get_or_insert(s.start_s);
                // The window's end is when the condition has held through it.
                if s.start_s + WINDOW.as_secs() - from >= for_s.max(WINDOW.as_secs()) {
                    return Some(s.start_s + WINDOW.as_secs());
                }
            } else {
                since[i] = None;
            }
        }
    }
    None
}

pub fn run(args: &EvaluateVitalsArgs) -> Result<()> {
    let mut results = Vec::new();
    for capture in &args.capture {
        let labels_path = crate::evaluate::labels_path(capture);
        let text =
            std::fs::read_to_string(&labels_path).with_context(|| format!("reading {}", labels_path.display()))?;
        let labels: Labels =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", labels_path.display()))?;
        let mut sink = Collect(VitalsWindows::new(WINDOW));
        replay_file(capture, PipelineConfig::default(), &mut sink)?;
        sink.0.finish();
        let mut by_patient: BTreeMap<String, Vec<VitalsSample>> = BTreeMap::new();
        for (patient, sample) in sink.0.take_closed() {
            by_patient.entry(patient).or_default().push(sample);
        }
        let train_end = labels.start_unix_s + args.training_window.as_secs();
        let end = labels.start_unix_s as f64 + labels.duration_s;
        for device in &labels.devices {
            let Some(samples) = by_patient.get(&device.patient_id) else { continue };
            let mut learner = Learner::<VitalsModel>::new(LearnConfig {
                training_s: args.training_window.as_secs(),
                retrain_s: args.retrain_interval.as_secs(),
                window_s: WINDOW.as_secs(),
                seed: args.seed,
            });
            let (mut test, mut scores) = (Vec::new(), Vec::new());
            for s in samples {
                match learner.observe(s.clone(), s.start_s) {
                    Outcome::Scored { score, .. } if s.start_s >= train_end => {
                        test.push(s.clone());
                        scores.push(score);
                    }
                    Outcome::TrainFailed(error) => anyhow::bail!("training {}: {error}", device.patient_id),
                    _ => {}
                }
            }
            let episode = device.episodes.first();
            let onset = episode.map_or(train_end as f64, |e| e.start_unix_s);
            let after = |t: Option<u64>| t.map(|t| t as f64 - onset);
            // Alerts as the sidecar raises them (once per anomaly; see Raised).
            let mut raised = Raised::default();
            let (mut first, mut edges) = (None, 0);
            for (s, score) in test.iter().zip(&scores) {
                if raised.starts(*score) {
                    edges += 1;
                    first.get_or_insert(s.start_s + WINDOW.as_secs());
                }
            }
            let limit = first_held(&test, |v| limits(v).to_vec());
            let news = first_held(&test, |v| {
                let (sum, max) = news2(v);
                vec![(sum >= 5 || max >= 3, 30)]
            });
            results.push(PatientResult {
                capture: capture.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                patient: device.patient_id.clone(),
                scenario: episode.map_or("stable".into(), |e| e.scenario.clone()),
                anomaly_s: after(first),
                limit_s: after(limit),
                news2_s: after(news),
                scored_hours: (end - train_end as f64).max(0.0) / 3600.0,
                anomaly_alerts: edges,
            });
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Format::Table => print_table(&results),
    }
    Ok(())
}

fn print_table(results: &[PatientResult]) {
    let t = |x: Option<f64>| x.map_or("never".to_owned(), |x| format!("{x:+.0}s"));
    println!("times after the episode's onset (stable patients: after training)");
    println!(
        "{:<24} {:<10} {:<14} {:>9} {:>9} {:>9} {:>7}",
        "capture", "patient", "scenario", "anomaly", "limit", "NEWS2", "alerts"
    );
    for r in results {
        println!(
            "{:<24} {:<10} {:<14} {:>9} {:>9} {:>9} {:>7}",
            r.capture,
            r.patient,
            r.scenario,
            t(r.anomaly_s),
            t(r.limit_s),
            t(r.news2_s),
            r.anomaly_alerts
        );
    }
    let stable: Vec<&PatientResult> = results.iter().filter(|r| r.scenario == "stable").collect();
    let hours: f64 = stable.iter().map(|r| r.scored_hours).sum();
    if hours > 0.0 {
        let alerts: u64 = stable.iter().map(|r| r.anomaly_alerts).sum();
        println!(
            "stable patients: {alerts} anomaly alerts in {hours:.1} patient-hours = {:.2} per patient-day",
            alerts as f64 / hours * 24.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news2_bands_at_their_edges() {
        // hr, rr, sbp, dbp, spo2, temp
        assert_eq!(news2(&[70.0, 16.0, 120.0, 80.0, 97.0, 37.0]), (0, 0));
        assert_eq!(news2(&[111.0, 21.0, 100.0, 60.0, 95.0, 38.1]), (2 + 2 + 2 + 1 + 1, 2));
        assert_eq!(news2(&[131.0, 25.0, 90.0, 50.0, 91.0, 39.1]).1, 3);
    }
}
