//! What the demo and the alert latency bench measure: a latency beside its floor (the waits the
//! pipeline is configured to take), read from what the parts report: an AlertmanagerConfig's
//! routes (group_wait), Prometheus durations, and a twin's log line.

use std::path::Path;

use serde_json::{Value, json};

/// One measured latency beside its floor (the waits the pipeline is configured to take).
pub struct Measured {
    pub what: String,
    pub from: f64,
    pub to: f64,
    pub floor: f64,
    pub floor_parts: String,
}

#[derive(Default)]
pub struct Latencies(pub Vec<Measured>);

impl Latencies {
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|m| {
            format!(
                "{}: {:.1} s (floor {:.0} s = {}; {:+.1} s over it)",
                m.what,
                m.to - m.from,
                m.floor,
                m.floor_parts,
                m.to - m.from - m.floor
            )
        })
    }

    pub fn to_json(&self) -> Value {
        self.0
            .iter()
            .map(|m| {
                json!({"what": m.what, "from": m.from, "to": m.to, "seconds": m.to - m.from,
                            "floor_seconds": m.floor, "floor": m.floor_parts})
            })
            .collect()
    }
}

/// A duration as Prometheus and wardwatch write them (`10s`, `1m`, `500ms`, `1h30m`) in
/// seconds; 0 for what is not one.
pub fn seconds(duration: &str) -> f64 {
    wardwatch_serve::duration::parse(duration).map_or(0.0, |d| d.as_secs_f64())
}

/// The group_wait an alert with `labels` meets on its way to `receiver`, in the ward's
/// AlertmanagerConfig: the first child route for that receiver whose matchers it satisfies.
pub fn group_wait(config: &Value, receiver: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let route = &config["spec"]["route"];
    let matches = |route: &Value| {
        route["matchers"].as_array().into_iter().flatten().all(|m| {
            let value = labels.iter().find(|(k, _)| Some(*k) == m["name"].as_str()).map_or("", |(_, v)| *v);
            let wanted = m["value"].as_str().unwrap_or_default();
            match m["matchType"].as_str().unwrap_or("=") {
                "=~" => wanted.split('|').any(|w| w == value),
                "!=" => value != wanted,
                "!~" => !wanted.split('|').any(|w| w == value),
                _ => value == wanted,
            }
        })
    };
    let child = route["routes"].as_array()?.iter().find(|r| r["receiver"] == receiver && matches(r))?;
    child["groupWait"].as_str().or(route["groupWait"].as_str()).map(seconds)
}

/// When a twin's log says its network attack started (the line's RFC 3339 timestamp).
pub fn attack_start(log: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("starting the configured network attack scenario"))?;
    // Drop ANSI colour codes before the timestamp.
    let plain: String = {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let stamp: k8s_openapi::jiff::Timestamp = plain.split_whitespace().next()?.parse().ok()?;
    Some(stamp.as_millisecond() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_seconds() {
        assert_eq!(seconds("10s"), 10.0);
        assert_eq!(seconds("1m"), 60.0);
        assert_eq!(seconds("500ms"), 0.5);
        assert_eq!(seconds("1h30m"), 5400.0);
        assert_eq!(seconds("soon"), 0.0);
    }

    #[test]
    fn group_wait_is_the_first_matching_child_route_s_or_the_root_s() {
        let config = json!({"spec": {"route": {"receiver": "null", "groupWait": "30s", "routes": [
            {"receiver": "team", "groupWait": "5s", "matchers": [
                {"name": "severity", "value": "critical|warning", "matchType": "=~"},
                {"name": "category", "value": "clinical", "matchType": "="}]},
            {"receiver": "team", "matchers": [{"name": "category", "value": "network", "matchType": "="}]},
        ]}}});
        let clinical = [("severity", "critical"), ("category", "clinical")];
        assert_eq!(group_wait(&config, "team", &clinical), Some(5.0));
        assert_eq!(group_wait(&config, "team", &[("severity", "info"), ("category", "network")]), Some(30.0));
        assert_eq!(group_wait(&config, "team", &[("severity", "info"), ("category", "clinical")]), None);
        assert_eq!(group_wait(&config, "other", &clinical), None);
    }

    #[test]
    fn an_attack_starts_at_its_coloured_log_line_s_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("twin.log");
        std::fs::write(
            &log,
            "\u{1b}[2m2026-12-03T10:21:00.500000Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m starting the configured network attack scenario scenario=port-scan\n",
        )
        .unwrap();
        assert_eq!(attack_start(&log), Some(1_796_293_260.5));
        std::fs::write(&log, "nothing\n").unwrap();
        assert_eq!(attack_start(&log), None);
    }
}
