//! A minimal HTTP endpoint for Prometheus: `/metrics` (text exposition) and `/healthz`.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Renders the metrics text on each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves until the task is dropped; failed accepts are logged and retried.
pub async fn serve(listener: TcpListener, render: Render) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a metrics connection");
                tokio::time::sleep(crate::gateway::server::ACCEPT_RETRY).await;
                continue;
            }
        };
        let render = Arc::clone(&render);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(&request, &render);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, render: &Render) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, TEXT_FORMAT, render()),
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        (&Method::GET, _) => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_owned()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n".to_owned()),
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response from valid parts")
}
