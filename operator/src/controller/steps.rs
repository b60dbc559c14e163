//! The steps every controller shares: naming the object, writing its status, publishing what
//! happened, and handling a failed reconcile.

use std::sync::Arc;

use kube::api::{Api, ApiResource, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;
use wardwatch_crds::federation::HospitalFederationStatus;
use wardwatch_crds::{HospitalFederation, MonitoredDevice, MonitoredDeviceStatus, Ward, WardStatus};

use super::context::Context;
use crate::apply::Outcome;
use crate::desired::Owned;
use crate::error::{Cause, Error, Failing, Step};
use crate::names::{self, FIELD_MANAGER};

/// A custom resource whose status the operator writes.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
    type Status: PartialEq + Serialize;
    /// The `controller` label of its metrics.
    const CONTROLLER: &'static str;
    fn status(&self) -> Option<&Self::Status>;
}

impl Reconciled for Ward {
    type Status = WardStatus;
    const CONTROLLER: &'static str = "ward";
    fn status(&self) -> Option<&WardStatus> {
        self.status.as_ref()
    }
}

impl Reconciled for MonitoredDevice {
    type Status = MonitoredDeviceStatus;
    const CONTROLLER: &'static str = "device";
    fn status(&self) -> Option<&MonitoredDeviceStatus> {
        self.status.as_ref()
    }
}

impl Reconciled for HospitalFederation {
    type Status = HospitalFederationStatus;
    const CONTROLLER: &'static str = "federation";
    fn status(&self) -> Option<&HospitalFederationStatus> {
        self.status.as_ref()
    }
}

/// The error builder for one reconcile of `object`.
pub fn failing<K: Reconciled>(object: &K) -> Failing {
    Failing { controller: K::CONTROLLER, object: names::object_key(object, &()) }
}

/// The object's namespace (every wardwatch kind is namespaced).
pub fn namespace<K: Reconciled>(object: &K) -> Result<String, Error> {
    object.namespace().ok_or_else(|| failing(object).at(Step::Read)(Cause::MissingField("metadata.namespace")))
}

/// Writes `status` with server-side apply unless the object already has it; returns whether
/// it wrote.
pub async fn write_status<K: Reconciled>(ctx: &Context, object: &K, status: &K::Status) -> Result<bool, Error> {
    if object.status() == Some(status) {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace(object)?);
    let patch = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(&object.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(failing(object).at(Step::Status))?;
    Ok(true)
}

/// An Event a reconcile decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Self { type_: EventType::Warning, reason, message: message.into() }
    }

    /// `Applied` with what was applied and removed, or nothing when nothing was written.
    pub fn applied(applied: &[String], removed: &[String]) -> Option<Self> {
        let mut parts = Vec::new();
        if !applied.is_empty() {
            parts.push(format!("applied {}", applied.join(", ")));
        }
        if !removed.is_empty() {
            parts.push(format!("removed {}", removed.join(", ")));
        }
        (!parts.is_empty()).then(|| Self { type_: EventType::Normal, reason: "Applied", message: parts.join("; ") })
    }
}

/// Publishes the notes as Events on `object`.
pub async fn publish<K: Reconciled>(ctx: &Context, object: &K, notes: Vec<Note>) {
    for note in notes {
        ctx.event(object, note.type_, note.reason, note.message).await;
    }
}

/// The end of a successful reconcile: its backoff is forgotten, and it looks again after `after`.
pub fn done<K: Reconciled>(ctx: &Context, object: &K, after: std::time::Duration) -> Action {
    ctx.succeeded(&names::object_key(object, &()));
    Action::requeue(after)
}

/// Every controller's error policy: count the error by controller, step and kind, log it, and
/// retry the object with exponential backoff.
pub fn error_policy<K: Reconciled>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[error.controller, error.step.as_str(), error.cause.metric_label()])
        .inc();
    tracing::warn!(%error, "reconcile failed");
    Action::requeue(ctx.backoff(names::object_key(object.as_ref(), &())))
}

/// Applies `objects` in order; returns the ones written, as `Kind/namespace/name`.
pub async fn apply_all<K: Reconciled>(ctx: &Context, owner: &K, objects: &[Owned]) -> Result<Vec<String>, Error> {
    let failing = failing(owner);
    let mut applied = Vec::new();
    for object in objects {
        if ctx.applier.apply(object).await.map_err(failing.at(Step::Apply))? == Outcome::Applied {
            applied.push(object.key());
        }
    }
    Ok(applied)
}

/// Deletes what `owner` controls of `kinds` beyond `desired`; returns what went.
pub async fn prune<K: Reconciled>(
    ctx: &Context,
    owner: &K,
    kinds: &[ApiResource],
    desired: &[Owned],
) -> Result<Vec<String>, Error> {
    let Some(uid) = owner.meta().uid.as_deref() else { return Ok(Vec::new()) };
    ctx.applier.prune(uid, kinds, desired).await.map_err(failing(owner).at(Step::Prune))
}
