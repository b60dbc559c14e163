//! HTTPS-like traffic: TLS 1.2 application-data records (RFC 5246 record layer) with opaque
//! contents, sized as web requests and responses are. No handshake is synthesised, so readers
//! see encrypted application data, which is all a passive observer of HTTPS sees anyway.

use rand::Rng;
use rand::rngs::ChaCha8Rng;

pub const PORT: u16 = 443;
/// The largest plaintext a TLS record carries.
const MAX_RECORD: usize = 16_384;
const APPLICATION_DATA: u8 = 23;

/// `length` bytes of TLS records (headers included, give or take the last header).
pub fn records(length: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(length + 5);
    while out.len() < length {
        let body = (length - out.len()).saturating_sub(5).clamp(1, MAX_RECORD);
        out.extend([APPLICATION_DATA, 3, 3]);
        out.extend((body as u16).to_be_bytes());
        let from = out.len();
        out.resize(from + body, 0);
        rng.fill_bytes(&mut out[from..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn records_chain_and_cover_the_length() {
        let bytes = records(40_000, &mut ChaCha8Rng::seed_from_u64(1));
        let mut at = 0;
        let mut count = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 3], &[23, 3, 3]);
            at += 5 + usize::from(u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]));
            count += 1;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(count, 3);
        assert!(bytes.len() >= 40_000 && bytes.len() < 40_010);
    }
}
