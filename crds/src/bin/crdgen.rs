//! Writes the CRD YAML into the chart: `cargo run -p wardwatch-crds --bin crdgen [PATH]`.
//! Without PATH it writes `charts/wardwatch/crds/wardwatch.io.yaml` under the workspace root.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/wardwatch/crds/wardwatch.io.yaml")
    });
    std::fs::write(&path, wardwatch_crds::crd_yaml())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
