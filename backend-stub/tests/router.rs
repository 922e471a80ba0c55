//! The stub's router, called in-process for every route, knob and error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use backend_stub::knobs::{FaultSet, Knobs};
use backend_stub::stats::Snapshot;
use backend_stub::{app, Stub};
use http_body_util::BodyExt;
use playback_core::wire::CallSummary;
use tower::ServiceExt;

const TOKEN: &str = "t0ken";

fn setup(knobs: Knobs) -> (Arc<Stub>, Router) {
    let stub = Stub::new(TOKEN, knobs);
    (stub.clone(), app(stub))
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

fn first_call(stub: &Stub, business: &str) -> (String, backend_stub::audio::Recording) {
    let c = stub.catalog().listed_calls(business).next().unwrap();
    (c.summary.call_sid.to_string(), c.recording)
}

fn recording_path(business: &str, sid: &str) -> String {
    format!("/v1/businesses/{business}/calls/{sid}/recording")
}

async fn body_bytes(r: axum::response::Response) -> Result<Vec<u8>, String> {
    r.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| e.to_string())
}

async fn json(r: axum::response::Response) -> serde_json::Value {
    serde_json::from_slice(&body_bytes(r).await.unwrap()).unwrap()
}

#[tokio::test]
async fn lists_a_business_calls_with_auth_and_404_for_unknown_business() {
    let (stub, app) = setup(Knobs::default());
    let r = app
        .clone()
        .oneshot(get("/v1/businesses/acme/calls"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let calls: Vec<CallSummary> = serde_json::from_slice(&body_bytes(r).await.unwrap()).unwrap();
    assert_eq!(calls.len(), stub.catalog().listed_calls("acme").count());

    let r = app
        .clone()
        .oneshot(get("/v1/businesses/nobody/calls"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(r).await["error"], "not_found");

    let unauth = Request::get("/v1/businesses/acme/calls")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(unauth).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = Request::get("/v1/businesses/acme/calls")
        .header("Authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(wrong).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn serves_the_recording_with_length_etag_and_type_and_counts_it() {
    let (stub, app) = setup(Knobs::default());
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    assert_eq!(r.headers()["content-length"], recording.len().to_string());
    assert_eq!(r.headers()["etag"], recording.etag());
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());

    let s: Snapshot = stub.stats.snapshot();
    assert_eq!(
        (
            s.call(&sid).attempts,
            s.call(&sid).started,
            s.call(&sid).completed
        ),
        (1, 1, 1)
    );
    assert_eq!(s.business("acme").peak, 1);
    assert_eq!(s.business("acme").current, 0);
    assert_eq!(s.business("acme").first_attempt_order, vec![sid.clone()]);

    let r = app.clone().oneshot(get("/__stats")).await.unwrap();
    assert_eq!(json(r).await["calls"][&sid]["completed"], 1);
    let reset = Request::post("/__stats/reset").body(Body::empty()).unwrap();
    assert_eq!(
        app.oneshot(reset).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(stub.stats.snapshot(), Snapshot::default());
}

#[tokio::test]
async fn another_business_call_or_an_unknown_call_is_404_and_a_malformed_sid_400() {
    let (stub, app) = setup(Knobs::default());
    let (sid, _) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("globex", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let unknown = format!("CA{}", "0".repeat(32));
    assert_eq!(
        app.clone()
            .oneshot(get(&recording_path("acme", &unknown)))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", "CA123")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(r).await["error"], "invalid_call_sid");
    // Undecodable percent-escapes and unknown routes are 4xx, never a panic.
    let r = app
        .clone()
        .oneshot(get("/v1/businesses/%FF%FE/calls"))
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(
        app.clone()
            .oneshot(get("/v2/anything"))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let post = Request::post(recording_path("acme", &sid))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(post).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(stub.stats.snapshot().total_attempts(), 0);
}

#[tokio::test]
async fn fail_first_answers_500_then_serves() {
    let (stub, app) = setup(Knobs {
        all: FaultSet {
            fail_first: 2,
            ..Default::default()
        },
        ..Default::default()
    });
    let (sid, recording) = first_call(&stub, "acme");
    for _ in 0..2 {
        let r = app
            .clone()
            .oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    assert_eq!(stub.stats.snapshot().call(&sid).attempts, 3);
}

#[tokio::test]
async fn truncate_first_cuts_the_body_with_an_error_then_serves_whole() {
    let (stub, app) = setup(Knobs {
        all: FaultSet {
            truncate_first: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-length"], recording.len().to_string());
    assert!(
        body_bytes(r).await.is_err(),
        "a truncated body must end in an error"
    );
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (2, 2, 1));
}

#[tokio::test]
async fn hang_first_never_answers_and_holds_concurrency() {
    let (stub, app) = setup(Knobs {
        all: FaultSet {
            hang_first: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let (sid, _) = first_call(&stub, "acme");
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        app.clone().oneshot(get(&recording_path("acme", &sid))),
    )
    .await;
    assert!(hung.is_err(), "a hanging attempt answered");
    // The timed-out attempt was dropped: its concurrency is released.
    assert_eq!(stub.stats.snapshot().business("acme").current, 0);
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn latency_and_mid_body_delay_slow_the_answer() {
    let (stub, app) = setup(Knobs {
        all: FaultSet {
            latency_ms: 150,
            mid_body_delay_ms: 150,
            ..Default::default()
        },
        ..Default::default()
    });
    let (sid, recording) = first_call(&stub, "acme");
    let t = Instant::now();
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    let headers_after = t.elapsed();
    assert!(
        headers_after >= Duration::from_millis(150),
        "{headers_after:?}"
    );
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn not_ready_answers_404_for_its_seconds_after_the_knobs_were_set() {
    let (stub, app) = setup(Knobs {
        all: FaultSet {
            not_ready_secs: 60,
            ..Default::default()
        },
        ..Default::default()
    });
    let (sid, _) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(r).await["error"], "not_ready");
    stub.set_knobs(Knobs::default());
    assert_eq!(
        app.oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn knobs_are_set_at_run_time_per_call_and_bad_knobs_are_400() {
    let (stub, app) = setup(Knobs::default());
    let (sid, _) = first_call(&stub, "acme");
    let (other, _) = first_call(&stub, "globex");
    let body = serde_json::json!({"calls": {sid.clone(): {"fail_first": 5}}}).to_string();
    let set = Request::post("/__knobs")
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(set).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(stub.knobs().for_call(&sid).fail_first, 5);
    let r = app
        .clone()
        .oneshot(Request::get("/__knobs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(json(r).await["calls"][&sid]["fail_first"], 5);
    assert_eq!(
        app.clone()
            .oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap()
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        app.clone()
            .oneshot(get(&recording_path("globex", &other)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    for bad in [r#"{"latency": 1}"#, "not json", r#"{"fail_first": -1}"#] {
        let set = Request::post("/__knobs")
            .header("Content-Type", "application/json")
            .body(Body::from(bad))
            .unwrap();
        let r = app.clone().oneshot(set).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(json(r).await["error"], "bad_knobs");
    }
}

#[tokio::test]
async fn the_long_recording_streams_in_chunks_without_being_held_whole() {
    let (stub, app) = setup(Knobs::default());
    let long = stub.catalog().longest().clone();
    assert!(long.recording.len() >= 50_000_000);
    let r = app
        .oneshot(get(&recording_path(
            long.business,
            long.summary.call_sid.as_str(),
        )))
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-length"],
        long.recording.len().to_string()
    );
    let mut body = r.into_body();
    let (mut total, mut largest) = (0u64, 0usize);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        largest = largest.max(data.len());
        total += data.len() as u64;
    }
    assert_eq!(total, long.recording.len());
    assert!(largest <= 64 * 1024, "a chunk of {largest} bytes");
}
