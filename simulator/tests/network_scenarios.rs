//! The pcap mode's network scenarios read back by tshark and tcpdump: each attack's labelled
//! window holds the packets that make it that attack, tcpdump's filters count the same
//! packets, and tshark reads every file without a warning.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::run;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_wardwatch-simulator");
/// Seconds each attack lasts in the one-scenario captures and in the mixed one; not multiples
/// of the beacon or contact periods, so that counts do not hinge on jitter at the window's edge.
const ATTACK_S: f64 = 22.0;
const MIXED_ATTACK_S: f64 = 12.0;

fn write_capture(dir: &Path, scenario: &str, devices: &str, duration: &str, attack_s: f64) -> (PathBuf, Value) {
    let pcap = dir.join(format!("{scenario}.pcap"));
    run(Command::new(BINARY)
        .args(["pcap", "--scenario", scenario, "--devices", devices, "--duration", duration])
        .args([
            "--onset",
            "10s",
            "--attack-duration",
            &format!("{attack_s}s"),
            "--seed",
            "21",
            "--out",
            pcap.to_str().unwrap(),
        ]));
    let labels = serde_json::from_slice(&std::fs::read(dir.join(format!("{scenario}.labels.json"))).unwrap()).unwrap();
    (pcap, labels)
}

/// tshark's `fields` of the frames matching `filter`, one row per frame.
fn tshark_rows(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command.args(["-r", pcap.to_str().unwrap(), "-Y", filter, "-T", "fields", "-E", "separator=/t"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = run(&mut command);
    String::from_utf8(output.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

fn tcpdump_count(pcap: &Path, filter: &str) -> usize {
    let output = run(Command::new("tcpdump").args(["-n", "-r", pcap.to_str().unwrap(), filter]));
    String::from_utf8(output.stdout).unwrap().lines().count()
}

/// tshark reads the file with nothing on stderr but its note about running as root, and its
/// expert system finds no warning, error or malformed packet.
fn assert_tshark_reads_cleanly(pcap: &Path) {
    let output = run(Command::new("tshark").args([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "_ws.expert.severity >= 0x600000 || _ws.malformed",
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<_> = stderr.lines().filter(|l| !l.starts_with("Running as user")).collect();
    assert!(complaints.is_empty(), "{}: tshark said {complaints:?}", pcap.display());
    let flagged = String::from_utf8(output.stdout).unwrap();
    assert!(flagged.is_empty(), "{}: frames with warnings:\n{flagged}", pcap.display());
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} in {value}"))
}

/// Checks one labelled attack against the wire: the packets that make it (found by a tshark
/// filter) all lie inside its labelled window, there are as many as the scenario's bounds
/// give, and tcpdump's equivalent filter counts the same.
fn assert_attack_on_the_wire(pcap: &Path, attack: &Value, attack_s: f64) {
    let scenario = str_of(attack, "scenario");
    let (device, target, mac) = (str_of(attack, "device_ip"), str_of(attack, "target"), str_of(attack, "device_mac"));
    let syn = "tcp.flags.syn==1 && tcp.flags.ack==0";
    let bpf_syn = "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn";
    // The signature as a tshark filter, a second field to look at, the same in BPF, the count.
    let (signature, field, bpf, expected) = match scenario {
        "port-scan" => (
            // The scanner's fixed source port tells its probes from the device's HL7 SYNs.
            format!("ip.src=={device} && ip.dst=={target} && tcp.srcport==61001 && {syn}"),
            "tcp.dstport",
            format!("src {device} and dst {target} and src port 61001 and {bpf_syn}"),
            1024,
        ),
        "syn-flood" => (
            // Flood source ports lie below the ephemeral range, the device's HL7 flows in it.
            // Every packet of the flood is counted: a completed handshake would add some.
            format!("ip.src=={device} && ip.dst=={target} && tcp.dstport==2575 && tcp.srcport < 32768"),
            "tcp.flags.str",
            format!("src {device} and dst {target} and dst port 2575 and src portrange 1024-32767"),
            // 250 SYNs a second, at most 5000.
            ((250.0 * attack_s) as usize).min(5_000),
        ),
        "external-contact" | "beaconing" => (
            format!("ip.src=={device} && ip.dst=={target} && tcp.dstport==443 && {syn}"),
            "tcp.dstport",
            format!("src {device} and dst {target} and dst port 443 and {bpf_syn}"),
            (attack_s / if scenario == "beaconing" { 5.0 } else { 10.0 }).ceil() as usize,
        ),
        "exfiltration" => (
            format!("ip.src=={device} && ip.dst=={target} && tcp.len > 0"),
            "tcp.len",
            format!("src {device} and dst {target} and (tcp[tcpflags] & tcp-push != 0)"),
            // 8 MiB of TLS records in full segments.
            (8 * 1024 * 1024usize).div_ceil(1460),
        ),
        "arp-spoof" => (
            format!("arp.opcode==2 && arp.src.proto_ipv4=={target} && arp.src.hw_mac=={mac}"),
            "arp.dst.proto_ipv4",
            format!("arp and ether src {mac} and arp[6:2] == 2"),
            (2.0 * attack_s) as usize,
        ),
        other => panic!("unexpected scenario {other}"),
    };
    let rows = tshark_rows(pcap, &signature, &["frame.time_epoch", field]);
    let times: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    let values: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    let (start, end) = (attack["start_unix_s"].as_f64().unwrap(), attack["end_unix_s"].as_f64().unwrap());
    let outside: Vec<_> = times.iter().filter(|t| **t < start - 1e-6 || **t > end + 1e-6).collect();
    assert!(outside.is_empty(), "{scenario}: signature packets outside [{start}, {end}]: {outside:?}");
    match scenario {
        "port-scan" => assert_eq!(values.iter().collect::<BTreeSet<_>>().len(), 1024, "ports 1-1024 once each"),
        "syn-flood" => {
            assert!(values.iter().all(|flags| flags.contains('S') && !flags.contains('A')), "only SYNs: {values:?}");
        }
        "external-contact" | "beaconing" => {
            let period_s = if scenario == "beaconing" { 5.0 } else { 10.0 };
            for pair in times.windows(2) {
                assert!((pair[1] - pair[0] - period_s).abs() < 0.25, "{scenario}: {pair:?} not {period_s} s apart");
            }
        }
        "exfiltration" => {
            let bytes: usize = values.iter().map(|n| n.parse::<usize>().unwrap()).sum();
            assert!(bytes >= 8 * 1024 * 1024, "exfiltration uploads {bytes} bytes");
        }
        _ => assert!(values.iter().all(|ip| *ip == target), "gratuitous: {values:?}"),
    }
    assert_eq!(rows.len(), expected, "{scenario}: {signature}");
    assert_eq!(tcpdump_count(pcap, &bpf), rows.len(), "{scenario}: tcpdump `{bpf}`");
    assert!(rows.len() as u64 <= attack["packets"].as_u64().unwrap(), "{scenario}: labelled packet count");
}

#[test]
fn each_network_scenario_is_on_the_wire_inside_its_labelled_window() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in ["port-scan", "syn-flood", "external-contact", "exfiltration", "beaconing", "arp-spoof"] {
        let (pcap, labels) = write_capture(dir.path(), scenario, "3", "45s", ATTACK_S);
        assert_eq!(labels["scenario"], scenario);
        let attacks = labels["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 1, "{scenario}");
        assert_eq!(attacks[0]["scenario"], scenario);
        assert_eq!(attacks[0]["device_id"], "monitor-001", "the first device attacks");
        assert!(attacks[0]["start_unix_s"].as_f64().unwrap() >= labels["start_unix_s"].as_f64().unwrap() + 10.0);
        assert_attack_on_the_wire(&pcap, &attacks[0], ATTACK_S);
        assert_tshark_reads_cleanly(&pcap);
    }
}

#[test]
fn mixed_attacks_play_every_scenario_among_every_device_type() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, labels) = write_capture(dir.path(), "mixed-attacks", "7", "90s", MIXED_ATTACK_S);
    let types: BTreeSet<&str> =
        labels["devices"].as_array().unwrap().iter().map(|d| str_of(d, "device_type")).collect();
    assert_eq!(types.len(), 7, "{types:?}");
    let attacks = labels["attacks"].as_array().unwrap();
    let scenarios: BTreeSet<&str> = attacks.iter().map(|a| str_of(a, "scenario")).collect();
    assert_eq!(scenarios.len(), 6, "{scenarios:?}");
    for attack in attacks {
        assert_attack_on_the_wire(&pcap, attack, MIXED_ATTACK_S);
    }
    assert_tshark_reads_cleanly(&pcap);
    // The device types' own traffic is there too.
    let output = run(Command::new("tshark").args([
        "-r",
        pcap.to_str().unwrap(),
        "-d",
        "tcp.port==2575,hl7",
        "-q",
        "-z",
        "io,phs",
    ]));
    let hierarchy = String::from_utf8(output.stdout).unwrap();
    for protocol in ["hl7", "dicom", "dns", "ntp", "tls", "arp"] {
        assert!(
            hierarchy.lines().any(|l| l.trim_start().starts_with(&format!("{protocol} "))),
            "no {protocol}:\n{hierarchy}"
        );
    }
}
