//! The Twilio origin (`ORIGIN_KIND=twilio`) against the stub speaking
//! Twilio's REST API (`backend-stub --api twilio`): the call list from
//! `Calls.json`, a call's recording resolved from its `Recordings.json`
//! before any slot, the media with Basic auth on the API host only, and
//! the generic origin's guarantees with it.

use std::collections::BTreeMap;
use std::time::Duration;

use backend_stub::catalog::Catalog;
use backend_stub::knobs::{FaultSet, Knobs};
use backend_stub::twilio::{
    account_sid, call_of_shape, child_leg_of, recording_sid, twilio_shape, Shape,
};
use futures_util::future::join_all;
use integration_tests::{latency, sha256_hex, EdgeOptions, Stack, ORIGIN_TOKEN};
use playback_core::list_query::ListQuery;
use playback_core::wire::CallSummary;
use serde_json::Value;

const READY: Duration = Duration::from_secs(90);

/// A call of `business` whose recordings have `shape`.
fn call_with(stack: &Stack, business: &str, shape: Shape) -> String {
    call_of_shape(stack.origin.stub.catalog(), business, shape)
        .expect("the stub has a call of every shape")
        .summary
        .call_sid
        .to_string()
}

/// The bytes Twilio's media of recording `index` of `sid` holds (every channel).
fn media_bytes(stack: &Stack, business: &'static str, sid: &str, index: usize) -> Vec<u8> {
    let catalog = stack.origin.stub.catalog();
    backend_stub::twilio::find_recording(catalog, business, &recording_sid(sid, index))
        .expect("a recording of the call")
        .media(true)
        .to_vec()
}

/// Every page of `/api/calls?{query}` for `business`, following `Link`.
async fn all_pages(stack: &Stack, business: &str, query: &str) -> (Vec<CallSummary>, Vec<String>) {
    let mut calls = Vec::new();
    let mut links = Vec::new();
    let mut path = format!("/api/calls?{query}");
    loop {
        let response = stack
            .get_as(business, &path)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200, "{path}");
        let link = response
            .headers()
            .get("Link")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        let page: Vec<CallSummary> = response.json().await.expect("a page");
        calls.extend(page);
        let Some(link) = link else {
            return (calls, links);
        };
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .expect("a Link target")
            .0
            .to_owned();
        links.push(link);
        path = target;
    }
}

