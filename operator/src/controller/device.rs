//! The MonitoredDevice controller: the twin's Deployment, its quarantine NetworkPolicy while
//! isolated, and the device's status.
//!
//! A reconcile is a pipeline: [`read`] the device's ward and its Deployment's pods from the
//! caches, [`decide`] (pure) the objects, status and Events, apply, prune, write the status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use wardwatch_crds::device::DevicePhase;
use wardwatch_crds::{MonitoredDevice, MonitoredDeviceStatus, Ward};

use super::context::Context;
use super::steps::{self, Note};
use crate::cache::{Lookup, Pods};
use crate::desired;
use crate::error::Result;
use crate::names;
use crate::policies;
use crate::status::{ConditionState, conditions, now};

/// How soon a device whose ward is missing is looked at again (the ward's creation wakes it too).
const MISSING_WARD_RETRY: Duration = Duration::from_secs(30);

/// The condition that says whether the API server admits the twin's pods.
pub const PODS_ADMITTED: &str = "PodsAdmitted";
/// Its reason while a pod is refused (for example by PodSecurity admission).
pub const POD_REFUSED: &str = "PodRefused";
const NETWORK_SCENARIO: &str = "NetworkScenarioRunnable";

/// What a device's reconcile reads.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub ward: Option<Arc<Ward>>,
    /// The Deployment's pods, once a watch has seen it.
    pub pods: Option<Pods>,
}

/// What a device's reconcile does.
pub type Plan = steps::Plan<MonitoredDeviceStatus>;

/// The device's ward (from the wards' cache) and its Deployment's pods (from the Deployments').
pub async fn read(device: &MonitoredDevice, namespace: &str, ctx: &Context) -> Observed {
    // Until the wards' first list, every ward would look missing (and each device say so).
    ctx.wards_listed().await;
    let ward = ctx.wards.get(&ObjectRef::new(&device.spec.ward).within(namespace));
    let resource = ApiResource::erase::<Deployment>(&());
    let pods = match ctx.applier.children.get(&resource, namespace, &names::device_deployment(device)) {
        Lookup::Present(live) => live.pods.clone(),
        Lookup::Absent | Lookup::Unknown => None,
    };
    Observed { ward, pods }
}

/// The objects, status and Events for `device` given what was read (pure).
pub fn decide(device: &MonitoredDevice, observed: &Observed, now: Time) -> Plan {
    let previous = device.status.clone().unwrap_or_default();
    let Some(ward) = &observed.ward else { return ward_missing(device, &previous, now) };
    let generation = device.meta().generation;
    let quarantine_reason = policies::quarantine_reason(device);
    let pods = observed.pods.clone().unwrap_or_default();
    let phase = match (&quarantine_reason, pods.ready > 0) {
        (Some(_), _) => DevicePhase::Quarantined,
        (None, true) => DevicePhase::Running,
        (None, false) => DevicePhase::Pending,
    };
    let states = [
        ConditionState::new("WardFound", true, "WardFound", format!("member of Ward {}", ward.name_any())),
        ready_state(device, phase, &pods),
        pods_admitted_state(device, &pods),
        network_scenario_state(device),
        quarantined_state(quarantine_reason.as_deref()),
    ];
    let status = MonitoredDeviceStatus {
        observed_generation: generation,
        phase: Some(phase),
        deployment: Some(names::device_deployment(device)),
        quarantined: quarantine_reason.is_some(),
        quarantine_reason,
        conditions: conditions(&states, &previous.conditions, generation, now),
    };
    Plan {
        objects: desired::device_objects(ward, device),
        prune: vec![ApiResource::erase::<Deployment>(&()), ApiResource::erase::<NetworkPolicy>(&())],
        notes: transition_notes(&previous, &status, &states),
        status,
        requeue: None,
    }
}

/// A device whose ward does not exist: phase Failed, nothing applied or pruned, looked at again
/// after [`MISSING_WARD_RETRY`].
fn ward_missing(device: &MonitoredDevice, previous: &MonitoredDeviceStatus, now: Time) -> Plan {
    let generation = device.meta().generation;
    let message = format!(
        "Ward {}/{} does not exist; nothing runs for this device until it does",
        device.namespace().unwrap_or_default(),
        device.spec.ward
    );
    let states = [
        ConditionState::new("Ready", false, "WardNotFound", message.clone()),
        ConditionState::new("WardFound", false, "WardNotFound", message.clone()),
    ];
    let status = MonitoredDeviceStatus {
        observed_generation: generation,
        phase: Some(DevicePhase::Failed),
        conditions: conditions(&states, &previous.conditions, generation, now),
        ..previous.clone()
    };
    let notes = if &status != previous { vec![Note::warning("WardNotFound", message)] } else { Vec::new() };
    Plan { objects: Vec::new(), prune: Vec::new(), status, notes, requeue: Some(MISSING_WARD_RETRY) }
}

