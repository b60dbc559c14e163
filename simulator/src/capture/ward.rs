//! The patients of the `ward` capture: a ward at steady state, where most patients stay stable
//! and a few go through an episode of their own, each starting at its own time. Pure and
//! deterministic for the seed.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::device_seed;
use crate::device_type::DeviceType;
use crate::scenario::{Episode, Scenario, Timeline};

/// One HL7 patient in this many has an episode; the others stay stable.
const ONE_EPISODE_IN: usize = 4;
/// Separates the onset delays' random stream from the device's other streams.
const ONSET_STREAM: u64 = 0x0e5e_0000_0000_0003;

/// Each device's patient's timeline, in device order. The HL7 devices' patients are numbered
/// in device order and play [`scenario_of`] their number with the episode's `shape`, starting
/// [`onset_delay_s`] after its onset; the other devices have no patient and so no episode.
pub fn timelines(device_types: &[DeviceType], shape: Episode, duration_s: f64, seed: u64) -> Vec<Timeline> {
    let mut patient = 0;
    (0u32..)
        .zip(device_types)
        .map(|(index, device_type)| {
            if !device_type.sends_hl7() {
                return Timeline::default();
            }
            let scenario = scenario_of(patient);
            patient += 1;
            let onset_s = shape.onset_s + onset_delay_s(device_seed(seed, index), &shape, duration_s);
            Timeline::of(Episode { scenario, onset_s, ..shape })
        })
        .collect()
}

/// The clinical scenario of the ward's `patient`-th HL7 patient (0-based): three in four are
/// stable; every fourth plays the next of the other scenarios (`Scenario::ALL` without stable),
/// in turn.
pub fn scenario_of(patient: usize) -> Scenario {
    if patient % ONE_EPISODE_IN != ONE_EPISODE_IN - 1 {
        return Scenario::Stable;
    }
    let mut others = Scenario::ALL.into_iter().filter(|s| *s != Scenario::Stable);
    let turn = (patient / ONE_EPISODE_IN) % (Scenario::ALL.len() - 1);
    others.nth(turn).expect("the turn is below the number of other scenarios")
}

/// How long after `--onset` a device's episode starts, so that the ward's episodes overlap
/// without all starting in the same second: whole seconds drawn from the device's seed, below
/// the episode's length (onset to end of recovery) and below what is left of the capture after
/// the onset. Every episode so starts inside the capture (when the onset does), though late
/// ones may not finish there; a ward at steady state is caught mid-course.
fn onset_delay_s(device_seed: u64, shape: &Episode, duration_s: f64) -> f64 {
    let spread_s = (shape.end_s() - shape.onset_s).min(duration_s - shape.onset_s).floor();
    if spread_s.is_nan() || spread_s < 1.0 {
        return 0.0;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(device_seed ^ ONSET_STREAM);
    rng.random_range(0..spread_s as u64) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Episode {
        Episode { scenario: Scenario::Stable, onset_s: 60.0, ramp_s: 120.0, plateau_s: 300.0, recovery_s: 120.0 }
    }

    #[test]
    fn three_patients_in_four_are_stable_and_the_rest_take_every_other_scenario_in_turn() {
        let scenarios: Vec<_> = (0..48).map(scenario_of).collect();
        assert_eq!(scenarios.iter().filter(|s| **s == Scenario::Stable).count(), 36);
        let unstable: Vec<_> = scenarios.into_iter().filter(|s| *s != Scenario::Stable).collect();
        assert_eq!(unstable[..6], Scenario::ALL[1..]);
        assert_eq!(unstable[6..], Scenario::ALL[1..]);
    }

    #[test]
    fn only_hl7_devices_have_episodes_and_they_take_the_shape_at_staggered_onsets() {
        let types = [DeviceType::BedsideMonitor, DeviceType::Workstation].repeat(40);
        let timelines = timelines(&types, shape(), 600.0, 7);
        assert_eq!(timelines, super::timelines(&types, shape(), 600.0, 7));
        assert!(timelines.iter().skip(1).step_by(2).all(|t| t.episodes.is_empty()), "workstations");
        let episodes: Vec<_> = timelines.iter().flat_map(|t| &t.episodes).collect();
        assert_eq!(episodes.len(), 10, "one monitor in four of forty");
        for episode in &episodes {
            assert!((60.0..600.0).contains(&episode.onset_s), "{episode:?}");
            assert_eq!(episode.onset_s.fract(), 0.0);
            assert_eq!((episode.ramp_s, episode.plateau_s, episode.recovery_s), (120.0, 300.0, 120.0));
        }
        let onsets: std::collections::BTreeSet<_> = episodes.iter().map(|e| e.onset_s as u64).collect();
        assert!(onsets.len() > 5, "staggered: {onsets:?}");
        assert_ne!(timelines, super::timelines(&types, shape(), 600.0, 8), "the seed moves the onsets");
    }

    #[test]
    fn no_room_left_means_no_delay() {
        let types = [DeviceType::BedsideMonitor; 4];
        let onsets = |duration_s| timelines(&types, shape(), duration_s, 7)[3].episodes[0].onset_s;
        assert_eq!(onsets(60.5), 60.0);
        assert_eq!(onsets(30.0), 60.0, "an onset after the capture stays where --onset puts it");
        let instant = Episode { ramp_s: 0.0, plateau_s: 0.0, recovery_s: 0.0, ..shape() };
        assert_eq!(timelines(&types, instant, 600.0, 7)[3].episodes[0].onset_s, 60.0);
    }
}
