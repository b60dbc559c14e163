//! JSON literals turned into typed objects without losing a key on the way.
//!
//! k8s-openapi's types ignore keys they do not know when they deserialise, so a misspelt key in
//! a `json!` literal (`"readinesProbe"`) would vanish without a trace. [`typed`] deserialises
//! and then checks that the typed value still holds every value of the literal; a literal
//! that loses anything panics, which every unit test building that object then shows.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::holds::holds;

/// `literal` as a `T`; panics naming the type when a key of the literal has no field in `T`
/// or a value does not fit.
pub fn typed<T: DeserializeOwned + Serialize>(literal: Value) -> T {
    let name = std::any::type_name::<T>();
    let typed: T = serde_json::from_value(literal.clone()).unwrap_or_else(|err| panic!("{name}: {err}"));
    let back = serde_json::to_value(&typed).expect("typed objects serialise");
    assert!(holds(&literal, Some(&back)), "{name} drops part of its literal:\nliteral {literal}\ntyped   {back}");
    typed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;
    use serde_json::json;

    #[test]
    fn a_known_literal_becomes_its_type() {
        let container: Container = typed(json!({"name": "a", "ports": [{"containerPort": 80}]}));
        assert_eq!(container.ports.unwrap()[0].container_port, 80);
    }

    #[test]
    #[should_panic(expected = "drops part of its literal")]
    fn a_misspelt_key_fails() {
        let _: Container = typed(json!({"name": "a", "readinesProbe": {"periodSeconds": 5}}));
    }
}
