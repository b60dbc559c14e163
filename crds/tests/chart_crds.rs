//! The chart ships the CRDs this crate generates; this fails when the committed YAML is stale.

#[test]
fn chart_crds_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/wardwatch/crds/wardwatch.io.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == wardwatch_crds::crd_yaml(),
        "{path} is stale: run `cargo run -p wardwatch-crds --bin crdgen` and commit the result"
    );
}
