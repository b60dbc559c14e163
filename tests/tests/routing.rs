//! A ward's Alertmanager routing, end to end: the sample ward's AlertmanagerConfig, built by the
//! operator's builder, merged by the real prometheus-operator, checked by the real amtool route
//! by route, loaded by the real Alertmanager and exercised with alerts of the contract; and the
//! texts sent outside the hospital rendered by amtool's Go template engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use testbed::alert_receiver::{AlertReceiver, Delivery};
use testbed::http_probe::loopback_client;
use testbed::prometheus::run_tool;
use testbed::{Alertmanager, ControlPlane, PrometheusOperator};
use wardwatch_crds::Ward;
use wardwatch_operator::monitoring::AmRoute;
use wardwatch_operator::{names, routing};

type Labels = BTreeMap<String, String>;

const NAMESPACE: &str = "st-mary";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The documents of a manifest file.
fn documents(relative: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_path(relative)).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The Secret references of the ward's receivers, as (receiver, Secret, key).
fn secret_refs(ward: &Ward) -> Vec<(String, String, String)> {
    let mut refs = Vec::new();
    for receiver in &ward.spec.alerting.receivers {
        let mut add = |r: &wardwatch_crds::common::SecretKeyRef| {
            refs.push((receiver.name.clone(), r.name.clone(), r.key.clone()))
        };
        if let Some(d) = &receiver.discord {
            add(&d.webhook_url);
        }
        if let Some(t) = &receiver.telegram {
            add(&t.bot_token);
        }
        if let Some(w) = &receiver.webhook {
            add(&w.url);
        }
        if let Some(password) = receiver.email.as_ref().and_then(|e| e.auth_password.as_ref()) {
            add(password);
        }
    }
    refs
}

/// Which of the ward's receivers an alert should reach, from the ward's spec alone: each
/// receiver of a route that names its severity (for the contract's categories), the quarantine
/// webhook for network alerts of a device at or above the minimum severity; empty if none.
fn expected_receivers(ward: &Ward, alert: &Labels) -> BTreeSet<String> {
    let get = |name: &str| alert.get(name).map_or("", String::as_str);
    let mut names = BTreeSet::new();
    if routing::CATEGORIES.contains(&get("category")) {
        for route in &ward.spec.alerting.routes {
            if route.severities.iter().any(|s| s.as_str() == get("severity")) {
                names.extend(route.receivers.iter().cloned());
            }
        }
    }
    let policy = ward.spec.quarantine;
    if policy.mode == wardwatch_crds::network::QuarantineMode::OnAlert
        && get("category") == "network"
        && !get("device").is_empty()
        && policy.min_severity.and_above().any(|s| s.as_str() == get("severity"))
    {
        names.insert(routing::QUARANTINE_RECEIVER.to_owned());
    }
    names
}

