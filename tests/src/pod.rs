//! A container of a pod spec the operator wrote, run as a local process the way the kubelet
//! would start it: its arguments and environment as written (downward-API fields filled in),
//! inside the pod's network namespace, as the pod's user, with exactly the capabilities its
//! security context grants (`setpriv` from util-linux). Without a mount namespace per container,
//! an `emptyDir` volume is a directory of the pod's under [`PodFacts::volumes`], owned by the
//! pod's user, and environment values that name the mount path are pointed at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::netns::NetworkNamespace;

/// What the kubelet knows about a pod that the spec leaves to the downward API.
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub ip: String,
    /// Where the pod's emptyDir volumes live (one directory each, by volume name).
    pub volumes: PathBuf,
}

impl PodFacts {
    fn field(&self, path: &str) -> Result<&str> {
        match path {
            "metadata.name" => Ok(&self.name),
            "metadata.namespace" => Ok(&self.namespace),
            // One address per family; these pods have one.
            "status.podIP" | "status.podIPs" => Ok(&self.ip),
            other => bail!("downward API field {other} is not known to the test's pod runner"),
        }
    }
}

/// A ward gateway (the simulator's `gateway`) of a device pod's own, on a free port of the
/// namespace's loopback, its log in `logs`; returns it and the address it listens on.
pub fn start_loopback_gateway(
    namespace: &NetworkNamespace,
    name: &str,
    logs: &Path,
) -> Result<(crate::ManagedProcess, String)> {
    let address = format!("127.0.0.1:{}", crate::free_port()?);
    let metrics = format!("127.0.0.1:{}", crate::free_port()?);
    let mut command = namespace.exec(crate::workspace_binary("wardwatch-simulator")?);
    command.args(["gateway", "--listen", &address, "--metrics-listen", &metrics]);
    Ok((crate::ManagedProcess::spawn_command(name, command, logs)?, address))
}

/// The pod template's spec inside a rendered Deployment.
pub fn pod_spec(deployment: &Value) -> Result<&Value> {
    let spec = &deployment["spec"]["template"]["spec"];
    if spec.is_null() {
        bail!("{} is not a workload with a pod template", deployment["metadata"]["name"]);
    }
    Ok(spec)
}

/// The pod's containers in the kubelet's start order: its sidecars (init containers that keep
/// running, `restartPolicy: Always`) in order, each started once its startup probe passed (see
/// [`startup_probe`]), then its main containers. An init container that runs to completion is
/// refused: the runner never waits for a container to exit.
pub fn start_order(pod_spec: &Value) -> Result<Vec<&Value>> {
    let list = |name: &str| pod_spec[name].as_array().into_iter().flatten();
    for init in list("initContainers") {
        if init["restartPolicy"] != "Always" {
            bail!("init container {} runs to completion; the test's pod runner runs only sidecars", init["name"]);
        }
    }
    Ok(list("initContainers").chain(list("containers")).collect())
}

/// A container's HTTP startup probe as (path, port), the port resolved from its name among the
/// container's ports; `None` without one. Other kinds of startup probe are refused.
pub fn startup_probe(container: &Value) -> Result<Option<(String, u16)>> {
    let probe = &container["startupProbe"];
    if probe.is_null() {
        return Ok(None);
    }
    let get = &probe["httpGet"];
    let path = get["path"].as_str().with_context(|| format!("{}: only httpGet startup probes", container["name"]))?;
    let port = match &get["port"] {
        Value::Number(port) => port.as_u64(),
        Value::String(name) => {
            let ports = container["ports"].as_array().into_iter().flatten();
            ports.filter(|p| p["name"] == *name).find_map(|p| p["containerPort"].as_u64())
        }
        _ => None,
    };
    let port = port.with_context(|| {
        format!("{}: the startup probe's port {} is not a port of it", container["name"], get["port"])
    })?;
    Ok(Some((path.to_owned(), u16::try_from(port)?)))
}

/// The command that runs container `name` of `pod_spec` with `program` as its image's
/// entrypoint, in `network`. `extra_env` adds or replaces variables (a test's bounds, such as
/// a reading count); everything else comes from the spec.
pub fn container_command(
    pod_spec: &Value,
    name: &str,
    program: &Path,
    network: &NetworkNamespace,
    facts: &PodFacts,
    extra_env: &[(&str, &str)],
) -> Result<Command> {
    let container = start_order(pod_spec)?
        .into_iter()
        .find(|c| c["name"] == name)
        .with_context(|| format!("the pod spec has no container {name}"))?;
    if !container["command"].is_null() {
        bail!("container {name} overrides the entrypoint; the test runs the image's own binary");
    }
    let mut command = network.exec("setpriv");
    command.args(security_arguments(pod_spec, container)?);
    command.arg("--").arg(program);
    for arg in container["args"].as_array().into_iter().flatten() {
        command.arg(arg.as_str().context("a non-string container argument")?);
    }
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(mounted_environment(pod_spec, container, facts)?);
    command.envs(extra_env.iter().copied());
    Ok(command)
}

