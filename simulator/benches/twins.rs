//! Device twins in one process, each sending one ORU^R01 per second to an in-process gateway
//! on 127.0.0.1, on one core: a current-thread tokio runtime runs the twins and the gateway
//! alike, and the thread is pinned to CPU 0. Prints, per fleet size, the messages per second
//! offered and achieved and the ACK latency (one twin's tick: build, send, wait for the ACK)
//! at p50 and p99 in steady state, and apart from it the p99 of each twin's first tick, which
//! also opens its connection (a fleet connecting within one second overflows the listen
//! backlog, and SYN retransmission adds a second).
//!
//! Run: `cargo bench -p wardwatch-simulator --bench twins` (or, to pin the whole process from
//! outside, `taskset -c 0 cargo bench ...`). Set `WARDWATCH_BENCH_TWINS=1000,5000` and
//! `WARDWATCH_BENCH_SECONDS=20` to choose the fleets and the time per fleet. Each twin holds
//! one connection and the gateway another, so the bench raises RLIMIT_NOFILE to its hard
//! limit and says so if that is below twice the largest fleet. `WARDWATCH_BENCH_ECG=1` sends
//! ECG strips too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use wardwatch_simulator::device::{Device, DeviceConfig};
use wardwatch_simulator::device_type::DeviceType;
use wardwatch_simulator::gateway::{Gateway, GatewayConfig};
use wardwatch_simulator::oru;
use wardwatch_simulator::scenario::{Scenario, Timeline};

/// Raises the soft descriptor limit to `wanted` (the hard one too, where allowed, as for root),
/// else to the hard limit; returns the limit in force.
fn raise_file_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let raised = libc::rlimit { rlim_cur: wanted.max(limit.rlim_cur), rlim_max: wanted.max(limit.rlim_max) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn pin_to_cpu_0() -> bool {
    // SAFETY: a zeroed cpu_set_t with one bit set, for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

fn config(gateway: String, index: usize) -> DeviceConfig {
    DeviceConfig {
        gateway,
        context: oru::Context {
            device_id: format!("bench-{index:05}"),
            hospital_id: "bench-hospital".into(),
            receiver: "WARDWATCH".into(),
            patient_id: format!("P-{index:05}"),
            bed: index.to_string(),
            ward: "bench-ward".into(),
        },
        device_type: DeviceType::BedsideMonitor,
        timeline: Timeline::single(Scenario::Stable),
        seed: index as u64,
        interval: Duration::from_secs(1),
        speed: 1.0,
        connect_timeout: Duration::from_secs(5),
        ack_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(5),
        max_message_bytes: 64 * 1024,
        ecg: ecg_strips(),
    }
}

/// `WARDWATCH_BENCH_ECG=1` adds each interval's ECG strip to every ORU, as a bedside monitor
/// sends it (the ECG model then dominates the CPU time); off by default.
fn ecg_strips() -> bool {
    std::env::var("WARDWATCH_BENCH_ECG").is_ok_and(|v| v == "1")
}

struct Outcome {
    offered: u64,
    acked: u64,
    failures: u64,
    /// Ticks after the first.
    latencies: Vec<Duration>,
    /// First ticks, which connect.
    first_ticks: Vec<Duration>,
}

/// `twins` twins for `seconds` seconds, each ticking once a second from its own phase.
async fn run_fleet(twins: usize, seconds: u64) -> Outcome {
    let gateway = Gateway::new(GatewayConfig { max_devices: 256, ..GatewayConfig::default() });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(Arc::clone(&gateway).serve(listener));
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..twins {
        let mut device = Device::new(config(address.clone(), index));
        // Spread the fleet over one second, as devices switched on at different times.
        let phase = Duration::from_secs(1).mul_f64(index as f64 / twins as f64);
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval_at(start + phase, Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut latencies = Vec::with_capacity(seconds as usize);
            for _ in 0..seconds {
                ticker.tick().await;
                let sent = Instant::now();
                device.tick().await;
                latencies.push(sent.elapsed());
            }
            let stats = device.stats().clone();
            let first = latencies.remove(0);
            (stats, first, latencies)
        });
    }
    let mut outcome = Outcome {
        offered: twins as u64 * seconds,
        acked: 0,
        failures: 0,
        latencies: Vec::new(),
        first_ticks: Vec::new(),
    };
    while let Some(done) = tasks.join_next().await {
        let (stats, first, latencies) = done.unwrap();
        outcome.first_ticks.push(first);
        outcome.acked += stats.acked;
        outcome.failures += stats.naks + stats.ack_timeouts + stats.send_errors + stats.unsent;
        outcome.latencies.extend(latencies);
    }
    server.abort();
    outcome
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let fleets: Vec<usize> = std::env::var("WARDWATCH_BENCH_TWINS")
        .unwrap_or_else(|_| "1000,5000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("WARDWATCH_BENCH_TWINS: comma-separated counts"))
        .collect();
    let seconds: u64 = std::env::var("WARDWATCH_BENCH_SECONDS").map_or(20, |s| s.parse().expect("seconds"));
    assert!(seconds >= 2, "WARDWATCH_BENCH_SECONDS: at least 2 (the first tick is reported apart)");
    let largest = fleets.iter().max().copied().unwrap_or(0) as u64;
    let files = raise_file_limit(2 * largest + 100);
    if files < 2 * largest + 100 {
        println!("warning: RLIMIT_NOFILE is {files}, below the {} descriptors {largest} twins need", 2 * largest + 100);
    }
    let pinned = pin_to_cpu_0();
    println!(
        "twins: one current-thread runtime, {}pinned to CPU 0, {seconds} s per fleet",
        if pinned { "" } else { "NOT " }
    );
    println!(
        "{:>7} {:>12} {:>12} {:>9} {:>10} {:>10} {:>14} {:>9}",
        "twins", "offered/s", "acked/s", "failures", "p50 ms", "p99 ms", "1st tick p99", "cpu s"
    );
    for twins in fleets {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let cpu_before = cpu_seconds();
        let mut outcome = runtime.block_on(run_fleet(twins, seconds));
        let cpu = cpu_seconds() - cpu_before;
        drop(runtime);
        outcome.latencies.sort();
        outcome.first_ticks.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:>7} {:>12.0} {:>12.0} {:>9} {:>10.3} {:>10.3} {:>14.3} {:>9.1}",
            twins,
            outcome.offered as f64 / seconds as f64,
            outcome.acked as f64 / seconds as f64,
            outcome.failures,
            ms(percentile(&outcome.latencies, 0.50)),
            ms(percentile(&outcome.latencies, 0.99)),
            ms(percentile(&outcome.first_ticks, 0.99)),
            cpu,
        );
    }
}

/// CPU time this process has used (user + system).
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain old data, and getrusage fills it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
