//! Device twins, each sending one ORU^R01 per second to the gateway on 127.0.0.1 and waiting
//! for its ACK. The twins run on one current-thread tokio runtime whose thread is pinned to
//! CPU 0. By default (`WARDWATCH_BENCH_GATEWAY=separate`) the gateway is the real
//! `wardwatch-simulator gateway` binary, started afresh for each fleet as its own process
//! pinned to CPU 1 (one tokio worker), so the twins' process holds one descriptor per twin
//! and the gateway's process the other end. `WARDWATCH_BENCH_GATEWAY=in-process` runs the
//! gateway on the twins' runtime instead, as earlier figures were taken: one core for both,
//! and two descriptors per twin in the one process.
//!
//! Prints, per fleet size, the messages per second offered and acked (ACKs the twins received
//! between the fleet's first and last second, when every twin is ticking, so that neither the
//! connection storm nor a straggler skews the rate), the ACK latency (one twin's tick: build, send, wait for the ACK) at p50 and p99 in
//! steady state, and apart from it the p99 of each twin's first tick, which also opens its
//! connection (a fleet connecting within one second overflows the listen backlog, and SYN
//! retransmission adds a second). Then the failures: connection attempts that failed,
//! readings left unsent for want of a connection, ACK timeouts, NAKs (AE/AR) and send errors.
//! As a cross-check, the gateway's own `wardwatch_gateway_messages_total{result="accepted"}`
//! per second over the same window (scraped from its `--metrics-listen` in separate mode at
//! the window's two ends; a note follows when its total differs from the twins'), the CPU seconds
//! each process used during the fleet's run (getrusage for the twins, `/proc/<pid>/stat`
//! utime + stime for the gateway), the wall time, and how busy CPUs 0 and 1 were by any
//! process (`/proc/stat`), which shows when something else on the machine took the cores.
//!
//! Run: `cargo bench -p wardwatch-simulator --bench twins`, which builds the gateway binary
//! in the same profile (`target/release/wardwatch-simulator`). Set
//! `WARDWATCH_BENCH_TWINS=1000,5000` and `WARDWATCH_BENCH_SECONDS=20` to choose the fleets
//! and the time per fleet, `WARDWATCH_BENCH_GATEWAY_BIN` to use another gateway binary.
//! The bench raises RLIMIT_NOFILE to its hard limit (the gateway inherits it) and says so if
//! that is below what the largest fleet needs. `WARDWATCH_BENCH_ECG=1` sends ECG strips too.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use wardwatch_simulator::device::{Device, DeviceConfig, DeviceStats};
use wardwatch_simulator::device_type::DeviceType;
use wardwatch_simulator::gateway::{Gateway, GatewayConfig};
use wardwatch_simulator::oru;
use wardwatch_simulator::scenario::{Scenario, Timeline};

/// The twins' CPU; a separate gateway gets the next one.
const TWINS_CPU: usize = 0;
const GATEWAY_CPU: usize = 1;
/// How long a started gateway has to answer `/healthz`, polled every `READY_POLL`.
const READY_POLLS: u32 = 100;
const READY_POLL: Duration = Duration::from_millis(50);
/// Timeouts of one metrics scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
const ACCEPTED: &str = "wardwatch_gateway_messages_total{result=\"accepted\"}";

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

/// Pins the calling thread (or, in a child before exec, the process) to `cpu`. Only makes a
/// system call, so it is safe between fork and exec.
fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t with one bit set, for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The CPUs a process may run on, as the kernel lists them (`0`, `0-1`).
fn cpus_allowed(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "?".into())
}

/// utime + stime of a process, in seconds, from `/proc/<pid>/stat`.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated. utime and
    // stime are fields 14 and 15, that is 12th and 13th after the name's closing parenthesis.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// Busy and total jiffies of each CPU since boot, from `/proc/stat` (busy: all but idle and
