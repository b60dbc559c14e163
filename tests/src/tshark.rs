//! tshark's own HL7 dissector as the reference reader of HL7 on the wire: what a capture holds
//! according to a decoder that is not ours.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One ORU^R01 as tshark decodes it.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedOru {
    /// MSH-3, the sending application (the device id for wardwatch's twins).
    pub sender: String,
    /// MSH-10, the message control id.
    pub control_id: String,
    /// Every numeric OBX: (LOINC code from OBX-3, value from OBX-5), in message order.
    pub observations: Vec<(String, f64)>,
}

/// Every ORU^R01 in `capture`, in wire order, with TCP port `port` decoded as HL7.
pub fn oru_messages(capture: &Path, port: u16) -> Result<Vec<DecodedOru>> {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(["-d", &format!("tcp.port=={port},hl7"), "-Y", "hl7.message.type == \"ORU\""])
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=`", "-e", "hl7.segment"])
        .output()
        .context("running tshark (Debian's package tshark)")?;
    if !output.status.success() {
        bail!("tshark failed on {}: {}", capture.display(), String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8(output.stdout)?.lines().map(parse_message).collect()
}

/// One line of tshark's field output: the message's segments joined by the aggregator.
fn parse_message(line: &str) -> Result<DecodedOru> {
    // tshark prints each segment's terminating CR as the two characters `\r`.
    let segments: Vec<Vec<&str>> = line.split('`').map(|s| s.trim_end_matches("\\r").split('|').collect()).collect();
    let msh = segments.iter().find(|s| s[0] == "MSH").context("an ORU without MSH")?;
    // Fields as written: in MSH, index n is MSH-(n+1) because MSH-1 is the separator.
    let field = |index: usize| msh.get(index).map(|f| f.to_string()).unwrap_or_default();
    let mut observations = Vec::new();
    for obx in segments.iter().filter(|s| s[0] == "OBX" && s.get(2) == Some(&"NM")) {
        let code = obx.get(3).and_then(|f| f.split('^').next()).context("OBX-3")?;
        let value = obx.get(5).context("OBX-5")?;
        observations.push((code.to_owned(), value.parse().with_context(|| format!("OBX-5 {value:?}"))?));
    }
    Ok(DecodedOru { sender: field(2), control_id: field(9), observations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tshark_line_becomes_sender_control_id_and_numeric_observations() {
        let line = "MSH|^~\\&|monitor-7|st-mary|WARDWATCH|st-mary|20261122||ORU^R01^ORU_R01|C-1|P|2.5\\r`\
                    PID|1||P-1\\r`OBX|1|NM|59408-5^SpO2^LN||88.5|%|||||F\\r`OBX|2|NA|ECG||1^2|mV\\r";
        let decoded = parse_message(line).unwrap();
        assert_eq!(decoded.sender, "monitor-7");
        assert_eq!(decoded.control_id, "C-1");
        assert_eq!(decoded.observations, [("59408-5".to_owned(), 88.5)]);
    }
}
