//! Third-party HL7 on the wire: python-hl7's `mllp_send` sends an ORU^R01 written here by hand
//! (HL7 v2.5, LOINC-coded OBX) to `wardwatch-simulator gateway` on loopback, while the exporter
//! captures on `lo`. The gateway ACKs, and the exporter's vitals are the OBX values.

#[allow(dead_code)]
mod common;

use common::gateway::{send_file, start_exporter, start_gateway, stop_exporter};

/// The message, as a person would write it to a file: one segment a line.
const ORU: &str = "\
MSH|^~\\&|PULSEOX-12|ICU-7|CENTRAL|ST-MARY|20261122103000||ORU^R01^ORU_R01|MLLPSEND-1|P|2.5
PID|1||P-3RD^^^ST-MARY^MR||Doe^Jane||19610214|F
PV1|1|I|ICU^^7
OBR|1||MLLPSEND-1|VITALS^Vital signs^L|||20261122103000
OBX|1|NM|59408-5^Oxygen saturation in Arterial blood by Pulse oximetry^LN||91|%^percent^UCUM|||||F
OBX|2|NM|8867-4^Heart rate^LN||104|/min^per minute^UCUM|||||F
OBX|3|NM|9279-1^Respiratory rate^LN||22|/min^per minute^UCUM|||||F
OBX|4|NM|8310-5^Body temperature^LN||37.9|Cel^degree Celsius^UCUM|||||F
";

/// The values of the OBX segments above, by the exporter's vital key.
const SENT: [(&str, f64); 4] =
    [("spo2", 91.0), ("heart_rate", 104.0), ("respiratory_rate", 22.0), ("temperature", 37.9)];

#[test]
fn vitals_sent_by_python_hl7_to_the_gateway_are_the_exporters_on_loopback() {
    let (_gateway, hl7_address) = start_gateway();
    let port = hl7_address.rsplit_once(':').unwrap().1;
    let Some((exporter, _)) = start_exporter(port) else { return };
    let dir = tempfile::tempdir().unwrap();
    let answer = send_file(dir.path(), port, ORU);
    assert!(answer.lines().any(|l| l.starts_with("MSA|AA|MLLPSEND-1")), "the gateway accepts: {answer}");

    let (summary, stdout) = stop_exporter(exporter);
    let patient = &summary["vitals"]["P-3RD"];
    for (vital, value) in SENT {
        assert_eq!(patient[vital]["last"], value, "{vital}: {stdout}");
    }
    assert_eq!(summary["hl7"]["messages"]["oru_r01"], 1, "{stdout}");
    assert_eq!(summary["hl7"]["acks"]["accepted"], 1, "the ACK on the wire too: {stdout}");
    assert_eq!(summary["hl7"]["errors"], serde_json::json!({}), "{stdout}");
}
