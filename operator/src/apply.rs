//! Server-side apply of desired objects under one field manager, skipped when the live object
//! already holds every value the operator wants: a steady-state resync writes nothing.

use std::sync::Arc;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::names::FIELD_MANAGER;

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written: created, or changed.
    Applied,
    /// Already as desired: nothing written.
    Unchanged,
}

/// The resource of every kind the operator writes (no discovery round trips per object).
pub fn api_resource(api_version: &str, kind: &str) -> Option<ApiResource> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match (group, kind) {
        ("apps", "Deployment") => "deployments",
        ("", "Service") => "services",
        ("", "ConfigMap") => "configmaps",
        ("", "Secret") => "secrets",
        ("networking.k8s.io", "NetworkPolicy") => "networkpolicies",
        ("monitoring.coreos.com", "PrometheusRule") => "prometheusrules",
        ("monitoring.coreos.com", "PodMonitor") => "podmonitors",
        ("monitoring.coreos.com", "AlertmanagerConfig") => "alertmanagerconfigs",
        ("monitoring.coreos.com", "ScrapeConfig") => "scrapeconfigs",
        _ => return None,
    };
    Some(ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    })
}

/// Whether `live` already holds every value of `desired`. Fields the API server adds (defaults,
/// status, managed fields) do not matter; a zero value in `desired` (null, "", false, 0, empty
/// list or map) matches an absent field, because Kubernetes drops zero values it stores
/// (`omitempty`), for example an environment variable's empty `value`.
pub fn holds(desired: &Value, live: Option<&Value>) -> bool {
    match (desired, live) {
        (Value::Null, _) => true,
        (desired, None | Some(Value::Null)) => is_zero(desired),
        (Value::Object(fields), Some(Value::Object(live))) => fields.iter().all(|(k, v)| holds(v, live.get(k))),
        (Value::Array(items), Some(Value::Array(live))) => {
            items.len() == live.len() && items.iter().zip(live).all(|(d, l)| holds(d, Some(l)))
        }
        (Value::Number(d), Some(Value::Number(l))) => d.as_f64() == l.as_f64(),
        (d, Some(l)) => d == l,
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(is_zero),
    }
}

/// Applies and deletes the operator's objects, counting what it writes.
#[derive(Clone)]
pub struct Applier {
    client: kube::Client,
    metrics: Arc<Metrics>,
}

impl Applier {
    pub fn new(client: kube::Client, metrics: Arc<Metrics>) -> Self {
        Self { client, metrics }
    }

    fn api(&self, object: &Value) -> Result<(Api<DynamicObject>, String, String)> {
        let api_version = object["apiVersion"].as_str().ok_or(Error::MissingField("apiVersion"))?;
        let kind = object["kind"].as_str().ok_or(Error::MissingField("kind"))?;
        let resource = api_resource(api_version, kind).ok_or(Error::MissingField("a kind the operator writes"))?;
        let namespace = object["metadata"]["namespace"].as_str().ok_or(Error::MissingField("metadata.namespace"))?;
        let name = object["metadata"]["name"].as_str().ok_or(Error::MissingField("metadata.name"))?.to_owned();
        Ok((Api::namespaced_with(self.client.clone(), namespace, &resource), name, kind.to_owned()))
    }

