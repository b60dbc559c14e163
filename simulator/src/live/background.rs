//! A live twin's background traffic: what `traffic::background` synthesises for captures, sent
//! for real. NTP polls; a workstation's DNS lookups and HTTPS-like sessions; an imaging
//! modality's DICOM studies. Each goes only to the server configured for it (none is, unless
//! set), paced by the device type's own intervals (scaled by `--speed`, never more often than
//! `MAX_RATE_PER_S`), and stops after `max_per_activity` rounds. The payloads come from the
//! same builders as the captures' (`traffic::{ntp, dns, tls, dicom}`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::device_type::DeviceType;
use crate::traffic::background::{self, Activity};
use crate::traffic::{dicom, dns, ntp, tls};

/// No activity repeats faster than this, whatever `--speed` asks.
pub const MAX_RATE_PER_S: f64 = 10.0;
/// Nor more often than this in all.
pub const MAX_PER_ACTIVITY: u64 = 100_000;
/// How long a connection or an answer is waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest PDU read from a DICOM peer.
const MAX_PDU_BYTES: usize = 1 << 20;
/// Separates this stream from the twin's patient for the same seed.
const BACKGROUND_STREAM: u64 = 0xb4c6_0000_0000_0003;

/// The servers the background traffic may go to; an activity whose server is unset is off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Servers {
    pub ntp: Option<SocketAddr>,
    pub dns: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub dicom: Option<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LiveBackground {
    pub device_type: DeviceType,
    pub servers: Servers,
    /// Simulated seconds per wall-clock second: the intervals are divided by it.
    pub speed: f64,
    /// Rounds of each activity at most.
    pub max_per_activity: u64,
    /// The patient named in DICOM data sets.
    pub patient_id: String,
    pub seed: u64,
}

/// What one protocol's traffic did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolReport {
    pub protocol: &'static str,
    pub server: String,
    /// Requests, lookups, sessions or studies started.
    pub sent: u64,
    /// Those the server answered as the protocol expects.
    pub answered: u64,
    /// Those refused, unanswered or cut short.
    pub failed: u64,
    pub bytes_sent: u64,
}

impl ProtocolReport {
    fn new(protocol: &'static str, server: SocketAddr) -> Self {
        Self { protocol, server: server.to_string(), ..Self::default() }
    }

    fn outcome(&mut self, answered: bool) {
        if answered {
            self.answered += 1;
        } else {
            self.failed += 1;
        }
    }
}

impl LiveBackground {
    pub fn validate(&self) -> Result<()> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            bail!("the speed must be a positive number, not {}", self.speed);
        }
        if self.max_per_activity == 0 || self.max_per_activity > MAX_PER_ACTIVITY {
            bail!("the background traffic's round cap must be between 1 and {MAX_PER_ACTIVITY}");
        }
        Ok(())
    }

    /// The device type's activities whose servers are configured.
    fn enabled(&self) -> Vec<Activity> {
        let servers = &self.servers;
        background::activities(self.device_type)
            .iter()
            .copied()
            .filter(|activity| match activity {
                Activity::NtpPoll => servers.ntp.is_some(),
                Activity::WebSession => servers.dns.is_some() || servers.https.is_some(),
                Activity::DicomStudy => servers.dicom.is_some(),
            })
            .collect()
    }

    /// Wall time until the next round of `activity`, drawn as the captures draw it.
    fn gap(&self, activity: Activity, rng: &mut ChaCha8Rng) -> Duration {
        let simulated_us = match activity {
            Activity::NtpPoll => background::NTP_POLL_US,
            Activity::WebSession => rng.random_range(background::WEB_SESSION_GAP_US),
            Activity::DicomStudy => rng.random_range(background::STUDY_GAP_US),
        };
        let wall_s = simulated_us as f64 / 1e6 / self.speed;
        Duration::from_secs_f64(wall_s.max(1.0 / MAX_RATE_PER_S))
    }
}

/// Runs every configured activity of the device type until each has done its rounds, and
/// reports per protocol. Nothing configured: returns at once with an empty report.
pub async fn run(config: &LiveBackground) -> Result<Vec<ProtocolReport>> {
    config.validate()?;
    let mut tasks = JoinSet::new();
    for activity in config.enabled() {
        let config = config.clone();
        tasks.spawn(async move { repeat(&config, activity).await });
    }
    let mut reports = Vec::new();
    while let Some(done) = tasks.join_next().await {
        reports.extend(done?);
    }
    reports.sort_by_key(|r| r.protocol);
    tracing::info!(?reports, "background traffic finished");
    Ok(reports)
}

