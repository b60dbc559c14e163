//! HL7 v2 messages: parsing with the separators a message declares in MSH-1/MSH-2, escaping,
//! and writing. Field numbers follow HL7 (MSH-1 is the field separator itself).

mod scan;

use std::fmt;

pub use scan::Component;

/// The separators of a message (MSH-1 and MSH-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Separators {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Separators {
    fn default() -> Self {
        Self { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' }
    }
}

impl Separators {
    /// MSH-2 as written in a message.
    pub fn encoding_characters(&self) -> String {
        [self.component, self.repetition, self.escape, self.subcomponent].iter().collect()
    }

    /// Escapes the separators inside a value (HL7 `\F\ \S\ \R\ \E\ \T\`).
    pub fn escape(&self, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        self.escape_into(&mut out, value);
        out
    }

    /// Whether `c` must be escaped or replaced in a value.
    fn is_special(&self, c: char) -> bool {
        c == self.field
            || c == self.component
            || c == self.repetition
            || c == self.escape
            || c == self.subcomponent
            || c == '\r'
            || c == '\n'
    }

    /// Appends `value` escaped to `out`. A line break would end the segment, so it becomes a
    /// space first, and that space is escaped in turn when it is a separator. Most values
    /// (numbers, codes, ids) hold no special character and are copied as they are, in one go.
    pub fn escape_into(&self, out: &mut String, value: &str) {
        if !value.chars().any(|c| self.is_special(c)) {
            out.push_str(value);
            return;
        }
        for c in value.chars() {
            let c = if c == '\r' || c == '\n' { ' ' } else { c };
            let code = match c {
                c if c == self.field => Some('F'),
                c if c == self.component => Some('S'),
                c if c == self.repetition => Some('R'),
                c if c == self.escape => Some('E'),
                c if c == self.subcomponent => Some('T'),
                _ => None,
            };
            match code {
                Some(code) => out.extend([self.escape, code, self.escape]),
                None => out.push(c),
            }
        }
    }

    /// Undoes [`Separators::escape`]; unknown escape sequences are kept as written.
    pub fn unescape(&self, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find(self.escape) {
            out.push_str(&rest[..start]);
            let after = &rest[start + self.escape.len_utf8()..];
            let Some(end) = after.find(self.escape) else {
                out.push_str(&rest[start..]);
                return out;
            };
            let replacement = match &after[..end] {
                "F" => Some(self.field),
                "S" => Some(self.component),
                "R" => Some(self.repetition),
                "E" => Some(self.escape),
                "T" => Some(self.subcomponent),
                _ => None,
            };
            match replacement {
                Some(c) => out.push(c),
                None => out.push_str(&rest[start..start + 2 * self.escape.len_utf8() + end]),
            }
            rest = &after[end + self.escape.len_utf8()..];
        }
        out.push_str(rest);
        out
    }
}

/// Why a message could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    NotUtf8,
    /// The message does not start with an MSH segment.
    NoMshSegment,
    /// MSH-1/MSH-2 do not declare five distinct separator characters.
    BadEncodingCharacters,
    /// A segment name is not three upper-case letters or digits.
    BadSegmentName(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("message is not UTF-8"),
            Self::NoMshSegment => f.write_str("message does not start with an MSH segment"),
            Self::BadEncodingCharacters => f.write_str("MSH-1/MSH-2 do not declare valid separators"),
            Self::BadSegmentName(name) => write!(f, "invalid segment name {name:?}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// One segment: its name and its fields, raw (still escaped), numbered from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// `fields[0]` is field 1. For MSH, field 1 is the field separator and field 2 MSH-2.
    pub fields: Vec<String>,
}

impl Segment {
    /// Field `n` (1-based), raw; empty when absent.
    pub fn field(&self, n: usize) -> &str {
        n.checked_sub(1).and_then(|i| self.fields.get(i)).map_or("", String::as_str)
    }
}

/// A parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub separators: Separators,
    pub segments: Vec<Segment>,
}