/// The container's environment (see [`environment`]) with values that name an emptyDir's mount
/// path pointed at the pod's directory for it.
fn mounted_environment(pod_spec: &Value, container: &Value, facts: &PodFacts) -> Result<BTreeMap<String, String>> {
    let mut variables = environment(container, facts)?;
    for (mount_path, dir) in empty_dirs(pod_spec, container, facts)? {
        for value in variables.values_mut() {
            if let Some(rest) = value.strip_prefix(&mount_path)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                *value = format!("{}{rest}", dir.display());
            }
        }
    }
    Ok(variables)
}

/// The container's emptyDir mounts as (mount path, the pod's directory for the volume), each
/// directory made and given to the pod's user; a mount of any other kind of volume is refused.
fn empty_dirs(pod_spec: &Value, container: &Value, facts: &PodFacts) -> Result<Vec<(String, PathBuf)>> {
    let mut mounts = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = mount["name"].as_str().context("a volumeMount without a name")?;
        let path = mount["mountPath"].as_str().context("a volumeMount without a mountPath")?;
        let volume = pod_spec["volumes"]
            .as_array()
            .and_then(|volumes| volumes.iter().find(|v| v["name"] == name))
            .with_context(|| format!("volumeMount {name} names no volume of the pod"))?;
        if volume["emptyDir"].is_null() {
            bail!("volume {name}: only emptyDir volumes are supported by the test's pod runner");
        }
        let dir = facts.volumes.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let user = |field: &str| {
            let own = &container["securityContext"][field];
            if own.is_null() { pod_spec["securityContext"][field].as_u64() } else { own.as_u64() }
        };
        let uid = user("runAsUser").map(|u| u as u32);
        std::os::unix::fs::chown(&dir, uid, user("runAsGroup").map(|g| g as u32).or(uid))
            .with_context(|| format!("giving {} to the pod's user", dir.display()))?;
        mounts.push((path.trim_end_matches('/').to_owned(), dir));
    }
    Ok(mounts)
}

/// The container's environment with `valueFrom.fieldRef` resolved.
fn environment(container: &Value, facts: &PodFacts) -> Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().context("an env entry without a name")?;
        let value = match (&variable["value"], &variable["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Value::String(value), _) => value.clone(),
            (_, Value::String(path)) => facts.field(path)?.to_owned(),
            (Value::Null, Value::Null) => String::new(),
            _ => bail!("env {name}: only literal values and fieldRefs are supported by the test's pod runner"),
        };
        variables.insert(name.to_owned(), value);
    }
    Ok(variables)
}

