//! etcd and kube-apiserver on loopback, as controller-runtime's envtest starts them.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::Scope;
use kube::runtime::wait::{await_condition, conditions};
use tempfile::TempDir;

use crate::binaries::{find_binary, prometheus_operator_crd_dir};
use crate::http_probe::{answers_ok, loopback_client};
use crate::pki::Pki;
use crate::process::{ManagedProcess, free_port, scratch_dir, wait_until_ready};

/// How long a component may take to become ready. kube-apiserver's first start installs its
/// bootstrap objects, which takes a few seconds on two cores.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The field manager the test bed applies its own objects (CRDs) with.
const FIELD_MANAGER: &str = "wardwatch-testbed";

/// A real Kubernetes API: etcd plus kube-apiserver, reachable through [`ControlPlane::client`]
/// and through the kubeconfig file at [`ControlPlane::kubeconfig_path`].
pub struct ControlPlane {
    // Fields drop in declaration order: clients of the API server first, then the API server,
    // then etcd, the directory last.
    controller_manager: Option<ManagedProcess>,
    apiserver: ManagedProcess,
    etcd: ManagedProcess,
    apiserver_args: Vec<String>,
    apiserver_port: u16,
    kubeconfig: PathBuf,
    credentials: AdminCredentials,
    client: kube::Client,
    dir: TempDir,
}

/// PEM files of the cluster admin (`system:masters`), for programs that take them as flags.
#[derive(Clone, Debug)]
pub struct AdminCredentials {
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// What a control plane for a real node (`crate::node`) needs beyond the loopback-only default.
#[derive(Clone, Debug, Default)]
pub struct NodeSupport {
    /// Extra names (IP addresses or DNS names) on the API server's serving certificate: the
    /// `kubernetes` Service's address and names, the address pods reach the API server at.
    pub serving_names: Vec<String>,
    /// `--service-cluster-ip-range`.
    pub service_cidr: String,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free loopback ports and waits until `/readyz` answers.
    pub async fn start() -> Result<Self> {
        Self::start_with(None).await
    }

    /// As [`ControlPlane::start`], ready for a real node when `node` is given: the
    /// ServiceAccount admission plugin on (pods get their token volume), the given Service
    /// range and certificate names, and the admin's client certificate for the kubelet API
    /// (`kubectl logs`).
    pub async fn start_with(node: Option<NodeSupport>) -> Result<Self> {
        let dir = scratch_dir("wardwatch-cp-")?;
        let extra_names = node.as_ref().map(|n| n.serving_names.clone()).unwrap_or_default();
        let pki = Pki::generate_with_names(dir.path(), &extra_names)?;

        let (etcd, etcd_url) = start_etcd(dir.path()).await?;

        let apiserver_port = free_port()?;
        let credentials = write_admin_credentials(dir.path(), &pki)?;
        let mut apiserver_args = apiserver_args(dir.path(), &pki, &etcd_url, apiserver_port);
        if let Some(node) = &node {
            apiserver_args.retain(|arg| {
                !arg.starts_with("--disable-admission-plugins=") && !arg.starts_with("--service-cluster-ip-range=")
            });
            apiserver_args.extend([
                format!("--service-cluster-ip-range={}", node.service_cidr),
                format!("--kubelet-client-certificate={}", credentials.client_cert.display()),
                format!("--kubelet-client-key={}", credentials.client_key.display()),
                // The node's name resolves nowhere; its address does (`kubectl logs`, `exec`).
                "--kubelet-preferred-address-types=InternalIP".to_owned(),
            ]);
        }
        let kubeconfig = write_kubeconfig(dir.path(), &credentials, apiserver_port)?;
        let client = client_from_kubeconfig(&kubeconfig).await?;
        let apiserver = start_apiserver(dir.path(), &apiserver_args, &client).await?;

        Ok(Self {
            controller_manager: None,
            apiserver,
            etcd,
            apiserver_args,
            apiserver_port,
            kubeconfig,
            credentials,
            client,
            dir,
        })
    }

    /// A client authenticated as a cluster admin (`system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig file for kubectl, helm and the operator binary.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The admin's certificate, key and the cluster CA as files.
    pub fn admin_credentials(&self) -> &AdminCredentials {
        &self.credentials
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.apiserver_port)
    }

