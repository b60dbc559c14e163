//! Server-side apply of desired objects under one field manager, and deletion of what is no
//! longer desired, with one rule for every kind: an object is written only when it differs.
//!
//! Whether it differs is answered without a request when a watch covers its kind: the applier
//! remembers, per object, a digest of what it applied and of the fields its field manager owned
//! afterwards ([`crate::cache::applied_fields`]); while both still match, nothing changed.
//! An object the applier has no record of (after a start) or whose kind is not watched (the
//! quarantine token Secret: the chart grants no list of Secrets) is read once with a GET and
//! compared value by value ([`holds`](crate::holds::holds)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::cache::{Children, Lookup, applied_fields, digest};
use crate::desired::Owned;
use crate::holds::holds;
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

/// What the applier last applied to one object, and the fields it owned afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    desired: u64,
    fields: Option<u64>,
}

/// Applies and deletes the operator's objects, counting what it writes.
pub struct Applier {
    client: kube::Client,
    metrics: Arc<Metrics>,
    /// The watches' view of owned objects.
    pub children: Children,
    /// By `Kind/namespace/name`.
    records: Mutex<HashMap<String, Record>>,
}

impl Applier {
    pub fn new(client: kube::Client, metrics: Arc<Metrics>, children: Children) -> Self {
        Self { client, metrics, children, records: Mutex::new(HashMap::new()) }
    }

