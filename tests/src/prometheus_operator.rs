//! The real prometheus-operator, running against a [`ControlPlane`].
//!
//! No pod runs on the test control plane, but prometheus-operator still renders what it would
//! mount: the rule files of a `Prometheus` into ConfigMaps `prometheus-<name>-rulefiles-<n>`, and
//! the configuration of an `Alertmanager` (with every selected AlertmanagerConfig merged in) into
//! the Secret `alertmanager-<name>-generated`. The suites load exactly those into the local
//! Prometheus and Alertmanager.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use crate::binaries::find_binary;
use crate::control_plane::ControlPlane;
use crate::http_probe::{answers_ok, loopback_client};
use crate::process::{ManagedProcess, free_port, wait_until_ready};
use crate::wait::eventually;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct PrometheusOperator {
    process: ManagedProcess,
    client: kube::Client,
}

impl PrometheusOperator {
    /// Starts prometheus-operator as the control plane's admin (it takes the API server's
    /// address and client certificate as flags; it has no kubeconfig flag). Its CRDs must be
    /// installed first ([`ControlPlane::install_prometheus_operator_crds`]).
    pub async fn start(control_plane: &ControlPlane) -> Result<Self> {
        let port = free_port()?;
        let credentials = control_plane.admin_credentials();
        let args = vec![
            format!("--apiserver={}", control_plane.url()),
            format!("--ca-file={}", credentials.ca_cert.display()),
            format!("--cert-file={}", credentials.client_cert.display()),
            format!("--key-file={}", credentials.client_key.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log-level=info".to_owned(),
        ];
        let mut process = ManagedProcess::spawn(
            "prometheus-operator",
            &find_binary("prometheus-operator")?,
            &args,
            control_plane.dir(),
        )?;
        let http = loopback_client();
        let healthz = format!("http://127.0.0.1:{port}/healthz");
        wait_until_ready(&mut process, READY_TIMEOUT, || answers_ok(&http, &healthz)).await?;
        Ok(Self { process, client: control_plane.client() })
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Waits until the operator has rendered rule files for the `Prometheus` named `prometheus`
    /// in `namespace` that satisfy `accept`, and returns them as (file name, content) pairs.
    pub async fn rendered_rule_files(
        &self,
        namespace: &str,
        prometheus: &str,
        timeout: Duration,
        accept: impl Fn(&[(String, String)]) -> bool,
    ) -> Result<Vec<(String, String)>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let prefix = format!("prometheus-{prometheus}-rulefiles-");
        eventually(timeout, &format!("rule files of Prometheus {namespace}/{prometheus}"), || async {
            let mut files = Vec::new();
            for config_map in api.list(&Default::default()).await?.items {
                if config_map.metadata.name.as_deref().is_some_and(|n| n.starts_with(&prefix)) {
                    files.extend(config_map.data.unwrap_or_default());
                }
            }
            Ok(accept(&files).then_some(files))
        })
        .await
    }

    /// Waits until the operator has rendered a configuration for the `Prometheus` named
    /// `prometheus` in `namespace` that satisfies `accept`, and returns it as YAML text.
    pub async fn rendered_prometheus_config(
        &self,
        namespace: &str,
        prometheus: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let name = format!("prometheus-{prometheus}");
        self.rendered_secret(namespace, &name, "prometheus.yaml", timeout, accept).await
    }

    /// Waits until the operator has rendered a configuration for the `Alertmanager` named
    /// `alertmanager` in `namespace` that satisfies `accept`, and returns it as YAML text.
    pub async fn rendered_alertmanager_config(
        &self,
        namespace: &str,
        alertmanager: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let name = format!("alertmanager-{alertmanager}-generated");
        self.rendered_secret(namespace, &name, "alertmanager.yaml", timeout, accept).await
    }

    /// The text under `key` (or, gzipped, `key.gz`) of the Secret `name`, once it satisfies
    /// `accept`.
    async fn rendered_secret(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        eventually(timeout, &format!("Secret {namespace}/{name}"), || async {
            let Some(secret) = api.get_opt(name).await? else { return Ok(None) };
            let data = secret.data.unwrap_or_default();
            let config = if let Some(gz) = data.get(&format!("{key}.gz")) {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&gz.0[..]).read_to_string(&mut text).context("gunzip")?;
                text
            } else if let Some(plain) = data.get(key) {
                String::from_utf8(plain.0.clone())?
            } else {
                return Ok(None);
            };
            Ok(accept(&config).then_some(config))
        })
        .await
    }
}
