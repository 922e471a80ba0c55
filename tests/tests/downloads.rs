//! Guarantees 2 to 5 under concurrency, faults and restarts: one download
//! per recording, per-business slots, durable retries, nothing partial.

use std::time::Duration;

use backend_stub::knobs::{FaultSet, Knobs};
use futures_util::future::join_all;
use integration_tests::{
    bulk_call, for_call, latency, origin_bytes, sha256_hex, EdgeOptions, Kind, Stack, LOG_TIMEOUT,
};
use playback_core::slots::STARTERS_FIRST_MS;
use serde_json::Value;

const READY: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread")]
async fn a_click_storm_of_300_causes_exactly_one_origin_download() {
    let stack = Stack::start_with(latency(400), EdgeOptions::default()).await;
    let sid = bulk_call(&stack, "acme", 0);
    let answers = join_all((0..300).map(|_| async {
        stack
            .play("acme", &sid)
            .send()
            .await
            .map(|r| r.status().as_u16())
    }))
    .await;
    let mut counts = std::collections::BTreeMap::new();
    for a in &answers {
        let status = *a.as_ref().expect("every request is answered");
        *counts.entry(status).or_insert(0) += 1;
        assert!(
            status == 202 || status == 200,
            "a storm request got {status}"
        );
    }
    println!("storm answers: {counts:?}");
    stack.wait_status("acme", &sid, "ready", READY).await;
    let body = stack.cache("acme", &sid).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&origin_bytes(&stack, "acme", &sid))
    );
    let c = stack.origin.stats().call(&sid);
    assert_eq!(
        (c.attempts, c.completed),
        (1, 1),
        "origin downloads for one recording"
    );
}

