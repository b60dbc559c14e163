//! The steps every controller shares: naming the object, writing its status, publishing what
//! happened, and handling a failed reconcile.

use std::sync::Arc;
use std::time::Duration;

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
async fn write_status<K: Reconciled>(ctx: &Context, object: &K, status: &K::Status) -> Result<bool, Error> {
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
async fn publish<K: Reconciled>(ctx: &Context, object: &K, notes: Vec<Note>) {
    for note in notes {
        ctx.event(object, note.type_, note.reason, note.message).await;
    }
}

/// What one reconcile decided (pure); [`carry_out`] does it.
#[derive(Debug)]
pub struct Plan<S> {
    pub objects: Vec<Owned>,
    /// The kinds `objects` is complete for: owned objects of these kinds beyond them go.
    pub prune: Vec<ApiResource>,
    pub status: S,
    pub notes: Vec<Note>,
    /// Look again after this at the latest (else after the resync interval).
    pub requeue: Option<Duration>,
}

/// Apply, prune, write the status, publish the Events; then the object's backoff is forgotten
/// and it is looked at again after the plan's requeue or the resync interval, whichever is first.
pub async fn carry_out<K: Reconciled>(ctx: &Context, object: &K, plan: Plan<K::Status>) -> Result<Action, Error> {
    let applied = apply_all(ctx, object, &plan.objects).await?;
    finish(ctx, object, plan, applied).await
}

/// What [`carry_out`] does once every object is applied (`applied`: the ones written).
pub async fn finish<K: Reconciled>(
    ctx: &Context,
    object: &K,
    plan: Plan<K::Status>,
    applied: Vec<String>,
) -> Result<Action, Error> {
    let removed = prune(ctx, object, &plan.prune, &plan.objects).await?;
    write_status(ctx, object, &plan.status).await?;
    let mut notes = plan.notes;
    notes.extend(Note::applied(&applied, &removed));
    publish(ctx, object, notes).await;
    ctx.succeeded(&names::object_key(object, &()));
    let resync = ctx.settings.resync;
    Ok(Action::requeue(plan.requeue.map_or(resync, |after| after.min(resync))))
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

/// Applies every one of `objects`, going on past a refused one; returns each one's outcome.
/// For owners whose objects stand alone (a federation's members), so that one refused object
/// neither hides the others' state nor holds them back.
pub async fn apply_each<K: Reconciled>(ctx: &Context, owner: &K, objects: &[Owned]) -> Vec<Result<Outcome, Error>> {
    let failing = failing(owner);
    let mut outcomes = Vec::with_capacity(objects.len());
    for object in objects {
        outcomes.push(ctx.applier.apply(object).await.map_err(failing.at(Step::Apply)));
    }
    outcomes
}

/// After a partly refused apply: writes the status that says so and publishes the notes, but
/// neither prunes (what is refused now may be what exists) nor forgets the backoff; the
/// caller returns the error, so the object is retried with backoff.
pub async fn record_partial<K: Reconciled>(ctx: &Context, object: &K, plan: Plan<K::Status>) -> Result<(), Error> {
    write_status(ctx, object, &plan.status).await?;
    publish(ctx, object, plan.notes).await;
    Ok(())
}

/// Applies `objects` in order; returns the ones written, as `Kind/namespace/name`.
async fn apply_all<K: Reconciled>(ctx: &Context, owner: &K, objects: &[Owned]) -> Result<Vec<String>, Error> {
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
async fn prune<K: Reconciled>(
    ctx: &Context,
    owner: &K,
    kinds: &[ApiResource],
    desired: &[Owned],
) -> Result<Vec<String>, Error> {
    let Some(uid) = owner.meta().uid.as_deref() else { return Ok(Vec::new()) };
    ctx.applier.prune(uid, kinds, desired).await.map_err(failing(owner).at(Step::Prune))
}
