//! `promtool test rules` files written from the rule builders themselves, so a changed limit,
//! band or expression is tested as built:
//! - every clinical alert fires one step beyond its limit and stays silent at the limit and one
//!   step inside it, from a patient reported by its device and by the gateway at once (one
//!   alert, with the bed), and not before its `for` duration;
//! - a silent device's stale value raises nothing;
//! - NEWS2's parameter score at both sides of every band edge of every parameter (SpO2 on both
//!   scales, on air and on oxygen), and the alerts at the aggregate thresholds;
//! - device-health, intrusion and anomaly alerts on the series the exporters expose.
//!
//! The rules file for these tests is the ward's groups without annotations: promtool compares
//! annotations too, and theirs are templates checked by `promtool check rules` and end to end.

use serde_json::{Value, json};
use wardwatch_clinical::vitals;
use wardwatch_crds::Ward;

use super::alert::Scope;
use super::clinical::{ALARMS, band};
use super::network::INTRUSION_ALERTS;
use super::news2::{self, Bands};
use crate::monitoring::RuleGroup;

/// Seconds between input samples and between evaluations in the tests.
pub const STEP_SECONDS: u32 = 5;
/// Samples per input series (10 minutes).
const SAMPLES: u32 = 120;

/// The ward's rule groups without annotations, as a Prometheus rules file.
pub fn rules_file(ward: &Ward) -> String {
    let groups: Vec<RuleGroup> = super::rule_groups(ward)
        .into_iter()
        .map(|mut group| {
            group.interval = Some(format!("{STEP_SECONDS}s"));
            for rule in &mut group.rules {
                rule.annotations.clear();
            }
            group
        })
        .collect();
    serde_yaml::to_string(&json!({ "groups": groups })).expect("rule groups serialise")
}

/// One patient's source: the labels an exporter's target gives its series.
#[derive(Clone)]
struct Source<'a> {
    scope: &'a Scope,
    hospital: &'a str,
    patient: String,
    /// None for the gateway's exporter (which knows no bed).
    bed: Option<String>,
    instance: String,
    spo2_scale: Option<&'static str>,
}

