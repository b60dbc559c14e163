//! Network namespaces the tests make for themselves: a pod's network, a ward's, joined by a
//! veth pair. Nothing here touches the machine's own network namespace; everything is removed
//! when the handle drops.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// A named network namespace (`ip netns add`), with its own `/etc/netns/<name>/hosts`, which
/// `ip netns exec` mounts over `/etc/hosts` for the programs it starts: the tests' stand-in for
/// cluster DNS.
pub struct NetworkNamespace {
    name: String,
}

impl NetworkNamespace {
    /// Creates `ww-<role>-<pid>-<n>` with loopback up, IPv6 off (no router solicitations or
    /// duplicate address probes to make packet counts depend on timing), and the given
    /// name-to-address lines as its hosts file.
    pub fn create(role: &str, hosts: &[(&str, &str)]) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(remove_abandoned);
        let name = format!("ww-{role}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let namespace = Self { name };
        let etc = namespace.etc_dir();
        std::fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        let mut lines = String::from("127.0.0.1 localhost\n");
        for (host, address) in hosts {
            lines.push_str(&format!("{address} {host}\n"));
        }
        std::fs::write(etc.join("hosts"), lines)?;
        for setting in ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"] {
            run(namespace.exec("sysctl").args(["-q", "-w", setting]))?;
        }
        namespace.ip("link set lo up")?;
        Ok(namespace)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// `ip -n <name> <args>` (arguments split on spaces).
    pub fn ip(&self, args: &str) -> Result<()> {
        run(Command::new("ip").args(["-n", &self.name]).args(args.split(' ')))
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`, which execs: the
    /// child's pid is the program's).
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// A command that runs `program` inside the namespace's network only (`nsenter --net`, which
    /// execs), sharing the machine's mount namespace: a kubelet's volume mounts must be visible
    /// to containerd and runc, which `ip netns exec`'s private mount namespace would hide.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command.arg(format!("--net=/run/netns/{}", self.name)).arg("--").arg(program);
        command
    }

    /// Moves the calling thread into the namespace. Threads it starts afterwards (a tokio
    /// runtime's workers, say) and the programs they spawn are born there too.
    pub fn enter(&self) -> Result<()> {
        let path = Path::new("/run/netns").join(&self.name);
        let handle = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: setns on the calling thread; the descriptor is ours and open.
        if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns into {}: {}", self.name, std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Runs `work` on a thread that has entered the namespace, so the sockets it opens are
    /// the namespace's (for reading a pod's metrics from the test).
    pub fn within<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter()?;
                    Ok(work())
                })
                .join()
                .map_err(|_| anyhow::anyhow!("the thread inside {} panicked", self.name))?
        })
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        let _ = std::fs::remove_dir_all(self.etc_dir());
    }
}

/// One end of a veth pair: its namespace, interface name, MAC and address with prefix.
pub struct VethEnd<'a> {
    pub namespace: &'a NetworkNamespace,
    pub interface: &'a str,
    pub mac: &'a str,
    pub address: &'a str,
}

/// Joins two namespaces with a veth pair, each end addressed and up. The neighbours are
/// entered as permanent on both sides: no ARP exchange starts or refreshes at a moment that
/// depends on timing, so packet counts on the link are exactly the test's traffic.
pub fn connect(a: &VethEnd, b: &VethEnd) -> Result<()> {
    a.namespace.ip(&format!(
        "link add {} address {} type veth peer name {} address {} netns {}",
        a.interface,
        a.mac,
        b.interface,
        b.mac,
        b.namespace.name()
    ))?;
    for (end, peer) in [(a, b), (b, a)] {
        end.namespace.ip(&format!("addr add {} dev {}", end.address, end.interface))?;
        end.namespace.ip(&format!("link set {} up", end.interface))?;
        let peer_ip = peer.address.split('/').next().unwrap_or(peer.address);
        end.namespace
            .ip(&format!("neigh replace {peer_ip} lladdr {} dev {} nud permanent", peer.mac, end.interface))?;
    }
    Ok(())
}

/// A node's pod network: a bridge in the node's namespace, with each pod's `eth0` plugged into
/// it through a veth pair, as a simple CNI plugin would do it.
pub struct Bridge<'a> {
    node: &'a NetworkNamespace,
    name: &'static str,
    plugged: AtomicU32,
}

impl<'a> Bridge<'a> {
    /// Creates bridge `name` in `node` with the node's address on it (for example
    /// `10.40.0.1/24`).
    pub fn create(node: &'a NetworkNamespace, name: &'static str, address: &str) -> Result<Self> {
        node.ip(&format!("link add {name} type bridge"))?;
        node.ip(&format!("addr add {address} dev {name}"))?;
        node.ip(&format!("link set {name} up"))?;
        Ok(Self { node, name, plugged: AtomicU32::new(0) })
    }

    /// Gives `pod` an `eth0` with `address` (for example `10.40.0.21/24`), plugged into the
    /// bridge.
    pub fn plug(&self, pod: &NetworkNamespace, address: &str) -> Result<()> {
        let host_side = format!("veth{}", self.plugged.fetch_add(1, Ordering::Relaxed));
        pod.ip(&format!("link add eth0 type veth peer name {host_side} netns {}", self.node.name()))?;
        pod.ip(&format!("addr add {address} dev eth0"))?;
        pod.ip("link set eth0 up")?;
        self.node.ip(&format!("link set {host_side} master {}", self.name))?;
        self.node.ip(&format!("link set {host_side} up"))
    }
}

/// Deletes the namespaces (and hosts files) of earlier runs whose process is gone: a test or
/// demo killed outright had no chance to drop its handles.
fn remove_abandoned() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let owner =
            name.strip_prefix("ww-").and_then(|rest| rest.split('-').nth(1)).and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = owner
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            drop(NetworkNamespace { name: name.to_owned() });
        }
    }
}

fn run(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