impl Message {
    /// Parses a message; segments end in `\r` (`\n` and `\r\n` are accepted too).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
        let text = text.trim_start_matches(['\r', '\n']);
        let separators = Self::separators(text)?;
        let mut segments = Vec::new();
        for line in text.split(['\r', '\n']).filter(|l| !l.is_empty()) {
            let mut parts = line.split(separators.field);
            let name = parts.next().unwrap_or_default();
            if name.len() != 3 || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(ParseError::BadSegmentName(name.chars().take(16).collect()));
            }
            let mut fields: Vec<String> = Vec::new();
            if name == "MSH" {
                fields.push(separators.field.to_string());
            }
            fields.extend(parts.map(str::to_owned));
            segments.push(Segment { name: name.to_owned(), fields });
        }
        Ok(Self { separators, segments })
    }

    fn separators(text: &str) -> Result<Separators, ParseError> {
        let rest = text.strip_prefix("MSH").ok_or(ParseError::NoMshSegment)?;
        let mut chars = rest.chars();
        let field = chars.next().ok_or(ParseError::BadEncodingCharacters)?;
        // MSH-2: exactly four characters before the next field separator.
        let mut encoding = ['\0'; 4];
        let mut count = 0;
        for c in chars.take_while(|&c| c != field) {
            if count == encoding.len() {
                return Err(ParseError::BadEncodingCharacters);
            }
            encoding[count] = c;
            count += 1;
        }
        if count != encoding.len() {
            return Err(ParseError::BadEncodingCharacters);
        }
        let [component, repetition, escape, subcomponent] = encoding;
        let all = [field, component, repetition, escape, subcomponent];
        let distinct = all.iter().enumerate().all(|(i, c)| !all[..i].contains(c));
        if !distinct || all.iter().any(|c| c.is_alphanumeric() || *c == '\r' || *c == '\n') {
            return Err(ParseError::BadEncodingCharacters);
        }
        Ok(Separators { field, component, repetition, escape, subcomponent })
    }

    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// Every segment named `name`, in order.
    pub fn segments_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.name == name)
    }

    /// Component `c` (1-based) of the first repetition of a raw field, unescaped.
    pub fn component(&self, field: &str, c: usize) -> String {
        let first = field.split(self.separators.repetition).next().unwrap_or_default();
        let raw = c.checked_sub(1).and_then(|i| first.split(self.separators.component).nth(i)).unwrap_or_default();
        self.separators.unescape(raw)
    }

    /// MSH-9 as `TYPE^EVENT`, for example `ORU^R01`.
    pub fn message_type(&self) -> String {
        let msh9 = self.segment("MSH").map_or("", |s| s.field(9));
        format!("{}^{}", self.component(msh9, 1), self.component(msh9, 2))
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> String {
        self.segment("MSH").map(|s| self.separators.unescape(s.field(10))).unwrap_or_default()
    }
}

/// A parsed message that borrows its text: [`Message::parse`]'s checks and answers, without
/// copying a segment or a field. Segments and fields are found when asked for, so reading a few
/// fields of a message costs one pass over it; [`Message`] stays for code that keeps or edits
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageView<'a> {
    pub separators: Separators,
    /// The message from its MSH segment on.
    text: &'a str,
}

/// The non-empty lines of a text, split at CR or LF (found with memchr).
struct Lines<'a>(&'a str);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while !self.0.is_empty() {
            let end = memchr::memchr2(b'\r', b'\n', self.0.as_bytes()).unwrap_or(self.0.len());
            // CR and LF are ASCII: both cuts fall on character boundaries.
            let line = &self.0[..end];
            self.0 = self.0.get(end + 1..).unwrap_or("");
            if !line.is_empty() {
                return Some(line);
            }
        }
        None
    }
}

