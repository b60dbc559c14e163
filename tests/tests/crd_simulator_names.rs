//! The MonitoredDevice API and the simulator spell device types and network scenarios each in
//! their own crate (the simulator does not depend on kube, the CRD types need schemars). This
//! pins the two lists together: every value the published CRD schema allows reaches the
//! simulator as a name it parses, and the simulator knows no type the API cannot ask for.

use std::str::FromStr;

use serde_json::Value;
use wardwatch_crds::device::{DeviceType, NetworkScenario};

/// The `enum` of a property of MonitoredDevice's published `spec` schema.
fn spec_enum(path: &[&str]) -> Vec<String> {
    let crd = wardwatch_crds::crds().into_iter().find(|c| c.spec.names.kind == "MonitoredDevice").unwrap();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let mut node = &schema["openAPIV3Schema"]["properties"]["spec"];
    for key in path {
        node = &node["properties"][key];
    }
    node["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("an enum at spec.{}", path.join(".")))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_device_type_of_the_api_is_a_simulator_device_type() {
    let api_names = spec_enum(&["type"]);
    assert_eq!(api_names.len(), wardwatch_simulator::device_type::DeviceType::ALL.len());
    for name in api_names {
        let api: DeviceType = serde_json::from_value(Value::String(name.clone())).unwrap();
        let simulator = wardwatch_simulator::device_type::DeviceType::from_str(api.simulator_name());
        assert!(simulator.is_ok(), "{name} -> {} is refused by the simulator", api.simulator_name());
    }
}

#[test]
fn every_network_scenario_of_the_api_is_a_simulator_scenario() {
    let api_names = spec_enum(&["network", "scenario"]);
    assert_eq!(api_names.len(), wardwatch_simulator::network_scenario::NetworkScenario::ALL.len());
    for name in api_names {
        let api: NetworkScenario = serde_json::from_value(Value::String(name.clone())).unwrap();
        let wire = serde_json::to_value(api).unwrap();
        let parsed = wardwatch_simulator::network_scenario::NetworkScenario::from_str(wire.as_str().unwrap());
        assert!(parsed.is_ok(), "{name} is refused by the simulator");
    }
}

#[test]
fn every_hl7_profile_of_the_api_is_a_simulator_profile() {
    let api_names = spec_enum(&["twin", "hl7Profile"]);
    assert_eq!(api_names.len(), wardwatch_simulator::hl7_profile::Hl7Profile::ALL.len());
    for name in api_names {
        let parsed = wardwatch_simulator::hl7_profile::Hl7Profile::from_str(&name);
        assert!(parsed.is_ok(), "{name} is refused by the simulator");
    }
}
