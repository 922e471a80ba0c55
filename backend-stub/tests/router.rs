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
        .oneshot(get("/v1/businesses/acme/calls?limit=200"))
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

/// One page of a list: its calls and its `rel="next"` target, if any.
async fn list_page(app: &Router, url: &str) -> (Vec<CallSummary>, Option<String>) {
    let r = app.clone().oneshot(get(url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    let next = r.headers().get("link").map(|v| {
        let link = v.to_str().unwrap();
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        link[1..link.find('>').unwrap()].to_owned()
    });
    let calls = serde_json::from_slice(&body_bytes(r).await.unwrap()).unwrap();
    (calls, next)
}

#[tokio::test]
async fn the_list_pages_newest_first_with_a_next_link_and_filters_by_number_and_time() {
    let (stub, app) = setup(Knobs::default());
    let mut all: Vec<CallSummary> = stub
        .catalog()
        .listed_calls("acme")
        .map(|c| c.summary.clone())
        .collect();
    all.reverse();
    // Pages of 7 walk the whole list once, newest first, and the last has no link.
    let (mut seen, mut pages) = (Vec::new(), 0);
    let mut url = Some("/v1/businesses/acme/calls?limit=7".to_string());
    while let Some(u) = url {
        let (page, next) = list_page(&app, &u).await;
        assert!(page.len() <= 7);
        seen.extend(page);
        pages += 1;
        url = next;
    }
    assert_eq!(seen, all);
    assert_eq!(pages, all.len().div_ceil(7));
    // The default page is 50.
    let (page, next) = list_page(&app, "/v1/businesses/acme/calls").await;
    assert_eq!((page.len(), next.is_some()), (50, true));
    // A number: any digits of either party; each page keeps the filter.
    let target = &all[30];
    let digits: String = target.to.chars().filter(char::is_ascii_digit).collect();
    let tail = &digits[digits.len() - 6..];
    let (found, _) = list_page(
        &app,
        &format!("/v1/businesses/acme/calls?q={tail}&limit=200"),
    )
    .await;
    assert!(found.contains(target));
    assert!(found
        .iter()
        .all(|c| c.from.replace(['+', ' ', '-'], "").contains(tail)
            || c.to.replace(['+', ' ', '-'], "").contains(tail)));
    // A time range: since inclusive, until exclusive.
    let url = format!(
        "/v1/businesses/acme/calls?since={}&until={}&limit=3",
        all[20].started_at, all[10].started_at
    );
    let (mut seen, mut url) = (Vec::new(), Some(url));
    while let Some(u) = url {
        let (page, next) = list_page(&app, &u).await;
        seen.extend(page);
        url = next;
    }
    assert_eq!(seen, all[11..=20].to_vec());
    // A bad parameter is 400 and names it.
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("q=abc", "q"),
        ("since=yesterday", "since"),
        ("cursor=zzz", "cursor"),
        ("sort=asc", "query"),
    ] {
        let r = app
            .clone()
            .oneshot(get(&format!("/v1/businesses/acme/calls?{query}")))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(json(r).await["detail"], parameter, "{query}");
    }
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

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::get(path);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    r.body(Body::empty()).unwrap()
}

fn all(faults: FaultSet) -> Knobs {
    Knobs {
        all: faults,
        ..Default::default()
    }
}

#[tokio::test]
async fn throttle_first_answers_429_with_retry_after_seconds_then_serves() {
    let (stub, app) = setup(all(FaultSet {
        throttle_first: 2,
        retry_after_secs: 7,
        ..Default::default()
    }));
    let (sid, recording) = first_call(&stub, "acme");
    for _ in 0..2 {
        let r = app
            .clone()
            .oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "7");
        assert_eq!(json(r).await["error"], "throttled");
    }
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (3, 1, 1));
}

