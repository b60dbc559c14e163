//! Child processes that cannot outlive their test.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// A running program whose output goes to `<dir>/<name>.log`. Dropping the handle kills it and
/// reaps it; the kernel kills it too if the test process dies first (`PR_SET_PDEATHSIG`).
pub struct ManagedProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `program args...` with its stdout and stderr in `log_dir/name.log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log_dir: &Path) -> Result<Self> {
        let mut command = Command::new(program);
        command.args(args);
        Self::spawn_command(name, command, log_dir)
    }

    /// Starts a prepared command (arguments, environment) with its output in `log_dir/name.log`.
    pub fn spawn_command(name: &str, mut command: Command, log_dir: &Path) -> Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let program = command.get_program().to_owned();
        command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| format!("starting {name} ({})", program.display()))?;
        Ok(Self { name: name.to_owned(), child, log })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines the program wrote, preceded by up to ten earlier lines that look
    /// like errors (klog `E`/`F` lines, "error", "fatal"), for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail_start = all.len().saturating_sub(lines);
        let looks_like_error = |line: &&&str| {
            let lower = line.to_ascii_lowercase();
            line.starts_with('E') || line.starts_with('F') || lower.contains("error") || lower.contains("fatal")
        };
        let mut shown: Vec<&str> = all[..tail_start].iter().filter(looks_like_error).take(10).copied().collect();
        if !shown.is_empty() {
            shown.push("...");
        }
        shown.extend(&all[tail_start..]);
        shown.join("\n")
    }

    /// Fails, with the tail of the log, if the program has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early ({status}); last lines of its log:\n{}", self.name, self.log_tail(30));
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `grace` for the program to exit; true if it did.
    pub fn terminate(&mut self, grace: std::time::Duration) -> bool {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    /// Kills the program and waits for it to go (used by tests that restart a component).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh directory for one component's state and logs, removed when dropped unless
/// `WARDWATCH_KEEP_TESTBED` is set (then its path is printed, for reading logs after a failure).
pub fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let keep = std::env::var_os("WARDWATCH_KEEP_TESTBED").is_some();
    let dir = tempfile::Builder::new().prefix(prefix).disable_cleanup(keep).tempdir()?;
    if keep {
        eprintln!("keeping {}", dir.path().display());
    }
    Ok(dir)
}

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `probe` every 100 ms until it returns `Ok(true)`, the process exits, or `timeout` passes.
pub async fn wait_until_ready<F, Fut>(
    process: &mut ManagedProcess,
    timeout: std::time::Duration,
    mut probe: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        process.check_running()?;
        if probe().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{} not ready after {timeout:?}; last lines of its log:\n{}", process.name(), process.log_tail(30));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_handle_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let process = ManagedProcess::spawn("sleeper", Path::new("/bin/sleep"), &["300".into()], dir.path()).unwrap();
        let pid = process.pid() as i32;
        assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "running before drop");
        drop(process);
        // Reaped by drop, so the pid no longer names our child.
        assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "gone after drop");
    }

    #[tokio::test]
    async fn early_exit_is_reported_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut process = ManagedProcess::spawn(
            "failer",
            Path::new("/bin/sh"),
            &["-c".into(), "echo boom-from-child; exit 3".into()],
            dir.path(),
        )
        .unwrap();
        let err = wait_until_ready(&mut process, std::time::Duration::from_secs(5), || async { false })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("failer exited early"), "{err}");
        assert!(err.contains("boom-from-child"), "{err}");
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().unwrap();
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
