//! The HospitalFederation controller: one ScrapeConfig per member hospital, pruned when a
//! member leaves, the central `HospitalUnreachable` alerts, and the federation's status.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::ApiResource;
use kube::runtime::controller::Action;
use wardwatch_crds::HospitalFederation;
use wardwatch_crds::federation::{FederationMemberStatus, HospitalFederationStatus};

use super::context::Context;
use super::steps;
use super::ward::MONITORING_RETRY;
use crate::apply::Outcome;
use crate::desired::{self, Owned};
use crate::error::Result;
use crate::federation::scrape_config_name;
use crate::monitoring::{PrometheusRule, ScrapeConfig};
use crate::status::{ConditionState, conditions, now};

/// What a federation's reconcile does.
pub type Plan = steps::Plan<HospitalFederationStatus>;

/// The federation's ScrapeConfigs, PrometheusRule and status (pure); `monitoring` is whether
/// prometheus-operator's CRDs are served; `labels` the operator's default monitoring labels.
pub fn decide(federation: &HospitalFederation, monitoring: bool, labels: &BTreeMap<String, String>, now: Time) -> Plan {
    let members = federation.spec.members.len();
    let states = [ConditionState::new(
        "Ready",
        monitoring,
        if monitoring { "Reconciled" } else { "PrometheusOperatorMissing" },
        if monitoring {
            format!("{members} member hospital(s) federated")
        } else {
            "prometheus-operator's CRDs (monitoring.coreos.com) are not installed".to_owned()
        },
    )];
    let previous = federation.status.clone().unwrap_or_default();
    let generation = federation.meta().generation;
    let status = HospitalFederationStatus {
        observed_generation: generation,
        members: members as u32,
        conditions: conditions(&states, &previous.conditions, generation, now),
        // The members' states need the apply's outcome: see `member_statuses`.
        ..HospitalFederationStatus::default()
    };
    let (objects, prune) = if monitoring {
        let kinds = vec![ApiResource::erase::<ScrapeConfig>(&()), ApiResource::erase::<PrometheusRule>(&())];
        (desired::federation_objects(federation, labels), kinds)
    } else {
        (Vec::new(), Vec::new())
    };
    // Without the CRDs, look again soon: their installation wakes nobody.
    let requeue = (!monitoring).then_some(MONITORING_RETRY);
    Plan { objects, prune, status, notes: Vec::new(), requeue }
}

/// Each member's state after the apply: `refusals[i]` is the API server's answer when it refused
/// `objects[i]` (pure). A member whose ScrapeConfig is not among the objects (the CRDs are not
/// installed) is not synced; `synced` keeps its transition time while it does not change.
pub fn member_statuses(
    federation: &HospitalFederation,
    objects: &[Owned],
    refusals: &[Option<String>],
    now: &Time,
) -> Vec<FederationMemberStatus> {
    let previous = federation.status.as_ref().map(|s| s.member_statuses.as_slice()).unwrap_or_default();
    federation
        .spec
        .members
        .iter()
        .map(|member| {
            let name = scrape_config_name(federation, member);
            let position =
                objects.iter().position(|object| matches!(object, Owned::ScrapeConfig(_)) && object.name() == name);
            let last_error = match position {
                Some(i) => refusals.get(i).cloned().flatten(),
                None => Some("not written: prometheus-operator's ScrapeConfig CRD is not installed".to_owned()),
            };
            let synced = last_error.is_none();
            let last_transition_time = previous
                .iter()
                .find(|p| p.hospital_id == member.hospital_id && p.synced == synced)
                .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
            FederationMemberStatus {
                hospital_id: member.hospital_id.clone(),
                scrape_config: name,
                synced,
                last_error,
                last_transition_time,
            }
        })
        .collect()
}

/// The plan's status with the members' states and a Ready condition that names the refused ones.
fn with_members(
    federation: &HospitalFederation,
    mut plan: Plan,
    members: Vec<FederationMemberStatus>,
    now: Time,
) -> Plan {
    let refused: Vec<&str> = members.iter().filter(|m| !m.synced).map(|m| m.hospital_id.as_str()).collect();
    let status = &mut plan.status;
    status.synced_members = (members.len() - refused.len()) as u32;
    if !refused.is_empty() && status.conditions.iter().all(|c| c.status == "True") {
        let state = ConditionState::new(
            "Ready",
            false,
            "MembersNotSynced",
            format!("the API server refused the ScrapeConfig of {}: see status.memberStatuses", refused.join(", ")),
        );
        let previous = federation.status.clone().unwrap_or_default();
        status.conditions = conditions(&[state], &previous.conditions, status.observed_generation, now);
        plan.notes.push(steps::Note::warning("MembersNotSynced", status.conditions[0].message.clone()));
    }
    status.member_statuses = members;
    plan
}

