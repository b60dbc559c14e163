//! The ward's rules through Debian's promtool: `promtool check rules` on the PrometheusRule's
//! groups as built (annotation templates included), and `promtool test rules` on the test file
//! the rule builders write (see `wardwatch_operator::rules::promtool`), for the sample ward and
//! for a ward with other limits and NEWS2 off.

use testbed::prometheus::run_tool;
use wardwatch_crds::{Ward, WardSpec};
use wardwatch_operator::rules::{self, promtool};

fn ward(name: &str, spec: &str) -> Ward {
    let mut ward = Ward::new(name, serde_yaml::from_str::<WardSpec>(spec).unwrap());
    ward.metadata.namespace = Some("st-mary".into());
    ward
}

fn sample_ward() -> Ward {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/ward.yaml")).unwrap();
    let document = serde_yaml::Deserializer::from_str(&text).next().unwrap();
    serde::Deserialize::deserialize(document).unwrap()
}

fn check(ward: &Ward) {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.yml");
    let groups = serde_json::json!({"groups": rules::rule_groups(ward)});
    std::fs::write(&full, serde_yaml::to_string(&groups).unwrap()).unwrap();
    let (ok, text) = run_tool("promtool", &["check", "rules", full.to_str().unwrap()]).unwrap();
    assert!(ok, "promtool check rules: {text}");

    std::fs::write(dir.path().join("rules.yml"), promtool::rules_file(ward)).unwrap();
    let tests = dir.path().join("tests.yml");
    std::fs::write(&tests, promtool::tests_file(ward, "rules.yml")).unwrap();
    let (ok, text) = run_tool("promtool", &["test", "rules", tests.to_str().unwrap()]).unwrap();
    if !ok && std::env::var_os("WARDWATCH_KEEP_TESTBED").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
    assert!(ok, "promtool test rules:\n{text}");
    println!("{}", text.lines().last().unwrap_or_default());
}

#[test]
fn sample_ward_rules_pass_their_generated_tests() {
    check(&sample_ward());
}

#[test]
fn other_limits_and_news2_off_pass_their_generated_tests() {
    check(&ward(
        "cardiology",
        "hospitalId: st-luke\ndepartment: cardiology\nscrapeInterval: 10s\nnews2: {enabled: false}\n\
         thresholds: {spo2Percent: {low: 92, high: 99}, heartRateBpm: {low: 40, high: 140}, temperatureCelsius: {low: 35.5, high: 38.0}}\n",
    ));
}
