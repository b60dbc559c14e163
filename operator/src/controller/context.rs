//! What every reconcile shares: the client, the applier, metrics, the event recorder, the
//! caches of wards and devices, settings, and per-object error backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use wardwatch_crds::{MonitoredDevice, Ward};

use crate::apply::Applier;
use crate::cache::Children;
use crate::metrics::Metrics;
use crate::quarantine::QuarantineWebhook;

/// Operator settings that shape what it builds and how often it looks again.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The operator's quarantine webhook (URL and master key), for wards whose quarantine mode
    /// is OnAlert: their alerts are routed to it with the token Secret it derives.
    pub quarantine_webhook: Option<QuarantineWebhook>,
    /// How often every object is reconciled even when nothing wakes it.
    pub resync: Duration,
    /// Reconciles run at once per controller (bounds memory and API-server load).
    pub concurrency: u16,
    /// Labels every ward's PodMonitor, PrometheusRule and AlertmanagerConfig carries unless the
    /// ward sets them itself (`--monitoring-labels`).
    pub monitoring_labels: std::collections::BTreeMap<String, String>,
}

/// What the watches keep: the custom resources and the owned objects.
pub struct Caches {
    pub devices: Store<MonitoredDevice>,
    pub wards: Store<Ward>,
    pub children: Children,
}

pub struct Context {
    pub client: kube::Client,
    pub applier: Applier,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub devices: Store<MonitoredDevice>,
    pub wards: Store<Ward>,
    devices_listed: Shared<BoxFuture<'static, ()>>,
    wards_listed: Shared<BoxFuture<'static, ()>>,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    monitoring: Mutex<Option<(Instant, bool)>>,
}

/// How long a discovery answer about prometheus-operator's CRDs is trusted.
const MONITORING_CHECK_TTL: Duration = Duration::from_secs(10);

/// Resolves once `store` has its first list. One shared future per store, which every
/// reconcile awaits: kube-runtime's `Store::wait_until_ready` keeps only the last waiter's waker,
/// so reconciles that called it at once while the list was still running were never woken (seen
/// as ten wards that never finished a reconcile when the operator started with their devices).
fn listed<K>(store: &Store<K>) -> Shared<BoxFuture<'static, ()>>
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    let store = store.clone();
    async move {
        let _ = store.wait_until_ready().await;
    }
    .boxed()
    .shared()
}

impl Context {
    /// Resolves once the devices' cache has its first list.
    pub async fn devices_listed(&self) {
        self.devices_listed.clone().await
    }

    /// Resolves once the wards' cache has its first list.
    pub async fn wards_listed(&self) {
        self.wards_listed.clone().await
    }

    pub fn new(client: kube::Client, metrics: Arc<Metrics>, settings: Settings, caches: Caches) -> Self {
        let reporter = Reporter {
            controller: "wardwatch-operator".into(),
            instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
        };
        Self {
            applier: Applier::new(client.clone(), metrics.clone(), caches.children),
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
            devices_listed: listed(&caches.devices),
            wards_listed: listed(&caches.wards),
            devices: caches.devices,
            wards: caches.wards,
            failures: Mutex::new(HashMap::new()),
            monitoring: Mutex::new(None),
        }
    }

    /// Publishes an Event on `object`; a failure to publish is logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(&self, object: &K, type_: EventType, reason: &str, note: String) {
        let event =
            Event { type_, reason: reason.into(), note: Some(note), action: "Reconcile".into(), secondary: None };
        if let Err(err) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(%err, reason, "could not publish an event");
        }
    }

    /// Whether prometheus-operator's CRDs (PrometheusRule, PodMonitor, AlertmanagerConfig,
    /// ScrapeConfig) are served; cached briefly.
    pub async fn monitoring_available(&self) -> bool {
        if let Some((checked, available)) = *self.monitoring.lock().unwrap()
            && checked.elapsed() < MONITORING_CHECK_TTL
        {
            return available;
        }
        let served = |list: Result<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList, _>,
                      wanted: &[&str]| {
            list.is_ok_and(|l| wanted.iter().all(|w| l.resources.iter().any(|r| r.name == *w)))
        };
        let v1 = self.client.list_api_group_resources("monitoring.coreos.com/v1").await;
        let v1alpha1 = self.client.list_api_group_resources("monitoring.coreos.com/v1alpha1").await;
        let available = served(v1, &["prometheusrules", "podmonitors"])
            && served(v1alpha1, &["alertmanagerconfigs", "scrapeconfigs"]);
        *self.monitoring.lock().unwrap() = Some((Instant::now(), available));
        available
    }

    /// Exponential backoff per object after failures: 1 s, 2 s, 4 s ... up to 5 minutes.
    pub fn backoff(&self, key: String) -> Duration {
        let mut failures = self.failures.lock().unwrap();
        let count = failures.entry(key).or_default();
        *count = (*count + 1).min(16);
        Duration::from_secs(1u64 << (*count - 1).min(8)).min(Duration::from_secs(300))
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{reflector, watcher};

    /// Ten reconciles waiting at once for a cache's first list (as the controller runs them,
    /// in one task) all go on once it is listed.
    #[tokio::test]
    async fn every_reconcile_waiting_for_the_first_list_goes_on() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let ready = listed(&store);
        let waiting: FuturesUnordered<_> = (0..10).map(|_| ready.clone()).collect();
        let all = tokio::spawn(waiting.collect::<Vec<()>>());
        tokio::task::yield_now().await;
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let woken = tokio::time::timeout(Duration::from_secs(5), all).await.expect("every waiter woken").unwrap();
        assert_eq!(woken.len(), 10);
    }
}
