//! What one HL7 v2 message says, as the exporter needs it: its kind, its control id, the ACK it
//! is (MSA), and the vital signs its OBX segments carry for its patient (PID-3, or the bed of
//! PV1-3), looked up by LOINC or MDC code in the clinical terminology table and converted into
//! each gauge's unit.

use std::borrow::Cow;

use serde::Serialize;
use wardwatch_clinical::VitalSign;
use wardwatch_clinical::hl7::{MessageView, ParseError, SegmentView};
use wardwatch_clinical::obx::{self, ValueError};
use wardwatch_clinical::terminology::lookup;

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
    /// An observation result without a patient identifier in PID-3 or a bed in PV1-3.
    MissingPatient,
    /// An OBX with a vital sign's code whose value is not a finite number (of type NM or SN).
    NonNumericValue,
    /// An OBX with a vital sign's code whose SN value is a bound (`>^90`) or a range.
    InexactValue,
    /// An OBX whose unit (OBX-6) is not one the terminology table lists for its code.
    UnitMismatch,
}

impl Hl7Error {
    pub const ALL: [Self; 10] = [
        Self::NotUtf8,
        Self::NoMshSegment,
        Self::BadEncodingCharacters,
        Self::BadSegmentName,
        Self::OversizedFrame,
        Self::StreamGap,
        Self::MissingPatient,
        Self::NonNumericValue,
        Self::InexactValue,
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
            Self::InexactValue => "inexact_value",
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
        let [kind, event] = message.first_components(msh9);
        match (kind.as_ref(), event.as_ref()) {
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

/// One vital-sign value (of the message's patient), in its gauge's unit.
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
    /// The patient the observations are of ([`subject`]): read when the message has OBX
    /// segments, and never empty then; empty otherwise.
    pub patient: Cow<'a, str>,
    pub observations: Vec<VitalObservation>,
    /// Problems with single OBX segments; the message's other observations still count.
    pub observation_errors: Vec<Hl7Error>,
}

/// Interprets the bytes of one HL7 message (MLLP framing already removed).
pub fn interpret(bytes: &[u8]) -> Result<Hl7Message<'_>, Hl7Error> {
    interpret_reusing(bytes, Vec::new(), Vec::new())
}

/// [`interpret`] into vectors given for the message's observations and errors (emptied first):
/// a reader that hands back those of the message before allocates nothing per message.
pub fn interpret_reusing(
    bytes: &[u8],
    mut observations: Vec<VitalObservation>,
    mut observation_errors: Vec<Hl7Error>,
) -> Result<Hl7Message<'_>, Hl7Error> {
    observations.clear();
    observation_errors.clear();
    // One pass over the segments, as the borrowing view checks them: the first MSH, MSA and PID
    // (as `segment` would find them) are kept, and each OBX is read as it comes. The fields
    // read are sliced, not copied, each segment's in one scan.
    let (mut msh, mut msa, mut pid, mut pv1, mut has_obx) = (None, None, None, None, false);
    let message = MessageView::parse_visiting(bytes, |message, segment| match segment.name.as_bytes() {
        b"MSH" if msh.is_none() => msh = Some(segment),
        b"MSA" if msa.is_none() => msa = Some(segment),
        b"PID" if pid.is_none() => pid = Some(segment),
        b"PV1" if pv1.is_none() => pv1 = Some(segment),
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
    let [.., msh9, msh10] = msh.map_or([""; 10], |msh| msh.first_fields::<10>());
    let kind = MessageKind::of(&message, msh9);
    let ack = msa.map(|msa| {
        let [msa1, msa2] = msa.first_fields();
        Ack {
            result: AckResult::from_code(&message.component(msa1, 1)),
            acknowledged_control_id: message.unescape(msa2),
        }
    });
    let mut patient = Cow::Borrowed("");
    if has_obx {
        patient = subject(&message, pid, pv1).ok_or(Hl7Error::MissingPatient)?;
    }
    Ok(Hl7Message { kind, control_id: message.unescape(msh10), ack, patient, observations, observation_errors })
}

/// Whom a message's observations are of: PID-3's identifier of type `MR` (medical record
/// number, CX-5), else its first identifier; a device that sends none still names its bed in
/// PV1-3 (point of care, room, bed), which becomes `bed:<point of care>/<room>/<bed>` (empty
/// parts left out), so that the series and the alerts built on them name a bed. `None` when
/// neither is there.
fn subject<'a>(
    message: &MessageView<'a>,
    pid: Option<SegmentView<'a>>,
    pv1: Option<SegmentView<'a>>,
) -> Option<Cow<'a, str>> {
    if let Some(pid) = pid {
        let [.., pid3] = pid.first_fields::<3>();
        let mut first = None;
        for identifier in message.repetitions(pid3) {
            let [id, _, _, _, kind] = message.first_components(identifier);
            if id.is_empty() {
                continue;
            }
            if kind == "MR" {
                return Some(id);
            }
            first.get_or_insert(id);
        }
        if first.is_some() {
            return first;
        }
    }
    let [.., location] = pv1?.first_fields::<3>();
    let bed = message.component(location, 3);
    if bed.is_empty() {
        return None;
    }
    let (point_of_care, room) = (message.component(location, 1), message.component(location, 2));
    let parts = [point_of_care.as_ref(), room.as_ref(), bed.as_ref()];
    let named: Vec<&str> = parts.into_iter().filter(|part| !part.is_empty()).collect();
    Some(Cow::Owned(format!("bed:{}", named.join("/"))))
}

