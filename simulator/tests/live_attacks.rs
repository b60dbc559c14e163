//! Live network scenarios against listeners of the test's own: sockets on 127.0.0.1 count the
//! ports and connections touched and the bytes received, and the counts stay within the
//! configured bounds. The raw-frame scenarios are refused in the initial network namespace and
//! run, counted by a packet socket, inside one the test makes.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wardwatch_simulator::live::{self, LiveAttack, PortRange, Target};
use wardwatch_simulator::network_scenario::NetworkScenario;

const BINARY: &str = env!("CARGO_BIN_EXE_wardwatch-simulator");
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn attack(scenario: NetworkScenario, ports: PortRange, rate_per_s: f64, duration_ms: u64, max: u64) -> LiveAttack {
    LiveAttack {
        scenario,
        target: Target::Address(LOCALHOST),
        ports,
        rate_per_s,
        duration: Duration::from_millis(duration_ms),
        max_operations: max,
        onset: Duration::ZERO,
    }
}

/// `count` listeners on consecutive ports of 127.0.0.1, below the ephemeral range (32768 up),
/// where outgoing connections on the machine do not crowd them.
async fn consecutive_listeners(count: u16) -> (PortRange, Vec<TcpListener>) {
    for base in (20_000..32_000).step_by(53) {
        let mut listeners = Vec::new();
        for port in base..base + count {
            match TcpListener::bind((LOCALHOST, port)).await {
                Ok(listener) => listeners.push(listener),
                Err(_) => break,
            }
        }
        if listeners.len() == usize::from(count) {
            return (PortRange { first: base, last: base + count - 1 }, listeners);
        }
    }
    panic!("no {count} free consecutive ports on 127.0.0.1");
}

/// Connections each listener accepted (drained without blocking).
fn accepted(listeners: &[TcpListener]) -> Vec<u32> {
    listeners
        .iter()
        .map(|l| {
            let mut n = 0;
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            while let std::task::Poll::Ready(Ok(_)) = l.poll_accept(&mut cx) {
                n += 1;
            }
            n
        })
        .collect()
}

#[tokio::test]
async fn a_port_scan_touches_each_configured_port_once_and_stops_at_the_cap() {
    let (ports, listeners) = consecutive_listeners(12).await;
    let report = live::run(&attack(NetworkScenario::PortScan, ports, 200.0, 5_000, 1_000)).await.unwrap();
    assert_eq!((report.operations, report.connected, report.failed), (12, 12, 0));
    assert_eq!(accepted(&listeners), vec![1; 12]);

    let capped = live::run(&attack(NetworkScenario::PortScan, ports, 200.0, 5_000, 5)).await.unwrap();
    assert_eq!(capped.operations, 5);
    assert_eq!(accepted(&listeners), [vec![1; 5], vec![0; 7]].concat(), "only the first five ports");

    // Named, the target is looked up once and only its (IPv4) address is touched.
    let named = LiveAttack {
        target: Target::Name("localhost".into()),
        ..attack(NetworkScenario::PortScan, ports, 200.0, 5_000, 1_000)
    };
    let report = live::run(&named).await.unwrap();
    assert_eq!((report.target.as_str(), report.connected), ("127.0.0.1", 12));
    assert_eq!(accepted(&listeners), vec![1; 12]);
}

#[tokio::test]
async fn beacons_come_at_the_rate_and_stop_with_the_time() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counter = tokio::spawn(async move {
        let mut times = Vec::new();
        while let Ok(Ok((mut stream, _))) = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await {
            times.push(Instant::now());
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
        }
        times
    });
    let started = Instant::now();
    let report =
        live::run(&attack(NetworkScenario::Beaconing, PortRange::single(port), 20.0, 500, 1_000)).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(900), "bounded by the duration");
    let times = counter.await.unwrap();
    assert_eq!(report.operations, 10, "20 per second for half a second");
    assert_eq!((times.len() as u64, report.connected), (10, 10));
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap > Duration::from_millis(25) && gap < Duration::from_millis(120), "{gap:?}");
    }
}

#[tokio::test]
async fn exfiltration_uploads_no_more_than_its_bounds_allow() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        received.len()
    });
    let report =
        live::run(&attack(NetworkScenario::Exfiltration, PortRange::single(port), 400.0, 2_000, 50)).await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(5), receiver).await.unwrap().unwrap();
    assert_eq!((report.operations, report.connected, report.bytes), (50, 1, 50 * 1460));
    assert_eq!(received as u64, report.bytes);
}

#[tokio::test]
async fn contact_with_a_closed_port_counts_failures_and_stays_bounded() {
    let closed = TcpListener::bind((LOCALHOST, 0)).await.unwrap().local_addr().unwrap().port();
    let report = live::run(&attack(NetworkScenario::ExternalContact, PortRange::single(closed), 50.0, 200, 1_000))
        .await
        .unwrap();
    assert_eq!((report.operations, report.connected, report.failed), (10, 0, 10));
}

/// The network namespace of the calling thread.
fn thread_network_namespace() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