/// Warning Events for what just went wrong: a quarantine that began, a network scenario or a
/// pod refused that was not refused before.
fn transition_notes(
    previous: &MonitoredDeviceStatus,
    status: &MonitoredDeviceStatus,
    states: &[ConditionState],
) -> Vec<Note> {
    let mut notes = Vec::new();
    if let Some(reason) = &status.quarantine_reason
        && !previous.quarantined
    {
        notes.push(Note::warning("Quarantined", reason.clone()));
    }
    for state in states.iter().filter(|s| !s.ok && [NETWORK_SCENARIO, PODS_ADMITTED].contains(&s.type_)) {
        if !previous.conditions.iter().any(|c| c.type_ == state.type_ && c.status == "False") {
            let reason = if state.type_ == NETWORK_SCENARIO { "NetworkScenarioRefused" } else { state.reason };
            notes.push(Note::warning(reason, state.message.clone()));
        }
    }
    notes
}

fn quarantined_state(reason: Option<&str>) -> ConditionState {
    ConditionState::new(
        "Quarantined",
        reason.is_some(),
        if reason.is_some() { "Isolated" } else { "NotIsolated" },
        reason.unwrap_or("the device may use the ward's network"),
    )
}

fn ready_state(device: &MonitoredDevice, phase: DevicePhase, pods: &Pods) -> ConditionState {
    let running = phase == DevicePhase::Running;
    let reason = match (running, &pods.refusal) {
        (true, _) => "TwinRunning",
        (false, Some(_)) => POD_REFUSED,
        (false, None) => "TwinNotReady",
    };
    ConditionState::new(
        "Ready",
        running,
        reason,
        format!("Deployment {} has {} ready replica(s)", names::device_deployment(device), pods.ready),
    )
}

/// Whether the API server creates the twin's pods. A refusal (the Deployment's `ReplicaFailure`
/// condition: PodSecurity admission, a quota) otherwise shows only on the ReplicaSet.
fn pods_admitted_state(device: &MonitoredDevice, pods: &Pods) -> ConditionState {
    match &pods.refusal {
        Some(message) => ConditionState::new(PODS_ADMITTED, false, POD_REFUSED, message.clone()),
        None => ConditionState::new(
            PODS_ADMITTED,
            true,
            "NoRefusal",
            format!("no pod of Deployment {} was refused", names::device_deployment(device)),
        ),
    }
}

/// Whether the twin can play the device's network scenario where it runs. Frame-forging
/// scenarios are refused by the twin in a pod (they run only in a test's own network
/// namespace), so the container exits with that error; the condition says so up front.
fn network_scenario_state(device: &MonitoredDevice) -> ConditionState {
    let scenario = device.spec.network.scenario;
    let name = serde_json::to_value(scenario).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    if scenario.needs_test_namespace() {
        ConditionState::new(
            NETWORK_SCENARIO,
            false,
            "NeedsTestNamespace",
            format!(
                "spec.network.scenario {name} forges frames; the twin plays it only inside a network namespace a \
                 test made and refuses in a pod, so its simulator container exits with that error"
            ),
        )
    } else {
        ConditionState::new(NETWORK_SCENARIO, true, "Runnable", format!("the twin plays network scenario {name}"))
    }
}

