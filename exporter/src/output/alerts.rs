//! The edge where intrusion alerts leave the exporter: one JSON line per alert
//! (`{device_id, timestamp, alert_type, description, severity}`) on stderr, stdout or a file
//! ([`AlertLines`]), and, with `--alert-url`, the same object POSTed by a background thread. The POST queue is bounded; a full queue or a
//! failed POST is logged and counted, never fatal, and never slows the capture.

use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::anomaly::live::AnomalyAlert;
use crate::ids::Alert;
use crate::pipeline::{Event, Sink};

/// Alerts waiting for their POST; beyond this, new ones are dropped (and counted).
const QUEUE: usize = 256;
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// The JSON object of one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    pub device_id: String,
    /// RFC 3339, UTC, from the packet that fired the rule.
    pub timestamp: String,
    pub alert_type: &'static str,
    pub description: String,
    pub severity: &'static str,
    /// `network` or `clinical` for anomaly alerts; absent for the intrusion rules' (whose
    /// lines are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
}

impl AlertLine {
    pub fn new(device_id: &str, alert: &Alert) -> Self {
        Self {
            device_id: device_id.to_owned(),
            timestamp: rfc3339(alert.at),
            alert_type: alert.rule.as_str(),
            description: alert.description.clone(),
            severity: alert.severity.as_str(),
            category: None,
        }
    }

    pub fn anomaly(device_id: &str, alert: &AnomalyAlert) -> Self {
        Self {
            device_id: device_id.to_owned(),
            timestamp: rfc3339(alert.at),
            alert_type: alert.alert_type(),
            description: alert.description.clone(),
            severity: "warning",
            category: Some(alert.category()),
        }
    }
}

/// `since_epoch` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(since_epoch: Duration) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

/// Where alert lines are written (`--alert-lines`): stderr by default, so that stdout carries
/// nothing but the `--summary` document and `wardwatch-exporter --read F --summary json | jq`
/// works; stdout; or a file, appended to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertLines {
    Stderr,
    Stdout,
    File(PathBuf),
}

impl FromStr for AlertLines {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "" => Err("expected stderr, stdout or a file path".into()),
            "stderr" => Ok(Self::Stderr),
            "stdout" => Ok(Self::Stdout),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

impl AlertLines {
    /// The writer alert lines go to; a file is created if need be and appended to.
    pub fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Self::Stderr => Box::new(std::io::stderr()),
            Self::Stdout => Box::new(std::io::stdout()),
            Self::File(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        })
    }
}

/// What became of one alert's POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryResult {
    Sent,
    Failed,
    /// The queue was full.
    Dropped,
}

