//! The simulator's two HL7 dialects through the exporter: one ward written by the simulator's
//! pcap mode with LOINC-coded ORUs and again with IHE PCD-01's MDC codes and units (same seed,
//! same patients) gives the same vital-sign summary, equal to what every device reported.

use std::path::Path;

use wardwatch_simulator::capture::{self, labels::Labels};
use wardwatch_simulator::cli::pcap_config;

#[allow(dead_code)]
mod common;

/// Writes the ward in `profile` to `dir` and reads it with the exporter.
fn ward(dir: &Path, profile: &str) -> (serde_json::Value, Labels) {
    let config = pcap_config(&[
        "--scenario=sepsis",
        "--devices=8",
        "--duration=2m",
        "--seed=3",
        "--ecg=true",
        &format!("--hl7-profile={profile}"),
    ])
    .unwrap();
    let path = dir.join(format!("{profile}.pcap"));
    let labels = capture::write_files(&config, &path).unwrap();
    let (_, summary) = common::exporter_counts(&path);
    (summary, labels)
}

#[test]
fn a_ward_in_ihe_pcd_01_reads_as_the_same_ward_in_loinc_and_as_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (loinc, labels) = ward(dir.path(), "loinc");
    let (pcd, _) = ward(dir.path(), "ihe-pcd-01");
    for summary in [&loinc, &pcd] {
        assert_eq!(summary["hl7"]["errors"], serde_json::json!({}), "{summary}");
        assert_eq!(summary["hl7"]["messages"]["oru_r01"], labels.messages);
        // The simulator's gateway accepts either dialect: every ORU's ACK is an AA.
        assert_eq!(summary["hl7"]["acks"]["accepted"], labels.messages, "{}", summary["hl7"]);
    }
    assert_eq!(loinc["vitals"], pcd["vitals"]);

    let mut checked = 0;
    for device in &labels.devices {
        let sent: Vec<_> = device.readings.iter().filter_map(|r| r.reported.as_ref()).flatten().collect();
        for observation in &sent {
            let key = observation.vital.key;
            let series: Vec<f64> = sent.iter().filter(|o| o.vital.key == key).map(|o| o.value).collect();
            let seen = &pcd["vitals"][&device.patient_id][key];
            assert_eq!(seen["samples"], series.len(), "{} {key}", device.device_id);
            // The wire carries two decimals.
            let last = seen["last"].as_f64().unwrap();
            assert!((last - series[series.len() - 1]).abs() < 0.006, "{} {key}: {last}", device.device_id);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} observations: the ward sent too little to compare");
}
