//! Guarantees 2 to 5 under concurrency, faults and restarts: one download
//! per recording, per-business slots, durable retries, nothing partial.

use std::time::Duration;

use backend_stub::knobs::{FaultSet, Knobs};
use futures_util::future::join_all;
use integration_tests::{
    bulk_call, for_call, latency, origin_bytes, sha256_hex, EdgeOptions, Stack,
};
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
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_with(latency(300), options).await;
    let sids: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
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
    assert_eq!(
        business.peak, 3,
        "peak concurrent origin downloads with 3 slots"
    );
    for sid in &sids {
        assert_eq!(
            stats.call(sid).attempts,
            1,
            "{sid} downloaded more than once"
        );
    }
    // Started in queue order: nobody started more than one wave (3 calls) away from its place.
    for (place, sid) in sids.iter().enumerate() {
        let started = business
            .first_attempt_order
            .iter()
            .position(|s| s == sid)
            .unwrap();
        assert!(
            started.abs_diff(place) < 3,
            "{sid} queued {place}th started {started}th: {:?}",
            business.first_attempt_order
        );
    }
    // Every call that had to queue got its slot exactly once: handed over on
    // its held acquire, or (when its hold had run out) by a wake. Read once
    // the last call's `ready` line is in the log (every grant came before).
    let last_ready = |lines: &[Value]| {
        let ready = lines.iter().filter(|l| l["to"] == "ready").count();
        ready == sids.len()
    };
    let lines: Vec<Value> = stack
        .edge
        .wait_log(last_ready, Duration::from_secs(10))
        .await;
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
/// first downloads do not start behind the whole burst's work.
#[tokio::test(flavor = "multi_thread")]
async fn a_bursts_free_slots_are_asked_for_before_the_rest_of_it_is_queued() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_with(latency(300), options).await;
    let sids: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
    play_at_once_until_ready(&stack, &sids).await;
    let all_ready = |lines: &[Value]| lines.iter().filter(|l| l["to"] == "ready").count() == 30;
    let lines: Vec<Value> = stack
        .edge
        .wait_log(all_ready, Duration::from_secs(10))
        .await;
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
    let waiters_queued_early: Vec<&String> = queued_at
        .iter()
        .filter(|(owner, i)| {
            first_acquire
                .get(*owner)
                .is_some_and(|(_, granted)| !granted)
                && **i < last_starter
        })
        .map(|(owner, _)| owner)
        .collect();
    assert!(
        waiters_queued_early.is_empty(),
        "calls that wait were queued before the free slots were asked for: {waiters_queued_early:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_business_queue_never_delays_another() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 3);
    let stack = Stack::start_with(latency(300), options).await;
    let a: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
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
    let b = bulk_call(&stack, "globex", 0);
    let answer = stack.play("globex", &b).send().await.unwrap();
    assert!(matches!(answer.status().as_u16(), 200 | 202));
    stack.wait_status("globex", &b, "ready", READY).await;
    // Had B waited behind A's queue, A would have finished most of its calls meanwhile;
    // B's own download takes one origin latency, in which A finishes about one wave of 3.
    let a_done_meanwhile = done(&stack) - a_done_before;
    assert!(
        a_done_meanwhile <= 9,
        "B waited behind A: {a_done_meanwhile} of A's calls finished meanwhile"
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
    let options = EdgeOptions::default()
        .var("SLOTS_PER_BUSINESS", 1)
        .var("DOWNLOAD_TIMEOUT_MS", 800)
        .var("MAX_ATTEMPTS", 2)
        .var("FAILED_COOLDOWN_MS", 60_000);
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
    let stack = Stack::start().await;
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

/// Clicks `sid`, whose origin body pauses 4 s midway, and returns once the
/// body is flowing: its download is under way.
async fn play_until_its_body_flows(stack: &Stack, sid: &str) {
    stack.fault_call(
        sid,
        FaultSet {
            mid_body_delay_ms: 4_000,
            ..Default::default()
        },
    );
    stack.play("acme", sid).send().await.unwrap();
    let deadline = std::time::Instant::now() + READY;
    while stack.origin.stats().call(sid).started == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_download_resumes_and_leaks_no_slot() {
    let options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", 2);
    let mut stack = Stack::start_with(Knobs::default(), options).await;
    let slow = bulk_call(&stack, "acme", 0);
    play_until_its_body_flows(&stack, &slow).await;
    // SIGKILL wrangler and workerd together.
    stack.edge.kill();
    assert_eq!(
        stack.origin.stats().call(&slow).completed,
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

    // Both slots still work: two slow calls run at once.
    stack.origin.stub.set_knobs(latency(1_500));
    stack.origin.stub.stats.reset();
    let (a, b) = (bulk_call(&stack, "acme", 1), bulk_call(&stack, "acme", 2));
    join_all([stack.play("acme", &a).send(), stack.play("acme", &b).send()]).await;
    stack.wait_status("acme", &a, "ready", READY).await;
    stack.wait_status("acme", &b, "ready", READY).await;
    assert_eq!(
        stack.origin.stats().business("acme").peak,
        2,
        "a slot leaked across the restart"
    );
}

/// A call object asks for its slot and runs its download in its alarm's
/// handler, and writes no alarm of its own for a restart: the runtime runs
/// again an alarm whose handler had not ended. With one slot, one call's
/// download and another's wait for the slot die with the worker; after the
/// restart both complete with no click at all, long before any timeout
/// (the download timeout here is 10 minutes).
#[tokio::test(flavor = "multi_thread")]
async fn a_download_and_a_wait_for_a_slot_killed_with_the_worker_resume_without_a_click() {
    let options = EdgeOptions::default()
        .var("SLOTS_PER_BUSINESS", 1)
        .var("DOWNLOAD_TIMEOUT_MS", 600_000);
    let mut stack = Stack::start_with(Knobs::default(), options).await;
    let (slow, waiting) = (bulk_call(&stack, "acme", 0), bulk_call(&stack, "acme", 1));
    play_until_its_body_flows(&stack, &slow).await;
    stack.play("acme", &waiting).send().await.unwrap();
    assert_eq!(stack.status("acme", &waiting).await["status"], "queued");
    stack.edge.kill();
    assert_eq!(stack.origin.stats().call(&slow).completed, 0, "mid-body");
    stack.origin.stub.set_knobs(Knobs::default());
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
    assert_eq!(stack.origin.stats().call(&slow).attempts, 2);
    assert_eq!(stack.origin.stats().call(&waiting).attempts, 1);
    assert_eq!(stack.origin.stats().business("acme").peak, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshes_without_a_user_action_never_reach_the_origin() {
    let stack = Stack::start().await;
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
