//! The stub in Twilio's dialect, called in-process: accounts and Basic
//! auth, the call list's paging and filters, child legs, each recording
//! shape, the media's hosts, knobs and faults, and the JSON types the
//! edge's adapter reads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use backend_stub::audio::Voice;
use backend_stub::catalog::{Catalog, BUSINESSES, LARGE_BUSINESS};
use backend_stub::knobs::{FaultSet, Knobs};
use backend_stub::twilio::{
    account_sid, basic_authorization, call_of_shape, child_leg_of, recording_sid, Shape,
    API_KEY_SID, CHILD_LEG_EVERY, PARENT_ACCOUNT_SID,
};
use backend_stub::{app, Api, Stub};
use http_body_util::BodyExt;
use playback_core::list_query::{format_rfc3339, parse_rfc3339};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "t0ken";
const MEDIA_HOST: &str = "http://127.0.0.2:4321";

fn setup_with(knobs: Knobs, catalog: Catalog) -> (Arc<Stub>, Router) {
    let stub = Stub::with_api(TOKEN, knobs, catalog, Api::Twilio);
    stub.set_media_base(MEDIA_HOST.into());
    (stub.clone(), app(stub))
}

/// A stub with a small contact centre, for every test that does not page it.
fn setup(knobs: Knobs) -> (Arc<Stub>, Router) {
    setup_with(knobs, Catalog::with_large_business(40))
}

fn parent() -> String {
    basic_authorization(PARENT_ACCOUNT_SID, TOKEN)
}

fn request(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(a) = authorization {
        r = r.header("Authorization", a);
    }
    r.body(Body::empty()).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let r = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// GET with the parent account's credentials.
async fn get(app: &Router, path: &str) -> Answer {
    send(app, request(path, Some(&parent()))).await
}

fn account_path(business: &str) -> String {
    format!("/2010-04-01/Accounts/{}", account_sid(business))
}

fn calls_path(business: &str) -> String {
    format!("{}/Calls.json", account_path(business))
}

fn call_recordings_path(business: &str, call_sid: &str) -> String {
    format!(
        "{}/Calls/{call_sid}/Recordings.json",
        account_path(business)
    )
}

fn recording_path(business: &str, recording_sid: &str, ext: &str) -> String {
    format!(
        "{}/Recordings/{recording_sid}.{ext}",
        account_path(business)
    )
}

fn assert_error(answer: &Answer, status: StatusCode, code: u64) {
    assert_eq!(answer.status, status);
    let body = answer.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
}

fn epoch_of(rfc2822: &str) -> u64 {
    let http = rfc2822.replace(" +0000", " GMT");
    httpdate::parse_http_date(&http)
        .unwrap_or_else(|e| panic!("{rfc2822}: {e}"))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every call of a list, following `next_page_uri` from `first`; and the
/// number of pages.
async fn walk(app: &Router, first: &str) -> (Vec<Value>, usize) {
    let (mut calls, mut pages) = (Vec::new(), 0);
    let mut next = Some(first.to_owned());
    while let Some(url) = next {
        let answer = get(app, &url).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}");
        let page = answer.json();
        calls.extend(page["calls"].as_array().unwrap().iter().cloned());
        pages += 1;
        next = page["next_page_uri"].as_str().map(str::to_owned);
        assert!(pages < 100_000, "the walk ends");
    }
    (calls, pages)
}

fn sids(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["sid"].as_str().unwrap().to_owned())
        .collect()
}

/// The SIDs an account lists: its catalog calls and their child legs.
fn expected_sids(catalog: &Catalog, business: &str) -> BTreeSet<String> {
    catalog
        .calls(business)
        .iter()
        .flat_map(|c| {
            let sid = c.summary.call_sid.as_str();
            [Some(sid.to_owned()), child_leg_of(catalog, business, sid)]
        })
        .flatten()
        .collect()
}

/// Checks that a walk saw each expected call once, newest first.
fn assert_listed_once_newest_first(calls: &[Value], expected: &BTreeSet<String>) {
    let seen = sids(calls);
    assert_eq!(seen.len(), expected.len(), "each call once");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), *expected);
    let times: Vec<u64> = calls
        .iter()
        .map(|c| epoch_of(c["start_time"].as_str().unwrap()))
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
}

