//! The live scenarios that ordinary TCP sockets can play: a connect scan of the configured
//! ports, short connections at a rate (external contact, beaconing), and a paced upload
//! (exfiltration). Each touches only the attack's target, paced by its `Pacer`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::pacer::Pacer;
use super::{AttackReport, LiveAttack};

/// A probe or a check-in that gets no answer in this time counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes written per paced exfiltration segment: one full Ethernet segment.
pub const SEGMENT_BYTES: usize = 1460;
/// What a check-in sends: a small opaque blob, as an implant's heartbeat.
const CHECK_IN: &[u8] = b"\x17\x03\x03\x00\x20wardwatch-simulated-beacon-0000000";

async fn connect(target: SocketAddr) -> Option<TcpStream> {
    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await.ok()?.ok()
}

/// A TCP connect scan: one connection attempt per port of the range, paced, each closed at
/// once. Attempts run side by side so that filtered ports do not slow the pace down.
pub async fn port_scan(attack: &LiveAttack, target: IpAddr, pacer: &mut Pacer, report: &mut AttackReport) {
    let mut probes = JoinSet::new();
    for port in attack.ports.ports() {
        if !pacer.next().await {
            break;
        }
        report.operations += 1;
        let target = SocketAddr::new(target, port);
        probes.spawn(async move { connect(target).await.is_some() });
    }
    while let Some(open) = probes.join_next().await {
        match open {
            Ok(true) => report.connected += 1,
            _ => report.failed += 1,
        }
    }
}

/// Short connections to the target's port at the pace: connect, send a check-in, read what
/// comes back within a moment, close.
pub async fn connections(attack: &LiveAttack, target: IpAddr, pacer: &mut Pacer, report: &mut AttackReport) {
    let target = SocketAddr::new(target, attack.ports.first);
    while pacer.next().await {
        report.operations += 1;
        let Some(mut stream) = connect(target).await else {
            report.failed += 1;
            continue;
        };
        report.connected += 1;
        if stream.write_all(CHECK_IN).await.is_ok() {
            report.bytes += CHECK_IN.len() as u64;
            let mut answer = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut answer)).await;
        }
        let _ = stream.shutdown().await;
    }
}

/// One connection to the target, then one segment's worth of opaque bytes per permit (each an
/// operation): an upload as fast as the pace allows, ended by the count or the time.
pub async fn exfiltrate(attack: &LiveAttack, target: IpAddr, pacer: &mut Pacer, report: &mut AttackReport) {
    let target = SocketAddr::new(target, attack.ports.first);
    let Some(mut stream) = connect(target).await else {
        report.failed += 1;
        return;
    };
    report.connected += 1;
    let mut segment = [0u8; SEGMENT_BYTES];
    while pacer.next().await {
        // Looks random, costs nothing: a counter through a multiplicative hash.
        for (i, byte) in segment.iter_mut().enumerate() {
            *byte = ((report.operations as usize * SEGMENT_BYTES + i).wrapping_mul(0x9e37_79b9) >> 13) as u8;
        }
        let write = tokio::time::timeout_at(pacer.deadline(), stream.write_all(&segment)).await;
        if !matches!(write, Ok(Ok(()))) {
            break;
        }
        report.operations += 1;
        report.bytes += SEGMENT_BYTES as u64;
    }
    let _ = stream.shutdown().await;
}
