//! What the gateway makes of one deframed message: validate it as an ORU^R01 a device sends,
//! decide the acknowledgement code, and build the ACK. Pure: no sockets, no clock.

use wardwatch_clinical::hl7::{Message, ParseError};

use crate::ack::{self, AckCode};

/// Why a message (or bytes on the wire) was not accepted. The names are metric label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    NotUtf8,
    NoMsh,
    BadEncodingCharacters,
    BadSegment,
    UnsupportedMessageType,
    UnsupportedVersion,
    MissingSender,
    MissingSegment,
    BadObservation,
    /// A frame longer than the gateway's limit (from the MLLP decoder).
    Oversized,
    /// Bytes outside any MLLP frame (from the MLLP decoder).
    Garbage,
}

impl Malformed {
    pub const ALL: [Malformed; 11] = [
        Malformed::NotUtf8,
        Malformed::NoMsh,
        Malformed::BadEncodingCharacters,
        Malformed::BadSegment,
        Malformed::UnsupportedMessageType,
        Malformed::UnsupportedVersion,
        Malformed::MissingSender,
        Malformed::MissingSegment,
        Malformed::BadObservation,
        Malformed::Oversized,
        Malformed::Garbage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::NotUtf8 => "not_utf8",
            Malformed::NoMsh => "no_msh",
            Malformed::BadEncodingCharacters => "bad_encoding_characters",
            Malformed::BadSegment => "bad_segment",
            Malformed::UnsupportedMessageType => "unsupported_message_type",
            Malformed::UnsupportedVersion => "unsupported_version",
            Malformed::MissingSender => "missing_sender",
            Malformed::MissingSegment => "missing_segment",
            Malformed::BadObservation => "bad_observation",
            Malformed::Oversized => "oversized",
            Malformed::Garbage => "garbage",
        }
    }

    /// The acknowledgement: `AR` when the gateway does not take this kind of message at all,
    /// `AE` when it does but this one is broken.
    fn ack_code(self) -> AckCode {
        match self {
            Malformed::UnsupportedMessageType | Malformed::UnsupportedVersion => AckCode::Reject,
            _ => AckCode::Error,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Malformed::NotUtf8 => "message is not UTF-8",
            Malformed::NoMsh => "no MSH segment",
            Malformed::BadEncodingCharacters => "invalid encoding characters",
            Malformed::BadSegment => "invalid segment",
            Malformed::UnsupportedMessageType => "only ORU^R01 is accepted",
            Malformed::UnsupportedVersion => "only HL7 v2.x is accepted",
            Malformed::MissingSender => "MSH-3 sending application is empty",
            Malformed::MissingSegment => "PID and OBR are required",
            Malformed::BadObservation => "an NM observation has a non-numeric value",
            Malformed::Oversized => "message too large",
            Malformed::Garbage => "bytes outside MLLP frames",
        }
    }
}

impl From<ParseError> for Malformed {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::NotUtf8 => Malformed::NotUtf8,
            ParseError::NoMshSegment => Malformed::NoMsh,
            ParseError::BadEncodingCharacters => Malformed::BadEncodingCharacters,
            ParseError::BadSegmentName(_) => Malformed::BadSegment,
        }
    }
}

/// The gateway's answer to one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub code: AckCode,
    /// Set unless the message was accepted.
    pub malformed: Option<Malformed>,
    /// MSH-3 of an accepted message.
    pub device: Option<String>,
    /// The ACK to send back; `None` when not even an MSH could be read to address it.
    pub ack: Option<String>,
}

/// Names for the gateway's ACKs.
#[derive(Clone, Debug)]
pub struct AckHeader<'a> {
    /// MSH-3 of the ACK: the gateway's application name.
    pub sender: &'a str,
    pub timestamp: &'a str,
    pub control_id: &'a str,
}

/// Validates `bytes` (one message without MLLP framing) and builds the answer.
pub fn judge(bytes: &[u8], header: &AckHeader<'_>) -> Verdict {
    let (message, malformed) = match Message::parse(bytes) {
        Ok(message) => {
            let problem = validate(&message).err();
            (Some(message), problem)
        }
        // The body is broken but the header may still be readable: answer it with AE.
        Err(error) => (msh_only(bytes), Some(Malformed::from(error))),
    };
    let code = malformed.map_or(AckCode::Accept, Malformed::ack_code);
    let text = malformed.map_or("", Malformed::text);
    let ack = message.as_ref().map(|m| ack::build(m, header.sender, code, text, header.timestamp, header.control_id));
    let device = match (&message, malformed) {
        (Some(m), None) => Some(sending_application(m)),
        _ => None,
    };
    Verdict { code, malformed, device, ack }
}

fn sending_application(message: &Message) -> String {
    message.segment("MSH").map(|msh| message.component(msh.field(3), 1)).unwrap_or_default()
}