#[tokio::test]
async fn basic_auth_reaches_by_who_signs_in() {
    let (stub, app) = setup(Knobs::default());
    let acme = calls_path("acme");
    let globex = calls_path("globex");
    let as_user = |user: &str, secret: &str| basic_authorization(user, secret);
    let cases = [
        (as_user(PARENT_ACCOUNT_SID, TOKEN), &acme, StatusCode::OK),
        (as_user(PARENT_ACCOUNT_SID, TOKEN), &globex, StatusCode::OK),
        (
            as_user(&account_sid("globex"), TOKEN),
            &globex,
            StatusCode::OK,
        ),
        (
            as_user(&account_sid("globex"), TOKEN),
            &acme,
            StatusCode::UNAUTHORIZED,
        ),
        (as_user(API_KEY_SID, TOKEN), &acme, StatusCode::OK),
        (
            as_user(API_KEY_SID, TOKEN),
            &globex,
            StatusCode::UNAUTHORIZED,
        ),
        (
            as_user(PARENT_ACCOUNT_SID, "wrong"),
            &acme,
            StatusCode::UNAUTHORIZED,
        ),
        (
            as_user(&account_sid("acme"), "wrong"),
            &acme,
            StatusCode::UNAUTHORIZED,
        ),
        (format!("Bearer {TOKEN}"), &acme, StatusCode::UNAUTHORIZED),
    ];
    for (authorization, path, want) in &cases {
        let answer = send(&app, request(path, Some(authorization))).await;
        assert_eq!(answer.status, *want, "{authorization} {path}");
        if *want == StatusCode::UNAUTHORIZED {
            assert_error(&answer, StatusCode::UNAUTHORIZED, 20003);
            assert!(answer.headers.contains_key("www-authenticate"));
        }
    }
    let none = send(&app, request(&acme, None)).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, 20003);
    let ok = cases.iter().filter(|c| c.2 == StatusCode::OK).count() as u64;
    let s = stub.stats.snapshot();
    assert_eq!((s.authorized_requests, s.list_requests), (ok, ok));

    // An account nobody has is 404; the parent has no calls of its own.
    let unknown = format!("/2010-04-01/Accounts/AC{}/Calls.json", "0".repeat(32));
    assert_error(&get(&app, &unknown).await, StatusCode::NOT_FOUND, 20404);
    let own = format!("/2010-04-01/Accounts/{PARENT_ACCOUNT_SID}/Calls.json");
    let answer = get(&app, &own).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["calls"], serde_json::json!([]));
    let key = basic_authorization(API_KEY_SID, TOKEN);
    let answer = send(&app, request(&own, Some(&key))).await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, 20003);
}

#[tokio::test]
async fn next_page_uri_visits_every_call_once_newest_first() {
    let (stub, app) = setup(Knobs::default());
    let expected = expected_sids(stub.catalog(), "acme");
    for size in [1000, 7, 1] {
        let first = format!("{}?PageSize={size}", calls_path("acme"));
        let (calls, pages) = walk(&app, &first).await;
        assert_listed_once_newest_first(&calls, &expected);
        assert_eq!(pages, expected.len().div_ceil(size), "PageSize={size}");
    }
    // 50 a page unless told.
    let page = get(&app, &calls_path("acme")).await.json();
    assert_eq!(page["page_size"], 50);
    assert_eq!(page["calls"].as_array().unwrap().len(), 50);
    assert_eq!(page["page"], 0);
    assert!(page["previous_page_uri"].is_null());
    let next = page["next_page_uri"].as_str().unwrap();
    assert!(next.starts_with(&format!(
        "{}?PageSize=50&Page=1&PageToken=PT",
        calls_path("acme")
    )));
    let second = get(&app, next).await.json();
    assert_eq!(
        (second["page"].clone(), second["start"].clone()),
        (1.into(), 50.into())
    );
    assert!(second["previous_page_uri"].is_string());
}

#[tokio::test]
async fn the_contact_centre_pages_through_all_its_calls() {
    let (stub, app) = setup_with(Knobs::default(), Catalog::demo());
    let expected = expected_sids(stub.catalog(), LARGE_BUSINESS);
    assert_eq!(
        expected.len(),
        20_000,
        "no child legs in the contact centre"
    );
    for size in [1000, 333] {
        let first = format!("{}?PageSize={size}", calls_path(LARGE_BUSINESS));
        let (calls, pages) = walk(&app, &first).await;
        assert_listed_once_newest_first(&calls, &expected);
        assert_eq!(pages, 20_000usize.div_ceil(size));
        assert!(calls.iter().all(|c| c["parent_call_sid"].is_null()));
    }
}

