//! The operator end to end on the test bed: a real kube-apiserver, etcd and the garbage
//! collector of kube-controller-manager, prometheus-operator's real CRDs, and the operator
//! binary as a process.

mod support;

use std::time::Duration;

use support::*;
use testbed::{ControlPlane, eventually};

const CONVERGE: Duration = Duration::from_secs(60);
const NS: &str = "st-mary";
const DEVICES: [&str; 5] =
    ["bed-01-monitor", "bed-02-oximeter", "bed-03-pump", "bed-04-ventilator", "nurse-station-ws"];

async fn bed_with_crds() -> ControlPlane {
    let mut cp = ControlPlane::start().await.expect("control plane starts");
    cp.start_controller_manager(&["garbage-collector-controller"]).await.expect("controller-manager starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    cp
}

/// Every object the ward and its devices need, as `kind/name`.
fn expected_objects() -> Vec<String> {
    let mut expected: Vec<String> = [
        "deployment/icu-east-gateway",
        "service/icu-east-gateway",
        "prometheusrule/icu-east-wardwatch",
        "podmonitor/icu-east-pods",
        "alertmanagerconfig/icu-east-routing",
        "networkpolicy/icu-east-baseline",
        "configmap/icu-east-dashboard",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(DEVICES.iter().map(|d| format!("deployment/{d}-twin")));
    expected
}

#[tokio::test]
async fn ward_lifecycle_end_to_end() {
    let cp = bed_with_crds().await;
    let operator = Operator::start(&cp, "operator-a", &["--quarantine-webhook", "http://127.0.0.1:9/quarantine"]).await;
    apply_example_ward(&cp);

    // Every object appears, owned by the right custom resource and labelled.
    for object in expected_objects() {
        wait_exists(&cp, NS, &object).await;
    }
    let owner = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            NS,
            "deployment/bed-01-monitor-twin",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        ],
    );
    assert_eq!(owner, "MonitoredDevice/bed-01-monitor");
    let owner = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            NS,
            "prometheusrule/icu-east-wardwatch",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        ],
    );
    assert_eq!(owner, "Ward/icu-east");
    let labels = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            NS,
            "deployment/bed-03-pump-twin",
            "-o",
            "jsonpath={.spec.template.metadata.labels.wardwatch\\.io/patient} {.spec.template.metadata.labels.wardwatch\\.io/bed}",
        ],
    );
    assert_eq!(labels, "MRN-100992 ICU-03");
    let gateway_env = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            NS,
            "deployment/bed-03-pump-twin",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[0].value}",
        ],
    );
    assert_eq!(gateway_env, "icu-east-gateway.st-mary.svc:2575");
    wait_for_jsonpath(&cp, &["get", "-n", NS, "ward/icu-east"], "{.status.devices}", "0/5", CONVERGE).await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "ward/icu-east"],
        "{.status.conditions[?(@.type==\"RulesSynced\")].status}",
        "True",
        CONVERGE,
    )
    .await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "monitoreddevice/bed-01-monitor"],
        "{.status.phase}",
        "Pending",
        CONVERGE,
    )
    .await;

    // A steady-state resync writes nothing: count the API server's own writes over three resyncs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unchanged_before = operator.metric("wardwatch_operator_applies_total", "result=\"unchanged\"").await;
    let before = writes_by_resource(&cp).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = writes_by_resource(&cp).await;
    let unchanged_after = operator.metric("wardwatch_operator_applies_total", "result=\"unchanged\"").await;
    assert!(unchanged_after >= unchanged_before + 12.0, "resyncs ran: {unchanged_before} -> {unchanged_after}");
    let changed: Vec<String> = after
        .iter()
        .filter(|(resource, count)| !resource.starts_with("leases") && before.get(*resource) != Some(count))
        .map(|(resource, count)| format!("{resource}: {} -> {count}", before.get(resource).unwrap_or(&0.0)))
        .collect();
    assert!(changed.is_empty(), "writes during a steady-state resync: {changed:?}");

    // Editing a threshold changes the PrometheusRule.
    merge_patch(&cp, NS, "ward/icu-east", r#"{"spec":{"thresholds":{"spo2Percent":{"low":92,"high":100}}}}"#);
    eventually(CONVERGE, "the rule follows the new SpO2 limit", || async {
        let expr = kubectl_ok(
            &cp,
            &[
                "get",
                "-n",
                NS,
                "prometheusrule/icu-east-wardwatch",
                "-o",
                r#"jsonpath={.spec.groups[0].rules[?(@.alert=="HypoxiaDetected")].expr}"#,
            ],
        );
        Ok(expr.contains(r#"wardwatch:patient_spo2:min{namespace="st-mary",ward="icu-east"} < 92"#).then_some(()))
    })
    .await
    .unwrap();

    // Quarantine by hand isolates the device; lifting it releases the policy.
    merge_patch(&cp, NS, "monitoreddevice/bed-02-oximeter", r#"{"spec":{"quarantine":true}}"#);
    wait_exists(&cp, NS, "networkpolicy/bed-02-oximeter-quarantine").await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "monitoreddevice/bed-02-oximeter"],
        "{.status.phase}",
        "Quarantined",
        CONVERGE,
    )
    .await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "ward/icu-east"],
        "{.status.quarantinedDevices[0]}",
        "bed-02-oximeter",
        CONVERGE,
    )
    .await;
    assert!(has_event(&cp, NS, "Quarantined"), "a Quarantined event");
    // The ward's baseline policy leaves the isolated device out (policies add up: while it
    // selected the device, the quarantine would take nothing away) and takes it back after.
    let baseline_excludes = "{.spec.podSelector.matchExpressions[0].values[*]}";
    let baseline = ["get", "-n", NS, "networkpolicy/icu-east-baseline"];
    wait_for_jsonpath(&cp, &baseline, baseline_excludes, "bed-02-oximeter", CONVERGE).await;
    merge_patch(&cp, NS, "monitoreddevice/bed-02-oximeter", r#"{"spec":{"quarantine":false}}"#);
    wait_gone(&cp, NS, "networkpolicy/bed-02-oximeter-quarantine").await;
    wait_for_jsonpath(&cp, &baseline, baseline_excludes, "", CONVERGE).await;

    // Deleting a device removes its objects (owner references + the garbage collector).
    kubectl_ok(&cp, &["delete", "-n", NS, "monitoreddevice/bed-04-ventilator"]);
    wait_gone(&cp, NS, "deployment/bed-04-ventilator-twin").await;
    wait_for_jsonpath(&cp, &["get", "-n", NS, "ward/icu-east"], "{.status.devices}", "0/4", CONVERGE).await;

    // A device whose ward does not exist gets a condition and an event, not a crash or a hot loop.
    let orphan = r#"{"apiVersion":"wardwatch.io/v1alpha1","kind":"MonitoredDevice","metadata":{"name":"orphan","namespace":"st-mary"},"spec":{"ward":"nowhere","type":"Workstation"}}"#;
    cp.apply(&serde_json::from_str(orphan).unwrap()).await.unwrap();
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "monitoreddevice/orphan"],
        "{.status.conditions[?(@.type==\"WardFound\")].reason}",
        "WardNotFound",
        CONVERGE,
    )
    .await;
    assert!(has_event(&cp, NS, "WardNotFound"), "a WardNotFound event");
    let reconciles_before = operator.metric("wardwatch_operator_reconciliations_total", "controller=\"device\"").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reconciles_after = operator.metric("wardwatch_operator_reconciliations_total", "controller=\"device\"").await;
    assert!(reconciles_after - reconciles_before < 20.0, "no hot loop: {reconciles_before} -> {reconciles_after}");
}

