//! wardwatch's images for the node, built by `scripts/images.sh` from the workspace's own
//! binaries (the ones `cargo test` just built), without a container engine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::binaries::workspace_binary;

/// Builds the operator, exporter, simulator and sandbox images into `out` and returns the
/// archives, with the script's report (names and sizes).
pub fn build(out: &Path) -> Result<(Vec<PathBuf>, String)> {
    let operator = workspace_binary("wardwatch-operator").map_err(|missing| anyhow::anyhow!("{missing}"))?;
    let bin_dir = operator.parent().context("a binary has a directory")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/images.sh");
    let output = Command::new("bash").arg(&script).arg(bin_dir).arg(out).output().context("running images.sh")?;
    if !output.status.success() {
        bail!("scripts/images.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let archives = ["pause", "wardwatch-operator", "wardwatch-exporter", "wardwatch-simulator"]
        .iter()
        .map(|name| out.join(format!("{name}.tar")))
        .collect();
    Ok((archives, String::from_utf8_lossy(&output.stdout).into_owned()))
}
