//! The sidecar's anomaly detection: a [`Sink`] in front of the exporter's other sinks that
//! turns the pipeline's events into network windows (one per [`WINDOW`]) and per-patient
//! vitals windows, drives a [`Learner`] for the device's traffic and one per patient, exports
//! the `wardwatch_anomaly_*` series, saves and reloads models (`--anomaly-model-dir`), and
//! reports a score crossing the threshold as an [`Event::Anomaly`] to the sinks behind it (the
//! alert output writes and posts it like an intrusion alert).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use serde::{Deserialize, Serialize};

use super::features::{Devices, WINDOW, Window, WindowBuilder};
use super::learner::{Detector, LearnConfig, Learner, Outcome, Raised};
use super::model::{THRESHOLD, TrainError};
use super::network::NetworkModel;
use super::persist::{self, Saved};
use super::vitals::{VitalsModel, VitalsSample, VitalsWindows};
use crate::pipeline::{Event, Sink};

pub const NETWORK: &str = "network";
pub const VITALS: &str = "vitals";

impl Detector for NetworkModel {
    type Sample = Window;

    fn train(samples: &[Window], seed: u64) -> Result<Self, TrainError> {
        NetworkModel::train(samples, seed)
    }

    fn score(&self, sample: &Window) -> f64 {
        NetworkModel::score(self, sample)
    }
}

/// A score over the threshold, as an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyAlert {
    /// [`NETWORK`] or [`VITALS`].
    pub model: &'static str,
    pub patient: Option<String>,
    pub score: f64,
    /// End of the window that scored (packet time).
    pub at: Duration,
    pub description: String,
}

impl AnomalyAlert {
    pub fn alert_type(&self) -> &'static str {
        if self.model == NETWORK { "anomaly_network" } else { "anomaly_vitals" }
    }

    pub fn category(&self) -> &'static str {
        if self.model == NETWORK { "network" } else { "clinical" }
    }
}

#[derive(Clone, Debug)]
pub struct AnomalyConfig {
    pub training_window: Duration,
    pub retrain_interval: Duration,
    /// Where models are saved and reloaded from; none: not persisted.
    pub model_dir: Option<PathBuf>,
    pub devices: Devices,
    /// Patients with a vitals model at once (the exporter's `--max-patients`).
    pub max_patients: usize,
    pub seed: u64,
}

impl AnomalyConfig {
    fn learn(&self) -> LearnConfig {
        LearnConfig {
            training_s: self.training_window.as_secs(),
            retrain_s: self.retrain_interval.as_secs().max(1),
            window_s: WINDOW.as_secs(),
            seed: self.seed,
        }
    }
}

/// The `wardwatch_anomaly_*` series of the models (registered only when detection is enabled).
pub struct AnomalyMetrics {
    score: GaugeVec,
    model_version: IntGaugeVec,
    training_windows: IntGaugeVec,
    last_training: GaugeVec,
    model_state: IntGaugeVec,
    load_errors: IntCounterVec,
    alerts: IntCounterVec,
}

impl AnomalyMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            score: GaugeVec::new(
                Opts::new(
                    "wardwatch_anomaly_score",
                    "Anomaly score of the last window (network: the device's traffic; vitals: per patient); above 1 is anomalous",
                ),
                &["model", "patient"],
            )?,
            model_version: IntGaugeVec::new(
                Opts::new("wardwatch_anomaly_model_version", "Trainings of the anomaly model so far (0: none yet)"),
                &["model"],
            )?,
            training_windows: IntGaugeVec::new(
                Opts::new("wardwatch_anomaly_training_windows", "Windows the current anomaly model was trained on"),
                &["model"],
            )?,
            last_training: GaugeVec::new(
                Opts::new(
                    "wardwatch_anomaly_last_training_timestamp_seconds",
                    "Packet time of the anomaly model's last training (Unix seconds)",
                ),
                &["model"],
            )?,
            model_state: IntGaugeVec::new(
                Opts::new(
                    "wardwatch_anomaly_model_state",
                    "1 for the anomaly model's current state (learning or scoring)",
                ),
                &["model", "state"],
            )?,
            load_errors: IntCounterVec::new(
                Opts::new(
                    "wardwatch_anomaly_model_load_errors_total",
                    "Saved anomaly models that could not be used (corrupt or incompatible) and were relearnt",
                ),
                &["model"],
            )?,
            alerts: IntCounterVec::new(
                Opts::new("wardwatch_anomaly_alerts_total", "Anomaly scores that crossed the threshold"),
                &["model"],
            )?,
        };
        registry.register(Box::new(metrics.score.clone()))?;
        registry.register(Box::new(metrics.model_version.clone()))?;
        registry.register(Box::new(metrics.training_windows.clone()))?;
        registry.register(Box::new(metrics.last_training.clone()))?;
        registry.register(Box::new(metrics.model_state.clone()))?;
        registry.register(Box::new(metrics.load_errors.clone()))?;
        registry.register(Box::new(metrics.alerts.clone()))?;
        for model in [NETWORK, VITALS] {
            metrics.set_state(model, false);
            metrics.model_version.with_label_values(&[model]);
            metrics.training_windows.with_label_values(&[model]);
            metrics.last_training.with_label_values(&[model]);
            metrics.load_errors.with_label_values(&[model]);
            metrics.alerts.with_label_values(&[model]);
        }
        Ok(metrics)
    }

    fn set_state(&self, model: &str, scoring: bool) {
        self.model_state.with_label_values(&[model, "learning"]).set(i64::from(!scoring));
        self.model_state.with_label_values(&[model, "scoring"]).set(i64::from(scoring));
    }

    fn set_training(&self, model: &str, version: u64, windows: u64, at_s: u64) {
        self.model_version.with_label_values(&[model]).set(version as i64);
        self.training_windows.with_label_values(&[model]).set(windows as i64);
        self.last_training.with_label_values(&[model]).set(at_s as f64);
    }
}

