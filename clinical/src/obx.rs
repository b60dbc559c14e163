//! What an OBX segment's value (OBX-2 value type, OBX-5) and result status (OBX-11) say about
//! one number. Pure: the caller hands in the fields' components, already unescaped.
//!
//! Value types read:
//!
//! - `NM` (or an empty OBX-2): OBX-5 is a number in HL7's NM form: an optional sign, digits, an
//!   optional decimal point (no exponent, no `inf` or `NaN`).
//! - `SN` (structured numeric, `comparator^num1^separator^num2`):
//!   - `^93` or `=^93`: the number 93;
//!   - `^1^/^2` or `^1^:^2` (a ratio): num1 ÷ num2, the value in OBX-6's unit (so an FiO2 of
//!     `^21^:^100` with unit `1` is 0.21, that is 21 %);
//!   - a comparator (`>^90`, `<^20`, `>=`, `<=`, `<>`) or a range (`^10^-^20`) or a `+`
//!     suffix: no single value, [`ValueError::Inexact`]. A bound is not a reading: setting a
//!     gauge to it could hide a value beyond an alarm limit (a glucose meter's `<^20` may be 15).
//! - any other type (`ST`, `CWE`, `NA`, ...): not a number, [`ValueError::NotNumeric`].

use std::fmt;

/// Why an OBX value gives no number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueError {
    /// Not a number of a type the reader takes.
    NotNumeric,
    /// A structured numeric that is a bound or a range, not one value.
    Inexact,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotNumeric => "not a numeric value",
            Self::Inexact => "a bound or a range, not one value",
        })
    }
}

/// A number in HL7's NM form, spaces around it allowed; finite by construction.
pub fn parse_nm(text: &str) -> Option<f64> {
    parse_nm_bytes(text.as_bytes())
}

/// [`parse_nm`] on bytes, as OBX-5 comes off the wire: no `str` in between.
pub fn parse_nm_bytes(text: &[u8]) -> Option<f64> {
    let text = trim_spaces(text);
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match memchr::memchr(b'.', unsigned) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, &[][..]),
    };
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let value = exact_decimal(whole, fraction).or_else(|| {
        // The grammar above is a subset of what Rust's parser reads (ASCII, so valid UTF-8),
        // and never overflows to infinity below 309 digits; a longer one is refused.
        std::str::from_utf8(unsigned).ok()?.parse::<f64>().ok()
    })?;
    let value = if negative { -value } else { value };
    value.is_finite().then_some(value)
}

/// `whole.fraction` (ASCII digits) when one correctly rounded division gives it, as Clinger's
/// fast path: at most 15 digits in all, so that the digits are an integer `f64` holds exactly,
/// over a power of ten that `f64` holds exactly (up to 10^22). Both operands exact, the
/// quotient IEEE rounds is the correctly rounded value, as Rust's parser gives it. Vital signs
/// (`97`, `36.6`, `0.93`) always take this path; `None` leaves the rest to the full parser.
fn exact_decimal(whole: &[u8], fraction: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    if whole.len() + fraction.len() > 15 {
        return None;
    }
    let mantissa = whole.iter().chain(fraction).fold(0u64, |m, &d| m * 10 + u64::from(d - b'0'));
    Some(mantissa as f64 / POWERS[fraction.len()])
}

/// `text` without the spaces around it (as `str::trim_matches(' ')`).
fn trim_spaces(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    let end = text.iter().rposition(|&b| b != b' ').map_or(start, |i| i + 1);
    &text[start..end]
}

/// The value of a structured numeric, from its first four components.
pub fn structured_numeric([comparator, num1, separator, num2]: [&str; 4]) -> Result<f64, ValueError> {
    match comparator {
        "" | "=" => {}
        ">" | "<" | ">=" | "<=" | "<>" => return Err(ValueError::Inexact),
        _ => return Err(ValueError::NotNumeric),
    }
    let first = parse_nm(num1).ok_or(ValueError::NotNumeric)?;
    match (separator, num2) {
        ("", "") => Ok(first),
        ("/" | ":", num2) => {
            let second = parse_nm(num2).ok_or(ValueError::NotNumeric)?;
            let ratio = first / second;
            if ratio.is_finite() { Ok(ratio) } else { Err(ValueError::NotNumeric) }
        }
        ("-" | "+", _) => Err(ValueError::Inexact),
        _ => Err(ValueError::NotNumeric),
    }
}

/// The number OBX-5 holds, given OBX-2 and OBX-5's first four components.
pub fn numeric_value(value_type: &str, components: [&str; 4]) -> Result<f64, ValueError> {
    match value_type {
        "NM" | "" => parse_nm(components[0]).ok_or(ValueError::NotNumeric),
        "SN" => structured_numeric(components),
        _ => Err(ValueError::NotNumeric),
    }
}

