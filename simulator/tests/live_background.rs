//! Live twins' background traffic on loopback: each kind reaches the server configured for it,
//! built by the same code as the captures', as often as the bounds allow and no more.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use wardwatch_simulator::device_type::DeviceType;
use wardwatch_simulator::live::background::{self, LiveBackground, ProtocolReport, Servers};
use wardwatch_simulator::traffic::background::EHR_NAME;
use wardwatch_simulator::traffic::{dicom, dns, ntp};

const DEADLINE: Duration = Duration::from_secs(30);

fn config(device_type: DeviceType, servers: Servers, rounds: u64) -> LiveBackground {
    LiveBackground {
        device_type,
        servers,
        // Fast enough that the rate cap (ten a second) sets the pace.
        speed: 1e6,
        max_per_activity: rounds,
        patient_id: "P-77".into(),
        seed: 3,
    }
}

async fn run(config: &LiveBackground) -> Vec<ProtocolReport> {
    tokio::time::timeout(DEADLINE, background::run(config)).await.expect("bounded in time").unwrap()
}

fn report<'a>(reports: &'a [ProtocolReport], protocol: &str) -> &'a ProtocolReport {
    reports.iter().find(|r| r.protocol == protocol).unwrap_or_else(|| panic!("no {protocol} in {reports:?}"))
}

/// A UDP server on loopback that records each datagram and answers it with `answer`.
async fn udp_server(answer: fn(&[u8]) -> Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut buffer = [0u8; 1500];
        // Until the client has been quiet for a second.
        while let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buffer)).await
        {
            received.push(buffer[..n].to_vec());
            socket.send_to(&answer(&buffer[..n]), from).await.unwrap();
        }
        received
    });
    (address, task)
}

