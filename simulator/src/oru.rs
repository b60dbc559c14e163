//! HL7 v2 ORU^R01 (unsolicited observation result) as a bedside device sends it: MSH, PID
//! with the patient, PV1 with the bed, OBR, and one OBX per vital sign, coded as the device's
//! HL7 profile says (LOINC and UCUM, or IHE PCD-01's MDC codes and units: `hl7_profile.rs`).

use wardwatch_clinical::hl7::{Separators, Writer};
use wardwatch_clinical::vitals::VitalSign;

use crate::hl7_profile::{self, Hl7Profile};
use crate::physiology::{Vital, Vitals};

/// Who and where: the identifiers an ORU carries besides the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Sending application (MSH-3): the device id.
    pub device_id: String,
    /// Sending facility (MSH-4): the hospital id.
    pub hospital_id: String,
    /// Receiving application (MSH-5).
    pub receiver: String,
    pub patient_id: String,
    pub bed: String,
    /// The ward, sent as the point of care in PV1-3.
    pub ward: String,
    /// How observations are coded.
    pub profile: Hl7Profile,
}

/// One observed value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub vital: &'static VitalSign,
    pub value: f64,
}

/// One observation for each vital sign of `measured` (a device type's set), in that order.
pub fn observations(vitals: &Vitals, measured: &[Vital]) -> Vec<Observation> {
    measured.iter().map(|&vital| Observation { vital: vital.sign(), value: vitals.get(vital) }).collect()
}

/// The `YYYYMMDDHHMMSS` HL7 timestamp of a Unix time (UTC), within years -9999 to 9999.
pub fn hl7_timestamp(unix_seconds: i64) -> String {
    let (first, last) = (jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    let at = jiff::Timestamp::from_second(unix_seconds.clamp(first, last)).expect("clamped into jiff's range");
    at.strftime("%Y%m%d%H%M%S").to_string()
}

/// Formats a value with at most `decimals` decimals and no trailing zeros.
fn format_value(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// A waveform strip sent as an OBX of type NA (numeric array): lead II ECG in millivolts.
#[derive(Clone, Copy, Debug)]
pub struct Waveform<'a> {
    pub samples_mv: &'a [f64],
}

/// ISO/IEEE 11073 MDC code of ECG lead II, the monitor's default trace.
pub const MDC_ECG_LEAD_II: [&str; 3] = ["131330", "MDC_ECG_ELEC_POTL_II", "MDC"];

/// What OBX-5 holds.
enum ObxValue<'a> {
    /// Components, escaped as they are written.
    Text(&'a [&'a str]),
    /// Numbers with this many decimals (a waveform), written without a string each.
    Numbers(&'a [f64], usize),
}

/// One OBX segment.
struct Obx<'a> {
    set_id: usize,
    /// OBX-2.
    value_type: &'a str,
    /// OBX-3.
    code: &'a [&'a str],
    /// OBX-4: IHE PCD-01's containment path; empty in the LOINC dialect.
    sub_id: &'a str,
    value: ObxValue<'a>,
    /// OBX-6.
    unit: &'a [&'a str],
    /// OBX-11.
    status: &'a str,
    /// OBX-14.
    when: &'a str,
}

fn write_obx(w: &mut Writer, obx: Obx<'_>) {
    let segment = w
        .segment("OBX")
        .field(&[&obx.set_id.to_string()])
        .field(&[obx.value_type])
        .field(obx.code)
        .field(&[obx.sub_id]);
    let segment = match obx.value {
        ObxValue::Text(components) => segment.field(components),
        ObxValue::Numbers(values, decimals) => segment.numeric_field(values, decimals),
    };
    segment
        .field(obx.unit)
        .field(&[])
        .field(&[])
        .field(&[])
        .field(&[])
        .field(&[obx.status])
        .field(&[])
        .field(&[])
        .field(&[obx.when])
        .end();
}

/// Builds one ORU^R01 message (segments separated by `\r`), control id `control_id`.
pub fn build(context: &Context, observations: &[Observation], unix_seconds: i64, control_id: &str) -> String {
    build_with_waveform(context, observations, None, unix_seconds, control_id)
}

