//! Which observation codes mean which vital sign, and in which units: one table for the exporter
//! (which turns OBX segments into gauges) and the simulator (which writes them), covering the
//! two ways real senders code vitals:
//!
//! - LOINC (OBX-3 coding system `LN`), as lab and point-of-care analysers and EMR interfaces
//!   send them, with UCUM units;
//! - ISO/IEEE 11073-10101 (`MDC`), as bedside monitors send them under IHE PCD-01 (Device
//!   Enterprise Communication), with the names of the IHE PCD Rosetta Terminology Mapping and MDC
//!   units.
//!
//! Every code lists the units it may come in (`units.rs`), each converted into the one unit of
//! its vital's gauge (`VitalSign::ucum`); a unit outside a code's list is a mismatch, never a
//! guess. Codes that measure something else under a similar name are left out on purpose:
//! pulmonary-artery pressures are not systemic blood pressure, skin, airway and room
//! temperatures are not body temperature, venous saturation is not SpO2.

use crate::units::{self, Unit};
use crate::vitals::{VitalSign, by_key};

/// The coding system of an observation identifier (OBX-3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeSystem {
    Loinc,
    /// ISO/IEEE 11073-10101 nomenclature.
    Mdc,
}

impl CodeSystem {
    /// The name written in OBX-3.3 (HL7 table 0396).
    pub fn hl7_name(self) -> &'static str {
        match self {
            Self::Loinc => "LN",
            Self::Mdc => "MDC",
        }
    }

    /// Whether OBX-3.3 names this system; an empty OBX-3.3 names none in particular, and the
    /// code alone decides (LOINC codes hold a hyphen, MDC codes are digits only).
    fn is_named(self, name: &str) -> bool {
        match self {
            Self::Loinc => matches!(name, "" | "LN" | "LOINC"),
            Self::Mdc => matches!(name, "" | "MDC"),
        }
    }
}

/// One observation code and what it means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Code {
    pub system: CodeSystem,
    /// OBX-3.1: the LOINC code, or the MDC code as a decimal number (partition × 65536 + term).
    pub code: &'static str,
    /// OBX-3.2: the LOINC short name, or the MDC reference id (Rosetta name).
    pub name: &'static str,
    /// The vital sign's key (see `vitals.rs`).
    pub vital: &'static str,
    /// The units this code may come in; the first is assumed when OBX-6 is empty.
    pub units: &'static [Unit],
}

impl Code {
    /// The vital sign this code means.
    pub fn vital_sign(&self) -> &'static VitalSign {
        by_key(self.vital).expect("every code's vital is in the catalogue (tested)")
    }

    /// The unit OBX-6.1 names, among this code's; the first when OBX-6.1 is empty.
    pub fn unit(&self, identifier: &str) -> Option<&'static Unit> {
        if identifier.is_empty() {
            return self.units.first();
        }
        self.units.iter().find(|unit| unit.is_named(identifier))
    }
}

const RATE_HEART: &[Unit] = &[units::PER_MIN, units::BEATS_PER_MIN, units::BEAT_PER_MIN];
const RATE_RESP: &[Unit] = &[units::PER_MIN, units::BREATHS_PER_MIN, units::BREATH_PER_MIN];
const FRACTION: &[Unit] = &[units::PERCENT, units::RATIO, units::RATIO_ANNOTATED];
const PRESSURE: &[Unit] = &[units::MMHG, units::KPA];
const TEMPERATURE: &[Unit] = &[units::CELSIUS, units::FAHRENHEIT];
const GLUCOSE_MASS: &[Unit] = &[units::GLUCOSE_MG_PER_DL];
const GLUCOSE_MOLES: &[Unit] = &[units::GLUCOSE_MMOL_PER_L];
const GLUCOSE_ANY: &[Unit] = &[units::GLUCOSE_MG_PER_DL, units::GLUCOSE_MMOL_PER_L];
const LACTATE: &[Unit] = &[units::MMOL_PER_L];
const WBC: &[Unit] = &[units::THOUSAND_PER_UL, units::GIGA_PER_L, units::PER_NL];

macro_rules! loinc {
    ($vital:literal, $code:literal, $name:literal, $units:expr) => {
        Code { system: CodeSystem::Loinc, code: $code, name: $name, vital: $vital, units: $units }
    };
}