pub async fn reconcile(federation: Arc<HospitalFederation>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(<HospitalFederation as steps::Reconciled>::CONTROLLER);
    steps::namespace(federation.as_ref())?;
    let now = now();
    let plan = decide(&federation, ctx.monitoring_available().await, &ctx.settings.monitoring_labels, now.clone());
    // Members stand alone: one refused ScrapeConfig must not keep the others from being written.
    let mut outcomes = steps::apply_each(&ctx, federation.as_ref(), &plan.objects).await;
    let refusals: Vec<Option<String>> =
        outcomes.iter().map(|outcome| outcome.as_ref().err().map(|error| error.cause.to_string())).collect();
    let members = member_statuses(&federation, &plan.objects, &refusals, &now);
    let applied: Vec<String> = plan
        .objects
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| matches!(outcome, Ok(Outcome::Applied)))
        .map(|(object, _)| object.key())
        .collect();
    let plan = with_members(&federation, plan, members, now);
    match outcomes.iter().position(Result::is_err) {
        None => steps::finish(&ctx, federation.as_ref(), plan, applied).await,
        Some(first) => {
            steps::record_partial(&ctx, federation.as_ref(), plan).await?;
            Err(outcomes.swap_remove(first).unwrap_err())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_crds::HospitalFederationSpec;

    fn federation() -> HospitalFederation {
        let spec: HospitalFederationSpec = serde_yaml::from_str(
            "members:\n- {hospitalId: st-mary, prometheusUrl: 'https://prom.st-mary.example:9090'}\n\
             - {hospitalId: general, prometheusUrl: 'http://prom.general.example'}\n",
        )
        .unwrap();
        let mut federation = HospitalFederation::new("north", spec);
        federation.metadata.namespace = Some("central".into());
        federation
    }

    #[test]
    fn one_scrape_config_per_member_and_scrape_configs_pruned_only_with_prometheus_operator() {
        let at = Time(k8s_openapi::jiff::Timestamp::from_second(100).unwrap());
        let labels = BTreeMap::from([("release".to_owned(), "kube-prometheus-stack".to_owned())]);
        let plan = decide(&federation(), true, &labels, at.clone());
        let names: Vec<(String, &str)> = plan.objects.iter().map(|o| (o.kind(), o.name())).collect();
        assert_eq!(
            names,
            [
                ("ScrapeConfig".to_owned(), "north-st-mary"),
                ("ScrapeConfig".to_owned(), "north-general"),
                ("PrometheusRule".to_owned(), "north")
            ]
        );
        assert_eq!(plan.prune.len(), 2);
        assert_eq!(plan.status.members, 2);
        let without = decide(&federation(), false, &labels, at);
        assert!(without.objects.is_empty() && without.prune.is_empty());
        assert_eq!(without.status.conditions[0].reason, "PrometheusOperatorMissing");
    }

    #[test]
    fn a_refused_member_is_named_and_the_others_stay_synced() {
        let [first, later] = [100, 200].map(|s| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap()));
        let labels = BTreeMap::new();
        let mut federation = federation();
        let plan = decide(&federation, true, &labels, first.clone());
        let refusals = [None, Some("admission webhook denied the request".to_owned()), None];
        let members = member_statuses(&federation, &plan.objects, &refusals, &first);
        assert_eq!(members.iter().map(|m| m.synced).collect::<Vec<_>>(), [true, false]);
        assert_eq!(members[1].scrape_config, "north-general");
        assert_eq!(members[1].last_error.as_deref(), Some("admission webhook denied the request"));
        let plan = with_members(&federation, plan, members, first.clone());
        assert_eq!(plan.status.synced_members, 1);
        assert_eq!(plan.status.conditions[0].reason, "MembersNotSynced");
        assert!(plan.status.conditions[0].message.contains("general"), "{}", plan.status.conditions[0].message);
        assert_eq!(plan.notes.len(), 1);

        // Accepted later: synced again, with a new transition time; st-mary keeps its own.
        federation.status = Some(plan.status);
        let plan = decide(&federation, true, &labels, later.clone());
        let members = member_statuses(&federation, &plan.objects, &[None, None, None], &later);
        assert!(members.iter().all(|m| m.synced && m.last_error.is_none()));
        assert_eq!((&members[0].last_transition_time, &members[1].last_transition_time), (&first, &later));
        let plan = with_members(&federation, plan, members, later);
        assert_eq!((plan.status.synced_members, plan.status.conditions[0].reason.as_str()), (2, "Reconciled"));

        // Without prometheus-operator nothing is written, and every member says why.
        let plan = decide(&federation, false, &labels, first.clone());
        let members = member_statuses(&federation, &plan.objects, &[], &first);
        assert!(members.iter().all(|m| !m.synced && m.last_error.as_deref().unwrap().contains("not installed")));
    }
}
