//! Patient physiology: each vital sign is an Ornstein-Uhlenbeck process (mean-reverting noise)
//! around a target, clamped to the range a living patient can show. The target is the
//! baseline, moved by the insults a scenario applies (hypoxia, sepsis, ...) and by the couplings
//! between vitals (low SpO2 drives heart and respiratory rate up, low blood pressure drives the
//! heart rate up). Pure: the caller owns the random number generator and the clock.

use rand::{Rng, RngExt};
use wardwatch_clinical::vitals::{VitalSign, by_key};

/// The vital signs the twin simulates, in the catalogue's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vital {
    HeartRate,
    Spo2,
    RespiratoryRate,
    SystolicBp,
    DiastolicBp,
    Temperature,
    Etco2,
    Fio2,
    Glucose,
    Lactate,
    Wbc,
}

impl Vital {
    pub const ALL: [Vital; 11] = [
        Vital::HeartRate,
        Vital::Spo2,
        Vital::RespiratoryRate,
        Vital::SystolicBp,
        Vital::DiastolicBp,
        Vital::Temperature,
        Vital::Etco2,
        Vital::Fio2,
        Vital::Glucose,
        Vital::Lactate,
        Vital::Wbc,
    ];

    /// The catalogue key (`wardwatch_clinical::vitals`).
    pub fn key(self) -> &'static str {
        match self {
            Vital::HeartRate => "heart_rate",
            Vital::Spo2 => "spo2",
            Vital::RespiratoryRate => "respiratory_rate",
            Vital::SystolicBp => "systolic_bp",
            Vital::DiastolicBp => "diastolic_bp",
            Vital::Temperature => "temperature",
            Vital::Etco2 => "etco2",
            Vital::Fio2 => "fio2",
            Vital::Glucose => "glucose",
            Vital::Lactate => "lactate",
            Vital::Wbc => "wbc",
        }
    }

    /// The catalogue entry: LOINC code, UCUM unit, metric name.
    pub fn sign(self) -> &'static VitalSign {
        by_key(self.key()).expect("every simulated vital is in the catalogue")
    }

    /// Decimals a monitor displays (and so sends) for this vital.
    pub fn decimals(self) -> i32 {
        match self {
            Vital::Temperature | Vital::Lactate | Vital::Wbc => 1,
            _ => 0,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One value per vital sign.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vitals([f64; 11]);

impl Vitals {
    pub fn get(&self, vital: Vital) -> f64 {
        self.0[vital.index()]
    }

    pub fn set(&mut self, vital: Vital, value: f64) {
        self.0[vital.index()] = value;
    }

    /// `(vital, value)` pairs in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = (Vital, f64)> + '_ {
        Vital::ALL.iter().map(|&v| (v, self.get(v)))
    }

    /// The values rounded to what a monitor displays.
    pub fn rounded(&self) -> Vitals {
        let mut out = *self;
        for vital in Vital::ALL {
            let scale = 10f64.powi(vital.decimals());
            out.set(vital, (self.get(vital) * scale).round() / scale);
        }
        out
    }

    fn from_fn(f: impl Fn(Vital) -> f64) -> Vitals {
        Vitals(Vital::ALL.map(f))
    }
}

/// How one vital moves: its resting value, how fast it returns to its target, how much it
/// wanders, and the range a living patient can show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dynamics {
    pub baseline: f64,
    /// Time constant of the return to target, in seconds.
    pub time_constant_s: f64,
    /// Standard deviation of the wander around the target once settled.
    pub spread: f64,
    pub min: f64,
    pub max: f64,
}

const fn dynamics(baseline: f64, time_constant_s: f64, spread: f64, min: f64, max: f64) -> Dynamics {
    Dynamics { baseline, time_constant_s, spread, min, max }
}

/// An adult at rest on a ward, breathing room air. Lab values (glucose, lactate, WBC) move
/// slowly; the monitor values within tens of seconds.
pub fn adult_dynamics(vital: Vital) -> Dynamics {
    match vital {
        Vital::HeartRate => dynamics(75.0, 20.0, 3.0, 25.0, 220.0),
        Vital::Spo2 => dynamics(97.0, 25.0, 0.8, 50.0, 100.0),
        Vital::RespiratoryRate => dynamics(15.0, 30.0, 1.0, 4.0, 60.0),
        Vital::SystolicBp => dynamics(122.0, 40.0, 4.0, 50.0, 250.0),
        Vital::DiastolicBp => dynamics(78.0, 40.0, 3.0, 25.0, 150.0),
        Vital::Temperature => dynamics(36.9, 90.0, 0.1, 32.0, 42.5),
        Vital::Etco2 => dynamics(38.0, 30.0, 1.5, 10.0, 80.0),
        // FiO2 is what the patient breathes, set rather than measured: room air, no wander.
        Vital::Fio2 => dynamics(21.0, 30.0, 0.0, 21.0, 100.0),
        Vital::Glucose => dynamics(100.0, 150.0, 4.0, 30.0, 600.0),
        Vital::Lactate => dynamics(1.1, 100.0, 0.1, 0.3, 20.0),
        Vital::Wbc => dynamics(7.0, 150.0, 0.3, 0.5, 50.0),
    }
}

