//! What the operator knows of the objects it owns, kept up to date by watches: enough to tell,
//! without a GET, whether an object still holds what the operator applied, which owner it
//! belongs to, and how a Deployment's pods are doing.
//!
//! Each object is kept as a [`LiveObject`]: its identity, its controlling owner, a digest of
//! the fields the operator's field manager owns, and a Deployment's pod counts. Specs are
//! skipped while the watch events are read, so 10,000 Deployments cost a few MiB, not the
//! hundreds a cache of whole objects would.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ApiResource;
use kube::core::DynamicResourceScope;
use kube::runtime::watcher;
use serde::Deserialize;

use crate::names::FIELD_MANAGER;

/// How a Deployment's pods are doing, from its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    pub ready: i32,
    /// Why the ReplicaSet could not create a pod (the Deployment's `ReplicaFailure` condition),
    /// for example PodSecurity admission refusing it.
    pub refusal: Option<String>,
}

/// An owned object as a watch reports it, reduced to what reconciles read.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "Wire")]
pub struct LiveObject {
    /// Name, namespace, uid, resourceVersion, generation and owner references; labels,
    /// annotations and managed fields are dropped.
    pub metadata: ObjectMeta,
    /// Digest of the fields the operator's server-side apply owns ([`applied_fields`]).
    pub applied_fields: Option<u64>,
    /// A Deployment's pods; `None` for kinds without replicas.
    pub pods: Option<Pods>,
}

#[derive(Deserialize)]
struct Wire {
    metadata: ObjectMeta,
    #[serde(default)]
    status: Option<WireStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    /// Written by the Deployment controller on every sync; a Service's status has none.
    #[serde(default)]
    observed_generation: Option<i64>,
    #[serde(default)]
    replicas: Option<i32>,
    #[serde(default)]
    ready_replicas: Option<i32>,
    #[serde(default)]
    conditions: Vec<WireCondition>,
}

#[derive(Deserialize)]
struct WireCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
}

/// A Deployment's pods from its status: the `ReplicaFailure` condition, while True, says why
/// pods are not created.
fn pods(status: &WireStatus) -> Pods {
    let refusal = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .map(|c| c.message.clone().unwrap_or_default());
    Pods { ready: status.ready_replicas.unwrap_or(0), refusal }
}

impl From<Wire> for LiveObject {
    fn from(wire: Wire) -> Self {
        let applied_fields = applied_fields(&wire.metadata);
        let metadata = ObjectMeta {
            name: wire.metadata.name,
            namespace: wire.metadata.namespace,
            uid: wire.metadata.uid,
            resource_version: wire.metadata.resource_version,
            generation: wire.metadata.generation,
            owner_references: wire.metadata.owner_references,
            deletion_timestamp: wire.metadata.deletion_timestamp,
            ..ObjectMeta::default()
        };
        // Only workloads report pods; other kinds' status (a Service's) is no pod count. A
        // Deployment whose every pod is refused has no `replicas` at all (zero is omitted), only
        // its observedGeneration and the ReplicaFailure condition.
        let pods = wire
            .status
            .as_ref()
            .filter(|s| s.observed_generation.is_some() || s.replicas.is_some() || s.ready_replicas.is_some())
            .map(pods);
        LiveObject { metadata, applied_fields, pods }
    }
}

/// A digest of the fields the operator's field manager owns on the object itself (its
/// server-side apply entry in `managedFields`, not a status subresource's). Another writer
/// that changes one of those values takes the field over, so the set changes: a digest that
/// differs from the one after the operator's own apply means someone edited the object.
pub fn applied_fields(metadata: &ObjectMeta) -> Option<u64> {
    let entry = metadata.managed_fields.as_ref()?.iter().find(|entry| {
        entry.manager.as_deref() == Some(FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
            && entry.subresource.as_deref().unwrap_or_default().is_empty()
    })?;
    let fields = serde_json::to_string(&entry.fields_v1.as_ref()?.0).ok()?;
    Some(digest(fields.as_bytes()))
}

/// A digest of bytes, stable within one process (records never leave it).
pub fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

impl kube::Resource for LiveObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `(namespace, name)`.
type Key = (String, String);

fn key(object: &LiveObject) -> Key {
    (object.metadata.namespace.clone().unwrap_or_default(), object.metadata.name.clone().unwrap_or_default())
}

/// The uid of the object's controlling owner.
fn controller_uid(object: &LiveObject) -> Option<&str> {
    object.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true)).map(|o| o.uid.as_str())
}