/// The slot goes back when the origin's body has been read whole, never at
/// its headers: with one slot and bodies that take half a second each, the
/// origin never sends two at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_slot_is_held_until_the_origins_body_has_been_read_whole() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 1);
    let knobs = Knobs {
        all: FaultSet {
            // A bulk recording (32 KB) takes about half a second.
            bytes_per_second: 64_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let stack = Stack::start_with(knobs, options).await;
    let sids: Vec<String> = (0..3).map(|n| bulk_call(&stack, "acme", n)).collect();
    play_at_once_until_ready(&stack, &sids).await;
    let stats = stack.origin.stats();
    for sid in &sids {
        assert_eq!(stats.call(sid).completed, 1, "{sid}");
    }
    assert_eq!(
        stats.business("acme").peak,
        1,
        "two origin bodies were in flight with one slot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_calls_share_three_slots_first_come_first_served() {
    thirty_calls_share_three_slots(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_thirty_calls_share_three_slots_first_come_first_served() {
    thirty_calls_share_three_slots(Kind::Twilio).await
}

async fn thirty_calls_share_three_slots(kind: Kind) {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_kind(kind, latency(300), options).await;
    let sids: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
    // The first three hold their slots far longer than the clicks that
    // follow take on any machine, so the queue forms behind all three.
    let mut knobs = latency(300);
    for sid in &sids[..3] {
        knobs.calls.insert(
            sid.clone(),
            FaultSet {
                latency_ms: 3_000,
                ..Default::default()
            },
        );
    }
    stack.origin.stub.set_knobs(knobs);
    // Queue them one after another: each click is in the business queue before the next.
    let mut clicks = Vec::new();
    for sid in &sids {
        let request = stack.play("acme", sid).send();
        clicks.push(tokio::spawn(request));
        loop {
            let s = stack.status("acme", sid).await;
            let queued_in_business = s["status"] == "queued" && s["queue_position"].is_u64();
            if queued_in_business || s["status"] == "processing" || s["status"] == "ready" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for sid in &sids {
        stack.wait_status("acme", sid, "ready", READY).await;
    }
    for c in clicks {
        let status = c.await.unwrap().unwrap().status();
        assert!(status == 202 || status == 200, "{status}");
    }
    let stats = stack.origin.stats();
    let business = stats.business("acme");
    // Never more than 3 origin downloads at once (how many overlap at the
    // origin depends on the machine's pace; the bound does not).
    assert!(
        business.peak <= 3,
        "{} concurrent origin downloads with 3 slots",
        business.peak
    );
    for sid in &sids {
        assert_eq!(
            stats.call(&stack.media_key(sid)).attempts,
            1,
            "{sid} downloaded more than once"
        );
    }
    // Read once the last call's `ready` line is in the log (every grant came before).
    let last_ready = |lines: &[Value]| {
        let ready = lines.iter().filter(|l| l["to"] == "ready").count();
        ready == sids.len()
    };
    let lines: Vec<Value> = stack.edge.wait_log(last_ready, LOG_TIMEOUT).await;
    // All three slots were in use at once: the business held three leases.
    let most_leases = lines
        .iter()
        .filter(|l| l["event"] == "slots")
        .filter_map(|l| l["leases"].as_u64())
        .max();
    assert_eq!(most_leases, Some(3), "the most leases held at once");
    // Granted in queue order, first come first served: the order in which
    // the business granted the leases (at an acquire, handed over on a held
    // acquire, or by a wake), whenever each download then reached the origin.
    let mut granted: Vec<String> = Vec::new();
    for l in &lines {
        let owners: Vec<&str> = if l["event"] == "slots" {
            let at_acquire = (l["op"] == "acquire" && l["answer"]["result"] == "granted")
                .then(|| l["owner"].as_str())
                .flatten();
            let handed = l["handed_over"].as_array().into_iter().flatten();
            at_acquire
                .into_iter()
                .chain(handed.filter_map(|o| o.as_str()))
                .collect()
        } else if l["event"] == "slot_granted_to_waiter" {
            l["owner"].as_str().into_iter().collect()
        } else {
            Vec::new()
        };
        for owner in owners {
            let sid = owner.rsplit('/').next().unwrap_or_default().to_owned();
            if !granted.iter().any(|g| g.eq_ignore_ascii_case(&sid)) {
                granted.push(sid);
            }
        }
    }
    let queued: Vec<String> = sids.iter().map(|s| s.to_ascii_lowercase()).collect();
    let granted: Vec<String> = granted.iter().map(|s| s.to_ascii_lowercase()).collect();
    assert_eq!(granted, queued, "leases granted against the queue's order");
    // Every call that had to queue got its slot exactly once: handed over on
    // its held acquire, or (when its hold had run out) by a wake.
    let queued: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["op"] == "acquire" && l["answer"]["result"] == "queued")
        .filter_map(|l| l["owner"].as_str())
        .collect();
    let handed: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "slots")
        .filter_map(|l| l["handed_over"].as_array())
        .flatten()
        .filter_map(|owner| owner.as_str())
        .collect();
    let woken: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "slot_granted_to_waiter")
        .filter_map(|l| l["owner"].as_str())
        .collect();
    let mut grants: Vec<&str> = handed.iter().chain(&woken).copied().collect();
    grants.sort();
    assert_eq!(
        grants,
        queued.iter().copied().collect::<Vec<_>>(),
        "grants to waiting calls ({} handed over, {} woken) against the calls that queued",
        handed.len(),
        woken.len()
    );
    assert!(
        !handed.is_empty(),
        "no slot was handed over on a held acquire"
    );
}

/// A burst of clicks on a business with free slots: the calls that take
/// them ask for their slots before the rest of the burst is queued. The
/// business answers the admissions that will wait in the queue only once
/// those calls have asked (the core's `slots::Admitted`), so the burst's
/// first downloads do not start behind the whole burst's work. It holds
/// them at most `STARTERS_FIRST_MS` after a starter's admission: a machine
/// too slow for a starter to ask within that lets the waiters go, which is
/// the product's rule too, and is told apart by the lines' times.
#[tokio::test(flavor = "multi_thread")]
async fn a_bursts_free_slots_are_asked_for_before_the_rest_of_it_is_queued() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_with(latency(300), options).await;
    let sids: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
    // No starter was admitted before this (the edge's clock is this machine's).
    let burst_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    play_at_once_until_ready(&stack, &sids).await;
    let all_ready = |lines: &[Value]| lines.iter().filter(|l| l["to"] == "ready").count() == 30;
    let lines: Vec<Value> = stack.edge.wait_log(all_ready, LOG_TIMEOUT).await;
    // Each call's first acquire (the business's line), and its `none → queued` line.
    let mut first_acquire = std::collections::HashMap::new();
    let mut queued_at = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if line["event"] == "slots" && line["op"] == "acquire" {
            let owner = line["owner"].as_str().unwrap_or_default().to_owned();
            let granted = line["answer"]["result"] == "granted";
            first_acquire.entry(owner).or_insert((i, granted));
        }
        if line["event"] == "transition" && line["from"] == "none" && line["to"] == "queued" {
            let owner = format!(
                "{}/{}",
                line["business"].as_str().unwrap_or_default(),
                line["call_sid"].as_str().unwrap_or_default()
            );
            queued_at.entry(owner).or_insert(i);
        }
    }
    assert_eq!(queued_at.len(), 30, "every call queued once");
    let starters: Vec<usize> = first_acquire
        .values()
        .filter(|(_, granted)| *granted)
        .map(|(i, _)| *i)
        .collect();
    assert!(!starters.is_empty(), "no call took a free slot");
    let last_starter = starters.iter().max().copied().unwrap_or_default();
    // A call that waits may be queued before the last free slot was asked
    // for only once a starter's hold ran out: STARTERS_FIRST_MS after its
    // admission, which came after the burst began.
    let released_at = burst_ms + STARTERS_FIRST_MS;
    let waiters_queued_early: Vec<(&String, u64)> = queued_at
        .iter()
        .filter(|(owner, i)| {
            first_acquire
                .get(*owner)
                .is_some_and(|(_, granted)| !granted)
                && **i < last_starter
        })
        .map(|(owner, i)| (owner, lines[*i]["at"].as_u64().unwrap_or(0)))
        .filter(|(_, at)| *at < released_at)
        .collect();
    assert!(
        waiters_queued_early.is_empty(),
        "calls that wait were queued before the free slots were asked for, \
         within {STARTERS_FIRST_MS} ms of the burst (at {burst_ms}): {waiters_queued_early:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_business_queue_never_delays_another() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_with(Knobs::default(), options).await;
    let a: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
    let b = bulk_call(&stack, "globex", 0);
    // A's downloads are slow (its queue stays long for many seconds, on
    // any machine); B's is quick.
    let mut knobs = latency(5_000);
    knobs.calls.insert(
        b.clone(),
        FaultSet {
            latency_ms: 300,
            ..Default::default()
        },
    );
    stack.origin.stub.set_knobs(knobs);
    let clicks: Vec<_> = a
        .iter()
        .map(|sid| tokio::spawn(stack.play("acme", sid).send()))
        .collect();
    // Wait until A's queue is long: some call of A waits behind 15 others.
    let deadline = std::time::Instant::now() + READY;
    loop {
        let statuses = join_all(a.iter().map(|sid| stack.status("acme", sid))).await;
        if statuses
            .iter()
            .any(|s| s["queue_position"].as_u64().is_some_and(|p| p >= 15))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's queue never filled"
        );
    }
    let done = |stack: &Stack| {
        a.iter()
            .filter(|sid| stack.origin.stats().call(sid).completed > 0)
            .count()
    };
    let a_done_before = done(&stack);
    let answer = stack.play("globex", &b).send().await.unwrap();
    assert!(matches!(answer.status().as_u16(), 200 | 202));
    stack.wait_status("globex", &b, "ready", READY).await;
    println!(
        "{} of A's calls finished while B downloaded",
        done(&stack) - a_done_before
    );
    // B never waited behind A's queue: its business granted its first
    // acquire at once (a queue shared with A would have queued it behind
    // A's 15 and more).
    let owner_b = |l: &Value| {
        l["event"] == "slots"
            && l["op"] == "acquire"
            && l["owner"]
                .as_str()
                .is_some_and(|o| o.eq_ignore_ascii_case(&format!("globex/{b}")))
    };
    let acquires = stack.edge.wait_log_lines(owner_b, LOG_TIMEOUT).await;
    assert_eq!(
        acquires[0]["answer"]["result"], "granted",
        "B's first acquire: {}",
        acquires[0]
    );
    assert_eq!(stack.origin.stats().business("globex").peak, 1);
    for c in clicks {
        c.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_until_ready() {
    let stack = Stack::start().await;
    let failing = bulk_call(&stack, "acme", 0);
    let cut = bulk_call(&stack, "acme", 1);
    let mut knobs = for_call(
        &failing,
        FaultSet {
            fail_first: 2,
            ..Default::default()
        },
    );
    knobs.calls.insert(
        cut.clone(),
        FaultSet {
            truncate_first: 1,
            ..Default::default()
        },
    );
    stack.origin.stub.set_knobs(knobs);

    stack.play("acme", &failing).send().await.unwrap();
    stack.wait_status("acme", &failing, "ready", READY).await;
    assert_eq!(
        stack.origin.stats().call(&failing).attempts,
        3,
        "ready after 3 origin attempts"
    );

    // The cut body is never served as a whole: every answer until ready is
    // a 202, the whole file, or (served from the fill that was cut) a 200
    // whose connection is aborted, never a clean end short of its length.
    let expected = origin_bytes(&stack, "acme", &cut);
    let mut aborted = 0;
    loop {
        let r = stack.play("acme", &cut).send().await.unwrap();
        match r.status().as_u16() {
            202 => tokio::time::sleep(Duration::from_millis(100)).await,
            200 => match r.bytes().await {
                Ok(body) => {
                    assert_eq!(sha256_hex(&body), sha256_hex(&expected));
                    break;
                }
                Err(_) => aborted += 1,
            },
            other => panic!("the cut call answered {other}"),
        }
    }
    assert!(aborted <= 1, "only the cut attempt's answer aborts");
    let c = stack.origin.stats().call(&cut);
    assert_eq!((c.attempts, c.started, c.completed), (2, 2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_origin_times_out_fails_and_frees_the_slot() {
    // The timeout is every download's, the next call's too: long against
    // a small recording's download on any machine, short against a hang.
    let options = EdgeOptions::default()
        .var("SLOTS_PER_BUSINESS", 1)
        .var("DOWNLOAD_TIMEOUT_MS", 3_000)
        .var("MAX_ATTEMPTS", 2)
        .var("FAILED_COOLDOWN_MS", 600_000);
    let stack = Stack::start_with(Knobs::default(), options).await;
    let hung = bulk_call(&stack, "acme", 0);
    let next = bulk_call(&stack, "acme", 1);
    stack.fault_call(
        &hung,
        FaultSet {
            hang_first: 1000,
            ..Default::default()
        },
    );
    stack.play("acme", &hung).send().await.unwrap();
    let failed = stack.wait_status("acme", &hung, "failed", READY).await;
    assert_eq!(failed["attempts"], 2);
    assert_eq!(stack.origin.stats().call(&hung).attempts, 2);
    // While failed, a click is answered 500 with the error and when to retry; nothing starts.
    let r = stack.play("acme", &hung).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "failed");
    assert!(
        body["error"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(stack.origin.stats().call(&hung).attempts, 2);
    // The only slot is free again: the business's next call downloads.
    stack.play("acme", &next).send().await.unwrap();
    stack.wait_status("acme", &next, "ready", READY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_404_is_a_404_and_is_remembered() {
    // Remembered far longer than the plays below take on any machine.
    let options = EdgeOptions::default().var("NOT_FOUND_TTL_MS", 3_600_000);
    let stack = Stack::start_with(Knobs::default(), options).await;
    let sid = bulk_call(&stack, "acme", 0);
    stack.fault_call(
        &sid,
        FaultSet {
            not_ready_secs: 3600,
            ..Default::default()
        },
    );
    let r = stack.play("acme", &sid).send().await.unwrap();
    let r = if r.status() == 202 {
        stack.wait_status("acme", &sid, "not_found", READY).await;
        stack.play("acme", &sid).send().await.unwrap()
    } else {
        r
    };
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    for _ in 0..5 {
        assert_eq!(stack.play("acme", &sid).send().await.unwrap().status(), 404);
    }
    assert_eq!(
        stack.origin.stats().call(&sid).attempts,
        1,
        "no further origin call within NOT_FOUND_TTL_MS"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_refusing_the_edge_credentials_fails_with_a_clear_error() {
    let options = EdgeOptions::default().var("ORIGIN_TOKEN", "wrong-token");
    let stack = Stack::start_with(Knobs::default(), options).await;
    let sid = bulk_call(&stack, "acme", 0);
    stack.play("acme", &sid).send().await.unwrap();
    let failed = stack.wait_status("acme", &sid, "failed", READY).await;
    assert!(
        failed["error"].as_str().unwrap().contains("credentials"),
        "{failed}"
    );
    assert_eq!(failed["attempts"], 1, "a refusal is not retried");
}

/// How long the origin's body pauses midway in [`play_until_its_body_flows`]:
/// long against what a test does before it kills the worker, on any machine.
const MID_BODY_PAUSE_MS: u64 = 15_000;

/// Clicks `sid`, whose origin body pauses midway for `MID_BODY_PAUSE_MS`,
/// and returns once the body is flowing: its download is under way.
async fn play_until_its_body_flows(stack: &Stack, sid: &str) {
    stack.fault_call(
        sid,
        FaultSet {
            mid_body_delay_ms: MID_BODY_PAUSE_MS,
            ..Default::default()
        },
    );
    stack.play("acme", sid).send().await.unwrap();
    let deadline = std::time::Instant::now() + READY;
    while stack.origin.stats().call(&stack.media_key(sid)).started == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_download_resumes_and_leaks_no_slot() {
    killed_mid_download_resumes(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_a_worker_killed_mid_download_resumes_and_leaks_no_slot() {
    killed_mid_download_resumes(Kind::Twilio).await
}

async fn killed_mid_download_resumes(kind: Kind) {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 2);
    let mut stack = Stack::start_kind(kind, Knobs::default(), options).await;
    let slow = bulk_call(&stack, "acme", 0);
    play_until_its_body_flows(&stack, &slow).await;
    // SIGKILL wrangler and workerd together.
    stack.edge.kill();
    assert_eq!(
        stack.origin.stats().call(&stack.media_key(&slow)).completed,
        0,
        "killed before the body completed"
    );
    stack.origin.stub.set_knobs(Knobs::default());
    stack.edge.restart().await;
    stack.play("acme", &slow).send().await.unwrap();
    stack.wait_status("acme", &slow, "ready", READY).await;
    let body = stack.cache("acme", &slow).await;
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&origin_bytes(&stack, "acme", &slow))
    );

    // Both slots still work: two calls played at once each get a slot at
    // their first acquire (a leaked lease would queue one behind it).
    let (a, b) = (bulk_call(&stack, "acme", 1), bulk_call(&stack, "acme", 2));
    join_all([stack.play("acme", &a).send(), stack.play("acme", &b).send()]).await;
    stack.wait_status("acme", &a, "ready", READY).await;
    stack.wait_status("acme", &b, "ready", READY).await;
    for sid in [&a, &b] {
        let acquire = |l: &Value| {
            l["event"] == "slots"
                && l["op"] == "acquire"
                && l["owner"]
                    .as_str()
                    .is_some_and(|o| o.eq_ignore_ascii_case(&format!("acme/{sid}")))
        };
        let first = stack.edge.wait_log_lines(acquire, LOG_TIMEOUT).await[0].clone();
        assert_eq!(
            first["answer"]["result"], "granted",
            "a slot leaked across the restart: {first}"
        );
    }
}

/// A call object asks for its slot and runs its download in its alarm's
/// handler, and writes no alarm of its own for a restart: the runtime runs
/// again an alarm whose handler had not ended. With one slot, one call's
/// download and another's wait for the slot die with the worker; after the
/// restart both complete with no click at all, long before any timeout
/// (the download timeout here is 10 minutes).
#[tokio::test(flavor = "multi_thread")]
async fn a_download_and_a_wait_for_a_slot_killed_with_the_worker_resume_without_a_click() {
    killed_download_and_wait_resume(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_a_download_and_a_wait_for_a_slot_killed_with_the_worker_resume_without_a_click(
) {
    killed_download_and_wait_resume(Kind::Twilio).await
}

async fn killed_download_and_wait_resume(kind: Kind) {
    let options = EdgeOptions::default()
        .var("SLOTS_PER_BUSINESS", 1)
        .var("DOWNLOAD_TIMEOUT_MS", 600_000);
    let mut stack = Stack::start_kind(kind, Knobs::default(), options).await;
    let (slow, waiting) = (bulk_call(&stack, "acme", 0), bulk_call(&stack, "acme", 1));
    play_until_its_body_flows(&stack, &slow).await;
    stack.play("acme", &waiting).send().await.unwrap();
    assert_eq!(stack.status("acme", &waiting).await["status"], "queued");
    stack.edge.kill();
    assert_eq!(
        stack.origin.stats().call(&stack.media_key(&slow)).completed,
        0,
        "mid-body"
    );
    stack.origin.stub.set_knobs(Knobs::default());
    // The killed worker's origin request ends at its pause's end, when the
    // stub writes to the dead connection: only then is the origin's count
    // of downloads in flight the restarted worker's alone.
    let deadline = std::time::Instant::now() + READY;
    while stack.origin.stats().business("acme").current > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed worker's origin request never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.edge.restart().await;
    // Only /status from here on: it never writes, never arms an alarm.
    stack.wait_status("acme", &slow, "ready", READY).await;
    stack.wait_status("acme", &waiting, "ready", READY).await;
    for sid in [&slow, &waiting] {
        assert_eq!(
            sha256_hex(&stack.cache("acme", sid).await),
            sha256_hex(&origin_bytes(&stack, "acme", sid))
        );
    }
    // Told with the call's transitions, so that a failure says why.
    let transitions = |sid: &str| {
        stack
            .edge
            .log_lines()
            .into_iter()
            .filter(|l| {
                l["event"] == "transition"
                    && l["call_sid"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(sid))
            })
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let origin = stack.origin.stats();
    assert_eq!(
        origin.call(&stack.media_key(&slow)).attempts,
        2,
        "{:?}\n{}",
        origin.call(&stack.media_key(&slow)),
        transitions(&slow)
    );
    assert_eq!(
        origin.call(&stack.media_key(&waiting)).attempts,
        1,
        "{:?}\n{}",
        origin.call(&stack.media_key(&waiting)),
        transitions(&waiting)
    );
    assert_eq!(origin.business("acme").peak, 1);
}

/// The generic origin has one recording per call: a second is not there,
/// and nothing is asked for it.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_generic_origin_a_second_recording_is_404() {
    let stack = Stack::start().await;
    let sid = bulk_call(&stack, "acme", 0);
    let answer = stack
        .http
        .get(stack.url(&format!("/api/recordings/{sid}/stream?recording=2")))
        .bearer_auth(integration_tests::token_for("acme"))
        .header("X-User-Action", "play")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "no_recording");
    assert_eq!(stack.origin.stats().authorized_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshes_without_a_user_action_never_reach_the_origin() {
    refreshes_never_reach_the_origin(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_refreshes_without_a_user_action_never_reach_the_origin() {
    refreshes_never_reach_the_origin(Kind::Twilio).await
}

async fn refreshes_never_reach_the_origin(kind: Kind) {
    let stack = Stack::start_kind(kind, Knobs::default(), EdgeOptions::default()).await;
    let sid = bulk_call(&stack, "acme", 0);
    for _ in 0..50 {
        let r = stack
            .get_as("acme", &format!("/api/recordings/{sid}/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let s = stack.status("acme", &sid).await;
        assert_eq!(s["status"], "none");
    }
    assert_eq!(stack.origin.stats().authorized_requests, 0);
}

/// Plays acme's `sids` all at once, and returns once each is ready and
/// every play has been answered.
async fn play_at_once_until_ready(stack: &Stack, sids: &[String]) {
    let clicks: Vec<_> = sids
        .iter()
        .map(|sid| tokio::spawn(stack.play("acme", sid).send()))
        .collect();
    for sid in sids {
        stack.wait_status("acme", sid, "ready", READY).await;
    }
    for c in clicks {
        c.await.unwrap().unwrap();
    }
}