pub async fn reconcile(device: Arc<MonitoredDevice>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(<MonitoredDevice as steps::Reconciled>::CONTROLLER);
    let namespace = steps::namespace(device.as_ref())?;
    let plan = decide(&device, &read(&device, &namespace, &ctx).await, now());
    steps::carry_out(&ctx, device.as_ref(), plan).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{device as fixture_device, icu_ward, monitor};
    use wardwatch_crds::MonitoredDeviceSpec;

    fn device(network: &str) -> MonitoredDevice {
        let spec: MonitoredDeviceSpec =
            serde_yaml::from_str(&format!("ward: icu-east\ntype: Workstation\nnetwork: {network}\n")).unwrap();
        MonitoredDevice::new("ws", spec)
    }

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn with_ward(pods: Option<Pods>) -> Observed {
        Observed { ward: Some(Arc::new(icu_ward())), pods }
    }

    fn condition<'a>(
        status: &'a MonitoredDeviceStatus,
        type_: &str,
    ) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("condition {type_}"))
    }

    #[test]
    fn frame_forging_scenarios_are_flagged_before_the_pod_fails() {
        for scenario in ["syn-flood", "arp-spoof"] {
            let state = network_scenario_state(&device(&format!("{{scenario: {scenario}, target: 10.0.0.1}}")));
            assert!(!state.ok, "{scenario}");
            assert_eq!(state.reason, "NeedsTestNamespace");
            assert!(state.message.contains(scenario), "{}", state.message);
        }
        for scenario in ["normal", "port-scan", "exfiltration", "beaconing", "external-contact"] {
            let state = network_scenario_state(&device(&format!("{{scenario: {scenario}, target: 10.0.0.1}}")));
            assert!(state.ok, "{scenario}");
        }
        let plan = decide(&device("{scenario: syn-flood, target: 10.0.0.1}"), &with_ward(None), at(100));
        let reasons: Vec<&str> = plan.notes.iter().map(|n| n.reason).collect();
        assert_eq!(reasons, ["NetworkScenarioRefused"]);
    }

    #[test]
    fn a_refused_pod_is_a_false_pods_admitted_condition_with_the_refusal_and_an_event_once() {
        let refusal = "pods \"bed-01-twin-5d8f\" is forbidden: violates PodSecurity \"restricted:latest\": \
                       unrestricted capabilities (container \"exporter\" must not include \"NET_ADMIN\")";
        let mut device = monitor("bed-01");
        let plan = decide(&device, &with_ward(Some(Pods { ready: 0, refusal: Some(refusal.into()) })), at(100));
        let admitted = condition(&plan.status, PODS_ADMITTED);
        assert_eq!((admitted.status.as_str(), admitted.reason.as_str()), ("False", POD_REFUSED));
        assert_eq!(admitted.message, refusal);
        assert_eq!(plan.status.phase, Some(DevicePhase::Pending));
        assert_eq!(condition(&plan.status, "Ready").status, "False");
        assert_eq!(condition(&plan.status, "Ready").reason, POD_REFUSED);
        assert!(plan.notes.iter().any(|n| n.reason == POD_REFUSED && n.message == refusal), "{:?}", plan.notes);

        // The same refusal again: same status (transition time kept), no second Event.
        device.status = Some(plan.status.clone());
        let again = decide(&device, &with_ward(Some(Pods { ready: 0, refusal: Some(refusal.into()) })), at(200));
        assert_eq!(again.status, plan.status);
        assert!(again.notes.is_empty(), "{:?}", again.notes);

        // Admitted and running.
        let running = decide(&device, &with_ward(Some(Pods { ready: 1, refusal: None })), at(300));
        assert_eq!(condition(&running.status, PODS_ADMITTED).status, "True");
        assert_eq!(running.status.phase, Some(DevicePhase::Running));
    }

    #[test]
    fn a_device_without_its_ward_fails_applies_nothing_prunes_nothing_and_says_so_once() {
        let mut device = monitor("bed-01");
        let plan = decide(&device, &Observed::default(), at(100));
        assert!(plan.objects.is_empty() && plan.prune.is_empty());
        assert_eq!(plan.status.phase, Some(DevicePhase::Failed));
        assert_eq!(condition(&plan.status, "WardFound").reason, "WardNotFound");
        assert_eq!(plan.notes.len(), 1);
        assert_eq!(plan.requeue, Some(MISSING_WARD_RETRY));
        device.status = Some(plan.status);
        assert!(decide(&device, &Observed::default(), at(200)).notes.is_empty());
    }

    #[test]
    fn quarantine_adds_the_policy_sets_the_phase_and_notes_it_once() {
        let mut device = fixture_device(
            "bed-02",
            "ward: icu-east\ntype: InfusionPump\npatient: {id: MRN-2, bed: ICU-02}\nquarantine: true\n",
        );
        let plan = decide(&device, &with_ward(Some(Pods { ready: 1, refusal: None })), at(100));
        assert_eq!(plan.status.phase, Some(DevicePhase::Quarantined));
        assert!(plan.objects.iter().any(|o| o.kind() == "NetworkPolicy"));
        assert!(plan.prune.iter().any(|r| r.kind == "NetworkPolicy"), "released later by pruning");
        assert!(plan.notes.iter().any(|n| n.reason == "Quarantined"));
        device.status = Some(plan.status);
        assert!(decide(&device, &with_ward(Some(Pods { ready: 1, refusal: None })), at(200)).notes.is_empty());
        device.spec.quarantine = false;
        let released = decide(&device, &with_ward(Some(Pods { ready: 1, refusal: None })), at(300));
        assert!(released.objects.iter().all(|o| o.kind() != "NetworkPolicy"));
        assert_eq!(released.status.phase, Some(DevicePhase::Running));
    }
}
