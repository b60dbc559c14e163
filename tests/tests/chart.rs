//! The Helm chart and the example manifests, on the real API server with the test bed's helm and
//! kubectl.

use std::path::PathBuf;
use std::process::Output;

use testbed::ControlPlane;

fn repo_path(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative).display().to_string()
}

fn succeeded(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn chart_installs_the_api_and_the_example_ward_is_accepted() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    let chart = repo_path("charts/wardwatch");

    let lint = succeeded("helm lint", cp.helm(&["lint", "--strict", &chart]).unwrap());
    assert!(lint.contains("0 chart(s) failed"), "{lint}");

    // No kubelet runs on the test bed, so the operator's pods never start: no --wait.
    succeeded(
        "helm install",
        cp.helm(&["install", "wardwatch", &chart, "--namespace", "wardwatch-system", "--create-namespace"]).unwrap(),
    );
    for object in [
        "deployment/wardwatch-operator",
        "serviceaccount/wardwatch-operator",
        "service/wardwatch-operator-metrics",
        "role/wardwatch-operator-leader-election",
    ] {
        succeeded(object, cp.kubectl(&["get", "-n", "wardwatch-system", object]).unwrap());
    }
    succeeded("cluster role", cp.kubectl(&["get", "clusterrole/wardwatch-operator-wardwatch-system"]).unwrap());
    let operator_field = |jsonpath: &str| {
        let args = ["get", "-n", "wardwatch-system", "deployment/wardwatch-operator", "-o", jsonpath];
        succeeded(jsonpath, cp.kubectl(&args).unwrap())
    };
    assert_eq!(operator_field("jsonpath={.spec.replicas}"), "2");
    // The operator's log filter comes from operator.logLevel.
    let log_level = operator_field(r#"jsonpath={.spec.template.spec.containers[0].env[?(@.name=="RUST_LOG")].value}"#);
    assert_eq!(log_level, "info,kube=warn");

    // The fleet and device dashboards, for the Grafana sidecar: the operator's, as the chart
    // ships them.
    let shipped = [
        ("fleet", wardwatch_operator::dashboards::fleet::dashboard_json()),
        ("device", wardwatch_operator::dashboards::device::dashboard_json()),
    ];
    for (name, built) in shipped {
        let config_map = format!("configmap/wardwatch-{name}-dashboard");
        let found =
            succeeded(&config_map, cp.kubectl(&["get", "-n", "wardwatch-system", &config_map, "-o", "json"]).unwrap());
        let found: serde_json::Value = serde_json::from_str(&found).unwrap();
        assert_eq!(found["metadata"]["labels"]["grafana_dashboard"], "1");
        let json = found["data"][format!("wardwatch-{name}.json")].as_str().unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(json).unwrap(), built, "{name}");
    }

    // The values schema refuses a typo'd value before anything reaches the cluster.
    let refused = cp.helm(&["template", "wardwatch", &chart, "--set", "operator.logFormat=xml"]).unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("logFormat"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let crds = succeeded(
        "kubectl get crds",
        cp.kubectl(&["get", "crds", "-l", "app.kubernetes.io/part-of=wardwatch", "-o", "name"]).unwrap(),
    );
    assert!(crds.lines().any(|l| l == "customresourcedefinition.apiextensions.k8s.io/wards.wardwatch.io"), "{crds}");

    // The examples apply as a user would apply them, and the API server fills the defaults.
    for manifest in ["manifests/namespace.yaml", "manifests/ward.yaml"] {
        succeeded(manifest, cp.kubectl(&["apply", "-f", &repo_path(manifest)]).unwrap());
    }
    let spo2_low = succeeded(
        "kubectl get ward",
        cp.kubectl(&["get", "ward", "icu-east", "-n", "st-mary", "-o", "jsonpath={.spec.thresholds.spo2Percent.low}"])
            .unwrap(),
    );
    assert_eq!(spo2_low, "90", "the default SpO2 low limit");

    let releases = succeeded("helm list", cp.helm(&["list", "-n", "wardwatch-system", "-o", "json"]).unwrap());
    let releases: serde_json::Value = serde_json::from_str(&releases).unwrap();
    assert_eq!(releases[0]["status"], "deployed", "{releases}");
}