/// Whether OBX-11 allows the value to be used: not when it says the result was deleted (`D`),
/// is wrong (`W`), could not be obtained (`X`), was not asked for (`N`) or is still pending
/// (`I`). Final, corrected, preliminary, partial, amended and unverified results (`F`, `C`,
/// `P`, `S`, `A`, `R`: IHE PCD-01 devices send `R`), a status change (`U`) and an empty OBX-11
/// are values.
pub fn is_result(status: &str) -> bool {
    !matches!(status.trim_matches(' '), "D" | "W" | "X" | "N" | "I")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nm_is_sign_digits_and_a_point_only() {
        for (text, value) in [("93", 93.0), ("-1.5", -1.5), ("+2", 2.0), (" 36.6 ", 36.6), (".5", 0.5), ("7.", 7.0)] {
            assert_eq!(parse_nm(text), Some(value), "{text:?}");
        }
        for text in ["", "-", ".", "1e3", "inf", "NaN", "1.2.3", "9 0", "0x10", "--1", "1,5", &"9".repeat(400)] {
            assert_eq!(parse_nm(text), None, "{text:?}");
        }
    }

    /// The byte parser's fast path gives what Rust's parser gives, bit for bit.
    #[test]
    fn nm_values_equal_rusts_parse_bit_for_bit() {
        let mut texts: Vec<String> = ["0", "0.0", "0.1", "0.30000000000000004", "00012.5000", "98.6", "36.6", "0.93"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        texts.extend(["9".repeat(15), "9".repeat(16), "1".repeat(308), format!("0.{}", "0".repeat(30))]);
        // A few thousand pseudo-random decimals of 1 to 20 digits, the point anywhere.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = format!("{}", state % 10u64.pow(1 + (state >> 59) as u32 % 19));
            let point = (state >> 40) as usize % (digits.len() + 1);
            texts.push(format!("{}.{}", &digits[..point], &digits[point..]));
            texts.push(digits);
        }
        for text in &texts {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(parse_nm(text).map(f64::to_bits), Some(expected.to_bits()), "{text:?}");
            let negative = format!("-{text}");
            assert_eq!(parse_nm(&negative).map(f64::to_bits), Some((-expected).to_bits()), "{negative:?}");
        }
    }

    #[test]
    fn structured_numerics_become_one_value_or_say_why_not() {
        assert_eq!(structured_numeric(["", "93", "", ""]), Ok(93.0));
        assert_eq!(structured_numeric(["=", "93", "", ""]), Ok(93.0));
        assert_eq!(structured_numeric(["", "21", ":", "100"]), Ok(0.21));
        assert_eq!(structured_numeric(["", "1", "/", "4"]), Ok(0.25));
        assert_eq!(structured_numeric(["", "1", "/", "0"]), Err(ValueError::NotNumeric));
        for comparator in [">", "<", ">=", "<=", "<>"] {
            assert_eq!(structured_numeric([comparator, "20", "", ""]), Err(ValueError::Inexact), "{comparator}");
        }
        assert_eq!(structured_numeric(["", "10", "-", "20"]), Err(ValueError::Inexact));
        assert_eq!(structured_numeric(["", "2", "+", ""]), Err(ValueError::Inexact));
        assert_eq!(structured_numeric(["~", "2", "", ""]), Err(ValueError::NotNumeric));
        assert_eq!(structured_numeric(["", "", "", ""]), Err(ValueError::NotNumeric));
        assert_eq!(structured_numeric(["", "1", ".", "5"]), Err(ValueError::NotNumeric));
    }

    #[test]
    fn value_types_other_than_nm_and_sn_are_not_numbers() {
        assert_eq!(numeric_value("NM", ["88.5", "", "", ""]), Ok(88.5));
        assert_eq!(numeric_value("", ["88.5", "", "", ""]), Ok(88.5));
        assert_eq!(numeric_value("SN", ["", "88.5", "", ""]), Ok(88.5));
        assert_eq!(numeric_value("SN", ["88.5", "", "", ""]), Err(ValueError::NotNumeric), "NM text in an SN");
        assert_eq!(numeric_value("ST", ["88.5", "", "", ""]), Err(ValueError::NotNumeric));
        assert_eq!(numeric_value("NA", ["1", "2", "3", ""]), Err(ValueError::NotNumeric));
    }

    #[test]
    fn statuses_that_deny_a_result() {
        for status in ["", "F", "C", "R", "P", "S", "A", "U"] {
            assert!(is_result(status), "{status:?}");
        }
        for status in ["D", "W", "X", "N", "I", " X "] {
            assert!(!is_result(status), "{status:?}");
        }
    }
}
