//! Every prometheus-operator object the builders make fits the real CRDs' schemas (the
//! prometheus-operator release the test bed builds, `~/.cache/wardwatch/crds/prometheus-operator`):
//! each field is one the schema declares, with the declared type, enum value and required
//! siblings. The API server would otherwise prune an unknown (misspelt) field without a word.
//! No cluster is needed; `tests/testbed/build.sh` writes the CRDs.

use std::collections::BTreeMap;

use serde_json::Value;
use wardwatch_operator::render::{Inputs, render};

/// What is wrong with `value` under `schema` (an OpenAPI v3 schema of a CRD), as `path: why`.
fn violations(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            out.push(format!("{path}: {value} is neither an integer nor a string"));
        }
        return;
    }
    let preserves_unknown = schema["x-kubernetes-preserve-unknown-fields"] == true;
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    match (schema["type"].as_str(), value) {
        (Some("object") | None, Value::Object(fields)) => {
            let properties = schema["properties"].as_object();
            for (key, field) in fields {
                let path = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                    (Some(property), _) => violations(property, field, &path, out),
                    (None, Some(additional)) if additional.is_object() => violations(additional, field, &path, out),
                    _ if preserves_unknown || properties.is_none() => {}
                    _ => out.push(format!("{path}: unknown field (the API server would prune it)")),
                }
            }
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !fields.contains_key(required) {
                    out.push(format!("{path}: required field {required} missing"));
                }
            }
        }
        (Some("array"), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                violations(&schema["items"], item, &format!("{path}[{index}]"), out);
            }
        }
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => {}
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some("number"), Value::Number(_)) => {}
        (None, _) if preserves_unknown => {}
        (expected, _) => out.push(format!("{path}: {value} is not of type {expected:?}")),
    }
}

/// Schema of each (apiVersion, kind) served by the cached prometheus-operator CRDs.
fn crd_schemas() -> BTreeMap<(String, String), Value> {
    let dir = testbed::binaries::prometheus_operator_crd_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err} (run bash tests/testbed/build.sh)", dir.display()));
    let mut schemas = BTreeMap::new();
    for entry in entries {
        let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let (group, kind) = (crd["spec"]["group"].as_str().unwrap(), crd["spec"]["names"]["kind"].as_str().unwrap());
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let api_version = format!("{group}/{}", version["name"].as_str().unwrap());
            schemas.insert((api_version, kind.to_owned()), version["schema"]["openAPIV3Schema"].clone());
        }
    }
    schemas
}

/// The sample manifests, plus a ward with every receiver type, inhibitions and patient
/// identifiers, so that every optional field the builders can write is written.
fn every_object() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut inputs = Inputs::default();
    for manifest in ["manifests/ward.yaml", "manifests/federation.yaml"] {
        inputs.add_yaml(&std::fs::read_to_string(root.join(manifest)).unwrap(), manifest).unwrap();
    }
    let full = "apiVersion: wardwatch.io/v1alpha1\nkind: Ward\nmetadata: {name: full, namespace: general}\n\
        spec:\n  hospitalId: general\n  department: er\n  quarantine: {mode: OnAlert, minSeverity: critical}\n\
        \x20 alerting:\n    includePatientIdentifiers: true\n    inhibitWarningsWhileCritical: true\n    receivers:\n\
        \x20   - {name: chat, telegram: {botToken: {name: s, key: bot}, chatId: -100123}}\n\
        \x20   - {name: mail, email: {to: a@b.example, from: c@b.example, smarthost: 'smtp.b.example:25', requireTls: false}}\n\
        \x20   - {name: hook, webhook: {url: {name: s, key: url}}}\n\
        \x20   - {name: discord, discord: {webhookUrl: {name: s, key: discord}}}\n\
        \x20   routes:\n    - {severities: [critical, warning, info], receivers: [chat, mail, hook, discord], repeatInterval: 30m}\n";
    inputs.add_yaml(full, "inline").unwrap();
    let (objects, warnings) = render(&inputs, Some("http://wardwatch-operator.wardwatch-system.svc:8443/quarantine"));
    assert!(warnings.is_empty(), "{warnings:?}");
    objects
}

#[test]
fn every_prometheus_operator_object_fits_its_crd_schema() {
    let schemas = crd_schemas();
    let mut checked = BTreeMap::<String, usize>::new();
    let mut problems = Vec::new();
    for object in every_object() {
        let key = (object["apiVersion"].as_str().unwrap().to_owned(), object["kind"].as_str().unwrap().to_owned());
        if !key.0.starts_with("monitoring.coreos.com/") {
            continue;
        }
        let schema = schemas.get(&key).unwrap_or_else(|| panic!("no CRD serves {key:?}"));
        let name = format!("{}/{}", key.1, object["metadata"]["name"].as_str().unwrap());
        violations(schema, &object, &name, &mut problems);
        *checked.entry(key.1).or_default() += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let kinds: Vec<&str> = checked.keys().map(String::as_str).collect();
    assert_eq!(kinds, ["AlertmanagerConfig", "PodMonitor", "PrometheusRule", "ScrapeConfig"]);
}

/// The checker itself: a misspelt field, a wrong type and a missing required field are found.
#[test]
fn the_schema_check_finds_misspelt_fields_wrong_types_and_missing_ones() {
    let schemas = crd_schemas();
    let schema = &schemas[&("monitoring.coreos.com/v1".to_owned(), "PodMonitor".to_owned())];
    let object = serde_json::json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "podMetricsEndpoints": [{"port": "metrics", "interval": 5, "relabelling": []}]}});
    let mut problems = Vec::new();
    violations(schema, &object, "PodMonitor/x", &mut problems);
    let text = problems.join("\n");
    assert!(text.contains("podMetricsEndpoints[0].relabelling: unknown field"), "{text}");
    assert!(text.contains("podMetricsEndpoints[0].interval: 5 is not of type"), "{text}");
    let rule_schema = &schemas[&("monitoring.coreos.com/v1".to_owned(), "PrometheusRule".to_owned())];
    let rule = serde_json::json!({"spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}});
    let mut problems = Vec::new();
    violations(rule_schema, &rule, "PrometheusRule/r", &mut problems);
    assert!(problems.iter().any(|p| p.contains("required field expr missing")), "{problems:?}");
}
