//! The HTTP endpoints, served with hyper: `/metrics` (Prometheus text format), `/healthz`
//! (the process runs) and `/readyz` (the capture is open).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// What the endpoints read: the metrics and whether capture is open.
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
}

impl ServerState {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, ready: AtomicBool::new(false) }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// A response before it is wrapped for hyper: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", body: body.into() }
    }
}

/// Answers one request by method and path.
pub fn route(method: &Method, path: &str, state: &ServerState) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match path {
        "/metrics" => match state.metrics.render() {
            Ok(body) => {
                Reply { status: StatusCode::OK, content_type: "text/plain; version=0.0.4; charset=utf-8", body }
            }
            Err(err) => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {err:#}\n")),
        },
        "/healthz" => Reply::text(StatusCode::OK, "ok\n"),
        "/readyz" if state.ready.load(Ordering::Relaxed) => Reply::text(StatusCode::OK, "ready\n"),
        "/readyz" => Reply::text(StatusCode::SERVICE_UNAVAILABLE, "capture not open\n"),
        _ => Reply::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn respond(request: &Request<Incoming>, state: &ServerState) -> Response<Full<Bytes>> {
    let reply = route(request.method(), request.uri().path(), state);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(reply.content_type));
    response
}

/// Serves connections from `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, shutdown: impl Future<Output = ()>) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &state);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("metrics connection ended: {err}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::decode::Protocol;
    use crate::metrics::MetricsSink;
    use crate::pipeline::{Event, Sink};

    /// One GET over a real socket: (status code, body).
    async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response)).await.unwrap().unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness_over_a_socket() {
        let metrics = Arc::new(Metrics::new().unwrap());
        MetricsSink::new(&metrics, 4).record(Event::Packet { protocol: Some(Protocol::Udp), wire_len: 42 });
        let state = Arc::new(ServerState::new(Arc::clone(&metrics)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::clone(&state), async {
            let _ = stopped.await;
        }));

        let (status, body) = get(address, "/metrics").await;
        assert_eq!(status, 200);
        let udp_bytes = body.lines().find_map(|l| l.strip_prefix(r#"wardwatch_bytes_total{protocol="udp"} "#));
        assert_eq!(udp_bytes, Some("42"), "{body}");
        assert!(body.contains("# TYPE wardwatch_packets_total counter"), "{body}");
        assert_eq!(get(address, "/healthz").await.0, 200);
        assert_eq!(get(address, "/readyz").await.0, 503);
        state.set_ready(true);
        assert_eq!(get(address, "/readyz").await.0, 200);
        assert_eq!(get(address, "/nope").await.0, 404);

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[test]
    fn only_reads_are_allowed() {
        let state = ServerState::new(Arc::new(Metrics::new().unwrap()));
        assert_eq!(route(&Method::POST, "/metrics", &state).status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