macro_rules! mdc {
    ($vital:literal, $code:literal, $name:literal, $units:expr) => {
        Code { system: CodeSystem::Mdc, code: $code, name: $name, vital: $vital, units: $units }
    };
}

/// Every code that means a vital sign. Within a vital, the catalogue's LOINC code comes first
/// among the LOINC codes and the code a multi-parameter monitor sends first among the MDC codes:
/// the simulator writes those ([`preferred`]).
pub const CODES: &[Code] = &[
    loinc!("heart_rate", "8867-4", "Heart rate", RATE_HEART),
    loinc!("heart_rate", "8889-8", "Heart rate by Pulse oximetry", RATE_HEART),
    loinc!("heart_rate", "8893-0", "Heart rate Peripheral artery by Palpation", RATE_HEART),
    mdc!("heart_rate", "147842", "MDC_ECG_HEART_RATE", RATE_HEART),
    mdc!("heart_rate", "149530", "MDC_PULS_OXIM_PULS_RATE", RATE_HEART),
    mdc!("heart_rate", "149514", "MDC_PULS_RATE", RATE_HEART),
    mdc!("heart_rate", "149546", "MDC_PULS_RATE_NON_INV", RATE_HEART),
    loinc!("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", FRACTION),
    loinc!("spo2", "2708-6", "Oxygen saturation in Arterial blood", FRACTION),
    mdc!("spo2", "150456", "MDC_PULS_OXIM_SAT_O2", FRACTION),
    mdc!("spo2", "150324", "MDC_SAT_O2_ART", FRACTION),
    loinc!("respiratory_rate", "9279-1", "Respiratory rate", RATE_RESP),
    mdc!("respiratory_rate", "151562", "MDC_RESP_RATE", RATE_RESP),
    mdc!("respiratory_rate", "151578", "MDC_TTHOR_RESP_RATE", RATE_RESP),
    mdc!("respiratory_rate", "151594", "MDC_CO2_RESP_RATE", RATE_RESP),
    mdc!("respiratory_rate", "151570", "MDC_AWAY_RESP_RATE", RATE_RESP),
    loinc!("systolic_bp", "8480-6", "Systolic blood pressure", PRESSURE),
    loinc!("systolic_bp", "76215-3", "Invasive Systolic blood pressure", PRESSURE),
    mdc!("systolic_bp", "150021", "MDC_PRESS_BLD_NONINV_SYS", PRESSURE),
    mdc!("systolic_bp", "150301", "MDC_PRESS_CUFF_SYS", PRESSURE),
    mdc!("systolic_bp", "150017", "MDC_PRESS_BLD_SYS", PRESSURE),
    mdc!("systolic_bp", "150033", "MDC_PRESS_BLD_ART_SYS", PRESSURE),
    mdc!("systolic_bp", "150037", "MDC_PRESS_BLD_ART_ABP_SYS", PRESSURE),
    loinc!("diastolic_bp", "8462-4", "Diastolic blood pressure", PRESSURE),
    loinc!("diastolic_bp", "76213-8", "Invasive Diastolic blood pressure", PRESSURE),
    mdc!("diastolic_bp", "150022", "MDC_PRESS_BLD_NONINV_DIA", PRESSURE),
    mdc!("diastolic_bp", "150302", "MDC_PRESS_CUFF_DIA", PRESSURE),
    mdc!("diastolic_bp", "150018", "MDC_PRESS_BLD_DIA", PRESSURE),
    mdc!("diastolic_bp", "150034", "MDC_PRESS_BLD_ART_DIA", PRESSURE),
    mdc!("diastolic_bp", "150038", "MDC_PRESS_BLD_ART_ABP_DIA", PRESSURE),
    loinc!("temperature", "8310-5", "Body temperature", TEMPERATURE),
    loinc!("temperature", "8331-1", "Oral temperature", TEMPERATURE),
    loinc!("temperature", "8332-9", "Rectal temperature", TEMPERATURE),
    loinc!("temperature", "8328-7", "Axillary temperature", TEMPERATURE),
    loinc!("temperature", "8333-7", "Tympanic membrane temperature", TEMPERATURE),
    loinc!("temperature", "8329-5", "Body temperature - Core", TEMPERATURE),
    mdc!("temperature", "150364", "MDC_TEMP_BODY", TEMPERATURE),
    // The generic code: multi-parameter monitors send their temperature channels under it.
    mdc!("temperature", "150344", "MDC_TEMP", TEMPERATURE),
    mdc!("temperature", "188424", "MDC_TEMP_ORAL", TEMPERATURE),
    mdc!("temperature", "188420", "MDC_TEMP_RECT", TEMPERATURE),
    mdc!("temperature", "188452", "MDC_TEMP_AXILLA", TEMPERATURE),
    mdc!("temperature", "150392", "MDC_TEMP_TYMP", TEMPERATURE),
    mdc!("temperature", "188428", "MDC_TEMP_EAR", TEMPERATURE),
    mdc!("temperature", "150368", "MDC_TEMP_CORE", TEMPERATURE),
    mdc!("temperature", "150372", "MDC_TEMP_ESOPH", TEMPERATURE),
    mdc!("temperature", "150380", "MDC_TEMP_NASOPH", TEMPERATURE),
    loinc!("etco2", "19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration", PRESSURE),
    mdc!("etco2", "151708", "MDC_AWAY_CO2_ET", PRESSURE),
    loinc!("fio2", "3150-0", "Inhaled oxygen concentration", FRACTION),
    mdc!("fio2", "152196", "MDC_CONC_AWAY_O2_INSP", FRACTION),
    loinc!("glucose", "2339-0", "Glucose [Mass/volume] in Blood", GLUCOSE_MASS),
    loinc!("glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", GLUCOSE_MASS),
    loinc!("glucose", "41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer", GLUCOSE_MASS),
    loinc!("glucose", "15074-8", "Glucose [Moles/volume] in Blood", GLUCOSE_MOLES),
    loinc!("glucose", "14749-6", "Glucose [Moles/volume] in Serum or Plasma", GLUCOSE_MOLES),
    loinc!("glucose", "14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer", GLUCOSE_MOLES),
    mdc!("glucose", "160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", GLUCOSE_ANY),
    mdc!("glucose", "160020", "MDC_CONC_GLU_GEN", GLUCOSE_ANY),
    loinc!("lactate", "2524-7", "Lactate [Moles/volume] in Serum or Plasma", LACTATE),
    loinc!("lactate", "32693-4", "Lactate [Moles/volume] in Blood", LACTATE),
    loinc!("wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", WBC),
    loinc!("wbc", "26464-8", "Leukocytes [#/volume] in Blood", WBC),
];

