//! The controllers and how they are wired: a device change wakes its ward, a ward change wakes
//! its devices, changes to owned objects wake their owner. Every watch feeds a cache the
//! reconciles read instead of the API server: wards and devices ([`context::Caches`]), and the
//! owned objects ([`crate::cache`]). prometheus-operator's kinds are watched from the moment
//! their CRDs are served, so an edit of a PrometheusRule is undone at once.

pub mod context;
pub mod device;
pub mod federation;
pub mod steps;
pub mod ward;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ApiResource};
use kube::runtime::controller::{self as runtime_controller, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use self::context::{Caches, Context, Listed, MarkListed, Settings};
use crate::cache::{ChildCache, Children, LiveObject};
use crate::metrics::Metrics;
use crate::monitoring::{AlertmanagerConfig, PodMonitor, PrometheusRule, ScrapeConfig};

/// Which namespaces the operator watches.
#[derive(Clone, Debug)]
pub enum Scope {
    All,
    Namespace(String),
}

fn api<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    match scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(namespace) => Api::namespaced(client.clone(), namespace),
    }
}

/// Why the controllers stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The caller's shutdown future resolved.
    Shutdown,
    /// A watch reported 410 Gone (for example after an API-server restart, whose watch cache
    /// no longer holds our resource versions). kube-runtime's watchers were seen retrying the
    /// stale version with growing backoff instead of relisting, so the caller restarts the
    /// controllers, which list afresh.
    Desynced,
}

fn is_desync<E: std::error::Error + 'static>(err: &runtime_controller::Error<E, watcher::Error>) -> bool {
    matches!(err, runtime_controller::Error::QueueError(watcher::Error::WatchError(status)) if status.code == 410)
}

/// What a controller's result stream does with each result: a failed watch is a warning (it
/// retries with backoff, but while it fails nothing it feeds is reconciled), other errors are
/// logged at debug (the reconcile errors were already counted and logged by the error policy),
/// and a desync asks for a restart.
fn report_errors<T, E: std::error::Error + 'static>(
    controller: &'static str,
    desync: Arc<tokio::sync::watch::Sender<bool>>,
) -> impl FnMut(Result<T, runtime_controller::Error<E, watcher::Error>>) -> futures::future::Ready<()> {
    move |result| {
        if let Err(err) = &result {
            if is_desync(err) {
                let _ = desync.send(true);
            }
            match err {
                runtime_controller::Error::QueueError(watch) => {
                    tracing::warn!(error = %watch, controller, "a watch failed; retrying with backoff")
                }
                _ => tracing::debug!(%err, controller, "controller event"),
            }
        }
        futures::future::ready(())
    }
}

/// Only what the operator labelled as its own is watched.
const OWNED: &str = "app.kubernetes.io/managed-by=wardwatch";

/// How often the operator asks whether prometheus-operator's CRDs are served yet.
const CRD_POLL: Duration = Duration::from_secs(5);

/// Resolves once the API server serves `resource`.
async fn served(client: Client, resource: ApiResource) {
    loop {
        if let Ok(list) = client.list_api_group_resources(&resource.api_version).await
            && list.resources.iter().any(|r| r.name == resource.plural)
        {
            tracing::info!(kind = %resource.kind, "watching owned objects of a newly served kind");
            return;
        }
        tokio::time::sleep(CRD_POLL).await;
    }
}

/// One watch of owned objects: it keeps its cache in `children` and yields each object it sees
/// change, to wake the owner. With `wait_for_crd`, it starts once the kind is served.
fn watch_owned<K: Resource<DynamicType = ()>>(
    client: &Client,
    scope: &Scope,
    children: &mut Children,
    selector: &str,
    wait_for_crd: bool,
) -> (ApiResource, impl Stream<Item = Result<LiveObject, watcher::Error>> + Send + 'static) {
    let resource = ApiResource::erase::<K>(&());
    let cache = ChildCache::new(resource.clone());
    children.add(cache.clone());
    let api: Api<LiveObject> = match scope {
        Scope::All => Api::all_with(client.clone(), &resource),
        Scope::Namespace(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
    };
    let events = watcher(api, watcher::Config::default().labels(selector));
    let selector = selector.to_owned();
    let events = events
        .default_backoff()
        .map_ok(move |event| {
            cache.apply(&event);
            if matches!(event, watcher::Event::InitDone) {
                tracing::info!(kind = %cache.resource.kind, %selector, objects = cache.len(), "listed owned objects");
            }
            event
        })
        .touched_objects();
    let wait = if wait_for_crd { Some(served(client.clone(), resource.clone())) } else { None };
    // Nothing until the kind is served, then the watch.
    let stream = futures::stream::once(async move {
        if let Some(wait) = wait {
            wait.await;
        }
    })
    .filter_map(|()| futures::future::ready(None))
    .chain(events);
    (resource, stream)
}

/// A watch of a custom resource that keeps `writer`'s cache, without managed fields (no
/// reconcile reads them; at 10,000 devices they would be most of the cache).
fn watch_cached<K>(
    client: &Client,
    scope: &Scope,
    writer: reflector::store::Writer<K>,
    listed: MarkListed,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(api::<K>(client, scope), watcher::Config::default())
        .default_backoff()
        .modify(|object: &mut K| object.managed_fields_mut().clear())
        .reflect(writer)
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                tracing::info!(kind = K::kind(&()).as_ref(), "listed");
                listed.mark();
            }
        })
        .applied_objects()
}