/// The business's calls as its list shows them: newest first, no child legs.
fn listed(catalog: &Catalog, business: &str, query: &ListQuery) -> Vec<String> {
    let mut calls: Vec<&CallSummary> = catalog
        .listed_calls(business)
        .map(|c| &c.summary)
        .filter(|c| query.matches(&c.started_at, &c.from, &c.to))
        .collect();
    calls.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    calls.iter().map(|c| c.call_sid.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_call_list_pages_newest_first_without_child_legs_and_its_links_name_no_account() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let catalog = stack.origin.stub.catalog();
    let (calls, links) = all_pages(&stack, "acme", "limit=9").await;
    let sids: Vec<String> = calls.iter().map(|c| c.call_sid.to_string()).collect();
    assert_eq!(sids, listed(catalog, "acme", &ListQuery::default()));
    // A child leg is part of its parent's row, never one of its own.
    let parent = &sids[sids.len() - 5];
    let child = child_leg_of(catalog, "acme", parent).expect("a parent with a child leg");
    assert!(!sids.contains(&child.to_ascii_lowercase()));
    // The edge's cursor wraps Twilio's page: never its host, path or account.
    let account = account_sid("acme");
    assert!(!links.is_empty());
    for link in &links {
        assert!(link.starts_with("</api/calls?limit=9&cursor="), "{link}");
        for secret in [account.as_str(), "2010-04-01", "127.0.0.1", "Accounts"] {
            assert!(!link.contains(secret), "{link} names {secret}");
        }
    }
    // One origin request per page: the stub pages as Twilio does.
    assert_eq!(stack.origin.stats().list_requests, links.len() as u64 + 1);
    // The rows read Twilio's strings as the list's types.
    let first = catalog
        .find("acme", &sids[0])
        .expect("a catalog call")
        .summary
        .clone();
    assert_eq!(calls[0], first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_date_range_is_asked_by_whole_days_and_cut_exactly_at_the_edge() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let catalog = stack.origin.stub.catalog();
    // Three of acme's calls, 37 minutes apart: a range that starts and ends
    // inside a day, its end exclusive.
    let all = listed(catalog, "acme", &ListQuery::default());
    let times: Vec<String> = all
        .iter()
        .map(|sid| {
            catalog
                .find("acme", sid)
                .unwrap()
                .summary
                .started_at
                .clone()
        })
        .collect();
    let (since, until) = (&times[5], &times[2]);
    let query = format!("since={since}&until={until}");
    let (calls, _) = all_pages(&stack, "acme", &format!("limit=50&{query}")).await;
    let sids: Vec<String> = calls.iter().map(|c| c.call_sid.to_string()).collect();
    assert_eq!(
        sids,
        all[3..=5].to_vec(),
        "since inclusive, until exclusive"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_storm_makes_one_media_download_and_the_credentials_never_reach_the_media_host() {
    let stack = Stack::start_twilio(latency(300), EdgeOptions::default()).await;
    let sid = call_with(&stack, "acme", Shape::One);
    let answers = join_all((0..100).map(|_| async {
        stack
            .play("acme", &sid)
            .send()
            .await
            .map(|r| r.status().as_u16())
    }))
    .await;
    for answer in answers {
        let status = answer.expect("answered");
        assert!(
            status == 200 || status == 202,
            "a storm request got {status}"
        );
    }
    stack.wait_status("acme", &sid, "ready", READY).await;
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 0))
    );
    let stats = stack.origin.stats();
    let media = stats.call(&recording_sid(&sid, 0));
    assert_eq!((media.attempts, media.completed), (1, 1), "media downloads");
    assert_eq!(
        stats.recording_lists.get(&sid).copied(),
        Some(1),
        "recordings asked once"
    );
    // The API host answered 302 to the media host, which the edge followed
    // without the Basic credentials.
    assert!(
        stats.media_requests >= 1,
        "the media came from the media host"
    );
    assert_eq!(stats.media_requests_with_token, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_still_processing_takes_no_slot_and_plays_without_a_second_click() {
    let knobs = Knobs {
        processing_secs: 5,
        ..Knobs::default()
    };
    let stack = Stack::start_twilio(knobs, EdgeOptions::default()).await;
    let sid = call_with(&stack, "acme", Shape::Processing);
    let first = stack.play("acme", &sid).send().await.expect("answered");
    assert_eq!(first.status(), 202);
    let body: Value = first.json().await.expect("JSON");
    // `queued` when the provider's answer came after the play's hold.
    assert!(
        body["status"] == "not_ready" || body["status"] == "queued",
        "{body}"
    );
    // Only status polls from here: the edge asks Twilio again by itself.
    let waiting = stack.wait_status("acme", &sid, "not_ready", READY).await;
    assert_eq!(
        waiting["error"], "the provider is still processing this recording",
        "{waiting}"
    );
    // Processing: the media is not asked for, and the slot is not taken
    // (its acquire is logged by the business object).
    assert_eq!(
        stack.origin.stats().call(&recording_sid(&sid, 0)).attempts,
        0
    );
    let lines = stack.log_barrier().await;
    let acquired = |l: &&Value| {
        l["call_sid"] == sid.as_str() && l["event"] == "transition" && l["to"] == "downloading"
    };
    assert_eq!(lines.iter().filter(acquired).count(), 0);
    stack.wait_status("acme", &sid, "ready", READY).await;
    let stats = stack.origin.stats();
    assert_eq!(stats.call(&recording_sid(&sid, 0)).attempts, 1);
    assert!(stats.recording_lists.get(&sid).copied().unwrap_or(0) >= 2);
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_without_a_recording_to_play_is_404_no_recording_and_downloads_nothing() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    for shape in [Shape::Absent, Shape::NoRecording] {
        let sid = call_with(&stack, "acme", shape);
        let answer = stack.play("acme", &sid).send().await.expect("answered");
        assert_eq!(answer.status(), 404, "{shape:?}");
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["error"], "no_recording", "{shape:?}: {body}");
        assert_eq!(stack.status("acme", &sid).await["status"], "no_recording");
        let again = stack.play("acme", &sid).send().await.expect("answered");
        assert_eq!(again.status(), 404);
        let stats = stack.origin.stats();
        assert_eq!(
            stats.recording_lists.get(&sid).copied(),
            Some(1),
            "{shape:?}"
        );
        assert_eq!(stats.call(&recording_sid(&sid, 0)).attempts, 0, "{shape:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_recordings_the_first_plays_and_only_it_is_downloaded() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let sid = call_with(&stack, "acme", Shape::Two);
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 0))
    );
    for _ in 0..5 {
        assert_eq!(stack.play("acme", &sid).send().await.unwrap().status(), 200);
    }
    let stats = stack.origin.stats();
    assert_eq!(stats.call(&recording_sid(&sid, 0)).attempts, 1);
    assert_eq!(stats.call(&recording_sid(&sid, 1)).attempts, 0);
    // Stored less than RECORDING_RECHECK_MS ago: served without asking Twilio.
    assert!(
        stats.recording_fetches.is_empty(),
        "{:?}",
        stats.recording_fetches
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dual_channel_recording_is_asked_with_both_channels_and_has_two_lanes() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let catalog = stack.origin.stub.catalog();
    let call = catalog
        .with_voice("acme", backend_stub::audio::Voice::Conversation)
        .expect("acme's conversation");
    let sid = call.summary.call_sid.to_string();
    assert_eq!(twilio_shape(catalog, "acme", &sid), Some(Shape::One));
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 0))
    );
    let peaks: Value = stack
        .get_as("acme", &format!("/api/recordings/{sid}/peaks"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("peaks JSON");
    let lanes = peaks["channels"].as_array().map(Vec::len);
    assert_eq!(lanes, Some(2), "two lanes in the waveform");
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_429_without_retry_after_and_404_right_after_completion_are_waited_out() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let throttled = call_with(&stack, "globex", Shape::One);
    let late = call_with(&stack, "initech", Shape::One);
    let mut calls = BTreeMap::new();
    calls.insert(
        throttled.clone(),
        FaultSet {
            throttle_first: 2,
            retry_after_secs: 0,
            ..FaultSet::default()
        },
    );
    calls.insert(
        late.clone(),
        FaultSet {
            not_ready_first: 2,
            ..FaultSet::default()
        },
    );
    stack.origin.stub.set_knobs(Knobs {
        calls,
        ..Knobs::default()
    });
    for (business, sid) in [("globex", &throttled), ("initech", &late)] {
        let body = stack.cache(business, sid).await;
        assert_eq!(
            sha256_hex(&body),
            sha256_hex(&media_bytes(&stack, business, sid, 0))
        );
    }
    let stats = stack.origin.stats();
    let throttled_media = stats.call(&recording_sid(&throttled, 0));
    assert_eq!(
        (throttled_media.attempts, throttled_media.completed),
        (3, 1)
    );
    let late_media = stats.call(&recording_sid(&late, 0));
    assert_eq!((late_media.attempts, late_media.completed), (3, 1));
    // Twilio's 404 right after completion is waited out by the second
    // (1 s, 2 s), not by the 250 ms of a 5xx.
    let times = &late_media.attempt_times_ms;
    assert!(
        times[1] - times[0] >= 1_000 && times[2] - times[1] >= 2_000,
        "{times:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_business_without_an_account_is_403_and_asks_nothing() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let sid = "CA0123456789abcdef0123456789abcdef";
    for path in [
        "/api/calls".to_owned(),
        format!("/api/calls/{sid}"),
        format!("/api/recordings/{sid}/status"),
        format!("/api/recordings/{sid}/peaks"),
    ] {
        let answer = stack
            .get_as("nobody", &path)
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 403, "{path}");
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["error"], "no_account", "{path}");
    }
    let play = stack.play("nobody", sid).send().await.expect("answered");
    assert_eq!(play.status(), 403);
    let stats = stack.origin.stats();
    assert_eq!((stats.authorized_requests, stats.list_requests), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_credential_is_502_origin_auth_and_one_line_names_the_variables() {
    let options = EdgeOptions::default().var("TWILIO_AUTH_TOKEN", "not-the-token");
    let stack = Stack::start_twilio(Knobs::default(), options).await;
    let answer = stack
        .get_as("acme", "/api/calls")
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), 502);
    let text = answer.text().await.expect("a body");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["error"], "origin_auth");
    for secret in ["not-the-token", ORIGIN_TOKEN, "TWILIO", "401"] {
        assert!(!text.contains(secret), "the body carries {secret}: {text}");
    }
    let lines = stack.log_barrier().await;
    let named: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["error"] == "origin_auth"
                && l["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"))
        })
        .collect();
    assert_eq!(named.len(), 1, "one line names the variables to check");
    assert!(
        !stack.edge.log().contains("not-the-token"),
        "the log carries the token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn made_up_call_sids_cost_no_recording_request() {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let made_up: Vec<String> = (0..20)
        .map(|i| format!("CA{:032x}", 0xdead_0000_u128 + i))
        .collect();
    for sid in &made_up {
        let answer = stack.play("acme", sid).send().await.expect("answered");
        assert_eq!(answer.status(), 404, "{sid}");
    }
    let stats = stack.origin.stats();
    assert!(
        stats.recording_lists.is_empty(),
        "{:?}",
        stats.recording_lists
    );
    assert_eq!(stats.total_attempts(), 0);
}

