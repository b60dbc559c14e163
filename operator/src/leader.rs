//! Leader election on a coordination.k8s.io Lease, so that two replicas can run and exactly one
//! reconciles. The holder renews every `renew_every`; others take over once the lease has not
//! been renewed for `lease_duration`, or at once when the holder releases it on shutdown.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
}

impl LeaderElector {
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str, lease_duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration,
        }
    }

    /// Acquires or renews the lease; `Ok(true)` while this replica holds it. Conflicts (another
    /// replica wrote first) are a plain `false`.
    pub async fn try_acquire_or_renew(&self) -> kube::Result<bool> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.lease_duration.as_secs() as i32),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await.map(|_| true));
        };
        let spec = lease.spec.get_or_insert_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let duration = spec.lease_duration_seconds.unwrap_or(self.lease_duration.as_secs() as i32);
            renewed.0.as_second() + i64::from(duration) < now.0.as_second()
        });
        if holder != self.identity && !holder.is_empty() && !expired {
            return Ok(false);
        }
        if holder != self.identity {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.lease_duration.as_secs() as i32);
        spec.renew_time = Some(now);
        // `replace` carries the resourceVersion we read: a concurrent writer makes it fail.
        conflict_is_false(self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| true))
    }

    /// Gives the lease up so a standby replica takes over at once.
    pub async fn release(&self) -> kube::Result<()> {
        if let Some(mut lease) = self.api.get_opt(&self.name).await?
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            conflict_is_false(self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| true))?;
        }
        Ok(())
    }
}

fn conflict_is_false(result: kube::Result<bool>) -> kube::Result<bool> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        other => other,
    }
}
