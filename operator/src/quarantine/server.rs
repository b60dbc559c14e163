//! The webhook's HTTP server (hyper 1): `POST /quarantine` with Alertmanager's notification and
//! a bearer token; every other path or method is refused.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes};
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};
use wardwatch_crds::MonitoredDevice;

use super::annotate::{self, Outcome};
use super::decision::{self, Candidate, Ignored, Summary};
use super::payload::{self, MAX_BODY_BYTES, PayloadError};
use super::token::{WebhookKey, bearer};
use crate::metrics::Metrics;
use crate::names::QUARANTINE_ANNOTATION;

/// The one path the webhook serves.
pub const PATH: &str = "/quarantine";

/// How long a client may take to send its headers, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request needs: the API, the master key, metrics and an event recorder.
pub struct Webhook {
    client: kube::Client,
    key: WebhookKey,
    metrics: Arc<Metrics>,
    recorder: Recorder,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Reply {
    let mut response = reply(status, &json!({"error": message.to_string()}));
    match status {
        StatusCode::UNAUTHORIZED => {
            response.headers_mut().insert(WWW_AUTHENTICATE, "Bearer".parse().unwrap());
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            response.headers_mut().insert(ALLOW, "POST".parse().unwrap());
        }
        _ => {}
    }
    response
}

impl Webhook {
    pub fn new(client: kube::Client, key: WebhookKey, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: "wardwatch-operator".into(),
            instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
        };
        Self { recorder: Recorder::new(client.clone(), reporter), client, key, metrics }
    }

    fn count(&self, result: &str) {
        self.metrics.quarantine_requests.with_label_values(&[result]).inc();
    }

    /// Answers one request. Nothing is read from or written to the API before the request is
    /// authenticated: a well-formed notification whose alerts all belong to the namespace the
    /// bearer token was derived for.
    pub async fn handle<B>(&self, request: Request<B>) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.uri().path() != PATH {
            return refuse(StatusCode::NOT_FOUND, "not found: the webhook serves POST /quarantine");
        }
        if request.method() != Method::POST {
            return refuse(StatusCode::METHOD_NOT_ALLOWED, "the webhook takes POST");
        }
        let header = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = bearer(header).map(str::to_owned) else {
            self.count("unauthorized");
            return refuse(StatusCode::UNAUTHORIZED, "an Authorization: Bearer token is required");
        };
        let notification = match read_body(request).await.and_then(|body| payload::parse(&body)) {
            Ok(notification) => notification,
            Err(err) => {
                self.count("bad_request");
                tracing::info!(%err, "quarantine webhook: bad request");
                return refuse(StatusCode::BAD_REQUEST, err);
            }
        };
        let authenticated = decision::namespace(&notification).filter(|ns| self.key.verify(ns, &token));
        let Some(namespace) = authenticated else {
            self.count("unauthorized");
            tracing::warn!("quarantine webhook: a token that does not open the alerts' namespace");
            return refuse(StatusCode::UNAUTHORIZED, "the token does not belong to the alerts' namespace");
        };

        let received_at = k8s_openapi::jiff::Timestamp::now().to_string();
        let mut summary = Summary::default();
        for alert in &notification.alerts {
            let candidate = match decision::candidate(alert, &received_at) {
                Ok(candidate) => candidate,
                Err(why) => {
                    summary.ignored += 1;
                    tracing::debug!(namespace, alert = alert.label("alertname"), %why, "alert ignored");
                    continue;
                }
            };
            match annotate::quarantine(&self.client, &candidate).await {
                Ok(Outcome::Quarantined(device)) => {
                    summary.quarantined += 1;
                    tracing::info!(
                        namespace,
                        device = candidate.device,
                        alert = candidate.record.alert,
                        "quarantine requested"
                    );
                    self.publish(&device, &candidate).await;
                }
                Ok(Outcome::AlreadyQuarantined) => summary.already_quarantined += 1,
                Ok(Outcome::Ignored(why)) => {
                    summary.ignored += 1;
                    let unknown = matches!(why, Ignored::UnknownDevice(_) | Ignored::UnknownWard(_));
                    if unknown {
                        tracing::warn!(namespace, device = candidate.device, %why, "alert ignored");
                    } else {
                        tracing::info!(namespace, device = candidate.device, %why, "alert ignored");
                    }
                }
                Err(err) => {
                    // Alertmanager retries a 5xx; what was written stays and reads as already done.
                    self.count("error");
                    tracing::warn!(namespace, device = candidate.device, %err, "quarantine webhook: API error");
                    return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("Kubernetes API: {err}"));
                }
            }
        }
        self.count(summary.result());
        reply(StatusCode::OK, &serde_json::to_value(summary).expect("the summary serialises"))
    }

    async fn publish(&self, device: &MonitoredDevice, candidate: &Candidate) {
        let event = Event {
            type_: EventType::Warning,
            reason: "QuarantineRequested".into(),
            note: Some(format!(
                "{} from Alertmanager: annotation {QUARANTINE_ANNOTATION} set, the device is to be isolated",
                candidate.record.describe()
            )),
            action: "Quarantine".into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &device.object_ref(&())).await {
            tracing::warn!(%err, "could not publish the QuarantineRequested event");
        }
    }
}

/// The body, at most [`MAX_BODY_BYTES`] and within [`READ_TIMEOUT`].
async fn read_body<B>(request: Request<B>) -> Result<Bytes, PayloadError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(PayloadError::TooLarge);
    }
    let limited = Limited::new(request.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(PayloadError::TooLarge),
        Ok(Err(err)) => Err(PayloadError::Malformed(format!("reading the body: {err}"))),
        Err(_) => Err(PayloadError::Malformed("the body did not arrive in time".into())),
    }
}

