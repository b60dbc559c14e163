//! HL7 v2: the parser (clinical/src/hl7.rs) and what the exporter makes of a message
//! (exporter/src/hl7/message.rs), on arbitrary bytes; escaping, unescaping and the writer
//! under arbitrary separators, which must round-trip; and one OBX built from the input, read by
//! the exporter as the clinical terminology table, unit conversions and value types say.
//!
//! Input: any bytes, read three times. As a message: `Message::parse` and `interpret` must agree and
//! never panic, and what parsed must keep the parser's promises. As text (lossy UTF-8): its
//! first five characters are separators (field, component, repetition, escape, subcomponent)
//! and, when a message could declare them, the rest is a list of values split at U+0001; every
//! value must come back from `unescape(escape(value))` and from a written-then-parsed message,
//! with line breaks (which no value can hold) turned into spaces. As an observation: the first
//! byte picks a code of the terminology table (or, past its end, takes the code and coding system
//! from the text), the rest is split at U+0001 into value type, value (components and all),
//! status, unit (`#n` picks the code's n-th unit, MDC form for odd n) and code; the exporter's
//! observation must be what `lookup`, `Code::unit`, `numeric_value` or `structured_numeric` and
//! `is_result` give, and its value finite.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_clinical::hl7::{Message, ParseError, Separators, Writer};
use wardwatch_clinical::obx::{self, ValueError};
use wardwatch_clinical::terminology::{CODES, lookup};
use wardwatch_exporter::hl7::message::{Hl7Error, interpret};

fn check_message(data: &[u8]) {
    let parsed = Message::parse(data);
    let interpreted = interpret(data);
    let message = match parsed {
        Err(error) => {
            assert_eq!(interpreted, Err(Hl7Error::from(error.clone())), "{error:?}");
            return;
        }
        Ok(message) => message,
    };
    match &interpreted {
        Ok(hl7) => {
            assert_eq!(hl7.control_id, message.control_id());
            assert!(hl7.observations.is_empty() || !hl7.patient.is_empty());
            for observation in &hl7.observations {
                assert!(observation.value.is_finite());
            }
        }
        Err(error) => assert_eq!(*error, Hl7Error::MissingPatient),
    }
    let s = message.separators;
    let all = [s.field, s.component, s.repetition, s.escape, s.subcomponent];
    for (i, c) in all.iter().enumerate() {
        assert!(!all[..i].contains(c), "separators {all:?} are not distinct");
        assert!(!c.is_alphanumeric() && *c != '\r' && *c != '\n');
    }
    assert_eq!(message.segments.first().map(|segment| segment.name.as_str()), Some("MSH"));
    for segment in &message.segments {
        assert!(segment.name.len() == 3 && segment.name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        for field in &segment.fields {
            assert!(!field.contains(['\r', '\n']));
        }
        for n in 0..=segment.fields.len() + 1 {
            let field = segment.field(n);
            for c in 0..4 {
                let _ = message.component(field, c);
            }
        }
    }
    assert_eq!(message.segment("MSH").unwrap().field(1), s.field.to_string());
    let _ = message.message_type();
}

/// What a value becomes once written: line breaks cannot be in a value, they turn to spaces.
fn written(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

fn check_round_trip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut chars = text.chars();
    let Some(all) = (|| Some([chars.next()?, chars.next()?, chars.next()?, chars.next()?, chars.next()?]))() else {
        return;
    };
    let [field, component, repetition, escape, subcomponent] = all;
    let separators = Separators { field, component, repetition, escape, subcomponent };
    // Only separators a message can declare (what the parser accepts).
    let header = format!("MSH{field}{}{field}\r", separators.encoding_characters());
    if Message::parse(header.as_bytes()).map(|m| m.separators) != Ok(separators) {
        assert!(matches!(Message::parse(header.as_bytes()), Err(ParseError::BadEncodingCharacters)));
        return;
    }
    let values: Vec<&str> = chars.as_str().split('\u{1}').collect();
    for value in &values {
        let escaped = separators.escape(value);
        assert!(
            !escaped.contains([field, component, repetition, subcomponent, '\r', '\n']),
            "{value:?} escaped as {escaped:?} under {separators:?}"
        );
        assert_eq!(
            separators.unescape(&escaped),
            written(value),
            "{value:?} escaped as {escaped:?} under {separators:?}"
        );
    }
    let mut writer = Writer::new(separators);
    writer.segment("MSH").field(&["SENDER"]).field(&values[..1]).end();
    writer.segment("OBX").field(&["1"]).field(&values).end();
    let text = writer.finish();
    let message = Message::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
    assert_eq!(message.separators, separators);
    let names: Vec<&str> = message.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["MSH", "OBX"], "{text:?}");
    let msh = message.segment("MSH").unwrap();
    assert_eq!(message.component(msh.field(4), 1), written(values[0]), "{text:?}");
    let obx = message.segment("OBX").unwrap();
    assert_eq!(obx.fields.len(), 2, "{text:?}");
    for (i, value) in values.iter().enumerate() {
        assert_eq!(message.component(obx.field(2), i + 1), written(value), "{text:?}");
    }
}