/// Runs the Ward, MonitoredDevice and HospitalFederation controllers until `shutdown` resolves
/// or a watch desyncs.
pub async fn run(
    client: Client,
    scope: Scope,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Stopped {
    let (desync_tx, desync_rx) = tokio::sync::watch::channel(false);
    let desync_tx = Arc::new(desync_tx);
    let shutdown = {
        let mut desynced = desync_rx.clone();
        futures::future::FutureExt::shared(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = desynced.wait_for(|d| *d) => {}
            }
        })
    };
    let limits = runtime_controller::Config::default().concurrency(settings.concurrency);

    let (devices, devices_writer) = reflector::store::<MonitoredDevice>();
    let (wards, wards_writer) = reflector::store::<Ward>();
    let mut children = Children::default();
    let device_owned = format!("{OWNED},wardwatch.io/component=device");
    let (twin_kind, twins) = watch_owned::<Deployment>(&client, &scope, &mut children, &device_owned, false);
    let (isolation_kind, isolations) =
        watch_owned::<NetworkPolicy>(&client, &scope, &mut children, &device_owned, false);
    let gateway_owned = format!("{OWNED},wardwatch.io/component=gateway");
    let (gateway_kind, gateways) = watch_owned::<Deployment>(&client, &scope, &mut children, &gateway_owned, false);
    let (service_kind, services) = watch_owned::<Service>(&client, &scope, &mut children, OWNED, false);
    let ward_policies = format!("{OWNED},wardwatch.io/component!=device");
    let (baseline_kind, baselines) =
        watch_owned::<NetworkPolicy>(&client, &scope, &mut children, &ward_policies, false);
    let (dashboard_kind, dashboards) = watch_owned::<ConfigMap>(&client, &scope, &mut children, OWNED, false);
    let (rule_kind, rules) = watch_owned::<PrometheusRule>(&client, &scope, &mut children, OWNED, true);
    let (monitor_kind, monitors) = watch_owned::<PodMonitor>(&client, &scope, &mut children, OWNED, true);
    let (routing_kind, routings) = watch_owned::<AlertmanagerConfig>(&client, &scope, &mut children, OWNED, true);
    let (scrape_kind, scrapes) = watch_owned::<ScrapeConfig>(&client, &scope, &mut children, OWNED, true);

    let (mark_devices, devices_listed) = Listed::new();
    let (mark_wards, wards_listed) = Listed::new();
    let caches = Caches { devices: devices.clone(), wards: wards.clone(), children, devices_listed, wards_listed };
    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), settings, caches));

    let devices_of_ward = devices.clone();
    let device_controller =
        Controller::for_stream(watch_cached(&client, &scope, devices_writer, mark_devices), devices)
            .with_config(limits.clone())
            .owns_stream_with(twins, twin_kind)
            .owns_stream_with(isolations, isolation_kind)
            .watches(api::<Ward>(&client, &scope), watcher::Config::default(), move |ward| {
                let namespace = ward.namespace();
                devices_of_ward
                    .state()
                    .into_iter()
                    .filter(|d| d.namespace() == namespace && d.spec.ward == ward.name_any())
                    .map(|d| ObjectRef::from_obj(d.as_ref()))
                    .collect::<Vec<_>>()
            })
            .graceful_shutdown_on(shutdown.clone())
            .run(device::reconcile, steps::error_policy, ctx.clone())
            .for_each(report_errors("device", desync_tx.clone()));

    let ward_controller = Controller::for_stream(watch_cached(&client, &scope, wards_writer, mark_wards), wards)
        .with_config(limits.clone())
        .owns_stream_with(gateways, gateway_kind)
        .owns_stream_with(services, service_kind)
        .owns_stream_with(baselines, baseline_kind)
        .owns_stream_with(dashboards, dashboard_kind)
        .owns_stream_with(rules, rule_kind)
        .owns_stream_with(monitors, monitor_kind)
        .owns_stream_with(routings, routing_kind)
        .watches(api::<MonitoredDevice>(&client, &scope), watcher::Config::default(), |device| {
            device.namespace().map(|namespace| ObjectRef::<Ward>::new(&device.spec.ward).within(&namespace))
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(ward::reconcile, steps::error_policy, ctx.clone())
        .for_each(report_errors("ward", desync_tx.clone()));

    let federation_controller = Controller::new(api::<HospitalFederation>(&client, &scope), watcher::Config::default())
        .with_config(limits)
        .owns_stream_with(scrapes, scrape_kind)
        .graceful_shutdown_on(shutdown)
        .run(federation::reconcile, steps::error_policy, ctx)
        .for_each(report_errors("federation", desync_tx.clone()));

    futures::join!(device_controller, ward_controller, federation_controller);
    if *desync_rx.borrow() { Stopped::Desynced } else { Stopped::Shutdown }
}