/// Serves the webhook on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, webhook: Arc<Webhook>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let webhook = webhook.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let webhook = webhook.clone();
                async move { Ok::<_, Infallible>(webhook.handle(request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(io, service);
            if let Err(err) = connection.await {
                tracing::debug!(%err, "webhook connection ended with an error");
            }
        });
    }
}

/// The HTTP answers that need no API server: a mocked one that must see no request at all.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::payload::tests::port_scan;
    use http::Request as HttpRequest;
    use kube::client::Body as KubeBody;
    use tower_test::mock;

    fn key() -> WebhookKey {
        WebhookKey::new("a master key of the test, long enough").unwrap()
    }

    /// The webhook's answer to `request`, and whether it asked the API server anything.
    async fn answer(request: HttpRequest<Full<Bytes>>) -> (StatusCode, Value, bool, Arc<Metrics>) {
        let (service, mut handle) = mock::pair::<HttpRequest<KubeBody>, Response<KubeBody>>();
        let metrics = Arc::new(Metrics::new());
        let webhook = Webhook::new(kube::Client::new(service, "default"), key(), metrics.clone());
        let response = webhook.handle(request).await;
        drop(webhook);
        let asked = handle.next_request().await.is_some();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap(), asked, metrics)
    }

    fn post(token: Option<&str>, body: impl Into<Bytes>) -> HttpRequest<Full<Bytes>> {
        let mut request = HttpRequest::post(PATH).header(CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Full::new(body.into())).unwrap()
    }

    fn counted(metrics: &Metrics, result: &str) -> u64 {
        metrics.quarantine_requests.with_label_values(&[result]).get()
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        let (status, _, asked, _) = answer(HttpRequest::post("/").body(Full::default()).unwrap()).await;
        assert_eq!((status, asked), (StatusCode::NOT_FOUND, false));
        let (status, _, asked, _) = answer(HttpRequest::get("/quarantine/x").body(Full::default()).unwrap()).await;
        assert_eq!((status, asked), (StatusCode::NOT_FOUND, false));
        let (status, _, asked, _) = answer(HttpRequest::get(PATH).body(Full::default()).unwrap()).await;
        assert_eq!((status, asked), (StatusCode::METHOD_NOT_ALLOWED, false));
    }

    #[tokio::test]
    async fn requests_without_the_namespaces_token_are_unauthorized_and_read_nothing() {
        let body = port_scan("firing", "critical").to_string();
        let (status, reply, asked, metrics) = answer(post(None, body.clone())).await;
        assert_eq!((status, asked), (StatusCode::UNAUTHORIZED, false), "{reply}");
        assert_eq!(counted(&metrics, "unauthorized"), 1);
        for wrong in [key().token("general"), "not-hex".into(), key().token("st-mary")[..63].into()] {
            let (status, reply, asked, _) = answer(post(Some(&wrong), body.clone())).await;
            assert_eq!((status, asked), (StatusCode::UNAUTHORIZED, false), "{wrong}: {reply}");
        }
        let basic = HttpRequest::post(PATH).header(AUTHORIZATION, "Basic dXNlcjpwYXNz").body(Full::new(body.into()));
        let (status, _, asked, _) = answer(basic.unwrap()).await;
        assert_eq!((status, asked), (StatusCode::UNAUTHORIZED, false));
    }

    #[tokio::test]
    async fn a_token_cannot_speak_for_alerts_of_another_namespace() {
        let mut body = port_scan("firing", "critical");
        let mut elsewhere = body["alerts"][0].clone();
        elsewhere["labels"]["namespace"] = json!("general");
        body["alerts"].as_array_mut().unwrap().push(elsewhere);
        let (status, _, asked, _) = answer(post(Some(&key().token("st-mary")), body.to_string())).await;
        assert_eq!((status, asked), (StatusCode::UNAUTHORIZED, false));
    }

    #[tokio::test]
    async fn malformed_and_oversized_bodies_are_bad_requests() {
        let token = key().token("st-mary");
        let (status, reply, asked, metrics) = answer(post(Some(&token), "{\"version\": \"4\"")).await;
        assert_eq!((status, asked), (StatusCode::BAD_REQUEST, false));
        assert!(reply["error"].as_str().unwrap().contains("not an Alertmanager notification"), "{reply}");
        assert_eq!(counted(&metrics, "bad_request"), 1);
        let mut old = port_scan("firing", "critical");
        old["version"] = json!("3");
        let (status, _, asked, _) = answer(post(Some(&token), old.to_string())).await;
        assert_eq!((status, asked), (StatusCode::BAD_REQUEST, false));
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        let (status, reply, asked, _) = answer(post(Some(&token), huge)).await;
        assert_eq!((status, asked), (StatusCode::BAD_REQUEST, false));
        assert!(reply["error"].as_str().unwrap().contains("more than 262144 bytes"), "{reply}");
    }

    #[tokio::test]
    async fn a_resolved_or_clinical_notification_touches_nothing() {
        let token = key().token("st-mary");
        let (status, reply, asked, metrics) =
            answer(post(Some(&token), port_scan("resolved", "critical").to_string())).await;
        assert_eq!((status, asked), (StatusCode::OK, false));
        assert_eq!(reply, json!({"quarantined": 0, "alreadyQuarantined": 0, "ignored": 1}));
        assert_eq!(counted(&metrics, "ignored"), 1);
        let mut clinical = port_scan("firing", "critical");
        clinical["alerts"][0]["labels"]["category"] = json!("clinical");
        let (status, _, asked, _) = answer(post(Some(&token), clinical.to_string())).await;
        assert_eq!((status, asked), (StatusCode::OK, false));
    }
}
