//! The one duration syntax of every flag and environment variable of the three binaries:
//! humantime's, a number and a unit, repeated (`500ms`, `10s`, `5m`, `1h30m`; `0` alone is
//! zero). The CRDs' duration fields take the same form.

use std::time::Duration;

/// Any duration, zero included.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 500ms, 10s, 5m or 1h30m: {e}"))
}

/// A duration longer than zero.
pub fn positive(text: &str) -> Result<Duration, String> {
    let duration = parse(text)?;
    if duration.is_zero() { Err(format!("{text:?}: must be longer than zero")) } else { Ok(duration) }
}

/// A parser of durations of at least `min`, for clap's `value_parser`.
pub fn at_least(min: Duration) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let duration = parse(text)?;
        if duration < min {
            Err(format!("{text:?}: must be at least {}", humantime::format_duration(min)))
        } else {
            Ok(duration)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_may_combine_them() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bare_numbers_and_words_are_refused_with_the_text() {
        for bad in ["42", "0.5", "-1s", "soon", "", "5 fortnights"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn bounds() {
        assert!(positive("0s").unwrap_err().contains("longer than zero"));
        assert_eq!(positive("1ms"), Ok(Duration::from_millis(1)));
        let minute = at_least(Duration::from_secs(60));
        assert!(minute("59s").unwrap_err().contains("at least 1m"));
        assert_eq!(minute("1m"), Ok(Duration::from_secs(60)));
    }
}
