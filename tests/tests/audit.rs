//! The audit trail from outside, against the real worker and stub: one
//! line for every answer that carries recording bytes (whole or a range,
//! from R2 or from a fill) and for every download started, naming who,
//! which call and recording, how many bytes, from where, in which request;
//! never a token, a cookie or a credential.

use std::time::Duration;

use backend_stub::knobs::{FaultSet, Knobs};
use integration_tests::{token_for_agent, EdgeOptions, Stack, ORIGIN_TOKEN, SESSION_SECRET};
use serde_json::Value;

const UI: Duration = Duration::from_secs(60);

/// The audit lines of `sid`, once the log has every line so far.
async fn audit_of(stack: &Stack, sid: &str) -> Vec<Value> {
    stack.log_barrier().await;
    stack
        .edge
        .log_lines()
        .into_iter()
        .filter(|l| l["event"] == "audit" && l["call_sid"] == sid)
        .collect()
}

/// The request id of the worker's line for the request that answered
/// `status` to `path` with `range` (the request's own `Range`).
fn request_id_of(stack: &Stack, path: &str, status: u16, range: Option<&str>) -> Vec<String> {
    stack
        .edge
        .log_lines()
        .into_iter()
        .filter(|l| l["event"] == "request" && l["path"] == path && l["status"] == status)
        .filter(|l| l["range"].as_str() == range)
        .filter_map(|l| l["request_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_with_recording_bytes_and_every_download_started_is_one_audit_line() {
    // The origin sends its body slowly, so a listener can read during the fill.
    let stack = Stack::start_with(Knobs::default(), EdgeOptions::default()).await;
    let sid = stack.listed_sid("acme", 2);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                bytes_per_second: 200_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let path = format!("/api/recordings/{sid}/stream");
    // Agent A's click: the download starts, and its probe gets a byte.
    let probe = stack
        .play_as("acme", "agent-a", &sid)
        .header("Range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    let probe_status = probe.status().as_u16();
    assert!(
        [202, 206].contains(&probe_status),
        "the probe: {probe_status}"
    );
    drop(probe);
    // Agent B reads a range while it fills (a listener: no marker).
    let during = stack
        .http
        .get(stack.url(&path))
        .bearer_auth(token_for_agent("acme", "agent-b"))
        .header("Range", "bytes=0-9999")
        .send()
        .await
        .unwrap();
    let during_status = during.status().as_u16();
    let during_bytes = during.bytes().await.unwrap().len();
    stack.wait_status("acme", &sid, "ready", UI).await;
    // Then the whole recording, from R2, and a click on a stored one.
    let whole = stack
        .http
        .get(stack.url(&path))
        .bearer_auth(token_for_agent("acme", "agent-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 200);
    let size = whole.bytes().await.unwrap().len() as u64;
    let again = stack.play_as("acme", "agent-c", &sid).send().await.unwrap();
    assert_eq!(again.status(), 200);
    drop(again);

    let lines = audit_of(&stack, &sid).await;
    let started: Vec<&Value> = lines
        .iter()
        .filter(|l| l["action"] == "download_started")
        .collect();
    assert_eq!(started.len(), 1, "one download, one line: {lines:#?}");
    assert_eq!(started[0]["agent"], "agent-a");
    assert_eq!(started[0]["business"], "acme");
    assert_eq!(started[0]["recording"], 1);
    let probe_ids = request_id_of(&stack, &path, probe_status, Some("bytes=0-0"));
    assert_eq!(
        started[0]["request_id"].as_str(),
        probe_ids.first().map(String::as_str),
        "the click's request"
    );
    let listens: Vec<&Value> = lines.iter().filter(|l| l["action"] == "listen").collect();
    let find = |agent: &str, from: &str, bytes: u64| {
        listens
            .iter()
            .find(|l| l["agent"] == agent && l["from"] == from && l["bytes"] == bytes)
            .copied()
    };
    if probe_status == 206 {
        assert!(
            listens
                .iter()
                .any(|l| l["agent"] == "agent-a" && l["bytes"] == 1),
            "the probe's byte: {listens:#?}"
        );
    }
    if during_status == 206 {
        let line = listens
            .iter()
            .find(|l| {
                l["agent"] == "agent-b"
                    && l["range"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("bytes 0-9999/"))
            })
            .unwrap_or_else(|| panic!("the range read during the fill: {listens:#?}"));
        assert_eq!(line["bytes"], during_bytes as u64);
        assert!(["fill", "r2"].contains(&line["from"].as_str().unwrap()));
    }
    let whole_line = find("agent-b", "r2", size).expect("the whole recording's line");
    assert_eq!(whole_line["status"], 200);
    assert!(
        find("agent-c", "r2", size).is_some(),
        "a click on a stored recording"
    );
    for line in &lines {
        for field in [
            "at",
            "business",
            "call_sid",
            "recording",
            "agent",
            "action",
            "request_id",
        ] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
    }
    // No token, cookie or credential anywhere in the worker's log (every
    // session token starts with the same encoded header, `{"alg":`).
    let log = stack.edge.log();
    for secret in ["eyJhbGci", SESSION_SECRET, ORIGIN_TOKEN, "rec_session="] {
        assert!(!log.contains(secret), "{secret} in the worker's log");
    }
}

/// Twenty agents click one cold call at once: one download, so one
/// `download_started` line, naming the agent whose play started it.
#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_clicks_by_many_agents_is_one_download_started_line() {
    let stack = Stack::start().await;
    let sid = stack.listed_sid("acme", 3);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                latency_ms: 300,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let agents: Vec<String> = (0..20).map(|n| format!("agent-{n}")).collect();
    let plays = agents.iter().map(|agent| {
        stack
            .play_as("acme", agent, &sid)
            .header("Range", "bytes=0-0")
            .send()
    });
    for answer in futures_util::future::join_all(plays).await {
        let status = answer.unwrap().status().as_u16();
        assert!([202, 206].contains(&status), "{status}");
    }
    stack.wait_status("acme", &sid, "ready", UI).await;
    let lines = audit_of(&stack, &sid).await;
    let started: Vec<&Value> = lines
        .iter()
        .filter(|l| l["action"] == "download_started")
        .collect();
    assert_eq!(started.len(), 1, "{started:#?}");
    assert!(agents.iter().any(|a| started[0]["agent"] == a.as_str()));
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}