#[tokio::test]
async fn from_and_to_match_whole_numbers_and_start_time_bounds_whole_days() {
    let (stub, app) = setup(Knobs::default());
    let (all, _) = walk(&app, &format!("{}?PageSize=1000", calls_path("acme"))).await;
    let target = stub.catalog().calls("acme")[3].summary.clone();
    for (name, number) in [("From", &target.from), ("To", &target.to)] {
        let field = name.to_lowercase();
        let encoded = number.replace('+', "%2B");
        let url = format!("{}?{name}={encoded}&PageSize=2", calls_path("acme"));
        let (found, _) = walk(&app, &url).await;
        let want: Vec<&Value> = all
            .iter()
            .filter(|c| c[&field] == number.as_str())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(found.iter().collect::<Vec<_>>(), want, "{name}");
        // A part of the number matches nothing.
        let part = &encoded[..encoded.len() - 2];
        let url = format!("{}?{name}={part}", calls_path("acme"));
        assert_eq!(get(&app, &url).await.json()["calls"], serde_json::json!([]));
    }

    const DAY: u64 = 86_400;
    let day_of = |date: &str| parse_rfc3339(&format!("{date}T00:00:00Z")).unwrap() as u64;
    let in_range = |lo: u64, hi: u64| -> Vec<Value> {
        all.iter()
            .filter(|c| {
                let t = epoch_of(c["start_time"].as_str().unwrap());
                lo <= t && t < hi
            })
            .cloned()
            .collect()
    };
    // A day in the middle of the list, which has calls before and after it.
    let middle = epoch_of(all[all.len() / 2]["start_time"].as_str().unwrap());
    let day = format_rfc3339(middle as i64)[..10].to_owned();
    let lo = day_of(&day);
    for (query, lo, hi) in [
        (
            format!(
                "StartTime%3E={day}&StartTime%3C={}",
                &format_rfc3339((lo + DAY) as i64)[..10]
            ),
            lo,
            lo + DAY,
        ),
        (format!("StartTime={day}"), lo, lo + DAY),
        (format!("StartTime%3E={day}"), lo, u64::MAX),
        // "Before this date": exclusive.
        (format!("StartTime%3C={day}"), 0, lo),
    ] {
        let url = format!("{}?{query}&PageSize=4", calls_path("acme"));
        let (found, _) = walk(&app, &url).await;
        let want = in_range(lo, hi);
        assert!(!want.is_empty() && want.len() < all.len(), "{query}");
        assert_eq!(sids(&found), sids(&want), "{query}");
    }
    // Each next page carries the filters on.
    let page = get(
        &app,
        &format!(
            "{}?StartTime%3E={day}&From=%2B1&PageSize=1",
            calls_path("acme")
        ),
    )
    .await
    .json();
    assert!(page["next_page_uri"].is_null());
    let page = get(
        &app,
        &format!("{}?StartTime%3E={day}&PageSize=1", calls_path("acme")),
    )
    .await
    .json();
    assert!(page["next_page_uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("&StartTime%3E={day}")));
}

#[tokio::test]
async fn unknown_parameters_are_ignored_and_bad_paging_is_400() {
    let (_, app) = setup(Knobs::default());
    let plain = get(&app, &format!("{}?PageSize=5", calls_path("acme")))
        .await
        .json();
    let extra = get(
        &app,
        &format!("{}?PageSize=5&Status=busy&Foo=bar", calls_path("acme")),
    )
    .await
    .json();
    assert_eq!(plain["calls"], extra["calls"]);
    let globex_next = get(&app, &format!("{}?PageSize=5", calls_path("globex")))
        .await
        .json()["next_page_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign_token = globex_next.split("PageToken=").nth(1).unwrap().to_owned();
    for query in [
        "PageToken=PA1234".to_owned(),
        "PageToken=PT0000000000320000abcd".to_owned(),
        format!("Page=1&PageToken={foreign_token}"),
        "PageSize=0".to_owned(),
        "PageSize=1001".to_owned(),
        "PageSize=ten".to_owned(),
        "Page=-1".to_owned(),
        "StartTime%3E=2026-02-30".to_owned(),
    ] {
        let answer = get(&app, &format!("{}?{query}", calls_path("acme"))).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, 20001);
    }
}

#[tokio::test]
async fn child_legs_are_listed_after_their_parent_started_and_have_no_recordings() {
    let (stub, app) = setup(Knobs::default());
    let (calls, _) = walk(&app, &format!("{}?PageSize=1000", calls_path("acme"))).await;
    let children: Vec<&Value> = calls
        .iter()
        .filter(|c| !c["parent_call_sid"].is_null())
        .collect();
    assert_eq!(
        children.len(),
        stub.catalog().calls("acme").len() / CHILD_LEG_EVERY
    );
    for child in children {
        let parent_sid = child["parent_call_sid"].as_str().unwrap();
        let parent = calls.iter().find(|c| c["sid"] == parent_sid).unwrap();
        assert!(parent["parent_call_sid"].is_null());
        assert_eq!(
            child_leg_of(stub.catalog(), "acme", parent_sid).as_deref(),
            child["sid"].as_str()
        );
        let start = |c: &Value| epoch_of(c["start_time"].as_str().unwrap());
        assert_eq!(start(child), start(parent) + 1);
        let sid = child["sid"].as_str().unwrap();
        let one = get(&app, &format!("{}/Calls/{sid}.json", account_path("acme"))).await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(one.json()["parent_call_sid"], parent_sid);
        let recordings = get(&app, &call_recordings_path("acme", sid)).await.json();
        assert_eq!(recordings["recordings"], serde_json::json!([]));
    }
    let first = stub.catalog().calls("acme")[0].summary.call_sid.to_string();
    assert_eq!(child_leg_of(stub.catalog(), "acme", &first), None);
    // Another account's call is not this account's.
    let other = format!("{}/Calls/{first}.json", account_path("globex"));
    assert_error(&get(&app, &other).await, StatusCode::NOT_FOUND, 20404);
    let s = stub.stats.snapshot();
    assert_eq!(
        s.call_fetches.values().sum::<u64>(),
        s.call_fetches.len() as u64
    );
}

/// Media served on the API host, whole.
fn direct() -> Knobs {
    Knobs {
        twilio_media_direct: true,
        ..Knobs::default()
    }
}

#[tokio::test]
async fn each_recording_shape_lists_as_its_rule_says() {
    let (stub, app) = setup(Knobs {
        processing_secs: 1,
        ..direct()
    });
    let catalog = stub.catalog();
    let mut processing_recordings = Vec::new();
    for business in BUSINESSES {
        let list = |shape| {
            let call = call_of_shape(catalog, business, shape).unwrap();
            let sid = call.summary.call_sid.to_string();
            (
                call.clone(),
                sid.clone(),
                call_recordings_path(business, &sid),
            )
        };
        let recordings = |v: Value| v["recordings"].as_array().unwrap().clone();

        let (call, sid, path) = list(Shape::One);
        let one = recordings(get(&app, &path).await.json());
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["status"], "completed");
        assert_eq!(one[0]["sid"], recording_sid(&sid, 0));
        assert_eq!(one[0]["call_sid"], sid.as_str());
        let media = get(
            &app,
            &recording_path(business, &recording_sid(&sid, 0), "wav"),
        )
        .await;
        assert_eq!(media.status, StatusCode::OK);
        assert_eq!(media.body, call.recording.to_vec(), "the catalog's bytes");

        let (call, sid, path) = list(Shape::Two);
        let two = recordings(get(&app, &path).await.json());
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|r| r["status"] == "completed"));
        assert_eq!(two[0]["sid"], recording_sid(&sid, 0));
        assert_eq!(two[1]["sid"], recording_sid(&sid, 1));
        let created = |r: &Value| epoch_of(r["date_created"].as_str().unwrap());
        assert_eq!(created(&two[1]), created(&two[0]) + 60);
        let duration = |r: &Value| r["duration"].as_str().unwrap().parse::<u32>().unwrap();
        assert!(duration(&two[1]) < duration(&two[0]));
        let second = get(
            &app,
            two[1]["uri"]
                .as_str()
                .unwrap()
                .replace(".json", ".wav")
                .as_str(),
        )
        .await;
        assert_eq!(second.status, StatusCode::OK);
        assert_ne!(second.body, call.recording.to_vec());
        assert!(second.body.len() < call.recording.to_vec().len());

        let (_, sid, path) = list(Shape::Processing);
        let processing = recordings(get(&app, &path).await.json());
        assert_eq!(processing.len(), 1);
        assert_eq!(processing[0]["status"], "processing");
        let re = recording_sid(&sid, 0);
        let media = get(&app, &recording_path(business, &re, "wav")).await;
        assert_error(&media, StatusCode::NOT_FOUND, 20404);
        processing_recordings.push((business, re));

        let (_, sid, path) = list(Shape::Absent);
        let absent = recordings(get(&app, &path).await.json());
        assert_eq!(absent.len(), 1);
        assert_eq!(absent[0]["status"], "absent");
        let media = get(
            &app,
            &recording_path(business, &recording_sid(&sid, 0), "wav"),
        )
        .await;
        assert_error(&media, StatusCode::NOT_FOUND, 20404);
        // Asking is an attempt: the stats show a client that asks anyway.
        let asked = stub.stats.snapshot().call(&recording_sid(&sid, 0));
        assert_eq!((asked.attempts, asked.started), (1, 0));

        let (_, _, path) = list(Shape::NoRecording);
        assert_eq!(
            recordings(get(&app, &path).await.json()),
            Vec::<Value>::new()
        );
    }
    // Each processing recording completes once its seconds have passed
    // since its call's list was first asked for.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (business, re) in &processing_recordings {
        loop {
            let r = get(&app, &recording_path(business, re, "json"))
                .await
                .json();
            if r["status"] == "completed" {
                break;
            }
            assert_eq!(r["status"], "processing");
            assert!(Instant::now() < deadline, "processing completes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let media = get(&app, &recording_path(business, re, "wav")).await;
        assert_eq!(media.status, StatusCode::OK);
    }
    let conversation = catalog.with_voice("acme", Voice::Conversation).unwrap();
    let sid = conversation.summary.call_sid.as_str();
    let listed = get(&app, &call_recordings_path("acme", sid)).await.json();
    assert_eq!(listed["recordings"][0]["channels"], 2);
    let float = catalog.with_voice("acme", Voice::Float).unwrap();
    let listed = get(
        &app,
        &call_recordings_path("acme", float.summary.call_sid.as_str()),
    )
    .await
    .json();
    assert_eq!(listed["recordings"].as_array().unwrap().len(), 1);
    // Each list and each metadata request is counted.
    let s = stub.stats.snapshot();
    assert_eq!(s.recording_lists[sid], 1);
    let processing = call_of_shape(catalog, "acme", Shape::Processing).unwrap();
    let re = recording_sid(processing.summary.call_sid.as_str(), 0);
    // At least the poll that saw it complete (on a slow machine the first
    // poll may come after its second has passed).
    assert!(s.recording_fetches[&re] >= 1);
}

