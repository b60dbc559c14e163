//! Where the test bed's programs are found.
//!
//! Go-built components (kube-apiserver, etcd, kubectl, helm, prometheus-operator, ...) come from
//! `tests/testbed/build.sh`, which links them into `$WARDWATCH_CACHE/bin` (default
//! `~/.cache/wardwatch/bin`). Debian's programs (prometheus, promtool, alertmanager, amtool,
//! tshark, tcpdump) come from `PATH`.

use std::path::{Path, PathBuf};

/// A program the test bed needs and could not find, with what to do about it.
#[derive(Debug)]
pub struct Missing {
    pub program: String,
    pub looked_in: Vec<PathBuf>,
}

impl std::error::Error for Missing {}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "test bed program `{}` not found (looked in {}); build the test bed with \
             `bash tests/testbed/build.sh`, install Debian's packages with `bash scripts/install-deps.sh` \
             and build the workspace's binaries with `cargo build --workspace`",
            self.program,
            self.looked_in.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    }
}

/// The cache root the build script writes to.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("WARDWATCH_CACHE").map(PathBuf::from).unwrap_or_else(|| home().join(".cache/wardwatch"))
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

/// The directory holding prometheus-operator's CRD YAML files, copied by the build script from
/// the same module version the operator binary was built from.
pub fn prometheus_operator_crd_dir() -> PathBuf {
    cache_dir().join("crds/prometheus-operator")
}

/// Finds `program` in the test bed's cache first, then on `PATH`.
pub fn find_binary(program: &str) -> Result<PathBuf, Missing> {
    let mut looked_in = vec![cache_dir().join("bin")];
    looked_in.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    looked_in
        .iter()
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Missing { program: program.to_owned(), looked_in })
}

/// One of the workspace's own binaries (`wardwatch-simulator`, `wardwatch-exporter`, ...), from
/// the target directory this test was built into. `cargo test --workspace` builds them before
/// any test runs; a test binary run on its own needs them built first.
pub fn workspace_binary(name: &str) -> Result<PathBuf, Missing> {
    // A test executable lives in target/<profile>/deps, a binary such as the demo in
    // target/<profile>: look beside the running executable and one level up.
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    let looked_in: Vec<PathBuf> =
        exe_dir.iter().flat_map(|dir| [dir.clone()].into_iter().chain(dir.parent().map(Path::to_path_buf))).collect();
    looked_in
        .iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Missing { program: name.to_owned(), looked_in })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_program_on_path() {
        assert!(find_binary("sh").unwrap().ends_with("sh"));
    }

    #[test]
    fn missing_program_says_how_to_get_it() {
        let err = find_binary("no-such-wardwatch-program").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no-such-wardwatch-program"), "{text}");
        assert!(text.contains("tests/testbed/build.sh"), "{text}");
    }
}
