//! A container of a pod spec the operator wrote, run as a local process the way the kubelet
//! would start it: its arguments and environment as written (downward-API fields filled in),
//! inside the pod's network namespace, as the pod's user, with exactly the capabilities its
//! security context grants (`setpriv` from util-linux).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::netns::NetworkNamespace;

/// What the kubelet knows about a pod that the spec leaves to the downward API.
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub ip: String,
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

/// The pod template's spec inside a rendered Deployment.
pub fn pod_spec(deployment: &Value) -> Result<&Value> {
    let spec = &deployment["spec"]["template"]["spec"];
    if spec.is_null() {
        bail!("{} is not a workload with a pod template", deployment["metadata"]["name"]);
    }
    Ok(spec)
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
    let container = pod_spec["containers"]
        .as_array()
        .and_then(|containers| containers.iter().find(|c| c["name"] == name))
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
    command.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin").envs(environment(container, facts)?);
    command.envs(extra_env.iter().copied());
    Ok(command)
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
    fn downward_api_fields_are_filled_in_and_unknown_ones_refused() {
        let spec = exporter_spec();
        let facts = PodFacts { name: "p".into(), namespace: "n".into(), ip: "10.40.0.21".into() };
        let env = environment(&spec["containers"][0], &facts).unwrap();
        assert_eq!(env["WARDWATCH_LOCAL_CIDRS"], "10.40.0.21");
        assert_eq!(env["WARDWATCH_INTERFACE"], "eth0");

        let odd =
            serde_json::json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]});
        assert!(environment(&odd, &facts).unwrap_err().to_string().contains("spec.nodeName"));
    }
}
