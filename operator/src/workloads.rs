//! The pods wardwatch runs: each device's twin with its exporter sidecar, and each ward's gateway
//! with its own exporter. Pure builders: custom resources in, Kubernetes objects out.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile, Service, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use wardwatch_crds::common::ContainerSettings;
use wardwatch_crds::{MonitoredDevice, Ward};

use crate::literal::typed;
use crate::names::{self, CLUSTER_DNS_PORT, EXPORTER_METRICS_PORT, GATEWAY_METRICS_PORT, HL7_PORT};

/// Images used when a ward names none; tagged with the operator's own version.
pub fn default_image(component: &str) -> String {
    format!("ghcr.io/wardwatch/wardwatch-{component}:{}", env!("CARGO_PKG_VERSION"))
}

fn image(settings: &ContainerSettings, component: &str) -> String {
    settings.image.clone().unwrap_or_else(|| default_image(component))
}

/// Requests and limits: the ward's, else small defaults sized for one device's traffic.
fn resources(settings: &ContainerSettings, cpu: &str, memory: &str) -> Value {
    match &settings.resources {
        Some(resources) => serde_json::to_value(resources).expect("resources serialise"),
        None => json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}),
    }
}

fn env(pairs: &[(&str, String)]) -> Value {
    pairs.iter().map(|(name, value)| json!({"name": name, "value": value})).collect()
}

/// Locked down: no privilege escalation, read-only root, every capability dropped.
fn restricted_security_context() -> Value {
    json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
           "capabilities": {"drop": ["ALL"]}})
}

/// The pod-level context: non-root, default seccomp profile.
fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        run_as_group: Some(65532),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), ..SeccompProfile::default() }),
        ..PodSecurityContext::default()
    }
}

/// What the exporter knows of what it watches, beyond the ward's settings.
pub struct Watched<'a> {
    /// The id its alert lines name.
    pub id: &'a str,
    /// Seconds between the HL7 reports it should see (0: none on a schedule).
    pub report_interval_seconds: u32,
    /// Patients whose vital-sign series it keeps.
    pub max_patients: u32,
}

/// Patients the gateway's exporter keeps series for: it sees every device of the ward.
pub const GATEWAY_MAX_PATIENTS: u32 = 64;

/// Where the exporter keeps its learned anomaly models, so that a restarted exporter container
/// scores at once instead of learning again (an emptyDir: it lives as long as the pod).
pub const ANOMALY_MODEL_DIR: &str = "/var/lib/wardwatch/anomaly";
const ANOMALY_VOLUME: &str = "anomaly-model";

/// The volumes a pod with an exporter sidecar needs: the models' emptyDir (a few KiB per model).
fn exporter_volumes() -> Vec<Volume> {
    vec![typed(json!({"name": ANOMALY_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}}))]
}

