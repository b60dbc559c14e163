//! A patient twin: physiology driven by a scenario timeline, read by a sensor. Deterministic for
//! a seed. The patient and the sensor draw from separate generators, so that an `artefact`
//! episode corrupts readings without changing the patient underneath.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::physiology::{Physiology, Vital, Vitals, adult_dynamics};
use crate::scenario::{Scenario, Timeline};

/// Separates the sensor's stream from the patient's for the same seed.
const SENSOR_STREAM: u64 = 0x5e45_0b5e_55ed_a11e;

/// Of the readings inside an artefact episode at full severity, the share that is corrupted.
const ARTEFACT_RATE: f64 = 0.6;

/// One reading of the monitor.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Seconds since the start of the simulation.
    pub t_s: f64,
    /// The scenario in force, for labels.
    pub scenario: Scenario,
    /// What the patient really has, rounded to display precision.
    pub truth: Vitals,
    /// What the device sends: `None` while disconnected; differs from `truth` under artefact.
    pub reported: Option<Vitals>,
}

/// A simulated patient and the sensor on them.
#[derive(Debug)]
pub struct Patient {
    physiology: Physiology,
    timeline: Timeline,
    patient_rng: ChaCha8Rng,
    sensor_rng: ChaCha8Rng,
    t_s: f64,
}