/// Where a line's segment name ends: at its first field separator, or its end. Valid names are
/// three letters or digits, which no separator can be, so the usual case looks at one byte.
fn name_end(line: &str, field_separator: char) -> usize {
    let bytes = line.as_bytes();
    let name_like = bytes.len() >= 3 && bytes[..3].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let separator_next = match bytes.get(3) {
        None => true,
        Some(&b) if field_separator.is_ascii() => b == field_separator as u8,
        Some(_) => line[3..].starts_with(field_separator),
    };
    if name_like && separator_next {
        return 3;
    }
    line.find(field_separator).unwrap_or(line.len())
}

/// The parts of a text split at a separator, as `str::split` gives them; an ASCII separator
/// is found eight bytes at a time ([`scan`]).
#[derive(Clone, Debug)]
struct Parts<'a> {
    rest: Option<&'a str>,
    separator: char,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let cut = if self.separator.is_ascii() {
            scan::find_byte(text.as_bytes(), self.separator as u8)
        } else {
            text.find(self.separator)
        };
        match cut {
            Some(at) => {
                self.rest = Some(&text[at + self.separator.len_utf8()..]);
                Some(&text[..at])
            }
            None => {
                self.rest = None;
                Some(text)
            }
        }
    }
}

/// Component `index` (0-based) of the first repetition of `field`, in one scan: as
/// `nth_part(nth_part(field, repetition, 0), component, index)`, for ASCII separators.
fn first_repetition_component(field: &str, repetition: u8, component: u8, index: usize) -> &str {
    let bytes = field.as_bytes();
    let (mut start, mut seen) = (0, 0);
    loop {
        let Some(at) = scan::find_either(&bytes[start..], repetition, component) else {
            return if seen == index { &field[start..] } else { "" };
        };
        let cut = start + at;
        if seen == index {
            return &field[start..cut];
        }
        if bytes[cut] == repetition {
            // The first repetition ended before component `index`.
            return "";
        }
        seen += 1;
        start = cut + 1;
    }
}

/// Part `n` (0-based) of `text` split at `separator`, as `text.split(separator).nth(n)` (or "").
fn nth_part(text: &str, separator: char, n: usize) -> &str {
    Parts { rest: Some(text), separator }.nth(n).unwrap_or("")
}

/// Short strings compared inline (segment names: a call to memcmp costs more than the bytes).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// One segment of a [`MessageView`]: its name and its line, fields split when asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentView<'a> {
    pub name: &'a str,
    /// The line after the name (starting with the field separator, or empty).
    rest: &'a str,
    field_separator: char,
    /// The field separator as text (MSH-1).
    field_separator_text: &'a str,
}

impl<'a> SegmentView<'a> {
    /// Field `n` (1-based, as [`Segment::field`]: in MSH, field 1 is the field separator).
    pub fn field(&self, n: usize) -> &'a str {
        n.checked_sub(1).and_then(|index| self.fields().nth(index)).unwrap_or("")
    }

    /// Fields 1 to `N` (as [`SegmentView::field`] gives them, "" past the segment's last) in
    /// one sweep of the segment that stops at field `N`: a reader that wants several fields of
    /// a segment scans it once.
    pub fn first_fields<const N: usize>(&self) -> [&'a str; N] {
        self.fields_then().0
    }

    /// [`SegmentView::first_fields`], and where field `N` ends, to read on from there: a reader
    /// that decides from the first fields whether it wants more does not scan the rest (an
    /// ECG strip's OBX-5) for nothing.
    pub fn fields_then<const N: usize>(&self) -> ([&'a str; N], FieldsAfter<'a>) {
        let mut fields = [""; N];
        // MSH-1 is the field separator, not a part of the line.
        let header = usize::from(same(self.name, "MSH") && N > 0);
        if header == 1 {
            fields[0] = self.field_separator_text;
        }
        // `rest` starts with the field separator, when it is not empty.
        let rest = self.rest.get(self.field_separator.len_utf8()..).filter(|_| !self.rest.is_empty());
        let mut after = FieldsAfter { rest, separator: self.field_separator };
        after.fill(&mut fields[header..]);
        (fields, after)
    }

    /// Fields 1, 2, ... in order, split as they are read: several fields of one segment cost
    /// one scan of it.
    pub fn fields(&self) -> impl Iterator<Item = &'a str> + 'a {
        let header = (self.name == "MSH").then_some(self.field_separator_text);
        // `rest` starts with the field separator, when it is not empty.
        let rest = self.rest.get(self.field_separator.len_utf8()..).filter(|_| !self.rest.is_empty());
        header.into_iter().chain(Parts { rest, separator: self.field_separator })
    }
}