/// The exporter sidecar watching the pod's interface, with its intrusion settings from the ward.
pub fn exporter_container(ward: &Ward, watched: &Watched<'_>) -> Container {
    let intrusion = &ward.spec.intrusion;
    let network = &ward.spec.network;
    let allowed_ports: Vec<String> = network
        .allowed_ports
        .iter()
        .map(|rule| match rule.port {
            Some(port) => format!("{}/{port}", serde_json::to_value(rule.protocol).unwrap().as_str().unwrap()),
            None => serde_json::to_value(rule.protocol).unwrap().as_str().unwrap().to_owned(),
        })
        // What the baseline NetworkPolicy allows every device beside the ward's own list: HL7 to
        // the gateway, and cluster DNS (a device on a real node resolves the gateway's name).
        .chain([format!("TCP/{HL7_PORT}"), format!("UDP/{CLUSTER_DNS_PORT}"), format!("TCP/{CLUSTER_DNS_PORT}")])
        .collect();
    let settings = &ward.spec.exporter;
    let mut variables = env(&[
        ("WARDWATCH_INTERFACE", "eth0".to_owned()),
        ("WARDWATCH_LISTEN", format!("0.0.0.0:{EXPORTER_METRICS_PORT}")),
        ("WARDWATCH_DEVICE_ID", watched.id.to_owned()),
        ("WARDWATCH_EXPECTED_REPORT_INTERVAL", format!("{}s", watched.report_interval_seconds)),
        ("WARDWATCH_MAX_PATIENTS", watched.max_patients.to_string()),
        ("WARDWATCH_HL7_PORTS", HL7_PORT.to_string()),
        ("WARDWATCH_ALLOWED_CIDRS", network.allowed_cidrs.join(",")),
        ("WARDWATCH_ALLOWED_PORTS", allowed_ports.join(",")),
        (
            "WARDWATCH_IDS_SENSITIVITY",
            serde_json::to_value(intrusion.sensitivity).unwrap().as_str().unwrap().to_owned(),
        ),
        ("WARDWATCH_IDS_WINDOW", format!("{}s", intrusion.window_seconds)),
        ("WARDWATCH_IDS_PORT_SCAN_PORTS", intrusion.port_scan_distinct_ports.to_string()),
        ("WARDWATCH_IDS_PORT_SCAN_HOSTS", intrusion.port_scan_distinct_hosts.to_string()),
        ("WARDWATCH_IDS_SYN_FLOOD_RATE", intrusion.syn_flood_syns_per_second.to_string()),
        ("WARDWATCH_IDS_EXFILTRATION_FACTOR", intrusion.exfiltration_baseline_factor.to_string()),
        ("WARDWATCH_IDS_BEACONING_CONNECTIONS", intrusion.beaconing_min_connections.to_string()),
        ("WARDWATCH_ANOMALY_ENABLED", ward.spec.anomaly.enabled.to_string()),
        ("WARDWATCH_ANOMALY_TRAINING_WINDOW", ward.spec.anomaly.training_window.clone()),
        ("WARDWATCH_ANOMALY_RETRAIN_INTERVAL", ward.spec.anomaly.retrain_interval.clone()),
        ("WARDWATCH_ANOMALY_MODEL_DIR", ANOMALY_MODEL_DIR.to_owned()),
    ]);
    // The pod's own addresses tell the intrusion rules which side of a flow is the device.
    variables
        .as_array_mut()
        .expect("env is a list")
        .push(json!({"name": "WARDWATCH_LOCAL_CIDRS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}));
    typed(json!({
        "name": "exporter",
        "image": image(settings, "exporter"),
        // A native sidecar (an init container that keeps running): the kubelet starts the pod's
        // other containers once its startup probe passes, that is once the capture is open, so
        // the exporter sees the twin's first packet and its connection's handshake; it stops
        // after them. A restarted exporter restarts alone.
        "restartPolicy": "Always",
        "env": variables,
        "ports": [{"name": "metrics", "containerPort": EXPORTER_METRICS_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": ANOMALY_VOLUME, "mountPath": ANOMALY_MODEL_DIR}],
        // /readyz answers once the capture is open; up to 30 s for an image's first start.
        "startupProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 1, "failureThreshold": 30},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10, "failureThreshold": 3},
        "resources": resources(settings, "50m", "64Mi"),
        // Capture needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode and buffer sizes).
        // Kubernetes has no ambient capabilities, so the non-root exporter gets them from file
        // capabilities on its binary (`setcap cap_net_raw,cap_net_admin=ep` in the image). File
        // capabilities apply at exec only without no_new_privs, hence allowPrivilegeEscalation;
        // every other capability stays dropped and the image carries no setuid binary.
        "securityContext": {"allowPrivilegeEscalation": true, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}},
    }))
}

/// How long a twin waits before it plays its attack scenario. The exporter's capture is open
/// before the twin starts (a native sidecar), but Prometheus scrapes the exporter's counters
/// some seconds later: a port scan (one pass over 1,024 ports at 100 a second) played at once
/// would be over before the first scrape, and the alerts' rates need a sample before it.
const ATTACK_ONSET: &str = "15s";

/// The twin's container: a simulated device of the given type sending HL7 to the ward gateway.
fn simulator_container(ward: &Ward, device: &MonitoredDevice) -> Container {
    let spec = &device.spec;
    let (patient_id, bed) = spec.patient.as_ref().map(|p| (p.id.clone(), p.bed.clone())).unwrap_or_default();
    let scenario = |value: Value| value.as_str().unwrap_or_default().to_owned();
    let settings = &ward.spec.simulator;
    typed(json!({
        "name": "simulator",
        "image": image(settings, "simulator"),
        "args": ["device"],
        "env": env(&[
            ("WARDWATCH_GATEWAY", names::gateway_address(ward)),
            ("WARDWATCH_DEVICE_ID", device.name_any()),
            ("WARDWATCH_DEVICE_TYPE", spec.device_type.simulator_name().to_owned()),
            ("WARDWATCH_HOSPITAL_ID", ward.spec.hospital_id.clone()),
            ("WARDWATCH_WARD", ward.name_any()),
            ("WARDWATCH_PATIENT_ID", patient_id),
            ("WARDWATCH_BED", bed),
            ("WARDWATCH_SCENARIO", scenario(serde_json::to_value(spec.twin.scenario).unwrap())),
            ("WARDWATCH_SCENARIO_ONSET", format!("{}s", spec.twin.onset_seconds)),
            ("WARDWATCH_SEED", spec.twin.seed.to_string()),
            ("WARDWATCH_INTERVAL", format!("{}s", spec.twin.interval_seconds)),
            ("WARDWATCH_HL7_PROFILE", scenario(serde_json::to_value(spec.twin.hl7_profile).unwrap())),
            ("WARDWATCH_NETWORK_SCENARIO", scenario(serde_json::to_value(spec.network.scenario).unwrap())),
            ("WARDWATCH_ATTACK_TARGET", spec.network.target.clone().unwrap_or_default()),
            ("WARDWATCH_ATTACK_ONSET", ATTACK_ONSET.to_owned()),
        ]),
        "resources": resources(settings, "20m", "32Mi"),
        "securityContext": restricted_security_context(),
    }))
}

/// A pod's containers: sidecars (init containers with `restartPolicy: Always`), started in
/// order before the main containers and stopped after them.
struct PodContainers {
    sidecars: Vec<Container>,
    main: Vec<Container>,
}

/// A one-replica Deployment owned by `owner`, whose pod runs `containers` non-root without a
/// service-account token.
fn single_replica_deployment<K: Resource<DynamicType = ()>>(
    owner: &K,
    name: String,
    labels: BTreeMap<String, String>,
    selector: BTreeMap<String, String>,
    containers: PodContainers,
    volumes: Vec<Volume>,
    strategy: &str,
) -> Deployment {
    Deployment {
        metadata: names::owned_metadata(owner, name, labels.clone()),
        spec: DeploymentSpec {
            replicas: Some(1),
            strategy: Some(DeploymentStrategy { type_: Some(strategy.to_owned()), ..DeploymentStrategy::default() }),
            selector: LabelSelector { match_labels: Some(selector), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(pod_security_context()),
                    init_containers: Some(containers.sidecars),
                    containers: containers.main,
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

/// A device's exporter: its HL7 report interval when its type reports on a schedule (imaging
/// modalities and workstations send no HL7), and the one patient it serves.
fn device_watched(device: &MonitoredDevice) -> Watched<'_> {
    use wardwatch_crds::device::DeviceType::{ImagingModality, Workstation};
    let reports = !matches!(device.spec.device_type, ImagingModality | Workstation);
    Watched {
        id: device.meta().name.as_deref().unwrap_or_default(),
        report_interval_seconds: if reports { device.spec.twin.interval_seconds.max(1) as u32 } else { 0 },
        max_patients: 4,
    }
}

/// A device's Deployment: one replica of the twin and its exporter sharing the pod network.
pub fn device_deployment(ward: &Ward, device: &MonitoredDevice) -> Deployment {
    single_replica_deployment(
        device,
        names::device_deployment(device),
        names::device_labels(ward, device),
        names::device_selector(device),
        PodContainers {
            sidecars: vec![exporter_container(ward, &device_watched(device))],
            main: vec![simulator_container(ward, device)],
        },
        exporter_volumes(),
        // A device exists once: never two twins of it at the same time.
        "Recreate",
    )
}

/// The ward gateway (the central station): receives HL7 over MLLP, acknowledges, exports its
/// own metrics; its exporter sidecar watches its traffic like every device's.
pub fn gateway_deployment(ward: &Ward) -> Deployment {
    let labels = names::gateway_labels(ward);
    let settings = &ward.spec.gateway;
    let gateway: Container = typed(json!({
        "name": "gateway",
        "image": image(settings, "simulator"),
        "args": ["gateway"],
        "env": env(&[
            ("WARDWATCH_LISTEN", format!("0.0.0.0:{HL7_PORT}")),
            ("WARDWATCH_METRICS_LISTEN", format!("0.0.0.0:{GATEWAY_METRICS_PORT}")),
        ]),
        "ports": [
            {"name": "hl7-mllp", "containerPort": HL7_PORT, "protocol": "TCP"},
            {"name": "gateway-metrics", "containerPort": GATEWAY_METRICS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"tcpSocket": {"port": "hl7-mllp"}, "periodSeconds": 5},
        "resources": resources(settings, "50m", "64Mi"),
        "securityContext": restricted_security_context(),
    }));
    single_replica_deployment(
        ward,
        names::gateway(ward),
        labels,
        names::gateway_selector(ward),
        PodContainers {
            sidecars: vec![exporter_container(
                ward,
                &Watched { id: &names::gateway(ward), report_interval_seconds: 0, max_patients: GATEWAY_MAX_PATIENTS },
            )],
            main: vec![gateway],
        },
        exporter_volumes(),
        "RollingUpdate",
    )
}

/// The Service devices send HL7 to.
pub fn gateway_service(ward: &Ward) -> Service {
    Service {
        metadata: names::owned_metadata(ward, names::gateway(ward), names::gateway_labels(ward)),
        spec: Some(ServiceSpec {
            selector: Some(names::gateway_selector(ward)),
            ports: Some(vec![ServicePort {
                name: Some("hl7-mllp".to_owned()),
                port: HL7_PORT,
                target_port: Some(IntOrString::String("hl7-mllp".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