impl Patient {
    pub fn new(timeline: Timeline, seed: u64) -> Self {
        Self {
            physiology: Physiology::new(),
            timeline,
            patient_rng: ChaCha8Rng::seed_from_u64(seed),
            sensor_rng: ChaCha8Rng::seed_from_u64(seed ^ SENSOR_STREAM),
            t_s: 0.0,
        }
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Lets `dt_s` seconds pass and takes a reading.
    pub fn advance(&mut self, dt_s: f64) -> Reading {
        self.t_s += dt_s;
        let condition = self.timeline.condition(self.t_s);
        self.physiology.step(dt_s, &condition.insults, &mut self.patient_rng);
        let truth = self.physiology.vitals().rounded();
        // The sensor draws on every reading, disconnected or not, so its stream stays aligned
        // with time whatever the scenario.
        let corrupt = self.sensor_rng.random::<f64>() < condition.artefact * ARTEFACT_RATE;
        let artefact = artefact(&truth, &mut self.sensor_rng);
        let reported = match (condition.disconnected, corrupt) {
            (true, _) => None,
            (false, true) => Some(artefact),
            (false, false) => Some(truth),
        };
        Reading { t_s: self.t_s, scenario: self.timeline.label(self.t_s), truth, reported }
    }
}

/// What a disturbed sensor shows: a pulse oximeter losing its signal under motion reads a low,
/// erratic SpO2 and a pulse rate that jumps; everything else stays as it is.
fn artefact(truth: &Vitals, rng: &mut ChaCha8Rng) -> Vitals {
    let mut out = *truth;
    let spo2 = truth.get(Vital::Spo2) - rng.random_range(8.0..25.0);
    let heart_rate = truth.get(Vital::HeartRate) * rng.random_range(0.5..1.8);
    for (vital, value) in [(Vital::Spo2, spo2), (Vital::HeartRate, heart_rate)] {
        let d = adult_dynamics(vital);
        out.set(vital, value.clamp(d.min, d.max));
    }
    out.rounded()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Episode;

    const DT: f64 = 1.0;
    const SEEDS: std::ops::Range<u64> = 0..5;

    /// What a sick but living adult on a ward can show: narrower than the clamps in
    /// `physiology`, so a runaway process is caught before it hits them.
    fn plausible(vital: Vital) -> (f64, f64) {
        match vital {
            Vital::HeartRate => (40.0, 190.0),
            Vital::Spo2 => (70.0, 100.0),
            Vital::RespiratoryRate => (6.0, 45.0),
            Vital::SystolicBp => (55.0, 180.0),
            Vital::DiastolicBp => (30.0, 110.0),
            Vital::Temperature => (35.0, 41.0),
            Vital::Etco2 => (15.0, 60.0),
            Vital::Fio2 => (21.0, 21.0),
            Vital::Glucose => (50.0, 250.0),
            Vital::Lactate => (0.4, 8.0),
            Vital::Wbc => (2.0, 25.0),
        }
    }

    /// Runs `scenario` for half an hour (three times the default episode) at 1 s and returns
    /// every reading.
    fn run(scenario: Scenario, seed: u64) -> Vec<Reading> {
        let mut patient = Patient::new(Timeline::single(scenario), seed);
        (0..1_800).map(|_| patient.advance(DT)).collect()
    }

    /// Readings in the second half of the default episode's plateau, when targets are reached.
    fn late_plateau(readings: &[Reading]) -> impl Iterator<Item = &Reading> {
        let (start, end) = Episode::new(Scenario::Hypoxia).plateau();
        let from = (start + end) / 2.0;
        readings.iter().filter(move |r| r.t_s >= from && r.t_s < end)
    }

    fn mean(readings: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = readings.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
        assert!(n > 0);
        sum / f64::from(n)
    }

    fn late_mean(readings: &[Reading], vital: Vital) -> f64 {
        mean(late_plateau(readings).map(|r| r.truth.get(vital)))
    }

    fn baseline_mean(readings: &[Reading], vital: Vital) -> f64 {
        mean(readings.iter().filter(|r| r.t_s < 60.0).map(|r| r.truth.get(vital)))
    }

    #[test]
    fn every_scenario_stays_physiological_over_long_runs() {
        for scenario in Scenario::ALL {
            for seed in SEEDS {
                for reading in run(scenario, seed) {
                    let at = reading.t_s;
                    let check = |vitals: &Vitals, range: &dyn Fn(Vital) -> (f64, f64)| {
                        for (vital, value) in vitals.iter() {
                            let (lo, hi) = range(vital);
                            assert!((lo..=hi).contains(&value), "{scenario} seed {seed} t={at}: {vital:?} = {value}");
                        }
                        assert!(vitals.get(Vital::DiastolicBp) < vitals.get(Vital::SystolicBp));
                    };
                    check(&reading.truth, &plausible);
                    if let Some(reported) = &reading.reported {
                        // Artefact readings are wrong on purpose; they only need to stay within
                        // what a device can display.
                        let device = |v| (adult_dynamics(v).min, adult_dynamics(v).max);
                        check(reported, if scenario == Scenario::Artefact { &device } else { &plausible });
                    }
                }
            }
        }
    }

    #[test]
    fn hypoxia_desaturates_below_90_and_speeds_heart_and_breathing() {
        for seed in SEEDS {
            let r = run(Scenario::Hypoxia, seed);
            assert!(late_plateau(&r).all(|x| x.truth.get(Vital::Spo2) < 90.0), "seed {seed}");
            assert!(late_mean(&r, Vital::HeartRate) > baseline_mean(&r, Vital::HeartRate) + 10.0);
            assert!(late_mean(&r, Vital::RespiratoryRate) > baseline_mean(&r, Vital::RespiratoryRate) + 6.0);
            assert!(baseline_mean(&r, Vital::Spo2) >= 95.0);
        }
    }

    #[test]
    fn sepsis_raises_lactate_temperature_and_heart_rate_and_lowers_pressure() {
        for seed in SEEDS {
            let r = run(Scenario::Sepsis, seed);
            assert!(late_plateau(&r).all(|x| x.truth.get(Vital::Lactate) > 2.0), "seed {seed}");
            assert!(late_plateau(&r).all(|x| x.truth.get(Vital::Temperature) > 38.0), "seed {seed}");
            assert!(late_mean(&r, Vital::HeartRate) > baseline_mean(&r, Vital::HeartRate) + 25.0);
            assert!(late_mean(&r, Vital::SystolicBp) < baseline_mean(&r, Vital::SystolicBp) - 25.0);
            assert!(late_mean(&r, Vital::Wbc) > 12.0);
        }
    }

    #[test]
    fn tachyarrhythmia_exceeds_130() {
        for seed in SEEDS {
            let r = run(Scenario::Tachyarrhythmia, seed);
            assert!(late_plateau(&r).all(|x| x.truth.get(Vital::HeartRate) > 130.0), "seed {seed}");
        }
    }

    #[test]
    fn hypotension_falls_below_90_systolic() {
        for seed in SEEDS {
            let r = run(Scenario::Hypotension, seed);
            assert!(late_plateau(&r).all(|x| x.truth.get(Vital::SystolicBp) < 90.0), "seed {seed}");
            assert!(late_mean(&r, Vital::HeartRate) > baseline_mean(&r, Vital::HeartRate) + 5.0, "baroreflex");
        }
    }

    #[test]
    fn patients_recover_after_the_episode() {
        for scenario in [Scenario::Hypoxia, Scenario::Sepsis, Scenario::Tachyarrhythmia, Scenario::Hypotension] {
            let r = run(scenario, 1);
            let late = |v| mean(r.iter().filter(|x| x.t_s > 1_200.0).map(|x| x.truth.get(v)));
            assert!((late(Vital::HeartRate) - 75.0).abs() < 5.0, "{scenario}");
            assert!((late(Vital::SystolicBp) - 122.0).abs() < 6.0, "{scenario}");
            assert!(late(Vital::Spo2) > 95.0, "{scenario}");
        }
    }

    #[test]
    fn disconnect_silences_the_device_only_during_the_episode() {
        let r = run(Scenario::Disconnect, 2);
        let episode = Episode::new(Scenario::Disconnect);
        for reading in &r {
            assert_eq!(reading.reported.is_none(), episode.is_active(reading.t_s), "t={}", reading.t_s);
        }
    }

    #[test]
    fn artefact_corrupts_readings_but_not_the_patient() {
        let stable = run(Scenario::Stable, 4);
        let artefact = run(Scenario::Artefact, 4);
        let truths = |r: &[Reading]| r.iter().map(|x| x.truth).collect::<Vec<_>>();
        assert_eq!(truths(&stable), truths(&artefact), "same seed, same patient");
        let episode = Episode::new(Scenario::Artefact);
        let corrupted: Vec<_> = artefact.iter().filter(|x| x.reported != Some(x.truth)).collect();
        assert!(corrupted.len() > 100, "{} corrupted readings", corrupted.len());
        assert!(corrupted.iter().all(|x| episode.is_active(x.t_s)));
        assert!(corrupted.iter().any(|x| x.reported.unwrap().get(Vital::Spo2) < 90.0));
    }

    #[test]
    fn same_seed_same_series_other_seed_other_series() {
        for scenario in Scenario::ALL {
            assert_eq!(run(scenario, 42), run(scenario, 42), "{scenario}");
            assert_ne!(run(scenario, 42), run(scenario, 43), "{scenario}");
        }
    }
}
