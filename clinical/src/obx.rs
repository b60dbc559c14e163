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
    let text = text.trim_matches(' ');
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    // The grammar above is a subset of what Rust's parser reads, and never overflows to
    // infinity below 309 digits; a longer one is refused.
    text.parse().ok().filter(|v: &f64| v.is_finite())
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
