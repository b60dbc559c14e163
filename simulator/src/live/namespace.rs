//! Whether this process may send raw frames: only from a network namespace made for it, i.e.
//! one that differs both from its parent's (the caller moved it, as `unshare -n` and
//! `ip netns exec` do) and from PID 1's (the initial one, where readable). A namespace that
//! cannot be read counts against. In a pod, the twin shares the pod's namespace with its PID 1
//! or has no readable parent, so raw scenarios are refused there: the conservative answer.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::network_scenario::NetworkScenario;

/// The identity of a network namespace, as `/proc/<pid>/ns/net` links name it (`net:[N]`).
pub fn network_namespace(proc_pid: &Path) -> Result<String> {
    let link = proc_pid.join("ns/net");
    let target = std::fs::read_link(&link).with_context(|| format!("reading {}", link.display()))?;
    Ok(target.to_string_lossy().into_owned())
}

/// The decision, on the namespaces as read (`None`: could not be read).
pub fn may_send_raw_frames(own: &str, parent: Option<&str>, pid_1: Option<&str>) -> Result<(), String> {
    match parent {
        None => return Err(format!("this process is in {own}, and its parent's namespace cannot be read")),
        Some(parent) if parent == own => {
            return Err(format!("this process is in {own}, the namespace it was started from"));
        }
        Some(_) => {}
    }
    if pid_1 == Some(own) {
        return Err(format!("this process is in {own}, the initial namespace (PID 1's)"));
    }
    Ok(())
}

/// Refuses `scenario`'s raw frames unless this process is in a network namespace made for it.
pub fn ensure_private_network_namespace(scenario: NetworkScenario) -> Result<()> {
    let own = network_namespace(Path::new("/proc/self"))?;
    let parent = network_namespace(&Path::new("/proc").join(std::os::unix::process::parent_id().to_string())).ok();
    let pid_1 = network_namespace(Path::new("/proc/1")).ok();
    if let Err(why) = may_send_raw_frames(&own, parent.as_deref(), pid_1.as_deref()) {
        bail!(
            "{scenario} sends raw frames, which this simulator does only inside a network namespace made for it \
             ({why}); run it under `unshare -n` or `ip netns exec` with the target inside that namespace"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespace_identities() {
        let own = network_namespace(Path::new("/proc/self")).unwrap();
        assert!(own.starts_with("net:["), "{own}");
        assert!(network_namespace(Path::new("/proc/no-such-process")).is_err());
    }

    #[test]
    fn only_a_namespace_apart_from_the_parent_and_pid_1_allows_raw_frames() {
        assert!(may_send_raw_frames("net:[2]", Some("net:[1]"), Some("net:[1]")).is_ok());
        assert!(may_send_raw_frames("net:[2]", Some("net:[1]"), None).is_ok());
        assert!(may_send_raw_frames("net:[1]", Some("net:[1]"), Some("net:[1]")).is_err());
        assert!(may_send_raw_frames("net:[1]", Some("net:[2]"), Some("net:[1]")).unwrap_err().contains("PID 1"));
        assert!(may_send_raw_frames("net:[2]", None, Some("net:[1]")).unwrap_err().contains("parent"));
    }
}
