//! A synthetic ECG after ECGSYN (P. E. McSharry, G. D. Clifford, L. Tarassenko, L. A. Smith,
//! "A dynamical model for generating synthetic electrocardiogram signals", IEEE Trans. Biomed.
//! Eng. 50(3), 2003). A point circles the unit limit cycle in the (x, y) plane at the heart's
//! angular velocity; as it passes the angles of the P, Q, R, S and T waves, Gaussian terms push
//! z, the ECG, up or down:
//!
//! ```text
//! dx/dt = a x - w y        a = 1 - sqrt(x^2 + y^2),  w = 2 pi / RR(t)
//! dy/dt = a y + w x        theta = atan2(y, x)
//! dz/dt = -sum_i a_i dtheta_i exp(-dtheta_i^2 / (2 b_i^2)) - (z - z0(t))
//! ```
//!
//! Here `RR(t)` follows the heart-rate vital (60 / HR, with a little respiratory sinus
//! arrhythmia), `z0` is a slow baseline wander at the breathing frequency, and the wave angles
//! and widths are scaled with the heart rate as in ECGSYN. The system is integrated with fourth
//! order Runge-Kutta at two steps per output sample, and the signal is scaled to millivolts.

use std::f64::consts::PI;

/// The sampling rate strips are made at.
pub const SAMPLE_RATE_HZ: u32 = 250;
/// Integration steps per output sample: 500 Hz for RK4 resolves an R wave ~20 ms wide at
/// 180/min (the tests hold the beat count at 45-180/min).
const SUBSTEPS: u32 = 2;

/// The five waves' angles (radians, at 60/min), amplitudes and widths, from the paper's Table 1.
const WAVES: [Wave; 5] = [
    Wave { theta: -PI / 3.0, a: 1.2, b: 0.25, scale: Scale::Quarter }, // P
    Wave { theta: -PI / 12.0, a: -5.0, b: 0.1, scale: Scale::Half },   // Q
    Wave { theta: 0.0, a: 30.0, b: 0.1, scale: Scale::Half },          // R
    Wave { theta: PI / 12.0, a: -7.5, b: 0.1, scale: Scale::Half },    // S
    Wave { theta: PI / 2.0, a: 0.75, b: 0.4, scale: Scale::Quarter },  // T
];

/// How a wave's angle moves with the heart rate: ECGSYN scales the angles by `sqrt(hr/60)`
/// (Q, R, S) or its square root (P, T), so that the QT interval shortens as the rate rises.
#[derive(Clone, Copy, Debug)]
enum Scale {
    Half,
    Quarter,
}

#[derive(Clone, Copy, Debug)]
struct Wave {
    theta: f64,
    a: f64,
    b: f64,
    scale: Scale,
}

/// Baseline wander: amplitude (model units) and breathing frequency.
const WANDER_AMPLITUDE: f64 = 0.005;
const BREATHING_HZ: f64 = 0.25;
/// Respiratory sinus arrhythmia: the RR interval swings this share either way with breathing.
const RSA: f64 = 0.02;
/// Millivolts per model unit: puts the R wave near 1.2 mV, as on a lead II monitor trace.
const MILLIVOLTS_PER_UNIT: f64 = 30.0;

/// The ODE's state: a point on the limit cycle and the ECG value.
#[derive(Clone, Copy, Debug)]
struct State {
    x: f64,
    y: f64,
    z: f64,
}

/// The right-hand side at time `t` with heart rate `bpm`.
fn derivative(s: State, t: f64, bpm: f64) -> State {
    let rr = 60.0 / bpm * (1.0 + RSA * (2.0 * PI * BREATHING_HZ * t).sin());
    let omega = 2.0 * PI / rr;
    let alpha = 1.0 - (s.x * s.x + s.y * s.y).sqrt();
    let theta = s.y.atan2(s.x);
    let rate_factor = (bpm / 60.0).sqrt();
    let mut dz = 0.0;
    for wave in WAVES {
        let angle = match wave.scale {
            Scale::Half => wave.theta * rate_factor,
            Scale::Quarter => wave.theta * rate_factor.sqrt(),
        };
        let width = wave.b * rate_factor;
        // The angle difference, wrapped into [-pi, pi).
        let d = (theta - angle + PI).rem_euclid(2.0 * PI) - PI;
        // Beyond seven widths the term is below 1e-10 of its peak: skip the exponential.
        if d.abs() < 7.0 * width {
            dz -= wave.a * d * (-d * d / (2.0 * width * width)).exp();
        }
    }
    let baseline = WANDER_AMPLITUDE * (2.0 * PI * BREATHING_HZ * t).sin();
    State { x: alpha * s.x - omega * s.y, y: alpha * s.y + omega * s.x, z: dz - (s.z - baseline) }
}

fn rk4(s: State, t: f64, h: f64, bpm: f64) -> State {
    let add = |s: State, k: State, f: f64| State { x: s.x + f * k.x, y: s.y + f * k.y, z: s.z + f * k.z };
    let k1 = derivative(s, t, bpm);
    let k2 = derivative(add(s, k1, h / 2.0), t + h / 2.0, bpm);
    let k3 = derivative(add(s, k2, h / 2.0), t + h / 2.0, bpm);
    let k4 = derivative(add(s, k3, h), t + h, bpm);
    State {
        x: s.x + h / 6.0 * (k1.x + 2.0 * k2.x + 2.0 * k3.x + k4.x),
        y: s.y + h / 6.0 * (k1.y + 2.0 * k2.y + 2.0 * k3.y + k4.y),
        z: s.z + h / 6.0 * (k1.z + 2.0 * k2.z + 2.0 * k3.z + k4.z),
    }
}

