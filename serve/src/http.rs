//! The endpoints over HTTP/1.1 with hyper, one task per connection.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::endpoints::{Endpoints, route};

/// The pause after a failed accept (out of file descriptors, say) before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

fn respond(request: &Request<Incoming>, endpoints: &Endpoints) -> Response<Full<Bytes>> {
    let reply = route(request.method(), request.uri().path(), endpoints);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(reply.content_type));
    response
}

/// Serves connections from `listener` until `shutdown` completes (or the task is dropped). A
/// failed accept is logged and retried: the endpoints outlive a passing shortage.
pub async fn serve(listener: TcpListener, endpoints: Endpoints, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a metrics connection");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &endpoints);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{IntGauge, Registry};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::endpoints::Readiness;

    /// One GET over a real socket: (status code, content type, body).
    async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response)).await.unwrap().unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
        let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_owned();
        (status, content_type, body.to_owned())
    }

    #[tokio::test]
    async fn serves_the_endpoints_over_a_socket_until_shut_down() {
        let registry = Registry::new();
        let gauge = IntGauge::new("wardwatch_test_value", "A gauge").unwrap();
        registry.register(Box::new(gauge.clone())).unwrap();
        gauge.set(42);
        let readiness = Readiness::not_yet("capture not open");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Endpoints::new(registry, readiness.clone()), async {
            let _ = stopped.await;
        }));

        let (status, content_type, body) = get(address, "/metrics").await;
        assert_eq!((status, content_type.as_str()), (200, crate::endpoints::TEXT_FORMAT));
        assert!(body.contains("wardwatch_test_value 42"), "{body}");
        assert_eq!(get(address, "/healthz").await.0, 200);
        assert_eq!(get(address, "/readyz").await.0, 503);
        readiness.set(true);
        assert_eq!(get(address, "/readyz").await.0, 200);

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        assert!(TcpStream::connect(address).await.is_err(), "the listener closes with the server");
    }
}
