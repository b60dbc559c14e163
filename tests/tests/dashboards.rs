//! The dashboards against Grafana's dashboard schema: every ward's dashboard the operator renders
//! for the sample manifests, and the fleet dashboard the chart ships, decode strictly with the
//! types grafana-foundation-sdk generates from that schema (`dashboard-check`, built by
//! tests/testbed/build.sh). Grafana itself is AGPL and not run here. Whether every panel's query
//! answers with data is checked on real Prometheus servers in tests/tests/federation.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use testbed::find_binary;
use wardwatch_operator::dashboards::{device, fleet};
use wardwatch_operator::render::{Inputs, render};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `dashboard-check` on `files`: (passed, output).
fn check(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(find_binary("dashboard-check").expect("tests/testbed/build.sh builds dashboard-check"))
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Every ward dashboard the operator renders for the sample manifests, as files in `dir`.
fn ward_dashboards(dir: &Path) -> Vec<PathBuf> {
    let mut inputs = Inputs::default();
    let manifest = std::fs::read_to_string(workspace().join("manifests/ward.yaml")).unwrap();
    inputs.add_yaml(&manifest, "manifests/ward.yaml").unwrap();
    let (objects, _) = render(&inputs, None);
    let mut files = Vec::new();
    for object in
        objects.iter().filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
    {
        for (name, content) in object["data"].as_object().unwrap() {
            let path = dir.join(name);
            std::fs::write(&path, content.as_str().unwrap()).unwrap();
            files.push(path);
        }
    }
    files
}

#[test]
fn every_dashboard_decodes_strictly_against_grafanas_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = ward_dashboards(dir.path());
    assert_eq!(files.len(), 1, "one dashboard per ward");
    files.push(workspace().join("charts/wardwatch/dashboards/fleet.json"));
    files.push(workspace().join("charts/wardwatch/dashboards/device.json"));
    let (passed, output) = check(&files);
    assert!(passed, "{output}");
    assert_eq!(output.lines().filter(|l| l.contains(": ok, ")).count(), 3, "{output}");

    // The check is strict: a panel field the schema does not know, or a panel option of the
    // wrong type, fails it.
    let mut ward: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    ward["panels"][0]["colour"] = json!("red");
    ward["panels"][1]["options"]["legend"]["showLegend"] = json!("yes");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, ward.to_string()).unwrap();
    let (passed, output) = check(&[broken]);
    assert!(!passed, "{output}");
    assert!(output.contains("panels[0]") && output.contains("colour"), "{output}");
    assert!(output.contains("panels[1].options.legend.showLegend"), "{output}");
}

#[test]
fn the_charts_dashboards_are_the_operators() {
    for (name, built) in [("fleet", fleet::pretty_json()), ("device", device::pretty_json())] {
        let shipped =
            std::fs::read_to_string(workspace().join(format!("charts/wardwatch/dashboards/{name}.json"))).unwrap();
        assert_eq!(
            shipped.trim_end(),
            built,
            "regenerate it: cargo run -p wardwatch-operator -- {name}-dashboard > charts/wardwatch/dashboards/{name}.json"
        );
    }
}
