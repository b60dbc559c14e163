//! Clinical scenarios on a timeline. An episode has an onset, a ramp up to full severity, a
//! plateau and a recovery ramp back down; outside it the patient is stable. Physiological
//! scenarios become [`Insults`]; `disconnect` and `artefact` are about the device, not the
//! patient: the twin stops sending, or sends values the sensor got wrong.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::physiology::Insults;

/// The named scenarios a twin can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Stable,
    Hypoxia,
    Sepsis,
    Tachyarrhythmia,
    Hypotension,
    /// The device drops off the network during the episode.
    Disconnect,
    /// The sensor reports spurious values (motion, a loose probe) during the episode.
    Artefact,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Stable,
        Scenario::Hypoxia,
        Scenario::Sepsis,
        Scenario::Tachyarrhythmia,
        Scenario::Hypotension,
        Scenario::Disconnect,
        Scenario::Artefact,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Stable => "stable",
            Scenario::Hypoxia => "hypoxia",
            Scenario::Sepsis => "sepsis",
            Scenario::Tachyarrhythmia => "tachyarrhythmia",
            Scenario::Hypotension => "hypotension",
            Scenario::Disconnect => "disconnect",
            Scenario::Artefact => "artefact",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL.into_iter().find(|sc| sc.name() == s).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|sc| sc.name()).collect();
            format!("unknown scenario {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// One episode of a scenario, times in seconds from the start of the simulation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub scenario: Scenario,
    pub onset_s: f64,
    pub ramp_s: f64,
    pub plateau_s: f64,
    pub recovery_s: f64,
}

impl Episode {
    /// An episode with the default shape: onset after a minute, two minutes of ramp, five
    /// minutes of plateau, two minutes of recovery.
    pub fn new(scenario: Scenario) -> Self {
        Self { scenario, onset_s: 60.0, ramp_s: 120.0, plateau_s: 300.0, recovery_s: 120.0 }
    }

    /// When the plateau starts and ends.
    pub fn plateau(&self) -> (f64, f64) {
        let start = self.onset_s + self.ramp_s;
        (start, start + self.plateau_s)
    }

    /// When the episode is over.
    pub fn end_s(&self) -> f64 {
        self.plateau().1 + self.recovery_s
    }

    /// Severity in `0..=1` at time `t_s`.
    pub fn severity(&self, t_s: f64) -> f64 {
        let (plateau_start, plateau_end) = self.plateau();
        let ramp = |from: f64, length: f64| if length <= 0.0 { 1.0 } else { ((t_s - from) / length).clamp(0.0, 1.0) };
        if t_s < self.onset_s || t_s >= self.end_s() {
            0.0
        } else if t_s < plateau_start {
            ramp(self.onset_s, self.ramp_s)
        } else if t_s < plateau_end {
            1.0
        } else {
            1.0 - ramp(plateau_end, self.recovery_s)
        }
    }

    /// Whether `t_s` falls inside the episode (onset to end of recovery).
    pub fn is_active(&self, t_s: f64) -> bool {
        (self.onset_s..self.end_s()).contains(&t_s)
    }
}

/// What the patient and the device go through at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Condition {
    pub insults: Insults,
    /// The device is off the network.
    pub disconnected: bool,
    /// How likely a reading is corrupted by artefact, `0..=1`.
    pub artefact: f64,
}

/// The episodes a twin plays, possibly overlapping.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub episodes: Vec<Episode>,
}

impl Timeline {
    /// One episode of `scenario` with the default shape; `stable` has no episode at all.
    pub fn single(scenario: Scenario) -> Self {
        Self::of(Episode::new(scenario))
    }

    pub fn of(episode: Episode) -> Self {
        let episodes = if episode.scenario == Scenario::Stable { Vec::new() } else { vec![episode] };
        Self { episodes }
    }

    /// The condition at `t_s`; overlapping episodes of one kind take the higher severity.
    pub fn condition(&self, t_s: f64) -> Condition {
        let mut c = Condition::default();
        for episode in &self.episodes {
            let s = episode.severity(t_s);
            let slot = match episode.scenario {
                Scenario::Stable => continue,
                Scenario::Hypoxia => &mut c.insults.hypoxia,
                Scenario::Sepsis => &mut c.insults.sepsis,
                Scenario::Tachyarrhythmia => &mut c.insults.tachyarrhythmia,
                Scenario::Hypotension => &mut c.insults.hypotension,
                Scenario::Artefact => &mut c.artefact,
                Scenario::Disconnect => {
                    c.disconnected |= episode.is_active(t_s);
                    continue;
                }
            };
            *slot = slot.max(s);
        }
        c
    }

    /// The scenario in force at `t_s` for labelling: the first active episode, else stable.
    pub fn label(&self, t_s: f64) -> Scenario {
        self.episodes.iter().find(|e| e.is_active(t_s)).map_or(Scenario::Stable, |e| e.scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for scenario in Scenario::ALL {
            assert_eq!(scenario.name().parse::<Scenario>(), Ok(scenario));
        }
        let err = "asystole".parse::<Scenario>().unwrap_err();
        assert!(err.contains("hypoxia") && err.contains("asystole"), "{err}");
    }

    #[test]
    fn severity_follows_onset_ramp_plateau_recovery() {
        let e = Episode { scenario: Scenario::Hypoxia, onset_s: 10.0, ramp_s: 20.0, plateau_s: 30.0, recovery_s: 10.0 };
        let at = |t| e.severity(t);
        assert_eq!(at(0.0), 0.0);
        assert_eq!(at(9.9), 0.0);
        assert_eq!(at(10.0), 0.0);
        assert_eq!(at(20.0), 0.5);
        assert_eq!(at(30.0), 1.0);
        assert_eq!(at(59.9), 1.0);
        assert_eq!(at(65.0), 0.5);
        assert_eq!(at(70.0), 0.0);
        assert_eq!(at(1e6), 0.0);
        assert!(e.is_active(10.0) && e.is_active(69.9) && !e.is_active(70.0));
    }

    #[test]
    fn zero_length_ramps_jump() {
        let e = Episode { scenario: Scenario::Sepsis, onset_s: 5.0, ramp_s: 0.0, plateau_s: 5.0, recovery_s: 0.0 };
        assert_eq!(e.severity(5.0), 1.0);
        assert_eq!(e.severity(10.0), 0.0);
    }

    #[test]
    fn conditions_map_scenarios_to_patient_or_device() {
        let mut timeline = Timeline::single(Scenario::Disconnect);
        timeline.episodes.push(Episode::new(Scenario::Sepsis));
        timeline.episodes.push(Episode::new(Scenario::Artefact));
        let (mid, _) = timeline.episodes[0].plateau();
        let c = timeline.condition(mid);
        assert!(c.disconnected);
        assert_eq!(c.insults.sepsis, 1.0);
        assert_eq!(c.artefact, 1.0);
        assert_eq!(c.insults.hypoxia, 0.0);
        assert_eq!(timeline.condition(0.0), Condition::default());
        assert_eq!(timeline.label(mid), Scenario::Disconnect);
        assert_eq!(timeline.label(0.0), Scenario::Stable);
        assert!(Timeline::single(Scenario::Stable).episodes.is_empty());
    }
}