/// One activity's rounds: the first at once (a device syncs its clock, looks up its servers
/// and sends its queued studies when it starts), then one per gap.
async fn repeat(config: &LiveBackground, activity: Activity) -> Vec<ProtocolReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ BACKGROUND_STREAM ^ activity as u64);
    let servers = &config.servers;
    let mut ntp_report = servers.ntp.map(|s| ProtocolReport::new("ntp", s));
    let mut dns_report = servers.dns.map(|s| ProtocolReport::new("dns", s));
    let mut https_report = servers.https.map(|s| ProtocolReport::new("https", s));
    let mut dicom_report = servers.dicom.map(|s| ProtocolReport::new("dicom", s));
    for round in 1..=config.max_per_activity {
        if round > 1 {
            tokio::time::sleep(config.gap(activity, &mut rng)).await;
        }
        match activity {
            Activity::NtpPoll => {
                if let (Some(server), Some(report)) = (servers.ntp, ntp_report.as_mut()) {
                    ntp_poll(server, report).await;
                }
            }
            Activity::WebSession => {
                if let (Some(server), Some(report)) = (servers.dns, dns_report.as_mut()) {
                    dns_lookup(server, round as u16, report).await;
                }
                if let (Some(server), Some(report)) = (servers.https, https_report.as_mut()) {
                    https_session(server, &mut rng, report).await;
                }
            }
            Activity::DicomStudy => {
                if let (Some(server), Some(report)) = (servers.dicom, dicom_report.as_mut()) {
                    dicom_study(server, round as u32, &config.patient_id, &mut rng, report).await;
                }
            }
        }
    }
    let reports = match activity {
        Activity::NtpPoll => vec![ntp_report],
        Activity::WebSession => vec![dns_report, https_report],
        Activity::DicomStudy => vec![dicom_report],
    };
    reports.into_iter().flatten().collect()
}

fn unix_now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// A UDP socket of the server's family on an ephemeral port, connected to it.
async fn udp_to(server: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: IpAddr = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let socket = UdpSocket::bind((local, 0)).await?;
    socket.connect(server).await?;
    Ok(socket)
}

/// Sends `request` and waits for a datagram `is_answer` accepts (others are ignored).
async fn udp_exchange(server: SocketAddr, request: &[u8], is_answer: impl Fn(&[u8]) -> bool) -> bool {
    let Ok(socket) = udp_to(server).await else { return false };
    if socket.send(request).await.is_err() {
        return false;
    }
    let mut buffer = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await {
            Ok(Ok(n)) if is_answer(&buffer[..n]) => return true,
            Ok(Ok(_)) => continue,
            // Timed out, or the port is closed (ICMP unreachable on a connected socket).
            _ => return false,
        }
    }
}

async fn ntp_poll(server: SocketAddr, report: &mut ProtocolReport) {
    let request = ntp::request(unix_now_us());
    report.sent += 1;
    report.bytes_sent += request.len() as u64;
    let answered = udp_exchange(server, &request, |reply| ntp::is_reply_to(reply, &request[40..48])).await;
    report.outcome(answered);
}

async fn dns_lookup(server: SocketAddr, id: u16, report: &mut ProtocolReport) {
    let query = dns::query(id, background::EHR_NAME);
    report.sent += 1;
    report.bytes_sent += query.len() as u64;
    // An answer carries the query's id and the response bit.
    let answered = udp_exchange(server, &query, |answer| {
        answer.len() >= 12 && answer[..2] == id.to_be_bytes() && answer[2] & 0x80 != 0
    })
    .await;
    report.outcome(answered);
}

async fn connect(server: SocketAddr) -> Option<TcpStream> {
    tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(server)).await.ok()?.ok()
}

/// A session with the web application: one to three requests as TLS application-data
/// records, each waiting for some answer, then close. Answered when every request got one.
async fn https_session(server: SocketAddr, rng: &mut ChaCha8Rng, report: &mut ProtocolReport) {
    report.sent += 1;
    let Some(mut stream) = connect(server).await else {
        report.failed += 1;
        return;
    };
    let mut answered = true;
    let mut buffer = vec![0u8; 16 * 1024];
    for _ in 0..rng.random_range(background::WEB_EXCHANGES) {
        let request = tls::records(rng.random_range(background::WEB_REQUEST_BYTES), rng);
        if stream.write_all(&request).await.is_err() {
            answered = false;
            break;
        }
        report.bytes_sent += request.len() as u64;
        match tokio::time::timeout(ANSWER_TIMEOUT, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => {
                answered = false;
                break;
            }
        }
    }
    let _ = stream.shutdown().await;
    report.outcome(answered);
}

/// Reads one PDU (type and body) within the answer timeout.
async fn read_pdu(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut header = [0u8; dicom::PDU_HEADER_BYTES];
        stream.read_exact(&mut header).await.ok()?;
        let length = u32::from_be_bytes(header[2..6].try_into().expect("four bytes")) as usize;
        if length > MAX_PDU_BYTES {
            return None;
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.ok()?;
        Some((header[0], body))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, read).await.ok()?
}

