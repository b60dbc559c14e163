//! The Ward controller: the ward's own objects, and its status (devices ready/total, quarantined).
//!
//! A reconcile: [`read`] the ward's devices from the cache and whether prometheus-operator's
//! CRDs are served, [`decide`] (pure), apply, prune, write the status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ApiResource;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use wardwatch_crds::device::DevicePhase;
use wardwatch_crds::{MonitoredDevice, Ward, WardStatus};

use super::context::Context;
use super::steps::{self, Note};
use crate::desired::monitoring_kinds;
use crate::desired::{self, Owned};
use crate::error::Result;
use crate::policies;
use crate::quarantine::QuarantineWebhook;
use crate::status::{ConditionState, conditions, now};

/// How soon a ward is looked at again while prometheus-operator's CRDs are missing.
pub const MONITORING_RETRY: Duration = Duration::from_secs(10);

const MISSING: &str =
    "prometheus-operator's CRDs (monitoring.coreos.com) are not installed; rules, scraping and routing wait for them";

/// What a ward's reconcile reads.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub devices: Vec<Arc<MonitoredDevice>>,
    /// Whether prometheus-operator's CRDs are served.
    pub monitoring: bool,
}

/// What a ward's reconcile does.
pub type Plan = steps::Plan<WardStatus>;

pub async fn read(ward: &Ward, namespace: &str, ctx: &Context) -> Observed {
    // Until the devices' first list, the ward would count too few.
    ctx.devices_listed().await;
    let devices = ctx
        .devices
        .state()
        .into_iter()
        .filter(|d| d.namespace().as_deref() == Some(namespace) && d.spec.ward == ward.name_any())
        .collect();
    Observed { devices, monitoring: ctx.monitoring_available().await }
}

/// The kinds a ward owns that Kubernetes itself serves.
fn core_kinds() -> Vec<ApiResource> {
    vec![
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<ConfigMap>(&()),
    ]
}

/// The ward's objects, status and Events (pure); `ward` as the builders see it, with the
/// operator's default monitoring labels ([`desired::with_default_monitoring_labels`]). Its
/// baseline NetworkPolicy leaves out the devices isolated now. Without prometheus-operator's
/// CRDs its kinds are neither applied nor pruned.
pub fn decide(ward: &Ward, observed: &Observed, webhook: Option<&QuarantineWebhook>, now: Time) -> Plan {
    let monitoring = observed.monitoring;
    let quarantined = policies::quarantined_devices(ward, observed.devices.iter().map(AsRef::as_ref));
    let objects: Vec<Owned> = desired::ward_objects_with_webhook(ward, webhook, &quarantined)
        .into_iter()
        .filter(|object| monitoring || !object.is_monitoring())
        .collect();
    let mut prune = core_kinds();
    if monitoring {
        prune.extend(monitoring_kinds().into_iter().filter(|r| r.kind != "ScrapeConfig"));
    }
    let previous = ward.status.clone().unwrap_or_default();
    let mut notes = Vec::new();
    if !monitoring && previous.conditions.iter().all(|c| c.reason != "PrometheusOperatorMissing") {
        notes.push(Note::warning("PrometheusOperatorMissing", MISSING));
    }
    // Without the CRDs, look again soon: their installation wakes nobody.
    let requeue = (!monitoring).then_some(MONITORING_RETRY);
    Plan { objects, prune, status: status(ward, &previous, observed, now), notes, requeue }
}

/// Devices ready and total, the quarantined ones, and whether rules and routing are synced.
fn status(ward: &Ward, previous: &WardStatus, observed: &Observed, now: Time) -> WardStatus {
    let devices = &observed.devices;
    let ready =
        devices.iter().filter(|d| d.status.as_ref().and_then(|s| s.phase) == Some(DevicePhase::Running)).count() as u32;
    let mut quarantined: Vec<String> =
        devices.iter().filter(|d| d.status.as_ref().is_some_and(|s| s.quarantined)).map(|d| d.name_any()).collect();
    quarantined.sort();
    let generation = ward.meta().generation;
    WardStatus {
        observed_generation: generation,
        conditions: conditions(&states(observed.monitoring), &previous.conditions, generation, now),
        devices: Some(format!("{ready}/{}", devices.len())),
        devices_ready: ready,
        devices_total: devices.len() as u32,
        quarantined_count: quarantined.len() as u32,
        quarantined_devices: quarantined,
    }
}