    fn api(&self, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, resource)
    }

    fn count(&self, kind: &str, result: &str) {
        self.metrics.applies.with_label_values(&[kind, result]).inc();
    }

    /// Applies `object` unless it already holds what the operator wants.
    pub async fn apply(&self, object: &Owned) -> Result<Outcome, kube::Error> {
        let (resource, key) = (object.resource(), object.key());
        let desired = object.to_value();
        let wanted = digest(&serde_json::to_vec(&desired).expect("JSON values serialise"));
        let record = self.records.lock().unwrap().get(&key).copied();
        let unchanged = match self.children.get(&resource, object.namespace(), object.name()) {
            Lookup::Absent => false,
            Lookup::Present(live) if record.is_some() => {
                record == Some(Record { desired: wanted, fields: live.applied_fields })
            }
            // No record (the operator just started) or no watch: compare with the live object.
            Lookup::Present(_) | Lookup::Unknown => self.read_and_compare(object, &desired, wanted).await?,
        };
        if unchanged {
            self.count(&resource.kind, "unchanged");
            return Ok(Outcome::Unchanged);
        }
        let params = PatchParams::apply(FIELD_MANAGER).force().validation_strict();
        let applied =
            self.api(&resource, object.namespace()).patch(object.name(), &params, &Patch::Apply(&desired)).await?;
        self.remember(key.clone(), wanted, &applied);
        self.count(&resource.kind, "applied");
        tracing::info!(object = %key, "applied");
        Ok(Outcome::Applied)
    }

    /// GETs the live object; when it holds every desired value, remembers it as applied.
    async fn read_and_compare(&self, object: &Owned, desired: &Value, wanted: u64) -> Result<bool, kube::Error> {
        let Some(live) = self.api(&object.resource(), object.namespace()).get_opt(object.name()).await? else {
            return Ok(false);
        };
        let holds = holds(desired, Some(&serde_json::to_value(&live).expect("objects serialise")));
        if holds {
            self.remember(object.key(), wanted, &live);
        }
        Ok(holds)
    }

    fn remember(&self, key: String, desired: u64, live: &DynamicObject) {
        let record = Record { desired, fields: applied_fields(&live.metadata) };
        self.records.lock().unwrap().insert(key, record);
    }

    /// Deletes the objects of `kinds` that the owner with `owner_uid` controls and that are not
    /// among `desired`; returns what it deleted as `Kind/namespace/name`. Kinds that no watch
    /// covers are left alone: nobody can say what of them exists.
    pub async fn prune(
        &self,
        owner_uid: &str,
        kinds: &[ApiResource],
        desired: &[Owned],
    ) -> Result<Vec<String>, kube::Error> {
        let mut deleted = Vec::new();
        for resource in kinds {
            let stale = self.children.owned_by(resource, owner_uid).unwrap_or_default().into_iter().filter(|live| {
                !desired
                    .iter()
                    .any(|d| d.resource().kind == resource.kind && Some(d.name()) == live.metadata.name.as_deref())
            });
            for live in stale {
                let (namespace, name) = (
                    live.metadata.namespace.as_deref().unwrap_or_default(),
                    live.metadata.name.as_deref().unwrap_or_default(),
                );
                if self.delete(resource, namespace, name).await? {
                    deleted.push(format!("{}/{namespace}/{name}", resource.kind));
                }
            }
        }
        Ok(deleted)
    }

    async fn delete(&self, resource: &ApiResource, namespace: &str, name: &str) -> Result<bool, kube::Error> {
        let key = format!("{}/{namespace}/{name}", resource.kind);
        self.records.lock().unwrap().remove(&key);
        match self.api(resource, namespace).delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(false),
            Err(err) => return Err(err),
        }
        self.count(&resource.kind, "deleted");
        tracing::info!(object = %key, "deleted");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A mocked API server (kube's tower-test): the applier's exact requests.
    mod requests {
        use super::*;
        use crate::cache::{ChildCache, LiveObject};
        use http::{Method, Request, Response};
        use kube::client::Body;
        use kube::runtime::watcher;
        use tower_test::mock;

        type Handle = mock::Handle<Request<Body>, Response<Body>>;

        fn applier(children: Children) -> (Applier, Handle) {
            let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
            (Applier::new(kube::Client::new(service, "default"), Arc::new(Metrics::new()), children), handle)
        }

        fn json_response(value: &Value) -> Response<Body> {
            Response::builder().body(Body::from(serde_json::to_vec(value).unwrap())).unwrap()
        }

        fn gateway_service() -> Owned {
            crate::desired::ward_objects(&crate::fixtures::icu_ward(), None, &Default::default())
                .into_iter()
                .find(|o| o.kind() == "Service")
                .unwrap()
        }

        /// `object` as the API server returns it after an apply by `manager`.
        fn stored(object: &Value, manager: &str, fields: Value) -> Value {
            let mut stored = object.clone();
            stored["metadata"]["resourceVersion"] = json!("42");
            stored["metadata"]["managedFields"] =
                json!([{"manager": manager, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]);
            stored
        }

        #[tokio::test]
        async fn an_object_already_as_desired_is_read_and_not_written() {
            let (applier, mut handle) = applier(Children::default());
            let desired = gateway_service();
            let mut live = desired.to_value();
            live["spec"]["clusterIP"] = json!("10.0.0.7");
            live["metadata"]["resourceVersion"] = json!("42");
            let server = tokio::spawn(async move {
                let (request, respond) = handle.next_request().await.expect("a GET");
                assert_eq!(request.method(), Method::GET);
                assert_eq!(request.uri().path(), "/api/v1/namespaces/st-mary/services/icu-east-gateway");
                respond.send_response(json_response(&live));
                assert!(handle.next_request().await.is_none(), "no write follows");
            });
            let outcome = applier.apply(&desired).await.unwrap();
            assert_eq!(outcome, Outcome::Unchanged);
            drop(applier);
            server.await.unwrap();
        }

        #[tokio::test]
        async fn a_changed_object_is_applied_server_side_with_the_field_manager_and_strict_fields() {
            let (applier, mut handle) = applier(Children::default());
            let desired = gateway_service();
            let mut stale = desired.to_value();
            stale["spec"]["ports"][0]["port"] = json!(2576);
            let applied = desired.to_value();
            let server = tokio::spawn(async move {
                let (request, respond) = handle.next_request().await.expect("a GET");
                assert_eq!(request.method(), Method::GET);
                respond.send_response(json_response(&stale));
                let (request, respond) = handle.next_request().await.expect("an apply");
                assert_eq!(request.method(), Method::PATCH);
                assert_eq!(request.uri().path(), "/api/v1/namespaces/st-mary/services/icu-east-gateway");
                let query = request.uri().query().unwrap_or_default().to_owned();
                assert!(query.contains("fieldManager=wardwatch-operator") && query.contains("force=true"), "{query}");
                assert!(query.contains("fieldValidation=Strict"), "{query}");
                assert_eq!(request.headers()["content-type"], "application/apply-patch+yaml");
                respond.send_response(json_response(&applied));
                assert!(handle.next_request().await.is_none(), "nothing else");
            });
            let outcome = applier.apply(&desired).await.unwrap();
            assert_eq!(outcome, Outcome::Applied);
            drop(applier);
            server.await.unwrap();
        }

        /// With a watch of the kind, an object applied once and seen unchanged by the watch costs
        /// no request at all; an edit by someone else (the operator's fields change) is applied
        /// again at once.
        #[tokio::test]
        async fn a_watched_object_is_compared_without_requests_and_drift_is_applied() {
            let desired = gateway_service();
            let cache = ChildCache::new(desired.resource());
            let mut children = Children::default();
            children.add(cache.clone());
            cache.apply(&watcher::Event::Init);
            cache.apply(&watcher::Event::InitDone);
            let (applier, mut handle) = applier(children);
            let ours = stored(&desired.to_value(), FIELD_MANAGER, json!({"f:spec": {"f:ports": {}}}));
            let edited = stored(&desired.to_value(), FIELD_MANAGER, json!({"f:spec": {}}));
            let server = {
                let ours = ours.clone();
                tokio::spawn(async move {
                    for _ in 0..2 {
                        let (request, respond) = handle.next_request().await.expect("an apply");
                        assert_eq!(request.method(), Method::PATCH, "no GET: the watch said it is absent");
                        respond.send_response(json_response(&ours));
                    }
                    assert!(handle.next_request().await.is_none(), "nothing else");
                })
            };
            assert_eq!(applier.apply(&desired).await.unwrap(), Outcome::Applied);
            let seen: LiveObject = serde_json::from_value(ours).unwrap();
            cache.apply(&watcher::Event::Apply(seen));
            assert_eq!(applier.apply(&desired).await.unwrap(), Outcome::Unchanged);
            assert_eq!(applier.apply(&desired).await.unwrap(), Outcome::Unchanged);
            let drifted: LiveObject = serde_json::from_value(edited).unwrap();
            cache.apply(&watcher::Event::Apply(drifted));
            assert_eq!(applier.apply(&desired).await.unwrap(), Outcome::Applied);
            drop(applier);
            server.await.unwrap();
        }
    }
}
