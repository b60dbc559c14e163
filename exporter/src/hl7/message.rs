//! What one HL7 v2 message says, as the exporter needs it: its kind, its control id, the ACK it
//! is (MSA), and the vital signs its OBX segments carry for the patient in PID-3, looked up by
//! LOINC code in the clinical catalogue.

use std::borrow::Cow;

use serde::Serialize;
use wardwatch_clinical::VitalSign;
use wardwatch_clinical::hl7::{MessageView, ParseError, SegmentView};
use wardwatch_clinical::vitals::by_loinc;

/// Why a message, or one of its observations, could not be used. The names double as the
/// `reason` label of `wardwatch_hl7_parse_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hl7Error {
    NotUtf8,
    NoMshSegment,
    BadEncodingCharacters,
    BadSegmentName,
    /// An MLLP frame longer than the exporter's limit.
    OversizedFrame,
    /// Part of the TCP stream was never captured, so the frame it fell into was lost.
    StreamGap,
    /// An observation result without a patient identifier in PID-3.
    MissingPatient,
    /// An OBX with a known LOINC code whose value is not a finite number.
    NonNumericValue,
    /// An OBX whose unit (OBX-6) is not the catalogue's unit for its LOINC code.
    UnitMismatch,
}

impl Hl7Error {
    pub const ALL: [Self; 9] = [
        Self::NotUtf8,
        Self::NoMshSegment,
        Self::BadEncodingCharacters,
        Self::BadSegmentName,
        Self::OversizedFrame,
        Self::StreamGap,
        Self::MissingPatient,
        Self::NonNumericValue,
        Self::UnitMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotUtf8 => "not_utf8",
            Self::NoMshSegment => "no_msh_segment",
            Self::BadEncodingCharacters => "bad_encoding_characters",
            Self::BadSegmentName => "bad_segment_name",
            Self::OversizedFrame => "oversized_frame",
            Self::StreamGap => "stream_gap",
            Self::MissingPatient => "missing_patient",
            Self::NonNumericValue => "non_numeric_value",
            Self::UnitMismatch => "unit_mismatch",
        }
    }
}

impl From<ParseError> for Hl7Error {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::NotUtf8 => Self::NotUtf8,
            ParseError::NoMshSegment => Self::NoMshSegment,
            ParseError::BadEncodingCharacters => Self::BadEncodingCharacters,
            ParseError::BadSegmentName(_) => Self::BadSegmentName,
        }
    }
}

/// The kinds of message the exporter tells apart (a bounded label set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    OruR01,
    Ack,
    Other,
}

impl MessageKind {
    pub const ALL: [Self; 3] = [Self::OruR01, Self::Ack, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OruR01 => "oru_r01",
            Self::Ack => "ack",
            Self::Other => "other",
        }
    }

    /// The kind named by MSH-9.
    fn of(message: &MessageView<'_>, msh9: &str) -> Self {
        match (message.component(msh9, 1).as_ref(), message.component(msh9, 2).as_ref()) {
            ("ORU", "R01") => Self::OruR01,
            ("ACK", _) => Self::Ack,
            _ => Self::Other,
        }
    }
}

/// MSA-1, grouped: accepted (AA/CA), error (AE/CE), rejected (AR/CR), anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AckResult {
    Accepted,
    Error,
    Rejected,
    Unknown,
}

impl AckResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Error => "error",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown",
        }
    }

    fn from_code(code: &str) -> Self {
        match code {
            "AA" | "CA" => Self::Accepted,
            "AE" | "CE" => Self::Error,
            "AR" | "CR" => Self::Rejected,
            _ => Self::Unknown,
        }
    }
}

/// An acknowledgement: its result and the control id (MSA-2) of the message it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    pub result: AckResult,
    pub acknowledged_control_id: Cow<'a, str>,
}

/// One vital-sign value (of the message's patient).
#[derive(Clone, Debug, PartialEq)]
pub struct VitalObservation {
    pub vital: &'static VitalSign,
    pub value: f64,
}

/// What a message that parsed says. Its texts are borrowed from the message's bytes unless an
/// escape sequence had to be replaced.
#[derive(Clone, Debug, PartialEq)]
pub struct Hl7Message<'a> {
    pub kind: MessageKind,
    pub control_id: Cow<'a, str>,
    /// Present when the message carries an MSA segment.
    pub ack: Option<Ack<'a>>,
    /// The patient (PID-3) the observations are of: read when the message has OBX segments,
    /// and never empty then; empty otherwise.
    pub patient: Cow<'a, str>,
    pub observations: Vec<VitalObservation>,
    /// Problems with single OBX segments; the message's other observations still count.
    pub observation_errors: Vec<Hl7Error>,
}

