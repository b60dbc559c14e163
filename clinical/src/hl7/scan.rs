//! Finding separators in the short stretches of an HL7 segment (fields of a few bytes,
//! components of fewer), eight bytes at a time in a `u64` (SWAR). memchr's SIMD search wins on
//! long haystacks, which is why lines and MLLP frames are found with it; on a field its set-up
//! and call, once per field, cost more than the bytes (measured: memchr per field made the
//! exporter slower than the byte loop it replaced). Here one word test finds every separator in
//! eight bytes, and a segment's first fields come out of one sweep.

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that is zero, and of no other byte: `(b & 0x7f) + 0x7f`
/// cannot carry into the next byte, unlike the shorter `(w - ONES) & !w` test, so every flag is
/// exact and a mask can be walked flag by flag.
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW7).wrapping_add(LOW7)) | word | LOW7)
}

/// The flags ([`zero_bytes`]) of the bytes of `word` equal to `a` or `b`, given as
/// `ONES * byte`.
fn either_mask(word: u64, a: u64, b: u64) -> u64 {
    zero_bytes(word ^ a) | zero_bytes(word ^ b)
}

/// The words of `bytes`, little-endian, with their offsets; the tail shorter than a word is
/// left to the caller.
fn words(bytes: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
    bytes.chunks_exact(8).enumerate().map(|(i, chunk)| {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else { unreachable!("chunks of eight") };
        (i * 8, u64::from_le_bytes(bytes))
    })
}

/// The first `a` or `b` in `haystack`.
pub fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    let (pattern_a, pattern_b) = (ONES * u64::from(a), ONES * u64::from(b));
    for (offset, word) in words(haystack) {
        let found = either_mask(word, pattern_a, pattern_b);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
    }
    let tail = haystack.len() / 8 * 8;
    haystack[tail..].iter().position(|&byte| byte == a || byte == b).map(|i| tail + i)
}

/// The first `needle` in `haystack`.
pub fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    find_either(haystack, needle, needle)
}