/// The code OBX-3 names: its identifier (OBX-3.1) and coding system (OBX-3.3, or empty).
pub fn lookup(identifier: &str, system: &str) -> Option<&'static Code> {
    // Codes are unique (tested), so the one code with this identifier decides. Identifiers are
    // compared as integers (length and bytes packed in a u64): one comparison a code, where a
    // string comparison is a call to memcmp.
    if identifier.len() > MAX_CODE_LEN {
        return None;
    }
    let key = code_key(identifier.as_bytes());
    let code = &CODES[CODE_KEYS.iter().position(|&k| k == key)?];
    code.system.is_named(system).then_some(code)
}

/// The longest code in [`CODES`] (tested): LOINC codes have at most seven characters.
const MAX_CODE_LEN: usize = 7;

/// A code of at most [`MAX_CODE_LEN`] bytes as one integer: its bytes, then its length in the top
/// byte (so that `"1"` and `"1\0"` differ).
const fn code_key(code: &[u8]) -> u64 {
    let mut key = (code.len() as u64) << 56;
    let mut i = 0;
    while i < code.len() && i < MAX_CODE_LEN {
        key |= (code[i] as u64) << (8 * i);
        i += 1;
    }
    key
}

/// [`code_key`] of each of [`CODES`], in order.
const CODE_KEYS: [u64; CODES.len()] = {
    let mut keys = [0; CODES.len()];
    let mut i = 0;
    while i < CODES.len() {
        keys[i] = code_key(CODES[i].code.as_bytes());
        i += 1;
    }
    keys
};

/// The code the simulator writes for `vital` in `system`: the first of that system in [`CODES`]
/// (for LOINC, the catalogue's own code).
pub fn preferred(vital: &VitalSign, system: CodeSystem) -> Option<&'static Code> {
    CODES.iter().find(|c| c.vital == vital.key && c.system == system)
}