/// iowait, whichever process ran).
fn cpu_jiffies() -> Vec<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|line| line.starts_with("cpu") && line.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|line| {
            let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            let total: u64 = values.iter().take(8).sum();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// How busy `cpu` was between two `cpu_jiffies` readings, in percent.
fn busy_percent(before: &[(u64, u64)], after: &[(u64, u64)], cpu: usize) -> f64 {
    match (before.get(cpu), after.get(cpu)) {
        (Some(&(b0, t0)), Some(&(b1, t1))) if t1 > t0 => 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}

/// The accepted-messages counter in a Prometheus text exposition.
fn accepted_in(metrics: &str) -> Option<u64> {
    metrics.lines().find_map(|line| line.strip_prefix(ACCEPTED)?.trim().parse::<f64>().ok()).map(|v| v as u64)
}

/// Where the gateway binary is: `WARDWATCH_BENCH_GATEWAY_BIN`, else the one cargo built with
/// this bench (same profile: `target/release/wardwatch-simulator` under `cargo bench`).
fn gateway_binary() -> PathBuf {
    let path = std::env::var_os("WARDWATCH_BENCH_GATEWAY_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wardwatch-simulator")), PathBuf::from);
    assert!(
        path.is_file(),
        "the gateway binary {} is missing: build it with `cargo build --release -p wardwatch-simulator --bin \
         wardwatch-simulator` (`cargo bench -p wardwatch-simulator --bench twins` builds it too), or set \
         WARDWATCH_BENCH_GATEWAY_BIN, or run with WARDWATCH_BENCH_GATEWAY=in-process",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1, found by binding to port 0 (free again once returned).
fn free_local_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port on 127.0.0.1")
}

/// `wardwatch-simulator gateway` as a child process on 127.0.0.1, pinned to one CPU with one
/// tokio worker; terminated when dropped.
struct GatewayProcess {
    child: Child,
    hl7: SocketAddr,
    metrics: SocketAddr,
}

impl GatewayProcess {
    fn start(binary: &std::path::Path, cpu: usize) -> Self {
        let (hl7, metrics) = (free_local_address(), free_local_address());
        let mut command = Command::new(binary);
        command
            .args(["--log", "warn", "gateway", "--listen", &hl7.to_string(), "--metrics-listen", &metrics.to_string()])
            .env("TOKIO_WORKER_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: the hook only calls sched_setaffinity, which is async-signal-safe. A failed
        // pin is not an error here: the affinity is read back and printed.
        unsafe {
            command.pre_exec(move || {
                pin_to_cpu(cpu);
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut gateway = Self { child, hl7, metrics };
        gateway.wait_ready();
        gateway
    }

    /// Polls `/healthz` until it answers (the HL7 listener is bound before it), for at most
    /// `READY_POLLS` polls.
    fn wait_ready(&mut self) {
        for _ in 0..READY_POLLS {
            if let Some(status) = self.child.try_wait().expect("the gateway's status") {
                panic!("the gateway exited at start ({status}); its stderr is above");
            }
            if http_get(self.metrics, "/healthz").is_ok_and(|body| body.starts_with("ok")) {
                return;
            }
            std::thread::sleep(READY_POLL);
        }
        panic!("the gateway did not answer /healthz on {} within {:?}", self.metrics, READY_POLL * READY_POLLS);
    }

    fn accepted(&self) -> u64 {
        scrape_accepted(self.metrics)
    }

    fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.child.id()).unwrap_or(f64::NAN)
    }
}

impl Drop for GatewayProcess {
    /// SIGTERM, then SIGKILL if it has not exited within a second.
    fn drop(&mut self) {
        // SAFETY: a signal to our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The accepted counter of the gateway whose metrics are at `metrics`.
fn scrape_accepted(metrics: SocketAddr) -> u64 {
    let text = http_get(metrics, "/metrics").unwrap_or_else(|e| panic!("scraping the gateway: {e}"));
    accepted_in(&text).unwrap_or_else(|| panic!("no {ACCEPTED} in the gateway's metrics"))
}

/// The body of `GET path` from a local HTTP/1.1 server, with bounded waits.
fn http_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, SCRAPE_TIMEOUT)?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response from {address}")))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("{path}: {}", head.lines().next().unwrap_or(""))));
    }
    Ok(body.to_owned())
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
            profile: Default::default(),
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum GatewayMode {
    /// The `wardwatch-simulator gateway` binary, its own process on its own CPU.
    Separate,
    /// A `Gateway` on the twins' runtime.
    InProcess,
}

impl GatewayMode {
    fn from_env() -> Self {
        match std::env::var("WARDWATCH_BENCH_GATEWAY").as_deref() {
            Err(_) | Ok("separate") => Self::Separate,
            Ok("in-process") => Self::InProcess,
            Ok(other) => panic!("WARDWATCH_BENCH_GATEWAY={other}: separate (default) or in-process"),
        }
    }
}

#[derive(Default)]
struct Outcome {
    offered: u64,
    /// The twins' totals.
    stats: DeviceStats,
    /// Ticks after the first.
    latencies: Vec<Duration>,
    /// First ticks, which connect.
    first_ticks: Vec<Duration>,
    /// From the first tick's start to the last twin's end.
    wall: Duration,
    /// ACKs (AA) received within the window.
    acked_in_window: u64,
}

impl Outcome {
    /// Readings that got no AA: refused, timed out, lost to a send error, or never sent.
    fn failures(&self) -> u64 {
        self.stats.naks + self.stats.ack_timeouts + self.stats.send_errors + self.stats.unsent
    }
}

/// When the fleet starts (its first twin's first tick), and the window its rates are taken
/// over: from its first second's end to its last second's end, `seconds - 1` s in which every
/// twin ticks once a second.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    seconds: u64,
}

impl Schedule {
    fn new(seconds: u64) -> Self {
        Self { start: Instant::now() + Duration::from_millis(500), seconds }
    }

    fn window(&self) -> (Instant, Instant) {
        (self.start + Duration::from_secs(1), self.start + Duration::from_secs(self.seconds))
    }

    /// A thread that reads the gateway's accepted counter at both ends of the window.
    fn sample(self, read: impl Fn() -> u64 + Send + 'static) -> std::thread::JoinHandle<(u64, u64)> {
        std::thread::spawn(move || {
            let (from, to) = self.window();
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let first = read();
            std::thread::sleep(to.saturating_duration_since(Instant::now()));
            (first, read())
        })
    }
}

/// `twins` twins sending to `address` for `schedule.seconds` seconds, each ticking once a
/// second from its own phase.
async fn run_fleet(address: String, twins: usize, schedule: Schedule) -> Outcome {
    let seconds = schedule.seconds;
    let start = tokio::time::Instant::from_std(schedule.start);
    let (from, to) = schedule.window();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..twins {
        let mut device = Device::new(config(address.clone(), index));
        // Spread the fleet over one second, as devices switched on at different times.
        let phase = Duration::from_secs(1).mul_f64(index as f64 / twins as f64);
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval_at(start + phase, Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut latencies = Vec::with_capacity(seconds as usize);
            let mut in_window = 0;
            for _ in 0..seconds {
                ticker.tick().await;
                let sent = Instant::now();
                let acked = device.stats().acked;
                device.tick().await;
                let now = Instant::now();
                latencies.push(now - sent);
                if device.stats().acked > acked && (from..to).contains(&now) {
                    in_window += 1;
                }
            }
            let stats = device.stats().clone();
            let first = latencies.remove(0);
            (stats, first, latencies, in_window)
        });
    }
    let mut outcome = Outcome { offered: twins as u64 * seconds, ..Outcome::default() };
    while let Some(done) = tasks.join_next().await {
        let (stats, first, latencies, in_window) = done.unwrap();
        outcome.first_ticks.push(first);
        outcome.acked_in_window += in_window;
        let total = &mut outcome.stats;
        total.acked += stats.acked;
        total.naks += stats.naks;
        total.ack_timeouts += stats.ack_timeouts;
        total.send_errors += stats.send_errors;
        total.unsent += stats.unsent;
        total.connect_failures += stats.connect_failures;
        outcome.latencies.extend(latencies);
    }
    outcome.wall = start.elapsed();
    outcome
}

/// One fleet's figures, with the gateway's count and CPU.
struct Run {
    outcome: Outcome,
    /// The gateway's accepted counter over the whole run, and within the window.
    gateway_accepted: u64,
    gateway_accepted_in_window: u64,
    twins_cpu: f64,
    /// None when the gateway shares the twins' process.
    gateway_cpu: Option<f64>,
    /// How busy the twins' and the gateway's CPUs were, by any process, in percent.
    core_busy: (f64, f64),
}

fn run_separate(binary: &std::path::Path, twins: usize, seconds: u64) -> Run {
    let gateway = GatewayProcess::start(binary, GATEWAY_CPU);
    let allowed = cpus_allowed(&gateway.child.id().to_string());
    if allowed != GATEWAY_CPU.to_string() {
        println!("        note: the gateway runs on CPUs {allowed}, not pinned to CPU {GATEWAY_CPU}");
    }
    let accepted_before = gateway.accepted();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (twins_before, gateway_before, cores_before) = (cpu_seconds(), gateway.cpu_seconds(), cpu_jiffies());
    let schedule = Schedule::new(seconds);
    let metrics = gateway.metrics;
    let sampler = schedule.sample(move || scrape_accepted(metrics));
    let outcome = runtime.block_on(run_fleet(gateway.hl7.to_string(), twins, schedule));
    let (twins_cpu, gateway_cpu, cores) =
        (cpu_seconds() - twins_before, gateway.cpu_seconds() - gateway_before, cpu_jiffies());
    let core_busy = (busy_percent(&cores_before, &cores, TWINS_CPU), busy_percent(&cores_before, &cores, GATEWAY_CPU));
    drop(runtime);
    let gateway_accepted = gateway.accepted() - accepted_before;
    let (first, last) = sampler.join().expect("the metrics sampler");
    Run {
        outcome,
        gateway_accepted,
        gateway_accepted_in_window: last - first,
        twins_cpu,
        gateway_cpu: Some(gateway_cpu),
        core_busy,
    }
}

fn run_in_process(twins: usize, seconds: u64) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gateway = Gateway::new(GatewayConfig { max_devices: 256, ..GatewayConfig::default() });
    let schedule = Schedule::new(seconds);
    let observed = Arc::clone(&gateway);
    let sampler = schedule.sample(move || accepted_in(&observed.metrics().render()).expect("the accepted counter"));
    let (twins_before, cores_before) = (cpu_seconds(), cpu_jiffies());
    let outcome = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(Arc::clone(&gateway).serve(listener));
        let outcome = run_fleet(address, twins, schedule).await;
        server.abort();
        outcome
    });
    let (twins_cpu, cores) = (cpu_seconds() - twins_before, cpu_jiffies());
    let core_busy = (busy_percent(&cores_before, &cores, TWINS_CPU), busy_percent(&cores_before, &cores, GATEWAY_CPU));
    drop(runtime);
    let gateway_accepted = accepted_in(&gateway.metrics().render()).expect("the accepted counter");
    let (first, last) = sampler.join().expect("the metrics sampler");
    Run { outcome, gateway_accepted, gateway_accepted_in_window: last - first, twins_cpu, gateway_cpu: None, core_busy }
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
    let mode = GatewayMode::from_env();
    let binary = (mode == GatewayMode::Separate).then(gateway_binary);
    let largest = fleets.iter().max().copied().unwrap_or(0) as u64;
    // Each twin holds one descriptor; an in-process gateway holds the other end too.
    let needed = if mode == GatewayMode::Separate { largest } else { 2 * largest } + 100;
    let files = raise_file_limit(needed);
    if files < needed {
        println!("warning: RLIMIT_NOFILE is {files}, below the {needed} descriptors {largest} twins need");
    }
    pin_to_cpu(TWINS_CPU);
    match &binary {
        Some(binary) => println!(
            "twins: one current-thread runtime on CPUs {}; gateway: {} as its own process, one tokio worker, on CPU {GATEWAY_CPU}; {seconds} s per fleet",
            cpus_allowed("self"),
            binary.display(),
        ),
        None => println!(
            "twins and gateway: one current-thread runtime in one process on CPUs {}; {seconds} s per fleet",
            cpus_allowed("self")
        ),
    }
    println!(
        "{:>7} {:>9} {:>9} {:>8} {:>8} {:>9} | {:>6} {:>8} {:>7} {:>8} {:>5} {:>7} | {:>9} {:>8} {:>8} {:>6} {:>6} {:>6}",
        "twins",
        "offered/s",
        "acked/s",
        "p50 ms",
        "p99 ms",
        "1st p99",
        "no AA",
        "connfail",
        "unsent",
        "timeouts",
        "naks",
        "senderr",
        "gw acc/s",
        "twin cpu",
        "gw cpu",
        "wall s",
        "cpu0 %",
        "cpu1 %"
    );
    for twins in fleets {
        let mut run = match &binary {
            Some(binary) => run_separate(binary, twins, seconds),
            None => run_in_process(twins, seconds),
        };
        let outcome = &mut run.outcome;
        outcome.latencies.sort();
        outcome.first_ticks.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let stats = &outcome.stats;
        let wall = outcome.wall.as_secs_f64();
        let window = (seconds - 1) as f64;
        println!(
            "{:>7} {:>9.0} {:>9.1} {:>8.3} {:>8.3} {:>9.1} | {:>6} {:>8} {:>7} {:>8} {:>5} {:>7} | {:>9.1} {:>8.1} {:>8} {:>6.1} {:>6.0} {:>6.0}",
            twins,
            outcome.offered as f64 / seconds as f64,
            outcome.acked_in_window as f64 / window,
            ms(percentile(&outcome.latencies, 0.50)),
            ms(percentile(&outcome.latencies, 0.99)),
            ms(percentile(&outcome.first_ticks, 0.99)),
            outcome.failures(),
            stats.connect_failures,
            stats.unsent,
            stats.ack_timeouts,
            stats.naks,
            stats.send_errors,
            run.gateway_accepted_in_window as f64 / window,
            run.twins_cpu,
            run.gateway_cpu.map_or_else(|| "(shared)".into(), |s| format!("{s:.1}")),
            wall,
            run.core_busy.0,
            run.core_busy.1,
        );
        if run.gateway_accepted != stats.acked {
            println!(
                "        note: the gateway accepted {} messages, the twins counted {} AAs ({} failures)",
                run.gateway_accepted,
                stats.acked,
                outcome.failures()
            );
        }
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
