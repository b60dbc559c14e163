//! DNS (RFC 1035) A-record queries and answers on UDP 53.

use super::packet::udp_frame;
use super::{Endpoint, Frame};

pub const PORT: u16 = 53;
const SERVER_DELAY_US: u64 = 600;
const TTL_S: u32 = 300;

/// A query's wire form: header, one question for `name` (type A, class IN).
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend(id.to_be_bytes());
    out.extend(0x0100u16.to_be_bytes()); // standard query, recursion desired
    out.extend([0, 1, 0, 0, 0, 0, 0, 0]); // 1 question, no answers, authority or additional
    question(&mut out, name);
    out
}

/// The answer to `query(id, name)`: the question echoed and one A record.
pub fn answer(id: u16, name: &str, address: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(34 + name.len());
    out.extend(id.to_be_bytes());
    out.extend(0x8180u16.to_be_bytes()); // response, recursion desired and available, no error
    out.extend([0, 1, 0, 1, 0, 0, 0, 0]);
    question(&mut out, name);
    out.extend([0xc0, 12]); // the name, as a pointer to the question's
    out.extend([0, 1, 0, 1]); // type A, class IN
    out.extend(TTL_S.to_be_bytes());
    out.extend(4u16.to_be_bytes());
    out.extend(address);
    out
}

fn question(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out.extend([0, 1, 0, 1]);
}

/// A lookup of `name` at `t_us` and its answer.
pub fn lookup(client: Endpoint, server: Endpoint, t_us: u64, id: u16, name: &str, address: [u8; 4]) -> Vec<Frame> {
    vec![
        Frame { timestamp_us: t_us, bytes: udp_frame(client, server, id, &query(id, name)) },
        Frame {
            timestamp_us: t_us + SERVER_DELAY_US,
            bytes: udp_frame(server, client, id, &answer(id, name, address)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_as_length_prefixed_labels() {
        let q = query(0x1234, "ehr.ward.example");
        assert_eq!(&q[..2], &[0x12, 0x34]);
        assert_eq!(&q[12..], b"\x03ehr\x04ward\x07example\x00\x00\x01\x00\x01");
        let a = answer(0x1234, "ehr.ward.example", [10, 20, 0, 4]);
        assert_eq!(&a[a.len() - 4..], &[10, 20, 0, 4]);
        assert_eq!(a.len(), q.len() + 16);
    }
}
