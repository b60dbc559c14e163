//! The data path on a real link: the gateway pod and device pods that the operator renders from
//! `manifests/ward.yaml`, their containers run as local processes (no container engine here)
//! from the pod specs as written: arguments and environment, the pods' user, exactly the
//! capabilities each container is granted. Each pod has its own network namespace, the two
//! joined by a veth pair that the test makes, with `eth0` on both sides as in a cluster. The
//! Service name the device is given resolves through the pod namespace's hosts file.
//!
//! tcpdump on the pod's `eth0` and tshark's HL7 dissector are the references: the exporter
//! sidecar's packet and byte counts must equal tcpdump's, its vital gauges the values on the
//! wire, its HL7 and TCP counters what the twin and the gateway report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testbed::netns::{NetworkNamespace, VethEnd, connect};
use testbed::pod::{self, PodFacts};
use testbed::{ManagedProcess, workspace_binary};

const WARD_IP: &str = "10.40.0.10";
const POD_IP: &str = "10.40.0.21";
const GATEWAY_SERVICE: &str = "icu-east-gateway.st-mary.svc";
const EXPORTER_METRICS: &str = "127.0.0.1:9478";

fn rendered_ward() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/ward.yaml");
    let mut inputs = wardwatch_operator::render::Inputs::default();
    inputs.add_yaml(&std::fs::read_to_string(&path).unwrap(), "manifests/ward.yaml").unwrap();
    let (objects, warnings) = wardwatch_operator::render::render(&inputs, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    objects
}

fn deployment<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the operator renders Deployment {name}"))
}

/// The gateway pod and one device pod on a veth pair, with tcpdump and the device's exporter
/// sidecar capturing on the device pod's `eth0`.
/// Fields drop in order: the processes first, then the namespaces, then the logs' directory.
struct WardLink {
    gateway: ManagedProcess,
    tcpdump: ManagedProcess,
    exporter: ManagedProcess,
    pod: NetworkNamespace,
    ward: NetworkNamespace,
    device_spec: Value,
    device: PodFacts,
    capture: PathBuf,
    _dir: tempfile::TempDir,
}

impl WardLink {
    fn start(device_deployment: &str) -> Self {
        let objects = rendered_ward();
        let dir = testbed::process::scratch_dir("wardwatch-pod-network").unwrap();
        let ward = NetworkNamespace::create("ward", &[]).unwrap();
        let pod = NetworkNamespace::create("pod", &[(GATEWAY_SERVICE, WARD_IP)]).unwrap();
        connect(
            &VethEnd { namespace: &pod, interface: "eth0", mac: "02:00:0a:28:00:15", address: "10.40.0.21/24" },
            &VethEnd { namespace: &ward, interface: "eth0", mac: "02:00:0a:28:00:0a", address: "10.40.0.10/24" },
        )
        .unwrap();

        let simulator = workspace_binary("wardwatch-simulator").unwrap();
        let exporter = workspace_binary("wardwatch-exporter").unwrap();
        let gateway_spec = pod::pod_spec(deployment(&objects, "icu-east-gateway")).unwrap();
        let gateway_facts = PodFacts {
            name: "icu-east-gateway-0".into(),
            namespace: "st-mary".into(),
            ip: WARD_IP.into(),
            volumes: dir.path().join("gateway-volumes"),
        };
        let command = pod::container_command(gateway_spec, "gateway", &simulator, &ward, &gateway_facts, &[]).unwrap();
        let gateway = ManagedProcess::spawn_command("gateway", command, dir.path()).unwrap();

        let capture = dir.path().join("eth0.pcap");
        let mut command = pod.exec("tcpdump");
        command.args(["-i", "eth0", "-n", "-U", "-Z", "root", "-w"]).arg(&capture);
        let tcpdump = ManagedProcess::spawn_command("tcpdump", command, dir.path()).unwrap();

        let device_spec = pod::pod_spec(deployment(&objects, device_deployment)).unwrap().clone();
        let device = PodFacts {
            name: format!("{device_deployment}-0"),
            namespace: "st-mary".into(),
            ip: POD_IP.into(),
            volumes: dir.path().join("device-volumes"),
        };
        let command = pod::container_command(&device_spec, "exporter", &exporter, &pod, &device, &[]).unwrap();
        let exporter = ManagedProcess::spawn_command("exporter", command, dir.path()).unwrap();

        let mut link = Self { gateway, tcpdump, exporter, pod, ward, device_spec, device, capture, _dir: dir };
        link.wait_until_ready();
        link
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for process in [&mut self.gateway, &mut self.tcpdump, &mut self.exporter] {
                process.check_running().unwrap();
            }
            let tcpdump_listens = std::fs::read_to_string(self.tcpdump.log_path()).unwrap().contains("listening on");
            let exporter_ready =
                http_get(&self.pod, EXPORTER_METRICS, "/readyz").is_ok_and(|(status, _)| status == 200);
            let gateway_ready = http_get(&self.ward, &format!("{WARD_IP}:9479"), "/metrics").is_ok();
            if tcpdump_listens && exporter_ready && gateway_ready {
                return;
            }
            assert!(Instant::now() < deadline, "the pods did not get ready; exporter:\n{}", self.exporter.log_tail(20));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the device pod's simulator container to completion with a test's bounds added to
    /// its environment, and returns its closing JSON report.
    fn run_twin(&self, bounds: &[(&str, &str)]) -> Value {
        let simulator = workspace_binary("wardwatch-simulator").unwrap();
        let mut command =
            pod::container_command(&self.device_spec, "simulator", &simulator, &self.pod, &self.device, bounds)
                .unwrap();
        command.env("WARDWATCH_LOG", "warn");
        let output = command.output().unwrap();
        assert!(output.status.success(), "the twin failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn exporter_metrics(&self) -> Metrics {
        let (status, body) = http_get(&self.pod, EXPORTER_METRICS, "/metrics").unwrap();
        assert_eq!(status, 200);
        Metrics::parse(&body)
    }

    fn gateway_metrics(&self) -> Metrics {
        Metrics::parse(&http_get(&self.ward, &format!("{WARD_IP}:9479"), "/metrics").unwrap().1)
    }

    /// Stops tcpdump and returns the capture it wrote.
    fn stop_capture(&mut self) -> &Path {
        assert!(self.tcpdump.terminate(Duration::from_secs(5)), "tcpdump stops on SIGTERM");
        &self.capture
    }

    fn exporter_log(&self) -> String {
        std::fs::read_to_string(self.exporter.log_path()).unwrap()
    }
}

/// GET `http://address/path` from inside `namespace`: (status, body).
fn http_get(namespace: &NetworkNamespace, address: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let url = format!("http://{address}{path}");
    namespace.within(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let response = testbed::http_probe::loopback_client().get(&url).send().await?;
            let status = response.status().as_u16();
            Ok((status, response.text().await?))
        })
    })?
}