/// `setpriv` arguments for the pod's and container's security context: user and group, no
/// supplementary groups, `no_new_privs` unless privilege escalation is allowed, and the
/// capability sets reduced to what `capabilities.add` lists once `ALL` is dropped. The added
/// capabilities become ambient ones: that is how a non-root process keeps them across exec
/// without file capabilities, which a build tree's binaries do not carry.
fn security_arguments(pod_spec: &Value, container: &Value) -> Result<Vec<String>> {
    let context = |field: &str| {
        let own = &container["securityContext"][field];
        if own.is_null() { &pod_spec["securityContext"][field] } else { own }
    };
    let user = context("runAsUser").as_u64().context("runAsUser is not set; the pods run as non-root")?;
    let group = context("runAsGroup").as_u64().unwrap_or(user);
    let mut arguments = vec![format!("--reuid={user}"), format!("--regid={group}"), "--clear-groups".to_owned()];
    if container["securityContext"]["allowPrivilegeEscalation"] == Value::Bool(false) {
        arguments.push("--no-new-privs".to_owned());
    }
    let capabilities = &container["securityContext"]["capabilities"];
    let drops_all = capabilities["drop"].as_array().is_some_and(|drop| drop.iter().any(|c| c == "ALL"));
    if !drops_all {
        bail!("container {} keeps the default capabilities; the pods drop ALL", container["name"]);
    }
    let added: Vec<String> = capabilities["add"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c.as_str().map(|c| format!("+{}", c.to_ascii_lowercase())).context("a non-string capability"))
        .collect::<Result<_>>()?;
    let kept = if added.is_empty() { "-all".to_owned() } else { format!("-all,{}", added.join(",")) };
    arguments.push(format!("--bounding-set={kept}"));
    arguments.push(format!("--inh-caps={kept}"));
    arguments.push(format!("--ambient-caps={kept}"));
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporter_spec() -> Value {
        serde_json::json!({
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": true},
            "containers": [{
                "name": "exporter",
                "env": [
                    {"name": "WARDWATCH_INTERFACE", "value": "eth0"},
                    {"name": "WARDWATCH_LOCAL_CIDRS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                ],
                "securityContext": {
                    "allowPrivilegeEscalation": true,
                    "capabilities": {"add": ["NET_RAW", "NET_ADMIN"], "drop": ["ALL"]},
                },
            }],
        })
    }

    #[test]
    fn the_security_context_becomes_user_group_and_exactly_the_added_capabilities() {
        let spec = exporter_spec();
        let arguments = security_arguments(&spec, &spec["containers"][0]).unwrap();
        assert_eq!(
            arguments,
            [
                "--reuid=65532",
                "--regid=65532",
                "--clear-groups",
                "--bounding-set=-all,+net_raw,+net_admin",
                "--inh-caps=-all,+net_raw,+net_admin",
                "--ambient-caps=-all,+net_raw,+net_admin",
            ]
        );
    }

    #[test]
    fn sidecars_start_first_and_their_startup_probe_names_a_port_of_theirs() {
        let spec = serde_json::json!({
            "initContainers": [{"name": "exporter", "restartPolicy": "Always",
                "ports": [{"name": "metrics", "containerPort": 9478}],
                "startupProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}}}],
            "containers": [{"name": "simulator"}],
        });
        let order: Vec<&Value> = start_order(&spec).unwrap();
        let names: Vec<&str> = order.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["exporter", "simulator"]);
        assert_eq!(startup_probe(order[0]).unwrap(), Some(("/readyz".to_owned(), 9478)));
        assert_eq!(startup_probe(order[1]).unwrap(), None);

        let mut unknown_port = spec.clone();
        unknown_port["initContainers"][0]["startupProbe"]["httpGet"]["port"] = "web".into();
        let error = startup_probe(&unknown_port["initContainers"][0]).unwrap_err();
        assert!(error.to_string().contains("\"web\""), "{error}");
        let mut run_to_completion = spec;
        run_to_completion["initContainers"][0]["restartPolicy"] = Value::Null;
        let error = start_order(&run_to_completion).unwrap_err();
        assert!(error.to_string().contains("runs to completion"), "{error}");
    }

    #[test]
    fn downward_api_fields_are_filled_in_and_unknown_ones_refused() {
        let spec = exporter_spec();
        let facts = PodFacts {
            name: "p".into(),
            namespace: "n".into(),
            ip: "10.40.0.21".into(),
            volumes: "/nonexistent".into(),
        };
        let env = environment(&spec["containers"][0], &facts).unwrap();
        assert_eq!(env["WARDWATCH_LOCAL_CIDRS"], "10.40.0.21");
        assert_eq!(env["WARDWATCH_INTERFACE"], "eth0");

        let odd =
            serde_json::json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]});
        assert!(environment(&odd, &facts).unwrap_err().to_string().contains("spec.nodeName"));
    }

    #[test]
    fn an_empty_dir_is_a_directory_of_the_pods_and_env_values_naming_it_follow() {
        let mut spec = exporter_spec();
        spec["volumes"] = serde_json::json!([{"name": "models", "emptyDir": {}}]);
        let container = &mut spec["containers"][0];
        container["volumeMounts"] = serde_json::json!([{"name": "models", "mountPath": "/var/lib/x"}]);
        container["env"].as_array_mut().unwrap().extend([
            serde_json::json!({"name": "MODELS", "value": "/var/lib/x"}),
            serde_json::json!({"name": "MODEL", "value": "/var/lib/x/net.json"}),
            serde_json::json!({"name": "OTHER", "value": "/var/lib/xy"}),
        ]);
        let volumes = tempfile::tempdir().unwrap();
        let facts =
            PodFacts { name: "p".into(), namespace: "n".into(), ip: "10.0.0.1".into(), volumes: volumes.path().into() };
        let env = mounted_environment(&spec, &spec["containers"][0], &facts).unwrap();
        let dir = volumes.path().join("models");
        assert_eq!(env["MODELS"], dir.display().to_string());
        assert_eq!(env["MODEL"], format!("{}/net.json", dir.display()));
        assert_eq!(env["OTHER"], "/var/lib/xy");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().uid(), 65532);

        spec["volumes"] = serde_json::json!([{"name": "models", "hostPath": {"path": "/"}}]);
        let refused = mounted_environment(&spec, &spec["containers"][0], &facts).unwrap_err();
        assert!(refused.to_string().contains("only emptyDir"), "{refused}");
    }
}