fn states(monitoring: bool) -> [ConditionState; 3] {
    let synced = |type_: &'static str, what: &str| {
        ConditionState::new(
            type_,
            monitoring,
            if monitoring { "Applied" } else { "PrometheusOperatorMissing" },
            if monitoring { format!("{what} applied") } else { MISSING.to_owned() },
        )
    };
    [
        ConditionState::new(
            "Ready",
            monitoring,
            if monitoring { "Reconciled" } else { "PrometheusOperatorMissing" },
            if monitoring { "every object of the ward is applied" } else { MISSING },
        ),
        synced("RulesSynced", "PrometheusRule and PodMonitor"),
        synced("RoutingSynced", "AlertmanagerConfig"),
    ]
}

pub async fn reconcile(ward: Arc<Ward>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(<Ward as steps::Reconciled>::CONTROLLER);
    let namespace = steps::namespace(ward.as_ref())?;
    let observed = read(&ward, &namespace, &ctx).await;
    let effective = desired::with_default_monitoring_labels(&ward, &ctx.settings.monitoring_labels);
    let plan = decide(&effective, &observed, ctx.settings.quarantine_webhook.as_ref(), now());
    steps::carry_out(&ctx, ward.as_ref(), plan).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{icu_ward, monitor};
    use wardwatch_crds::MonitoredDeviceStatus;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn device(name: &str, phase: DevicePhase, quarantined: bool) -> Arc<MonitoredDevice> {
        let mut device = monitor(name);
        device.status = Some(MonitoredDeviceStatus { phase: Some(phase), quarantined, ..Default::default() });
        Arc::new(device)
    }

    #[test]
    fn the_status_counts_ready_and_quarantined_devices() {
        let observed = Observed {
            devices: vec![
                device("b", DevicePhase::Running, false),
                device("c", DevicePhase::Quarantined, true),
                device("a", DevicePhase::Pending, false),
            ],
            monitoring: true,
        };
        let plan = decide(&icu_ward(), &observed, None, at(100));
        assert_eq!(plan.status.devices.as_deref(), Some("1/3"));
        assert_eq!(plan.status.quarantined_devices, ["c"]);
        assert!(plan.status.conditions.iter().all(|c| c.status == "True"));
        assert!(plan.notes.is_empty());
        assert!(plan.objects.iter().any(|o| o.kind() == "PrometheusRule"));
        assert!(plan.prune.iter().any(|r| r.kind == "AlertmanagerConfig"));
    }

    /// The device store decides who the baseline NetworkPolicy selects: a device isolated by
    /// hand is left out of it, the others stay in.
    #[test]
    fn the_baseline_policy_leaves_out_the_devices_isolated_now() {
        let mut isolated = monitor("bed-01");
        isolated.spec.quarantine = true;
        let observed = Observed {
            devices: vec![Arc::new(isolated), device("bed-02", DevicePhase::Running, false)],
            monitoring: true,
        };
        let plan = decide(&icu_ward(), &observed, None, at(100));
        let baseline = plan.objects.iter().find(|o| o.kind() == "NetworkPolicy").expect("the baseline").to_value();
        assert_eq!(
            baseline["spec"]["podSelector"]["matchExpressions"],
            serde_json::json!([{"key": "wardwatch.io/device", "operator": "NotIn", "values": ["bed-01"]}])
        );
        let nobody = Observed { devices: vec![device("bed-02", DevicePhase::Running, false)], monitoring: true };
        let plan = decide(&icu_ward(), &nobody, None, at(100));
        let baseline = plan.objects.iter().find(|o| o.kind() == "NetworkPolicy").unwrap().to_value();
        assert_eq!(baseline["spec"]["podSelector"]["matchExpressions"], serde_json::json!([]), "a list, empty");
    }

    #[test]
    fn without_prometheus_operator_its_kinds_are_left_alone_and_the_status_says_why_once() {
        let mut ward = icu_ward();
        let plan = decide(&ward, &Observed::default(), None, at(100));
        assert!(plan.objects.iter().all(|o| !o.is_monitoring()), "nothing of monitoring.coreos.com is applied");
        assert!(plan.prune.iter().all(|r| r.group != "monitoring.coreos.com"), "nor pruned");
        assert!(plan.objects.iter().any(|o| o.kind() == "Deployment"), "workloads go ahead");
        let rules = plan.status.conditions.iter().find(|c| c.type_ == "RulesSynced").unwrap();
        assert_eq!(rules.reason, "PrometheusOperatorMissing");
        assert_eq!(plan.notes.len(), 1);
        assert_eq!(plan.requeue, Some(MONITORING_RETRY), "the CRDs' installation is noticed soon");
        ward.status = Some(plan.status);
        assert!(decide(&ward, &Observed::default(), None, at(200)).notes.is_empty());
    }
}