#[test]
fn raw_frame_scenarios_are_refused_in_the_namespace_they_were_started_from() {
    for scenario in ["syn-flood", "arp-spoof"] {
        let output = Command::new(BINARY)
            .args(["device", "--gateway=127.0.0.1:9", "--device-id=d", "--patient-id=p", "--bed=1", "--readings=0"])
            .env("WARDWATCH_NETWORK_SCENARIO", scenario)
            .env("WARDWATCH_ATTACK_TARGET", "127.0.0.1")
            .env("WARDWATCH_LOG", "warn")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{scenario} ran");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("network namespace") && stderr.contains(scenario), "{stderr}");
    }
}

/// A packet socket on `interface` (in the calling thread's network namespace) that counts
/// arriving frames `wanted` accepts until `quiet` passes without one.
struct PacketCounter(libc::c_int);

impl PacketCounter {
    fn open(interface: &str) -> Self {
        let name = std::ffi::CString::new(interface).unwrap();
        // SAFETY: plain system calls on a descriptor this value owns.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from((libc::ETH_P_ALL as u16).to_be()));
            assert!(fd >= 0, "packet socket: {}", std::io::Error::last_os_error());
            let mut address: libc::sockaddr_ll = std::mem::zeroed();
            address.sll_family = libc::AF_PACKET as u16;
            address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            address.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
            let bound = libc::bind(fd, (&raw const address).cast(), size_of::<libc::sockaddr_ll>() as u32);
            assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
            // Room for every frame of a run, read only after the run.
            let buffer: libc::c_int = 16 << 20;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, (&raw const buffer).cast(), 4);
            let timeout = libc::timeval { tv_sec: 0, tv_usec: 300_000 };
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&raw const timeout).cast(), 16);
            Self(fd)
        }
    }

    fn count(&self, deadline: Instant, wanted: impl Fn(&[u8]) -> bool) -> u64 {
        let mut buffer = [0u8; 2048];
        let mut count = 0;
        while Instant::now() < deadline {
            // SAFETY: the buffers outlive the call.
            let (n, kind) = unsafe {
                let mut from: libc::sockaddr_ll = std::mem::zeroed();
                let mut length = size_of::<libc::sockaddr_ll>() as u32;
                let n = libc::recvfrom(
                    self.0,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                    (&raw mut from).cast(),
                    &mut length,
                );
                (n, from.sll_pkttype)
            };
            if n < 0 {
                continue; // timed out: look at the deadline again
            }
            // Loopback shows each frame going out and coming in; count it once.
            if kind != libc::PACKET_OUTGOING && wanted(&buffer[..n as usize]) {
                count += 1;
            }
        }
        count
    }
}

impl Drop for PacketCounter {
    fn drop(&mut self) {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(self.0) };
    }
}

fn ip(args: &str) {
    let status = Command::new("ip").args(args.split(' ')).status().expect("iproute2's ip");
    assert!(status.success(), "ip {args}");
}

/// Runs the simulator's device command with an attack in the current thread's namespace.
fn run_attack(scenario: &str, target: &str, ports: &str) -> serde_json::Value {
    let output = Command::new(BINARY)
        .args(["device", "--gateway=127.0.0.1:9", "--device-id=d", "--patient-id=p", "--bed=1", "--readings=0"])
        .args(["--network-scenario", scenario, "--attack-target", target, "--attack-ports", ports])
        .args(["--attack-rate", "200", "--attack-duration", "500ms"])
        .env("WARDWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn raw_frame_scenarios_run_inside_a_namespace_the_test_made() {
    // Namespaces belong to threads: this one enters a fresh network namespace, and the
    // commands it starts inherit it. Nothing reaches the machine's own network.
    std::thread::spawn(|| {
        // SAFETY: affects this thread only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare: {}", std::io::Error::last_os_error());
        assert_ne!(thread_network_namespace(), std::fs::read_link("/proc/self/ns/net").unwrap());
        ip("link set lo up");

        let lo = PacketCounter::open("lo");
        let report = run_attack("syn-flood", "127.0.0.1", "9");
        let is_syn_to_9 = |f: &[u8]| {
            f.len() >= 54 && f[12..14] == [8, 0] && f[23] == 6 && f[36..38] == [0, 9] && f[47] & 0x12 == 0x02
        };
        let syns = lo.count(Instant::now() + Duration::from_millis(500), is_syn_to_9);
        assert_eq!(report["attack"]["operations"], 100, "200 a second for half a second: {report}");
        assert_eq!(syns, 100);

        ip("link add wwa type veth peer name wwb");
        ip("addr add 10.99.0.1/24 dev wwa");
        ip("link set wwa up");
        ip("link set wwb up");
        let peer = PacketCounter::open("wwb");
        let report = run_attack("arp-spoof", "10.99.0.2", "1");
        let announces_target =
            |f: &[u8]| f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2] && f[28..32] == [10, 99, 0, 2];
        let announcements = peer.count(Instant::now() + Duration::from_millis(500), announces_target);
        assert_eq!(report["attack"]["operations"], 100, "{report}");
        assert_eq!(announcements, 100);
    })
    .join()
    .unwrap();
}