    /// Applies `desired` unless the live object already holds it; returns the outcome and the
    /// live object afterwards.
    pub async fn apply(&self, desired: &Value) -> Result<(Outcome, DynamicObject)> {
        let (api, name, kind) = self.api(desired)?;
        if let Some(live) = api.get_opt(&name).await? {
            let live_json = serde_json::to_value(&live)?;
            if holds(desired, Some(&live_json)) {
                self.metrics.applies.with_label_values(&[&kind, "unchanged"]).inc();
                return Ok((Outcome::Unchanged, live));
            }
        }
        let applied = api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(desired)).await?;
        self.metrics.applies.with_label_values(&[&kind, "applied"]).inc();
        tracing::info!(object = %crate::desired::object_ref(desired), "applied");
        Ok((Outcome::Applied, applied))
    }

    /// Deletes the object `reference` names (apiVersion, kind, metadata) if it exists.
    pub async fn delete_if_present(&self, reference: &Value) -> Result<bool> {
        let (api, name, kind) = self.api(reference)?;
        if api.get_opt(&name).await?.is_none() {
            return Ok(false);
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        self.metrics.applies.with_label_values(&[&kind, "deleted"]).inc();
        tracing::info!(object = %crate::desired::object_ref(reference), "deleted");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_objects_with_server_defaults_still_hold_the_desired_values() {
        let desired = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a",
            "env": [{"name": "EMPTY", "value": ""}], "ports": [{"containerPort": 9478}]}]}}}, "egress": []});
        let live = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [{"name": "a", "imagePullPolicy": "IfNotPresent", "env": [{"name": "EMPTY"}],
                "ports": [{"containerPort": 9478, "protocol": "TCP"}]}]}}},
            "status": {"readyReplicas": 0}});
        assert!(holds(&desired, Some(&live)));
    }

    #[test]
    fn a_changed_or_missing_value_needs_an_apply() {
        let desired = json!({"spec": {"replicas": 1, "selector": {"app": "x"}}});
        assert!(!holds(&desired, Some(&json!({"spec": {"replicas": 2, "selector": {"app": "x"}}}))));
        assert!(!holds(&desired, Some(&json!({"spec": {"replicas": 1}}))));
        assert!(!holds(&json!({"a": [1, 2]}), Some(&json!({"a": [1]}))));
        assert!(holds(&json!({"a": 1.0}), Some(&json!({"a": 1}))), "numbers compare by value");
        assert!(!holds(&json!({"a": ""}), Some(&json!({"a": "x"}))), "a zero value still differs from a set one");
        assert!(!holds(&json!({"a": "x"}), Some(&json!({}))));
    }

    /// A mocked API server (kube's tower-test): the applier's exact requests.
    mod requests {
        use super::*;
        use http::{Method, Request, Response};
        use kube::client::Body;
        use tower_test::mock;

        type Handle = mock::Handle<Request<Body>, Response<Body>>;

        fn applier() -> (Applier, Handle) {
            let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
            (Applier::new(kube::Client::new(service, "default"), Arc::new(Metrics::new())), handle)
        }

        fn json_response(value: &Value) -> Response<Body> {
            Response::builder().body(Body::from(serde_json::to_vec(value).unwrap())).unwrap()
        }

        fn gateway_service() -> Value {
            crate::desired::ward_objects(&crate::fixtures::icu_ward(), None, &Default::default())
                .into_iter()
                .find(|o| o["kind"] == "Service")
                .unwrap()
        }

        #[tokio::test]
        async fn an_object_already_as_desired_is_read_and_not_written() {
            let (applier, mut handle) = applier();
            let desired = gateway_service();
            let mut live = desired.clone();
            live["spec"]["clusterIP"] = json!("10.0.0.7");
            live["metadata"]["resourceVersion"] = json!("42");
            let server = tokio::spawn(async move {
                let (request, respond) = handle.next_request().await.expect("a GET");
                assert_eq!(request.method(), Method::GET);
                assert_eq!(request.uri().path(), "/api/v1/namespaces/st-mary/services/icu-east-gateway");
                respond.send_response(json_response(&live));
                assert!(handle.next_request().await.is_none(), "no write follows");
            });
            let (outcome, _) = applier.apply(&desired).await.unwrap();
            assert_eq!(outcome, Outcome::Unchanged);
            drop(applier);
            server.await.unwrap();
        }

        #[tokio::test]
        async fn a_changed_object_is_applied_server_side_with_the_field_manager() {
            let (applier, mut handle) = applier();
            let desired = gateway_service();
            let mut stale = desired.clone();
            stale["spec"]["ports"][0]["port"] = json!(2576);
            let applied = desired.clone();
            let server = tokio::spawn(async move {
                let (request, respond) = handle.next_request().await.expect("a GET");
                assert_eq!(request.method(), Method::GET);
                respond.send_response(json_response(&stale));
                let (request, respond) = handle.next_request().await.expect("an apply");
                assert_eq!(request.method(), Method::PATCH);
                assert_eq!(request.uri().path(), "/api/v1/namespaces/st-mary/services/icu-east-gateway");
                let query = request.uri().query().unwrap_or_default().to_owned();
                assert!(query.contains("fieldManager=wardwatch-operator") && query.contains("force=true"), "{query}");
                assert_eq!(request.headers()["content-type"], "application/apply-patch+yaml");
                respond.send_response(json_response(&applied));
                assert!(handle.next_request().await.is_none(), "nothing else");
            });
            let (outcome, _) = applier.apply(&desired).await.unwrap();
            assert_eq!(outcome, Outcome::Applied);
            drop(applier);
            server.await.unwrap();
        }
    }

    #[test]
    fn every_kind_the_builders_make_has_a_resource() {
        let device = crate::fixtures::monitor("bed-01");
        let ward =
            crate::fixtures::ward("icu-east", "hospitalId: st-mary\ndepartment: icu\nquarantine: {mode: OnAlert}\n");
        let webhook = crate::quarantine::QuarantineWebhook {
            url: "http://x".into(),
            key: crate::quarantine::WebhookKey::new("a key of sixteen bytes or more").unwrap(),
        };
        let mut objects = crate::desired::ward_objects_with_webhook(&ward, Some(&webhook), &Default::default());
        assert!(objects.iter().any(|o| o["kind"] == "Secret"), "the token Secret is among them");
        objects.extend(crate::desired::device_objects(&ward, &device));
        for object in objects {
            assert!(
                api_resource(object["apiVersion"].as_str().unwrap(), object["kind"].as_str().unwrap()).is_some(),
                "{}",
                crate::desired::object_ref(&object)
            );
        }
    }
}
