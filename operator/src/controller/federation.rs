//! The HospitalFederation controller: one ScrapeConfig per member hospital, pruned when a
//! member leaves, the central `HospitalUnreachable` alerts, and the federation's status.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::ApiResource;
use kube::runtime::controller::Action;
use wardwatch_crds::HospitalFederation;
use wardwatch_crds::federation::HospitalFederationStatus;

use super::context::Context;
use super::steps;
use super::ward::MONITORING_RETRY;
use crate::desired;
use crate::error::Result;
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

pub async fn reconcile(federation: Arc<HospitalFederation>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(<HospitalFederation as steps::Reconciled>::CONTROLLER);
    steps::namespace(federation.as_ref())?;
    let plan = decide(&federation, ctx.monitoring_available().await, &ctx.settings.monitoring_labels, now());
    steps::carry_out(&ctx, federation.as_ref(), plan).await
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
}
