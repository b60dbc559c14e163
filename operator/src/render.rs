//! `wardwatch-operator render`: the objects the operator would apply for the given custom
//! resources, with no cluster (for review, GitOps and tests).

use anyhow::{Context, Result, bail};
use kube::ResourceExt;
use serde::Deserialize;
use serde_json::Value;
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use crate::desired;

/// The custom resources found in the input documents.
#[derive(Default)]
pub struct Inputs {
    pub wards: Vec<Ward>,
    pub devices: Vec<MonitoredDevice>,
    pub federations: Vec<HospitalFederation>,
}

impl Inputs {
    /// Reads every document of a multi-document YAML stream; other kinds (Namespaces, Secrets,
    /// ...) are skipped, as `kubectl apply` would apply them unchanged.
    pub fn add_yaml(&mut self, yaml: &str, source: &str) -> Result<()> {
        for (index, document) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
            let value = Value::deserialize(document).with_context(|| format!("{source}: document {}", index + 1))?;
            let what = || format!("{source}: document {} ({})", index + 1, value["kind"]);
            match (value["apiVersion"].as_str(), value["kind"].as_str()) {
                (Some("wardwatch.io/v1alpha1"), Some("Ward")) => {
                    self.wards.push(serde_json::from_value(value.clone()).with_context(what)?)
                }
                (Some("wardwatch.io/v1alpha1"), Some("MonitoredDevice")) => {
                    self.devices.push(serde_json::from_value(value.clone()).with_context(what)?)
                }
                (Some("wardwatch.io/v1alpha1"), Some("HospitalFederation")) => {
                    self.federations.push(serde_json::from_value(value.clone()).with_context(what)?)
                }
                (Some("wardwatch.io/v1alpha1"), Some(kind)) => bail!("{}: unknown wardwatch kind {kind}", what()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The objects for `inputs`, and a warning for each device whose ward is not among them.
pub fn render(inputs: &Inputs, quarantine_webhook: Option<&str>) -> (Vec<Value>, Vec<String>) {
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for ward in &inputs.wards {
        let quarantined = crate::policies::quarantined_devices(ward, &inputs.devices);
        objects.extend(desired::ward_objects(ward, quarantine_webhook, &quarantined));
    }
    for device in &inputs.devices {
        let ward = inputs
            .wards
            .iter()
            .find(|ward| ward.namespace() == device.namespace() && ward.name_any() == device.spec.ward);
        match ward {
            Some(ward) => objects.extend(desired::device_objects(ward, device)),
            None => warnings.push(format!(
                "MonitoredDevice {}/{}: ward {:?} not found among the inputs; nothing rendered for it",
                device.namespace().unwrap_or_default(),
                device.name_any(),
                device.spec.ward
            )),
        }
    }
    for federation in &inputs.federations {
        objects.extend(desired::federation_objects(federation, &Default::default()));
    }
    (objects.iter().map(desired::Owned::to_value).collect(), warnings)
}

/// Objects as one multi-document YAML stream that YAML 1.1 readers (PyYAML, go-yaml v2 and so
/// helm's and kubectl's older paths) read back exactly as YAML 1.2 readers do.
///
/// serde_yaml writes YAML 1.2 and leaves plain the strings that mean something else only in
/// YAML 1.1: `=` (the "value" tag, on which PyYAML's `safe_load` fails), `yes`/`on`/`y`
/// (booleans), `0755`, `1:20`, `1_000` (integers), `2024-01-01` (a date), `<<` (merge). Those
/// strings are double-quoted here.
pub fn to_yaml(objects: &[Value]) -> String {
    objects.iter().map(|o| format!("---\n{}", yaml11_safe(o))).collect()
}

/// Replaces each string that needs quoting by a plain marker, lets serde_yaml write the
/// document, and puts the strings back double-quoted (JSON's string syntax is YAML's
/// double-quoted scalar).
fn yaml11_safe(value: &Value) -> String {
    fn replace(s: &str, marker: &str, quoted: &mut Vec<String>) -> String {
        quoted.push(s.to_owned());
        format!("{marker}{}-end", quoted.len() - 1)
    }
    fn mark(value: &Value, marker: &str, quoted: &mut Vec<String>) -> Value {
        match value {
            Value::String(s) if needs_quotes_in_yaml11(s) => Value::String(replace(s, marker, quoted)),
            Value::Array(items) => Value::Array(items.iter().map(|v| mark(v, marker, quoted)).collect()),
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, v) in map {
                    let key = if needs_quotes_in_yaml11(key) { replace(key, marker, quoted) } else { key.clone() };
                    out.insert(key, mark(v, marker, quoted));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
    // A marker no string of the document contains, so only markers are replaced.
    let mut marker = "wardwatch-quoted-".to_owned();
    while contains_string(value, &marker) {
        marker.insert(0, 'x');
    }
    let mut quoted = Vec::new();
    let marked = mark(value, &marker, &mut quoted);
    let mut out = serde_yaml::to_string(&marked).expect("JSON values serialise to YAML");
    // Markers end in `-end`, so marker 1 is no prefix of marker 12.
    for (index, original) in quoted.iter().enumerate() {
        let json = serde_json::to_string(original).expect("strings serialise to JSON");
        out = out.replacen(&format!("{marker}{index}-end"), &json, 1);
    }
    out
}

fn contains_string(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains(needle) || contains_string(v, needle)),
        _ => false,
    }
}

/// Whether a YAML 1.1 reader could take `s`, written plain, for something other than this
/// string. Errs on the side of quoting: a string quoted without need is still the same string.
fn needs_quotes_in_yaml11(s: &str) -> bool {
    const WORDS: &[&str] = &[
        // The value and merge keys; null.
        "=", "<<", "~", "null", // Booleans (go-yaml v2 also reads y and n).
        "y", "n", "yes", "no", "true", "false", "on", "off", // Infinity and not-a-number.
        ".inf", "+.inf", "-.inf", ".nan",
    ];
    if s.is_empty() || WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return true;
    }
    // Numbers in every YAML 1.1 form (0b1, 0x1F, 0755, 1_000, 1:20, 1.5e3, .5) and timestamps
    // (2024-01-01, 2024-01-01T10:00:00Z, 2024-01-01 10:00:00 +01:00): they start with a digit,
    // or a sign or dot before a digit, and use only these characters.
    let bytes = s.as_bytes();
    let numeric_start = bytes[0].is_ascii_digit()
        || (matches!(bytes[0], b'+' | b'-' | b'.') && bytes.get(1).is_some_and(|b| b.is_ascii_digit() || *b == b'.'));
    numeric_start && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoO_.:+- tTzZ".contains(c))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use serde_json::{Value, json};

    use super::*;

    /// What PyYAML's `safe_load_all` (a YAML 1.1 reader) reads from `yaml`, as JSON.
    fn pyyaml(yaml: &str) -> Value {
        let mut child = Command::new("python3")
            .args(["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/install-deps.sh installs it with python3-yaml)");
        child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "PyYAML refused:\n{}\n{yaml}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    #[test]
    fn yaml11_lookalikes_are_quoted_and_others_are_not() {
        for s in
            ["=", "<<", "~", "", "yes", "On", "N", "0755", "1:20", "1_000", "0x1F", "1e3", ".5", "-.inf", "2024-01-01"]
        {
            assert!(needs_quotes_in_yaml11(s), "{s:?}");
        }
        for s in ["=~", "!=", "5s", "1h", "icu-east", "10.40.0.0/16", "100m", "128Mi", "deadbeef", "ICU-01", "st-mary"]
        {
            assert!(!needs_quotes_in_yaml11(s), "{s:?}");
        }
    }

    #[test]
    fn a_yaml11_reader_reads_back_exactly_what_was_written() {
        let tricky = [
            "=",
            "=~",
            "<<",
            "~",
            "null",
            "yes",
            "no",
            "on",
            "Off",
            "y",
            "n",
            "0755",
            "0b101",
            "0x1F",
            "1_000",
            "1:20",
            "190:20:30",
            "1e3",
            "6.8523015e+5",
            ".inf",
            "-.Inf",
            ".NaN",
            "2024-01-01",
            "2024-01-01T10:00:00Z",
            "2001-12-14 21:59:43.10 -5",
            "",
            " leading space",
            "multi\nline\ntext",
            "'quoted'",
            "\"double\"",
            "#hash",
            "- dash",
            "key: value",
            "{{ $labels.bed }}",
            "é ü 🏥",
            "wardwatch-quoted-0-end",
        ];
        let mut document = serde_json::Map::new();
        for (i, s) in tricky.iter().enumerate() {
            document.insert(format!("k{i}"), json!(s));
            document.insert((*s).to_owned(), json!([s, {"matchType": s}]));
        }
        let objects = vec![
            json!({"kind": "Test", "spec": document}),
            json!({"matchers": [{"name": "ward", "value": "icu-east", "matchType": "="}]}),
        ];
        let yaml = to_yaml(&objects);
        assert!(yaml.contains(r#"matchType: "=""#), "{yaml}");
        assert_eq!(pyyaml(&yaml), Value::Array(objects.clone()));
        // And serde_yaml (YAML 1.2) reads the same.
        let back: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
            .collect();
        assert_eq!(back, objects);
    }

    #[test]
    fn the_sample_manifests_render_to_yaml_a_yaml11_reader_reads_back() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut inputs = Inputs::default();
        for manifest in ["manifests/ward.yaml", "manifests/federation.yaml"] {
            inputs.add_yaml(&std::fs::read_to_string(root.join(manifest)).unwrap(), manifest).unwrap();
        }
        let (objects, _) = render(&inputs, Some("https://wardwatch-operator.wardwatch-system.svc:8443/quarantine"));
        assert!(objects.iter().any(|o| o["kind"] == "AlertmanagerConfig"));
        assert_eq!(pyyaml(&to_yaml(&objects)), Value::Array(objects));
    }
}
