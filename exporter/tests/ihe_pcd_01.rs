//! HL7 as real devices send it, live: a hand-written file of three ORU^R01 messages (an IHE
//! PCD-01 monitor report in MDC codes and units, kPa and °F among them; a point-of-care
//! analyser's LOINC codes in mmol/L, °F, 10⁹/L and SN values; a device that names only its bed)
//! sent by python-hl7's `mllp_send` to `wardwatch-simulator gateway` on loopback while the
//! exporter and tcpdump capture on `lo`. Every vital gauge on `/metrics` holds the value
//! converted into its unit by hand below, the values no gauge may take are counted by reason,
//! and tshark's HL7 dissector reads the same OBX segments off tcpdump's capture as the file holds.

#[allow(dead_code)]
mod common;

use common::gateway::{Tcpdump, send_file, start_exporter, start_gateway, stop_exporter};
use common::live::get;
use wardwatch_clinical::vitals::by_key;

/// Each message ends with an NTE: `mllp_send` strips a message's final segment terminator, and
/// tshark's HL7 dissector lists only terminated segments, so an OBX last would be missing there
/// (the exporter and the gateway read an unterminated last segment).
const MESSAGES: &str = "\
MSH|^~\\&|MONITOR-3^0123456789ABCDEF^EUI-64|ICU-7|||20261122103000+0000||ORU^R01^ORU_R01|PCD-1|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO
PID|||0042^^^ST-MARY^PI~P-PCD^^^ST-MARY^MR||Doe^Jane
PV1||I|ICU^^3
OBR|1|PCD-1^MONITOR-3^0123456789ABCDEF^EUI-64||182777000^monitoring of patient^SNOMED-CT|||20261122103000
OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X
OBX|2||69854^MDC_DEV_METER_PHYSIO_MULTI_PARAM_VMD^MDC|1.1.0.0|||||||X
OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R
OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|64|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R
OBX|5|SN|151562^MDC_RESP_RATE^MDC|1.1.1.3|=^16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R
OBX|6|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.4|16.0|265987^MDC_DIM_KILO_PASCAL^MDC|||||R
OBX|7|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.5|10.7|265987^MDC_DIM_KILO_PASCAL^MDC|||||R
OBX|8|NM|150364^MDC_TEMP_BODY^MDC|1.1.1.6|99.5|266560^MDC_DIM_FAHR^MDC|||||R
OBX|9|NM|151708^MDC_AWAY_CO2_ET^MDC|1.1.1.7|5.3|265987^MDC_DIM_KILO_PASCAL^MDC|||||R
OBX|10|NM|152196^MDC_CONC_AWAY_O2_INSP^MDC|1.1.1.8|0.4|262656^MDC_DIM_DIMLESS^MDC|||||R
OBX|11|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|150|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||W
NTE|1||end of report
MSH|^~\\&|POC-ANALYSER|ICU-7|CENTRAL|ST-MARY|20261122103100||ORU^R01^ORU_R01|LAB-1|P|2.5.1
PID|1||P-LAB^^^ST-MARY^MR||Roe^Richard
PV1|1|I|ICU^^4
OBR|1||LAB-1|24336-0^Gas panel^LN|||20261122103100
OBX|1|NM|15074-8^Glucose [Moles/volume] in Blood^LN||6.1|mmol/L^mmol/L^UCUM|||||F
OBX|2|NM|8331-1^Oral temperature^LN||100.4|[degF]^degree Fahrenheit^UCUM|||||F
OBX|3|NM|2524-7^Lactate [Moles/volume] in Serum or Plasma^LN||1.8|mmol/L^mmol/L^UCUM|||||F
OBX|4|NM|26464-8^Leukocytes [#/volume] in Blood^LN||11.5|10*9/L^10*9/L^UCUM|||||F
OBX|5|SN|2708-6^Oxygen saturation in Arterial blood^LN||^0.95|1^ratio^UCUM|||||C
OBX|6|SN|14743-9^Glucose [Moles/volume] in Capillary blood by Glucometer^LN||<^2.2|mmol/L^mmol/L^UCUM|||||F
NTE|1||end of report
MSH|^~\\&|OXIMETER-12^0123456789ABCDEF^EUI-64|ICU-7|||20261122103200+0000||ORU^R01^ORU_R01|PCD-2|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO
PID|||
PV1||I|ICU^^12
OBR|1|PCD-2^OXIMETER-12^0123456789ABCDEF^EUI-64||182777000^monitoring of patient^SNOMED-CT|||20261122103200
OBX|1|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.1.1.1|88|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R
OBX|2|SN|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.2|=^91|262688^MDC_DIM_PERCENT^MDC|||||R
OBX|3|NM|151708^MDC_AWAY_CO2_ET^MDC|1.1.1.3|5.1|262688^MDC_DIM_PERCENT^MDC|||||R
NTE|1||end of report
";

/// Each gauge's value, converted by hand: (patient, vital, value, tolerance).
const EXPECTED: &[(&str, &str, f64, f64)] = &[
    ("P-PCD", "spo2", 97.0, 0.0),
    // The later heart rate of 150 is marked wrong (W): the gauge keeps 64.
    ("P-PCD", "heart_rate", 64.0, 0.0),
    ("P-PCD", "respiratory_rate", 16.0, 0.0),
    // kPa × 7.50062 (1 mmHg = 133.322 Pa).
    ("P-PCD", "systolic_bp", 120.01, 0.005),
    ("P-PCD", "diastolic_bp", 80.26, 0.005),
    ("P-PCD", "etco2", 39.75, 0.005),
    // (99.5 °F − 32) × 5/9.
    ("P-PCD", "temperature", 37.5, 1e-9),
    // A ratio of 0.4 is 40 %.
    ("P-PCD", "fio2", 40.0, 1e-9),
    // 6.1 mmol/L × 18.0156 mg/dL per mmol/L (glucose, 180.156 g/mol).
    ("P-LAB", "glucose", 109.895, 0.001),
    ("P-LAB", "temperature", 38.0, 1e-9),
    ("P-LAB", "lactate", 1.8, 0.0),
    // 10⁹/L is 10³/µL.
    ("P-LAB", "wbc", 11.5, 0.0),
    ("P-LAB", "spo2", 95.0, 1e-9),
    // No patient identifier: the bed of PV1-3 names the series.
    ("bed:ICU/12", "heart_rate", 88.0, 0.0),
    ("bed:ICU/12", "spo2", 91.0, 0.0),
];

/// The value of `metric{patient="<patient>"}` on a `/metrics` page.
fn gauge(page: &str, metric: &str, patient: &str) -> Option<f64> {
    let series = format!("{metric}{{patient=\"{patient}\"}} ");
    page.lines().find_map(|line| line.strip_prefix(&series)).map(|value| value.trim().parse().unwrap())
}

#[test]
fn ihe_pcd_01_and_lab_loinc_in_other_units_become_each_gauges_value_as_tshark_reads_them() {
    let (_gateway, hl7_address) = start_gateway();
    let port = hl7_address.rsplit_once(':').unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("lo.pcap");
    let tcpdump = Tcpdump::start(port, &capture);
    let Some((exporter, address)) = start_exporter(port) else { return };

    let answer = send_file(dir.path(), port, MESSAGES);
    for control_id in ["PCD-1", "LAB-1", "PCD-2"] {
        assert!(answer.lines().any(|l| l.starts_with(&format!("MSA|AA|{control_id}"))), "{control_id}: {answer}");
    }
    tcpdump.stop();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (status, page) = get(&address, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (summary, stdout) = stop_exporter(exporter);

    for &(patient, key, value, tolerance) in EXPECTED {
        let metric = by_key(key).unwrap().metric;
        let seen = gauge(&page, metric, patient).unwrap_or_else(|| panic!("no {metric} of {patient}:\n{page}"));
        assert!((seen - value).abs() <= tolerance, "{metric}{{patient={patient:?}}} is {seen}, not {value}");
    }
    // No other vital series: nothing was guessed.
    let series = page.lines().filter(|l| l.starts_with("wardwatch_vital_") && !l.contains("_observ")).count();
    assert_eq!(series, EXPECTED.len(), "{page}");
    assert_eq!(summary["hl7"]["messages"]["oru_r01"], 3, "{stdout}");
    assert_eq!(summary["hl7"]["acks"]["accepted"], 3, "{stdout}");
    // The glucose meter's `<^2.2` is a bound; EtCO2 in % needs the barometric pressure.
    assert_eq!(summary["hl7"]["errors"], serde_json::json!({"inexact_value": 1, "unit_mismatch": 1}), "{stdout}");

    let written: Vec<Vec<String>> = MESSAGES
        .lines()
        .filter(|line| line.starts_with("OBX|"))
        .map(|line| line.split('|').map(str::to_owned).collect())
        .collect();
    assert_eq!(common::tshark::hl7_obx_segments(&capture, port), written);
}