/// A Prometheus text exposition, as series name + sorted labels -> value.
struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let key = match key.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort_unstable();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => key.to_owned(),
            };
            series.insert(key, value.parse().unwrap());
        }
        Self(series)
    }

    /// The value of `name{labels}` (labels in any order, `k="v"` each); panics when absent,
    /// with the series of that name that do exist.
    fn get(&self, name: &str, labels: &[&str]) -> f64 {
        let mut labels = labels.to_vec();
        labels.sort_unstable();
        let key = if labels.is_empty() { name.to_owned() } else { format!("{name}{{{}}}", labels.join(",")) };
        *self.0.get(&key).unwrap_or_else(|| {
            let similar: Vec<&String> = self.0.keys().filter(|k| k.starts_with(name)).collect();
            panic!("no series {key}; of that name: {similar:?}")
        })
    }

    /// The sum over the series of `name` that carry `label` (`k="v"`).
    fn sum_matching(&self, name: &str, label: &str) -> f64 {
        self.0.iter().filter(|(k, _)| k.split('{').next() == Some(name) && k.contains(label)).map(|(_, v)| v).sum()
    }

    /// The sum over every series of `name`.
    fn sum(&self, name: &str) -> f64 {
        self.0.iter().filter(|(k, _)| k.split('{').next() == Some(name)).map(|(_, v)| v).sum()
    }
}

fn output(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// tcpdump's view of a capture: (frames, bytes on the wire).
fn tcpdump_totals(capture: &Path) -> (u64, u64) {
    let listing = output(Command::new("tcpdump").args(["-n", "-e", "-r"]).arg(capture));
    let lengths: Vec<u64> = listing
        .lines()
        .map(|line| {
            let (_, rest) = line.split_once(", length ").expect("tcpdump -e prints the frame length");
            rest.split(':').next().unwrap().parse().unwrap()
        })
        .collect();
    (lengths.len() as u64, lengths.iter().sum())
}

/// The exporter's process runs as the pod's user with exactly NET_RAW and NET_ADMIN.
fn assert_runs_unprivileged(exporter: &ManagedProcess) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).unwrap();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap();
    assert_eq!(field("Uid:"), "65532");
    // Bits 13 and 12 of the capability sets (linux/capability.h).
    let net_raw_and_admin = (1u64 << 13) | (1u64 << 12);
    assert_eq!(u64::from_str_radix(field("CapEff:"), 16).unwrap(), net_raw_and_admin);
}