/// The lowest gap kept between systolic and diastolic pressure (a pulse pressure below this
/// is not a reading a monitor shows).
const MIN_PULSE_PRESSURE: f64 = 10.0;

/// What a scenario does to the patient at one moment: each severity in `0..=1`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Insults {
    pub hypoxia: f64,
    pub sepsis: f64,
    pub tachyarrhythmia: f64,
    pub hypotension: f64,
}

/// The targets the vitals revert to, given the insults and the current state (for couplings).
pub fn targets(insults: &Insults, current: &Vitals) -> Vitals {
    let base = Vitals::from_fn(|v| adult_dynamics(v).baseline);
    let mut t = base;
    let mut shift = |vital: Vital, by: f64| t.set(vital, t.get(vital) + by);

    // Direct effects of each insult at full severity.
    shift(Vital::Spo2, -15.0 * insults.hypoxia);

    shift(Vital::Temperature, 2.1 * insults.sepsis);
    shift(Vital::HeartRate, 30.0 * insults.sepsis);
    shift(Vital::SystolicBp, -38.0 * insults.sepsis);
    shift(Vital::DiastolicBp, -25.0 * insults.sepsis);
    shift(Vital::Lactate, 3.6 * insults.sepsis);
    shift(Vital::Wbc, 10.0 * insults.sepsis);
    shift(Vital::RespiratoryRate, 7.0 * insults.sepsis);
    shift(Vital::Glucose, 45.0 * insults.sepsis);
    shift(Vital::Etco2, -6.0 * insults.sepsis);

    shift(Vital::HeartRate, 85.0 * insults.tachyarrhythmia);
    // Short filling time in a fast rhythm lowers the stroke volume.
    shift(Vital::SystolicBp, -12.0 * insults.tachyarrhythmia);

    shift(Vital::SystolicBp, -48.0 * insults.hypotension);
    shift(Vital::DiastolicBp, -28.0 * insults.hypotension);
    shift(Vital::Lactate, 1.0 * insults.hypotension);

    // Couplings through the current state, so they follow the patient rather than the script.
    let desaturation = (94.0 - current.get(Vital::Spo2)).max(0.0);
    shift(Vital::HeartRate, 1.6 * desaturation);
    shift(Vital::RespiratoryRate, 0.9 * desaturation);
    // Baroreflex: a falling systolic pressure speeds the heart.
    let low_pressure = (105.0 - current.get(Vital::SystolicBp)).max(0.0);
    shift(Vital::HeartRate, 0.5 * low_pressure);
    // Hyperventilation washes out CO2.
    let tachypnoea = (current.get(Vital::RespiratoryRate) - base.get(Vital::RespiratoryRate)).max(0.0);
    shift(Vital::Etco2, -0.4 * tachypnoea);
    t
}

/// A patient's vitals and how they move.
#[derive(Clone, Debug, PartialEq)]
pub struct Physiology {
    state: Vitals,
}

impl Default for Physiology {
    fn default() -> Self {
        Self::new()
    }
}

impl Physiology {
    /// A patient at baseline.
    pub fn new() -> Self {
        Self { state: Vitals::from_fn(|v| adult_dynamics(v).baseline) }
    }

    pub fn vitals(&self) -> &Vitals {
        &self.state
    }

    /// Advances by `dt_s` seconds under `insults`. Uses the exact OU transition, so the result
    /// does not depend on how a span of time is cut into steps (in distribution).
    pub fn step<R: Rng + ?Sized>(&mut self, dt_s: f64, insults: &Insults, rng: &mut R) {
        let targets = targets(insults, &self.state);
        for vital in Vital::ALL {
            let d = adult_dynamics(vital);
            let decay = (-dt_s / d.time_constant_s).exp();
            let target = targets.get(vital);
            let noise = d.spread * (1.0 - decay * decay).sqrt() * standard_normal(rng);
            let next = target + (self.state.get(vital) - target) * decay + noise;
            self.state.set(vital, next.clamp(d.min, d.max));
        }
        let systolic = self.state.get(Vital::SystolicBp);
        let diastolic_min = adult_dynamics(Vital::DiastolicBp).min;
        let diastolic = self.state.get(Vital::DiastolicBp).min(systolic - MIN_PULSE_PRESSURE).max(diastolic_min);
        self.state.set(Vital::DiastolicBp, diastolic);
    }
}

