//! The gateway's TCP side: one task per device connection, MLLP deframing, an ACK for every
//! message that has a readable header. Nothing a device sends ends the gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wardwatch_clinical::mllp::{self, Decoder, Event};

use crate::gateway::metrics::GatewayMetrics;
use crate::gateway::verdict::{self, AckHeader, Malformed};
use crate::oru::hl7_timestamp;

/// Pause after a failed accept before trying again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The gateway's application name (MSH-3 of its ACKs; MSH-5 of what devices send).
    pub application: String,
    /// Frames longer than this are discarded.
    pub max_message_bytes: usize,
    /// Devices that get their own last-seen series.
    pub max_devices: usize,
    /// A connection with nothing received for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            application: "WARDWATCH".into(),
            max_message_bytes: 64 * 1024,
            max_devices: 256,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

pub struct Gateway {
    config: GatewayConfig,
    metrics: GatewayMetrics,
    next_control_id: AtomicU64,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Arc<Self> {
        let metrics = GatewayMetrics::new(config.max_devices);
        Arc::new(Self { config, metrics, next_control_id: AtomicU64::new(1) })
    }

    pub fn metrics(&self) -> &GatewayMetrics {
        &self.metrics
    }

    /// Accepts connections until the task is dropped; failed accepts are logged and retried.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pass, rather than end the ward's
                    // central station.
                    tracing::warn!(%error, "cannot accept a device connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let gateway = Arc::clone(&self);
            tokio::spawn(async move {
                gateway.metrics.connection_opened();
                if let Err(error) = gateway.handle_connection(stream).await {
                    tracing::debug!(%peer, %error, "device connection ended with an error");
                }
                gateway.metrics.connection_closed();
            });
        }
    }

    async fn handle_connection(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut decoder = Decoder::new(self.config.max_message_bytes);
        let mut buffer = vec![0u8; 16 * 1024];
        let mut events = Vec::new();
        loop {
            let read = tokio::time::timeout(self.config.idle_timeout, stream.read(&mut buffer)).await;
            let n = match read {
                Ok(result) => result?,
                Err(_elapsed) => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            decoder.push(&buffer[..n], &mut events);
            for event in events.drain(..) {
                match event {
                    Event::Message(bytes) => {
                        if let Some(ack) = self.answer(&bytes) {
                            stream.write_all(&mllp::frame(ack.as_bytes())).await?;
                        }
                    }
                    Event::Garbage(_) => self.metrics.malformed(Malformed::Garbage),
                    Event::Oversized(_) => self.metrics.malformed(Malformed::Oversized),
                }
            }
        }
    }

    /// Judges one message, counts it, and returns the ACK to send, if any.
    fn answer(&self, bytes: &[u8]) -> Option<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let timestamp = hl7_timestamp(now.as_secs() as i64);
        let control_id = format!("GW{}", self.next_control_id.fetch_add(1, Ordering::Relaxed));
        let header = AckHeader { sender: &self.config.application, timestamp: &timestamp, control_id: &control_id };
        let verdict = verdict::judge(bytes, &header);
        self.metrics.message(verdict.code);
        if let Some(reason) = verdict.malformed {
            self.metrics.malformed(reason);
        }
        if let Some(device) = &verdict.device {
            self.metrics.seen(device, now.as_secs_f64());
        }
        verdict.ack
    }
}
