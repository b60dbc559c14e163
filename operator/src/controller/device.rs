//! The MonitoredDevice controller: the twin's Deployment, its quarantine NetworkPolicy while
//! isolated, and the device's status.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use wardwatch_crds::device::DevicePhase;
use wardwatch_crds::{MonitoredDevice, MonitoredDeviceStatus, Ward};

use super::context::Context;
use crate::apply::Outcome;
use crate::error::{Error, Result};
use crate::names::{self, FIELD_MANAGER};
use crate::status::{ConditionState, conditions, now};
use crate::{desired, policies};
use kube::runtime::events::EventType;

pub const CONTROLLER: &str = "device";

/// How soon a device whose ward is missing is looked at again (the ward's creation wakes it too).
const MISSING_WARD_RETRY: Duration = Duration::from_secs(30);

async fn write_status(ctx: &Context, device: &MonitoredDevice, status: MonitoredDeviceStatus) -> Result<bool> {
    if device.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let api: Api<MonitoredDevice> = Api::namespaced(ctx.client.clone(), &device.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice", "status": status});
    api.patch_status(&device.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(true)
}

pub async fn reconcile(device: Arc<MonitoredDevice>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let namespace = device.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let key = format!("device/{namespace}/{}", device.name_any());
    let previous = device.status.clone().unwrap_or_default();
    let generation = device.meta().generation;

    let wards: Api<Ward> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(ward) = wards.get_opt(&device.spec.ward).await? else {
        let message =
            format!("Ward {namespace}/{} does not exist; nothing runs for this device until it does", device.spec.ward);
        let states = [
            ConditionState::new("Ready", false, "WardNotFound", message.clone()),
            ConditionState::new("WardFound", false, "WardNotFound", message.clone()),
        ];
        let status = MonitoredDeviceStatus {
            observed_generation: generation,
            phase: Some(DevicePhase::Failed),
            conditions: conditions(&states, &previous.conditions, generation, now()),
            ..previous.clone()
        };
        if write_status(&ctx, &device, status).await? {
            ctx.event(device.as_ref(), EventType::Warning, "WardNotFound", message).await;
        }
        ctx.succeeded(&key);
        return Ok(Action::requeue(MISSING_WARD_RETRY));
    };

    let mut applied = Vec::new();
    let mut ready_replicas = 0;
    for object in desired::device_objects(&ward, &device) {
        let (outcome, live) = ctx.applier.apply(&object).await?;
        if outcome == Outcome::Applied {
            applied.push(desired::object_ref(&object));
        }
        if object["kind"] == "Deployment" {
            ready_replicas = live.data["status"]["readyReplicas"].as_i64().unwrap_or(0);
        }
    }
    let quarantine_reason = policies::quarantine_reason(&device);
    if quarantine_reason.is_none() {
        let policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": namespace, "name": names::device_quarantine_policy(&device)}});
        if ctx.applier.delete_if_present(&policy).await? {
            applied.push(format!("released {}", desired::object_ref(&policy)));
        }
    }

    let phase = match (&quarantine_reason, ready_replicas > 0) {
        (Some(_), _) => DevicePhase::Quarantined,
        (None, true) => DevicePhase::Running,
        (None, false) => DevicePhase::Pending,
    };
    let states = [
        ConditionState::new("WardFound", true, "WardFound", format!("member of Ward {}", ward.name_any())),
        ConditionState::new(
            "Ready",
            phase == DevicePhase::Running,
            if phase == DevicePhase::Running { "TwinRunning" } else { "TwinNotReady" },
            format!("Deployment {} has {ready_replicas} ready replica(s)", names::device_deployment(&device)),
        ),
        network_scenario_state(&device),
        ConditionState::new(
            "Quarantined",
            quarantine_reason.is_some(),
            if quarantine_reason.is_some() { "Isolated" } else { "NotIsolated" },
            quarantine_reason.clone().unwrap_or_else(|| "the device may use the ward's network".to_owned()),
        ),
    ];
    let status = MonitoredDeviceStatus {
        observed_generation: generation,
        phase: Some(phase),
        deployment: Some(names::device_deployment(&device)),
        quarantined: quarantine_reason.is_some(),
        quarantine_reason: quarantine_reason.clone(),
        conditions: conditions(&states, &previous.conditions, generation, now()),
    };
    let scenario_refused = states.iter().any(|s| s.type_ == NETWORK_SCENARIO && !s.ok);
    let was_refused = previous.conditions.iter().any(|c| c.type_ == NETWORK_SCENARIO && c.status == "False");
    let became_quarantined = quarantine_reason.is_some() && !previous.quarantined;
    write_status(&ctx, &device, status).await?;
    if became_quarantined {
        ctx.event(device.as_ref(), EventType::Warning, "Quarantined", quarantine_reason.unwrap_or_default()).await;
    }
    if scenario_refused && !was_refused {
        let message = network_scenario_state(&device).message;
        ctx.event(device.as_ref(), EventType::Warning, "NetworkScenarioRefused", message).await;
    }
    if !applied.is_empty() {
        ctx.event(device.as_ref(), EventType::Normal, "Applied", applied.join(", ")).await;
    }
    ctx.succeeded(&key);
    Ok(Action::requeue(ctx.settings.resync))
}

const NETWORK_SCENARIO: &str = "NetworkScenarioRunnable";

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

pub fn error_policy(device: Arc<MonitoredDevice>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.with_label_values(&[CONTROLLER, error.metric_label()]).inc();
    tracing::warn!(device = %device.name_any(), %error, "device reconcile failed");
    Action::requeue(ctx.backoff(format!("device/{}/{}", device.namespace().unwrap_or_default(), device.name_any())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_crds::MonitoredDeviceSpec;

    fn device(network: &str) -> MonitoredDevice {
        let spec: MonitoredDeviceSpec =
            serde_yaml::from_str(&format!("ward: icu-east\ntype: Workstation\nnetwork: {network}\n")).unwrap();
        MonitoredDevice::new("ws", spec)
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
    }
}