fn ntp_reply(request: &[u8]) -> Vec<u8> {
    let mut reply = vec![0u8; 48];
    reply[0] = 0x24; // version 4, mode 4 (server)
    reply[24..32].copy_from_slice(&request[40..48]);
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_polls_the_configured_ntp_server_and_stops_at_the_cap() {
    let (server, received) = udp_server(ntp_reply).await;
    let started = Instant::now();
    let servers = Servers { ntp: Some(server), ..Servers::default() };
    let reports = run(&config(DeviceType::BedsideMonitor, servers, 3)).await;
    let elapsed = started.elapsed();
    let requests = received.await.unwrap();
    assert_eq!(requests.len(), 3, "three rounds, then no more");
    assert!(elapsed >= Duration::from_millis(200), "two gaps of at least 100 ms: {elapsed:?}");
    let now_s = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut last = 0;
    for request in &requests {
        assert_eq!((request.len(), request[0]), (48, 0x23), "an NTPv4 client request");
        assert_eq!(request[..40], ntp::request(0)[..40], "the captures' request");
        let transmit = u64::from_be_bytes(request[40..48].try_into().unwrap());
        let unix_s = (transmit >> 32) - 2_208_988_800;
        assert!(unix_s.abs_diff(now_s) < 60, "the transmit time is now");
        assert!(transmit > last, "each request is later");
        last = transmit;
    }
    assert_eq!(reports.len(), 1, "a monitor sends nothing else: {reports:?}");
    let ntp = report(&reports, "ntp");
    assert_eq!((ntp.sent, ntp.answered, ntp.failed, ntp.bytes_sent), (3, 3, 0, 144));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_unless_a_server_is_configured() {
    let started = Instant::now();
    assert!(run(&config(DeviceType::Workstation, Servers::default(), 100)).await.is_empty());
    assert!(started.elapsed() < Duration::from_secs(1));
}

fn dns_answer(query: &[u8]) -> Vec<u8> {
    dns::answer(u16::from_be_bytes([query[0], query[1]]), EHR_NAME, [127, 0, 0, 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_looks_up_the_health_record_and_talks_tls_to_the_https_target() {
    let (dns_server, queries) = udp_server(dns_answer).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = listener.local_addr().unwrap();
    let web = tokio::spawn(async move {
        let mut sessions = Vec::new();
        while let Ok(Ok((mut stream, _))) = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await {
            let mut received = Vec::new();
            let mut buffer = vec![0u8; 64 * 1024];
            // Answer each request with a record of our own until the client closes.
            while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                received.extend(&buffer[..n]);
                stream.write_all(&[23, 3, 3, 0, 1, 0]).await.unwrap();
            }
            sessions.push(received);
        }
        sessions
    });
    let servers = Servers { dns: Some(dns_server), https: Some(https), ..Servers::default() };
    let reports = run(&config(DeviceType::Workstation, servers, 2)).await;
    let queries = queries.await.unwrap();
    assert_eq!(queries, [dns::query(1, EHR_NAME), dns::query(2, EHR_NAME)]);
    let sessions = web.await.unwrap();
    assert_eq!(sessions.len(), 2);
    for session in &sessions {
        // TLS application-data records back to back, as the captures' HTTPS-like traffic.
        let mut at = 0;
        while at < session.len() {
            assert_eq!(session[at..at + 3], [23, 3, 3]);
            at += 5 + usize::from(u16::from_be_bytes([session[at + 3], session[at + 4]]));
        }
        assert_eq!(at, session.len());
    }
    let (dns, https) = (report(&reports, "dns"), report(&reports, "https"));
    assert_eq!((dns.sent, dns.answered), (2, 2));
    assert_eq!((https.sent, https.answered, https.failed), (2, 2, 0));
    assert_eq!(https.bytes_sent as usize, sessions.iter().map(Vec::len).sum::<usize>());
}

async fn read_pdu(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 6];
    stream.read_exact(&mut header).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some((header[0], body))
}

/// A minimal PACS: accepts the association, answers each image's last data-set fragment with
/// the C-STORE response, and the release. Returns (images stored, data-set bytes received).
async fn pacs(mut stream: TcpStream) -> (u32, usize) {
    let (mut images, mut data_bytes) = (0, 0);
    let (kind, _) = read_pdu(&mut stream).await.unwrap();
    assert_eq!(kind, dicom::PDU_ASSOCIATE_RQ);
    stream.write_all(&dicom::associate_ac(dicom::CALLING_AE, dicom::CALLED_AE)).await.unwrap();
    while let Some((kind, body)) = read_pdu(&mut stream).await {
        match kind {
            dicom::PDU_P_DATA_TF => {
                // One PDV per PDU here: length (4), context (1), control header (1), fragment.
                let control = body[5];
                if control & 1 == 0 {
                    data_bytes += body.len() - 6;
                }
                if control == 0b10 {
                    images += 1;
                    stream.write_all(&dicom::store_response(1, images)).await.unwrap();
                }
            }
            dicom::PDU_RELEASE_RQ => stream.write_all(&dicom::release_rp()).await.unwrap(),
            other => panic!("PDU type {other}"),
        }
    }
    (images, data_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imaging_modality_stores_a_study_to_the_configured_pacs() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { pacs(listener.accept().await.unwrap().0).await });
    let servers = Servers { dicom: Some(target), ..Servers::default() };
    let reports = run(&config(DeviceType::ImagingModality, servers, 1)).await;
    let (images, data_bytes) = server.await.unwrap();
    assert!((4..=12).contains(&images), "{images} images");
    assert!(data_bytes > images as usize * dicom::PIXEL_BYTES, "{data_bytes} bytes of data sets");
    let dicom = report(&reports, "dicom");
    assert_eq!((dicom.sent, dicom.answered, dicom.failed), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_accept_the_association_gets_an_abort() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok(Ok((mut stream, _))) = tokio::time::timeout(Duration::from_secs(4), listener.accept()).await {
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            connections.push(received);
        }
        connections
    });
    let servers = Servers { dicom: Some(target), ..Servers::default() };
    let reports = run(&config(DeviceType::ImagingModality, servers, 2)).await;
    let mut expected = dicom::associate_rq(dicom::CALLING_AE, dicom::CALLED_AE);
    expected.extend(dicom::abort());
    assert_eq!(silent.await.unwrap(), [expected.clone(), expected], "associate, wait, abort; twice");
    let dicom = report(&reports, "dicom");
    assert_eq!((dicom.sent, dicom.answered, dicom.failed), (2, 0, 2));
}
