//! The operator when things go wrong: the API server restarts, prometheus-operator is not
//! installed, a leader replica goes away.

mod support;

use std::time::Duration;

use support::*;
use testbed::{ControlPlane, eventually};

const CONVERGE: Duration = Duration::from_secs(60);
const NS: &str = "st-mary";

fn late_device(name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ward": "icu-east", "type": "PulseOximeter", "patient": {"id": "MRN-9", "bed": "ICU-09"}}})
}

#[tokio::test]
async fn operator_survives_an_api_server_restart_and_converges() {
    let mut cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    let mut operator = Operator::start(&cp, "operator", &[]).await;
    apply_example_ward(&cp);
    wait_exists(&cp, NS, "deployment/bed-01-monitor-twin").await;

    cp.restart_apiserver(Duration::from_secs(5)).await.expect("API server comes back");
    operator.process.check_running().expect("the operator outlived the outage");

    cp.apply(&late_device("late-oximeter")).await.unwrap();
    wait_exists(&cp, NS, "deployment/late-oximeter-twin").await;
    wait_for_jsonpath(&cp, &["get", "-n", NS, "ward/icu-east"], "{.status.devices}", "0/6", CONVERGE).await;
    operator.process.check_running().unwrap();

    // The log says what happened at the default level: each watch's first list, and the
    // watches failing while the API server was away (nothing they feed is reconciled then).
    let log = std::fs::read_to_string(operator.process.log_path()).unwrap();
    for line in ["listed owned objects", "a watch failed; retrying with backoff"] {
        assert!(log.contains(line), "{line:?} not in the operator's log:\n{}", operator.process.log_tail(40));
    }
}

#[tokio::test]
async fn missing_prometheus_operator_crds_are_reported_then_picked_up() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    let mut operator = Operator::start(&cp, "operator", &[]).await;
    apply_example_ward(&cp);

    // Workloads go ahead; rules, scraping and routing wait, said in status and an Event.
    wait_exists(&cp, NS, "deployment/icu-east-gateway").await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "ward/icu-east"],
        "{.status.conditions[?(@.type==\"RulesSynced\")].reason}",
        "PrometheusOperatorMissing",
        CONVERGE,
    )
    .await;
    assert!(has_event(&cp, NS, "PrometheusOperatorMissing"), "a PrometheusOperatorMissing event");
    operator.process.check_running().expect("no crash");

    cp.install_prometheus_operator_crds().await.unwrap();
    wait_exists(&cp, NS, "prometheusrule/icu-east-wardwatch").await;
    wait_for_jsonpath(
        &cp,
        &["get", "-n", NS, "ward/icu-east"],
        "{.status.conditions[?(@.type==\"RulesSynced\")].status}",
        "True",
        CONVERGE,
    )
    .await;
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_fail_over() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    let mut a = Operator::start(&cp, "replica-a", &[]).await;
    let mut b = Operator::start(&cp, "replica-b", &[]).await;

    let leader = the_leader(&a, &b).await;
    let holder = kubectl_ok(
        &cp,
        &["get", "lease", "wardwatch-operator", "-n", "default", "-o", "jsonpath={.spec.holderIdentity}"],
    );
    assert_eq!(holder, format!("replica-{leader}"));

    apply_example_ward(&cp);
    wait_exists(&cp, NS, "deployment/bed-01-monitor-twin").await;

    // The leader stops (SIGTERM releases the lease); the standby takes over and reconciles.
    let (stopping, standby) = if leader == 'a' { (&mut a, &mut b) } else { (&mut b, &mut a) };
    assert!(stopping.process.terminate(Duration::from_secs(10)), "the leader exits on SIGTERM");
    eventually(CONVERGE, "the standby leads", || async {
        Ok((standby.metric("wardwatch_operator_leader", "").await == 1.0).then_some(()))
    })
    .await
    .unwrap();
    cp.apply(&late_device("after-failover")).await.unwrap();
    wait_exists(&cp, NS, "deployment/after-failover-twin").await;
}

/// prometheus-operator's kinds are watched once their CRDs appear (here after the operator
/// started), so an edit of an owned PrometheusRule or the deletion of an AlertmanagerConfig is
/// undone within seconds, long before the next resync (ten minutes here).
#[tokio::test]
async fn edits_of_owned_monitoring_objects_are_undone_at_once() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_crds(&wardwatch_crds::crds()).await.unwrap();
    let _operator = Operator::start(&cp, "operator", &["--resync-interval", "10m"]).await;
    apply_example_ward(&cp);
    wait_exists(&cp, NS, "deployment/icu-east-gateway").await;

    cp.install_prometheus_operator_crds().await.unwrap();
    wait_exists(&cp, NS, "prometheusrule/icu-east-wardwatch").await;
    wait_exists(&cp, NS, "alertmanagerconfig/icu-east-routing").await;
    let interval = ["get", "-n", NS, "prometheusrule/icu-east-wardwatch"];
    wait_for_jsonpath(&cp, &interval, "{.spec.groups[0].interval}", "5s", CONVERGE).await;

    let edited = std::time::Instant::now();
    kubectl_ok(
        &cp,
        &[
            "patch",
            "-n",
            NS,
            "prometheusrule/icu-east-wardwatch",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/groups/0/interval","value":"1h"}]"#,
        ],
    );
    wait_for_jsonpath(&cp, &interval, "{.spec.groups[0].interval}", "5s", Duration::from_secs(10)).await;
    eprintln!("PrometheusRule edit undone in {:.1} s", edited.elapsed().as_secs_f64());

    let deleted = std::time::Instant::now();
    kubectl_ok(&cp, &["delete", "-n", NS, "alertmanagerconfig/icu-east-routing"]);
    eventually(Duration::from_secs(10), "the AlertmanagerConfig is back", || async {
        Ok(exists(&cp, &["get", "-n", NS, "alertmanagerconfig/icu-east-routing"]).then_some(()))
    })
    .await
    .unwrap();
    eprintln!("AlertmanagerConfig deletion undone in {:.1} s", deleted.elapsed().as_secs_f64());
}
