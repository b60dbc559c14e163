//! The controllers and how they are wired: a device change wakes its ward, a ward change wakes
//! its devices, changes to owned objects wake their owner.

pub mod context;
pub mod device;
pub mod federation;
pub mod ward;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use kube::runtime::controller::{self as runtime_controller, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use wardwatch_crds::{HospitalFederation, MonitoredDevice, Ward};

use self::context::{Context, Settings};
use crate::metrics::Metrics;

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

/// What a controller's result stream does with each result: errors are logged at debug (the
/// reconcile errors were already counted and logged by the error policy), and a desync asks
/// for a restart.
fn report_errors<T, E: std::error::Error + 'static>(
    controller: &'static str,
    desync: Arc<tokio::sync::watch::Sender<bool>>,
) -> impl FnMut(Result<T, runtime_controller::Error<E, watcher::Error>>) -> futures::future::Ready<()> {
    move |result| {
        if let Err(err) = &result {
            if is_desync(err) {
                let _ = desync.send(true);
            }
            tracing::debug!(%err, controller, "controller event");
        }
        futures::future::ready(())
    }
}

/// Only what the operator labelled as its own wakes anyone.
fn owned() -> watcher::Config {
    watcher::Config::default().labels("app.kubernetes.io/managed-by=wardwatch")
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

    let device_controller = Controller::new(api::<MonitoredDevice>(&client, &scope), watcher::Config::default())
        .with_config(limits.clone());
    let devices = device_controller.store();
    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), settings, devices.clone()));

    let devices_of_ward = devices.clone();
    let device_controller = device_controller
        .owns(api::<Deployment>(&client, &scope), owned())
        .owns(api::<NetworkPolicy>(&client, &scope), owned())
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
        .run(device::reconcile, device::error_policy, ctx.clone())
        .for_each(report_errors("device", desync_tx.clone()));

    let ward_controller = Controller::new(api::<Ward>(&client, &scope), watcher::Config::default())
        .with_config(limits.clone())
        .owns(api::<Deployment>(&client, &scope), owned())
        .owns(api::<Service>(&client, &scope), owned())
        .owns(api::<NetworkPolicy>(&client, &scope), owned())
        .owns(api::<ConfigMap>(&client, &scope), owned())
        .watches(api::<MonitoredDevice>(&client, &scope), watcher::Config::default(), |device| {
            device.namespace().map(|namespace| ObjectRef::<Ward>::new(&device.spec.ward).within(&namespace))
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(ward::reconcile, ward::error_policy, ctx.clone())
        .for_each(report_errors("ward", desync_tx.clone()));

    let federation_controller = Controller::new(api::<HospitalFederation>(&client, &scope), watcher::Config::default())
        .with_config(limits)
        .graceful_shutdown_on(shutdown)
        .run(federation::reconcile, federation::error_policy, ctx)
        .for_each(report_errors("federation", desync_tx.clone()));

    futures::join!(device_controller, ward_controller, federation_controller);
    if *desync_rx.borrow() { Stopped::Desynced } else { Stopped::Shutdown }
}
