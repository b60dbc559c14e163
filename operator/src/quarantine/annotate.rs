//! Writes the quarantine annotation on a device: read the device, ask its ward, then a merge
//! patch carrying the resourceVersion read, so that a concurrent writer (another replica hearing
//! the same alert) makes the API server answer 409, and the re-read sees its annotation.

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use wardwatch_crds::{MonitoredDevice, Ward};

use super::decision::{self, Candidate, Ignored};
use crate::names::{FIELD_MANAGER, QUARANTINE_ANNOTATION};

/// How often a write that lost a race (409) is read and tried again.
const MAX_ATTEMPTS: usize = 5;

/// What one candidate alert did.
#[derive(Debug)]
pub enum Outcome {
    /// The annotation is written; the device as the API server returned it.
    Quarantined(Box<MonitoredDevice>),
    /// The device carried the annotation already (a replay, or another replica was first).
    AlreadyQuarantined,
    Ignored(Ignored),
}

fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}

/// Quarantines the candidate's device if its ward's policy wants it and it is not already.
pub async fn quarantine(client: &Client, candidate: &Candidate) -> Result<Outcome, kube::Error> {
    let devices: Api<MonitoredDevice> = Api::namespaced(client.clone(), &candidate.namespace);
    let name = candidate.device.as_str();
    let Some(mut device) = devices.get_opt(name).await? else {
        return Ok(Outcome::Ignored(Ignored::UnknownDevice(name.to_owned())));
    };
    if device.annotations().contains_key(QUARANTINE_ANNOTATION) {
        return Ok(Outcome::AlreadyQuarantined);
    }
    let wards: Api<Ward> = Api::namespaced(client.clone(), &candidate.namespace);
    let Some(ward) = wards.get_opt(&device.spec.ward).await? else {
        return Ok(Outcome::Ignored(Ignored::UnknownWard(device.spec.ward.clone())));
    };
    if let Err(why) = decision::ward_wants(&ward.spec.quarantine, candidate.record.severity) {
        return Ok(Outcome::Ignored(why));
    }

    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
    let value = candidate.record.to_annotation();
    let mut attempt = 1;
    loop {
        let patch = json!({"metadata": {
            "resourceVersion": device.resource_version(),
            "annotations": {QUARANTINE_ANNOTATION: value},
        }});
        match devices.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(patched) => return Ok(Outcome::Quarantined(Box::new(patched))),
            Err(err) if is_conflict(&err) && attempt < MAX_ATTEMPTS => attempt += 1,
            Err(err) => return Err(err),
        }
        device = match devices.get_opt(name).await? {
            Some(device) => device,
            None => return Ok(Outcome::Ignored(Ignored::UnknownDevice(name.to_owned()))),
        };
        if device.annotations().contains_key(QUARANTINE_ANNOTATION) {
            return Ok(Outcome::AlreadyQuarantined);
        }
    }
}