    /// The directory holding this control plane's state and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn etcd(&self) -> &ManagedProcess {
        &self.etcd
    }

    /// Stops the API server, waits `down_for`, then starts it again on the same port and waits
    /// for readiness; etcd keeps running, so the cluster's state survives. For resilience tests.
    pub async fn restart_apiserver(&mut self, down_for: Duration) -> Result<()> {
        self.apiserver.kill();
        tokio::time::sleep(down_for).await;
        self.apiserver = start_apiserver(self.dir.path(), &self.apiserver_args, &self.client).await?;
        Ok(())
    }

    /// Starts kube-controller-manager with the given controllers (for example
    /// `garbage-collector-controller` so that deleting an owner removes what it owns, or
    /// `deployment-controller` and `replicaset-controller`). Stopped with the control plane.
    pub async fn start_controller_manager(&mut self, controllers: &[&str]) -> Result<()> {
        self.start_controller_manager_with(controllers, &[]).await
    }

    /// As [`ControlPlane::start_controller_manager`], with more flags (for a real node:
    /// `--root-ca-file` for the `kube-root-ca.crt` ConfigMaps pods mount).
    pub async fn start_controller_manager_with(&mut self, controllers: &[&str], extra_args: &[String]) -> Result<()> {
        let mut args = vec![
            format!("--kubeconfig={}", self.kubeconfig.display()),
            format!("--controllers={}", controllers.join(",")),
            "--leader-elect=false".to_owned(),
            // No serving endpoint is needed; 0 turns the secure port off.
            "--secure-port=0".to_owned(),
            "--use-service-account-credentials=false".to_owned(),
        ];
        args.extend(extra_args.iter().cloned());
        let mut process = ManagedProcess::spawn(
            "kube-controller-manager",
            &find_binary("kube-controller-manager")?,
            &args,
            self.dir.path(),
        )?;
        // It has no readiness endpoint without serving; give it a moment and make sure it stays up.
        tokio::time::sleep(Duration::from_secs(2)).await;
        process.check_running()?;
        self.controller_manager = Some(process);
        Ok(())
    }

    /// Applies CRDs server-side and waits until each is Established.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        for crd in crds {
            let name = crd.metadata.name.clone().context("CRD without a name")?;
            api.patch(&name, &params, &Patch::Apply(crd)).await.with_context(|| format!("applying CRD {name}"))?;
        }
        for crd in crds {
            let name = crd.metadata.name.as_deref().unwrap_or_default();
            tokio::time::timeout(READY_TIMEOUT, await_condition(api.clone(), name, conditions::is_crd_established()))
                .await
                .with_context(|| format!("CRD {name} not established in {READY_TIMEOUT:?}"))??;
        }
        Ok(())
    }

    /// Installs every CRD in the given YAML files (multi-document streams allowed).
    pub async fn install_crd_files(&self, paths: &[PathBuf]) -> Result<()> {
        let mut crds = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            crds.extend(parse_crds(&text).with_context(|| format!("parsing {}", path.display()))?);
        }
        self.install_crds(&crds).await
    }

    /// Installs prometheus-operator's CRDs (PrometheusRule, PodMonitor, AlertmanagerConfig,
    /// ScrapeConfig, ...) from the module version the test bed built.
    pub async fn install_prometheus_operator_crds(&self) -> Result<()> {
        let dir = prometheus_operator_crd_dir();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}; run `bash tests/testbed/build.sh`", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            bail!("no CRD files in {}; run `bash tests/testbed/build.sh`", dir.display());
        }
        self.install_crd_files(&paths).await
    }

    /// Applies any object (given as JSON, `apiVersion` and `kind` set) server-side as the test
    /// bed's field manager, resolving its resource through discovery. Returns what the API server
    /// stored, or its refusal as `kube::Error::Api`.
    pub async fn apply(&self, object: &serde_json::Value) -> Result<DynamicObject, kube::Error> {
        let api = self.dynamic_api(object).await?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await
    }

    /// Reads back the object `object` names (kind, namespace, name).
    pub async fn get(&self, object: &serde_json::Value) -> Result<DynamicObject, kube::Error> {
        let api = self.dynamic_api(object).await?;
        api.get(object["metadata"]["name"].as_str().unwrap_or_default()).await
    }

    async fn dynamic_api(&self, object: &serde_json::Value) -> Result<Api<DynamicObject>, kube::Error> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap_or_default());
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk).await?;
        Ok(match (capabilities.scope, object["metadata"]["namespace"].as_str()) {
            (Scope::Namespaced, Some(namespace)) => Api::namespaced_with(self.client(), namespace, &resource),
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.client(), &resource),
            (Scope::Cluster, _) => Api::all_with(self.client(), &resource),
        })
    }

    /// Runs the test bed's kubectl against this control plane and returns its output.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.run_against("kubectl", args)
    }

    /// Runs the test bed's helm against this control plane, with its cache, configuration and
    /// data kept in the control plane's directory.
    pub fn helm(&self, args: &[&str]) -> Result<Output> {
        self.run_against("helm", args)
    }

    /// Runs `program` (kubectl, helm, the operator binary, ...) with `KUBECONFIG` pointing at
    /// this control plane.
    pub fn run_against(&self, program: &str, args: &[&str]) -> Result<Output> {
        self.command(&find_binary(program)?).args(args).output().with_context(|| format!("running {program}"))
    }

    /// A command for `program` with `KUBECONFIG` (and helm's directories) pointing at this
    /// control plane, for callers that spawn long-running processes themselves.
    pub fn command(&self, program: &Path) -> std::process::Command {
        let helm_home = self.dir.path().join("helm");
        let mut command = std::process::Command::new(program);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", helm_home.join("config"))
            .env("HELM_DATA_HOME", helm_home.join("data"));
        command
    }
}