impl DeliveryResult {
    pub const ALL: [DeliveryResult; 3] = [Self::Sent, Self::Failed, Self::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// Told what became of each alert's POST (the metrics count them).
pub type DeliveryReport = Arc<dyn Fn(DeliveryResult) + Send + Sync>;

/// POSTs alert lines to a URL from a thread of its own.
pub struct AlertPoster {
    queue: SyncSender<AlertLine>,
    report: DeliveryReport,
    worker: JoinHandle<()>,
    done: Receiver<()>,
}

impl AlertPoster {
    pub fn start(url: reqwest::Url, report: DeliveryReport) -> anyhow::Result<Self> {
        // reqwest is built without a TLS provider of its own; ring is the workspace's choice.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().timeout(POST_TIMEOUT).build()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (queue, lines) = mpsc::sync_channel::<AlertLine>(QUEUE);
        let (finished, done) = mpsc::channel();
        let worker_report = Arc::clone(&report);
        let worker = std::thread::Builder::new().name("alert-post".into()).spawn(move || {
            for line in lines {
                let result = runtime.block_on(post(&client, &url, &line));
                worker_report(result);
            }
            let _ = finished.send(());
        })?;
        Ok(Self { queue, report, worker, done })
    }

    fn enqueue(&self, line: AlertLine) {
        if let Err(TrySendError::Full(line) | TrySendError::Disconnected(line)) = self.queue.try_send(line) {
            tracing::warn!(alert_type = line.alert_type, "alert POST queue full or closed; alert not posted");
            (self.report)(DeliveryResult::Dropped);
        }
    }

    /// Stops taking alerts and waits at most `wait` for the queued POSTs to finish.
    pub fn close(self, wait: Duration) {
        drop(self.queue);
        if self.done.recv_timeout(wait).is_ok() {
            let _ = self.worker.join();
        } else {
            tracing::warn!("alert POSTs still pending at exit");
        }
    }
}

async fn post(client: &reqwest::Client, url: &reqwest::Url, line: &AlertLine) -> DeliveryResult {
    match client.post(url.clone()).json(line).send().await.and_then(reqwest::Response::error_for_status) {
        Ok(_) => DeliveryResult::Sent,
        Err(err) => {
            tracing::warn!(%url, error = %err, alert_type = line.alert_type, "alert POST failed");
            DeliveryResult::Failed
        }
    }
}

/// A [`Sink`] that writes each fired alert as a JSON line to `out` and hands it to `poster`.
pub struct AlertOutput<'p, W: Write> {
    device_id: String,
    out: W,
    poster: Option<&'p AlertPoster>,
}

impl<'p, W: Write> AlertOutput<'p, W> {
    pub fn new(device_id: impl Into<String>, out: W, poster: Option<&'p AlertPoster>) -> Self {
        Self { device_id: device_id.into(), out, poster }
    }
}

impl<W: Write> Sink for AlertOutput<'_, W> {
    fn record(&mut self, event: Event<'_>) {
        let line = match event {
            Event::AlertFired(alert) => AlertLine::new(&self.device_id, alert),
            Event::Anomaly(alert) => AlertLine::anomaly(&self.device_id, alert),
            _ => return,
        };
        match serde_json::to_string(&line) {
            Ok(json) => {
                if let Err(err) = writeln!(self.out, "{json}").and_then(|()| self.out.flush()) {
                    tracing::warn!(error = %err, "writing an alert line failed");
                }
            }
            Err(err) => tracing::warn!(error = %err, "encoding an alert line failed"),
        }
        if let Some(poster) = self.poster {
            poster.enqueue(line);
        }
    }

    fn wants_traffic(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Rule, Severity};

    fn alert() -> Alert {
        Alert {
            rule: Rule::PortScan,
            severity: Severity::Warning,
            at: Duration::from_millis(1_790_000_000_250),
            description: "10.1.0.66 opened flows to 15 or more distinct ports in one window".into(),
        }
    }

    #[test]
    fn alert_lines_go_to_stderr_stdout_or_a_file() {
        assert_eq!("stderr".parse(), Ok(AlertLines::Stderr));
        assert_eq!("stdout".parse(), Ok(AlertLines::Stdout));
        assert_eq!("/var/log/alerts.jsonl".parse(), Ok(AlertLines::File("/var/log/alerts.jsonl".into())));
        assert!("".parse::<AlertLines>().is_err());
        let missing = AlertLines::File("/nonexistent/dir/alerts.jsonl".into());
        assert!(missing.open().is_err(), "a file that cannot be opened is an error, not silence");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Duration::from_millis(1_790_000_000_250)), "2026-09-21T14:13:20.250Z");
        assert_eq!(rfc3339(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_fired_alert_is_one_json_line_and_nothing_else_is_written() {
        let mut out = Vec::new();
        let mut sink = AlertOutput::new("monitor-7", &mut out, None);
        sink.record(Event::AlertCleared(Rule::PortScan));
        sink.record(Event::AlertFired(&alert()));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["device_id"], "monitor-7");
        assert_eq!(line["alert_type"], "port_scan");
        assert_eq!(line["severity"], "warning");
        assert_eq!(line["timestamp"], "2026-09-21T14:13:20.250Z");
        assert!(line["description"].as_str().unwrap().contains("10.1.0.66"));
    }

    #[test]
    fn a_failed_post_is_reported_not_fatal() {
        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let report = {
            let results = Arc::clone(&results);
            Arc::new(move |result| results.lock().unwrap().push(result))
        };
        let poster = AlertPoster::start(format!("http://127.0.0.1:{port}/alerts").parse().unwrap(), report).unwrap();
        let mut sink = AlertOutput::new("monitor-7", std::io::sink(), Some(&poster));
        sink.record(Event::AlertFired(&alert()));
        poster.close(Duration::from_secs(10));
        assert_eq!(*results.lock().unwrap(), [DeliveryResult::Failed]);
    }
}