#[tokio::test]
async fn media_redirects_to_the_media_host_unless_direct_and_needs_credentials_only_when_asked() {
    let (stub, app) = setup(Knobs::default());
    let call = call_of_shape(stub.catalog(), "acme", Shape::One)
        .unwrap()
        .clone();
    let re = recording_sid(call.summary.call_sid.as_str(), 0);
    let path = recording_path("acme", &re, "wav");
    // No credentials needed by default.
    let answer = send(&app, request(&path, None)).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.headers["location"].to_str().unwrap().to_owned();
    let media_path = location.strip_prefix(MEDIA_HOST).unwrap();
    assert!(
        media_path.starts_with(&format!("/media/twilio/{}/{re}?", account_sid("acme"))),
        "{location}"
    );
    assert!(media_path.contains("Signature=") && media_path.contains("Expires="));
    let media = send(&app, request(media_path, None)).await;
    assert_eq!(media.status, StatusCode::OK);
    assert_eq!(media.body, call.recording.to_vec());
    let s = stub.stats.snapshot();
    assert_eq!((s.media_requests, s.media_requests_with_token), (1, 0));
    let c = s.call(&re);
    assert_eq!((c.attempts, c.started, c.completed), (1, 1, 1));
    assert_eq!(s.business("acme").current, 0);
    assert_eq!(s.business("acme").first_attempt_order, vec![re.clone()]);

    // The media host serves only what the API host signed: no signature, a
    // forged one, or one signed for the other channels is 403, and counts
    // as no attempt.
    let unsigned = format!("/media/twilio/{}/{re}?hop=1", account_sid("acme"));
    let forged = media_path.replace("Signature=", "Signature=f");
    let other_channels = media_path.replace("Expires=", "RequestedChannels=2&Expires=");
    for refused in [&unsigned, &forged, &other_channels] {
        let answer = send(&app, request(refused, None)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{refused}");
    }
    assert_eq!(stub.stats.snapshot().call(&re).attempts, 1);

    // A media host URL for another account's recording is 404.
    let wrong = media_path.replace(&account_sid("acme"), &account_sid("globex"));
    assert_error(
        &send(&app, request(&wrong, None)).await,
        StatusCode::NOT_FOUND,
        20404,
    );

    stub.set_knobs(direct());
    let answer = send(&app, request(&path, None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "audio/wav");
    assert_eq!(answer.body, call.recording.to_vec());

    stub.set_knobs(Knobs {
        twilio_media_auth: true,
        ..Knobs::default()
    });
    let answer = send(&app, request(&path, None)).await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, 20003);
    let globex = basic_authorization(&account_sid("globex"), TOKEN);
    let answer = send(&app, request(&path, Some(&globex))).await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, 20003);
    assert_eq!(get(&app, &path).await.status, StatusCode::FOUND);
    // MP3 is not served; nor is an unknown recording.
    assert_error(
        &get(&app, &recording_path("acme", &re, "mp3")).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let unknown = format!("RE{}", "0".repeat(32));
    assert_error(
        &get(&app, &recording_path("acme", &unknown, "wav")).await,
        StatusCode::NOT_FOUND,
        20404,
    );
}

/// The number of channels a WAV's header gives.
fn wav_channels(wav: &[u8]) -> u16 {
    u16::from_le_bytes([wav[22], wav[23]])
}

#[tokio::test]
async fn requested_channels_2_gives_both_channels_and_without_it_one() {
    let (stub, app) = setup(direct());
    let call = stub
        .catalog()
        .with_voice("acme", Voice::Conversation)
        .unwrap()
        .clone();
    let re = recording_sid(call.summary.call_sid.as_str(), 0);
    let path = recording_path("acme", &re, "wav");
    let mixed = get(&app, &path).await;
    assert_eq!(mixed.status, StatusCode::OK);
    assert_eq!(wav_channels(&mixed.body), 1);
    assert_eq!(
        (mixed.body.len() - 44) * 2,
        call.recording.to_vec().len() - 44
    );
    let both = get(&app, &format!("{path}?RequestedChannels=2")).await;
    assert_eq!(wav_channels(&both.body), 2);
    assert_eq!(both.body, call.recording.to_vec());
    // Through the media host too.
    stub.set_knobs(Knobs::default());
    let answer = get(&app, &format!("{path}?RequestedChannels=2")).await;
    let location = answer.headers["location"].to_str().unwrap().to_owned();
    let media = send(
        &app,
        request(location.strip_prefix(MEDIA_HOST).unwrap(), None),
    )
    .await;
    assert_eq!(media.body, call.recording.to_vec());
    // A one-channel recording is the same either way.
    let one = call_of_shape(stub.catalog(), "acme", Shape::One).unwrap();
    stub.set_knobs(direct());
    let re = recording_sid(one.summary.call_sid.as_str(), 0);
    let asked = get(
        &app,
        &format!("{}?RequestedChannels=2", recording_path("acme", &re, "wav")),
    )
    .await;
    assert_eq!(asked.body, one.recording.to_vec());
}

#[tokio::test]
async fn throttled_media_is_429_20429_with_retry_after_only_when_set() {
    for (retry_after_secs, header) in [(0, None), (5, Some("5"))] {
        let (stub, app) = setup(Knobs {
            all: FaultSet {
                throttle_first: 1,
                retry_after_secs,
                ..FaultSet::default()
            },
            ..direct()
        });
        let call = call_of_shape(stub.catalog(), "globex", Shape::One).unwrap();
        let re = recording_sid(call.summary.call_sid.as_str(), 0);
        let path = recording_path("globex", &re, "wav");
        let answer = get(&app, &path).await;
        assert_error(&answer, StatusCode::TOO_MANY_REQUESTS, 20429);
        assert_eq!(
            answer
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            header
        );
        assert_eq!(get(&app, &path).await.status, StatusCode::OK);
        let c = stub.stats.snapshot().call(&re);
        assert_eq!((c.attempts, c.started, c.completed), (2, 1, 1));
    }
}

#[tokio::test]
async fn call_knobs_apply_to_each_of_its_recordings_counted_per_recording() {
    let catalog = Catalog::with_large_business(40);
    let call = call_of_shape(&catalog, "initech", Shape::Two)
        .unwrap()
        .clone();
    let call_sid = call.summary.call_sid.to_string();
    let knobs = Knobs {
        calls: [(
            call_sid.clone(),
            FaultSet {
                fail_first: 1,
                truncate_first: 2,
                ..FaultSet::default()
            },
        )]
        .into(),
        ..direct()
    };
    let (stub, app) = setup_with(knobs, catalog);
    for i in 0..2 {
        let re = recording_sid(&call_sid, i);
        let path = recording_path("initech", &re, "wav");
        assert_error(
            &get(&app, &path).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
        );
        let cut = app.clone().oneshot(request(&path, None)).await.unwrap();
        assert_eq!(cut.status(), StatusCode::OK);
        assert!(cut.into_body().collect().await.is_err(), "cut short");
        assert_eq!(get(&app, &path).await.status, StatusCode::OK);
    }
    let s = stub.stats.snapshot();
    for i in 0..2 {
        let c = s.call(&recording_sid(&call_sid, i));
        assert_eq!((c.attempts, c.started, c.completed), (3, 2, 1));
    }
    assert_eq!(s.call(&call_sid).attempts, 0);
    assert_eq!(s.business("initech").first_attempt_order.len(), 2);

    // Not ready: 404 20404 for its seconds.
    stub.set_knobs(Knobs {
        all: FaultSet {
            not_ready_secs: 60,
            ..FaultSet::default()
        },
        ..direct()
    });
    let re = recording_sid(&call_sid, 0);
    let answer = get(&app, &recording_path("initech", &re, "wav")).await;
    assert_error(&answer, StatusCode::NOT_FOUND, 20404);
}

#[tokio::test]
async fn deleted_recordings_leave_the_list_and_are_404_unless_soft_deleted_is_asked() {
    let catalog = Catalog::with_large_business(40);
    let call = call_of_shape(&catalog, "hooli", Shape::Two)
        .unwrap()
        .clone();
    let call_sid = call.summary.call_sid.to_string();
    let (kept, gone) = (recording_sid(&call_sid, 0), recording_sid(&call_sid, 1));
    let (_, app) = setup_with(
        Knobs {
            deleted_recordings: vec![gone.clone()],
            ..direct()
        },
        catalog,
    );
    let listed = get(&app, &call_recordings_path("hooli", &call_sid))
        .await
        .json();
    let listed = listed["recordings"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sid"], kept.as_str());
    let json = recording_path("hooli", &gone, "json");
    assert_error(&get(&app, &json).await, StatusCode::NOT_FOUND, 20404);
    let soft = get(&app, &format!("{json}?IncludeSoftDeleted=true")).await;
    assert_eq!(soft.status, StatusCode::OK);
    assert_eq!(soft.json()["status"], "deleted");
    let media = get(&app, &recording_path("hooli", &gone, "wav")).await;
    assert_error(&media, StatusCode::NOT_FOUND, 20404);
    let kept_json = get(&app, &recording_path("hooli", &kept, "json"))
        .await
        .json();
    assert_eq!(kept_json["status"], "completed");
    assert!(kept_json["media_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Recordings/{kept}")));
}

#[tokio::test]
async fn the_list_knobs_hide_slow_and_fail_the_call_list() {
    let (stub, app) = setup(Knobs::default());
    let hidden = stub.catalog().calls("umbrella")[2]
        .summary
        .call_sid
        .to_string();
    stub.set_knobs(Knobs {
        hidden_from_list: vec![hidden.clone()],
        list_latency_ms: 150,
        ..Knobs::default()
    });
    let started = Instant::now();
    let (calls, pages) = walk(&app, &format!("{}?PageSize=1000", calls_path("umbrella"))).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(pages, 1);
    assert!(!sids(&calls).contains(&hidden));
    let one = get(
        &app,
        &format!("{}/Calls/{hidden}.json", account_path("umbrella")),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "a hidden call is still there");
    stub.set_knobs(Knobs {
        list_fails: true,
        ..Knobs::default()
    });
    assert_error(
        &get(&app, &calls_path("umbrella")).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        20500,
    );
    assert_eq!(stub.stats.snapshot().list_requests, 2);
}

#[tokio::test]
async fn each_dialect_serves_only_its_own_routes_and_both_the_admin_ones() {
    let (_, twilio) = setup(Knobs::default());
    let generic = app(Stub::with_catalog(
        TOKEN,
        Knobs::default(),
        Catalog::with_large_business(40),
    ));
    let bearer = format!("Bearer {TOKEN}");
    let answer = send(&twilio, request("/v1/businesses/acme/calls", Some(&bearer))).await;
    assert_error(&answer, StatusCode::NOT_FOUND, 20404);
    assert_error(
        &get(&twilio, "/2010-04-01/Nothing.json").await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let answer = send(&generic, request(&calls_path("acme"), Some(&parent()))).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["error"], "not_found");
    for app in [&twilio, &generic] {
        for path in ["/healthz", "/__stats", "/__knobs"] {
            assert_eq!(
                send(app, request(path, None)).await.status,
                StatusCode::OK,
                "{path}"
            );
        }
    }
    let post = Request::post(calls_path("acme"))
        .header("Authorization", parent())
        .body(Body::empty())
        .unwrap();
    assert_error(
        &send(&twilio, post).await,
        StatusCode::METHOD_NOT_ALLOWED,
        20004,
    );
    // Old stats snapshots, without the Twilio counters, still parse.
    let old = r#"{"calls": {}, "businesses": {}, "authorized_requests": 1}"#;
    let s: backend_stub::stats::Snapshot = serde_json::from_str(old).unwrap();
    assert!(s.recording_lists.is_empty() && s.recording_fetches.is_empty());
}

/// A JSON type from the spec.
#[derive(Debug, Clone, Copy)]
enum Type {
    String,
    StringOrNull,
    Integer,
    Array,
    /// `date-time-rfc-2822`: `Fri, 18 Oct 2019 17:02:00 +0000`.
    Rfc2822,
    /// A string of decimal digits (a count of seconds).
    Digits,
    OneOf(&'static [&'static str]),
}

