//! The node's images, built by `scripts/images.sh` without a container engine: wardwatch's from
//! the workspace's own binaries (the ones `cargo test` just built), the monitoring stack's from
//! the test bed's.

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
    let archives = [
        "pause",
        "wardwatch-operator",
        "wardwatch-exporter",
        "wardwatch-simulator",
        "prometheus-operator",
        "prometheus-config-reloader",
        "prometheus",
        "alertmanager",
        "coredns",
    ]
    .iter()
    .map(|name| out.join(format!("{name}.tar")))
    .collect();
    Ok((archives, String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// The name an image was tagged with, from the script's report (`image  <name:tag> -> ...`):
/// `tagged(report, "localhost/wardwatch/prometheus")` gives `localhost/wardwatch/prometheus:v2.42.0`.
pub fn tagged(report: &str, repository: &str) -> Option<String> {
    report.lines().find_map(|line| {
        let name = line.strip_prefix("image")?.split_whitespace().next()?;
        (name.rsplit_once(':')?.0 == repository).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_off_the_report() {
        let report = "image  localhost/wardwatch/prometheus:v2.42.0 -> /x/prometheus.tar (1 KiB; layer 1 KiB)\n\
                      image  localhost/wardwatch/prometheus-operator:v0.93.1 -> /x/p.tar (1 KiB; layer 1 KiB)\n";
        assert_eq!(
            tagged(report, "localhost/wardwatch/prometheus").as_deref(),
            Some("localhost/wardwatch/prometheus:v2.42.0")
        );
        assert_eq!(tagged(report, "localhost/wardwatch/alertmanager"), None);
    }
}
