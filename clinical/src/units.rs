//! The units an observation may come in, each in its UCUM form and, where ISO/IEEE 11073-10101
//! defines one, its MDC form (code and reference id, as IHE PCD-01 sends them in OBX-6), with the
//! linear conversion into its vital sign's gauge unit. The rows are constants so that the
//! terminology table (`terminology.rs`) can list, per code, which of them it accepts.
//!
//! Conversions are the handful the ward needs, written out rather than taken from a UCUM
//! library: no Rust UCUM implementation was available, and each factor below is a definition
//! (°F, kPa) or a molar mass (glucose), tested against known values.

/// One unit: how OBX-6 names it, and how a value in it becomes the gauge's unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    /// The UCUM code, as sent in OBX-6.1 by LOINC-coding senders.
    pub ucum: &'static str,
    /// The MDC code and its reference id (`262688`, `MDC_DIM_PERCENT`), when 11073 has one.
    pub mdc: Option<(&'static str, &'static str)>,
    /// `gauge value = value * scale + offset`.
    pub scale: f64,
    pub offset: f64,
}

impl Unit {
    const fn same(ucum: &'static str, mdc: Option<(&'static str, &'static str)>) -> Self {
        Self { ucum, mdc, scale: 1.0, offset: 0.0 }
    }

    const fn scaled(ucum: &'static str, mdc: Option<(&'static str, &'static str)>, scale: f64) -> Self {
        Self { ucum, mdc, scale, offset: 0.0 }
    }

    /// Whether OBX-6.1 names this unit: its UCUM code, its MDC code or its MDC reference id.
    pub fn is_named(&self, identifier: &str) -> bool {
        // Compared inline: unit names are a few bytes, shorter than a call to memcmp.
        let same = |name: &str| name.len() == identifier.len() && name.bytes().eq(identifier.bytes());
        same(self.ucum) || self.mdc.is_some_and(|(code, name)| same(code) || same(name))
    }

    /// `value`, given in this unit, in the gauge's unit.
    pub fn to_gauge(&self, value: f64) -> f64 {
        value * self.scale + self.offset
    }

    /// `value`, given in the gauge's unit, in this unit (what a sender in this unit writes).
    pub fn from_gauge(&self, value: f64) -> f64 {
        (value - self.offset) / self.scale
    }
}

/// Per minute, as UCUM writes a rate of events.
pub const PER_MIN: Unit = Unit::same("/min", None);
/// Beats per minute (UCUM annotation; MDC_DIM_BEAT_PER_MIN).
pub const BEATS_PER_MIN: Unit = Unit::same("{beats}/min", Some(("264864", "MDC_DIM_BEAT_PER_MIN")));
/// `{beat}/min`, the singular annotation some senders use.
pub const BEAT_PER_MIN: Unit = Unit::same("{beat}/min", None);
/// Breaths per minute (UCUM annotation; MDC_DIM_RESP_PER_MIN).
pub const BREATHS_PER_MIN: Unit = Unit::same("{breaths}/min", Some(("264928", "MDC_DIM_RESP_PER_MIN")));
/// `{breath}/min`, the singular annotation.
pub const BREATH_PER_MIN: Unit = Unit::same("{breath}/min", None);

/// Percent (MDC_DIM_PERCENT).
pub const PERCENT: Unit = Unit::same("%", Some(("262688", "MDC_DIM_PERCENT")));
/// A ratio (fraction of one, UCUM `1`; MDC_DIM_DIMLESS): 0.95 is 95 %.
pub const RATIO: Unit = Unit::scaled("1", Some(("262656", "MDC_DIM_DIMLESS")), 100.0);
/// `{ratio}`, the annotated UCUM spelling of a ratio.
pub const RATIO_ANNOTATED: Unit = Unit::scaled("{ratio}", None, 100.0);

