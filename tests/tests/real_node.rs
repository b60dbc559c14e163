//! wardwatch on a real node: containerd, the kubelet, kube-proxy, kube-scheduler and
//! kube-controller-manager run the chart's operator and the sample ward's pods from images built
//! without a container engine (`scripts/images.sh`), in a network namespace of their own.

use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use testbed::node::{self, Node};
use testbed::{ControlPlane, eventually};

const STARTUP: Duration = Duration::from_secs(180);

fn repo_path(relative: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative).display().to_string()
}

fn succeeded(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Pods of `namespace` matching `selector` that are Running with every container Ready.
async fn ready_pods(cp: &ControlPlane, namespace: &str, selector: &str) -> anyhow::Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(cp.client(), namespace);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|pod| {
            let status = pod.status.clone().unwrap_or_default();
            status.phase.as_deref() == Some("Running")
                && status.container_statuses.unwrap_or_default().iter().all(|c| c.ready)
        })
        .collect())
}

/// A summary of every pod's phase and container states, for failure messages.
fn pod_summary(cp: &ControlPlane) -> String {
    let output = cp.kubectl(&["get", "pods", "-A", "-o", "wide"]).unwrap();
    let events = cp.kubectl(&["get", "events", "-A", "--sort-by=.lastTimestamp"]).unwrap();
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&events.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_and_the_sample_ward_run_on_a_real_node() {
    let mut cp = ControlPlane::start_with(Some(node::control_plane_support())).await.expect("control plane starts");
    let started = std::time::Instant::now();
    let mut node = Node::start(&mut cp).await.expect("the node starts and is Ready");
    eprintln!("node Ready in {:?}\n{}", started.elapsed(), node.image_report());

    // The chart's operator, from the image imported under the chart's name.
    let chart = repo_path("charts/wardwatch");
    succeeded(
        "helm install",
        cp.helm(&["install", "wardwatch", &chart, "--namespace", "wardwatch-system", "--create-namespace"]).unwrap(),
    );
    let operators = eventually(STARTUP, "two operator pods Running and Ready", || async {
        let pods = ready_pods(&cp, "wardwatch-system", "app.kubernetes.io/name=wardwatch-operator").await?;
        Ok((pods.len() == 2).then_some(pods))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n{}\n{}", pod_summary(&cp), node.logs()));
    assert_eq!(operators.len(), 2);
    node.check_running().unwrap();
}