/// A field's text with the characters that would end it or change its structure made spaces;
/// `keep_components` keeps `^` (a value's components).
fn field_text(text: &str, keep_components: bool) -> String {
    text.chars()
        .map(|c| match c {
            '|' | '~' | '\\' | '&' | '\r' | '\n' => ' ',
            '^' if !keep_components => ' ',
            c => c,
        })
        .collect()
}

/// What the exporter must make of one OBX, from the clinical crate's functions.
fn expected(
    value_type: &str,
    value: &str,
    status: &str,
    unit: &str,
    code: &str,
    system: &str,
) -> Option<Result<f64, Hl7Error>> {
    let code = lookup(code, system)?;
    if !obx::is_result(status) {
        return None;
    }
    let Some(unit) = code.unit(unit) else { return Some(Err(Hl7Error::UnitMismatch)) };
    let mut components = value.split('^').chain(std::iter::repeat(""));
    let components = [(); 4].map(|_| components.next().unwrap_or(""));
    let number = if value_type == "SN" {
        obx::structured_numeric(components)
    } else {
        obx::numeric_value(value_type, [components[0], "", "", ""])
    };
    Some(match number.map(|n| unit.to_gauge(n)) {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) | Err(ValueError::NotNumeric) => Err(Hl7Error::NonNumericValue),
        Err(ValueError::Inexact) => Err(Hl7Error::InexactValue),
    })
}

fn check_observation(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let parts: Vec<&str> = text.split('\u{1}').collect();
    let part = |i: usize, keep: bool| field_text(parts.get(i).copied().unwrap_or(""), keep);
    let (value_type, value, status) = (part(0, false), part(1, true), part(2, false));
    let (code, system) = match CODES.get(usize::from(pick)) {
        Some(code) => (code.code.to_owned(), code.system.hl7_name().to_owned()),
        None => (part(4, false), part(5, false)),
    };
    let mut unit = part(3, false);
    if let (Some(n), Some(table_code)) =
        (unit.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()), lookup(&code, &system))
    {
        let chosen = table_code.units[n % table_code.units.len()];
        unit = match chosen.mdc {
            Some((number, _)) if n % 2 == 1 => number.to_owned(),
            _ => chosen.ucum.to_owned(),
        };
    }
    let message = format!(
        "MSH|^~\\&|FUZZ|||||ORU^R01|F1|P|2.6\rPID|||P-1\rOBX|1|{value_type}|{code}^name^{system}||{value}|{unit}^text|||||{status}\r"
    );
    let read = interpret(message.as_bytes()).unwrap_or_else(|e| panic!("{message:?}: {e:?}"));
    let got = match (read.observations.as_slice(), read.observation_errors.as_slice()) {
        ([], []) => None,
        ([observation], []) => {
            assert!(observation.value.is_finite());
            assert_eq!(Some(observation.vital.key), lookup(&code, &system).map(|c| c.vital));
            Some(Ok(observation.value))
        }
        ([], [error]) => Some(Err(*error)),
        other => panic!("{message:?}: one OBX gave {other:?}"),
    };
    let want = expected(&value_type, &value, &status, &unit, &code, &system);
    assert_eq!(got, want, "{message:?}");
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    check_round_trip(data);
    check_observation(data);
});