/// The vital sign one OBX segment carries, in its gauge's unit, or why it cannot be used;
/// `None` for an OBX whose code means no vital sign (waveforms, device settings, the MDS and
/// VMD rows of IHE PCD-01's containment tree) or whose status (OBX-11) says it holds no valid
/// result: neither is an error.
fn read_observation(
    message: &MessageView<'_>,
    segment: &SegmentView<'_>,
) -> Option<Result<VitalObservation, Hl7Error>> {
    // OBX-2, -3, -5, -6 and -11 in one scan of the segment, which stops at OBX-3 unless its
    // code means a vital sign (a waveform's samples are not scanned).
    let ([_, value_type, identifier], after) = segment.fields_then();
    let code = match message.component_bounds(identifier) {
        // No escape sequence (nearly always): the code and system are slices of OBX-3.
        Some([code, _, system]) if !code.escaped && !system.escaped => {
            lookup(&identifier[code.start..code.end], &identifier[system.start..system.end])
        }
        _ => {
            let [code, _, system] = message.first_components(identifier);
            lookup(&code, &system)
        }
    }?;
    let [_, value, unit, _, _, _, _, status] = after.next_fields();
    if !obx::is_result(status) {
        return None;
    }
    let unit = match message.component_bounds::<1>(unit) {
        Some([at]) if !at.escaped => code.unit(&unit[at.start..at.end]),
        _ => code.unit(&message.component(unit, 1)),
    };
    let Some(unit) = unit else { return Some(Err(Hl7Error::UnitMismatch)) };
    let number = if value_type == "SN" {
        let [a, b, c, d] = message.first_components(value);
        obx::structured_numeric([&a, &b, &c, &d])
    } else {
        match message.component_bounds::<1>(value) {
            Some([at]) if !at.escaped => obx::numeric_value(value_type, [&value[at.start..at.end], "", "", ""]),
            _ => obx::numeric_value(value_type, [&message.component(value, 1), "", "", ""]),
        }
    };
    Some(match number.map(|number| unit.to_gauge(number)) {
        Ok(value) if value.is_finite() => Ok(VitalObservation { vital: code.vital_sign(), value }),
        Ok(_) | Err(ValueError::NotNumeric) => Err(Hl7Error::NonNumericValue),
        Err(ValueError::Inexact) => Err(Hl7Error::InexactValue),
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
                       OBX|3|NM|8310-5^Body temperature^LN||98.6|K^kelvin^UCUM||||F\r\
                       OBX|4|NM|9279-1^Respiratory rate^LN||fast|/min^/min^UCUM||||F\r\
                       OBX|5|NM|0000-0^Not a vital^LN||1|1||||F\r";

    /// An IEEE 11073 device's ORU as IHE PCD-01 writes it: the containment tree's MDS and VMD
    /// rows (no value, status X), metrics in MDC codes and units, results unverified (R).
    const PCD_01: &str = "MSH|^~\\&|PAT_DEVICE_MON^0123456789ABCDEF^EUI-64|st-mary|||20261122030405+0000||ORU^R01^ORU_R01|PCD7|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r\
                          PID|||0042^^^st-mary^PI~P-1001^^^st-mary^MR||Doe^Jane\r\
                          PV1||I|icu-east^^7\r\
                          OBR|1|PCD7^HL7^ACDE48234567ABCD^EUI-64||182777000^monitoring of patient^SNOMED-CT|||20261122030405\r\
                          OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X\r\
                          OBX|2||69854^MDC_DEV_METER_PHYSIO_MULTI_PARAM_VMD^MDC|1.1.0.0|||||||X\r\
                          OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|0.93|262656^MDC_DIM_DIMLESS^MDC|||||R\r\
                          OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r\
                          OBX|5|SN|151562^MDC_RESP_RATE^MDC|1.1.1.3|=^18|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r\
                          OBX|6|NM|150364^MDC_TEMP_BODY^MDC|1.1.1.4|98.6|266560^MDC_DIM_FAHR^MDC|||||R\r\
                          OBX|7|NM|151708^MDC_AWAY_CO2_ET^MDC|1.1.1.5|5.0|265987^MDC_DIM_KILO_PASCAL^MDC|||||R\r\
                          OBX|8|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.6|150|266016^MDC_DIM_MMHG^MDC|||||W\r\
                          OBX|9|SN|160184^MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD^MDC|1.1.1.7|<^2.2|266866^MDC_DIM_MILLI_MOLE_PER_L^MDC|||||R\r\
                          OBX|10|SN|152196^MDC_CONC_AWAY_O2_INSP^MDC|1.1.1.8|^21^:^100|262656^MDC_DIM_DIMLESS^MDC|||||R\r\
                          OBX|11|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.9|80|%^%^UCUM|||||R\r";

    fn observed(message: &Hl7Message<'_>) -> Vec<(&'static str, f64)> {
        // Rounded to 1e-9: unit conversions are floating point.
        message.observations.iter().map(|o| (o.vital.key, (o.value * 1e9).round() / 1e9)).collect()
    }

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
    fn ihe_pcd_01_observations_come_out_by_mdc_code_in_each_gauges_unit() {
        let message = interpret(PCD_01.as_bytes()).unwrap();
        assert_eq!(message.patient, "P-1001", "the MR identifier, not the first");
        let kpa_in_mmhg = (5.0 * 1000.0 / 133.322_387_415 * 1e9_f64).round() / 1e9;
        assert_eq!(
            observed(&message),
            [
                ("spo2", 93.0),
                ("heart_rate", 72.0),
                ("respiratory_rate", 18.0),
                ("temperature", 37.0),
                ("etco2", kpa_in_mmhg),
                ("fio2", 21.0),
            ]
        );
        // The systolic pressure is marked wrong (W): no value, no error. The glucose is a bound.
        assert_eq!(message.observation_errors, [Hl7Error::InexactValue, Hl7Error::UnitMismatch]);
    }

    #[test]
    fn lab_loinc_codes_in_other_units_are_converted() {
        let oru = ORU.replace(
            "OBX|5|NM|0000-0^Not a vital^LN||1|1||||F",
            "OBX|5|NM|14743-9^Glucose^LN||5.5|mmol/L||||F\r\
             OBX|6|NM|2339-0^Glucose^LN||5.5|mmol/L||||F\r\
             OBX|7|NM|8331-1^Oral temperature^LN||100.4|[degF]||||F\r\
             OBX|8|SN|2708-6^SaO2^LN||^0.97|1||||C\r\
             OBX|9|NM|6690-2^WBC^LN||7.2|10*9/L||||F",
        );
        let message = interpret(oru.as_bytes()).unwrap();
        assert_eq!(
            observed(&message)[2..],
            [("glucose", 99.0858), ("temperature", 38.0), ("spo2", 97.0), ("wbc", 7.2)]
        );
        // The temperature in kelvin, the rate "fast", and a mass code sent in moles.
        assert_eq!(
            message.observation_errors,
            [Hl7Error::UnitMismatch, Hl7Error::NonNumericValue, Hl7Error::UnitMismatch]
        );
    }

    #[test]
    fn the_patient_is_the_mr_identifier_or_the_first_or_the_bed() {
        let patient = |pid: &str, pv1: &str| {
            let text = ORU.replace("PID|1||P-1001^^^st-mary^MR||^", pid).replace("PV1|1|I|icu-east^^7", pv1);
            interpret(text.as_bytes()).map(|m| m.patient.into_owned())
        };
        assert_eq!(patient("PID|1||A^^^h^PI~B^^^h^MR", "PV1"), Ok("B".into()));
        assert_eq!(patient("PID|1||A^^^h^PI~B^^^h^PN", "PV1"), Ok("A".into()));
        assert_eq!(patient("PID|1||~^^^h^MR~C", "PV1"), Ok("C".into()), "empty identifiers are skipped");
        assert_eq!(patient("PID|1||", "PV1|1|I|icu-east^^7"), Ok("bed:icu-east/7".into()));
        assert_eq!(patient("PID|1", "PV1|1|I|icu-east^12^B"), Ok("bed:icu-east/12/B".into()));
        assert_eq!(patient("ZZZ|1", "PV1|1|I|^^7"), Ok("bed:7".into()));
        assert_eq!(patient("PID|1||", "PV1|1|I|icu-east"), Err(Hl7Error::MissingPatient), "a ward is no bed");
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
    fn an_observation_without_a_patient_or_a_bed_is_refused() {
        let no_pid = ORU.replace("PID|1||P-1001^^^st-mary^MR||^\r", "").replace("PV1|1|I|icu-east^^7\r", "");
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