#[tokio::test]
async fn federation_members_become_scrape_configs() {
    let cp = bed_with_crds().await;
    // A single replica without a Lease reconciles as well (the controllers used to stop at
    // once when leader election was off).
    let _operator = Operator::start(&cp, "operator", &["--leader-election", "false"]).await;
    let central = "wardwatch-central";
    let federation = ["get", "-n", central, "hospitalfederation/region-north"];
    // The central cluster's own admission policy refuses one member's ScrapeConfig, as a
    // policy engine would: the other member is federated all the same, and the status says which
    // one is not and why.
    kubectl_ok(&cp, &["create", "namespace", central]);
    let policy = refuse_general_scrape_config(&cp).await;
    kubectl_ok(&cp, &["apply", "-f", repo_path("manifests/federation.yaml").to_str().unwrap()]);
    wait_exists(&cp, central, "scrapeconfig/region-north-st-mary").await;
    wait_for_jsonpath(&cp, &federation, "{.status.syncedMembers}/{.status.members}", "1/2", CONVERGE).await;
    let general = kubectl_ok(
        &cp,
        &[&federation[..], &["-o", "jsonpath={.status.memberStatuses[1].hospitalId} {.status.memberStatuses[1].synced} {.status.memberStatuses[1].lastError} | {.status.conditions[0].reason}"]].concat(),
    );
    assert!(general.starts_with("general false "), "{general}");
    assert!(
        general.contains("not approved for federation yet") && general.ends_with("| MembersNotSynced"),
        "{general}"
    );
    assert!(!exists(&cp, &["get", "-n", central, "scrapeconfig/region-north-general"]));
    assert!(has_event(&cp, central, "MembersNotSynced"));

    // The policy lifted, the operator's retry writes it.
    kubectl_ok(&cp, &["delete", "-f", policy.to_str().unwrap()]);
    for member in ["region-north-st-mary", "region-north-general"] {
        let object = format!("scrapeconfig/{member}");
        wait_exists(&cp, central, &object).await;
    }
    wait_for_jsonpath(
        &cp,
        &federation,
        "{.status.syncedMembers} {.status.memberStatuses[*].synced}",
        "2 true true",
        CONVERGE,
    )
    .await;
    let spec = kubectl_ok(
        &cp,
        &[
            "get",
            "-n",
            central,
            "scrapeconfig/region-north-st-mary",
            "-o",
            "jsonpath={.spec.metricsPath} {.spec.honorLabels} {.spec.scheme} {.spec.staticConfigs[0].targets[0]} {.spec.staticConfigs[0].labels.hospital}",
        ],
    );
    assert_eq!(spec, "/federate true HTTPS prometheus.st-mary.example:9090 st-mary");
    wait_for_jsonpath(
        &cp,
        &["get", "-n", central, "hospitalfederation/region-north"],
        "{.status.members}",
        "2",
        CONVERGE,
    )
    .await;

    // A hospital leaving the federation loses its ScrapeConfig.
    kubectl_ok(
        &cp,
        &[
            "patch",
            "-n",
            central,
            "hospitalfederation/region-north",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/members/1"}]"#,
        ],
    );
    wait_gone(&cp, central, "scrapeconfig/region-north-general").await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", central, "hospitalfederation/region-north"],
        "{.status.members}",
        "1",
        CONVERGE,
    )
    .await;
}