#[tokio::test]
async fn throttle_503_sends_retry_after_as_a_date_never_before_now_plus_its_seconds() {
    let (stub, app) = setup(all(FaultSet {
        hang_first: 0,
        fail_first: 1,
        throttle_first: 2,
        throttle_status: 503,
        retry_after_secs: 120,
        retry_after_as_date: true,
        ..Default::default()
    }));
    let (sid, _) = first_call(&stub, "acme");
    // fail comes before throttle.
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let before = std::time::SystemTime::now();
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    let after = std::time::SystemTime::now();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let date = r.headers()["retry-after"].to_str().unwrap().to_owned();
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date:?}");
    let at = httpdate::parse_http_date(&date).unwrap();
    // Now + 120 s rounded up to a whole second, now being some moment of
    // the request: however long it took.
    assert!(at >= before + Duration::from_secs(120), "{date}");
    assert!(at <= after + Duration::from_secs(121), "{date}");
    assert_eq!(
        app.oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[test]
fn http_dates_round_up_to_the_next_whole_second() {
    let before = std::time::SystemTime::now();
    let at = httpdate::parse_http_date(&backend_stub::http_date_in(0)).unwrap();
    let after = std::time::SystemTime::now();
    // The next whole second after some moment of the call: never earlier
    // than its start, at most a second after its end, however long it took.
    assert!(at >= before && at <= after + Duration::from_secs(1));
    // Absurd knobs clamp to the last date HTTP can say, never panic.
    assert_eq!(
        backend_stub::http_date_in(u64::MAX),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
}

#[tokio::test]
async fn attempt_times_ms_records_when_each_attempt_arrived() {
    let (stub, app) = setup(all(FaultSet {
        throttle_first: 1,
        retry_after_secs: 1,
        ..Default::default()
    }));
    let (sid, _) = first_call(&stub, "acme");
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let start = now_ms();
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let end = now_ms();
    let times = stub.stats.snapshot().call(&sid).attempt_times_ms;
    assert_eq!(times.len(), 2);
    assert!(start <= times[0] && times[1] <= end, "{times:?}");
    assert!(times[1] - times[0] >= 200, "{times:?}");
}

#[tokio::test]
async fn redirect_hops_go_through_the_media_host_which_needs_no_token() {
    let (stub, app) = setup(all(FaultSet {
        redirect_hops: 3,
        ..Default::default()
    }));
    stub.set_media_base("http://127.0.0.2:4321".into());
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let mut location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("http://127.0.0.2:4321/media/acme/{sid}?hop=1")
    );
    // Follow as a client would: the first hop still carries the token (a
    // careless client), later ones do not.
    let mut hops = 0;
    let r = loop {
        let path = location.strip_prefix("http://127.0.0.2:4321").unwrap();
        let headers: &[(&str, &str)] = if hops == 0 {
            &[("Authorization", "Bearer t0ken")]
        } else {
            &[]
        };
        let r = app.clone().oneshot(get_with(path, headers)).await.unwrap();
        hops += 1;
        if r.status() != StatusCode::FOUND {
            break r;
        }
        location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.ends_with(&format!("?hop={}", hops + 1)),
            "{location}"
        );
    };
    assert_eq!(hops, 3);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], recording.len().to_string());
    assert_eq!(r.headers()["etag"], recording.etag());
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    let s = stub.stats.snapshot();
    assert_eq!((s.media_requests, s.media_requests_with_token), (3, 1));
    let c = s.call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (1, 1, 1));
    assert_eq!(s.business("acme").current, 0);
    assert_eq!(s.authorized_requests, 1);
}

#[tokio::test]
async fn without_a_media_base_redirects_use_the_request_host_and_a_bad_media_path_is_4xx() {
    let (stub, app) = setup(all(FaultSet {
        redirect_hops: 1,
        ..Default::default()
    }));
    let (sid, _) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get_with(
            &recording_path("acme", &sid),
            &[
                ("Authorization", "Bearer t0ken"),
                ("Host", "origin.test:81"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        format!("http://origin.test:81/media/acme/{sid}?hop=1")
    );
    for (path, want) in [
        (format!("/media/globex/{sid}?hop=1"), StatusCode::NOT_FOUND),
        (
            "/media/acme/CA123?hop=1".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        // A missing or unreadable hop starts the chain again.
        (format!("/media/acme/{sid}?sig=x"), StatusCode::FOUND),
        (format!("/media/acme/{sid}?hop=zz"), StatusCode::FOUND),
        (format!("/media/acme/{sid}?sig=abc&hop=1"), StatusCode::OK),
    ] {
        let r = app.clone().oneshot(get_with(&path, &[])).await.unwrap();
        assert_eq!(r.status(), want, "{path}");
    }
    assert_eq!(stub.stats.snapshot().media_requests, 5);
    assert_eq!(stub.stats.snapshot().media_requests_with_token, 0);
}

#[tokio::test]
async fn the_media_host_applies_the_body_faults_of_the_attempt_it_serves() {
    let (stub, app) = setup(all(FaultSet {
        redirect_hops: 1,
        truncate_first: 1,
        chunked: true,
        ..Default::default()
    }));
    let (sid, recording) = first_call(&stub, "acme");
    for attempt in 1..=2 {
        let r = app
            .clone()
            .oneshot(get(&recording_path("acme", &sid)))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let r = app
            .clone()
            .oneshot(get_with(&format!("/media/acme/{sid}?hop=1"), &[]))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("content-length").is_none());
        let body = body_bytes(r).await;
        if attempt == 1 {
            assert!(body.is_err(), "the first attempt is cut short");
        } else {
            assert_eq!(body.unwrap(), recording.to_vec());
        }
    }
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (2, 2, 1));
}

#[tokio::test]
async fn gzip_when_asked_compresses_only_for_requests_that_list_gzip() {
    use std::io::Read;
    let (stub, app) = setup(all(FaultSet {
        gzip_when_asked: true,
        ..Default::default()
    }));
    let (sid, recording) = first_call(&stub, "acme");
    let path = recording_path("acme", &sid);
    let auth = ("Authorization", "Bearer t0ken");

    let r = app
        .clone()
        .oneshot(get_with(
            &path,
            &[auth, ("Accept-Encoding", "br, GZIP;q=0.8")],
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_ne!(r.headers()["etag"], recording.etag());
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let compressed = body_bytes(r).await.unwrap();
    assert_eq!(compressed.len(), length);
    assert!(length < recording.len() as usize);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, recording.to_vec());
    assert_eq!(
        stub.stats.snapshot().call(&sid).accept_encoding.as_deref(),
        Some("br, GZIP;q=0.8")
    );

    for asked in [
        None,
        Some("identity"),
        Some("gzip;q=0"),
        Some("br, deflate"),
    ] {
        let mut headers = vec![auth];
        if let Some(a) = asked {
            headers.push(("Accept-Encoding", a));
        }
        let r = app
            .clone()
            .oneshot(get_with(&path, &headers))
            .await
            .unwrap();
        assert!(r.headers().get("content-encoding").is_none(), "{asked:?}");
        assert_eq!(r.headers()["content-length"], recording.len().to_string());
        assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
        assert_eq!(
            stub.stats.snapshot().call(&sid).accept_encoding.as_deref(),
            asked
        );
    }
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (5, 5, 5));
}

#[tokio::test]
async fn accept_encoding_is_recorded_without_any_knob_and_gzip_is_not_sent() {
    let (stub, app) = setup(Knobs::default());
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .oneshot(get_with(
            &recording_path("acme", &sid),
            &[
                ("Authorization", "Bearer t0ken"),
                ("Accept-Encoding", "gzip"),
            ],
        ))
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    assert_eq!(
        stub.stats.snapshot().call(&sid).accept_encoding.as_deref(),
        Some("gzip")
    );
}

#[tokio::test]
async fn chunked_sends_no_content_length_and_every_byte() {
    let (stub, app) = setup(all(FaultSet {
        chunked: true,
        ..Default::default()
    }));
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-length").is_none());
    use axum::body::HttpBody as _;
    assert_eq!(
        r.body().size_hint().exact(),
        None,
        "hyper would send a length"
    );
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (1, 1, 1));
}

