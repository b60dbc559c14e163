//! A local receiver for Alertmanager's notifications: the stand-in for a ward team's webhook
//! endpoint and for Discord, served with hyper on 127.0.0.1 (or inside the real node's namespace). Every POST is handed over as a
//! [`Delivery`] (the path tells the receivers apart); every request is answered 200.

use std::convert::Infallible;

use anyhow::Result;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One notification: the path it was posted to, its JSON body, and when it arrived.
#[derive(Debug)]
pub struct Delivery {
    pub path: String,
    pub body: Value,
    pub at: std::time::SystemTime,
}

pub struct AlertReceiver {
    url: String,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    server: tokio::task::JoinHandle<()>,
}

impl AlertReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        Self::serve(listener, url)
    }

    /// Listens on a free port of every address inside `namespace` (the real node's), announced
    /// as `reachable_at` (the pod bridge's address, which its pods reach; the bridge itself may
    /// not exist yet). The socket is opened by a thread that entered the namespace, and served
    /// from this runtime.
    pub async fn start_in(
        namespace: &crate::netns::NetworkNamespace,
        reachable_at: std::net::Ipv4Addr,
    ) -> Result<Self> {
        let listener = namespace.within(|| std::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)))??;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Self::serve(TcpListener::from_std(listener)?, format!("http://{reachable_at}:{port}"))
    }

    fn serve(listener: TcpListener, url: String) -> Result<Self> {
        let (sender, deliveries) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let sender = sender.clone();
                    async move {
                        let at = std::time::SystemTime::now();
                        let path = request.uri().path().to_owned();
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        // A body that is not JSON is kept as a string: it is still a delivery.
                        let body = serde_json::from_slice(&body)
                            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
                        let _ = sender.send(Delivery { path, body, at });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Ok(Self { url, deliveries, server })
    }

    /// `http://<address>:<port>`; append a path per receiver.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next notification, if one arrives within `timeout`.
    pub async fn next(&mut self, timeout: std::time::Duration) -> Option<Delivery> {
        tokio::time::timeout(timeout, self.deliveries.recv()).await.ok().flatten()
    }
}

impl Drop for AlertReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_posted_notification_is_delivered_with_its_path() {
        let mut receiver = AlertReceiver::start().await.unwrap();
        let response = crate::http_probe::loopback_client()
            .post(format!("{}/team", receiver.url()))
            .body(r#"{"status":"firing"}"#)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let delivery = receiver.next(std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(delivery.path, "/team");
        assert_eq!(delivery.body["status"], "firing");
    }
}