/// Label sets that reach `route`: one per alternative of each matcher, each once with the
/// device, patient and bed of a patient's device and once without them.
fn label_sets_for(route: &AmRoute) -> Vec<Labels> {
    let base = labels(&[
        ("namespace", NAMESPACE),
        ("hospital", "st-mary"),
        ("ward", "icu-east"),
        ("alertname", "RoutingTest"),
        ("device", "bed-03-pump"),
        ("patient", "MRN-100992"),
        ("bed", "ICU-03"),
    ]);
    let mut sets = vec![base];
    for matcher in &route.matchers {
        let values: Vec<String> = match (matcher.match_type.as_str(), matcher.value.as_str()) {
            ("=", value) => vec![value.to_owned()],
            ("=~", ".+") => vec![format!("some-{}", matcher.name)],
            ("=~", alternatives) => alternatives.split('|').map(str::to_owned).collect(),
            _ => panic!("no label sets for the matcher {matcher:?}: teach this test"),
        };
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |v| {
                    let mut set = set.clone();
                    set.insert(matcher.name.clone(), v.clone());
                    set
                })
            })
            .collect();
    }
    let without_device: Vec<Labels> = sets
        .iter()
        .map(|set| {
            set.iter()
                .filter(|(k, _)| !["device", "patient", "bed"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    sets.extend(without_device);
    sets
}

/// `amtool config routes test`: the receivers (comma-separated, in route order) an alert with
/// `labels` reaches, verified against `expected`.
fn amtool_routes_test(config: &Path, labels: &Labels, expected: &str) {
    let mut args = vec!["config".to_owned(), "routes".to_owned(), "test".to_owned()];
    args.push(format!("--config.file={}", config.display()));
    args.push(format!("--verify.receivers={expected}"));
    args.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, text) = run_tool("amtool", &args).unwrap();
    assert!(ok, "amtool config routes test {labels:?}: expected {expected}, got: {text}");
}

#[tokio::test]
async fn the_sample_wards_routing_reaches_the_right_receivers_once() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})).await.unwrap();
    // The sample manifests apply as they stand: the Secret the ward's receivers name comes
    // with them (its file creates its namespace too, whatever order kubectl takes the files in).
    let manifests = repo_path("manifests");
    let output = cp.kubectl(&["apply", "-f", manifests.to_str().unwrap()]).unwrap();
    assert!(
        output.status.success(),
        "kubectl apply -f manifests/: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let operator = PrometheusOperator::start(&cp).await.expect("prometheus-operator starts");
    cp.apply(&json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
        "metadata": {"name": "hospital", "namespace": "monitoring"},
        "spec": {"version": "v0.25.0", "alertmanagerConfigSelector": {}, "alertmanagerConfigNamespaceSelector": {}}}))
        .await
        .expect("Alertmanager accepted");

    // The sample ward, stored (validated by wardwatch's CRD) and read back.
    let ward = documents("manifests/ward.yaml").into_iter().find(|d| d["kind"] == "Ward").unwrap();
    let stored = cp.apply(&ward).await.expect("ward accepted");
    let ward: Ward = serde_json::from_value(serde_json::to_value(stored).unwrap()).unwrap();

    // Its Secrets: the sample Secret names every key the receivers reference; for this test
    // the URLs point at a local receiver, one path per receiver.
    let mut receiver = AlertReceiver::start().await.unwrap();
    let sample: Value =
        documents("manifests/alerting-secret.yaml").into_iter().find(|d| d["kind"] == "Secret").unwrap();
    let mut secrets: BTreeMap<String, Value> = BTreeMap::new();
    secrets.insert(sample["metadata"]["name"].as_str().unwrap().to_owned(), sample.clone());
    for (receiver_name, secret, key) in secret_refs(&ward) {
        let object =
            secrets.get_mut(&secret).unwrap_or_else(|| panic!("manifests/alerting-secret.yaml lacks Secret {secret}"));
        let value = &mut object["stringData"][&key];
        assert!(value.is_string(), "manifests/alerting-secret.yaml lacks key {key} of Secret {secret}");
        if value.as_str().unwrap().starts_with("http") {
            *value = json!(format!("{}/{receiver_name}", receiver.url()));
        }
    }
    for secret in secrets.values() {
        cp.apply(secret).await.expect("Secret accepted");
    }
    cp.apply(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": names::quarantine_token_secret(&ward), "namespace": NAMESPACE},
        "stringData": {names::QUARANTINE_TOKEN_KEY: "test-token"}}))
        .await
        .unwrap();

    // The AlertmanagerConfig, built by the operator's builder; prometheus-operator merges it.
    let quarantine_url = format!("{}/quarantine", receiver.url());
    let config = routing::alertmanager_config(&ward, Some(&quarantine_url));
    cp.apply(&serde_json::to_value(&config).unwrap()).await.expect("AlertmanagerConfig accepted");
    let prefix = format!("{NAMESPACE}/{}/", names::alertmanager_config(&ward));
    let quarantine_name = format!("{prefix}{}", routing::QUARANTINE_RECEIVER);
    let rendered = operator
        .rendered_alertmanager_config("monitoring", "hospital", Duration::from_secs(60), |c| {
            c.contains(&quarantine_name)
        })
        .await
        .expect("alertmanager config rendered");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yaml");
    std::fs::write(&path, &rendered).unwrap();
    let (ok, text) = run_tool("amtool", &["check-config", path.to_str().unwrap()]).unwrap();
    assert!(ok, "amtool check-config: {text}\n{rendered}");

    // What prometheus-operator made of it: the ward's route under the global root, scoped to
    // the namespace; the inhibitions scoped to the namespace on both sides; the bearer token.
    let parsed: Value = serde_yaml::from_str(&rendered).unwrap();
    let global_null = parsed["route"]["receiver"].as_str().unwrap().to_owned();
    let ward_route = parsed["route"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["receiver"] == format!("{prefix}{}", routing::NULL_RECEIVER))
        .expect("the ward's route in the rendered configuration");
    assert!(ward_route["matchers"].to_string().contains(r#"namespace=\"st-mary\""#), "{ward_route}");
    let inhibit_rules = parsed["inhibit_rules"].as_array().unwrap();
    assert_eq!(inhibit_rules.len(), config.spec.inhibit_rules.len());
    for rule in inhibit_rules {
        for side in ["source_matchers", "target_matchers"] {
            assert!(rule[side].to_string().contains(r#"namespace=\"st-mary\""#), "{rule}");
        }
    }
    assert!(rendered.contains("test-token"), "the quarantine webhook's bearer token");

    // Every route of the builder, each alternative of each matcher, with and without a device:
    // amtool reaches exactly the receivers the ward's spec names, each once.
    let order: Vec<&str> = config.spec.route.routes.iter().map(|r| r.receiver.as_str()).collect();
    let mut tested = BTreeSet::new();
    for route in &config.spec.route.routes {
        for set in label_sets_for(route) {
            if !tested.insert(set.clone()) {
                continue;
            }
            let expected = expected_receivers(&ward, &set);
            let mut in_order: Vec<String> = Vec::new();
            for name in &order {
                if expected.contains(*name) && !in_order.iter().any(|n| n == name) {
                    in_order.push((*name).to_owned());
                }
            }
            assert_eq!(in_order.len(), expected.len(), "every expected receiver has a route: {expected:?}");
            let verify = if in_order.is_empty() {
                format!("{prefix}{}", routing::NULL_RECEIVER)
            } else {
                in_order.iter().map(|n| format!("{prefix}{n}")).collect::<Vec<_>>().join(",")
            };
            amtool_routes_test(&path, &set, &verify);

            // And what reaches no receiver: another ward, another namespace, an unknown
            // category or severity.
            let with = |name: &str, value: &str| {
                let mut other = set.clone();
                other.insert(name.to_owned(), value.to_owned());
                other
            };
            amtool_routes_test(&path, &with("ward", "icu-west"), &global_null);
            amtool_routes_test(&path, &with("namespace", "elsewhere"), &global_null);
            amtool_routes_test(&path, &with("category", "billing"), &format!("{prefix}{}", routing::NULL_RECEIVER));
            amtool_routes_test(&path, &with("severity", "none"), &format!("{prefix}{}", routing::NULL_RECEIVER));
        }
    }
    assert!(tested.len() >= config.spec.route.routes.len(), "{} label sets", tested.len());

    // The real Alertmanager with that configuration, and alerts of the contract.
    let alertmanager = Alertmanager::start(&rendered).await.expect("alertmanager loads the rendered configuration");
    let clinical = |name: &str, severity: &str, patient: &str, bed: &str| {
        alert(&[
            ("alertname", name),
            ("severity", severity),
            ("category", "clinical"),
            ("patient", patient),
            ("bed", bed),
        ])
    };
    let alerts = vec![
        clinical("HypoxiaDetected", "critical", "MRN-100234", "ICU-01"),
        // Held back by the critical alert of the same patient.
        clinical("SpO2Low", "warning", "MRN-100234", "ICU-01"),
        clinical("NEWS2Emergency", "critical", "MRN-100234", "ICU-01"),
        // Held back by NEWS2Emergency.
        clinical("NEWS2Urgent", "warning", "MRN-100234", "ICU-01"),
        // Another patient's warning: not held back by the first patient's critical alerts.
        clinical("HeartRateHigh", "warning", "MRN-100871", "ICU-02"),
        alert(&[
            ("alertname", "SynFloodDetected"),
            ("severity", "critical"),
            ("category", "network"),
            ("device", "nurse-station-ws"),
            ("rule", "syn_flood"),
        ]),
        // Held back by the critical alert of the same device.
        alert(&[
            ("alertname", "PortScanDetected"),
            ("severity", "warning"),
            ("category", "network"),
            ("device", "nurse-station-ws"),
            ("rule", "port_scan"),
        ]),
        alert(&[
            ("alertname", "DeviceSilent"),
            ("severity", "warning"),
            ("category", "device"),
            ("device", "bed-04-ventilator"),
            ("patient", "MRN-101005"),
            ("bed", "ICU-04"),
        ]),
        // Held back: its patient's device is silent.
        clinical("HypoxiaDetected", "critical", "MRN-101005", "ICU-04"),
    ];
    let posted =
        loopback_client().post(format!("{}/api/v2/alerts", alertmanager.url())).json(&alerts).send().await.unwrap();
    assert!(posted.status().is_success(), "{}", posted.text().await.unwrap());

    // One notification per receiver and group: collect until none has come for 10 s (the
    // critical routes wait 5 s; the next notification of a group would come after 30 s).
    let mut deliveries: Vec<Delivery> = Vec::new();
    while let Some(delivery) = receiver.next(Duration::from_secs(if deliveries.is_empty() { 30 } else { 10 })).await {
        deliveries.push(delivery);
    }
    let notified = |path: &str| -> Vec<&Delivery> { deliveries.iter().filter(|d| d.path == path).collect() };

    // The team's webhook: Alertmanager's whole payload, every label, one per patient or device.
    let mut team: Vec<(String, Vec<String>)> = notified("/icu-team")
        .iter()
        .map(|d| {
            let group = d.body["groupLabels"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" ");
            let mut names: Vec<String> = d.body["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            (group, names)
        })
        .collect();
    team.sort();
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        team,
        vec![
            ("MRN-100234 icu-east".to_owned(), strings(&["HypoxiaDetected", "NEWS2Emergency"])),
            ("MRN-100871 icu-east".to_owned(), strings(&["HeartRateHigh"])),
            ("bed-04-ventilator icu-east".to_owned(), strings(&["DeviceSilent"])),
            ("nurse-station-ws icu-east".to_owned(), strings(&["SynFloodDetected"])),
        ],
        "{deliveries:#?}"
    );
    assert!(
        notified("/icu-team").iter().any(|d| d.body.to_string().contains("MRN-100234")),
        "in-hospital: every label"
    );

    // Discord (critical only): ward, bed and what happened; never the patient.
    let discord = notified("/security");
    assert_eq!(discord.len(), 2, "{deliveries:#?}");
    for delivery in &discord {
        let body = delivery.body.to_string();
        assert!(!body.contains("MRN-"), "a patient identifier left the hospital: {body}");
        let title = delivery.body["embeds"][0]["title"].as_str().unwrap();
        assert!(title.starts_with("[FIRING:"), "{title}");
        assert!(title.contains("st-mary, ward icu-east"), "{title}");
    }
    let patient_page =
        discord.iter().find(|d| d.body.to_string().contains("HypoxiaDetected")).expect("the hypoxia page");
    let text = patient_page.body["embeds"][0]["description"].as_str().unwrap();
    assert!(patient_page.body["embeds"][0]["title"].as_str().unwrap().contains("bed ICU-01"));
    for expected in ["**CRITICAL** HypoxiaDetected", "NEWS2Emergency", "SpO2 below", "bed ICU-01", "README.md#alert-"] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }

    // The quarantine webhook: the network alert of the device, once.
    let quarantine = notified("/quarantine");
    assert_eq!(quarantine.len(), 1, "{deliveries:#?}");
    assert_eq!(quarantine[0].body["groupLabels"], json!({"namespace": NAMESPACE, "device": "nurse-station-ws"}));
    assert_eq!(deliveries.len(), 4 + 2 + 1, "{deliveries:#?}");
}

/// An alert as Prometheus sends it: the contract's labels and annotations.
fn alert(pairs: &[(&str, &str)]) -> Value {
    let mut labels = labels(&[("namespace", NAMESPACE), ("hospital", "st-mary"), ("ward", "icu-east")]);
    labels.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let name = labels["alertname"].clone();
    let place = match labels.get("bed") {
        Some(bed) => format!("bed {bed}, ward icu-east"),
        None => format!("{}, ward icu-east", labels.get("device").cloned().unwrap_or_default()),
    };
    let summary = match name.as_str() {
        "HypoxiaDetected" => format!("SpO2 below 90 % in {place}"),
        _ => format!("{name} in {place}"),
    };
    json!({
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": format!("{name} holds for {place} <check the device & the patient>."),
            "runbook_url": format!("https://github.com/wardwatch/wardwatch/blob/main/README.md#alert-{}", name.to_lowercase()),
        },
    })
}

/// Renders `template` with amtool (Alertmanager's template engine and functions) for `data`.
fn render(dir: &Path, template: &str, html: bool, data: &Value) -> String {
    let empty = dir.join("none.tmpl");
    std::fs::write(&empty, "").unwrap();
    let data_file = dir.join("data.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let (ok, text) = run_tool(
        "amtool",
        &[
            "template",
            "render",
            &format!("--template.glob={}", empty.display()),
            &format!("--template.data={}", data_file.display()),
            &format!("--template.type={}", if html { "html" } else { "text" }),
            &format!("--template.text={template}"),
        ],
    )
    .unwrap();
    assert!(ok, "amtool template render: {text}\n{template}");
    text
}

/// Alertmanager's notification data for a patient's group: two firing alerts (one with a
/// description that needs escaping) and one resolved.
fn patient_group() -> Value {
    let mut alerts = Vec::new();
    for (name, severity, status) in [
        ("HypoxiaDetected", "critical", "firing"),
        ("NEWS2Emergency", "critical", "firing"),
        ("RespiratoryRateHigh", "warning", "resolved"),
    ] {
        let mut a = alert(&[
            ("alertname", name),
            ("severity", severity),
            ("category", "clinical"),
            ("patient", "MRN-100234"),
            ("bed", "ICU-01"),
        ]);
        a["status"] = json!(status);
        a["startsAt"] = json!("2026-01-01T10:00:00Z");
        a["endsAt"] = json!(if status == "resolved" { "2026-01-01T10:05:00Z" } else { "0001-01-01T00:00:00Z" });
        alerts.push(a);
    }
    json!({
        "receiver": "security", "status": "firing", "alerts": alerts,
        "groupLabels": {"ward": "icu-east", "patient": "MRN-100234"},
        "commonLabels": {"namespace": NAMESPACE, "hospital": "st-mary", "ward": "icu-east", "category": "clinical",
                         "patient": "MRN-100234", "bed": "ICU-01"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.st-mary.svc:9093",
    })
}

#[test]
fn texts_for_discord_telegram_and_email_render_without_the_patient_unless_the_ward_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = patient_group();
    for include_patient in [false, true] {
        let texts = routing::texts(include_patient);
        for (what, template, html) in [
            ("title / Subject", &texts.title, false),
            ("Discord", &texts.discord, false),
            // Alertmanager renders Telegram's HTML messages with html/template since 0.25
            // (text/template before); the template escapes alike in both.
            ("Telegram", &texts.telegram, true),
            ("Telegram (Alertmanager 0.24)", &texts.telegram, false),
            ("e-mail text", &texts.email_text, false),
            ("e-mail HTML", &texts.email_html, true),
        ] {
            let out = render(dir.path(), template, html, &data);
            assert_eq!(out.contains("MRN-100234"), include_patient, "{what} (opt-in {include_patient}):\n{out}");
            for expected in ["st-mary", "icu-east", "ICU-01", "HypoxiaDetected"] {
                assert!(out.contains(expected), "{what} names {expected}:\n{out}");
            }
            if what == "title / Subject" {
                assert!(
                    out.starts_with("[FIRING:2] HypoxiaDetected, NEWS2Emergency, RespiratoryRateHigh - st-mary, ward icu-east, bed ICU-01"),
                    "{out}"
                );
                continue;
            }
            for expected in [
                "NEWS2Emergency",
                "SpO2 below 90",
                "README.md#alert-hypoxiadetected",
                "RESOLVED",
                "RespiratoryRateHigh",
            ] {
                assert!(out.contains(expected), "{what} names {expected}:\n{out}");
            }
            // Telegram reads HTML and the e-mail body is HTML: the description's `<` and `&` arrive escaped.
            let escaped = what.starts_with("Telegram") || html;
            assert_eq!(out.contains("&lt;check the device &amp; the patient&gt;"), escaped, "{what}:\n{out}");
        }
    }
}
