//! The chart's RBAC is enough: the operator, running as the chart's ServiceAccount (a token from
//! the TokenRequest API), reconciles the example ward on the real API server.

mod support;

use std::time::Duration;

use support::*;
use testbed::ControlPlane;

#[tokio::test]
async fn operator_runs_with_the_chart_service_account() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    cp.install_prometheus_operator_crds().await.unwrap();
    install_chart(&cp);

    let token =
        kubectl_ok(&cp, &["create", "token", "wardwatch-operator", "-n", "wardwatch-system", "--duration", "1h"]);
    let kubeconfig = cp.dir().join("operator-sa.kubeconfig");
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: bed, cluster: {{server: '{}', certificate-authority: '{}'}}}}]\n\
         users: [{{name: operator, user: {{token: '{}'}}}}]\n\
         contexts: [{{name: operator, context: {{cluster: bed, user: operator}}}}]\ncurrent-context: operator\n",
        cp.url(),
        cp.admin_credentials().ca_cert.display(),
        token.trim()
    );
    std::fs::write(&kubeconfig, yaml).unwrap();
    let identity = kubectl_ok(
        &cp,
        &["--kubeconfig", kubeconfig.to_str().unwrap(), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"],
    );
    assert_eq!(identity, "system:serviceaccount:wardwatch-system:wardwatch-operator");

    let operator = Operator::start_with_kubeconfig(
        &cp,
        &kubeconfig,
        "operator-sa",
        &["--leader-election-namespace", "wardwatch-system"],
    )
    .await;
    apply_example_ward(&cp);
    for object in [
        "deployment/bed-01-monitor-twin",
        "prometheusrule/icu-east-wardwatch",
        "alertmanagerconfig/icu-east-routing",
        "networkpolicy/icu-east-baseline",
    ] {
        wait_exists(&cp, "st-mary", object).await;
    }
    wait_for_jsonpath(
        &cp,
        &["get", "-n", "st-mary", "ward/icu-east"],
        "{.status.devices}",
        "0/5",
        Duration::from_secs(60),
    )
    .await;
    let log = std::fs::read_to_string(operator.process.log_path()).unwrap();
    assert!(!log.contains("forbidden"), "the chart's RBAC misses a permission:\n{log}");
    assert!(has_event(&cp, "st-mary", "Applied"), "Events are published under the chart's RBAC");
}