/// A study to the PACS: associate, one C-STORE per image (each waiting for its response),
/// release. A peer that does not accept the association or answer a store gets an A-ABORT.
async fn dicom_study(
    server: SocketAddr,
    study: u32,
    patient_id: &str,
    rng: &mut ChaCha8Rng,
    report: &mut ProtocolReport,
) {
    report.sent += 1;
    let Some(mut stream) = connect(server).await else {
        report.failed += 1;
        return;
    };
    let completed = store_study(&mut stream, study, patient_id, rng, report).await;
    if !completed {
        let abort = dicom::abort();
        if stream.write_all(&abort).await.is_ok() {
            report.bytes_sent += abort.len() as u64;
        }
    }
    let _ = stream.shutdown().await;
    report.outcome(completed);
}

/// Writes `bytes`, counting them if they went.
async fn send(stream: &mut TcpStream, bytes: &[u8], report: &mut ProtocolReport) -> bool {
    let sent = stream.write_all(bytes).await.is_ok();
    if sent {
        report.bytes_sent += bytes.len() as u64;
    }
    sent
}

async fn store_study(
    stream: &mut TcpStream,
    study: u32,
    patient_id: &str,
    rng: &mut ChaCha8Rng,
    report: &mut ProtocolReport,
) -> bool {
    let request = dicom::associate_rq(dicom::CALLING_AE, dicom::CALLED_AE);
    if !send(stream, &request, report).await || !matches!(read_pdu(stream).await, Some((dicom::PDU_ASSOCIATE_AC, _))) {
        return false;
    }
    let mut pixels = vec![0u8; dicom::PIXEL_BYTES];
    for image in 1..=rng.random_range(background::IMAGES_PER_STUDY) {
        rng.fill_bytes(&mut pixels);
        if !send(stream, &dicom::store_request(study, image, patient_id, &pixels), report).await
            || !matches!(read_pdu(stream).await, Some((dicom::PDU_P_DATA_TF, _)))
        {
            return false;
        }
    }
    send(stream, &dicom::release_rq(), report).await
        && matches!(read_pdu(stream).await, Some((dicom::PDU_RELEASE_RP, _)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(device_type: DeviceType, servers: Servers) -> LiveBackground {
        LiveBackground { device_type, servers, speed: 1.0, max_per_activity: 3, patient_id: "P-1".into(), seed: 1 }
    }

    #[test]
    fn only_the_device_types_activities_with_a_server_run() {
        let ntp: SocketAddr = "127.0.0.1:123".parse().unwrap();
        let all = Servers { ntp: Some(ntp), dns: Some(ntp), https: Some(ntp), dicom: Some(ntp) };
        assert_eq!(config(DeviceType::PulseOximeter, all.clone()).enabled(), [Activity::NtpPoll]);
        assert_eq!(
            config(DeviceType::ImagingModality, all.clone()).enabled(),
            [Activity::NtpPoll, Activity::DicomStudy]
        );
        assert_eq!(config(DeviceType::Workstation, all).enabled(), [Activity::NtpPoll, Activity::WebSession]);
        assert!(config(DeviceType::Workstation, Servers::default()).enabled().is_empty(), "off unless configured");
        let dicom_only = Servers { dicom: Some(ntp), ..Servers::default() };
        assert!(config(DeviceType::BedsideMonitor, dicom_only).enabled().is_empty(), "a monitor sends no DICOM");
    }

    #[test]
    fn gaps_follow_the_speed_but_never_beat_the_rate_cap() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut fast = config(DeviceType::BedsideMonitor, Servers::default());
        assert_eq!(fast.gap(Activity::NtpPoll, &mut rng), Duration::from_secs(64));
        fast.speed = 64.0;
        assert_eq!(fast.gap(Activity::NtpPoll, &mut rng), Duration::from_secs(1));
        fast.speed = 1e9;
        assert_eq!(fast.gap(Activity::NtpPoll, &mut rng), Duration::from_millis(100));
        let web = fast.gap(Activity::WebSession, &mut rng);
        assert_eq!(web, Duration::from_millis(100));
        let slow = config(DeviceType::Workstation, Servers::default());
        let gap = slow.gap(Activity::WebSession, &mut rng);
        assert!(gap >= Duration::from_secs(15) && gap < Duration::from_secs(45), "{gap:?}");
    }

    #[test]
    fn bounds_are_enforced() {
        let mut bad = config(DeviceType::Workstation, Servers::default());
        bad.max_per_activity = MAX_PER_ACTIVITY + 1;
        assert!(bad.validate().is_err());
        bad.max_per_activity = 0;
        assert!(bad.validate().is_err());
        bad.max_per_activity = 1;
        bad.speed = 0.0;
        assert!(bad.validate().is_err());
    }
}