/// A continuing ECG: successive strips join without a seam.
#[derive(Clone, Debug)]
pub struct EcgGenerator {
    state: State,
    t_s: f64,
}

impl Default for EcgGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl EcgGenerator {
    /// Starts on the limit cycle half a beat before an R wave, at baseline.
    pub fn new() -> Self {
        Self { state: State { x: -1.0, y: 0.0, z: 0.0 }, t_s: 0.0 }
    }

    /// The next `seconds` of ECG in millivolts at `SAMPLE_RATE_HZ`, the heart rate given per
    /// sample time (seconds since this generator started) in beats per minute.
    pub fn strip(&mut self, seconds: f64, heart_rate_bpm: impl Fn(f64) -> f64) -> Vec<f64> {
        let samples = (seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize;
        let h = 1.0 / f64::from(SAMPLE_RATE_HZ * SUBSTEPS);
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            for _ in 0..SUBSTEPS {
                let bpm = heart_rate_bpm(self.t_s).clamp(20.0, 300.0);
                self.state = rk4(self.state, self.t_s, h, bpm);
                self.t_s += h;
            }
            out.push(self.state.z * MILLIVOLTS_PER_UNIT);
        }
        out
    }
}

/// R waves in `signal` (millivolts at `SAMPLE_RATE_HZ`): local maxima above 60 % of the
/// strip's highest value, at least 200 ms apart (the refractory period). Sample indices.
pub fn r_peaks(signal: &[f64]) -> Vec<usize> {
    let highest = signal.iter().copied().fold(f64::MIN, f64::max);
    let threshold = 0.6 * highest;
    let refractory = (0.2 * f64::from(SAMPLE_RATE_HZ)) as usize;
    let mut peaks: Vec<usize> = Vec::new();
    for i in 1..signal.len().saturating_sub(1) {
        let v = signal[i];
        if v < threshold || v < signal[i - 1] || v < signal[i + 1] {
            continue;
        }
        match peaks.last() {
            Some(&last) if i - last < refractory => {
                if v > signal[last] {
                    *peaks.last_mut().expect("not empty") = i;
                }
            }
            _ => peaks.push(i),
        }
    }
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = SAMPLE_RATE_HZ as f64;

    fn beats_per_minute(signal: &[f64]) -> f64 {
        r_peaks(signal).len() as f64 * 60.0 / (signal.len() as f64 / FS)
    }

    #[test]
    fn r_peaks_per_minute_follow_a_steady_heart_rate() {
        for bpm in [45.0, 72.0, 110.0, 160.0, 180.0] {
            let signal = EcgGenerator::new().strip(60.0, |_| bpm);
            let counted = beats_per_minute(&signal);
            assert!((counted - bpm).abs() <= 2.0, "{bpm}/min gave {counted} R peaks a minute");
        }
    }

    #[test]
    fn rr_intervals_follow_a_changing_heart_rate() {
        // 60/min for half a minute, then 120/min: the beats in each half follow.
        let mut generator = EcgGenerator::new();
        let signal = generator.strip(60.0, |t| if t < 30.0 { 60.0 } else { 120.0 });
        let peaks = r_peaks(&signal);
        let in_half = |from: f64, to: f64| peaks.iter().filter(|&&p| (from..to).contains(&(p as f64 / FS))).count();
        assert!((28..=31).contains(&in_half(0.0, 30.0)), "{}", in_half(0.0, 30.0));
        assert!((57..=61).contains(&in_half(30.0, 60.0)), "{}", in_half(30.0, 60.0));
        // Strips continue one another: the next second picks up where the last one ended.
        let next = generator.strip(1.0, |_| 120.0);
        assert!((next[0] - signal[signal.len() - 1]).abs() < 0.2, "a seam between strips");
    }

    #[test]
    fn the_r_wave_is_the_largest_deflection_with_p_before_and_t_after() {
        let signal = EcgGenerator::new().strip(10.0, |_| 60.0);
        let peaks = r_peaks(&signal);
        assert!(peaks.len() >= 9);
        // Look at one beat in the middle, around its R peak.
        let r = peaks[4];
        let r_value = signal[r];
        let deepest = signal.iter().copied().fold(f64::MAX, f64::min);
        assert!(r_value > 0.8 && r_value < 2.0, "R is {r_value} mV");
        assert!(r_value > 2.0 * deepest.abs(), "R {r_value} against the deepest trough {deepest}");
        let window = |from_ms: i64, to_ms: i64| {
            let at = |ms: i64| (r as i64 + ms * SAMPLE_RATE_HZ as i64 / 1000) as usize;
            &signal[at(from_ms)..at(to_ms)]
        };
        let max = |s: &[f64]| s.iter().copied().fold(f64::MIN, f64::max);
        let min = |s: &[f64]| s.iter().copied().fold(f64::MAX, f64::min);
        let p = max(window(-300, -120));
        let t = max(window(150, 450));
        let q = min(window(-60, 0));
        let s = min(window(0, 60));
        assert!(p > 0.05 && p < r_value / 4.0, "P {p}");
        assert!(t > 0.1 && t < r_value / 2.0, "T {t}");
        assert!(q < 0.0 && s < 0.0, "Q {q}, S {s}: below baseline");
        assert!(s.abs() < r_value && q.abs() < r_value);
    }
}