#[tokio::test]
async fn chunked_and_truncated_ends_in_an_error_not_a_clean_end() {
    let (stub, app) = setup(all(FaultSet {
        chunked: true,
        truncate_first: 1,
        ..Default::default()
    }));
    let (sid, recording) = first_call(&stub, "acme");
    let r = app
        .clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert!(r.headers().get("content-length").is_none());
    let mut body = r.into_body();
    let mut received = 0;
    let mut ended_in_error = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => received += f.into_data().map_or(0, |d| d.len()),
            Err(_) => {
                ended_in_error = true;
                break;
            }
        }
    }
    assert!(ended_in_error);
    assert_eq!(received as u64, recording.len() / 2);
    let r = app
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    assert_eq!(body_bytes(r).await.unwrap(), recording.to_vec());
}

#[tokio::test]
async fn empty_body_is_a_200_with_content_length_zero_and_no_bytes() {
    let (stub, app) = setup(all(FaultSet {
        empty_body: true,
        gzip_when_asked: true,
        ..Default::default()
    }));
    let (sid, _) = first_call(&stub, "acme");
    let r = app
        .oneshot(get_with(
            &recording_path("acme", &sid),
            &[
                ("Authorization", "Bearer t0ken"),
                ("Accept-Encoding", "gzip"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "0");
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(body_bytes(r).await.unwrap(), Vec::<u8>::new());
    let c = stub.stats.snapshot().call(&sid);
    assert_eq!((c.attempts, c.started, c.completed), (1, 1, 1));
}

#[tokio::test]
async fn the_new_knobs_are_set_at_run_time_and_stats_carry_the_new_fields() {
    let (stub, app) = setup(Knobs::default());
    let body = serde_json::json!({
        "throttle_first": 1, "throttle_status": 503, "retry_after_secs": 2,
        "retry_after_as_date": true, "redirect_hops": 2, "gzip_when_asked": true,
        "chunked": true, "empty_body": false,
    })
    .to_string();
    let set = Request::post("/__knobs")
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(set).await.unwrap().status(),
        StatusCode::OK
    );
    let k = stub.knobs().all;
    assert_eq!(
        (k.throttle_first, k.throttle_status, k.redirect_hops),
        (1, 503, 2)
    );
    assert!(k.retry_after_as_date && k.gzip_when_asked && k.chunked && !k.empty_body);
    let bad = Request::post("/__knobs")
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"throttle_status": 302}"#))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(bad).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let (sid, _) = first_call(&stub, "acme");
    app.clone()
        .oneshot(get(&recording_path("acme", &sid)))
        .await
        .unwrap();
    let stats = json(app.oneshot(get("/__stats")).await.unwrap()).await;
    assert_eq!(stats["media_requests"], 0);
    assert_eq!(stats["media_requests_with_token"], 0);
    assert_eq!(
        stats["calls"][&sid]["attempt_times_ms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(stats["calls"][&sid]["accept_encoding"].is_null());
    // Snapshots from before these fields still parse.
    let old = r#"{"calls": {"CAx": {"attempts": 1, "started": 1, "completed": 1}},
                  "businesses": {}, "authorized_requests": 1}"#;
    let s: Snapshot = serde_json::from_str(old).unwrap();
    assert_eq!(s.call("CAx").attempt_times_ms, Vec::<u64>::new());
}
