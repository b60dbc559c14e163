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
    let mut twin = TwinPods::default();
    for object in desired::device_objects(&ward, &device) {
        let (outcome, live) = ctx.applier.apply(&object).await?;
        if outcome == Outcome::Applied {
            applied.push(desired::object_ref(&object));
        }
        if object["kind"] == "Deployment" {
            twin = TwinPods::from_deployment_status(&live.data["status"]);
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

    let phase = match (&quarantine_reason, twin.ready_replicas > 0) {
        (Some(_), _) => DevicePhase::Quarantined,
        (None, true) => DevicePhase::Running,
        (None, false) => DevicePhase::Pending,
    };
    let deployment = names::device_deployment(&device);
    let states = [
        ConditionState::new("WardFound", true, "WardFound", format!("member of Ward {}", ward.name_any())),
        twin.ready_state(&deployment, phase == DevicePhase::Running),
        twin.admitted_state(&deployment),
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
    let newly_refused =
        twin.refused.is_some() && !previous.conditions.iter().any(|c| c.type_ == PODS_ADMITTED && c.status == "False");
    write_status(&ctx, &device, status).await?;
    if let Some(refusal) = twin.refused.filter(|_| newly_refused) {
        ctx.event(device.as_ref(), EventType::Warning, POD_REFUSED, refusal).await;
    }
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

/// Whether the API server creates the twin's pods; False with [`POD_REFUSED`] when it refuses.
const PODS_ADMITTED: &str = "PodsAdmitted";
const POD_REFUSED: &str = "PodRefused";

/// What the twin's Deployment says about its pods.
#[derive(Debug, Default, PartialEq)]
struct TwinPods {
    ready_replicas: i64,
    /// Why the API server refused to create the pods (Pod Security admission, a quota), as the
    /// ReplicaSet controller reported it in the Deployment's `ReplicaFailure` condition.
    refused: Option<String>,
}

impl TwinPods {
    fn from_deployment_status(status: &serde_json::Value) -> Self {
        let refused = status["conditions"].as_array().into_iter().flatten().find_map(|condition| {
            (condition["type"] == "ReplicaFailure" && condition["status"] == "True")
                .then(|| condition["message"].as_str().unwrap_or("pods could not be created").to_owned())
        });
        Self { ready_replicas: status["readyReplicas"].as_i64().unwrap_or(0), refused }
    }

    fn ready_state(&self, deployment: &str, running: bool) -> ConditionState {
        let reason = match (running, &self.refused) {
            (true, _) => "TwinRunning",
            (false, Some(_)) => POD_REFUSED,
            (false, None) => "TwinNotReady",
        };
        let replicas = format!("Deployment {deployment} has {} ready replica(s)", self.ready_replicas);
        ConditionState::new("Ready", running, reason, replicas)
    }

    /// A refusal otherwise shows only on the ReplicaSet, where a ward's user rarely looks.
    fn admitted_state(&self, deployment: &str) -> ConditionState {
        match &self.refused {
            Some(refusal) => ConditionState::new(PODS_ADMITTED, false, POD_REFUSED, refusal.clone()),
            None => ConditionState::new(
                PODS_ADMITTED,
                true,
                "NoRefusal",
                format!("no pod of Deployment {deployment} was refused"),
            ),
        }
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
    fn a_refusal_of_the_twins_pods_is_surfaced_in_the_ready_condition() {
        let message = r#"pods "ws-abc" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities"#;
        let status = json!({"replicas": 0, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}]});
        let twin = TwinPods::from_deployment_status(&status);
        assert_eq!(twin, TwinPods { ready_replicas: 0, refused: Some(message.to_owned()) });
        assert_eq!(twin.ready_state("ws", false).reason, POD_REFUSED);
        let admitted = twin.admitted_state("ws");
        assert!(!admitted.ok);
        assert_eq!(admitted.reason, POD_REFUSED);
        assert_eq!(admitted.message, message);

        // A failure the controller has since cleared, or none at all, is not a refusal.
        let cleared = json!({"readyReplicas": 1, "conditions": [
            {"type": "ReplicaFailure", "status": "False", "reason": "FailedCreate", "message": message}]});
        let twin = TwinPods::from_deployment_status(&cleared);
        assert_eq!(twin, TwinPods { ready_replicas: 1, refused: None });
        assert_eq!(twin.ready_state("ws", true).reason, "TwinRunning");
        assert!(twin.admitted_state("ws").ok);
        assert_eq!(TwinPods::from_deployment_status(&json!(null)), TwinPods::default());
        assert_eq!(TwinPods::default().ready_state("ws", false).reason, "TwinNotReady");
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
