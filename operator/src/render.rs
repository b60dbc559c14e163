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
        objects.extend(desired::ward_objects(ward, quarantine_webhook));
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
        objects.extend(desired::federation_objects(federation));
    }
    (objects, warnings)
}

/// Objects as one multi-document YAML stream.
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml::to_string(o).expect("JSON values serialise to YAML")))
        .collect()
}
