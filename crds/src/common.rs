//! Small types several resources share.

use kube::KubeSchema;
use kube::core::{Message, Rule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the same namespace as the resource that refers to it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a Secret reference needs the Secret's name"))]
    pub name: String,
    /// The key inside the Secret.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a Secret reference needs the key inside the Secret"))]
    pub key: String,
}

/// Alert severities, from least to most urgent.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// This severity and every more urgent one.
    pub fn and_above(self) -> impl Iterator<Item = Severity> {
        [Self::Info, Self::Warning, Self::Critical].into_iter().filter(move |s| *s >= self)
    }
}

/// Container image and resources of one of the containers wardwatch runs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSettings {
    /// The image; empty means the operator's default for this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Requests and limits; empty means the operator's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}

/// The form of every duration field: whole hours, minutes, seconds and milliseconds, largest
/// first, each at most once (`90s`, `1500ms`, `1h30m`). It is what Prometheus and
/// prometheus-operator take, what CEL's `duration()` reads, and what the binaries' flags take
/// (humantime), so a field's value can be handed to any of them. At most six digits a unit keep
/// `duration()` clear of overflow (999999h is 114 years).
pub const DURATION_PATTERN: &str = "^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?([0-9]{1,6}ms)?$";

/// The CEL rule of a duration field (`field` is its JSON name): a duration of
/// [`DURATION_PATTERN`]'s form, at least `min` and, when given, at most `max` (both in CEL
/// `duration()` syntax, such as `1s` or `5m`).
///
/// One rule, so a malformed value gets one message that names the field; CEL's `&&` is false as
/// soon as the pattern fails, without the error `duration()` would raise.
pub(crate) fn duration_rule(field: &str, min: &str, max: Option<&str>, examples: &str) -> Rule {
    let mut rule = format!("self != '' && self.matches('{DURATION_PATTERN}') && duration(self) >= duration('{min}')");
    let limits = match max {
        Some(max) => {
            rule.push_str(&format!(" && duration(self) <= duration('{max}')"));
            format!("within {min}-{max}")
        }
        None => format!("of at least {min}"),
    };
    Rule::new(rule).message(Message::Message(format!(
        "{field} must be a duration {limits}, such as {examples} (h, m, s, ms, largest first)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_rule_checks_the_form_before_the_range_and_names_the_field() {
        let rule = duration_rule("scrapeInterval", "1s", Some("5m"), "5s, 1500ms or 1m");
        assert_eq!(
            rule.rule,
            format!(
                "self != '' && self.matches('{DURATION_PATTERN}') && duration(self) >= duration('1s') && duration(self) <= duration('5m')"
            )
        );
        assert_eq!(
            rule.message,
            Some(Message::Message(
                "scrapeInterval must be a duration within 1s-5m, such as 5s, 1500ms or 1m (h, m, s, ms, largest first)"
                    .into()
            ))
        );
        let rule = duration_rule("repeatInterval", "1m", None, "30m or 4h");
        assert!(rule.rule.ends_with("&& duration(self) >= duration('1m')"), "{}", rule.rule);
        assert_eq!(
            rule.message,
            Some(Message::Message(
                "repeatInterval must be a duration of at least 1m, such as 30m or 4h (h, m, s, ms, largest first)"
                    .into()
            ))
        );
    }

    /// The pattern (RE2 in the API server; the same syntax in the regex crate) lets through
    /// only what the binaries read as the same duration.
    #[test]
    fn the_duration_form_is_the_binaries_form() {
        let pattern = regex::Regex::new(DURATION_PATTERN).unwrap();
        let accepted =
            [("5s", 5_000), ("1500ms", 1_500), ("10m", 600_000), ("1h30m", 5_400_000), ("2m30s500ms", 150_500)];
        for (text, millis) in accepted {
            assert!(pattern.is_match(text), "{text} refused");
            assert_eq!(humantime::parse_duration(text).unwrap().as_millis(), millis, "{text}");
        }
        for text in ["5 seconds", "90", "1.5h", "30m1h", "5min", "1d", "-5s", "5S"] {
            assert!(!pattern.is_match(text), "{text} accepted");
        }
    }
}
