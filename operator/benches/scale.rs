//! Scale benchmark (not a test): 1,000 devices in 10 wards on the real API server.
//!
//!     cargo bench -p wardwatch-operator --bench scale [-- WARDS DEVICES_PER_WARD]
//!
//! Prints: time to converge, objects applied per second, the operator's peak RSS, and the
//! writes the API server served during a steady-state resync.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::{Operator, writes_by_resource};
use testbed::ControlPlane;
use wardwatch_crds::{MonitoredDevice, Ward};

const NS: &str = "bench";
/// Bound on the whole run: the benchmark gives up rather than loop for ever.
const DEADLINE: Duration = Duration::from_secs(900);
const RESYNC: Duration = Duration::from_secs(20);

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (wards, per_ward) = (args.first().copied().unwrap_or(10), args.get(1).copied().unwrap_or(100));
    let total = wards * per_ward;
    eprintln!("scale benchmark: {wards} wards x {per_ward} devices = {total} devices");

    let cp = ControlPlane::start().await.expect("control plane");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).await.unwrap();
    let resync = format!("{}s", RESYNC.as_secs());
    let operator = Operator::start(&cp, "operator", &["--resync-interval", &resync]).await;
    let client = cp.client();

    let started = Instant::now();
    let ward_api: Api<Ward> = Api::namespaced(client.clone(), NS);
    for w in 0..wards {
        let ward: Ward = serde_json::from_value(json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "Ward",
            "metadata": {"name": format!("ward-{w}"), "namespace": NS},
            "spec": {"hospitalId": "bench-hospital", "department": format!("dept-{w}")}}))
        .unwrap();
        ward_api.create(&PostParams::default(), &ward).await.unwrap();
    }
    let device_api: Api<MonitoredDevice> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(0..total)
        .map(|i| {
            let api = device_api.clone();
            async move {
                let device: MonitoredDevice = serde_json::from_value(json!({"apiVersion": "wardwatch.io/v1alpha1",
                    "kind": "MonitoredDevice", "metadata": {"name": format!("device-{i}"), "namespace": NS},
                    "spec": {"ward": format!("ward-{}", i % wards), "type": "BedsideMonitor",
                             "patient": {"id": format!("MRN-{i}"), "bed": format!("B-{i}")}, "twin": {"seed": i}}}))
                .unwrap();
                api.create(&PostParams::default(), &device).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let created_in = started.elapsed();

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

    // Steady state: over more than one resync period, count what the API server writes.
    let reconciles_before = operator.metric("wardwatch_operator_reconciliations_total", "").await;
    let before = writes_by_resource(&cp).await;
    let window = RESYNC + Duration::from_secs(10);
    let window_start = Instant::now();
    while window_start.elapsed() < window {
        peak = peak.max(peak_rss_kib(operator.process.pid()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = writes_by_resource(&cp).await;
    let reconciles_after = operator.metric("wardwatch_operator_reconciliations_total", "").await;
    let steady_writes: f64 = after
        .iter()
        .filter(|(resource, _)| !resource.starts_with("leases"))
        .map(|(resource, count)| count - before.get(resource).unwrap_or(&0.0))
        .sum();

    println!("devices                         {total} in {wards} wards");
    println!("custom resources created in     {:.1} s", created_in.as_secs_f64());
    println!("time to converge                {:.1} s (from the first create)", converged_in.as_secs_f64());
    println!("objects applied                 {applied:.0}");
    println!("objects applied per second      {:.1}", applied / converged_in.as_secs_f64());
    println!("operator peak RSS               {:.1} MiB", peak as f64 / 1024.0);
    println!(
        "reconciles in the steady window {:.0} ({:.0} s, resync every {} s)",
        reconciles_after - reconciles_before,
        window.as_secs_f64(),
        RESYNC.as_secs()
    );
    println!("writes in the steady window     {steady_writes:.0} (leases excluded)");
}
