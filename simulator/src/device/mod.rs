//! The device twin's network side: one ORU^R01 per interval over MLLP to the gateway, one ACK
//! awaited per message, reconnection with capped exponential backoff. A reading that cannot be
//! sent is dropped, as a bedside monitor's live feed would be; the next one carries on.

pub mod backoff;
pub mod reply;
pub mod sent_log;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wardwatch_clinical::mllp::{self, Decoder, Event};

use crate::ack::AckCode;
use crate::device_type::DeviceType;
use crate::ecg::EcgGenerator;
use crate::oru::{self, Waveform};
use crate::patient::Patient;
use crate::physiology::Vital;
use crate::scenario::Timeline;
use backoff::Backoff;
use reply::Reply;
use sent_log::{SentLog, SentMessage};

#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// The gateway's `host:port`.
    pub gateway: String,
    pub context: oru::Context,
    /// What the device measures, and so which vital signs its ORUs carry.
    pub device_type: DeviceType,
    pub timeline: Timeline,
    pub seed: u64,
    /// Wall time between two readings.
    pub interval: Duration,
    /// Simulated seconds per wall-clock second (above 1 plays a scenario faster).
    pub speed: f64,
    pub connect_timeout: Duration,
    pub ack_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Frames longer than this from the gateway are discarded.
    pub max_message_bytes: usize,
    /// Whether each ORU carries the last interval's ECG strip (bedside monitors).
    pub ecg: bool,
}

/// What the twin did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub readings: u64,
    pub sent: u64,
    pub acked: u64,
    /// ACKs with `AE` or `AR`.
    pub naks: u64,
    pub ack_timeouts: u64,
    pub send_errors: u64,
    pub connects: u64,
    pub connect_failures: u64,
    /// Readings not sent because a `disconnect` episode had the device off the network.
    pub silent: u64,
    /// Readings not sent because there was no connection (gateway down, backing off).
    pub unsent: u64,
}

/// A connection to the gateway with its MLLP decoder.
struct Connection {
    stream: TcpStream,
    decoder: Decoder,
    messages: std::collections::VecDeque<Vec<u8>>,
}

#[derive(Debug)]
enum ExchangeError {
    Io(std::io::Error),
    Timeout,
    Closed,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Io(error) => write!(f, "{error}"),
            ExchangeError::Timeout => f.write_str("no ACK in time"),
            ExchangeError::Closed => f.write_str("the gateway closed the connection"),
        }
    }
}

impl Connection {
    fn new(stream: TcpStream, max_message_bytes: usize) -> Self {
        Self { stream, decoder: Decoder::new(max_message_bytes), messages: Default::default() }
    }

    /// Writes one framed message.
    async fn send(&mut self, message: &str) -> Result<(), ExchangeError> {
        self.stream.write_all(&mllp::frame(message.as_bytes())).await.map_err(ExchangeError::Io)
    }

    /// Waits for the ACK of `control_id`, skipping answers to earlier messages (a late ACK
    /// after a timeout).
    async fn await_ack(&mut self, control_id: &str, timeout: Duration) -> Result<Reply, ExchangeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        let mut events = Vec::new();
        loop {
            while let Some(bytes) = self.messages.pop_front() {
                match reply::interpret(&bytes, control_id) {
                    Reply::OtherMessage(_) => continue,
                    reply => return Ok(reply),
                }
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buffer))
                .await
                .map_err(|_| ExchangeError::Timeout)?
                .map_err(ExchangeError::Io)?;
            if n == 0 {
                return Err(ExchangeError::Closed);
            }
            self.decoder.push(&buffer[..n], &mut events);
            self.messages.extend(events.drain(..).filter_map(|e| match e {
                Event::Message(bytes) => Some(bytes),
                Event::Garbage(_) | Event::Oversized(_) => None,
            }));
        }
    }
}

/// A device twin: a patient, a sensor and a connection to the gateway.
pub struct Device {
    config: DeviceConfig,
    patient: Patient,
    connection: Option<Connection>,
    backoff: Backoff,
    next_attempt: Instant,
    sequence: u64,
    /// Distinguishes this run's control ids from an earlier run's.
    run_id: u64,
    stats: DeviceStats,
    /// The heart's electrical activity, for monitors that send a strip with each ORU.
    ecg: Option<EcgGenerator>,
    sent_log: Option<SentLog>,
}

impl Device {
    pub fn new(config: DeviceConfig) -> Self {
        let patient = Patient::new(config.timeline.clone(), config.seed);
        let backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        Self {
            patient,
            connection: None,
            backoff,
            next_attempt: Instant::now(),
            sequence: 0,
            run_id: unix_now().as_secs(),
            stats: DeviceStats::default(),
            ecg: config.ecg.then(EcgGenerator::new),
            sent_log: None,
            config,
        }
    }

