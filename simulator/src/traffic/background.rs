//! Each device type's traffic besides HL7: every device keeps its clock with NTP; an imaging
//! modality stores studies to the PACS over DICOM; a workstation looks names up and uses the
//! health record's web front end over HTTPS. (HL7 itself is `crate::capture`'s job.)

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::{Frame, Host, Window, dicom, dns, ephemeral_port, hosts, ntp, tls};
use crate::device_type::DeviceType;
use crate::traffic::tcp_session::{ROUND_TRIP_US, TcpSession};

/// NTP's default poll interval.
pub const NTP_POLL_US: u64 = 64_000_000;
/// The name workstations look up before using the health record.
pub const EHR_NAME: &str = "ehr.ward.example";
/// Time between two of a workstation's web sessions.
pub const WEB_SESSION_GAP_US: std::ops::Range<u64> = 15_000_000..45_000_000;
/// Request/response exchanges in one web session, and their sizes in bytes.
pub const WEB_EXCHANGES: std::ops::RangeInclusive<u32> = 1..=3;
pub const WEB_REQUEST_BYTES: std::ops::Range<usize> = 400..1_200;
pub const WEB_RESPONSE_BYTES: std::ops::Range<usize> = 2_000..50_000;
/// Time between the end of an imaging study's transfer and the next, and its images.
pub const STUDY_GAP_US: std::ops::Range<u64> = 120_000_000..240_000_000;
pub const IMAGES_PER_STUDY: std::ops::RangeInclusive<u32> = 4..=12;

/// One kind of background traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activity {
    /// An NTP poll of the time server.
    NtpPoll,
    /// A DNS lookup of the health record's name, then an HTTPS session with it.
    WebSession,
    /// A study stored to the PACS over DICOM.
    DicomStudy,
}

/// What each device type does besides HL7: the one list both the pcap mode and the live
/// twins follow.
pub fn activities(device_type: DeviceType) -> &'static [Activity] {
    match device_type {
        DeviceType::ImagingModality => &[Activity::NtpPoll, Activity::DicomStudy],
        DeviceType::Workstation => &[Activity::NtpPoll, Activity::WebSession],
        _ => &[Activity::NtpPoll],
    }
}

/// One device's background traffic through `window`. `port_base` numbers its source ports
/// apart from its other flows.
pub fn frames(
    device_type: DeviceType,
    device: Host,
    port_base: u32,
    patient_id: &str,
    window: Window,
    rng: &mut ChaCha8Rng,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    for activity in activities(device_type) {
        frames.extend(match activity {
            Activity::NtpPoll => ntp_polls(device, port_base, window, rng),
            Activity::DicomStudy => studies(device, port_base, patient_id, window, rng),
            Activity::WebSession => web_sessions(device, port_base, window, rng),
        });
    }
    frames
}

fn ntp_polls(device: Host, port_base: u32, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let client = device.at(ephemeral_port(port_base, 0));
    let server = hosts::NTP_SERVER.at(ntp::PORT);
    let first = window.start_us + rng.random_range(0..NTP_POLL_US);
    (0u16..)
        .map(|n| (n, first + u64::from(n) * NTP_POLL_US))
        .take_while(|(_, t_us)| t_us + 1_000 < window.end_us)
        .flat_map(|(n, t_us)| ntp::exchange(client, server, t_us, n + 1))
        .collect()
}

/// Studies every two to four minutes, the first within a minute, 4 to 12 images each.
fn studies(device: Host, port_base: u32, patient_id: &str, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut t_us = window.start_us + rng.random_range(1_000_000..60_000_000);
    for study in 1u32.. {
        let images: u32 = rng.random_range(IMAGES_PER_STUDY);
        let transfer_us = u64::from(images) * dicom::PIXEL_BYTES as u64 * 1_000_000 / dicom::BYTES_PER_S;
        // Only studies that finish inside the window, with room for the handshakes.
        if t_us + transfer_us + u64::from(images) * 10_000 + 50_000 >= window.end_us {
            break;
        }
        let port = ephemeral_port(port_base, 1_000 + study);
        let mut session = TcpSession::new(device.at(port), hosts::PACS.at(dicom::PORT), rng.random(), rng.random());
        frames.extend(session.open(t_us));
        let transfer = dicom::store_study(&mut session, t_us + 2 * ROUND_TRIP_US, images, study, patient_id, rng);
        frames.extend(transfer.frames);
        frames.extend(session.close(transfer.end_us));
        t_us = transfer.end_us + rng.random_range(STUDY_GAP_US);
    }
    frames
}

