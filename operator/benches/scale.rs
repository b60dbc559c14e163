//! Scale benchmark (not a test): devices in wards on the real API server, against the floor of
//! writing the same objects with `kubectl apply --server-side`.
//!
//!     cargo bench -p wardwatch-operator --bench scale [-- WARDS DEVICES_PER_WARD]
//!
//! Default: 10 wards of 100 devices. `-- 50 200` is 10,000 devices in 50 wards.
//!
//! 1. The floor: on a fresh control plane, `wardwatch-operator render` turns the same Wards and
//!    MonitoredDevices into the objects the operator would write, and `kubectl apply
//!    --server-side` writes them; its wall time is the floor.
//! 2. The operator: on another fresh control plane the same custom resources are created, then
//!    the operator starts and converges them. Printed: time to converge from its start, the
//!    ratio to the floor, the writes it took, the operator's peak RSS, and the reads and writes
//!    the API server served during a steady-state window longer than one resync (from its own
//!    `apiserver_request_total`).
//!
//! Every wait is bounded ([`DEADLINE`]); the benchmark gives up rather than loop for ever.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use support::{Operator, READ_VERBS, WRITE_VERBS, requests_by_resource};
use testbed::ControlPlane;
use wardwatch_crds::{MonitoredDevice, Ward};

const NS: &str = "bench";
/// Bound on each phase (the floor, the operator's convergence).
const DEADLINE: Duration = Duration::from_secs(1800);
const RESYNC: Duration = Duration::from_secs(20);

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores available")
}

fn ward(w: usize) -> Value {
    json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward",
        "metadata": {"name": format!("ward-{w}"), "namespace": NS},
        "spec": {"hospitalId": "bench-hospital", "department": format!("dept-{w}")}})
}

fn device(i: usize, wards: usize) -> Value {
    json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
        "metadata": {"name": format!("device-{i}"), "namespace": NS},
        "spec": {"ward": format!("ward-{}", i % wards), "type": "BedsideMonitor",
                 "patient": {"id": format!("MRN-{i}"), "bed": format!("B-{i}")}, "twin": {"seed": i}}})
}

async fn bed() -> ControlPlane {
    let cp = ControlPlane::start().await.expect("control plane");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).await.unwrap();
    cp
}

/// Seconds `kubectl apply --server-side` takes to write what `wardwatch-operator render` makes
/// of the benchmark's custom resources, and how many objects that is.
async fn floor(wards: usize, total: usize) -> (f64, usize) {
    let cp = bed().await;
    let mut inputs: Vec<Value> = (0..wards).map(ward).collect();
    inputs.extend((0..total).map(|i| device(i, wards)));
    let input = cp.dir().join("bench-inputs.yaml");
    std::fs::write(
        &input,
        inputs.iter().map(|v| format!("---\n{}", serde_yaml::to_string(v).unwrap())).collect::<String>(),
    )
    .unwrap();
    let render = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch-operator"))
        .args(["render", "-f", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(render.status.success(), "render: {}", String::from_utf8_lossy(&render.stderr));
    let rendered = cp.dir().join("bench-rendered.yaml");
    std::fs::write(&rendered, &render.stdout).unwrap();
    let objects = String::from_utf8_lossy(&render.stdout).matches("\n---\n").count() + 1;

    let timeout = format!("{}s", DEADLINE.as_secs());
    let started = Instant::now();
    let applied = cp
        .kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=floor",
            "--request-timeout",
            &timeout,
            "-f",
            rendered.to_str().unwrap(),
        ])
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(applied.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&applied.stderr));
    (seconds, objects)
}

