//! What a node leaves behind once its processes are gone: containers (runc keeps them running
//! without containerd), containerd's shims, mounts (container root filesystems, pod network
//! namespaces, the kubelet's volumes) and the kubelet's pod cgroups.

use std::path::Path;
use std::process::Command;

/// Kills and deletes every container runc knows under `runc_root` (all namespaces' roots).
pub fn remove_containers(runc_root: &Path) {
    let Ok(entries) = std::fs::read_dir(runc_root) else { return };
    for namespace_root in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let Ok(output) = Command::new("runc").arg("--root").arg(&namespace_root).args(["list", "-q"]).output() else {
            continue;
        };
        for id in String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.is_empty()) {
            let _ = Command::new("runc").arg("--root").arg(&namespace_root).args(["delete", "--force", id]).output();
        }
    }
}

/// Kills the containerd shims that serve the containerd listening at `socket`.
pub fn kill_shims(socket: &Path) {
    let socket = socket.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("containerd-shim") && cmdline.contains(&socket) {
            // SAFETY: signalling a process by pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<String> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    points.dedup();
    for point in points {
        if let Ok(path) = std::ffi::CString::new(point) {
            // SAFETY: a valid C string; MNT_DETACH never blocks on a busy mount.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// mountinfo escapes spaces and a few other bytes as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(byte) = u8::from_str_radix(&code, 8) {
                out.push(byte as char);
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes the kubelet's empty pod cgroups (`kubepods`) from every cgroup hierarchy.
pub fn remove_pod_cgroups() {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    for hierarchy in hierarchies.filter_map(|e| e.ok().map(|e| e.path())) {
        remove_empty_tree(&hierarchy.join("kubepods"));
        remove_empty_tree(&hierarchy.join("kubepods.slice"));
    }
}

fn remove_empty_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain/path"), "/plain/path");
    }
}