/// One patient's saved model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPatient {
    pub version: u64,
    pub last_training_s: u64,
    pub training_windows: u64,
    pub model: VitalsModel,
}

struct Patient {
    learner: Learner<VitalsModel>,
    raised: Raised,
}

struct Detectors<'m> {
    config: AnomalyConfig,
    metrics: &'m AnomalyMetrics,
    windows: WindowBuilder,
    vitals_windows: VitalsWindows,
    network: Learner<NetworkModel>,
    network_raised: Raised,
    /// Least recently reported first.
    patients: VecDeque<(String, Patient)>,
    /// Patients' models reloaded at start, taken when the patient reports.
    saved_patients: BTreeMap<String, SavedPatient>,
    vitals_version: u64,
}

/// Anomaly detection in front of `inner` (which gets every event first, and the anomaly
/// alerts); with `None` for detectors it only passes events on.
pub struct AnomalySink<'m, S> {
    inner: S,
    detectors: Option<Box<Detectors<'m>>>,
}

impl<'m, S: Sink> AnomalySink<'m, S> {
    /// Detection off: `inner` alone, exactly as without this sink.
    pub fn disabled(inner: S) -> Self {
        Self { inner, detectors: None }
    }

    /// Detection on; reloads saved models from `config.model_dir` (an unusable one is logged,
    /// counted and relearnt).
    pub fn new(config: AnomalyConfig, metrics: &'m AnomalyMetrics, inner: S) -> Self {
        let learn = config.learn();
        let mut network = Learner::new(learn);
        let mut saved_patients = BTreeMap::new();
        let mut vitals_version = 0;
        if let Some(dir) = &config.model_dir {
            match persist::load::<NetworkModel>(dir, NETWORK, NetworkModel::is_consistent) {
                Ok(Some(saved)) => {
                    tracing::info!(dir = %dir.display(), version = saved.version, "network anomaly model reloaded");
                    metrics.set_training(NETWORK, saved.version, saved.training_windows, saved.last_training_s);
                    network = Learner::resume(
                        learn,
                        saved.body,
                        saved.version,
                        saved.last_training_s,
                        saved.training_windows,
                    );
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "saved network anomaly model unusable; learning afresh");
                    metrics.load_errors.with_label_values(&[NETWORK]).inc();
                }
            }
            let valid = |patients: &BTreeMap<String, SavedPatient>| patients.values().all(|p| p.model.is_consistent());
            match persist::load::<BTreeMap<String, SavedPatient>>(dir, VITALS, valid) {
                Ok(Some(saved)) => {
                    tracing::info!(dir = %dir.display(), patients = saved.body.len(), "vitals anomaly models reloaded");
                    vitals_version = saved.version;
                    metrics.set_training(VITALS, saved.version, saved.training_windows, saved.last_training_s);
                    saved_patients = saved.body;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "saved vitals anomaly models unusable; learning afresh");
                    metrics.load_errors.with_label_values(&[VITALS]).inc();
                }
            }
        }
        metrics.set_state(NETWORK, network.is_scoring());
        let detectors = Detectors {
            windows: WindowBuilder::new(config.devices.clone()),
            vitals_windows: VitalsWindows::new(WINDOW),
            network,
            network_raised: Raised::default(),
            patients: VecDeque::new(),
            saved_patients,
            vitals_version,
            metrics,
            config,
        };
        Self { inner, detectors: Some(Box::new(detectors)) }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether the network model scores (tests).
    pub fn network_version(&self) -> Option<u64> {
        self.detectors.as_ref().map(|d| d.network.version)
    }
}

impl<S: Sink> Sink for AnomalySink<'_, S> {
    fn record(&mut self, event: Event<'_>) {
        self.inner.record(event);
        let Some(d) = &mut self.detectors else { return };
        d.windows.record(event);
        match event {
            Event::Hl7Message { message, at } => d.vitals_windows.record(message, at),
            Event::FlowBytes { at, .. } => d.vitals_windows.advance(at),
            _ => {}
        }
        for window in d.windows.take_closed() {
            if let Some(alert) = d.network_window(window) {
                self.inner.record(Event::Anomaly(&alert));
            }
        }
        for (patient, sample) in d.vitals_windows.take_closed() {
            if let Some(alert) = d.vitals_window(patient, sample) {
                self.inner.record(Event::Anomaly(&alert));
            }
        }
    }
}

