//! The operator's own metrics, and the HTTP endpoint serving them with `/healthz` and `/readyz`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

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
    ready: AtomicBool,
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
        Self {
            registry,
            reconciliations,
            reconcile_errors,
            reconcile_duration,
            applies,
            leader,
            quarantine_requests,
            ready: AtomicBool::new(false),
        }
    }

    /// Starts timing one reconciliation; the duration is recorded when the guard drops.
    pub fn reconcile_timer(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.reconciliations.with_label_values(&[controller]).inc();
        ReconcileTimer { metrics: self, controller, started: Instant::now() }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
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

fn respond(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match request.uri().path() {
        "/metrics" => (StatusCode::OK, metrics.encode()),
        "/healthz" => (StatusCode::OK, "ok".to_owned()),
        "/readyz" if metrics.is_ready() => (StatusCode::OK, "ok".to_owned()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned()),
        _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
    };
    Response::builder().status(status).body(Full::new(Bytes::from(body))).expect("static response parts are valid")
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&metrics, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(err) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                tracing::debug!(%err, "metrics connection ended with an error");
            }
        });
    }
}

/// Binds the metrics address.
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}