/// Every code of `vital`, in the table's order.
pub fn codes_of<'a>(vital: &'a VitalSign) -> impl Iterator<Item = &'static Code> + 'a {
    CODES.iter().filter(move |c| c.vital == vital.key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitals::{VITAL_SIGNS, loinc_check_digit_ok};
    use std::collections::HashSet;

    #[test]
    fn every_code_is_well_formed_and_unique() {
        let mut seen = HashSet::new();
        for code in CODES {
            assert!(seen.insert(code.code), "{} twice", code.code);
            assert!(code.code.len() <= MAX_CODE_LEN, "{} is longer than lookup's keys", code.code);
            assert!(by_key(code.vital).is_some(), "{}: no vital {}", code.code, code.vital);
            assert!(!code.units.is_empty(), "{}", code.code);
            match code.system {
                CodeSystem::Loinc => assert!(loinc_check_digit_ok(code.code), "{}", code.code),
                CodeSystem::Mdc => {
                    let number: u32 = code.code.parse().unwrap_or_else(|_| panic!("{} is not a number", code.code));
                    // Vital signs are in partition 2 (SCADA): codes 131072 to 196607.
                    assert_eq!(number >> 16, 2, "{} {}", code.code, code.name);
                    assert!(code.name.starts_with("MDC_"), "{}", code.name);
                }
            }
        }
    }

    #[test]
    fn every_vital_has_its_catalogue_code_first_and_its_gauge_unit_unconverted() {
        for vital in VITAL_SIGNS {
            let first = preferred(vital, CodeSystem::Loinc).unwrap();
            assert_eq!(first.code, vital.loinc, "{}", vital.key);
            assert_eq!(first.units[0].ucum, vital.ucum, "{}: an empty OBX-6 means the gauge's unit", vital.key);
            for code in codes_of(vital) {
                for unit in code.units.iter().filter(|u| u.ucum == vital.ucum) {
                    assert_eq!((unit.scale, unit.offset), (1.0, 0.0), "{} {}", code.code, unit.ucum);
                }
            }
        }
    }

    #[test]
    fn units_are_named_once_per_code() {
        for code in CODES {
            for (i, unit) in code.units.iter().enumerate() {
                for other in &code.units[i + 1..] {
                    assert!(!other.is_named(unit.ucum), "{}: {} twice", code.code, unit.ucum);
                    if let Some((number, name)) = unit.mdc {
                        assert!(!other.is_named(number) && !other.is_named(name), "{}: {name} twice", code.code);
                    }
                }
            }
        }
    }

    #[test]
    fn lookups_respect_the_coding_system() {
        assert_eq!(lookup("150456", "MDC").unwrap().vital, "spo2");
        assert_eq!(lookup("150456", "").unwrap().vital, "spo2");
        assert!(lookup("150456", "99MNDRY").is_none(), "a vendor's local code that happens to match");
        assert!(lookup("150456", "LN").is_none());
        assert_eq!(lookup("8867-4", "LN").unwrap().vital, "heart_rate");
        assert_eq!(lookup("8867-4", "LOINC").unwrap().vital, "heart_rate");
        assert!(lookup("8867-4", "MDC").is_none());
        assert!(lookup("0000-0", "LN").is_none());
        assert!(lookup("", "").is_none());
        assert!(lookup("8867-4\0", "LN").is_none(), "a trailing NUL is not the code");
        assert!(lookup("8867-4-extra", "LN").is_none());
        assert!(lookup("8867", "LN").is_none());
        for code in CODES {
            assert_eq!(lookup(code.code, code.system.hl7_name()), Some(code));
        }
    }

    #[test]
    fn a_code_knows_its_units_and_nothing_else() {
        let temperature = lookup("150364", "MDC").unwrap();
        assert_eq!(temperature.unit("266560").unwrap().ucum, "[degF]");
        assert_eq!(temperature.unit("[degF]").unwrap().ucum, "[degF]");
        assert_eq!(temperature.unit("").unwrap().ucum, "Cel");
        assert!(temperature.unit("K").is_none(), "kelvin is not in the table: a mismatch, not a guess");
        let glucose_moles = lookup("15074-8", "LN").unwrap();
        assert!(glucose_moles.unit("mg/dL").is_none(), "a moles code in mass units is a mismatch");
        assert!((glucose_moles.unit("mmol/L").unwrap().to_gauge(5.0) - 90.078).abs() < 1e-9);
        let etco2 = lookup("151708", "MDC").unwrap();
        assert!(etco2.unit("%").is_none(), "EtCO2 in % needs the barometric pressure: not converted");
    }
}
