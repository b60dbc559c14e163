//! Test-only builders of custom resources from small YAML fixtures.

use wardwatch_crds::{MonitoredDevice, MonitoredDeviceSpec, Ward, WardSpec};

pub const NAMESPACE: &str = "st-mary";

/// A stored Ward (namespace and uid set) from its spec in YAML.
pub fn ward(name: &str, spec_yaml: &str) -> Ward {
    let spec: WardSpec = serde_yaml::from_str(spec_yaml).expect("fixture ward spec parses");
    let mut ward = Ward::new(name, spec);
    ward.metadata.namespace = Some(NAMESPACE.into());
    ward.metadata.uid = Some(format!("00000000-0000-4000-8000-{:012}", name.len()));
    ward
}

pub fn icu_ward() -> Ward {
    ward("icu-east", "hospitalId: st-mary\ndepartment: icu\n")
}

/// A stored MonitoredDevice from its spec in YAML.
pub fn device(name: &str, spec_yaml: &str) -> MonitoredDevice {
    let spec: MonitoredDeviceSpec = serde_yaml::from_str(spec_yaml).expect("fixture device spec parses");
    let mut device = MonitoredDevice::new(name, spec);
    device.metadata.namespace = Some(NAMESPACE.into());
    device.metadata.uid = Some(format!("00000000-0000-4000-9000-{:012}", name.len()));
    device
}

pub fn monitor(name: &str) -> MonitoredDevice {
    device(
        name,
        "ward: icu-east\ntype: BedsideMonitor\npatient: {id: MRN-1, bed: ICU-01}\ntwin: {scenario: hypoxia, seed: 7}\n",
    )
}