#[test]
fn the_monitor_pods_exporter_reports_what_crossed_its_interface() {
    let mut link = WardLink::start("bed-01-monitor-twin");
    assert_runs_unprivileged(&link.exporter);

    // Eight readings, one a second, with the hypoxia scenario played ten times faster.
    let twin = link.run_twin(&[("WARDWATCH_READINGS", "8"), ("WARDWATCH_SPEED", "10")]);
    assert_eq!(
        (twin["sent"].as_u64(), twin["acked"].as_u64(), twin["connects"].as_u64()),
        (Some(8), Some(8), Some(1)),
        "{twin}"
    );
    // The twin has closed its connection; let the FIN exchange reach the exporter.
    std::thread::sleep(Duration::from_secs(1));
    let exported = link.exporter_metrics();
    let gateway = link.gateway_metrics();
    let capture = link.stop_capture().to_owned();

    let (frames, bytes) = tcpdump_totals(&capture);
    assert!(frames > 8 * 2, "at least a message and an ACK a reading: {frames}");
    assert_eq!(exported.sum("wardwatch_packets_total"), frames as f64, "frames: exporter and tcpdump");
    assert_eq!(exported.sum("wardwatch_bytes_total"), bytes as f64, "bytes: exporter and tcpdump");
    assert_eq!(
        exported.get("wardwatch_packets_total", &[r#"protocol="tcp""#]),
        frames as f64,
        "only HL7 over TCP here"
    );
    assert_eq!(exported.sum("wardwatch_decode_errors_total"), 0.0);
    assert_eq!(exported.sum("wardwatch_capture_dropped_packets_total"), 0.0);

    assert_eq!(gateway.get("wardwatch_gateway_messages_total", &[r#"result="accepted""#]), 8.0);
    assert_eq!(exported.get("wardwatch_hl7_messages_total", &[r#"type="oru_r01""#, r#"result="parsed""#]), 8.0);
    assert_eq!(exported.get("wardwatch_hl7_messages_total", &[r#"type="ack""#, r#"result="accepted""#]), 8.0);
    assert_eq!(exported.sum("wardwatch_hl7_parse_errors_total"), 0.0);
    assert_eq!(exported.get("wardwatch_tcp_handshakes_total", &[]), 1.0);
    assert_eq!(exported.get("wardwatch_tcp_retransmitted_segments_total", &[]), 0.0);
    assert_eq!(exported.get("wardwatch_hl7_ack_rtt_seconds_count", &[]), 8.0);

    // The gauges hold the last message's values; the counters count every observation.
    let messages: Vec<Vec<(String, f64)>> =
        testbed::tshark::oru_messages(&capture, 2575).unwrap().into_iter().map(|m| m.observations).collect();
    assert_eq!(messages.len(), 8, "tshark decodes every ORU");
    let patient = r#"patient="MRN-100234""#;
    for (loinc, value) in messages.last().unwrap() {
        let vital =
            wardwatch_clinical::vitals::by_loinc(loinc).unwrap_or_else(|| panic!("LOINC {loinc} in the catalogue"));
        assert_eq!(exported.get(vital.metric, &[patient]), *value, "{} on the wire and exported", vital.key);
        let observed = messages.iter().flatten().filter(|(code, _)| code == loinc).count();
        let vital_label = format!(r#"vital="{}""#, vital.key);
        assert_eq!(
            exported.get("wardwatch_vital_observations_total", &[&vital_label]),
            observed as f64,
            "{}",
            vital.key
        );
    }
    assert_eq!(
        exported.sum("wardwatch_ids_alerts_total"),
        0.0,
        "normal traffic raises nothing:\n{}",
        link.exporter_log()
    );
}

#[test]
fn the_workstations_port_scan_raises_the_port_scan_alert_on_its_exporter() {
    let mut link = WardLink::start("nurse-station-ws-twin");
    // The ward's manifest aims the workstation's scan at the gateway Service's name, which the
    // pod's hosts file gives the ward pod's address here.
    let twin = link.run_twin(&[
        ("WARDWATCH_READINGS", "1"),
        ("WARDWATCH_ATTACK_PORTS", "1-40"),
        ("WARDWATCH_ATTACK_RATE", "100"),
        ("WARDWATCH_ATTACK_DURATION", "5s"),
    ]);
    assert_eq!(twin["attack"]["operations"], 40, "{twin}");
    std::thread::sleep(Duration::from_secs(1));
    let exported = link.exporter_metrics();
    let capture = link.stop_capture().to_owned();

    let (frames, _) = tcpdump_totals(&capture);
    assert_eq!(exported.sum("wardwatch_packets_total"), frames as f64, "frames: exporter and tcpdump");
    let fired = |rule: &str| exported.sum_matching("wardwatch_ids_alerts_total", &format!(r#"rule="{rule}""#));
    assert_eq!(fired("port_scan"), 1.0, "one scan, one alert:\n{}", link.exporter_log());
    for quiet in ["syn_flood", "external_contact", "arp_spoof", "exfiltration", "beaconing"] {
        assert_eq!(fired(quiet), 0.0, "{quiet}");
    }
    let alert_lines: Vec<Value> = link
        .exporter_log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["alert_type"] == "port_scan")
        .collect();
    assert_eq!(alert_lines.len(), 1, "one JSON alert line");
    assert_eq!(alert_lines[0]["device_id"], "nurse-station-ws");
}