/// The fields of a segment after those [`SegmentView::fields_then`] gave.
#[derive(Clone, Copy, Debug)]
pub struct FieldsAfter<'a> {
    /// From the next field on; `None` past the segment's end.
    rest: Option<&'a str>,
    separator: char,
}

impl<'a> FieldsAfter<'a> {
    /// The next `N` fields ("" past the segment's end).
    pub fn next_fields<const N: usize>(mut self) -> [&'a str; N] {
        let mut fields = [""; N];
        self.fill(&mut fields);
        fields
    }

    /// Fills `slots` with the next fields and moves past them.
    fn fill(&mut self, slots: &mut [&'a str]) {
        let Some(text) = self.rest else { return };
        if self.separator.is_ascii() {
            self.rest = scan::split_into(text, self.separator as u8, slots);
            return;
        }
        let mut parts = Parts { rest: Some(text), separator: self.separator };
        for slot in slots.iter_mut() {
            match parts.next() {
                Some(part) => *slot = part,
                None => break,
            }
        }
        self.rest = parts.rest;
    }
}

impl<'a> MessageView<'a> {
    /// Checks `bytes` as [`Message::parse`] does, with the same errors.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_visiting(bytes, |_, _| {})
    }

    /// [`MessageView::parse`] that shows `visit` each segment, in order, once its name checked:
    /// a reader that looks at every segment anyway needs no second pass over the lines. When
    /// parsing fails, `visit` has seen the segments before the error.
    pub fn parse_visiting(bytes: &'a [u8], mut visit: impl FnMut(&Self, SegmentView<'a>)) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
        let text = text.trim_start_matches(['\r', '\n']);
        let separators = Message::separators(text)?;
        let view = Self { separators, text };
        for segment in view.segments() {
            let name = segment.name;
            if name.len() != 3 || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(ParseError::BadSegmentName(name.chars().take(16).collect()));
            }
            visit(&view, segment);
        }
        Ok(view)
    }

    /// Every segment, in order.
    pub fn segments(&self) -> impl Iterator<Item = SegmentView<'a>> + 'a {
        let field_separator = self.separators.field;
        // The message starts with "MSH" and its field separator (checked by `parse`).
        let field_separator_text = self.text.get(3..3 + field_separator.len_utf8()).unwrap_or("");
        Lines(self.text).map(move |line| {
            let end = name_end(line, field_separator);
            SegmentView { name: &line[..end], rest: &line[end..], field_separator, field_separator_text }
        })
    }

    /// The first segment named `name`.
    pub fn segment(&self, name: &str) -> Option<SegmentView<'a>> {
        self.segments().find(|s| same(s.name, name))
    }

    /// Every segment named `name`, in order.
    pub fn segments_named(&self, name: &'a str) -> impl Iterator<Item = SegmentView<'a>> + 'a {
        self.segments().filter(move |s| same(s.name, name))
    }

    /// As [`Message::component`], borrowed unless an escape sequence had to be replaced.
    pub fn component(&self, field: &'a str, c: usize) -> std::borrow::Cow<'a, str> {
        const FUSED: usize = 8;
        if (1..=FUSED).contains(&c)
            && let Some(separators) = self.ascii_component_separators()
        {
            // One sweep finds the component and whether it needs unescaping.
            let mut slots = [scan::Component::default(); FUSED];
            scan::components_into(field.as_bytes(), separators, &mut slots[..c]);
            return self.unescaped(field, slots[c - 1]);
        }
        let Separators { repetition, component, .. } = self.separators;
        let raw = match c.checked_sub(1) {
            None => "",
            Some(i) if repetition.is_ascii() && component.is_ascii() => {
                first_repetition_component(field, repetition as u8, component as u8, i)
            }
            Some(i) => nth_part(nth_part(field, repetition, 0), component, i),
        };
        self.unescape(raw)
    }

    /// Where components 1 to `N` of the first repetition of a raw field lie in it, and whether
    /// each holds the escape character (then [`MessageView::component`] unescapes it), found in
    /// one sweep; `None` when the separators are not all ASCII. For hot readers: offsets come
    /// back a word at a time, where an array of `Cow`s is written and read back in pieces of
    /// different sizes, a stalled load each.
    pub fn component_bounds<const N: usize>(&self, field: &str) -> Option<[Component; N]> {
        let separators = self.ascii_component_separators()?;
        let mut slots = [Component::default(); N];
        scan::components_into(field.as_bytes(), separators, &mut slots);
        Some(slots)
    }

    /// Components 1 to `N` of the first repetition of a raw field (as [`MessageView::component`]
    /// gives them), found in one sweep of the field.
    pub fn first_components<const N: usize>(&self, field: &'a str) -> [std::borrow::Cow<'a, str>; N] {
        let Some(separators) = self.ascii_component_separators() else {
            return std::array::from_fn(|i| self.component(field, i + 1));
        };
        let mut slots = [scan::Component::default(); N];
        scan::components_into(field.as_bytes(), separators, &mut slots);
        std::array::from_fn(|i| self.unescaped(field, slots[i]))
    }

    /// The repetition, component and escape separators, when all three are ASCII (as they
    /// nearly always are: `~`, `^`, `\`).
    fn ascii_component_separators(&self) -> Option<scan::ComponentSeparators> {
        let Separators { repetition, component, escape, .. } = self.separators;
        (repetition.is_ascii() && component.is_ascii() && escape.is_ascii()).then_some(scan::ComponentSeparators {
            repetition: repetition as u8,
            component: component as u8,
            escape: escape as u8,
        })
    }

    /// A component of `field` [`scan::components_into`] found, unescaped if it holds the escape
    /// character.
    fn unescaped(&self, field: &'a str, found: scan::Component) -> std::borrow::Cow<'a, str> {
        // Cuts at ASCII separators fall on character boundaries.
        let raw = field.get(found.start..found.end).unwrap_or_default();
        if found.escaped {
            std::borrow::Cow::Owned(self.separators.unescape(raw))
        } else {
            std::borrow::Cow::Borrowed(raw)
        }
    }

    /// The repetitions of a raw field, in order (a field without repetition separator is one).
    pub fn repetitions(&self, field: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        Parts { rest: Some(field), separator: self.separators.repetition }
    }

    /// `value` with its escape sequences replaced, borrowed when it has none.
    pub fn unescape(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        let escape = self.separators.escape;
        let escaped = if escape.is_ascii() {
            scan::find_byte(value.as_bytes(), escape as u8).is_some()
        } else {
            value.contains(escape)
        };
        if escaped {
            std::borrow::Cow::Owned(self.separators.unescape(value))
        } else {
            std::borrow::Cow::Borrowed(value)
        }
    }

    /// As [`Message::control_id`].
    pub fn control_id(&self) -> std::borrow::Cow<'a, str> {
        self.segment("MSH").map(|s| self.unescape(s.field(10))).unwrap_or_default()
    }
}

