//! The exporter's packet, byte and per-protocol counts as tshark reads the same file.

use std::path::Path;
use std::process::Command;

use super::Counts;

/// The exporter's protocol name for one frame, from tshark's `frame.protocols` layer list: the
/// outermost transport, as the exporter's decoder classifies.
pub fn protocol_of(layers: &[&str]) -> &'static str {
    let transport = layers.iter().find_map(|layer| match *layer {
        "tcp" => Some("tcp"),
        "udp" => Some("udp"),
        "icmp" => Some("icmp"),
        "icmpv6" => Some("icmpv6"),
        _ => None,
    });
    transport.unwrap_or(if layers.contains(&"arp") {
        "arp"
    } else if layers.contains(&"ip") || layers.contains(&"ipv6") {
        "other_ip"
    } else {
        "other_link"
    })
}

/// One frame as tshark reads it: its number, length on the wire and protocol layers.
pub struct Frame {
    pub number: u64,
    pub len: u64,
    pub layers: Vec<String>,
}

/// Every frame of the capture at `path`, as tshark dissects it with its default preferences.
pub fn frames(path: &Path) -> Vec<Frame> {
    run_tshark(path, &["-T", "fields", "-e", "frame.number", "-e", "frame.len", "-e", "frame.protocols"])
        .lines()
        .map(|line| {
            let mut fields = line.split('\t');
            let mut number = || fields.next().and_then(|f| f.parse().ok()).unwrap_or_else(|| panic!("tshark: {line}"));
            let (number, len) = (number(), number());
            let layers = fields.next().unwrap_or_default().split(':').map(str::to_owned).collect();
            Frame { number, len, layers }
        })
        .collect()
}

/// The counts of `frames`, protocols mapped with [`protocol_of`].
pub fn counts_of(frames: &[Frame]) -> Counts {
    let mut counts = Counts::default();
    for frame in frames {
        counts.packets += 1;
        counts.bytes += frame.len;
        let layers: Vec<&str> = frame.layers.iter().map(String::as_str).collect();
        *counts.protocols.entry(protocol_of(&layers).to_owned()).or_default() += 1;
    }
    counts
}

/// [`counts_of`] every frame of the capture at `path`.
pub fn counts(path: &Path) -> Counts {
    counts_of(&frames(path))
}

/// Every OBX segment of every HL7 message in `capture` as tshark's HL7 dissector reads it (TCP
/// port `port` decoded as HL7), in wire order: its fields split at `|`, OBX-n at index n.
pub fn hl7_obx_segments(capture: &Path, port: &str) -> Vec<Vec<String>> {
    let decode = format!("tcp.port=={port},hl7");
    let arguments = ["-d", &decode, "-Y", "hl7", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=`"];
    run_tshark(capture, &[&arguments[..], &["-e", "hl7.segment"]].concat())
        .lines()
        .flat_map(|line| line.split('`').map(str::to_owned).collect::<Vec<_>>())
        // tshark prints each segment's terminating CR as the two characters `\r`.
        .map(|segment| segment.trim_end_matches("\\r").split('|').map(str::to_owned).collect::<Vec<_>>())
        .filter(|fields| fields[0] == "OBX")
        .collect()
}

/// tshark's output for the capture at `path` read with `arguments`.
fn run_tshark(path: &Path, arguments: &[&str]) -> String {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(arguments)
        .output()
        .expect("tshark is installed by scripts/install-deps.sh");
    assert!(output.status.success(), "tshark on {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
