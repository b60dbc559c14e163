//! Peak RSS with 100,000 active flows: captures with that many distinct flows, all within the
//! idle timeout, read by the exporter (`--max-flows` raised above them) and by tshark.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use etherparse::PacketBuilder;

use crate::proc::{self, pinned, thousands};

/// Flows in each capture (`WARDWATCH_BENCH_FLOWS`, default 100,000).
fn flow_count() -> u32 {
    std::env::var("WARDWATCH_BENCH_FLOWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// Flows start this far apart in packet time: 100,000 flows take 60 s, well within the idle
/// timeout (300 s), so none ends before the file does.
const FLOW_SPACING_US: u64 = 600;
const START_S: u64 = 1_790_000_000;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Flow `i`'s client: a distinct address per flow.
fn client(i: u32) -> Ipv4Addr {
    let n = 0x0a01_0000 + i;
    Ipv4Addr::from(n)
}

struct Writer {
    out: pcap::Savefile,
}

impl Writer {
    fn create(path: &Path) -> Self {
        let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        Self { out: dead.savefile(path).expect("creating the capture") }
    }

    fn write(&mut self, at_us: u64, frame: &[u8]) {
        let ts = libc::timeval {
            tv_sec: (START_S + at_us / 1_000_000) as libc::time_t,
            tv_usec: (at_us % 1_000_000) as libc::suseconds_t,
        };
        let header = pcap::PacketHeader { ts, caplen: frame.len() as u32, len: frame.len() as u32 };
        self.out.write(&pcap::Packet::new(&header, frame));
    }
}

/// Each flow: an NTP-sized request and its answer.
fn write_udp(path: &Path, flows: u32) -> u64 {
    let mut out = Writer::create(path);
    let payload = [0u8; 48];
    for i in 0..flows {
        let at = u64::from(i) * FLOW_SPACING_US;
        let port = 40_000 + (i % 20_000) as u16;
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
            .ipv4(client(i).octets(), SERVER.octets(), 64)
            .udp(port, 123)
            .write(&mut frame, &payload)
            .unwrap();
        out.write(at, &frame);
        frame.clear();
        PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
            .ipv4(SERVER.octets(), client(i).octets(), 64)
            .udp(123, port)
            .write(&mut frame, &payload)
            .unwrap();
        out.write(at + 100, &frame);
    }
    out.out.flush().unwrap();
    u64::from(flows) * 2
}

fn mllp(message: &str) -> Vec<u8> {
    wardwatch_clinical::mllp::frame(message.as_bytes())
}

/// Each flow: handshake, an ORU^R01 over MLLP to port 2575, its ACK, and the client's ACK of
/// that; no FIN, so every connection stays open.
fn write_tcp(path: &Path, flows: u32) -> u64 {
    let mut out = Writer::create(path);
    let mut frame = Vec::new();
    for i in 0..flows {
        let at = u64::from(i) * FLOW_SPACING_US;
        let port = 40_000 + (i % 20_000) as u16;
        let (c, s) = (client(i).octets(), SERVER.octets());
        let oru = mllp(&format!(
            "MSH|^~\\&|dev-{i}|ward|WARDWATCH|ward|20260101000000||ORU^R01|C{i}|P|2.5\rPID|||P-{}\r\
             OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F\r",
            i % 4
        ));
        let ack = mllp(&format!("MSH|^~\\&|WARDWATCH|ward|dev-{i}|ward|20260101000000||ACK|A{i}|P|2.5\rMSA|AA|C{i}\r"));
        let (cseq, sseq) = (1_000u32, 5_000u32);
        let packets: [(bool, u64, Vec<u8>); 5] = [
            (true, 0, {
                frame.clear();
                PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
                    .ipv4(c, s, 64)
                    .tcp(port, 2575, cseq, 64_240)
                    .syn()
                    .write(&mut frame, &[])
                    .unwrap();
                frame.clone()
            }),
            (false, 50, {
                frame.clear();
                PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
                    .ipv4(s, c, 64)
                    .tcp(2575, port, sseq, 64_240)
                    .syn()
                    .ack(cseq + 1)
                    .write(&mut frame, &[])
                    .unwrap();
                frame.clone()
            }),
            (true, 100, {
                frame.clear();
                PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
                    .ipv4(c, s, 64)
                    .tcp(port, 2575, cseq + 1, 64_240)
                    .ack(sseq + 1)
                    .write(&mut frame, &[])
                    .unwrap();
                frame.clone()
            }),
            (true, 150, {
                frame.clear();
                PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
                    .ipv4(c, s, 64)
                    .tcp(port, 2575, cseq + 1, 64_240)
                    .psh()
                    .ack(sseq + 1)
                    .write(&mut frame, &oru)
                    .unwrap();
                frame.clone()
            }),
            (false, 250, {
                frame.clear();
                PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
                    .ipv4(s, c, 64)
                    .tcp(2575, port, sseq + 1, 64_240)
                    .psh()
                    .ack(cseq + 1 + oru.len() as u32)
                    .write(&mut frame, &ack)
                    .unwrap();
                frame.clone()
            }),
        ];
        for (_, offset, bytes) in &packets {
            out.write(at + offset, bytes);
        }
    }
    out.out.flush().unwrap();
    u64::from(flows) * 5
}

fn capture(name: &str, flows: u32, write: fn(&Path, u32) -> u64) -> PathBuf {
    let path = crate::work_dir().join(format!("{name}-{flows}-flows.pcap"));
    if !path.is_file() {
        let packets = write(&path, flows);
        println!("wrote {} ({} packets)", path.display(), thousands(packets));
    }
    path
}

pub fn run() {
    let flows = flow_count();
    println!();
    println!(
        "rss: peak RSS (ru_maxrss) reading a capture of {} flows all active at its end (one every {FLOW_SPACING_US} \
         us; exporter with --max-flows {}); tshark and the exporter pinned to CPU {} (the exporter reads the file \
         through a memory map), and the exporter on all CPUs (in two stages, the first reading through the map)",
        thousands(u64::from(flows)),
        flows * 2,
        crate::offline::reader_cpu()
    );
    println!(
        "{:<44} {:>10} {:>13} {:>11} {:>9} {:>10}",
        "capture / reader", "packets", "flows seen", "peak MiB", "wall s", "goal"
    );
    for (name, write, conv) in [("udp", write_udp as fn(&Path, u32) -> u64, "conv,udp"), ("tcp", write_tcp, "conv,tcp")]
    {
        let path = capture(name, flows, write);
        let file = path.to_str().unwrap().to_owned();
        let mut packets = 0;
        for cpu in [Some(crate::offline::reader_cpu()), None] {
            let mut command = Command::new(crate::exporter_binary());
            command
                .args(["--read", &file, "--summary", "json", "--max-flows", &(flows * 2).to_string()])
                .args(["--alert-lines", "/dev/null"])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped());
            if let Some(cpu) = cpu {
                pinned(&mut command, cpu);
            }
            let started = std::time::Instant::now();
            let child = command.spawn().expect("starting the exporter");
            let (child, output) = read_stdout(child);
            let usage = proc::wait_usage(child, started);
            let summary = serde_json::Deserializer::from_slice(&output)
                .into_iter::<serde_json::Value>()
                .filter_map(Result::ok)
                .last()
                .unwrap_or_default();
            let created = summary["flows"]["created"].as_u64().unwrap_or(0);
            let evicted: u64 =
                summary["flows"]["evicted"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
            packets = summary["packets"].as_u64().unwrap_or(0);
            let mib = proc::mib(usage.max_rss);
            println!(
                "{:<44} {:>10} {:>13} {:>11.1} {:>9.2} {:>10}",
                format!("{name}: wardwatch-exporter{}", if cpu.is_some() { ", one CPU" } else { ", all CPUs" }),
                thousands(packets),
                format!("{} ({} ended)", thousands(created), evicted),
                mib,
                usage.wall.as_secs_f64(),
                if mib < 64.0 { "< 64 MiB" } else { "MISSED" }
            );
        }
        if crate::have("tshark") {
            let mut command = Command::new("tshark");
            command.args(["-r", &file, "-q", "-z", conv]).stdout(Stdio::null()).stderr(Stdio::null());
            pinned(&mut command, crate::offline::reader_cpu());
            let usage = proc::run(&mut command);
            println!(
                "{:<44} {:>10} {:>13} {:>11.1} {:>9.2} {:>10}",
                format!("{name}: tshark -r F -q -z {conv}"),
                thousands(packets),
                "",
                proc::mib(usage.max_rss),
                usage.wall.as_secs_f64(),
                ""
            );
        }
    }
}

/// Reads a child's whole stdout (its summary), leaving the child to be reaped by `wait4`.
fn read_stdout(mut child: std::process::Child) -> (std::process::Child, Vec<u8>) {
    use std::io::Read;
    let mut output = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut output).expect("reading the exporter's output");
    }
    (child, output)
}