/// Splits `text` at the ASCII `separator` into `slots`, in order, as `str::split` would, and
/// returns what follows the last slot's separator (`None` when `text` ended first; slots past
/// its end keep their value). One sweep: each word's separators come out of one mask.
pub fn split_into<'a>(text: &'a str, separator: u8, slots: &mut [&'a str]) -> Option<&'a str> {
    debug_assert!(separator.is_ascii(), "a cut at a non-ASCII byte could split a character");
    let Some(last) = slots.len().checked_sub(1) else { return Some(text) };
    let bytes = text.as_bytes();
    let pattern = ONES * u64::from(separator);
    let (mut filled, mut start) = (0, 0);
    // Stores the part that ends at `at`; true once the slots are full.
    let mut cut = |at: usize, filled: &mut usize, start: &mut usize| {
        slots[*filled] = &text[*start..at];
        *start = at + 1;
        *filled += 1;
        *filled > last
    };
    for (offset, word) in words(bytes) {
        let mut found = zero_bytes(word ^ pattern);
        while found != 0 {
            if cut(offset + (found.trailing_zeros() / 8) as usize, &mut filled, &mut start) {
                return Some(&text[start..]);
            }
            found &= found - 1;
        }
    }
    let tail = bytes.len() / 8 * 8;
    for (at, &byte) in bytes.iter().enumerate().skip(tail) {
        if byte == separator && cut(at, &mut filled, &mut start) {
            return Some(&text[start..]);
        }
    }
    slots[filled] = &text[start..];
    None
}

/// Separators of a field's components, for [`components_into`].
#[derive(Clone, Copy, Debug)]
pub struct ComponentSeparators {
    pub repetition: u8,
    pub component: u8,
    pub escape: u8,
}

/// Where one component lies in its field, and whether it holds the escape character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Component {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

/// Finds the components of the first repetition of `field`, in order, as
/// `split(repetition).next()` then `split(component)` would, and writes where they lie into
/// `slots` (slots past the repetition's last component keep their value). One sweep finds the
/// cuts and the escapes, so a component is unescaped only when it needs it. Offsets, not
/// slices, are written: a caller reads them back a word at a time, where reading a slice
/// written as two words costs a stalled load.
pub fn components_into(field: &[u8], separators: ComponentSeparators, slots: &mut [Component]) {
    let ComponentSeparators { repetition, component, escape } = separators;
    let Some(last) = slots.len().checked_sub(1) else { return };
    let patterns = [repetition, component, escape].map(|b| ONES * u64::from(b));
    let (mut filled, mut start) = (0, 0);
    // Takes the byte at `at` (a separator or an escape); true once nothing more is wanted.
    let mut take = |at: usize, filled: &mut usize, start: &mut usize| {
        let byte = field[at];
        if byte == escape {
            slots[*filled].escaped = true;
            return false;
        }
        slots[*filled].start = *start;
        slots[*filled].end = at;
        *start = at + 1;
        *filled += 1;
        byte == repetition || *filled > last
    };
    for (offset, word) in words(field) {
        let mut found = either_mask(word, patterns[0], patterns[1]) | zero_bytes(word ^ patterns[2]);
        while found != 0 {
            if take(offset + (found.trailing_zeros() / 8) as usize, &mut filled, &mut start) {
                return;
            }
            found &= found - 1;
        }
    }
    let tail = field.len() / 8 * 8;
    for (at, &byte) in field.iter().enumerate().skip(tail) {
        if (byte == repetition || byte == component || byte == escape) && take(at, &mut filled, &mut start) {
            return;
        }
    }
    slots[filled].start = start;
    slots[filled].end = field.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_found_as_position_finds_them() {
        let text: Vec<u8> =
            (0..40usize).map(|i| [b'a', b'|', 0x01, 0x7c ^ 0x80, 0, 0xff, 0x7f][i * 7 % 5 + i % 3]).collect();
        for start in 0..text.len() {
            for needle in [b'|', b'a', 0x01, 0x00, 0xfc, 0xff, 0x7f, 0x80, b'z'] {
                let haystack = &text[start..];
                assert_eq!(find_byte(haystack, needle), haystack.iter().position(|&b| b == needle), "{start} {needle}");
                for other in [b'|', 0x00, 0xfe] {
                    let expected = haystack.iter().position(|&b| b == needle || b == other);
                    assert_eq!(find_either(haystack, needle, other), expected, "{start} {needle} {other}");
                }
            }
        }
    }

    #[test]
    fn components_are_split_as_two_splits_split_them() {
        let separators = ComponentSeparators { repetition: b'~', component: b'^', escape: b'\\' };
        let fields = [
            "",
            "a",
            "a^b",
            "a^b~c^d",
            "~a",
            "^~^",
            "a~b",
            "é^ü~x^y^z",
            "^^^",
            "a\\F\\b^c\\~d",
            "0123456789^abcdefghij\\^k~l^m",
        ];
        for field in fields {
            let parts: Vec<&str> = field.split('~').next().unwrap().split('^').collect();
            for n in 0..parts.len() + 3 {
                let unset = Component { start: 99, end: 99, escaped: false };
                let mut slots = vec![unset; n];
                components_into(field.as_bytes(), separators, &mut slots);
                for (i, slot) in slots.iter().enumerate() {
                    let Some(expected) = parts.get(i) else {
                        assert_eq!(*slot, unset, "{field:?} {n} {i}");
                        continue;
                    };
                    assert_eq!(&field[slot.start..slot.end], *expected, "{field:?} {n} {i}");
                    assert_eq!(slot.escaped, expected.contains('\\'), "{field:?} {n} {i}");
                }
            }
        }
    }

    #[test]
    fn splits_as_str_split_does() {
        let texts =
            ["", "|", "a", "a|b", "||x|", "é|ü|ab", "0123456|89|||||||||abcdefghijklmnop|q|", "|||||||||||||||||||"];
        for text in texts {
            let parts: Vec<&str> = text.split('|').collect();
            for n in 0..parts.len() + 3 {
                let mut slots = vec!["unset"; n];
                let rest = split_into(text, b'|', &mut slots);
                for (i, slot) in slots.iter().enumerate() {
                    assert_eq!(*slot, parts.get(i).copied().unwrap_or("unset"), "{text:?} {n} {i}");
                }
                let expected_rest = (n < parts.len()).then(|| parts[n..].join("|"));
                assert_eq!(rest.map(str::to_owned), expected_rest, "{text:?} {n}");
            }
        }
    }
}
