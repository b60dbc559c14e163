//! What a capture shows, decided before any frame is made: each device's type, its patient's
//! timeline, and the attacks with their device, target and time window. Pure and deterministic
//! for the seed.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::ward;
use crate::device_type::DeviceType;
use crate::network_scenario::NetworkScenario;
use crate::scenario::{Episode, Scenario, Timeline};
use crate::traffic::Window;

/// The `--scenario` of a capture: a clinical scenario every patient plays, a network scenario
/// one device plays, `mixed-attacks`: devices of every type with every network scenario at
/// seeded random times, or `ward`: devices of every type, no attack, each patient with a
/// clinical scenario of its own (see [`ward`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureScenario {
    Clinical(Scenario),
    Network(NetworkScenario),
    MixedAttacks,
    Ward,
}

pub const MIXED_ATTACKS: &str = "mixed-attacks";
pub const WARD: &str = "ward";

impl CaptureScenario {
    pub fn name(self) -> &'static str {
        match self {
            CaptureScenario::Clinical(scenario) => scenario.name(),
            CaptureScenario::Network(scenario) => scenario.name(),
            CaptureScenario::MixedAttacks => MIXED_ATTACKS,
            CaptureScenario::Ward => WARD,
        }
    }

    /// The clinical scenario every patient plays (stable unless a clinical one was asked for;
    /// `ward` gives each patient its own instead).
    pub fn clinical(self) -> Scenario {
        match self {
            CaptureScenario::Clinical(scenario) => scenario,
            _ => Scenario::Stable,
        }
    }
}

impl fmt::Display for CaptureScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CaptureScenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            MIXED_ATTACKS => return Ok(CaptureScenario::MixedAttacks),
            WARD => return Ok(CaptureScenario::Ward),
            _ => {}
        }
        if let Ok(clinical) = s.parse::<Scenario>() {
            return Ok(CaptureScenario::Clinical(clinical));
        }
        if let Ok(network) = s.parse::<NetworkScenario>() {
            return Ok(CaptureScenario::Network(network));
        }
        let mut names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
        names.extend(NetworkScenario::ALL.iter().map(|s| s.name()));
        names.extend([MIXED_ATTACKS, WARD]);
        Err(format!("unknown scenario {s:?}; expected one of {}", names.join(", ")))
    }
}

impl Serialize for CaptureScenario {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// What the plan needs to know of the capture.
#[derive(Clone, Debug)]
pub struct PlanConfig {
    pub scenario: CaptureScenario,
    pub devices: u32,
    pub duration_s: f64,
    /// Every device's type, if fixed; otherwise bedside monitors, or every type in turn for
    /// `mixed-attacks` and `ward`.
    pub device_type: Option<DeviceType>,
    /// The episode every patient plays (its scenario stable unless a clinical capture), or for
    /// `ward` the shape of each patient's own. Its onset is also when a single network
    /// scenario's attack starts.
    pub episode: Episode,
    pub attack_duration_s: f64,
    pub start_unix_s: u64,
    pub seed: u64,
}

/// An attack before addresses are attached: scenario, attacking device, window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedAttack {
    pub scenario: NetworkScenario,
    pub device: u32,
    pub window: Window,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub device_types: Vec<DeviceType>,
    /// Each device's patient's episodes, in device order.
    pub timelines: Vec<Timeline>,
    pub attacks: Vec<PlannedAttack>,
}

/// Separates the plan's random stream from the patients' for the same seed.
const PLAN_STREAM: u64 = 0x91a4_0000_a77a_c4e5;

