//! Debian's containerd with a configuration of its own (root, state, socket, runc root, CNI
//! configuration and IP allocations all under the node's directory), started inside the node's
//! network namespace so that its CNI bridge lives there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::netns::NetworkNamespace;
use crate::node::network::POD_CIDR;
use crate::process::ManagedProcess;

/// The sandbox image `scripts/images.sh` builds (a program that waits for a signal).
pub const SANDBOX_IMAGE: &str = "localhost/wardwatch/pause:1";
/// The pod bridge in the node's namespace.
pub const BRIDGE: &str = "ww0";

pub struct Containerd {
    process: ManagedProcess,
    dir: PathBuf,
}

impl Containerd {
    /// Writes the configuration and the CNI network under `dir` and starts containerd in
    /// `namespace`; returns once its socket answers.
    pub async fn start(namespace: &NetworkNamespace, dir: &Path) -> Result<Self> {
        let dir = dir.join("containerd");
        std::fs::create_dir_all(dir.join("cni/conf"))?;
        std::fs::write(dir.join("cni/conf/10-wardwatch.conflist"), cni_conflist(&dir))?;
        std::fs::write(dir.join("config.toml"), config(&dir))?;
        let program = which("containerd")?;
        let mut command = namespace.command(program);
        command.arg("--config").arg(dir.join("config.toml"));
        let process = ManagedProcess::spawn_command("containerd", command, &dir)?;
        let mut containerd = Self { process, dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while containerd.ctr(&["version"]).is_err() {
            containerd.process.check_running()?;
            if tokio::time::Instant::now() >= deadline {
                bail!("containerd not ready after 30 s; last lines of its log:\n{}", containerd.process.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(containerd)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// Where runc keeps the state of the containers of namespace `k8s.io`.
    pub fn runc_root(&self) -> PathBuf {
        self.dir.join("runc")
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Imports an image archive into the `k8s.io` namespace, where the kubelet looks.
    pub fn import(&self, archive: &Path) -> Result<()> {
        self.ctr(&["images", "import", &archive.display().to_string()]).map(|_| ())
    }

    /// `ctr --address <socket> -n k8s.io <args>`, its stdout on success.
    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .context("running ctr")?;
        if !output.status.success() {
            bail!("ctr {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # The machine's bounding set lacks CAP_SYS_RESOURCE: nobody may lower an OOM score, and the
  # kubelet asks for -998 on sandboxes (runc then fails with "can't get final child's PID").
  restrict_oom_score_adj = true
  # Pod network namespaces under our state directory, not /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
"#
    )
}

/// A bridge with host-local addresses from [`POD_CIDR`] and a default route through the
/// bridge's address (the node, which has no route off the machine). containerd configures each
/// pod's loopback itself with the `loopback` plugin from the same directory.
fn cni_conflist(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "wardwatch",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_CIDR}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": dir.join("cni/ipam"),
            },
        }],
    })
    .to_string()
}

fn which(program: &str) -> Result<PathBuf> {
    crate::binaries::find_binary(program).map_err(|missing| anyhow::anyhow!("{missing}"))
}