/// Builds one ORU^R01 message, with a waveform strip after the vital signs if given.
pub fn build_with_waveform(
    context: &Context,
    observations: &[Observation],
    waveform: Option<Waveform<'_>>,
    unix_seconds: i64,
    control_id: &str,
) -> String {
    let when = hl7_timestamp(unix_seconds);
    // Headers and vitals fit in a kilobyte; a strip takes up to seven bytes a sample.
    let capacity = 1_024 + waveform.map_or(0, |w| w.samples_mv.len() * 7);
    let mut w = Writer::with_capacity(Separators::default(), capacity);
    write_msh(&mut w, context, &when, control_id);
    w.segment("PID")
        .field(&["1"])
        .field(&[])
        .field(&[&context.patient_id, "", "", &context.hospital_id, "MR"])
        .field(&[])
        .field(&["", ""])
        .end();
    w.segment("PV1").field(&["1"]).field(&["I"]).field(&[&context.ward, "", &context.bed]).end();
    w.segment("OBR")
        .field(&["1"])
        .field(&[])
        .field(&[control_id])
        .field(match context.profile {
            Hl7Profile::Loinc => &["VITALS", "Vital signs", "L"],
            Hl7Profile::IhePcd01 => &hl7_profile::PCD_01_ORDER,
        })
        .field(&[])
        .field(&[])
        .field(&[&when])
        .end();
    write_observations(&mut w, context.profile, observations, waveform, &when);
    w.finish()
}

/// The MSH segment: v2.5, or v2.6 with PCD-01's acknowledgement types and profile.
fn write_msh(w: &mut Writer, context: &Context, when: &str, control_id: &str) {
    let msh = w
        .segment("MSH")
        .field(&[&context.device_id])
        .field(&[&context.hospital_id])
        .field(&[&context.receiver])
        .field(&[&context.hospital_id])
        .field(&[when])
        .field(&[])
        .field(&["ORU", "R01", "ORU_R01"])
        .field(&[control_id])
        .field(&["P"])
        .field(&[context.profile.version()]);
    let msh = match context.profile {
        Hl7Profile::Loinc => msh,
        // Accept acknowledgement never, application acknowledgement always (MSH-15/16), as
        // PCD-01 has it; MSH-21 names the profile.
        Hl7Profile::IhePcd01 => msh
            .field(&[])
            .field(&[])
            .field(&["NE"])
            .field(&["AL"])
            .field(&[])
            .field(&[])
            .field(&[])
            .field(&[])
            .field(&hl7_profile::PCD_01_PROFILE),
    };
    msh.end();
}

