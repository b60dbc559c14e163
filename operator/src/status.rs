//! Conditions and status documents (pure): the new status keeps a condition's
//! lastTransitionTime while its status does not change, so an unchanged world writes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition as the reconciler sees it, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionState {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
}

impl ConditionState {
    pub fn new(type_: &'static str, ok: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Self { type_, ok, reason, message: message.into() }
    }
}

/// The time a condition changes, as the API writes it.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Conditions for `states`, reusing each previous lastTransitionTime when the status is unchanged.
pub fn conditions(
    states: &[ConditionState],
    previous: &[Condition],
    generation: Option<i64>,
    now: Time,
) -> Vec<Condition> {
    states
        .iter()
        .map(|state| {
            let status = if state.ok { "True" } else { "False" };
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == state.type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: state.type_.to_owned(),
                status: status.to_owned(),
                reason: state.reason.to_owned(),
                message: state.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn unchanged_status_keeps_its_transition_time() {
        let states = [ConditionState::new("Ready", true, "Reconciled", "ok")];
        let first = conditions(&states, &[], Some(1), at(100));
        let second = conditions(&states, &first, Some(1), at(200));
        assert_eq!(first, second);
        let flipped = conditions(&[ConditionState::new("Ready", false, "Failed", "no")], &second, Some(1), at(300));
        assert_eq!(flipped[0].last_transition_time, at(300));
    }
}