/// One draw from N(0, 1) (Box-Muller), from uniform draws only, so that the series depends on
/// nothing but the generator's output.
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1], keeps ln finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;

    #[test]
    fn every_vital_maps_to_its_catalogue_entry_in_order() {
        let keys: Vec<_> = Vital::ALL.iter().map(|v| v.sign().key).collect();
        let catalogue: Vec<_> = wardwatch_clinical::VITAL_SIGNS.iter().map(|v| v.key).collect();
        assert_eq!(keys, catalogue);
        for (i, v) in Vital::ALL.iter().enumerate() {
            assert_eq!(v.index(), i);
            let d = adult_dynamics(*v);
            assert!(d.min <= d.baseline && d.baseline <= d.max, "{v:?}");
        }
    }

    #[test]
    fn at_rest_the_patient_wanders_around_baseline() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut patient = Physiology::new();
        let mut sum = [0.0; 11];
        let steps = 20_000;
        for _ in 0..steps {
            patient.step(5.0, &Insults::default(), &mut rng);
            for (i, (_, value)) in patient.vitals().iter().enumerate() {
                sum[i] += value;
            }
        }
        for (i, vital) in Vital::ALL.iter().enumerate() {
            let d = adult_dynamics(*vital);
            let mean = sum[i] / f64::from(steps);
            // SpO2 sits near its ceiling, so clamping pulls its mean down a little.
            assert!((mean - d.baseline).abs() <= d.spread.max(0.05), "{vital:?}: mean {mean}, baseline {}", d.baseline);
        }
    }

    #[test]
    fn desaturation_raises_heart_and_respiratory_rate() {
        let mut hypoxic = Physiology::new().state;
        hypoxic.set(Vital::Spo2, 84.0);
        let resting = targets(&Insults::default(), &Physiology::new().state);
        let coupled = targets(&Insults::default(), &hypoxic);
        assert!(coupled.get(Vital::HeartRate) > resting.get(Vital::HeartRate) + 10.0);
        assert!(coupled.get(Vital::RespiratoryRate) > resting.get(Vital::RespiratoryRate) + 5.0);
    }

    #[test]
    fn sepsis_moves_lactate_temperature_heart_rate_and_pressure() {
        let at_rest = Physiology::new().state;
        let resting = targets(&Insults::default(), &at_rest);
        let septic = targets(&Insults { sepsis: 1.0, ..Insults::default() }, &at_rest);
        assert!(septic.get(Vital::Lactate) > 2.0 + resting.get(Vital::Lactate));
        assert!(septic.get(Vital::Temperature) > 38.5);
        assert!(septic.get(Vital::HeartRate) > resting.get(Vital::HeartRate) + 20.0);
        assert!(septic.get(Vital::SystolicBp) < resting.get(Vital::SystolicBp) - 30.0);
    }

    #[test]
    fn values_stay_in_range_and_diastolic_below_systolic_under_every_insult_at_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut patient = Physiology::new();
        let all = Insults { hypoxia: 1.0, sepsis: 1.0, tachyarrhythmia: 1.0, hypotension: 1.0 };
        for _ in 0..5_000 {
            patient.step(2.0, &all, &mut rng);
            for (vital, value) in patient.vitals().iter() {
                let d = adult_dynamics(vital);
                assert!((d.min..=d.max).contains(&value), "{vital:?} = {value}");
            }
            let v = patient.vitals();
            assert!(v.get(Vital::DiastolicBp) <= v.get(Vital::SystolicBp) - MIN_PULSE_PRESSURE + 1e-9);
        }
    }

    #[test]
    fn standard_normal_has_unit_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 50_000;
        let draws: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / f64::from(n);
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(n);
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0).abs() < 0.03, "{var}");
    }

    #[test]
    fn rounding_follows_display_precision() {
        let mut v = Physiology::new().state;
        v.set(Vital::HeartRate, 88.6);
        v.set(Vital::Temperature, 38.46);
        let r = v.rounded();
        assert_eq!(r.get(Vital::HeartRate), 89.0);
        assert_eq!(r.get(Vital::Temperature), 38.5);
    }
}