/// A lookup and an HTTPS session with the health record every 15 to 45 seconds.
fn web_sessions(device: Host, port_base: u32, window: Window, rng: &mut ChaCha8Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut t_us = window.start_us + rng.random_range(0..15_000_000);
    for n in 1u32.. {
        // A session lasts under 100 ms: lookup, handshake, at most three exchanges, close.
        if t_us + 100_000 >= window.end_us {
            break;
        }
        let dns_client = device.at(ephemeral_port(port_base, 2_000 + n));
        frames.extend(dns::lookup(
            dns_client,
            hosts::DNS_SERVER.at(dns::PORT),
            t_us,
            n as u16,
            EHR_NAME,
            hosts::EHR_SERVER.ip,
        ));
        let web_client = device.at(ephemeral_port(port_base, 3_000 + n));
        let mut session = TcpSession::new(web_client, hosts::EHR_SERVER.at(tls::PORT), rng.random(), rng.random());
        let mut at = t_us + 2_000;
        frames.extend(session.open(at));
        for _ in 0..rng.random_range(WEB_EXCHANGES) {
            at += 5_000;
            let request = tls::records(rng.random_range(WEB_REQUEST_BYTES), rng);
            // Responses stay within one receive window, as `exchange` sends them unpaced.
            let response = tls::records(rng.random_range(WEB_RESPONSE_BYTES), rng);
            frames.extend(session.exchange(at, &request, &response));
        }
        frames.extend(session.close(at + 10_000));
        t_us += rng.random_range(WEB_SESSION_GAP_US);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{SlicedPacket, TransportSlice};
    use rand::SeedableRng;

    const DEVICE: Host = Host { mac: [2, 0x57, 0x57, 0, 0, 1], ip: [10, 20, 0, 10] };

    /// Destination ports of what the device sent, with payload bytes.
    fn sent(device_type: DeviceType, seconds: u64) -> Vec<(u16, usize)> {
        let window = Window { start_us: 0, end_us: seconds * 1_000_000 };
        let frames = frames(device_type, DEVICE, 0, "P-1", window, &mut ChaCha8Rng::seed_from_u64(1));
        assert!(frames.iter().all(|f| window.contains(f.timestamp_us)));
        frames
            .iter()
            .filter(|f| f.bytes[26..30] == DEVICE.ip)
            .map(|f| match SlicedPacket::from_ethernet(&f.bytes).unwrap().transport {
                Some(TransportSlice::Tcp(t)) => (t.destination_port(), t.payload().len()),
                Some(TransportSlice::Udp(u)) => (u.destination_port(), u.payload().len()),
                _ => panic!("neither TCP nor UDP"),
            })
            .collect()
    }

    #[test]
    fn monitors_only_poll_ntp_every_64_seconds() {
        let ports = sent(DeviceType::BedsideMonitor, 640);
        assert!(ports.iter().all(|(p, _)| *p == ntp::PORT));
        assert!((9..=10).contains(&ports.len()), "{}", ports.len());
    }

    #[test]
    fn an_imaging_modality_sends_megabytes_of_dicom() {
        let ports = sent(DeviceType::ImagingModality, 300);
        let dicom: usize = ports.iter().filter(|(p, _)| *p == dicom::PORT).map(|(_, n)| n).sum();
        assert!(dicom >= 4 * dicom::PIXEL_BYTES, "{dicom} bytes");
    }

    #[test]
    fn a_workstation_uses_dns_ntp_and_https() {
        let ports = sent(DeviceType::Workstation, 200);
        for port in [dns::PORT, ntp::PORT, tls::PORT] {
            assert!(ports.iter().any(|(p, _)| *p == port), "nothing to port {port}");
        }
    }
}
