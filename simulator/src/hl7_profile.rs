//! The two HL7 dialects a twin can speak, and how each codes an observation:
//!
//! - `loinc`: HL7 v2.5, OBX-3 the catalogue's LOINC code, OBX-6 its UCUM unit, results final;
//! - `ihe-pcd-01`: HL7 v2.6 as IHE PCD-01 (Device Enterprise Communication) has bedside monitors
//!   send it: the message profile in MSH-21, OBX-3 coded in ISO/IEEE 11073-10101 (MDC) with the
//!   Rosetta names, OBX-4 the containment path (MDS.VMD.channel.metric) under an MDS and a VMD
//!   row, OBX-6 an MDC unit, results unverified (`R`), as devices report them. Vital signs 11073
//!   has no term for (lactate, WBC: lab values) keep their LOINC code and UCUM unit, as PCD-01
//!   allows.
//!
//! Codes and units come from the clinical terminology table, so the exporter reads back exactly
//! what the simulator writes.

use std::fmt;
use std::str::FromStr;

use wardwatch_clinical::terminology::{CodeSystem, preferred};
use wardwatch_clinical::vitals::VitalSign;

/// A twin's HL7 dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Hl7Profile {
    #[default]
    Loinc,
    IhePcd01,
}

impl Hl7Profile {
    pub const ALL: [Self; 2] = [Self::Loinc, Self::IhePcd01];

    /// The name used by the `--hl7-profile` flag and the MonitoredDevice's `twin.hl7Profile`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loinc => "loinc",
            Self::IhePcd01 => "ihe-pcd-01",
        }
    }

    /// MSH-12.
    pub fn version(self) -> &'static str {
        match self {
            Self::Loinc => "2.5",
            Self::IhePcd01 => "2.6",
        }
    }

    /// OBX-11 of a measured value.
    pub fn result_status(self) -> &'static str {
        match self {
            Self::Loinc => "F",
            Self::IhePcd01 => "R",
        }
    }

    /// OBX-3 and OBX-6 of one vital sign: (identifier, text, coding system) each.
    pub fn coding(self, vital: &'static VitalSign) -> ([&'static str; 3], [&'static str; 3]) {
        let loinc = ([vital.loinc, vital.loinc_name, "LN"], [vital.ucum, vital.ucum, "UCUM"]);
        if self == Self::Loinc {
            return loinc;
        }
        let Some(code) = preferred(vital, CodeSystem::Mdc) else { return loinc };
        // The gauge's own unit, in its MDC form where 11073 has one.
        let unit = code.units.iter().find(|u| u.ucum == vital.ucum).and_then(|u| u.mdc);
        let unit = unit.map_or([vital.ucum, vital.ucum, "UCUM"], |(number, name)| [number, name, "MDC"]);
        ([code.code, code.name, "MDC"], unit)
    }
}

/// IHE PCD-01's message profile identifier (MSH-21).
pub const PCD_01_PROFILE: [&str; 4] = ["IHE_PCD_001", "IHE PCD", "1.3.6.1.4.1.19376.1.6.1.1.1", "ISO"];
/// The containment tree's top rows: the device (MDS) and its virtual medical device (VMD).
pub const PCD_01_MDS: [&str; 3] = ["69965", "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS", "MDC"];
pub const PCD_01_VMD: [&str; 3] = ["69854", "MDC_DEV_METER_PHYSIO_MULTI_PARAM_VMD", "MDC"];
/// OBR-4 of a PCD-01 vital-signs report.
pub const PCD_01_ORDER: [&str; 3] = ["182777000", "monitoring of patient", "SNOMED-CT"];
/// Millivolts in MDC (a waveform's unit).
pub const MDC_DIM_MILLI_VOLT: [&str; 3] = ["266418", "MDC_DIM_MILLI_VOLT", "MDC"];

impl fmt::Display for Hl7Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Hl7Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
            format!("unknown HL7 profile {s:?}; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_clinical::terminology::lookup;
    use wardwatch_clinical::vitals::VITAL_SIGNS;

    #[test]
    fn names_round_trip() {
        for profile in Hl7Profile::ALL {
            assert_eq!(profile.name().parse::<Hl7Profile>(), Ok(profile));
        }
        assert!("hl7".parse::<Hl7Profile>().is_err());
    }

    #[test]
    fn every_coding_is_read_back_as_its_vital_in_its_gauge_unit() {
        for profile in Hl7Profile::ALL {
            for vital in VITAL_SIGNS {
                let ([code, _, system], [unit, ..]) = profile.coding(vital);
                let found = lookup(code, system).unwrap_or_else(|| panic!("{profile} {}: {code}", vital.key));
                assert_eq!(found.vital, vital.key);
                let unit = found.unit(unit).unwrap_or_else(|| panic!("{profile} {}: unit {unit}", vital.key));
                assert_eq!((unit.scale, unit.offset), (1.0, 0.0), "{profile} {}", vital.key);
            }
        }
    }

    #[test]
    fn pcd_01_codes_monitor_vitals_in_mdc() {
        let spo2 = wardwatch_clinical::vitals::by_key("spo2").unwrap();
        let (code, unit) = Hl7Profile::IhePcd01.coding(spo2);
        assert_eq!(code, ["150456", "MDC_PULS_OXIM_SAT_O2", "MDC"]);
        assert_eq!(unit, ["262688", "MDC_DIM_PERCENT", "MDC"]);
        let wbc = wardwatch_clinical::vitals::by_key("wbc").unwrap();
        assert_eq!(Hl7Profile::IhePcd01.coding(wbc).0[2], "LN", "no 11073 term: LOINC");
    }
}
