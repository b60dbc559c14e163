//! Reading the HL7 messages the TCP sessions deframe: each [`Event::Hl7Frame`] interpreted
//! ([`interpret_reusing`]), timed against the message it acknowledges, and reported as
//! [`Event::Hl7AckRtt`], [`Event::Hl7Message`] and [`Event::Hl7Error`], in that order, where the
//! frame was. The sessions only deframe, so this reading can run where the pipeline runs (see
//! [`Interpreting`]) or on another thread from a log of the pipeline's events
//! (`capture::staged`), with the same events in the same order either way.

use std::collections::HashMap;
use std::time::Duration;

use crate::flows::table::Direction;
use crate::hl7::acks::AwaitingAcks;
use crate::hl7::message::{Hl7Error, Hl7Message, MessageKind, VitalObservation, interpret_reusing};
use crate::pipeline::{ConnectionId, Event, Sink};

/// The HL7 reading state of every connection: the messages awaiting their ACK, and the vectors
/// messages are read into, reused from message to message so that reading one allocates
/// nothing in the steady state.
#[derive(Debug)]
pub struct Hl7Reader {
    /// Messages remembered per connection while their ACK is awaited.
    max_awaiting_acks: usize,
    /// Only connections that sent a message that awaits an ACK have an entry; closing the
    /// connection removes it.
    awaiting: HashMap<ConnectionId, AwaitingAcks>,
    observations: Vec<VitalObservation>,
    observation_errors: Vec<Hl7Error>,
}

impl Hl7Reader {
    pub fn new(max_awaiting_acks: usize) -> Self {
        Self { max_awaiting_acks, awaiting: HashMap::new(), observations: Vec::new(), observation_errors: Vec::new() }
    }

    /// Connections with messages awaiting their ACK.
    pub fn connections_awaiting(&self) -> usize {
        self.awaiting.len()
    }

    /// Interprets one message `connection` carried in `direction`, its frame completed at `at`,
    /// and reports it to `sink`.
    pub fn read(
        &mut self,
        connection: ConnectionId,
        direction: Direction,
        at: Duration,
        bytes: &[u8],
        sink: &mut impl Sink,
    ) {
        let interpreted = interpret_reusing(
            bytes,
            std::mem::take(&mut self.observations),
            std::mem::take(&mut self.observation_errors),
        );
        let message = match interpreted {
            Ok(message) => message,
            Err(error) => return sink.record(Event::Hl7Error(error)),
        };
        if let Some(rtt) = self.match_ack(connection, direction, at, &message) {
            sink.record(Event::Hl7AckRtt(rtt));
        }
        sink.record(Event::Hl7Message { message: &message, at });
        for error in &message.observation_errors {
            sink.record(Event::Hl7Error(*error));
        }
        (self.observations, self.observation_errors) = (message.observations, message.observation_errors);
    }

    /// The connection is gone: its messages will never be acknowledged.
    pub fn close(&mut self, connection: ConnectionId) {
        self.awaiting.remove(&connection);
    }

    /// How long the message `message` acknowledges (MSH-10 = MSA-2, sent the other way) waited
    /// for it; a message that is not an ACK joins the connection's awaiting ones instead.
    fn match_ack(
        &mut self,
        connection: ConnectionId,
        direction: Direction,
        at: Duration,
        message: &Hl7Message<'_>,
    ) -> Option<Duration> {
        if let Some(ack) = &message.ack {
            let awaiting = self.awaiting.get_mut(&connection)?;
            let sent_at = awaiting.take_answered(direction, &ack.acknowledged_control_id)?;
            if awaiting.is_empty() {
                self.awaiting.remove(&connection);
            }
            Some(at.saturating_sub(sent_at))
        } else {
            if message.kind != MessageKind::Ack && !message.control_id.is_empty() {
                let awaiting = self.awaiting.entry(connection).or_default();
                awaiting.push(self.max_awaiting_acks, direction, &message.control_id, at);
            }
            None
        }
    }
}

/// A sink that reads the HL7 frames among the events it is given with `reader` and passes
/// everything else, and what the frames say, on to `inner`. With no reader, every event
/// passes as it is.
pub struct Interpreting<'r, S> {
    pub reader: Option<&'r mut Hl7Reader>,
    pub inner: S,
}

impl<S: Sink> Sink for Interpreting<'_, S> {
    fn record(&mut self, event: Event<'_>) {
        let Some(reader) = self.reader.as_deref_mut() else { return self.inner.record(event) };
        match event {
            Event::Hl7Frame { connection, direction, at, bytes } => {
                reader.read(connection, direction, at, bytes, &mut self.inner);
            }
            Event::ConnectionClosed(connection) => reader.close(connection),
            event => self.inner.record(event),
        }
    }

    fn wants_traffic(&self) -> bool {
        self.inner.wants_traffic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ack, oru};

    /// What a reader reported: ACK round trips and messages read.
    #[derive(Default)]
    struct Seen {
        rtts: Vec<Duration>,
        messages: usize,
        errors: usize,
    }

    impl Sink for Seen {
        fn record(&mut self, event: Event<'_>) {
            match event {
                Event::Hl7AckRtt(rtt) => self.rtts.push(rtt),
                Event::Hl7Message { .. } => self.messages += 1,
                Event::Hl7Error(_) => self.errors += 1,
                _ => {}
            }
        }
    }

    const OUT: Direction = Direction::LowerToUpper;
    const BACK: Direction = Direction::UpperToLower;

    #[test]
    fn an_ack_is_matched_only_from_the_other_direction_of_the_same_connection() {
        let (mut reader, mut seen) = (Hl7Reader::new(64), Seen::default());
        let ms = Duration::from_millis;
        reader.read(ConnectionId(1), OUT, ms(0), oru("P-1", "C1", &[("spo2", 97.0)]).as_bytes(), &mut seen);
        reader.read(ConnectionId(1), OUT, ms(5), ack("A0", "C1", "AA").as_bytes(), &mut seen);
        reader.read(ConnectionId(2), BACK, ms(6), ack("A0", "C1", "AA").as_bytes(), &mut seen);
        assert!(seen.rtts.is_empty(), "an ACK the same way, or on another connection, answers nothing");
        reader.read(ConnectionId(1), BACK, ms(7), ack("A1", "C1", "AA").as_bytes(), &mut seen);
        assert_eq!((seen.rtts, seen.messages), (vec![ms(7)], 4));
        assert_eq!(reader.connections_awaiting(), 0, "an answered connection keeps no entry");
    }

    #[test]
    fn closing_a_connection_forgets_what_it_awaited() {
        let (mut reader, mut seen) = (Hl7Reader::new(64), Seen::default());
        reader.read(ConnectionId(3), OUT, Duration::ZERO, oru("P-1", "C1", &[("spo2", 97.0)]).as_bytes(), &mut seen);
        assert_eq!(reader.connections_awaiting(), 1);
        reader.close(ConnectionId(3));
        assert_eq!(reader.connections_awaiting(), 0);
        reader.read(ConnectionId(3), BACK, Duration::from_millis(2), ack("A1", "C1", "AA").as_bytes(), &mut seen);
        assert!(seen.rtts.is_empty());
    }

    #[test]
    fn a_message_that_does_not_parse_is_one_error() {
        let (mut reader, mut seen) = (Hl7Reader::new(64), Seen::default());
        reader.read(ConnectionId(1), OUT, Duration::ZERO, b"PID|1\r", &mut seen);
        assert_eq!((seen.messages, seen.errors), (0, 1));
    }
}