/// A ValidatingAdmissionPolicy (and its binding) refusing the ScrapeConfig of the `general`
/// member, in force once a server-side dry run is refused; returns its manifest's path.
async fn refuse_general_scrape_config(cp: &ControlPlane) -> std::path::PathBuf {
    let path = cp.dir().join("refuse-general.yaml");
    std::fs::write(
        &path,
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: federation-members-approved}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [monitoring.coreos.com], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: [scrapeconfigs]}
  validations:
  - expression: "object.metadata.name != 'region-north-general'"
    message: "central policy: the general hospital is not approved for federation yet"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: federation-members-approved}
spec:
  policyName: federation-members-approved
  validationActions: [Deny]
"#,
    )
    .unwrap();
    kubectl_ok(cp, &["apply", "-f", path.to_str().unwrap()]);
    let probe = cp.dir().join("probe-scrape-config.yaml");
    std::fs::write(
        &probe,
        "apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata: {name: region-north-general, namespace: wardwatch-central}\nspec: {}\n",
    )
    .unwrap();
    eventually(Duration::from_secs(30), "the admission policy in force", || async {
        let output = cp.kubectl(&["create", "--dry-run=server", "-f", probe.to_str().unwrap()])?;
        Ok((!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("not approved")).then_some(()))
    })
    .await
    .unwrap();
    path
}
