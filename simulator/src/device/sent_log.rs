//! The twin's own record of what it put on the wire: one JSON line per ORU^R01 written to the
//! gateway's socket (`--sent-log`), so that a capture of the live traffic can be checked
//! against what the twin says it sent.

use std::io::Write;

use serde::Serialize;

use crate::oru::Observation;

/// One message as written: who, which control id, when, and the value of each OBX.
#[derive(Debug, Serialize)]
pub struct SentMessage<'a> {
    pub device_id: &'a str,
    pub control_id: &'a str,
    /// The message's timestamp (MSH-7), as Unix seconds.
    pub unix_s: i64,
    pub observations: Vec<SentObservation>,
}

#[derive(Debug, Serialize)]
pub struct SentObservation {
    pub key: &'static str,
    pub loinc: &'static str,
    pub value: f64,
}

impl SentMessage<'_> {
    pub fn observations(observations: &[Observation]) -> Vec<SentObservation> {
        observations
            .iter()
            .map(|o| SentObservation { key: o.vital.key, loinc: o.vital.loinc, value: o.value })
            .collect()
    }
}

/// Where the lines go; a failed write is logged once and turns the log off, as losing the
/// record must not stop the device.
pub struct SentLog {
    out: Option<Box<dyn Write + Send>>,
}

impl SentLog {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out: Some(out) }
    }

    pub fn record(&mut self, message: &SentMessage<'_>) {
        let Some(out) = self.out.as_mut() else { return };
        let written = serde_json::to_writer(&mut *out, message)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(error) = written {
            tracing::warn!(%error, "cannot write the sent log; no more records");
            self.out = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physiology::{Physiology, Vital};
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_json_line_per_message_with_each_observation() {
        let shared = Shared::default();
        let mut log = SentLog::new(Box::new(shared.clone()));
        let vitals = Physiology::new().vitals().rounded();
        let observations = crate::oru::observations(&vitals, &[Vital::HeartRate, Vital::Spo2]);
        for control_id in ["a-1", "a-2"] {
            let message = SentMessage {
                device_id: "oximeter-1",
                control_id,
                unix_s: 7,
                observations: SentMessage::observations(&observations),
            };
            log.record(&message);
        }
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["control_id"], "a-2");
        assert_eq!(lines[0]["observations"][1]["loinc"], "59408-5");
        assert_eq!(lines[0]["observations"][0]["value"], vitals.get(Vital::HeartRate));
    }
}