async fn start_etcd(dir: &Path) -> Result<(ManagedProcess, String)> {
    let (client_port, peer_port) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let args = vec![
        "--name=testbed".to_owned(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=testbed={peer_url}"),
        // Test data needs no durability; fsync dominates etcd's latency on small machines.
        "--unsafe-no-fsync=true".to_owned(),
        "--log-level=warn".to_owned(),
    ];
    let mut etcd = ManagedProcess::spawn("etcd", &find_binary("etcd")?, &args, dir)?;
    let http = loopback_client();
    let health = format!("{client_url}/health");
    wait_until_ready(&mut etcd, READY_TIMEOUT, || answers_ok(&http, &health)).await?;
    Ok((etcd, client_url))
}

/// The flags envtest passes to kube-apiserver, adapted to certificates we generate ourselves.
fn apiserver_args(dir: &Path, pki: &Pki, etcd_url: &str, port: u16) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", path(&pki.serving_cert)),
        format!("--tls-private-key-file={}", path(&pki.serving_key)),
        format!("--client-ca-file={}", path(&pki.ca_cert)),
        "--authorization-mode=RBAC".to_owned(),
        format!("--service-account-issuer=https://127.0.0.1:{port}"),
        format!("--service-account-key-file={}", path(&pki.service_account_public_key)),
        format!("--service-account-signing-key-file={}", path(&pki.service_account_key)),
        // An address range the API server allocates Service IPs from; nothing is routed there.
        "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
        "--allow-privileged=true".to_owned(),
        // No token controller runs, so the ServiceAccount admission plugin would refuse pods.
        "--disable-admission-plugins=ServiceAccount".to_owned(),
        // The default reconciler refuses a loopback advertise address; no Endpoints are needed.
        "--endpoint-reconciler-type=none".to_owned(),
        "--profiling=false".to_owned(),
    ]
}

async fn start_apiserver(dir: &Path, args: &[String], client: &kube::Client) -> Result<ManagedProcess> {
    let mut apiserver = ManagedProcess::spawn("kube-apiserver", &find_binary("kube-apiserver")?, args, dir)?;
    wait_until_ready(&mut apiserver, READY_TIMEOUT, || is_ready(client)).await?;
    Ok(apiserver)
}

async fn is_ready(client: &kube::Client) -> bool {
    let request = http::Request::get("/readyz").body(Vec::new()).expect("a static request is valid");
    matches!(client.request_text(request).await, Ok(body) if body.trim() == "ok")
}

fn write_admin_credentials(dir: &Path, pki: &Pki) -> Result<AdminCredentials> {
    let credentials = AdminCredentials {
        ca_cert: pki.ca_cert.clone(),
        client_cert: dir.join("admin.crt"),
        client_key: dir.join("admin.key"),
    };
    std::fs::write(&credentials.client_cert, &pki.admin_cert_pem)?;
    std::fs::write(&credentials.client_key, &pki.admin_key_pem)?;
    Ok(credentials)
}

fn write_kubeconfig(dir: &Path, credentials: &AdminCredentials, port: u16) -> Result<PathBuf> {
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "certificate-authority": credentials.ca_cert,
        }}],
        "users": [{"name": "admin", "user": {
            "client-certificate": credentials.client_cert,
            "client-key": credentials.client_key,
        }}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin", "namespace": "default"}}],
        "current-context": "testbed",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig)?)?;
    Ok(path)
}

/// A client from a kubeconfig file, as the operator binary would build one.
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Every CustomResourceDefinition in a multi-document YAML stream (other kinds are refused).
pub fn parse_crds(yaml: &str) -> Result<Vec<CustomResourceDefinition>> {
    use serde::Deserialize;
    let mut crds = Vec::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        crds.push(serde_yaml::from_value(value)?);
    }
    Ok(crds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_document_crd_streams() {
        let yaml = "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                    metadata: {name: as.example.io}\nspec: {group: example.io, names: {kind: A, plural: as}, \
                    scope: Namespaced, versions: []}\n---\n# only a comment\n---\n\
                    apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                    metadata: {name: bs.example.io}\nspec: {group: example.io, names: {kind: B, plural: bs}, \
                    scope: Cluster, versions: []}\n";
        let names: Vec<_> = parse_crds(yaml).unwrap().into_iter().map(|c| c.metadata.name.unwrap()).collect();
        assert_eq!(names, ["as.example.io", "bs.example.io"]);
    }

    #[test]
    fn apiserver_flags_point_at_the_generated_files() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let args = apiserver_args(dir.path(), &pki, "http://127.0.0.1:2379", 6443);
        assert!(args.contains(&"--secure-port=6443".to_owned()));
        for flag in ["--client-ca-file=", "--tls-cert-file=", "--service-account-key-file="] {
            let value = args.iter().find_map(|a| a.strip_prefix(flag)).unwrap();
            assert!(Path::new(value).is_file(), "{flag} names a written file");
        }
    }
}