impl Source<'_> {
    fn labels(&self, metric: &str, extra: &[(&str, &str)]) -> String {
        let mut labels = vec![
            ("namespace", self.scope.namespace.clone()),
            ("ward", self.scope.ward.clone()),
            ("hospital", self.hospital.to_owned()),
            ("patient", self.patient.clone()),
            ("instance", self.instance.clone()),
        ];
        match &self.bed {
            Some(bed) => {
                labels.push(("bed", bed.clone()));
                labels.push(("component", "device".to_owned()));
                labels.push(("device", format!("dev-{}", self.patient)));
            }
            None => labels.push(("component", "gateway".to_owned())),
        }
        if let Some(scale) = self.spo2_scale {
            labels.push(("spo2_scale", scale.to_owned()));
        }
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let text: Vec<String> = labels.iter().map(|(k, v)| format!(r#"{k}="{v}""#)).collect();
        format!("{metric}{{{}}}", text.join(","))
    }

    /// The vital's gauge at `value` and its observation time keeping up with the clock.
    fn vital(&self, key: &str, value: f64) -> Vec<Value> {
        let vital = vitals::by_key(key).expect("a catalogue vital");
        vec![
            json!({"series": self.labels(vital.metric, &[]), "values": format!("{}x{SAMPLES}", number(value))}),
            json!({"series": self.labels("wardwatch_vital_observed_timestamp_seconds", &[("vital", key)]),
                   "values": format!("0+{STEP_SECONDS}x{SAMPLES}")}),
        ]
    }
}

/// A value as promtool reads it, without float noise (`35.9`, not `35.900000000000006`).
fn number(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

fn patient_labels(scope: &Scope, hospital: &str, patient: &str, bed: Option<&str>) -> Value {
    let mut labels =
        json!({"namespace": scope.namespace, "ward": scope.ward, "hospital": hospital, "patient": patient});
    if let Some(bed) = bed {
        labels["bed"] = json!(bed);
    }
    labels
}

/// One test case per clinical alert.
fn clinical_tests(ward: &Ward, scope: &Scope) -> Vec<Value> {
    let hospital = ward.spec.hospital_id.as_str();
    let mut tests = Vec::new();
    for alarm in ALARMS {
        let limits = band(&ward.spec.thresholds, alarm.key);
        for (side, limit, outward) in [(alarm.low, limits.low, -1.0), (alarm.high, limits.high, 1.0)] {
            let mut series = Vec::new();
            let cases =
                [("beyond", limit + outward * alarm.step), ("at", limit), ("inside", limit - outward * alarm.step)];
            for (case, value) in cases {
                let patient = format!("{}-{case}", alarm.key);
                let device = Source {
                    scope,
                    hospital,
                    patient: patient.clone(),
                    bed: Some(format!("B-{case}")),
                    instance: format!("device-{case}"),
                    spo2_scale: None,
                };
                // The gateway's exporter reports the same patient: still one alert.
                let gateway = Source { bed: None, instance: "gateway".into(), ..device.clone() };
                series.extend(device.vital(alarm.key, value));
                series.extend(gateway.vital(alarm.key, value));
            }
            let mut labels = patient_labels(scope, hospital, &format!("{}-beyond", alarm.key), Some("B-beyond"));
            labels["severity"] = json!(side.severity.as_str());
            labels["category"] = json!("clinical");
            labels["vital"] = json!(alarm.key);
            let mut checks = vec![json!({"eval_time": format!("{}s", side.for_seconds + 2 * STEP_SECONDS),
                                           "alertname": side.alert, "exp_alerts": [{"exp_labels": labels}]})];
            if side.for_seconds >= 2 * STEP_SECONDS {
                // Not before its duration: still pending half-way through.
                checks.push(json!({"eval_time": format!("{}s", side.for_seconds / 2), "alertname": side.alert, "exp_alerts": []}));
            }
            tests.push(json!({"name": format!("{} at {} ± {}", side.alert, limit, alarm.step),
                              "interval": format!("{STEP_SECONDS}s"), "input_series": series, "alert_rule_test": checks}));
        }
    }
    tests
}

/// A silent device's last value is ignored once older than the freshness window.
fn stale_test(ward: &Ward, scope: &Scope) -> Value {
    let source = Source {
        scope,
        hospital: &ward.spec.hospital_id,
        patient: "stale".into(),
        bed: Some("B-stale".into()),
        instance: "device-stale".into(),
        spo2_scale: None,
    };
    let vital = vitals::by_key("spo2").unwrap();
    let series = vec![
        json!({"series": source.labels(vital.metric, &[]), "values": format!("80x{SAMPLES}")}),
        // Observed once at t=0, never again.
        json!({"series": source.labels("wardwatch_vital_observed_timestamp_seconds", &[("vital", "spo2")]),
               "values": format!("0x{SAMPLES}")}),
    ];
    let mut labels = patient_labels(scope, &ward.spec.hospital_id, "stale", Some("B-stale"));
    labels["severity"] = json!("critical");
    labels["category"] = json!("clinical");
    labels["vital"] = json!("spo2");
    json!({"name": "a silent device's stale SpO2", "interval": format!("{STEP_SECONDS}s"), "input_series": series,
    "alert_rule_test": [
        {"eval_time": "60s", "alertname": "HypoxiaDetected", "exp_alerts": [{"exp_labels": labels}]},
        {"eval_time": "400s", "alertname": "HypoxiaDetected", "exp_alerts": []},
    ]})
}

/// Values either side of each band edge: the integers (or tenths) a bound of `.5` (`.05`) parts.
fn edge_values(bands: &Bands, tenths: bool) -> Vec<f64> {
    let mut values = Vec::new();
    for &(upper, _) in bands.below {
        let (below, above) = if tenths {
            ((upper * 10.0).floor() / 10.0, (upper * 10.0).ceil() / 10.0)
        } else {
            (upper.floor(), upper.ceil())
        };
        values.extend([below, above]);
    }
    values
}

/// NEWS2's parameter score at every band edge, and the alerts at the aggregate thresholds.
fn news2_tests(ward: &Ward, scope: &Scope) -> Vec<Value> {
    let hospital = ward.spec.hospital_id.as_str();
    let source = |patient: &str, scale: Option<&'static str>| Source {
        scope,
        hospital,
        patient: patient.to_owned(),
        bed: Some(format!("B-{patient}")),
        instance: format!("i-{patient}"),
        spo2_scale: scale,
    };
    let mut tests = Vec::new();
    // (parameter, vital, bands, tenths, spo2 scale, FiO2 of the patient)
    type Table = (&'static str, &'static str, Bands, bool, Option<&'static str>, Option<f64>);
    let tables: &[Table] = &[
        ("respiratory_rate", "respiratory_rate", news2::RESPIRATORY_RATE, false, None, None),
        ("spo2", "spo2", news2::SPO2_SCALE1, false, None, None),
        ("spo2", "spo2", news2::SPO2_SCALE2_AIR, false, Some("2"), Some(21.0)),
        ("spo2", "spo2", news2::SPO2_SCALE2_OXYGEN, false, Some("2"), Some(40.0)),
        ("systolic_bp", "systolic_bp", news2::SYSTOLIC, false, None, None),
        ("heart_rate", "heart_rate", news2::PULSE, false, None, None),
        ("temperature", "temperature", news2::TEMPERATURE, true, None, None),
    ];
    for (index, (parameter, key, bands, tenths, scale, fio2)) in tables.iter().enumerate() {
        let mut series = Vec::new();
        let mut expected = Vec::new();
        for value in edge_values(bands, *tenths) {
            let patient = format!("n{index}-{}", number(value).replace('.', "_"));
            let s = source(&patient, *scale);
            series.extend(s.vital(key, value));
            if let Some(fio2) = fio2 {
                series.extend(s.vital("fio2", *fio2));
            }
            expected.push(json!({"labels": format!(
                r#"{}{{namespace="{}",ward="{}",hospital="{hospital}",patient="{patient}",parameter="{parameter}"}}"#,
                news2::PARAMETER_SCORE, scope.namespace, scope.ward),
                "value": bands.points(value)}));
        }
        tests.push(
            json!({"name": format!("NEWS2 {parameter} band edges (scale {}, FiO2 {:?})", scale.unwrap_or("1"), fio2),
            "interval": format!("{STEP_SECONDS}s"), "input_series": series,
            "promql_expr_test": [{"expr": format!(r#"{}{{parameter="{parameter}"}}"#, news2::PARAMETER_SCORE),
                                  "eval_time": "10s", "exp_samples": expected}]}),
        );
    }
    // Supplemental oxygen: room air scores 0, anything above 2.
    let mut series = Vec::new();
    let mut expected = Vec::new();
    for fio2 in [21.0, 22.0] {
        let patient = format!("o2-{fio2}");
        series.extend(source(&patient, None).vital("fio2", fio2));
        expected.push(json!({"labels": format!(
            r#"{}{{namespace="{}",ward="{}",hospital="{hospital}",patient="{patient}",parameter="supplemental_oxygen"}}"#,
            news2::PARAMETER_SCORE, scope.namespace, scope.ward), "value": if fio2 > 21.0 { 2 } else { 0 }}));
    }
    tests.push(
        json!({"name": "NEWS2 supplemental oxygen", "interval": format!("{STEP_SECONDS}s"), "input_series": series,
        "promql_expr_test": [{"expr": format!(r#"{}{{parameter="supplemental_oxygen"}}"#, news2::PARAMETER_SCORE),
                              "eval_time": "10s", "exp_samples": expected}]}),
    );

    // Aggregates: (patient, readings, NEWS2Urgent?, NEWS2Emergency?). Every other reading scores 0.
    type Case = (&'static str, &'static [(&'static str, f64)], bool, bool);
    let patients: &[Case] = &[
        ("total4", &[("respiratory_rate", 21.0), ("heart_rate", 111.0)], false, false),
        ("total5", &[("respiratory_rate", 21.0), ("heart_rate", 111.0), ("temperature", 38.1)], true, false),
        ("total6", &[("respiratory_rate", 21.0), ("heart_rate", 111.0), ("temperature", 39.1)], true, false),
        ("single3", &[("respiratory_rate", 8.0), ("heart_rate", 70.0)], true, false),
        ("total7", &[("respiratory_rate", 25.0), ("heart_rate", 111.0), ("temperature", 39.1)], true, true),
    ];
    let mut series = Vec::new();
    let mut observed = Vec::new();
    let (mut urgent, mut emergency) = (Vec::new(), Vec::new());
    for (patient, readings, is_urgent, is_emergency) in patients {
        let s = source(patient, None);
        for (key, value) in *readings {
            series.extend(s.vital(key, *value));
        }
        observed.push(json!({"labels": format!(
            r#"{}{{namespace="{}",ward="{}",hospital="{hospital}",patient="{patient}"}}"#,
            news2::PARAMETERS_OBSERVED, scope.namespace, scope.ward), "value": readings.len()}));
        let mut labels = patient_labels(scope, hospital, patient, Some(&format!("B-{patient}")));
        labels["category"] = json!("clinical");
        if *is_urgent {
            labels["severity"] = json!("warning");
            urgent.push(json!({"exp_labels": labels.clone()}));
        }
        if *is_emergency {
            labels["severity"] = json!("critical");
            emergency.push(json!({"exp_labels": labels}));
        }
    }
    tests.push(
        json!({"name": "NEWS2 aggregate thresholds", "interval": format!("{STEP_SECONDS}s"), "input_series": series,
        "promql_expr_test": [{"expr": news2::PARAMETERS_OBSERVED, "eval_time": "10s", "exp_samples": observed}],
        "alert_rule_test": [
            {"eval_time": "45s", "alertname": "NEWS2Urgent", "exp_alerts": urgent},
            {"eval_time": "45s", "alertname": "NEWS2Emergency", "exp_alerts": emergency},
            {"eval_time": "15s", "alertname": "NEWS2Emergency", "exp_alerts": []},
        ]}),
    );
    tests
}

/// Device-health and intrusion alerts on exporter series.
fn device_and_network_tests(ward: &Ward, scope: &Scope) -> Vec<Value> {
    let target = |extra: &str| {
        format!(
            r#"{{namespace="{}",ward="{}",hospital="{}",instance="10.40.0.21:9478",endpoint="metrics",component="device",device="bed-01",patient="P-1",bed="B-1"{extra}}}"#,
            scope.namespace, scope.ward, ward.spec.hospital_id
        )
    };
    let gateway = format!(
        r#"{{namespace="{}",ward="{}",hospital="{}",instance="10.40.0.10:9478",endpoint="metrics",component="gateway"}}"#,
        scope.namespace, scope.ward, ward.spec.hospital_id
    );
    let device_labels = |severity: &str, category: &str| {
        json!({"namespace": scope.namespace, "ward": scope.ward, "hospital": ward.spec.hospital_id,
               "instance": "10.40.0.21:9478", "endpoint": "metrics", "component": "device", "device": "bed-01",
               "patient": "P-1", "bed": "B-1", "severity": severity, "category": category})
    };
    let mut tests = Vec::new();
    // The device reports every second until t=60s, then falls silent: 3 x 1 s + 15 s later it is.
    tests.push(json!({"name": "DeviceSilent", "interval": format!("{STEP_SECONDS}s"),
        "input_series": [
            {"series": format!("wardwatch_hl7_last_message_timestamp_seconds{}", target("")), "values": format!("0+5x12 60x{SAMPLES}")},
            {"series": format!("wardwatch_hl7_expected_report_interval_seconds{}", target("")), "values": format!("1x{SAMPLES}")},
        ],
        "alert_rule_test": [
            {"eval_time": "70s", "alertname": "DeviceSilent", "exp_alerts": []},
            {"eval_time": "85s", "alertname": "DeviceSilent", "exp_alerts": [{"exp_labels": device_labels("critical", "device")}]},
        ]}));
    tests.push(json!({"name": "WardwatchExporterDown", "interval": format!("{STEP_SECONDS}s"),
        "input_series": [{"series": format!("up{}", target("")), "values": format!("1x6 0x{SAMPLES}")}],
        "alert_rule_test": [
            {"eval_time": "45s", "alertname": "WardwatchExporterDown", "exp_alerts": []},
            {"eval_time": "70s", "alertname": "WardwatchExporterDown", "exp_alerts": [{"exp_labels": device_labels("warning", "device")}]},
        ]}));
    // The network health score loses its share for each problem in turn: an intrusion rule
    // holds from 35 s (x0.5), the capture drops from 65 s (x0.75), TCP retransmits 40 % from
    // 125 s (x0.75), and the exporter is down from 200 s (0).
    let score_labels = format!(
        r#"{}{{device="bed-01",hospital="{}",namespace="{}",ward="{}"}}"#,
        super::network_health::DEVICE_SCORE,
        ward.spec.hospital_id,
        scope.namespace,
        scope.ward
    );
    let score_at = |eval_time: &str, value: f64| {
        json!({"expr": super::network_health::DEVICE_SCORE, "eval_time": eval_time,
               "exp_samples": [{"labels": score_labels, "value": value}]})
    };
    tests.push(json!({"name": "network health score", "interval": format!("{STEP_SECONDS}s"),
        "input_series": [
            {"series": format!("up{}", target("")), "values": format!("1x39 0x{SAMPLES}")},
            {"series": format!("wardwatch_ids_alert_active{}", target(r#",rule="port_scan""#)), "values": format!("0x6 1x{SAMPLES}")},
            {"series": format!("wardwatch_capture_dropped_packets_total{}", target(r#",reason="kernel""#)), "values": format!("0x12 10+10x{SAMPLES}")},
            {"series": format!("wardwatch_packets_total{}", target(r#",protocol="tcp""#)), "values": format!("0+100x{SAMPLES}")},
            {"series": format!("wardwatch_tcp_retransmitted_segments_total{}", target("")), "values": format!("0x24 1000+1000x{SAMPLES}")},
        ],
        "promql_expr_test": [score_at("20s", 100.0), score_at("40s", 50.0), score_at("80s", 37.5),
                             score_at("150s", 28.125), score_at("210s", 0.0)]}));
    // Each intrusion rule: the device's counter steps once at t=30s; the gateway's exporter sees
    // it too and is named as the gateway.
    for intrusion in INTRUSION_ALERTS {
        let rule = format!(r#",rule="{}",severity="{}""#, intrusion.rule, intrusion.severity.as_str());
        let gateway_series = gateway.replace('}', &format!("{rule}}}"));
        let mut on_device = device_labels(intrusion.severity.as_str(), "network");
        on_device["rule"] = json!(intrusion.rule);
        for key in ["instance", "endpoint"] {
            on_device.as_object_mut().unwrap().remove(key);
        }
        let mut on_gateway = on_device.clone();
        for key in ["patient", "bed"] {
            on_gateway.as_object_mut().unwrap().remove(key);
        }
        on_gateway["component"] = json!("gateway");
        on_gateway["device"] = json!(crate::names::gateway(ward));
        tests.push(json!({"name": intrusion.alert, "interval": format!("{STEP_SECONDS}s"),
            "input_series": [
                {"series": format!("wardwatch_ids_alerts_total{}", target(&rule)), "values": format!("0x6 1x{SAMPLES}")},
                {"series": format!("wardwatch_ids_alerts_total{gateway_series}"), "values": format!("0x6 1x{SAMPLES}")},
            ],
            "alert_rule_test": [
                {"eval_time": "25s", "alertname": intrusion.alert, "exp_alerts": []},
                {"eval_time": "35s", "alertname": intrusion.alert, "exp_alerts": [{"exp_labels": on_device}, {"exp_labels": on_gateway}]},
                {"eval_time": "300s", "alertname": intrusion.alert, "exp_alerts": []},
            ]}));
    }
    if ward.spec.anomaly.enabled {
        tests.extend(anomaly_tests(scope, &target, &gateway, &device_labels));
    }
    tests
}

/// The anomaly alerts: the device's network model learns until 60 s (its scores then mean
/// nothing), scores 0.5 until 125 s and 2 after; the patient's vitals model, seen by the device's
/// exporter and the gateway's, scores 1.5 from 60 s. Each alert fires 30 s after its score
/// crosses 1 while scoring, once (the patient's with the device's bed).
fn anomaly_tests(
    scope: &Scope,
    target: &dyn Fn(&str) -> String,
    gateway: &str,
    device_labels: &dyn Fn(&str, &str) -> Value,
) -> Vec<Value> {
    let mut network = device_labels("warning", "network");
    for key in ["instance", "endpoint"] {
        network.as_object_mut().unwrap().remove(key);
    }
    network["model"] = json!("network");
    let mut vitals = patient_labels(scope, network["hospital"].as_str().unwrap(), "P-1", Some("B-1"));
    vitals["severity"] = json!("warning");
    vitals["category"] = json!("clinical");
    vitals["model"] = json!("vitals");
    let state = |labels: &str, state: &str| {
        format!("wardwatch_anomaly_model_state{}", labels.replace('}', &format!(r#",state="{state}"}}"#)))
    };
    let network_series = target(r#",model="network""#);
    let device_vitals = target(r#",model="vitals""#);
    let gateway_vitals = gateway.replace('}', r#",model="vitals",patient="P-1"}"#);
    vec![
        json!({"name": "NetworkAnomalyDetected", "interval": format!("{STEP_SECONDS}s"),
        "input_series": [
            {"series": format!("wardwatch_anomaly_score{network_series}"), "values": format!("5x12 0.5x12 2x{SAMPLES}")},
            {"series": state(&network_series, "learning"), "values": format!("1x12 0x{SAMPLES}")},
            {"series": state(&network_series, "scoring"), "values": format!("0x12 1x{SAMPLES}")},
        ],
        "alert_rule_test": [
            {"eval_time": "55s", "alertname": "NetworkAnomalyDetected", "exp_alerts": []},
            {"eval_time": "150s", "alertname": "NetworkAnomalyDetected", "exp_alerts": []},
            {"eval_time": "165s", "alertname": "NetworkAnomalyDetected", "exp_alerts": [{"exp_labels": network}]},
        ]}),
        json!({"name": "VitalSignPatternAnomaly", "interval": format!("{STEP_SECONDS}s"),
        "input_series": [
            {"series": format!("wardwatch_vital_observed_timestamp_seconds{}", target(r#",vital="heart_rate""#)), "values": format!("0+5x{SAMPLES}")},
            {"series": format!("wardwatch_anomaly_score{device_vitals}"), "values": format!("0.2x12 1.5x{SAMPLES}")},
            {"series": state(&device_vitals, "scoring"), "values": format!("1x{SAMPLES}")},
            {"series": format!("wardwatch_anomaly_score{gateway_vitals}"), "values": format!("0.2x12 1.5x{SAMPLES}")},
            {"series": state(&gateway_vitals, "scoring"), "values": format!("1x{SAMPLES}")},
        ],
        "alert_rule_test": [
            {"eval_time": "80s", "alertname": "VitalSignPatternAnomaly", "exp_alerts": []},
            {"eval_time": "95s", "alertname": "VitalSignPatternAnomaly", "exp_alerts": [{"exp_labels": vitals}]},
        ]}),
    ]
}

/// The `promtool test rules` file for `ward`, reading the rules file `rules_path`.
pub fn tests_file(ward: &Ward, rules_path: &str) -> String {
    let scope = super::scope(ward);
    let mut tests = clinical_tests(ward, &scope);
    tests.push(stale_test(ward, &scope));
    if ward.spec.news2.enabled {
        tests.extend(news2_tests(ward, &scope));
    }
    tests.extend(device_and_network_tests(ward, &scope));
    let file = json!({"rule_files": [rules_path], "evaluation_interval": format!("{STEP_SECONDS}s"), "tests": tests});
    serde_yaml::to_string(&file).expect("tests serialise")
}