/// Interprets the bytes of one HL7 message (MLLP framing already removed).
pub fn interpret(bytes: &[u8]) -> Result<Hl7Message<'_>, Hl7Error> {
    // One pass over the segments, as the borrowing view checks them: the first MSH, MSA and PID
    // (as `segment` would find them) are kept, and each OBX is read as it comes. The fields
    // read are sliced, not copied.
    let (mut msh, mut msa, mut pid, mut has_obx) = (None, None, None, false);
    let mut observations = Vec::new();
    let mut observation_errors = Vec::new();
    let message = MessageView::parse_visiting(bytes, |message, segment| match segment.name.as_bytes() {
        b"MSH" if msh.is_none() => msh = Some(segment),
        b"MSA" if msa.is_none() => msa = Some(segment),
        b"PID" if pid.is_none() => pid = Some(segment),
        b"OBX" => {
            has_obx = true;
            match read_observation(message, &segment) {
                Some(Ok(observation)) => observations.push(observation),
                Some(Err(error)) => observation_errors.push(error),
                None => {}
            }
        }
        _ => {}
    })?;
    // MSH-9 and MSH-10 in one scan of the header.
    let (msh9, msh10) = msh.map_or(("", ""), |msh| {
        let mut fields = msh.fields();
        (fields.nth(8).unwrap_or(""), fields.next().unwrap_or(""))
    });
    let kind = MessageKind::of(&message, msh9);
    let ack = msa.map(|msa| Ack {
        result: AckResult::from_code(&message.component(msa.field(1), 1)),
        acknowledged_control_id: message.unescape(msa.field(2)),
    });
    let mut patient = Cow::Borrowed("");
    if has_obx {
        patient = pid.map(|pid| message.component(pid.field(3), 1)).unwrap_or_default();
        if patient.is_empty() {
            return Err(Hl7Error::MissingPatient);
        }
    }
    Ok(Hl7Message { kind, control_id: message.unescape(msh10), ack, patient, observations, observation_errors })
}

/// The vital sign one OBX segment carries, or why it cannot be used; `None` for an OBX whose
/// code is outside the catalogue (waveform labels, device settings): not a vital sign, and
/// not an error.
fn read_observation(
    message: &MessageView<'_>,
    segment: &SegmentView<'_>,
) -> Option<Result<VitalObservation, Hl7Error>> {
    // OBX-3, OBX-5 and OBX-6 in one scan of the segment.
    let mut fields = segment.fields();
    let vital = by_loinc(&message.component(fields.nth(2).unwrap_or(""), 1))?;
    let value = fields.nth(1).unwrap_or("");
    let unit = message.component(fields.next().unwrap_or(""), 1);
    if !unit.is_empty() && unit != vital.ucum {
        return Some(Err(Hl7Error::UnitMismatch));
    }
    Some(match message.component(value, 1).trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(VitalObservation { vital, value }),
        _ => Err(Hl7Error::NonNumericValue),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_clinical::vitals::by_key;

    const ORU: &str = "MSH|^~\\&|monitor-7|st-mary|WARDWATCH|st-mary|20261122030405||ORU^R01^ORU_R01|MSG42|P|2.5\r\
                       PID|1||P-1001^^^st-mary^MR||^\r\
                       PV1|1|I|icu-east^^7\r\
                       OBR|1||MSG42|VITALS^Vital signs^L\r\
                       OBX|1|NM|59408-5^Oxygen saturation^LN||88.5|%^%^UCUM||||F\r\
                       OBX|2|NM|8867-4^Heart rate^LN||112|/min^/min^UCUM||||F\r\
                       OBX|3|NM|8310-5^Body temperature^LN||98.6|[degF]^[degF]^UCUM||||F\r\
                       OBX|4|NM|9279-1^Respiratory rate^LN||fast|/min^/min^UCUM||||F\r\
                       OBX|5|NM|0000-0^Not a vital^LN||1|1||||F\r";

    #[test]
    fn observations_come_out_by_loinc_for_the_patient() {
        let message = interpret(ORU.as_bytes()).unwrap();
        assert_eq!(message.kind, MessageKind::OruR01);
        assert_eq!(message.control_id, "MSG42");
        assert_eq!(message.ack, None);
        assert_eq!(message.patient, "P-1001");
        assert_eq!(
            message.observations,
            [
                VitalObservation { vital: by_key("spo2").unwrap(), value: 88.5 },
                VitalObservation { vital: by_key("heart_rate").unwrap(), value: 112.0 },
            ]
        );
        assert_eq!(message.observation_errors, [Hl7Error::UnitMismatch, Hl7Error::NonNumericValue]);
    }

    #[test]
    fn acks_name_the_message_they_answer() {
        let ack = "MSH|^~\\&|WARDWATCH|st-mary|monitor-7|st-mary|20261122030406||ACK^R01^ACK|ACK1|P|2.5\r\
                   MSA|AE|MSG42|bad\r";
        let message = interpret(ack.as_bytes()).unwrap();
        assert_eq!(message.kind, MessageKind::Ack);
        assert_eq!(message.ack, Some(Ack { result: AckResult::Error, acknowledged_control_id: "MSG42".into() }));
        assert!(message.observations.is_empty());
    }

    #[test]
    fn an_observation_without_a_patient_is_refused() {
        let no_pid = ORU.replace("PID|1||P-1001^^^st-mary^MR||^\r", "");
        assert_eq!(interpret(no_pid.as_bytes()), Err(Hl7Error::MissingPatient));
    }

    #[test]
    fn unparseable_messages_are_errors_by_reason() {
        assert_eq!(interpret(b"PID|1\r"), Err(Hl7Error::NoMshSegment));
        assert_eq!(interpret(&[0xff]), Err(Hl7Error::NotUtf8));
        assert_eq!(interpret(b"MSH|^~\\&|x\rpid|1\r"), Err(Hl7Error::BadSegmentName));
        assert_eq!(interpret(b"MSH|^^\\&|x\r"), Err(Hl7Error::BadEncodingCharacters));
    }

    #[test]
    fn other_message_types_are_told_apart() {
        let adt = "MSH|^~\\&|A|B|C|D|20261122000000||ADT^A01|X1|P|2.5\rPID|1||P-1\r";
        assert_eq!(interpret(adt.as_bytes()).unwrap().kind, MessageKind::Other);
    }
}