#[derive(Default)]
struct State {
    objects: HashMap<Key, Arc<LiveObject>>,
    /// Owner uid to the keys of the objects it controls, so that pruning one owner's objects
    /// does not scan every object of the kind.
    owned: HashMap<String, BTreeSet<Key>>,
    /// Objects of a relist in progress (between the watcher's `Init` and `InitDone`).
    relisting: Option<HashMap<Key, Arc<LiveObject>>>,
    /// Whether a first list has completed.
    ready: bool,
}

impl State {
    fn insert(&mut self, object: Arc<LiveObject>) {
        let key = key(&object);
        self.remove(&key);
        if let Some(uid) = controller_uid(&object) {
            self.owned.entry(uid.to_owned()).or_default().insert(key.clone());
        }
        self.objects.insert(key, object);
    }

    fn remove(&mut self, key: &Key) {
        let Some(old) = self.objects.remove(key) else { return };
        if let Some(uid) = controller_uid(&old)
            && let Some(keys) = self.owned.get_mut(uid)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.owned.remove(uid);
            }
        }
    }
}

/// What a cache can say about one object.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// No watch of its kind has listed yet: ask the API server.
    Unknown,
    Absent,
    Present(Arc<LiveObject>),
}

/// The objects of one kind (and one label selector) the operator owns, as one watch sees them.
pub struct ChildCache {
    pub resource: ApiResource,
    state: RwLock<State>,
}

impl ChildCache {
    pub fn new(resource: ApiResource) -> Arc<Self> {
        Arc::new(Self { resource, state: RwLock::new(State::default()) })
    }