pub fn plan(config: &PlanConfig) -> Result<Plan> {
    let device_types: Vec<DeviceType> = (0..config.devices)
        .map(|i| match (config.device_type, config.scenario) {
            (Some(fixed), _) => fixed,
            (None, CaptureScenario::MixedAttacks | CaptureScenario::Ward) => {
                DeviceType::ALL[i as usize % DeviceType::ALL.len()]
            }
            (None, _) => DeviceType::BedsideMonitor,
        })
        .collect();
    let timelines = match config.scenario {
        CaptureScenario::Ward => ward::timelines(&device_types, config.episode, config.duration_s, config.seed),
        _ => vec![Timeline::of(config.episode); device_types.len()],
    };
    let start_us = config.start_unix_s * 1_000_000;
    let capture_end_us = start_us + (config.duration_s * 1e6) as u64;
    let length_us = (config.attack_duration_s * 1e6) as u64;
    let attacks = match config.scenario {
        CaptureScenario::Clinical(_) | CaptureScenario::Network(NetworkScenario::Normal) | CaptureScenario::Ward => {
            Vec::new()
        }
        CaptureScenario::Network(scenario) => {
            let onset_s = config.episode.onset_s;
            if onset_s >= config.duration_s {
                bail!(
                    "the {scenario} attack would start at {onset_s} s (--onset), after the capture's {} s (--duration)",
                    config.duration_s
                );
            }
            let from = start_us + (onset_s * 1e6) as u64;
            // The first device is the compromised one.
            vec![PlannedAttack {
                scenario,
                device: 0,
                window: Window { start_us: from, end_us: (from + length_us).min(capture_end_us) },
            }]
        }
        CaptureScenario::MixedAttacks => {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ PLAN_STREAM);
            let mut order: Vec<u32> = (0..config.devices).collect();
            order.shuffle(&mut rng);
            let latest_start_us = (capture_end_us - start_us).saturating_sub(length_us);
            NetworkScenario::ATTACKS
                .iter()
                .enumerate()
                .map(|(i, &scenario)| {
                    let from = start_us + rng.random_range(0..=latest_start_us);
                    PlannedAttack {
                        scenario,
                        device: order[i % order.len()],
                        window: Window { start_us: from, end_us: (from + length_us).min(capture_end_us) },
                    }
                })
                .collect()
        }
    };
    Ok(Plan { device_types, timelines, attacks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scenario: &str, devices: u32) -> PlanConfig {
        let scenario: CaptureScenario = scenario.parse().unwrap();
        PlanConfig {
            scenario,
            devices,
            duration_s: 300.0,
            device_type: None,
            episode: Episode { onset_s: 60.0, ramp_s: 30.0, ..Episode::new(scenario.clinical()) },
            attack_duration_s: 30.0,
            start_unix_s: 1_000,
            seed: 4,
        }
    }

    #[test]
    fn scenario_names_cover_clinical_network_and_mixed() {
        for name in ["hypoxia", "port-scan", "normal", "mixed-attacks", "ward"] {
            assert_eq!(name.parse::<CaptureScenario>().unwrap().name(), name);
        }
        let err = "ddos".parse::<CaptureScenario>().unwrap_err();
        assert!(err.contains("sepsis") && err.contains("syn-flood") && err.contains("mixed-attacks"), "{err}");
        assert!(err.contains("ward"), "{err}");
    }

    #[test]
    fn one_network_scenario_is_played_by_the_first_device_from_the_onset() {
        let plan = plan(&config("syn-flood", 3)).unwrap();
        assert_eq!(plan.device_types, [DeviceType::BedsideMonitor; 3]);
        let window = Window { start_us: 1_060_000_000, end_us: 1_090_000_000 };
        assert_eq!(plan.attacks, [PlannedAttack { scenario: NetworkScenario::SynFlood, device: 0, window }]);
        let mut late = config("syn-flood", 3);
        late.episode.onset_s = 300.0;
        assert!(super::plan(&late).unwrap_err().to_string().contains("--onset"));
        assert!(super::plan(&config("sepsis", 3)).unwrap().attacks.is_empty());
    }

    #[test]
    fn outside_the_ward_every_patient_plays_the_captures_episode() {
        for name in ["sepsis", "stable", "syn-flood", "mixed-attacks"] {
            let config = config(name, 14);
            assert_eq!(plan(&config).unwrap().timelines, vec![Timeline::of(config.episode); 14], "{name}");
        }
    }

    #[test]
    fn a_ward_has_every_type_no_attack_and_an_episode_of_its_own_for_one_patient_in_four() {
        let plan = plan(&config("ward", 56)).unwrap();
        assert_eq!(plan, super::plan(&config("ward", 56)).unwrap());
        for device_type in DeviceType::ALL {
            assert_eq!(plan.device_types.iter().filter(|t| **t == device_type).count(), 8, "{device_type}");
        }
        assert!(plan.attacks.is_empty());
        let (hl7, others): (Vec<_>, Vec<_>) =
            plan.device_types.iter().zip(&plan.timelines).partition(|(device_type, _)| device_type.sends_hl7());
        assert!(others.iter().all(|(_, timeline)| timeline.episodes.is_empty()), "no patient, no episode");
        let scenarios: Vec<Scenario> = hl7
            .iter()
            .map(|(_, timeline)| timeline.episodes.first().map_or(Scenario::Stable, |e| e.scenario))
            .collect();
        assert_eq!(scenarios.len(), 40);
        assert_eq!(scenarios.iter().filter(|s| **s == Scenario::Stable).count(), 30, "three in four");
        for scenario in Scenario::ALL {
            assert!(scenarios.contains(&scenario), "{scenario}");
        }
        let mut fixed = config("ward", 8);
        fixed.device_type = Some(DeviceType::Ventilator);
        let fixed = super::plan(&fixed).unwrap();
        assert_eq!(fixed.device_types, [DeviceType::Ventilator; 8]);
        assert_eq!(fixed.timelines.iter().filter(|t| !t.episodes.is_empty()).count(), 2);
    }

    #[test]
    fn mixed_attacks_mix_every_type_and_scenario_inside_the_capture_deterministically() {
        let plan = plan(&config("mixed-attacks", 14)).unwrap();
        assert_eq!(plan, super::plan(&config("mixed-attacks", 14)).unwrap());
        for device_type in DeviceType::ALL {
            assert_eq!(plan.device_types.iter().filter(|t| **t == device_type).count(), 2);
        }
        let scenarios: Vec<_> = plan.attacks.iter().map(|a| a.scenario).collect();
        assert_eq!(scenarios, NetworkScenario::ATTACKS);
        let devices: std::collections::BTreeSet<_> = plan.attacks.iter().map(|a| a.device).collect();
        assert_eq!(devices.len(), 6, "six attackers among fourteen devices");
        assert!(plan.attacks.iter().all(|a| a.window.start_us >= 1_000_000_000 && a.window.end_us <= 1_300_000_000));
        let mut other = config("mixed-attacks", 14);
        other.seed = 5;
        assert_ne!(super::plan(&other).unwrap().attacks, plan.attacks);
    }
}
