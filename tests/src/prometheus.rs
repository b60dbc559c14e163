//! Prometheus and Alertmanager from Debian's packages, on loopback, with a given configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::binaries::find_binary;
use crate::http_probe::{answers_ok, loopback_client};
use crate::netns::NetworkNamespace;
use crate::process::{ManagedProcess, free_port, scratch_dir, wait_until_ready};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Debian names the Alertmanager binary `prometheus-alertmanager`; upstream calls it `alertmanager`.
fn alertmanager_binary() -> Result<PathBuf> {
    find_binary("prometheus-alertmanager").or_else(|_| find_binary("alertmanager")).map_err(Into::into)
}

/// Writes `files` (name, content) into `dir`; names are relative paths.
fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    for (name, content) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A Prometheus-family server on loopback: its process, base URL, HTTP client and directory.
/// Prometheus and Alertmanager differ only in their flags and APIs; both dereference to it.
pub struct LoopbackServer {
    process: ManagedProcess,
    url: String,
    http: reqwest::Client,
    dir: TempDir,
}

/// Where a test server listens and how it is started.
#[derive(Clone, Copy, Default)]
pub struct Placement<'a> {
    /// Its listen address; 127.0.0.1 on a free port if none.
    pub listen: Option<SocketAddr>,
    /// Started with `ip netns exec` in this namespace, so that it sees the namespace's hosts
    /// file (the caller is in the namespace already, or the server would not be reachable).
    pub namespace: Option<&'a NetworkNamespace>,
}

impl LoopbackServer {
    /// Writes `files` into a fresh directory, starts `program` as `placement` says with the
    /// flags `args` gives for (directory, listen address), and waits until `/-/ready` answers.
    async fn start(
        name: &str,
        program: &Path,
        files: &[(&str, &str)],
        placement: Placement<'_>,
        args: impl FnOnce(&Path, SocketAddr) -> Vec<String>,
    ) -> Result<Self> {
        let dir = scratch_dir(&format!("wardwatch-{name}-"))?;
        write_files(dir.path(), files)?;
        let listen = match placement.listen {
            Some(listen) => listen,
            None => SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        };
        let mut command = match placement.namespace {
            Some(namespace) => namespace.exec(program),
            None => Command::new(program),
        };
        command.args(args(dir.path(), listen));
        let mut process = ManagedProcess::spawn_command(name, command, dir.path())?;
        let url = format!("http://{listen}");
        let http = loopback_client();
        let ready = format!("{url}/-/ready");
        wait_until_ready(&mut process, READY_TIMEOUT, || answers_ok(&http, &ready)).await?;
        Ok(Self { process, url, http, dir })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:<port>`, for scrape targets, federation and Prometheus's `alerting` section.
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// A Prometheus server. Rule files named in the configuration resolve relative to its directory.
pub struct Prometheus {
    server: LoopbackServer,
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml) and extra `files` (rule files, ...)
    /// written beside it, and waits until `/-/ready` answers.
    pub async fn start(config: &str, files: &[(&str, &str)]) -> Result<Self> {
        Self::start_placed(config, files, Placement::default()).await
    }

    /// [`Prometheus::start`] at a chosen address or inside a network namespace.
    pub async fn start_placed(config: &str, files: &[(&str, &str)], placement: Placement<'_>) -> Result<Self> {
        let mut all = vec![("prometheus.yml", config)];
        all.extend_from_slice(files);
        let program = find_binary("prometheus")?;
        let server = LoopbackServer::start("prometheus", &program, &all, placement, |dir, listen| {
            vec![
                format!("--config.file={}", dir.join("prometheus.yml").display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address={listen}"),
                "--web.enable-lifecycle".to_owned(),
                "--log.level=warn".to_owned(),
            ]
        })
        .await?;
        Ok(Self { server })
    }

    /// Replaces files beside the configuration (or the configuration itself) and reloads.
    pub async fn reload_with(&self, files: &[(&str, &str)]) -> Result<()> {
        write_files(self.server.dir.path(), files)?;
        let response = self.server.http.post(format!("{}/-/reload", self.server.url)).send().await?;
        if !response.status().is_success() {
            bail!("reload refused: {}", response.text().await?);
        }
        Ok(())
    }

    /// An instant query; returns `data.result`.
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>> {
        let body = self.api_get("/api/v1/query", &[("query", expr)]).await?;
        Ok(body["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus currently holds (pending and firing).
    pub async fn alerts(&self) -> Result<Vec<Value>> {
        let body = self.api_get("/api/v1/alerts", &[]).await?;
        Ok(body["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// The scrape targets and their health.
    pub async fn active_targets(&self) -> Result<Vec<Value>> {
        let body = self.api_get("/api/v1/targets", &[("state", "active")]).await?;
        Ok(body["activeTargets"].as_array().cloned().unwrap_or_default())
    }

    async fn api_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let response: Value =
            self.server.http.get(format!("{}{path}", self.server.url)).query(query).send().await?.json().await?;
        if response["status"] != "success" {
            bail!("Prometheus {path} failed: {response}");
        }
        Ok(response["data"].clone())
    }
}

/// An Alertmanager, single instance (clustering off).
pub struct Alertmanager {
    server: LoopbackServer,
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (alertmanager.yml) and waits until `/-/ready` answers.
    pub async fn start(config: &str) -> Result<Self> {
        let files = [("alertmanager.yml", config)];
        let placement = Placement::default();
        let server =
            LoopbackServer::start("alertmanager", &alertmanager_binary()?, &files, placement, |dir, listen| {
                vec![
                    format!("--config.file={}", dir.join("alertmanager.yml").display()),
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address={listen}"),
                    // An empty address turns the gossip cluster off: one instance, no extra ports.
                    "--cluster.listen-address=".to_owned(),
                    "--log.level=warn".to_owned(),
                ]
            })
            .await?;
        Ok(Self { server })
    }

    /// The alerts Alertmanager holds (API v2).
    pub async fn alerts(&self) -> Result<Vec<Value>> {
        let response = self.server.http.get(format!("{}/api/v2/alerts", self.server.url)).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }
}

impl std::ops::Deref for Prometheus {
    type Target = LoopbackServer;
    fn deref(&self) -> &LoopbackServer {
        &self.server
    }
}

impl std::ops::DerefMut for Prometheus {
    fn deref_mut(&mut self) -> &mut LoopbackServer {
        &mut self.server
    }
}

impl std::ops::Deref for Alertmanager {
    type Target = LoopbackServer;
    fn deref(&self) -> &LoopbackServer {
        &self.server
    }
}

impl std::ops::DerefMut for Alertmanager {
    fn deref_mut(&mut self) -> &mut LoopbackServer {
        &mut self.server
    }
}

/// Runs `promtool` or `amtool` (or any Debian tool) and returns (success, stdout + stderr).
pub fn run_tool(program: &str, args: &[&str]) -> Result<(bool, String)> {
    let output = std::process::Command::new(find_binary(program)?).args(args).output()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}