impl Detectors<'_> {
    fn network_window(&mut self, window: Window) -> Option<AnomalyAlert> {
        let start_s = window.start_s;
        let outcome = self.network.observe(window, start_s);
        let m = self.metrics;
        match outcome {
            Outcome::Learning => None,
            Outcome::TrainFailed(error) => {
                tracing::warn!(%error, "training the network anomaly model failed");
                None
            }
            Outcome::Scored { score, trained } => {
                m.score.with_label_values(&[NETWORK, ""]).set(score);
                if trained {
                    let n = &self.network;
                    tracing::info!(version = n.version, windows = n.training_windows, "network anomaly model trained");
                    m.set_training(NETWORK, n.version, n.training_windows, n.last_training_s);
                    m.set_state(NETWORK, true);
                    if let (Some(dir), Some(model)) = (&self.config.model_dir, &n.model) {
                        let saved = Saved::new(NETWORK, n.version, n.last_training_s, n.training_windows, model);
                        if let Err(error) = persist::save(dir, &saved) {
                            tracing::warn!(%error, dir = %dir.display(), "saving the network anomaly model failed");
                        }
                    }
                }
                self.network_raised.starts(score).then(|| {
                    m.alerts.with_label_values(&[NETWORK]).inc();
                    AnomalyAlert {
                        model: NETWORK,
                        patient: None,
                        score,
                        at: Duration::from_secs(start_s) + WINDOW,
                        description: format!(
                            "the device's traffic scored {score:.2} (threshold {THRESHOLD}) against its learnt normal"
                        ),
                    }
                })
            }
        }
    }

    /// The patient's entry, made (from a saved model if there is one) when new; the least
    /// recently reported patient goes when there are too many.
    fn patient(&mut self, patient: &str) -> &mut Patient {
        if let Some(i) = self.patients.iter().position(|(p, _)| p == patient) {
            let entry = self.patients.remove(i).expect("found");
            self.patients.push_back(entry);
        } else {
            while self.patients.len() >= self.config.max_patients.max(1) {
                let Some((gone, _)) = self.patients.pop_front() else { break };
                let _ = self.metrics.score.remove_label_values(&[VITALS, &gone]);
                self.vitals_windows.forget(&gone);
            }
            let learn = self.config.learn();
            let learner = match self.saved_patients.remove(patient) {
                Some(s) => Learner::resume(learn, s.model, s.version, s.last_training_s, s.training_windows),
                None => Learner::new(learn),
            };
            self.patients.push_back((patient.to_owned(), Patient { learner, raised: Raised::default() }));
        }
        &mut self.patients.back_mut().expect("just pushed").1
    }

    fn vitals_window(&mut self, patient: String, sample: VitalsSample) -> Option<AnomalyAlert> {
        let start_s = sample.start_s;
        let m = self.metrics;
        let entry = self.patient(&patient);
        let outcome = entry.learner.observe(sample, start_s);
        let windows = entry.learner.training_windows;
        let alert = match outcome {
            Outcome::Learning => None,
            Outcome::TrainFailed(error) => {
                tracing::warn!(%error, "training a patient's vitals anomaly model failed");
                None
            }
            Outcome::Scored { score, trained } => {
                m.score.with_label_values(&[VITALS, &patient]).set(score);
                if trained {
                    self.vitals_version += 1;
                    m.set_training(VITALS, self.vitals_version, windows, start_s);
                    self.save_vitals(start_s);
                }
                let entry = self.patient(&patient);
                entry.raised.starts(score).then(|| {
                    m.alerts.with_label_values(&[VITALS]).inc();
                    AnomalyAlert {
                        model: VITALS,
                        patient: Some(patient.clone()),
                        score,
                        at: Duration::from_secs(start_s) + WINDOW,
                        // Alert lines end up in logs and webhooks: no patient identifier
                        // (the hospital's Prometheus has it, on wardwatch_anomaly_score).
                        description: format!(
                            "a patient's vital signs together scored {score:.2} (threshold {THRESHOLD}) against that patient's own baseline; wardwatch_anomaly_score{{model=\"vitals\"}} names the patient"
                        ),
                    }
                })
            }
        };
        m.set_state(VITALS, self.patients.iter().any(|(_, p)| p.learner.is_scoring()));
        alert
    }

    fn save_vitals(&self, at_s: u64) {
        let Some(dir) = &self.config.model_dir else { return };
        let body: BTreeMap<String, SavedPatient> = self
            .patients
            .iter()
            .filter_map(|(name, p)| {
                let l = &p.learner;
                let model = l.model.clone()?;
                Some((
                    name.clone(),
                    SavedPatient {
                        version: l.version,
                        last_training_s: l.last_training_s,
                        training_windows: l.training_windows,
                        model,
                    },
                ))
            })
            .collect();
        let windows = body.values().map(|p| p.training_windows).sum();
        let saved = Saved::new(VITALS, self.vitals_version, at_s, windows, body);
        if let Err(error) = persist::save(dir, &saved) {
            tracing::warn!(%error, dir = %dir.display(), "saving the vitals anomaly models failed");
        }
    }
}