/// A mocked API server (kube's tower-test): the writer's exact requests.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::quarantine::record::AlertQuarantine;
    use http::{Method, Request, Response, StatusCode};
    use kube::client::Body;
    use serde_json::Value;
    use tower_test::mock;
    use wardwatch_crds::Severity;

    type Handle = mock::Handle<Request<Body>, Response<Body>>;

    const DEVICE_PATH: &str = "/apis/wardwatch.io/v1alpha1/namespaces/st-mary/monitoreddevices/bed-01";
    const WARD_PATH: &str = "/apis/wardwatch.io/v1alpha1/namespaces/st-mary/wards/icu-east";

    fn candidate(severity: Severity) -> Candidate {
        Candidate {
            namespace: "st-mary".into(),
            device: "bed-01".into(),
            record: AlertQuarantine {
                alert: "PortScanDetected".into(),
                severity,
                starts_at: "2025-05-01T10:00:00Z".into(),
                received_at: "2025-05-01T10:00:11Z".into(),
            },
        }
    }

    fn device(resource_version: &str, annotated: bool) -> Value {
        let mut device = fixtures::monitor("bed-01");
        device.metadata.resource_version = Some(resource_version.into());
        if annotated {
            device.annotations_mut().insert(QUARANTINE_ANNOTATION.into(), "{}".into());
        }
        serde_json::to_value(device).unwrap()
    }

    fn ward(mode: &str) -> Value {
        let ward = fixtures::ward(
            "icu-east",
            &format!("hospitalId: st-mary\ndepartment: icu\nquarantine: {{mode: {mode}, minSeverity: warning}}\n"),
        );
        serde_json::to_value(ward).unwrap()
    }

    fn ok(value: &Value) -> Response<Body> {
        Response::builder().body(Body::from(serde_json::to_vec(value).unwrap())).unwrap()
    }

    fn status(code: StatusCode) -> Response<Body> {
        // The API server's reasons are the canonical phrases without spaces (NotFound, Conflict).
        let reason = code.canonical_reason().unwrap_or_default().replace(' ', "");
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code.as_u16(),
                            "reason": reason, "message": "mocked"});
        Response::builder().status(code).body(Body::from(serde_json::to_vec(&status).unwrap())).unwrap()
    }

    async fn expect(handle: &mut Handle, method: Method, path: &str, response: Response<Body>) -> Option<Value> {
        let (request, respond) = handle.next_request().await.unwrap_or_else(|| panic!("a {method} of {path}"));
        assert_eq!((request.method(), request.uri().path()), (&method, path));
        let body = if method == Method::PATCH {
            assert_eq!(request.headers()["content-type"], "application/merge-patch+json");
            let query = request.uri().query().unwrap_or_default();
            assert!(query.contains("fieldManager=wardwatch-operator"), "{query}");
            let bytes = request.into_body().collect_bytes().await.unwrap();
            Some(serde_json::from_slice(&bytes).unwrap())
        } else {
            None
        };
        respond.send_response(response);
        body
    }

    async fn run(
        candidate: Candidate,
        server: impl FnOnce(Handle) -> tokio::task::JoinHandle<()>,
    ) -> Result<Outcome, kube::Error> {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let server = server(handle);
        let outcome = {
            let client = Client::new(service, "default");
            quarantine(&client, &candidate).await
        };
        server.await.unwrap();
        outcome
    }

    fn annotation_of(patch: &Value) -> AlertQuarantine {
        AlertQuarantine::from_annotation(patch["metadata"]["annotations"][QUARANTINE_ANNOTATION].as_str().unwrap())
            .unwrap()
    }

    #[tokio::test]
    async fn the_annotation_is_merged_with_the_resource_version_read() {
        let outcome = run(candidate(Severity::Warning), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("OnAlert"))).await;
                let patch = expect(&mut handle, Method::PATCH, DEVICE_PATH, ok(&device("8", true))).await.unwrap();
                assert_eq!(patch["metadata"]["resourceVersion"], "7");
                assert_eq!(annotation_of(&patch), candidate(Severity::Warning).record);
                assert_eq!(patch.as_object().unwrap().len(), 1, "only metadata: {patch}");
                assert!(handle.next_request().await.is_none(), "nothing else");
            })
        })
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::Quarantined(d) if d.resource_version().as_deref() == Some("8")));
    }

    #[tokio::test]
    async fn an_annotated_device_is_read_and_not_written() {
        let outcome = run(candidate(Severity::Critical), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("9", true))).await;
                assert!(handle.next_request().await.is_none(), "no PATCH for a replay");
            })
        })
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::AlreadyQuarantined));
    }

    #[tokio::test]
    async fn a_conflict_is_read_again_and_retried_with_the_new_version() {
        let outcome = run(candidate(Severity::Warning), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("OnAlert"))).await;
                let first = expect(&mut handle, Method::PATCH, DEVICE_PATH, status(StatusCode::CONFLICT)).await;
                assert_eq!(first.unwrap()["metadata"]["resourceVersion"], "7");
                // Someone changed the device (a label, its status) but did not quarantine it.
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("12", false))).await;
                let second = expect(&mut handle, Method::PATCH, DEVICE_PATH, ok(&device("13", true))).await;
                assert_eq!(second.unwrap()["metadata"]["resourceVersion"], "12");
                assert!(handle.next_request().await.is_none());
            })
        })
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::Quarantined(_)));
    }

    #[tokio::test]
    async fn a_conflict_with_another_replicas_write_ends_as_already_quarantined() {
        let outcome = run(candidate(Severity::Warning), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("OnAlert"))).await;
                expect(&mut handle, Method::PATCH, DEVICE_PATH, status(StatusCode::CONFLICT)).await;
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("8", true))).await;
                assert!(handle.next_request().await.is_none(), "the other replica's write stands");
            })
        })
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::AlreadyQuarantined));
    }

    #[tokio::test]
    async fn conflicts_without_end_give_up_after_a_few_attempts() {
        let result = run(candidate(Severity::Warning), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("1", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("OnAlert"))).await;
                for attempt in 1..=MAX_ATTEMPTS {
                    expect(&mut handle, Method::PATCH, DEVICE_PATH, status(StatusCode::CONFLICT)).await;
                    if attempt < MAX_ATTEMPTS {
                        expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device(&format!("{}", attempt + 1), false)))
                            .await;
                    }
                }
                assert!(handle.next_request().await.is_none());
            })
        })
        .await;
        assert!(matches!(result, Err(err) if is_conflict(&err)));
    }

    #[tokio::test]
    async fn unknown_devices_and_unwilling_wards_are_ignored_without_a_write() {
        let unknown = run(candidate(Severity::Warning), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, status(StatusCode::NOT_FOUND)).await;
                assert!(handle.next_request().await.is_none());
            })
        })
        .await
        .unwrap();
        assert!(matches!(unknown, Outcome::Ignored(Ignored::UnknownDevice(d)) if d == "bed-01"));

        let manual = run(candidate(Severity::Critical), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("Manual"))).await;
                assert!(handle.next_request().await.is_none());
            })
        })
        .await
        .unwrap();
        assert!(matches!(manual, Outcome::Ignored(Ignored::ManualMode)));

        let below = run(candidate(Severity::Info), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, ok(&ward("OnAlert"))).await;
                assert!(handle.next_request().await.is_none());
            })
        })
        .await
        .unwrap();
        assert!(matches!(below, Outcome::Ignored(Ignored::BelowMinimum { .. })));

        let no_ward = run(candidate(Severity::Critical), |mut handle| {
            tokio::spawn(async move {
                expect(&mut handle, Method::GET, DEVICE_PATH, ok(&device("7", false))).await;
                expect(&mut handle, Method::GET, WARD_PATH, status(StatusCode::NOT_FOUND)).await;
                assert!(handle.next_request().await.is_none());
            })
        })
        .await
        .unwrap();
        assert!(matches!(no_ward, Outcome::Ignored(Ignored::UnknownWard(w)) if w == "icu-east"));
    }
}
