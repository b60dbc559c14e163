//! TCP sequence numbers as positions in a stream. A sequence number is 32 bits and wraps; a
//! stream is longer. Like TCP itself (RFC 9293 compares sequence numbers modulo 2^32), a
//! sequence number is read as the position within 2^31 bytes of the furthest point the stream
//! has reached: up to 2 GiB behind it is old data (a retransmission, or bytes from before the
//! capture picked the stream up), up to 2 GiB ahead is new data.

/// The stream offset of `seq`, counted from `base` (offset 0), taken as the one of its 2^32
/// aliases within 2^31 of `highest` (the highest offset the stream has reached). Negative when
/// the sequence number lies before the stream's start.
pub fn stream_position(seq: u32, base: u32, highest: u64) -> i64 {
    let relative = seq.wrapping_sub(base);
    // Signed distance from `highest`, modulo 2^32: in [-2^31, 2^31).
    let distance = relative.wrapping_sub(highest as u32) as i32;
    highest as i64 + i64::from(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_near_the_furthest_point_are_taken_as_they_are() {
        assert_eq!(stream_position(1000, 1000, 0), 0);
        assert_eq!(stream_position(1010, 1000, 0), 10);
        assert_eq!(stream_position(1010, 1000, 500), 10);
        assert_eq!(stream_position(1600, 1000, 500), 600);
    }

    #[test]
    fn sequence_numbers_before_the_base_are_negative_not_four_gib_ahead() {
        assert_eq!(stream_position(990, 1000, 0), -10);
        assert_eq!(stream_position(990, 1000, 100), -10);
        assert_eq!(stream_position(u32::MAX, 0, 0), -1);
    }

    #[test]
    fn wrapped_sequence_numbers_continue_the_stream() {
        let base = u32::MAX - 9;
        assert_eq!(stream_position(5, base, 8), 15);
        // Past 4 GiB: the era comes from `highest`.
        let highest = (1u64 << 32) + 100;
        assert_eq!(stream_position(base.wrapping_add(150), base, highest), (1 << 32) + 150);
        assert_eq!(stream_position(base.wrapping_add(50), base, highest), (1 << 32) + 50);
        assert_eq!(stream_position(base.wrapping_sub(50), base, highest), (1 << 32) - 50, "just before the era");
    }

    #[test]
    fn the_window_is_two_gib_each_way() {
        let highest = 3u64 << 30;
        let behind = (highest - (1 << 31)) as u32;
        assert_eq!(stream_position(behind, 0, highest), (highest - (1 << 31)) as i64);
        let ahead = (highest + (1 << 31) - 1) as u32;
        assert_eq!(stream_position(ahead, 0, highest), (highest + (1 << 31) - 1) as i64);
    }
}