fn has_type(value: &Value, t: Type) -> bool {
    match t {
        Type::String => value.is_string(),
        Type::StringOrNull => value.is_string() || value.is_null(),
        Type::Integer => value.is_i64() || value.is_u64(),
        Type::Array => value.is_array(),
        Type::Rfc2822 => value.as_str().is_some_and(|s| {
            s.ends_with(" +0000") && httpdate::parse_http_date(&s.replace(" +0000", " GMT")).is_ok()
        }),
        Type::Digits => value
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
        Type::OneOf(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
    }
}

// Written down from Twilio's OpenAPI description, spec/json/twilio_api_v2010.json
// of twilio/twilio-oai: the 200 schema of GET /2010-04-01/Accounts/{AccountSid}/Calls.json
// (ListCallResponse) and of …/Calls/{CallSid}/Recordings.json (ListCallRecordingResponse);
// components.schemas "api.v2010.account.call" (status: call_enum_status) and
// "api.v2010.account.call.call_recording" (status: call_recording_enum_status);
// Twilio's error body. Only the fields the edge's adapter reads.
const ENVELOPE: &[(&str, Type)] = &[
    ("next_page_uri", Type::StringOrNull),
    ("page", Type::Integer),
    ("page_size", Type::Integer),
    ("uri", Type::String),
];
const CALL_STATUS: &[&str] = &[
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
];
const CALL: &[(&str, Type)] = &[
    ("sid", Type::String),
    ("parent_call_sid", Type::StringOrNull),
    ("from", Type::String),
    ("to", Type::String),
    ("start_time", Type::Rfc2822),
    ("date_created", Type::Rfc2822),
    ("duration", Type::Digits),
    ("status", Type::OneOf(CALL_STATUS)),
];
const CALL_RECORDING_STATUS: &[&str] = &[
    "in-progress",
    "paused",
    "stopped",
    "processing",
    "completed",
    "absent",
];
const CALL_RECORDING: &[(&str, Type)] = &[
    ("sid", Type::String),
    ("status", Type::OneOf(CALL_RECORDING_STATUS)),
    ("channels", Type::Integer),
    ("duration", Type::String),
    ("date_created", Type::Rfc2822),
    ("uri", Type::String),
];
const ERROR: &[(&str, Type)] = &[
    ("code", Type::Integer),
    ("message", Type::String),
    ("more_info", Type::String),
    ("status", Type::Integer),
];

fn assert_fields(what: &str, object: &Value, table: &[(&str, Type)]) {
    for (field, t) in table {
        let value = object
            .get(field)
            .unwrap_or_else(|| panic!("{what} has no {field}: {object}"));
        assert!(has_type(value, *t), "{what}.{field} is not {t:?}: {value}");
    }
}

#[tokio::test]
async fn every_field_the_adapter_reads_has_the_specs_type() {
    let (stub, app) = setup(Knobs::default());
    let catalog = stub.catalog();
    // A whole list (child legs and parents), and its pages.
    let first = get(&app, &format!("{}?PageSize=1000", calls_path("acme")))
        .await
        .json();
    let paged = get(&app, &format!("{}?PageSize=3", calls_path("acme")))
        .await
        .json();
    for page in [&first, &paged] {
        assert_fields("calls page", page, ENVELOPE);
        assert_fields("calls page", page, &[("calls", Type::Array)]);
    }
    assert!(first["next_page_uri"].is_null() && paged["next_page_uri"].is_string());
    let calls = first["calls"].as_array().unwrap();
    for call in calls {
        assert_fields("call", call, CALL);
    }
    assert!(calls.iter().any(|c| c["parent_call_sid"].is_string()));
    assert!(calls.iter().any(|c| c["parent_call_sid"].is_null()));
    let one = format!(
        "{}/Calls/{}.json",
        account_path("acme"),
        calls[0]["sid"].as_str().unwrap()
    );
    assert_fields("call", &get(&app, &one).await.json(), CALL);

    // Recordings in every status a call's list shows.
    let mut statuses = BTreeSet::new();
    for shape in [Shape::One, Shape::Two, Shape::Processing, Shape::Absent] {
        let call = call_of_shape(catalog, "acme", shape).unwrap();
        let page = get(
            &app,
            &call_recordings_path("acme", call.summary.call_sid.as_str()),
        )
        .await
        .json();
        assert_fields("recordings page", &page, ENVELOPE);
        assert_fields("recordings page", &page, &[("recordings", Type::Array)]);
        for recording in page["recordings"].as_array().unwrap() {
            assert_fields("call recording", recording, CALL_RECORDING);
            statuses.insert(recording["status"].as_str().unwrap().to_owned());
            let metadata = get(&app, recording["uri"].as_str().unwrap()).await.json();
            assert_fields("recording", &metadata, CALL_RECORDING);
        }
    }
    assert_eq!(statuses.len(), 3, "{statuses:?}");

    // Every error body.
    let errors = [
        send(&app, request(&calls_path("acme"), None)).await,
        get(&app, &format!("{}?PageSize=0", calls_path("acme"))).await,
        get(
            &app,
            &format!("{}/Calls/CA{}.json", account_path("acme"), "0".repeat(32)),
        )
        .await,
    ];
    for answer in &errors {
        assert_fields("error", &answer.json(), ERROR);
    }
}
