//! Whether a live object already holds what the operator wants: a comparison of JSON values
//! that ignores what the API server adds. Used by the applier (skip a write the object does not
//! need) and by [`crate::literal`] (a typed object must keep every value of its literal).

use serde_json::Value;

/// Whether `live` already holds every value of `desired`. Fields the API server adds (defaults,
/// status, managed fields) do not matter; a zero value in `desired` (null, "", false, 0, empty
/// list or map) matches an absent field, because Kubernetes drops zero values it stores
/// (`omitempty`), for example an environment variable's empty `value`.
pub fn holds(desired: &Value, live: Option<&Value>) -> bool {
    match (desired, live) {
        (Value::Null, _) => true,
        (desired, None | Some(Value::Null)) => is_zero(desired),
        (Value::Object(fields), Some(Value::Object(live))) => fields.iter().all(|(k, v)| holds(v, live.get(k))),
        (Value::Array(items), Some(Value::Array(live))) => {
            items.len() == live.len() && items.iter().zip(live).all(|(d, l)| holds(d, Some(l)))
        }
        (Value::Number(d), Some(Value::Number(l))) => d.as_f64() == l.as_f64(),
        (d, Some(l)) => d == l,
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(is_zero),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_objects_with_server_defaults_still_hold_the_desired_values() {
        let desired = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a",
            "env": [{"name": "EMPTY", "value": ""}], "ports": [{"containerPort": 9478}]}]}}}, "egress": []});
        let live = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [{"name": "a", "imagePullPolicy": "IfNotPresent", "env": [{"name": "EMPTY"}],
                "ports": [{"containerPort": 9478, "protocol": "TCP"}]}]}}},
            "status": {"readyReplicas": 0}});
        assert!(holds(&desired, Some(&live)));
    }

    #[test]
    fn a_changed_or_missing_value_needs_an_apply() {
        let desired = json!({"spec": {"replicas": 1, "selector": {"app": "x"}}});
        assert!(!holds(&desired, Some(&json!({"spec": {"replicas": 2, "selector": {"app": "x"}}}))));
        assert!(!holds(&desired, Some(&json!({"spec": {"replicas": 1}}))));
        assert!(!holds(&json!({"a": [1, 2]}), Some(&json!({"a": [1]}))));
        assert!(holds(&json!({"a": 1.0}), Some(&json!({"a": 1}))), "numbers compare by value");
        assert!(!holds(&json!({"a": ""}), Some(&json!({"a": "x"}))), "a zero value still differs from a set one");
        assert!(!holds(&json!({"a": "x"}), Some(&json!({}))));
    }
}
