//! The answers of the three endpoints, without sockets: `/metrics` (a registry in Prometheus'
//! text format), `/healthz` (the process answers) and `/readyz` (what the process waits for is
//! there). Only `GET` and `HEAD` are allowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::{Method, StatusCode};
use prometheus::{Encoder, Registry, TextEncoder};

/// Prometheus' text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// `registry` in Prometheus' text exposition format.
pub fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out).expect("the text encoder writes to memory");
    String::from_utf8(out).expect("the text format is UTF-8")
}

/// Whether the process is ready, and what `/readyz` says while it is not.
#[derive(Clone, Debug)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    waiting_for: &'static str,
}

impl Readiness {
    /// Not ready until [`Readiness::set`]; `waiting_for` names what is missing ("capture not
    /// open").
    pub fn not_yet(waiting_for: &'static str) -> Self {
        Self { ready: Arc::new(AtomicBool::new(false)), waiting_for }
    }

    /// Ready from the start (a process whose serving socket is all it needs).
    pub fn always() -> Self {
        let readiness = Self::not_yet("");
        readiness.set(true);
        readiness
    }

    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// What the endpoints read.
#[derive(Clone, Debug)]
pub struct Endpoints {
    registry: Registry,
    readiness: Readiness,
}

impl Endpoints {
    pub fn new(registry: Registry, readiness: Readiness) -> Self {
        Self { registry, readiness }
    }
}

/// A response before it is wrapped for hyper.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self { status, content_type: PLAIN_TEXT, body: body.into() }
    }
}

/// Answers one request by method and path.
pub fn route(method: &Method, path: &str, endpoints: &Endpoints) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match path {
        "/metrics" => Reply { status: StatusCode::OK, content_type: TEXT_FORMAT, body: encode(&endpoints.registry) },
        "/healthz" => Reply::text(StatusCode::OK, "ok\n"),
        "/readyz" if endpoints.readiness.is_ready() => Reply::text(StatusCode::OK, "ready\n"),
        "/readyz" => Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", endpoints.readiness.waiting_for)),
        _ => Reply::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use prometheus::IntCounter;

    use super::*;

    fn endpoints(readiness: Readiness) -> Endpoints {
        let registry = Registry::new();
        let counter = IntCounter::new("wardwatch_test_total", "A counter").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc_by(3);
        Endpoints::new(registry, readiness)
    }

    #[test]
    fn metrics_are_the_registry_in_text_format() {
        let reply = route(&Method::GET, "/metrics", &endpoints(Readiness::always()));
        assert_eq!((reply.status, reply.content_type), (StatusCode::OK, TEXT_FORMAT));
        assert!(reply.body.contains("# TYPE wardwatch_test_total counter\nwardwatch_test_total 3\n"), "{}", reply.body);
    }

    #[test]
    fn readiness_follows_the_flag_and_names_what_is_missing() {
        let readiness = Readiness::not_yet("capture not open");
        let endpoints = endpoints(readiness.clone());
        let reply = route(&Method::GET, "/readyz", &endpoints);
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "capture not open\n"));
        assert_eq!(route(&Method::GET, "/healthz", &endpoints).status, StatusCode::OK);
        readiness.set(true);
        assert_eq!(route(&Method::HEAD, "/readyz", &endpoints).status, StatusCode::OK);
        readiness.set(false);
        assert_eq!(route(&Method::GET, "/readyz", &endpoints).status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn only_reads_of_the_three_paths_are_answered() {
        let endpoints = endpoints(Readiness::always());
        assert_eq!(route(&Method::POST, "/metrics", &endpoints).status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(route(&Method::GET, "/nope", &endpoints).status, StatusCode::NOT_FOUND);
    }
}