fn sum_since(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(resource, _)| !resource.starts_with("leases"))
        .map(|(resource, count)| (resource.clone(), count - before.get(resource).unwrap_or(&0.0)))
        .filter(|(_, delta)| *delta > 0.0)
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (wards, per_ward) = (args.first().copied().unwrap_or(10), args.get(1).copied().unwrap_or(100));
    let total = wards * per_ward;
    eprintln!("scale benchmark: {wards} wards x {per_ward} devices = {total} devices");

    let (floor_seconds, floor_objects) = floor(wards, total).await;
    eprintln!("floor: kubectl apply --server-side of {floor_objects} objects took {floor_seconds:.1} s");

    // The custom resources first, then the operator: it starts with the whole load, as after an
    // upgrade or a failover, and its convergence compares with the floor's write of the same objects.
    let cp = bed().await;
    let client = cp.client();
    let created = Instant::now();
    let ward_api: Api<Ward> = Api::namespaced(client.clone(), NS);
    for w in 0..wards {
        ward_api.create(&PostParams::default(), &serde_json::from_value(ward(w)).unwrap()).await.unwrap();
    }
    let device_api: Api<MonitoredDevice> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(0..total)
        .map(|i| {
            let api = device_api.clone();
            async move { api.create(&PostParams::default(), &serde_json::from_value(device(i, wards)).unwrap()).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let created_in = created.elapsed();
    let writes_before_operator = requests_by_resource(&cp, WRITE_VERBS).await;

    let resync = format!("{}s", RESYNC.as_secs());
    let started = Instant::now();
    let operator = Operator::start(&cp, "operator", &["--resync-interval", &resync]).await;

    // Converged: every twin and gateway Deployment exists and every device and ward has a
    // status for its current generation with the full device count.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let owned = ListParams::default().labels("app.kubernetes.io/managed-by=wardwatch");
    let mut peak = 0;
    loop {
        assert!(started.elapsed() < DEADLINE, "no convergence within {DEADLINE:?}");
        peak = peak.max(peak_rss_kib(operator.process.pid()));
        let deployments_done =
            deployments.list_metadata(&owned).await.map(|l| l.items.len()).unwrap_or(0) == total + wards;
        let devices_done = deployments_done
            && device_api.list(&ListParams::default()).await.is_ok_and(|l| {
                l.items.iter().all(|d| d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation)
            });
        let wards_done = devices_done
            && ward_api.list(&ListParams::default()).await.is_ok_and(|l| {
                l.items.iter().all(|w| w.status.as_ref().is_some_and(|s| s.devices_total as usize == per_ward))
            });
        if wards_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged_in = started.elapsed();
    let applied = operator.metric("wardwatch_operator_applies_total", "result=\"applied\"").await;
    let writes_to_converge = sum_since(&requests_by_resource(&cp, WRITE_VERBS).await, &writes_before_operator);

    // Steady state: over more than one resync period, count what the API server serves.
    let reconciles_before = operator.metric("wardwatch_operator_reconciliations_total", "").await;
    let (writes_before, reads_before) =
        (requests_by_resource(&cp, WRITE_VERBS).await, requests_by_resource(&cp, READ_VERBS).await);
    let window = RESYNC + Duration::from_secs(10);
    let window_start = Instant::now();
    while window_start.elapsed() < window {
        peak = peak.max(peak_rss_kib(operator.process.pid()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (writes_after, reads_after) =
        (requests_by_resource(&cp, WRITE_VERBS).await, requests_by_resource(&cp, READ_VERBS).await);
    let reconciles_after = operator.metric("wardwatch_operator_reconciliations_total", "").await;
    let steady_writes = sum_since(&writes_after, &writes_before);
    let steady_reads = sum_since(&reads_after, &reads_before);
    let count = |m: &BTreeMap<String, f64>| m.values().sum::<f64>() + 0.0;

    println!("cpu                             {}", cpu_model());
    println!("devices                         {total} in {wards} wards");
    println!("floor: kubectl apply --server-side of {floor_objects} rendered objects   {floor_seconds:.1} s");
    println!("custom resources created in     {:.1} s (before the operator starts)", created_in.as_secs_f64());
    println!("time to converge                {:.1} s (from the operator's start)", converged_in.as_secs_f64());
    println!("converge / floor                {:.2}", converged_in.as_secs_f64() / floor_seconds);
    println!("objects applied                 {applied:.0}");
    println!(
        "writes to converge              {:.0} {writes_to_converge:?} (leases excluded)",
        count(&writes_to_converge)
    );
    println!("operator peak RSS               {:.1} MiB", peak as f64 / 1024.0);
    println!(
        "reconciles in the steady window {:.0} ({:.0} s, resync every {} s)",
        reconciles_after - reconciles_before,
        window.as_secs_f64(),
        RESYNC.as_secs()
    );
    println!("writes in the steady window     {:.0} {steady_writes:?} (leases excluded)", count(&steady_writes));
    println!(
        "reads in the steady window      {:.0} {steady_reads:?} (GET and LIST; leases excluded)",
        count(&steady_reads)
    );
}