    /// Records every message written to the gateway in `log`.
    pub fn with_sent_log(mut self, log: SentLog) -> Self {
        self.sent_log = Some(log);
        self
    }

    pub fn stats(&self) -> &DeviceStats {
        &self.stats
    }

    /// Takes readings every interval; stops after `limit` readings if given.
    pub async fn run(&mut self, limit: Option<u64>) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while limit.is_none_or(|limit| self.stats.readings < limit) {
            ticker.tick().await;
            self.tick().await;
        }
    }

    /// Takes one reading and sends it if the device is on the network.
    pub async fn tick(&mut self) {
        let elapsed_s = self.config.interval.as_secs_f64() * self.config.speed;
        let reading = self.patient.advance(elapsed_s);
        self.stats.readings += 1;
        // The heart beats on whether or not the device is on the network.
        let heart_rate = reading.truth.get(Vital::HeartRate);
        let strip = self.ecg.as_mut().map(|ecg| ecg.strip(elapsed_s, |_| heart_rate));
        let Some(vitals) = reading.reported else {
            if self.connection.take().is_some() {
                tracing::info!(device = %self.config.context.device_id, "device off the network (disconnect scenario)");
            }
            self.stats.silent += 1;
            return;
        };
        if !self.ensure_connected().await {
            self.stats.unsent += 1;
            return;
        }
        self.sequence += 1;
        let control_id = format!("{:x}-{}", self.run_id, self.sequence);
        let observations = oru::observations(&vitals, self.config.device_type.vitals());
        let unix_s = unix_now().as_secs() as i64;
        let message = oru::build_with_waveform(
            &self.config.context,
            &observations,
            strip.as_deref().map(|samples_mv| Waveform { samples_mv }),
            unix_s,
            &control_id,
        );
        let connection = self.connection.as_mut().expect("connected above");
        self.stats.sent += 1;
        let exchange = match connection.send(&message).await {
            Ok(()) => {
                if let Some(log) = self.sent_log.as_mut() {
                    let observations = SentMessage::observations(&observations);
                    let device_id = &self.config.context.device_id;
                    log.record(&SentMessage { device_id, control_id: &control_id, unix_s, observations });
                }
                connection.await_ack(&control_id, self.config.ack_timeout).await
            }
            Err(error) => Err(error),
        };
        match exchange {
            Ok(Reply::Ack(AckCode::Accept)) => self.stats.acked += 1,
            Ok(Reply::Ack(code)) => {
                self.stats.naks += 1;
                tracing::warn!(device = %self.config.context.device_id, code = code.as_str(), "gateway refused a message");
            }
            Ok(Reply::Unreadable | Reply::OtherMessage(_)) => {
                // A gateway that answers nonsense is treated like one that does not answer.
                self.stats.ack_timeouts += 1;
                self.drop_connection();
            }
            Err(ExchangeError::Timeout) => {
                self.stats.ack_timeouts += 1;
                self.drop_connection();
            }
            Err(error @ (ExchangeError::Io(_) | ExchangeError::Closed)) => {
                tracing::warn!(device = %self.config.context.device_id, %error, "connection to the gateway lost");
                self.stats.send_errors += 1;
                self.drop_connection();
            }
        }
    }

    fn drop_connection(&mut self) {
        self.connection = None;
        self.next_attempt = Instant::now() + self.backoff.next_delay();
    }

    /// Whether a connection is open, opening one if the backoff allows.
    async fn ensure_connected(&mut self) -> bool {
        if self.connection.is_some() {
            return true;
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        let attempt = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(&self.config.gateway)).await;
        match attempt {
            Ok(Ok(stream)) => {
                // One small message per interval: send it now rather than wait for more.
                let _ = stream.set_nodelay(true);
                self.connection = Some(Connection::new(stream, self.config.max_message_bytes));
                self.backoff.reset();
                self.stats.connects += 1;
                true
            }
            Ok(Err(error)) => {
                self.connect_failed(&error.to_string());
                false
            }
            Err(_) => {
                self.connect_failed("timed out");
                false
            }
        }
    }

    fn connect_failed(&mut self, why: &str) {
        self.stats.connect_failures += 1;
        let delay = self.backoff.next_delay();
        self.next_attempt = Instant::now() + delay;
        tracing::warn!(gateway = %self.config.gateway, why, retry_in_ms = delay.as_millis() as u64, "cannot reach the gateway");
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
