//! The messages of one connection that wait for their ACK, in the order they were sent, held
//! without allocating in the common case: a device sends a message and waits for its ACK before
//! the next, so one message waits at a time. That one, and a control id of up to
//! [`INLINE_ID_BYTES`] bytes, live inline; more waiting messages, or a longer id, take the heap.
//! Every TCP connection carries this, so it is kept small (48 bytes; the queue it replaced took
//! 32 and an allocation per message).

use std::collections::VecDeque;
use std::time::Duration;

use crate::flows::table::Direction;

/// Control ids up to this long are kept inline (MSH-10 is a string of up to 199 characters, in
/// practice a counter or a UUID's 32 hex digits).
pub const INLINE_ID_BYTES: usize = 22;

/// A control id (MSH-10, unescaped), inline when short.
#[derive(Clone, Debug)]
enum ControlId {
    Inline { len: u8, bytes: [u8; INLINE_ID_BYTES] },
    Heap(Box<str>),
}

impl ControlId {
    fn new(id: &str) -> Self {
        let mut bytes = [0; INLINE_ID_BYTES];
        match bytes.get_mut(..id.len()) {
            Some(room) => {
                room.copy_from_slice(id.as_bytes());
                Self::Inline { len: id.len() as u8, bytes }
            }
            None => Self::Heap(id.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(id) => id.as_bytes(),
        }
    }
}

/// One message waiting for its ACK: the direction it went, its control id, when it was sent
/// (in nanoseconds since the epoch: exact for 584 years, and half a `Duration`).
#[derive(Clone, Debug)]
struct Awaiting {
    sent_by: Direction,
    control_id: ControlId,
    sent_at_ns: u64,
}

impl Awaiting {
    fn sent_at(&self) -> Duration {
        Duration::from_nanos(self.sent_at_ns)
    }
}

/// The messages awaiting an ACK, oldest first: the oldest inline, the others in a queue that
/// exists only while two or more wait.
#[derive(Debug, Default)]
pub struct AwaitingAcks {
    /// The oldest; `None` only when nothing waits.
    first: Option<Awaiting>,
    /// Boxed on purpose: 8 bytes in every connection rather than a `VecDeque`'s 32, for a
    /// queue that exists only while two or more messages wait (the extra allocation is paid
    /// then only).
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Awaiting>>>,
}

impl AwaitingAcks {
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |rest| rest.len())
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Adds a message sent `sent_by` at `sent_at`; with `max` already waiting, the oldest is
    /// forgotten first (`max` is at least 1).
    pub fn push(&mut self, max: usize, sent_by: Direction, control_id: &str, sent_at: Duration) {
        if self.len() >= max {
            self.pop_front();
        }
        // Times past 2554 saturate (they are packet times).
        let sent_at_ns = u64::try_from(sent_at.as_nanos()).unwrap_or(u64::MAX);
        let awaiting = Awaiting { sent_by, control_id: ControlId::new(control_id), sent_at_ns };
        match self.first {
            None => self.first = Some(awaiting),
            Some(_) => self.rest.get_or_insert_with(Box::default).push_back(awaiting),
        }
    }

    /// Takes the oldest message sent the other way than `ack_by` with this control id, and
    /// tells when it was sent.
    pub fn take_answered(&mut self, ack_by: Direction, control_id: &str) -> Option<Duration> {
        let answers = |a: &Awaiting| a.sent_by != ack_by && a.control_id.as_bytes() == control_id.as_bytes();
        if self.first.as_ref().is_some_and(answers) {
            return self.pop_front().map(|a| a.sent_at());
        }
        let rest = self.rest.as_mut()?;
        let index = rest.iter().position(answers)?;
        let taken = rest.remove(index).map(|a| a.sent_at());
        self.release_empty_queue();
        taken
    }

    fn pop_front(&mut self) -> Option<Awaiting> {
        let oldest = self.first.take();
        self.first = self.rest.as_mut().and_then(|rest| rest.pop_front());
        self.release_empty_queue();
        oldest
    }

    /// A queue that held several waiting messages holds no room once they are answered: most
    /// connections go back to one at a time.
    fn release_empty_queue(&mut self) {
        if self.rest.as_ref().is_some_and(|rest| rest.is_empty()) {
            self.rest = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Direction = Direction::LowerToUpper;
    const DOWN: Direction = Direction::UpperToLower;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn the_oldest_match_from_the_other_direction_is_taken() {
        let mut acks = AwaitingAcks::default();
        acks.push(64, UP, "A", at(1));
        acks.push(64, UP, "B", at(2));
        acks.push(64, DOWN, "B", at(3));
        acks.push(64, UP, "B", at(4));
        assert_eq!(acks.len(), 4);
        assert_eq!(acks.take_answered(UP, "A"), None, "an ACK answers the other direction only");
        assert_eq!(acks.take_answered(DOWN, "B"), Some(at(2)));
        assert_eq!(acks.take_answered(DOWN, "B"), Some(at(4)));
        assert_eq!(acks.take_answered(DOWN, "B"), None);
        assert_eq!(acks.take_answered(DOWN, "A"), Some(at(1)));
        assert_eq!(acks.take_answered(UP, "B"), Some(at(3)));
        assert!(acks.is_empty());
        assert!(acks.rest.is_none(), "no room held once nothing waits");
        assert!(size_of::<AwaitingAcks>() <= 48, "{} bytes a connection", size_of::<AwaitingAcks>());
    }

    #[test]
    fn past_the_bound_the_oldest_is_forgotten() {
        let mut acks = AwaitingAcks::default();
        for i in 0..5 {
            acks.push(3, UP, &format!("M{i}"), at(i));
        }
        assert_eq!(acks.len(), 3);
        assert_eq!(acks.take_answered(DOWN, "M1"), None);
        assert_eq!(acks.take_answered(DOWN, "M2"), Some(at(2)));
        assert_eq!(acks.take_answered(DOWN, "M4"), Some(at(4)));
        assert_eq!(acks.take_answered(DOWN, "M3"), Some(at(3)));
        assert!(acks.is_empty());
    }

    #[test]
    fn long_control_ids_are_kept_whole() {
        let long = "x".repeat(INLINE_ID_BYTES + 1);
        let fits = "y".repeat(INLINE_ID_BYTES);
        let mut acks = AwaitingAcks::default();
        acks.push(64, UP, &long, at(1));
        acks.push(64, UP, &fits, at(2));
        acks.push(64, UP, "", at(3));
        assert_eq!(acks.take_answered(DOWN, &long[1..]), None);
        assert_eq!(acks.take_answered(DOWN, &fits), Some(at(2)));
        assert_eq!(acks.take_answered(DOWN, &long), Some(at(1)));
        assert_eq!(acks.take_answered(DOWN, ""), Some(at(3)));
    }
}
