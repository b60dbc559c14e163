//! `wardwatch-operator render` output, checked by the real API server with the real
//! prometheus-operator CRDs (server-side dry run: every object validated, nothing stored).

use std::path::PathBuf;

use testbed::ControlPlane;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

#[tokio::test]
async fn rendered_objects_pass_the_real_schemas() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();

    let mut inputs = wardwatch_operator::render::Inputs::default();
    for manifest in ["manifests/ward.yaml", "manifests/federation.yaml"] {
        inputs.add_yaml(&std::fs::read_to_string(repo_path(manifest)).unwrap(), manifest).unwrap();
    }
    let (objects, warnings) = wardwatch_operator::render::render(
        &inputs,
        Some("http://wardwatch-operator.wardwatch-system.svc:8443/quarantine"),
    );
    assert!(warnings.is_empty(), "{warnings:?}");

    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    for kind in
        ["Deployment", "Service", "PrometheusRule", "PodMonitor", "AlertmanagerConfig", "NetworkPolicy", "ConfigMap"]
    {
        assert!(kinds.contains(&kind), "{kind} rendered: {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 1 + 5, "gateway and five device twins");

    let dir = tempfile::tempdir().unwrap();
    let rendered = dir.path().join("rendered.yaml");
    std::fs::write(&rendered, wardwatch_operator::render::to_yaml(&objects)).unwrap();
    for namespace in ["st-mary", "wardwatch-central"] {
        assert!(cp.kubectl(&["create", "namespace", namespace]).unwrap().status.success());
    }
    let output = cp
        .kubectl(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=wardwatch-operator",
            "-f",
            rendered.to_str().unwrap(),
        ])
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.contains("serverside-applied (server dry run)")).count(),
        objects.len(),
        "{stdout}"
    );
}