/// The message reduced to its first segment, if that is a readable MSH.
fn msh_only(bytes: &[u8]) -> Option<Message> {
    let end = bytes.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(bytes.len());
    Message::parse(&bytes[..end]).ok()
}

fn validate(message: &Message) -> Result<(), Malformed> {
    if message.message_type() != "ORU^R01" {
        return Err(Malformed::UnsupportedMessageType);
    }
    let msh = message.segment("MSH").ok_or(Malformed::NoMsh)?;
    if !msh.field(12).starts_with("2.") {
        return Err(Malformed::UnsupportedVersion);
    }
    if sending_application(message).is_empty() {
        return Err(Malformed::MissingSender);
    }
    let has = |name| message.segment(name).is_some();
    // OBX is optional: in v2.5's ORU_R01 the OBSERVATION group under OBR is `[{...}]`, and an
    // infusion pump's status message carries none of the catalogue's vital signs.
    if !(has("PID") && has("OBR")) {
        return Err(Malformed::MissingSegment);
    }
    for obx in message.segments_named("OBX") {
        if obx.field(2) == "NM" && obx.field(5).trim().parse::<f64>().map_or(true, |v| !v.is_finite()) {
            return Err(Malformed::BadObservation);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oru;
    use crate::physiology::{Physiology, Vital};

    const HEADER: AckHeader<'static> = AckHeader { sender: "WARDWATCH", timestamp: "20261122000000", control_id: "A1" };

    fn context(device_id: &str) -> oru::Context {
        oru::Context {
            device_id: device_id.into(),
            hospital_id: "st-mary".into(),
            receiver: "WARDWATCH".into(),
            patient_id: "P-1".into(),
            bed: "3".into(),
            ward: "icu".into(),
            profile: Default::default(),
        }
    }

    fn oru_message() -> String {
        oru::build(&context("monitor-3"), &oru::observations(Physiology::new().vitals(), &Vital::ALL), 0, "C42")
    }

    fn msa(verdict: &Verdict) -> (String, String) {
        let ack = Message::parse(verdict.ack.as_ref().expect("an ACK").as_bytes()).unwrap();
        let msa = ack.segment("MSA").unwrap();
        (msa.field(1).to_owned(), msa.field(2).to_owned())
    }

    #[test]
    fn a_device_oru_is_accepted_and_acknowledged() {
        let verdict = judge(oru_message().as_bytes(), &HEADER);
        assert_eq!(verdict.malformed, None);
        assert_eq!(verdict.device.as_deref(), Some("monitor-3"));
        assert_eq!(msa(&verdict), ("AA".into(), "C42".into()));
    }

    #[test]
    fn an_oru_without_observations_is_accepted_as_a_status_message() {
        let verdict = judge(oru::build(&context("pump-3"), &[], 0, "C43").as_bytes(), &HEADER);
        assert_eq!(verdict.malformed, None);
        assert_eq!(msa(&verdict), ("AA".into(), "C43".into()));
    }

    #[test]
    fn broken_messages_with_a_header_get_ae_or_ar() {
        let good = oru_message();
        let cases = [
            (good.replace("ORU^R01^ORU_R01", "ADT^A01"), Malformed::UnsupportedMessageType, "AR"),
            (good.replace("|P|2.5", "|P|3.0"), Malformed::UnsupportedVersion, "AR"),
            (good.replace("|monitor-3|", "||"), Malformed::MissingSender, "AE"),
            (good.replace("\rPID|", "\rZZZ|"), Malformed::MissingSegment, "AE"),
            (good.replace("\rOBR|", "\rZZZ|"), Malformed::MissingSegment, "AE"),
            (
                good.replacen("|NM|8867-4^Heart rate^LN||75|", "|NM|8867-4^Heart rate^LN||fast|", 1),
                Malformed::BadObservation,
                "AE",
            ),
            (good.replace("\rPID|", "\rpid|"), Malformed::BadSegment, "AE"),
        ];
        for (text, reason, code) in cases {
            assert_ne!(text, good, "{reason:?}: the case must change the message");
            let verdict = judge(text.as_bytes(), &HEADER);
            assert_eq!(verdict.malformed, Some(reason));
            assert_eq!(verdict.device, None);
            assert_eq!(msa(&verdict), (code.into(), "C42".into()), "{reason:?}");
        }
    }

    #[test]
    fn without_a_readable_header_there_is_no_one_to_answer() {
        for (bytes, reason) in [
            (&b"PID|1\r"[..], Malformed::NoMsh),
            (&b"MSH|^^\\&|x\r"[..], Malformed::BadEncodingCharacters),
            (&[0xff, 0xfe][..], Malformed::NotUtf8),
        ] {
            let verdict = judge(bytes, &HEADER);
            assert_eq!((verdict.malformed, verdict.ack), (Some(reason), None));
        }
    }

    #[test]
    fn label_values_are_unique() {
        let names: std::collections::HashSet<_> = Malformed::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names.len(), Malformed::ALL.len());
    }
}
