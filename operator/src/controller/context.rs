//! What every reconcile shares: the client, the applier, metrics, the event recorder, the
//! caches of wards and devices, settings, and per-object error backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Set once each cache has its first list.
    pub devices_listed: Listed,
    pub wards_listed: Listed,
}

pub struct Context {
    pub client: kube::Client,
    pub applier: Applier,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub devices: Store<MonitoredDevice>,
    pub wards: Store<Ward>,
    devices_listed: Listed,
    wards_listed: Listed,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    monitoring: Mutex<Option<(Instant, bool)>>,
}

/// How long a discovery answer about prometheus-operator's CRDs is trusted.
const MONITORING_CHECK_TTL: Duration = Duration::from_secs(10);

/// Whether a cache has had its first list, as many reconciles may wait for it at once.
///
/// Not kube-runtime's `Store::wait_until_ready`: its DelayedInit wakes only the last waiter
/// registered, and the controller's own runner already waits on it for its store, so a
/// reconcile waiting there too (or a second reconcile) could sleep for ever. Seen in the scale
/// bench: with the custom resources created before the operator, ten ward reconciles started
/// and none finished.
#[derive(Clone)]
pub struct Listed(tokio::sync::watch::Receiver<bool>);

/// Marks the cache listed; kept by the watch stream that feeds the cache.
pub struct MarkListed(tokio::sync::watch::Sender<bool>);

impl MarkListed {
    pub fn mark(&self) {
        self.0.send_replace(true);
    }
}

impl Listed {
    pub fn new() -> (MarkListed, Listed) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (MarkListed(tx), Listed(rx))
    }

    /// Resolves once the cache is listed (or its watch is gone).
    pub async fn wait(&self) {
        let _ = self.0.clone().wait_for(|listed| *listed).await;
    }
}

impl Context {
    /// Resolves once the devices' cache has its first list.
    pub async fn devices_listed(&self) {
        self.devices_listed.wait().await
    }

    /// Resolves once the wards' cache has its first list.
    pub async fn wards_listed(&self) {
        self.wards_listed.wait().await
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
            devices_listed: caches.devices_listed,
            wards_listed: caches.wards_listed,
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
    /// in one task), beside the controller's own wait on its store, all go on once it is listed.
    #[tokio::test]
    async fn every_reconcile_waiting_for_the_first_list_goes_on() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let (mark, listed) = Listed::new();
        let controller = tokio::spawn(async move { store.wait_until_ready().await.is_ok() });
        let waiting: FuturesUnordered<_> = (0..10)
            .map(|_| {
                let listed = listed.clone();
                async move { listed.wait().await }
            })
            .collect();
        let all = tokio::spawn(waiting.collect::<Vec<()>>());
        tokio::task::yield_now().await;
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        mark.mark();
        let woken = tokio::time::timeout(Duration::from_secs(5), all).await.expect("every waiter woken").unwrap();
        assert_eq!(woken.len(), 10);
        assert!(tokio::time::timeout(Duration::from_secs(5), controller).await.unwrap().unwrap());
    }
}