/// The calls of `business` whose numbers hold `digits`, newest first.
fn with_digits(catalog: &Catalog, business: &str, digits: &str) -> Vec<String> {
    let query = ListQuery::parse([("q", digits)]).expect("a valid search");
    listed(catalog, business, &query)
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_by_whole_number_and_last_digits_are_answered_before_and_after_the_crawl() {
    // A slow list API: the contact centre's crawl (20 pages of 1 000) takes
    // about 10 s, while a search waits for it 2 s at most.
    let knobs = Knobs {
        list_latency_ms: 500,
        ..Knobs::default()
    };
    let stack = Stack::start_twilio(knobs, EdgeOptions::default()).await;
    let catalog = stack.origin.stub.catalog();
    let newest = catalog
        .listed_calls("northwind")
        .next_back()
        .expect("calls")
        .summary
        .clone();
    let whole: String = newest.from.chars().filter(char::is_ascii_digit).collect();
    let last4 = &whole[whole.len() - 4..];
    // Before the crawl: the whole number is asked of Twilio (From=, To=)
    // and found whole; the last digits are searched in what is indexed.
    let answer = stack
        .get_as("northwind", &format!("/api/calls?q={whole}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("X-Search-Note").is_none());
    let found: Vec<CallSummary> = answer.json().await.expect("a page");
    let sids: Vec<String> = found.iter().map(|c| c.call_sid.to_string()).collect();
    assert_eq!(sids, with_digits(catalog, "northwind", &whole));
    let partial = stack
        .get_as("northwind", &format!("/api/calls?q={last4}"))
        .send()
        .await
        .expect("answered");
    let note = partial
        .headers()
        .get("X-Search-Note")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("a search before the crawl ends says how far it got");
    assert!(note.starts_with("searched the newest "), "{note}");
    // After the crawl: every call is indexed, and the last digits find
    // every call holding them, page by page, newest first.
    let deadline = std::time::Instant::now() + READY;
    loop {
        let probe = stack
            .get_as("northwind", &format!("/api/calls?q={last4}&limit=200"))
            .send()
            .await
            .expect("answered");
        if probe.headers().get("X-Search-Note").is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the crawl never ended"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (calls, _) = all_pages(&stack, "northwind", &format!("q={last4}&limit=7")).await;
    let sids: Vec<String> = calls.iter().map(|c| c.call_sid.to_string()).collect();
    assert_eq!(sids, with_digits(catalog, "northwind", last4));
    assert!(!sids.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_deleted_at_twilio_is_deleted_here_at_its_next_check() {
    // 0: asked again before every answer that carries the stored bytes.
    let options = EdgeOptions::default().var("RECORDING_RECHECK_MS", 0);
    let stack = Stack::start_twilio(Knobs::default(), options).await;
    let sid = call_with(&stack, "acme", Shape::One);
    let recording = recording_sid(&sid, 0);
    stack.cache("acme", &sid).await;
    let again = stack.play("acme", &sid).send().await.expect("answered");
    assert_eq!(again.status(), 200, "still at Twilio: served");
    let fetches = |stack: &Stack| {
        let stats = stack.origin.stats();
        stats
            .recording_fetches
            .get(&recording)
            .copied()
            .unwrap_or(0)
    };
    assert!(fetches(&stack) >= 1, "the stored recording was asked about");
    let key = format!("recordings/acme/{sid}");
    assert!(stack.edge.r2_keys().contains(&key));
    stack.origin.stub.set_knobs(Knobs {
        deleted_recordings: vec![recording.clone()],
        ..Knobs::default()
    });
    let gone = stack.play("acme", &sid).send().await.expect("answered");
    assert_eq!(gone.status(), 404);
    let body: Value = gone.json().await.expect("JSON");
    assert_eq!(body["error"], "no_recording");
    assert!(
        !stack.edge.r2_keys().contains(&key),
        "the R2 copy is deleted"
    );
    assert_eq!(stack.status("acme", &sid).await["status"], "no_recording");
    // The media element's load (no marker) finds nothing stored: refused
    // as any unmarked request for a recording not in storage.
    let load = stack
        .get_as("acme", &format!("/api/recordings/{sid}/stream"))
        .header("Range", "bytes=0-")
        .send()
        .await
        .expect("answered");
    assert_eq!(load.status(), 400);
    assert_eq!(
        stack.origin.stats().call(&recording).attempts,
        1,
        "never downloaded again"
    );
}

/// A play of `sid`'s recording number `n` (the query's `recording`), as a click.
fn play_number(stack: &Stack, sid: &str, n: u32) -> reqwest::RequestBuilder {
    stack
        .http
        .get(stack.url(&format!("/api/recordings/{sid}/stream?recording={n}")))
        .bearer_auth(integration_tests::token_for("acme"))
        .header("X-User-Action", "play")
}

/// The status of `sid`'s recording number `n`.
async fn status_number(stack: &Stack, sid: &str, n: u32) -> Value {
    stack
        .get_as(
            "acme",
            &format!("/api/recordings/{sid}/status?recording={n}"),
        )
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_of_a_calls_recordings_plays_by_its_number_and_is_downloaded_once() {
    let stack = Stack::start_twilio(latency(200), EdgeOptions::default()).await;
    let sid = call_with(&stack, "acme", Shape::Two);
    // The first, by default and by its number, is one recording.
    let first = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&first),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 0))
    );
    let again = play_number(&stack, &sid, 1).send().await.expect("answered");
    assert_eq!(again.status(), 200);
    assert_eq!(status_number(&stack, &sid, 1).await["recordings"], 2);
    // The second: a storm of clicks, one download of its own.
    let answers = join_all((0..20).map(|_| async {
        play_number(&stack, &sid, 2)
            .send()
            .await
            .map(|r| r.status().as_u16())
    }))
    .await;
    for answer in answers {
        let status = answer.expect("answered");
        assert!(status == 200 || status == 202, "{status}");
    }
    let deadline = std::time::Instant::now() + READY;
    while status_number(&stack, &sid, 2).await["status"] != "ready" {
        assert!(
            std::time::Instant::now() < deadline,
            "the second recording never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = play_number(&stack, &sid, 2).send().await.expect("answered");
    assert_eq!(second.status(), 200);
    let second = second.bytes().await.expect("a body").to_vec();
    assert_eq!(
        sha256_hex(&second),
        sha256_hex(&media_bytes(&stack, "acme", &sid, 1))
    );
    assert_ne!(sha256_hex(&second), sha256_hex(&first));
    let stats = stack.origin.stats();
    assert_eq!(
        stats.call(&recording_sid(&sid, 0)).attempts,
        1,
        "the first, once"
    );
    assert_eq!(
        stats.call(&recording_sid(&sid, 1)).attempts,
        1,
        "the second, once"
    );
    // A third there is not; a bad number is refused before anything is asked.
    let third = play_number(&stack, &sid, 3).send().await.expect("answered");
    assert_eq!(third.status(), 404);
    let body: Value = third.json().await.expect("JSON");
    assert_eq!(body["error"], "no_recording");
    for bad in ["0", "21", "x", ""] {
        let answer = stack
            .http
            .get(stack.url(&format!("/api/recordings/{sid}/stream?recording={bad}")))
            .bearer_auth(integration_tests::token_for("acme"))
            .header("X-User-Action", "play")
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 400, "recording={bad}");
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(
            (body["error"].as_str(), body["detail"].as_str()),
            (Some("bad_query"), Some("recording"))
        );
    }
}
