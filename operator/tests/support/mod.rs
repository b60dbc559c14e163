//! Shared pieces of the operator's end-to-end suites: the operator binary as a process against
//! the test bed, and the API server's own count of writes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testbed::http_probe::{answers_ok, loopback_client};
use testbed::process::{ManagedProcess, free_port, wait_until_ready};
use testbed::{ControlPlane, eventually};

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The operator binary Cargo built for this test run, running against `cp`.
pub struct Operator {
    pub process: ManagedProcess,
    pub metrics_url: String,
}

impl Operator {
    pub async fn start(cp: &ControlPlane, name: &str, extra: &[&str]) -> Operator {
        Self::start_with_kubeconfig(cp, cp.kubeconfig_path(), name, extra).await
    }

    /// Runs the operator with another identity's kubeconfig (for RBAC tests).
    pub async fn start_with_kubeconfig(cp: &ControlPlane, kubeconfig: &Path, name: &str, extra: &[&str]) -> Operator {
        let port = free_port().unwrap();
        let mut command = cp.command(Path::new(env!("CARGO_BIN_EXE_wardwatch-operator")));
        command.env("KUBECONFIG", kubeconfig);
        command.args(["run", "--metrics-address", &format!("127.0.0.1:{port}")]);
        // Suites resync every 2 s unless they say otherwise.
        if !extra.contains(&"--resync-interval") {
            command.args(["--resync-interval", "2s"]);
        }
        command.args(["--identity", name, "--lease-duration", "6s"]).args(extra).env("RUST_LOG", "info,kube=warn");
        let mut process = ManagedProcess::spawn_command(name, command, cp.dir()).expect("operator starts");
        let http = loopback_client();
        let ready = format!("http://127.0.0.1:{port}/readyz");
        wait_until_ready(&mut process, Duration::from_secs(30), || answers_ok(&http, &ready))
            .await
            .expect("operator ready");
        Operator { process, metrics_url: format!("http://127.0.0.1:{port}/metrics") }
    }

    /// The value of one sample of the operator's metrics (summed over matching label sets).
    pub async fn metric(&self, name: &str, label_filter: &str) -> f64 {
        let text = loopback_client().get(&self.metrics_url).send().await.unwrap().text().await.unwrap();
        sum_samples(&text, name, label_filter)
    }
}

/// Sums the samples of `name` whose label set contains `label_filter` (Prometheus text format).
pub fn sum_samples(text: &str, name: &str, label_filter: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with(name) && matches!(line.as_bytes().get(name.len()), Some(b'{') | Some(b' ')))
        .filter(|line| line.contains(label_filter))
        .filter_map(|line| line.rsplit_once(' ').and_then(|(_, value)| value.parse::<f64>().ok()))
        .sum()
}

/// The verbs of `apiserver_request_total` that write.
pub const WRITE_VERBS: &[&str] = &["POST", "PUT", "PATCH", "APPLY", "DELETE"];
/// The verbs that read without watching.
pub const READ_VERBS: &[&str] = &["GET", "LIST"];

/// Writes (POST, PUT, PATCH, APPLY, DELETE) the API server has served, by resource, from its own
/// `apiserver_request_total` counter.
pub async fn writes_by_resource(cp: &ControlPlane) -> BTreeMap<String, f64> {
    requests_by_resource(cp, WRITE_VERBS).await
}

/// Requests of the given verbs the API server has served, by resource (`resource` or
/// `resource/subresource`), from its own `apiserver_request_total` counter.
pub async fn requests_by_resource(cp: &ControlPlane, verbs: &[&str]) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = cp.client().request_text(request).await.expect("API server metrics");
    let mut requests = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let label = |key: &str| {
            line.split(&format!("{key}=\"")).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_owned()
        };
        if !verbs.contains(&label("verb").as_str()) {
            continue;
        }
        let Some(value) = line.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()) else { continue };
        let subresource = label("subresource");
        let resource =
            if subresource.is_empty() { label("resource") } else { format!("{}/{subresource}", label("resource")) };
        *requests.entry(resource).or_default() += value;
    }
    requests
}

