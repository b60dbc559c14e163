//! The operator's own metrics (served with `/healthz` and `/readyz` by `wardwatch-serve`).

use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// The `result` values of `wardwatch_operator_quarantine_requests_total`, exported from zero.
pub const QUARANTINE_RESULTS: [&str; 6] =
    ["quarantined", "already_quarantined", "ignored", "unauthorized", "bad_request", "error"];

/// Every metric the operator exposes (prefix `wardwatch_operator_`).
pub struct Metrics {
    pub registry: Registry,
    pub reconciliations: IntCounterVec,
    pub reconcile_errors: IntCounterVec,
    pub reconcile_duration: HistogramVec,
    pub applies: IntCounterVec,
    pub leader: IntGauge,
    pub quarantine_requests: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new("wardwatch_operator_reconciliations_total", "Reconciliations run, by controller."),
            &["controller"],
        )
        .unwrap();
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "wardwatch_operator_reconcile_errors_total",
                "Reconciliations that failed, by controller, the step that failed (read, apply, prune, status) \
                 and error kind (api, kube_client, missing_field).",
            ),
            &["controller", "step", "error"],
        )
        .unwrap();
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new("wardwatch_operator_reconcile_duration_seconds", "How long a reconciliation took.")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["controller"],
        )
        .unwrap();
        let applies = IntCounterVec::new(
            Opts::new(
                "wardwatch_operator_applies_total",
                "Desired objects handled, by kind and result: applied (a write) or unchanged (no write).",
            ),
            &["kind", "result"],
        )
        .unwrap();
        let leader =
            IntGauge::new("wardwatch_operator_leader", "1 while this replica holds the leader Lease.").unwrap();
        let quarantine_requests = IntCounterVec::new(
            Opts::new(
                "wardwatch_operator_quarantine_requests_total",
                "Requests to the quarantine webhook, by result: quarantined, already_quarantined or ignored \
                 (the strongest outcome of its alerts), unauthorized, bad_request, error.",
            ),
            &["result"],
        )
        .unwrap();
        for result in QUARANTINE_RESULTS {
            quarantine_requests.with_label_values(&[result]);
        }
        for collector in [
            Box::new(reconciliations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconcile_errors.clone()),
            Box::new(reconcile_duration.clone()),
            Box::new(applies.clone()),
            Box::new(leader.clone()),
            Box::new(quarantine_requests.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Self { registry, reconciliations, reconcile_errors, reconcile_duration, applies, leader, quarantine_requests }
    }

    /// Starts timing one reconciliation; the duration is recorded when the guard drops.
    pub fn reconcile_timer(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.reconciliations.with_label_values(&[controller]).inc();
        ReconcileTimer { metrics: self, controller, started: Instant::now() }
    }

    pub fn encode(&self) -> String {
        wardwatch_serve::encode(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Records the reconcile duration when dropped, also on early returns and errors.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .with_label_values(&[self.controller])
            .observe(self.started.elapsed().as_secs_f64());
    }
}