/// The OBX segments: under PCD-01, the containment tree's device (MDS) and VMD rows first;
/// then one per vital sign, coded as `profile` says; then the waveform strip, if any.
fn write_observations(
    w: &mut Writer,
    profile: Hl7Profile,
    observations: &[Observation],
    waveform: Option<Waveform<'_>>,
    when: &str,
) {
    let pcd = profile == Hl7Profile::IhePcd01;
    let mut set_id = 0;
    let mut next_id = || {
        set_id += 1;
        set_id
    };
    if pcd {
        // No value, status X (not a result): they name the device the metrics belong to.
        for (code, path) in [(&hl7_profile::PCD_01_MDS, "1.0.0.0"), (&hl7_profile::PCD_01_VMD, "1.1.0.0")] {
            let value = ObxValue::Text(&[]);
            let (value_type, unit, status) = ("", &[][..], "X");
            write_obx(w, Obx { set_id: next_id(), value_type, code, sub_id: path, value, unit, status, when });
        }
    }
    let status = profile.result_status();
    for (i, observation) in observations.iter().enumerate() {
        let value = format_value(observation.value, 2);
        let (code, unit) = profile.coding(observation.vital);
        let path = if pcd { format!("1.1.1.{}", i + 1) } else { String::new() };
        let value = ObxValue::Text(&[&value]);
        let obx =
            Obx { set_id: next_id(), value_type: "NM", code: &code, sub_id: &path, value, unit: &unit, status, when };
        write_obx(w, obx);
    }
    if let Some(waveform) = waveform {
        let (unit, path) =
            if pcd { (&hl7_profile::MDC_DIM_MILLI_VOLT, "1.1.2.1") } else { (&["mV", "mV", "UCUM"], "") };
        let value = ObxValue::Numbers(waveform.samples_mv, 3);
        let obx = Obx {
            set_id: next_id(),
            value_type: "NA",
            code: &MDC_ECG_LEAD_II,
            sub_id: path,
            value,
            unit,
            status,
            when,
        };
        write_obx(w, obx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_clinical::hl7::Message;
    use wardwatch_clinical::vitals::by_key;

    fn context() -> Context {
        Context {
            device_id: "monitor-7".into(),
            hospital_id: "st-mary".into(),
            receiver: "WARDWATCH".into(),
            patient_id: "P-1001".into(),
            bed: "7".into(),
            ward: "icu-east".into(),
            profile: Hl7Profile::Loinc,
        }
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(hl7_timestamp(0), "19700101000000");
        assert_eq!(hl7_timestamp(951_782_400), "20000229000000", "leap day 2000");
        assert_eq!(hl7_timestamp(1_795_316_645), "20261122030405", "as `date -u -d @1795316645`");
    }

    #[test]
    fn message_carries_patient_bed_and_each_vital() {
        let observations = [
            Observation { vital: by_key("spo2").unwrap(), value: 88.5 },
            Observation { vital: by_key("heart_rate").unwrap(), value: 112.0 },
        ];
        let text = build(&context(), &observations, 1_795_316_645, "MSG42");
        let message = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(message.message_type(), "ORU^R01");
        assert_eq!(message.control_id(), "MSG42");
        assert_eq!(message.segment("MSH").unwrap().field(12), "2.5");
        let pid = message.segment("PID").unwrap();
        assert_eq!(message.component(pid.field(3), 1), "P-1001");
        let pv1 = message.segment("PV1").unwrap();
        assert_eq!(message.component(pv1.field(3), 3), "7");
        let obx: Vec<_> = message
            .segments_named("OBX")
            .map(|s| (message.component(s.field(3), 1), s.field(5).to_owned(), message.component(s.field(6), 1)))
            .collect();
        assert_eq!(
            obx,
            [("59408-5".into(), "88.5".into(), "%".into()), ("8867-4".into(), "112".into(), "/min".into())]
        );
    }

    #[test]
    fn ihe_pcd_01_messages_carry_the_profile_the_containment_tree_and_mdc_codes() {
        let observations = [
            Observation { vital: by_key("spo2").unwrap(), value: 88.5 },
            Observation { vital: by_key("temperature").unwrap(), value: 37.25 },
        ];
        let context = Context { profile: Hl7Profile::IhePcd01, ..context() };
        let strip = [0.5];
        let text = build_with_waveform(&context, &observations, Some(Waveform { samples_mv: &strip }), 0, "9");
        let message = Message::parse(text.as_bytes()).unwrap();
        let msh = message.segment("MSH").unwrap();
        assert_eq!((msh.field(12), msh.field(15), msh.field(16)), ("2.6", "NE", "AL"));
        assert_eq!(msh.field(21), "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO");
        assert_eq!(message.component(message.segment("PID").unwrap().field(3), 1), "P-1001");
        let obx: Vec<_> =
            message.segments_named("OBX").map(|s| [1, 2, 3, 4, 5, 6, 11].map(|n| s.field(n).to_owned())).collect();
        let row = |fields: [&str; 7]| fields.map(str::to_owned);
        assert_eq!(
            obx,
            [
                row(["1", "", "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC", "1.0.0.0", "", "", "X"]),
                row(["2", "", "69854^MDC_DEV_METER_PHYSIO_MULTI_PARAM_VMD^MDC", "1.1.0.0", "", "", "X"]),
                row([
                    "3",
                    "NM",
                    "150456^MDC_PULS_OXIM_SAT_O2^MDC",
                    "1.1.1.1",
                    "88.5",
                    "262688^MDC_DIM_PERCENT^MDC",
                    "R"
                ]),
                row(["4", "NM", "150364^MDC_TEMP_BODY^MDC", "1.1.1.2", "37.25", "268192^MDC_DIM_DEGC^MDC", "R"]),
                row([
                    "5",
                    "NA",
                    "131330^MDC_ECG_ELEC_POTL_II^MDC",
                    "1.1.2.1",
                    "0.500",
                    "266418^MDC_DIM_MILLI_VOLT^MDC",
                    "R"
                ]),
            ]
        );
    }

    #[test]
    fn a_waveform_follows_the_vitals_as_a_numeric_array() {
        let observations = [Observation { vital: by_key("heart_rate").unwrap(), value: 60.0 }];
        let strip = [0.0, 1.2345, -0.25];
        let text = build_with_waveform(&context(), &observations, Some(Waveform { samples_mv: &strip }), 0, "1");
        let message = Message::parse(text.as_bytes()).unwrap();
        let obx: Vec<_> = message.segments_named("OBX").collect();
        assert_eq!(obx.len(), 2);
        assert_eq!((obx[1].field(1), obx[1].field(2)), ("2", "NA"));
        assert_eq!(message.component(obx[1].field(3), 1), "131330");
        assert_eq!(obx[1].field(5), "0.000^1.234^-0.250");
        assert_eq!(message.component(obx[1].field(6), 1), "mV");
    }

    #[test]
    fn each_measured_vital_becomes_an_obx_with_its_displayed_value_and_no_other() {
        let vitals = crate::physiology::Physiology::new().vitals().rounded();
        for measured in [&Vital::ALL[..], &[Vital::Spo2, Vital::Etco2], &[]] {
            let text = build(&context(), &observations(&vitals, measured), 0, "1");
            let message = Message::parse(text.as_bytes()).unwrap();
            let sent: Vec<(String, f64)> = message
                .segments_named("OBX")
                .map(|s| (message.component(s.field(3), 1), s.field(5).parse().unwrap()))
                .collect();
            let expected: Vec<(String, f64)> =
                measured.iter().map(|&v| (v.sign().loinc.to_owned(), vitals.get(v))).collect();
            assert_eq!(sent, expected);
            assert_eq!(message.segment("OBR").unwrap().field(4), "VITALS^Vital signs^L", "an OBR even without OBX");
        }
    }
}