/// Waits until `kubectl get <what> -o jsonpath=<path>` prints `expected`.
pub async fn wait_for_jsonpath(cp: &ControlPlane, args: &[&str], path: &str, expected: &str, timeout: Duration) {
    let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    full.extend(["-o".to_owned(), format!("jsonpath={path}")]);
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    eventually(timeout, &format!("kubectl {} = {expected:?}", full.join(" ")), || async {
        let output = cp.kubectl(&full)?;
        Ok((String::from_utf8_lossy(&output.stdout) == expected).then_some(()))
    })
    .await
    .unwrap();
}

/// Whether `kubectl get <args>` finds the object.
pub fn exists(cp: &ControlPlane, args: &[&str]) -> bool {
    cp.kubectl(args).map(|o| o.status.success()).unwrap_or(false)
}

pub fn kubectl_ok(cp: &ControlPlane, args: &[&str]) -> String {
    let output = cp.kubectl(args).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "kubectl {}: {stdout}{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Waits until `kubectl get -n <namespace> <object>` finds the object.
pub async fn wait_exists(cp: &ControlPlane, namespace: &str, object: &str) {
    eventually(Duration::from_secs(60), &format!("{namespace}/{object} exists"), || async {
        Ok(exists(cp, &["get", "-n", namespace, object]).then_some(()))
    })
    .await
    .unwrap();
}

/// Waits until `kubectl get -n <namespace> <object>` no longer finds the object.
pub async fn wait_gone(cp: &ControlPlane, namespace: &str, object: &str) {
    eventually(Duration::from_secs(60), &format!("{namespace}/{object} gone"), || async {
        Ok((!exists(cp, &["get", "-n", namespace, object])).then_some(()))
    })
    .await
    .unwrap();
}

/// `kubectl patch --type=merge` of one object.
pub fn merge_patch(cp: &ControlPlane, namespace: &str, object: &str, patch: &str) {
    kubectl_ok(cp, &["patch", "-n", namespace, object, "--type=merge", "-p", patch]);
}

/// Whether an Event with this reason exists in `namespace`.
pub fn has_event(cp: &ControlPlane, namespace: &str, reason: &str) -> bool {
    let field = format!("reason={reason}");
    !kubectl_ok(cp, &["get", "events", "-n", namespace, "--field-selector", &field, "-o", "name"]).trim().is_empty()
}

/// `kubectl apply` of the example namespace and ward (five devices).
pub fn apply_example_ward(cp: &ControlPlane) {
    for manifest in ["manifests/namespace.yaml", "manifests/ward.yaml"] {
        kubectl_ok(cp, &["apply", "-f", repo_path(manifest).to_str().unwrap()]);
    }
}

/// A kubeconfig file that authenticates as `namespace/service_account` with a token from the
/// TokenRequest API, for running the operator under the chart's RBAC.
pub fn service_account_kubeconfig(cp: &ControlPlane, namespace: &str, service_account: &str) -> PathBuf {
    let token = kubectl_ok(cp, &["create", "token", service_account, "-n", namespace, "--duration", "1h"]);
    let kubeconfig = cp.dir().join(format!("{namespace}-{service_account}.kubeconfig"));
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: bed, cluster: {{server: '{}', certificate-authority: '{}'}}}}]\n\
         users: [{{name: sa, user: {{token: '{}'}}}}]\n\
         contexts: [{{name: sa, context: {{cluster: bed, user: sa}}}}]\ncurrent-context: sa\n",
        cp.url(),
        cp.admin_credentials().ca_cert.display(),
        token.trim()
    );
    std::fs::write(&kubeconfig, yaml).unwrap();
    kubeconfig
}

/// `helm install wardwatch charts/wardwatch -n wardwatch-system --create-namespace`.
pub fn install_chart(cp: &ControlPlane) {
    let chart = repo_path("charts/wardwatch");
    let install = cp
        .helm(&["install", "wardwatch", chart.to_str().unwrap(), "-n", "wardwatch-system", "--create-namespace"])
        .unwrap();
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
}

/// Which of two replicas (`'a'` or `'b'`) leads, once exactly one does.
pub async fn the_leader(a: &Operator, b: &Operator) -> char {
    eventually(Duration::from_secs(60), "exactly one leader", || async {
        let (la, lb) =
            (a.metric("wardwatch_operator_leader", "").await, b.metric("wardwatch_operator_leader", "").await);
        Ok(match (la as i64, lb as i64) {
            (1, 0) => Some('a'),
            (0, 1) => Some('b'),
            _ => None,
        })
    })
    .await
    .unwrap()
}
