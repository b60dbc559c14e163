//! The Ward controller: the ward's own objects, and its status (devices ready/total, quarantined).

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use wardwatch_crds::device::DevicePhase;
use wardwatch_crds::{Ward, WardStatus};

use super::context::Context;
use crate::apply::Outcome;
use crate::desired;
use crate::error::{Error, Result};
use crate::names::FIELD_MANAGER;
use crate::status::{ConditionState, conditions, now};
use kube::runtime::events::EventType;

pub const CONTROLLER: &str = "ward";

fn is_monitoring(object: &serde_json::Value) -> bool {
    object["apiVersion"].as_str().is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

pub async fn reconcile(ward: Arc<Ward>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let namespace = ward.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let monitoring = ctx.monitoring_available().await;
    let ward = Arc::new(desired::with_default_monitoring_labels(&ward, &ctx.settings.monitoring_labels));

    let mut applied = Vec::new();
    for object in desired::ward_objects_with_webhook(&ward, ctx.settings.quarantine_webhook.as_ref()) {
        if is_monitoring(&object) && !monitoring {
            continue;
        }
        if ctx.applier.apply(&object).await?.0 == Outcome::Applied {
            applied.push(desired::object_ref(&object));
        }
    }

    let devices: Vec<_> = ctx
        .devices
        .state()
        .into_iter()
        .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()) && d.spec.ward == ward.name_any())
        .collect();
    let ready =
        devices.iter().filter(|d| d.status.as_ref().and_then(|s| s.phase) == Some(DevicePhase::Running)).count() as u32;
    let mut quarantined: Vec<String> =
        devices.iter().filter(|d| d.status.as_ref().is_some_and(|s| s.quarantined)).map(|d| d.name_any()).collect();
    quarantined.sort();

    let previous = ward.status.clone().unwrap_or_default();
    let missing = "prometheus-operator's CRDs (monitoring.coreos.com) are not installed; rules, scraping and routing wait for them";
    let states = [
        ConditionState::new(
            "Ready",
            monitoring,
            if monitoring { "Reconciled" } else { "PrometheusOperatorMissing" },
            if monitoring { "every object of the ward is applied".to_owned() } else { missing.to_owned() },
        ),
        ConditionState::new(
            "RulesSynced",
            monitoring,
            if monitoring { "Applied" } else { "PrometheusOperatorMissing" },
            if monitoring { "PrometheusRule and PodMonitor applied" } else { missing },
        ),
        ConditionState::new(
            "RoutingSynced",
            monitoring,
            if monitoring { "Applied" } else { "PrometheusOperatorMissing" },
            if monitoring { "AlertmanagerConfig applied" } else { missing },
        ),
    ];
    let status = WardStatus {
        observed_generation: ward.meta().generation,
        conditions: conditions(&states, &previous.conditions, ward.meta().generation, now()),
        devices: Some(format!("{ready}/{}", devices.len())),
        devices_ready: ready,
        devices_total: devices.len() as u32,
        quarantined_count: quarantined.len() as u32,
        quarantined_devices: quarantined,
    };
    if ward.status.as_ref() != Some(&status) {
        let api: Api<Ward> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward", "status": status});
        api.patch_status(&ward.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
        if !monitoring && previous.conditions.iter().all(|c| c.reason != "PrometheusOperatorMissing") {
            ctx.event(ward.as_ref(), EventType::Warning, "PrometheusOperatorMissing", missing.to_owned()).await;
        }
    }
    if !applied.is_empty() {
        ctx.event(ward.as_ref(), EventType::Normal, "Applied", format!("applied {}", applied.join(", "))).await;
    }
    ctx.succeeded(&format!("ward/{namespace}/{}", ward.name_any()));
    Ok(Action::requeue(ctx.settings.resync))
}

pub fn error_policy(ward: Arc<Ward>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.with_label_values(&[CONTROLLER, error.metric_label()]).inc();
    tracing::warn!(ward = %ward.name_any(), %error, "ward reconcile failed");
    Action::requeue(ctx.backoff(format!("ward/{}/{}", ward.namespace().unwrap_or_default(), ward.name_any())))
}