/// Millimetres of mercury (MDC_DIM_MMHG).
pub const MMHG: Unit = Unit::same("mm[Hg]", Some(("266016", "MDC_DIM_MMHG")));
/// Kilopascal (MDC_DIM_KILO_PASCAL): 1 kPa = 1000 / 133.322387415 mmHg (mmHg by definition
/// 133.322387415 Pa).
pub const KPA: Unit = Unit::scaled("kPa", Some(("265987", "MDC_DIM_KILO_PASCAL")), 1000.0 / 133.322_387_415);

/// Degrees Celsius (MDC_DIM_DEGC).
pub const CELSIUS: Unit = Unit::same("Cel", Some(("268192", "MDC_DIM_DEGC")));
/// Degrees Fahrenheit (MDC_DIM_FAHR): °C = (°F − 32) × 5/9.
pub const FAHRENHEIT: Unit =
    Unit { ucum: "[degF]", mdc: Some(("266560", "MDC_DIM_FAHR")), scale: 5.0 / 9.0, offset: -32.0 * 5.0 / 9.0 };

/// Glucose in milligrams per decilitre (MDC_DIM_MILLI_G_PER_DL).
pub const GLUCOSE_MG_PER_DL: Unit = Unit::same("mg/dL", Some(("264274", "MDC_DIM_MILLI_G_PER_DL")));
/// Glucose in millimoles per litre (MDC_DIM_MILLI_MOLE_PER_L): glucose's molar mass is
/// 180.156 g/mol, so 1 mmol/L is 18.0156 mg/dL. Only for glucose: the factor is its molar mass.
pub const GLUCOSE_MMOL_PER_L: Unit = Unit::scaled("mmol/L", Some(("266866", "MDC_DIM_MILLI_MOLE_PER_L")), 18.0156);

/// Millimoles per litre, the lactate gauge's own unit.
pub const MMOL_PER_L: Unit = Unit::same("mmol/L", Some(("266866", "MDC_DIM_MILLI_MOLE_PER_L")));

/// Thousands per microlitre, the WBC gauge's unit.
pub const THOUSAND_PER_UL: Unit = Unit::same("10*3/uL", None);
/// 10⁹ per litre: the same count (10⁹/L = 10⁹/10⁶ µL = 10³/µL).
pub const GIGA_PER_L: Unit = Unit::same("10*9/L", None);
/// Per nanolitre: the same count again (1/nL = 10³/µL).
pub const PER_NL: Unit = Unit::same("/nL", None);

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn conversions_match_known_values() {
        assert!(close(FAHRENHEIT.to_gauge(98.6), 37.0));
        assert!(close(FAHRENHEIT.to_gauge(32.0), 0.0));
        assert!(close(FAHRENHEIT.to_gauge(212.0), 100.0));
        assert!(close(KPA.to_gauge(101.325), 760.0), "one atmosphere: {}", KPA.to_gauge(101.325));
        assert!(close(GLUCOSE_MMOL_PER_L.to_gauge(5.5), 99.0858));
        assert!(close(RATIO.to_gauge(0.97), 97.0));
        assert!(close(PERCENT.to_gauge(97.0), 97.0));
    }

    #[test]
    fn from_gauge_undoes_to_gauge() {
        for unit in [FAHRENHEIT, KPA, GLUCOSE_MMOL_PER_L, RATIO, CELSIUS] {
            for value in [-40.0, 0.0, 37.2, 120.0] {
                assert!(close(unit.to_gauge(unit.from_gauge(value)), value), "{} {value}", unit.ucum);
            }
        }
    }

    #[test]
    fn a_unit_is_named_by_ucum_mdc_code_or_mdc_name_only() {
        assert!(PERCENT.is_named("%"));
        assert!(PERCENT.is_named("262688"));
        assert!(PERCENT.is_named("MDC_DIM_PERCENT"));
        assert!(!PERCENT.is_named("percent"));
        assert!(!PERCENT.is_named(""));
        assert!(!THOUSAND_PER_UL.is_named(""), "a unit without an MDC form is not named by nothing");
    }
}