    /// Takes in one watcher event.
    pub fn apply(&self, event: &watcher::Event<LiveObject>) {
        let mut state = self.state.write().unwrap();
        match event {
            watcher::Event::Apply(object) => state.insert(Arc::new(object.clone())),
            watcher::Event::Delete(object) => state.remove(&key(object)),
            watcher::Event::Init => state.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(object) => {
                state.relisting.get_or_insert_default().insert(key(object), Arc::new(object.clone()));
            }
            watcher::Event::InitDone => {
                let listed = state.relisting.take().unwrap_or_default();
                let mut fresh = State { ready: true, ..State::default() };
                for object in listed.into_values() {
                    fresh.insert(object);
                }
                *state = fresh;
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state.read().unwrap().ready
    }

    pub fn get(&self, namespace: &str, name: &str) -> Lookup {
        let state = self.state.read().unwrap();
        if !state.ready {
            return Lookup::Unknown;
        }
        match state.objects.get(&(namespace.to_owned(), name.to_owned())) {
            Some(object) => Lookup::Present(object.clone()),
            None => Lookup::Absent,
        }
    }

    /// The objects whose controlling owner has this uid.
    pub fn owned_by(&self, uid: &str) -> Vec<Arc<LiveObject>> {
        let state = self.state.read().unwrap();
        let Some(keys) = state.owned.get(uid) else { return Vec::new() };
        keys.iter().filter_map(|key| state.objects.get(key).cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.state.read().unwrap().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every cache of owned objects, looked up by kind (one kind may be watched by two controllers
/// with different label selectors).
#[derive(Clone, Default)]
pub struct Children {
    caches: Vec<Arc<ChildCache>>,
}

fn same_kind(a: &ApiResource, b: &ApiResource) -> bool {
    a.group == b.group && a.kind == b.kind
}

impl Children {
    pub fn add(&mut self, cache: Arc<ChildCache>) {
        self.caches.push(cache);
    }

    fn of_kind<'a>(&'a self, resource: &'a ApiResource) -> impl Iterator<Item = &'a Arc<ChildCache>> + 'a {
        self.caches.iter().filter(move |c| same_kind(&c.resource, resource))
    }

    /// Whether every watch of this kind has listed (none: not watched).
    pub fn watched(&self, resource: &ApiResource) -> bool {
        let mut caches = self.of_kind(resource).peekable();
        caches.peek().is_some() && caches.all(|c| c.is_ready())
    }

    pub fn get(&self, resource: &ApiResource, namespace: &str, name: &str) -> Lookup {
        if !self.watched(resource) {
            return Lookup::Unknown;
        }
        self.of_kind(resource)
            .find_map(|c| match c.get(namespace, name) {
                Lookup::Present(object) => Some(Lookup::Present(object)),
                _ => None,
            })
            .unwrap_or(Lookup::Absent)
    }

    /// The objects of this kind that the owner with this uid controls; `None` while the kind
    /// is not watched (then nobody can say what to prune).
    pub fn owned_by(&self, resource: &ApiResource, uid: &str) -> Option<Vec<Arc<LiveObject>>> {
        self.watched(resource).then(|| self.of_kind(resource).flat_map(|c| c.owned_by(uid)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> ApiResource {
        ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&())
    }

    fn live(name: &str, owner: &str, extra: serde_json::Value) -> LiveObject {
        let mut value = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "labels": {"a": "b"},
            "ownerReferences": [{"apiVersion": "wardwatch.io/v1alpha1", "kind": "MonitoredDevice", "name": owner,
                                 "uid": owner, "controller": true}],
            "managedFields": [
                {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": FIELD_MANAGER, "operation": "Apply", "subresource": "status", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {}}}]},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "x"}]}}}});
        if let (Some(into), Some(from)) = (value.as_object_mut(), extra.as_object()) {
            into.extend(from.clone());
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_watched_object_keeps_its_identity_owner_fields_digest_and_pods() {
        let object = live(
            "a-twin",
            "device-a",
            // As the API server reports a Deployment whose only pod PodSecurity refused: no
            // replicas and no readyReplicas (zero is omitted).
            json!({"status": {"observedGeneration": 1, "unavailableReplicas": 1, "conditions": [
                {"type": "Available", "status": "False"},
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                 "message": "pods \"a\" is forbidden: violates PodSecurity \"restricted:latest\""}]}}),
        );
        assert_eq!(object.metadata.name.as_deref(), Some("a-twin"));
        assert!(object.metadata.labels.is_none() && object.metadata.managed_fields.is_none());
        assert_eq!(controller_uid(&object), Some("device-a"));
        let pods = object.pods.unwrap();
        assert_eq!(pods.ready, 0);
        assert!(pods.refusal.unwrap().contains("violates PodSecurity"));
        let other = live("a-twin", "device-a", json!({}));
        assert_eq!(object.applied_fields, other.applied_fields, "the status entry does not count");
        assert!(object.applied_fields.is_some());
        assert_eq!(other.pods, None);
        let service = live("a-gateway", "ward-a", json!({"status": {"loadBalancer": {}}}));
        assert_eq!(service.pods, None, "a Service's status is no pod count");
    }

    #[test]
    fn another_managers_edit_changes_the_digest() {
        let mut edited = live("a-twin", "device-a", json!({}));
        let before = edited.applied_fields;
        let mut meta: ObjectMeta = serde_json::from_value(json!({"managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}]}))
        .unwrap();
        edited.applied_fields = applied_fields(&meta);
        assert_ne!(before, edited.applied_fields);
        meta.managed_fields = None;
        assert_eq!(applied_fields(&meta), None);
    }

    #[test]
    fn the_cache_follows_lists_applies_and_deletes_and_indexes_owners() {
        let cache = ChildCache::new(deployment());
        let mut children = Children::default();
        children.add(cache.clone());
        assert!(matches!(children.get(&deployment(), "ns", "a-twin"), Lookup::Unknown));
        assert_eq!(children.owned_by(&deployment(), "device-a").map(|o| o.len()), None);

        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(live("a-twin", "device-a", json!({}))));
        cache.apply(&watcher::Event::InitApply(live("b-twin", "device-b", json!({}))));
        assert!(matches!(children.get(&deployment(), "ns", "a-twin"), Lookup::Unknown), "not listed yet");
        cache.apply(&watcher::Event::InitDone);
        assert!(matches!(children.get(&deployment(), "ns", "a-twin"), Lookup::Present(_)));
        assert!(matches!(children.get(&deployment(), "ns", "c-twin"), Lookup::Absent));
        assert_eq!(children.owned_by(&deployment(), "device-a").unwrap().len(), 1);

        cache.apply(&watcher::Event::Apply(live("a-extra", "device-a", json!({}))));
        assert_eq!(children.owned_by(&deployment(), "device-a").unwrap().len(), 2);
        cache.apply(&watcher::Event::Delete(live("a-twin", "device-a", json!({}))));
        let left: Vec<_> = children.owned_by(&deployment(), "device-a").unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].metadata.name.as_deref(), Some("a-extra"));

        // A relist replaces everything: what it no longer lists is gone, index included.
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(live("b-twin", "device-b", json!({}))));
        cache.apply(&watcher::Event::InitDone);
        assert_eq!(cache.len(), 1);
        assert!(children.owned_by(&deployment(), "device-a").unwrap().is_empty());
    }
}
