//! The HospitalFederation controller: one ScrapeConfig per member hospital, pruned when a
//! member leaves, and the federation's status.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use wardwatch_crds::HospitalFederation;
use wardwatch_crds::federation::HospitalFederationStatus;

use super::context::Context;
use crate::apply::{Outcome, api_resource};
use crate::desired;
use crate::error::{Error, Result};
use crate::names::FIELD_MANAGER;
use crate::status::{ConditionState, conditions, now};
use kube::runtime::events::EventType;

pub const CONTROLLER: &str = "federation";

pub async fn reconcile(federation: Arc<HospitalFederation>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let namespace = federation.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let monitoring = ctx.monitoring_available().await;
    let mut applied = Vec::new();
    if monitoring {
        let objects = desired::federation_objects(&federation);
        let wanted: BTreeSet<String> =
            objects.iter().filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned)).collect();
        for object in &objects {
            if ctx.applier.apply(object).await?.0 == Outcome::Applied {
                applied.push(desired::object_ref(object));
            }
        }
        // Members removed from the spec lose their ScrapeConfig.
        let resource = api_resource("monitoring.coreos.com/v1alpha1", "ScrapeConfig").expect("a known kind");
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &namespace, &resource);
        let selector = format!("wardwatch.io/federation={}", federation.name_any());
        for stale in api.list(&ListParams::default().labels(&selector)).await?.items {
            let name = stale.name_any();
            if !wanted.contains(&name) {
                let reference = json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
                                       "metadata": {"namespace": namespace, "name": name}});
                if ctx.applier.delete_if_present(&reference).await? {
                    applied.push(format!("removed {}", desired::object_ref(&reference)));
                }
            }
        }
    }
    let states = [ConditionState::new(
        "Ready",
        monitoring,
        if monitoring { "Reconciled" } else { "PrometheusOperatorMissing" },
        if monitoring {
            format!("{} member hospital(s) federated", federation.spec.members.len())
        } else {
            "prometheus-operator's CRDs (monitoring.coreos.com) are not installed".to_owned()
        },
    )];
    let previous = federation.status.clone().unwrap_or_default();
    let generation = federation.meta().generation;
    let status = HospitalFederationStatus {
        observed_generation: generation,
        members: federation.spec.members.len() as u32,
        conditions: conditions(&states, &previous.conditions, generation, now()),
    };
    if federation.status.as_ref() != Some(&status) {
        let api: Api<HospitalFederation> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "HospitalFederation", "status": status});
        api.patch_status(&federation.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
            .await?;
    }
    if !applied.is_empty() {
        ctx.event(federation.as_ref(), EventType::Normal, "Applied", applied.join(", ")).await;
    }
    ctx.succeeded(&format!("federation/{namespace}/{}", federation.name_any()));
    Ok(Action::requeue(ctx.settings.resync))
}

pub fn error_policy(federation: Arc<HospitalFederation>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.with_label_values(&[CONTROLLER, error.metric_label()]).inc();
    tracing::warn!(federation = %federation.name_any(), %error, "federation reconcile failed");
    Action::requeue(ctx.backoff(format!(
        "federation/{}/{}",
        federation.namespace().unwrap_or_default(),
        federation.name_any()
    )))
}