/// Writes a message field by field; values given to [`SegmentWriter::field`] are escaped.
pub struct Writer {
    separators: Separators,
    out: String,
}

impl Writer {
    pub fn new(separators: Separators) -> Self {
        Self::with_capacity(separators, 0)
    }

    /// A writer whose buffer holds `bytes` before it grows.
    pub fn with_capacity(separators: Separators, bytes: usize) -> Self {
        Self { separators, out: String::with_capacity(bytes) }
    }

    /// Starts a segment; MSH gets its separators written for it.
    pub fn segment(&mut self, name: &str) -> SegmentWriter<'_> {
        self.out.push_str(name);
        if name == "MSH" {
            self.out.push(self.separators.field);
            self.out.push_str(&self.separators.encoding_characters());
        }
        SegmentWriter { writer: self }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

pub struct SegmentWriter<'a> {
    writer: &'a mut Writer,
}

impl SegmentWriter<'_> {
    /// Appends one field whose components are escaped and joined with the component separator.
    pub fn field(self, components: &[&str]) -> Self {
        let sep = self.writer.separators;
        self.writer.out.push(sep.field);
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                self.writer.out.push(sep.component);
            }
            sep.escape_into(&mut self.writer.out, component);
        }
        self
    }

    /// Appends one field of numbers, each with `decimals` decimals, joined with the component
    /// separator: a waveform's samples, written without a string per sample (numbers need no
    /// escaping).
    pub fn numeric_field(self, values: &[f64], decimals: usize) -> Self {
        use std::fmt::Write as _;
        let sep = self.writer.separators;
        self.writer.out.push(sep.field);
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.writer.out.push(sep.component);
            }
            write!(self.writer.out, "{value:.decimals$}").expect("writing to a String cannot fail");
        }
        self
    }

    /// Ends the segment with a carriage return.
    pub fn end(self) {
        self.writer.out.push('\r');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MSH|^~\\&|MONITOR|ICU|GATEWAY|HOSP|20261122030000||ORU^R01|MSG0001|P|2.5\r\
                          PID|1||P-1001^^^HOSP^MR||Doe^Jane\r\
                          OBX|1|NM|59408-5^Oxygen saturation^LN||88.5|%|90-100|L|||F\r";

    /// The view answers every question as the owned message does.
    fn assert_view_agrees(bytes: &[u8]) {
        let (owned, view) = (Message::parse(bytes), MessageView::parse(bytes));
        let (owned, view) = match (owned, view) {
            (Ok(owned), Ok(view)) => (owned, view),
            (Err(a), Err(b)) => return assert_eq!(a, b, "{:?}", String::from_utf8_lossy(bytes)),
            (a, b) => panic!("{:?}: {a:?} against {b:?}", String::from_utf8_lossy(bytes)),
        };
        assert_eq!(owned.separators, view.separators);
        assert_eq!(owned.control_id(), view.control_id());
        let segments: Vec<SegmentView<'_>> = view.segments().collect();
        assert_eq!(owned.segments.len(), segments.len());
        for (segment, seen) in owned.segments.iter().zip(&segments) {
            assert_eq!(segment.name, seen.name);
            assert_eq!(seen.fields().collect::<Vec<_>>(), segment.fields, "{}", segment.name);
            let first: [&str; 14] = seen.first_fields();
            for (i, field) in first.into_iter().enumerate() {
                assert_eq!(field, segment.field(i + 1), "{} field {}", segment.name, i + 1);
            }
            let (_, after) = seen.fields_then::<3>();
            let next: [&str; 6] = after.next_fields();
            for (i, field) in next.into_iter().enumerate() {
                assert_eq!(field, segment.field(i + 4), "{} field {}", segment.name, i + 4);
            }
            for n in 0..segment.fields.len() + 3 {
                assert_eq!(segment.field(n), seen.field(n), "{} field {n}", segment.name);
                for c in 0..10 {
                    assert_eq!(owned.component(segment.field(n), c), view.component(seen.field(n), c));
                }
                if let Some(bounds) = view.component_bounds::<5>(seen.field(n)) {
                    for (i, at) in bounds.iter().enumerate() {
                        let raw = &seen.field(n)[at.start..at.end];
                        assert_eq!(owned.component(segment.field(n), i + 1), owned.separators.unescape(raw));
                        assert_eq!(at.escaped, raw.contains(owned.separators.escape));
                    }
                }
                let components: [_; 5] = view.first_components(seen.field(n));
                for (i, component) in components.iter().enumerate() {
                    assert_eq!(owned.component(segment.field(n), i + 1), *component);
                }
            }
        }
        for name in ["MSH", "PID", "OBX", "MSA", "ZZZ"] {
            assert_eq!(owned.segment(name).map(|s| s.name.clone()), view.segment(name).map(|s| s.name.to_owned()));
            assert_eq!(owned.segments_named(name).count(), view.segments_named(name).count());
        }
    }

    #[test]
    fn components_are_found_as_two_splits_find_them() {
        for field in ["", "a", "a^b", "a^b~c^d", "~a", "^~^", "a~b", "é^ü~x^y^z", "^^^"] {
            for index in 0..5 {
                let expected = nth_part(nth_part(field, '~', 0), '^', index);
                assert_eq!(first_repetition_component(field, b'~', b'^', index), expected, "{field:?} {index}");
            }
        }
    }

    #[test]
    fn parts_are_found_as_split_finds_them() {
        for text in ["", "a", "a|b", "|", "||x|", "é|ü|ab", "ü"] {
            for separator in ['|', '^', 'ü'] {
                for n in 0..5 {
                    assert_eq!(
                        nth_part(text, separator, n),
                        text.split(separator).nth(n).unwrap_or(""),
                        "{text:?} {n}"
                    );
                }
            }
        }
        for line in ["MSH", "PID|1", "PI|D|1", "P1|2|", "X", "", "OBX^1", "ÉÉ|1", "ABCD|1"] {
            assert_eq!(name_end(line, '|'), line.find('|').unwrap_or(line.len()), "{line:?}");
        }
    }

    #[test]
    fn the_borrowing_view_agrees_with_the_owned_message() {
        let samples: &[&[u8]] = &[
            SAMPLE.as_bytes(),
            b"\r\nMSH|^~\\&|A|B|C|D|20260101||ACK|C\\F\\1|P|2.5\rMSA|AA|C\\S\\1\r\r",
            b"MSH|^~\\&\rPID|||P^1\nOBX|1|NM|8867-4^HR^LN||72|/min\nZZ1\r",
            b"MSH#!@$%#A#B\rPID###P!x@y",
            b"MSH|^~\\&|",
            b"MSH|^~\\",
            b"MSH|^~\\&&|A",
            b"MSH|^~|&|A",
            b"MSH",
            b"PID|1",
            b"MSH|^~\\&|A\rpid|1",
            b"MSH|^~\\&|A\rPIDX|1",
            b"MSH|^~\\&|A\rPI",
            b"\xff\xfe",
            b"",
            b"MSH|^~\\&|A\rPID|1||a\\F\\b^c\\S\\d~e^f\\E\\^g^h^i^j^k^l^m^n\rOBX|1|SN|^1^:^2|\\X\\^\\\r",
            "MSH|é~\\&|A\rPID|||aébéc~déeéf\\T\\é\r".as_bytes(),
            "MSH|^~ü&|A\rPID|||aü^Fü^b^c\rOBX|1|2|3|4|5|6|7|8|9|10|11|12|13|14|15\r".as_bytes(),
        ];
        for sample in samples {
            assert_view_agrees(sample);
        }
    }

    #[test]
    fn parses_header_and_fields() {
        let message = Message::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(message.message_type(), "ORU^R01");
        assert_eq!(message.control_id(), "MSG0001");
        let msh = message.segment("MSH").unwrap();
        assert_eq!(msh.field(1), "|");
        assert_eq!(msh.field(2), "^~\\&");
        assert_eq!(msh.field(12), "2.5");
        let obx = message.segment("OBX").unwrap();
        assert_eq!(message.component(obx.field(3), 1), "59408-5");
        assert_eq!(obx.field(5), "88.5");
        let pid = message.segment("PID").unwrap();
        assert_eq!(message.component(pid.field(5), 2), "Jane");
        assert_eq!(obx.field(99), "");
    }

    #[test]
    fn honours_declared_separators() {
        let text = SAMPLE.replace('|', "#");
        let message = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(message.separators.field, '#');
        assert_eq!(message.segment("OBX").unwrap().field(5), "88.5");
    }

    #[test]
    fn escaping_round_trips_every_separator() {
        let seps = Separators::default();
        let value = r"a|b^c~d\e&f";
        let escaped = seps.escape(value);
        assert_eq!(escaped, r"a\F\b\S\c\R\d\E\e\T\f");
        assert_eq!(seps.unescape(&escaped), value);
        assert_eq!(seps.escape("plain 88.5"), "plain 88.5");
        assert_eq!(seps.escape("two\r\nlines"), "two  lines");
        assert_eq!(seps.unescape(r"x\H\y\"), r"x\H\y\", "unknown and unterminated sequences are kept");
    }

    /// Found by the `hl7_parser` fuzz target: a line break in a value was replaced by a space
    /// after the separators were checked, so with a space as a separator (which a message may
    /// declare) the space split the value, or started an escape sequence.
    #[test]
    fn line_breaks_in_values_round_trip_when_a_space_is_a_separator() {
        let component = Separators { component: ' ', ..Separators::default() };
        assert_eq!(component.escape("line\rbreak"), r"line\S\break");
        assert_eq!(component.unescape(&component.escape("line\rbreak")), "line break");
        let escape = Separators { escape: ' ', ..Separators::default() };
        assert_eq!(escape.escape("a\nb"), "a E b");
        assert_eq!(escape.unescape(&escape.escape("a\nb")), "a b");
        // Through a written message: the value stays one component.
        let mut writer = Writer::new(component);
        writer.segment("MSH").field(&["SIM"]).end();
        writer.segment("OBX").field(&["two\r\nlines", "next"]).end();
        let text = writer.finish();
        let message = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(message.separators, component);
        let obx = message.segment("OBX").unwrap();
        assert_eq!(message.component(obx.field(1), 1), "two  lines", "{text:?}");
        assert_eq!(message.component(obx.field(1), 2), "next", "{text:?}");
    }

    #[test]
    fn writer_output_parses_back() {
        let mut writer = Writer::new(Separators::default());
        writer.segment("MSH").field(&["SIM"]).field(&["WARD"]).end();
        writer.segment("PID").field(&["1"]).field(&[]).field(&["P|1", "", "", "HOSP"]).end();
        let text = writer.finish();
        assert!(text.starts_with("MSH|^~\\&|SIM|WARD\r"), "{text:?}");
        let message = Message::parse(text.as_bytes()).unwrap();
        let pid = message.segment("PID").unwrap();
        assert_eq!(message.component(pid.field(3), 1), "P|1");
        assert_eq!(message.component(pid.field(3), 4), "HOSP");
    }

    #[test]
    fn numeric_fields_join_rounded_values() {
        let mut writer = Writer::new(Separators::default());
        writer.segment("OBX").field(&["1"]).numeric_field(&[0.0, 1.2345, -0.25], 3).end();
        assert_eq!(writer.finish(), "OBX|1|0.000^1.234^-0.250\r");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(Message::parse(b"PID|1\r"), Err(ParseError::NoMshSegment));
        assert_eq!(Message::parse(b"MSH|^~\r"), Err(ParseError::BadEncodingCharacters));
        assert_eq!(Message::parse(b"MSH|^^\\&|x\r"), Err(ParseError::BadEncodingCharacters));
        assert_eq!(Message::parse(&[0xff, 0xfe]), Err(ParseError::NotUtf8));
        assert!(matches!(Message::parse(b"MSH|^~\\&|x\rpid|1\r"), Err(ParseError::BadSegmentName(_))));
        assert_eq!(Message::parse(b""), Err(ParseError::NoMshSegment));
    }
}
