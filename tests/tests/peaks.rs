//! A recording's peaks and silences, computed by the edge from
//! its one download and served by `GET /api/recordings/{sid}/peaks`, against
//! the real worker under wrangler dev and the real stub.

use std::time::Duration;

use integration_tests::{bulk_call, origin_bytes, token_for, Stack};
use playback_core::peaks::{Coding, Peaks, PeaksBuilder};
use serde_json::Value;

fn peaks_path(sid: &str) -> String {
    format!("/api/recordings/{sid}/peaks")
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_recording_has_the_peaks_of_its_bytes_and_asking_costs_the_origin_nothing() {
    let stack = Stack::start().await;
    let catalog = stack.origin.stub.catalog().clone();
    let call = catalog
        .listed_calls("acme")
        .find(|c| c.summary.duration_s == 17)
        .unwrap();
    let sid = call.summary.call_sid.to_string();
    // Before the recording is stored: not ready, and nothing is started.
    let r = stack
        .get_as("acme", &peaks_path(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (404, "not_ready".into()));
    assert_eq!(stack.origin.stats().call(&sid).attempts, 0);
    stack.cache("acme", &sid).await;
    stack
        .wait_status("acme", &sid, "ready", Duration::from_secs(60))
        .await;
    let r = stack
        .get_as("acme", &peaks_path(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let peaks: Peaks = r.json().await.unwrap();
    // Exactly what the same bytes give, computed here.
    let mut expected = PeaksBuilder::new();
    expected.push(&origin_bytes(&stack, "acme", &sid));
    assert_eq!(peaks, expected.finish().unwrap());
    assert_eq!(peaks.format.coding, Coding::Pcm16);
    assert_eq!(
        (peaks.format.channels, peaks.format.sample_rate),
        (1, 8_000)
    );
    assert_eq!(peaks.frames, 17 * 8_000);
    assert!(peaks.channels[0].iter().any(|&v| v > 0));
    // The same checks as /status: no session, a bad SID, another business.
    let r = stack
        .http
        .get(stack.url(&peaks_path(&sid)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));
    let r = stack
        .get_as("acme", &peaks_path("CA123"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_call_sid".into()));
    let r = stack
        .get_as("globex", &peaks_path(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (404, "not_ready".into()),
        "nothing of acme's"
    );
    let r = stack
        .http
        .post(stack.url(&peaks_path(&sid)))
        .bearer_auth(token_for("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // One download in all; asking for peaks never reached the origin.
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
    // A recording of one piece (stored by one put) too. Both downloads
    // handed their peaks to the call object with `ready`: none was
    // computed again from R2.
    let small = bulk_call(&stack, "acme", 0);
    stack.cache("acme", &small).await;
    stack
        .wait_status("acme", &small, "ready", Duration::from_secs(60))
        .await;
    let r = stack
        .get_as("acme", &peaks_path(&small))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut expected = PeaksBuilder::new();
    expected.push(&origin_bytes(&stack, "acme", &small));
    assert_eq!(r.json::<Peaks>().await.unwrap(), expected.finish().unwrap());
    // The request's line comes after any line its handling wrote.
    let asked = |l: &Value| {
        l["event"] == "request" && l["path"].as_str() == Some(peaks_path(&small).as_str())
    };
    stack
        .edge
        .wait_log_lines(asked, Duration::from_secs(10))
        .await;
    let computed = stack
        .edge
        .log()
        .lines()
        .filter(|l| l.contains("\"peaks_computed\""))
        .count();
    assert_eq!(computed, 0, "the peaks were stored with the recording");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hours_peaks_are_compact_and_its_tones_leave_no_silence() {
    let stack = Stack::start().await;
    let sid = stack
        .origin
        .stub
        .catalog()
        .longest()
        .summary
        .call_sid
        .to_string();
    stack.cache("acme", &sid).await;
    stack
        .wait_status("acme", &sid, "ready", Duration::from_secs(120))
        .await;
    let r = stack
        .get_as("acme", &peaks_path(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert!(body.len() <= 64 * 1024, "{} bytes before gzip", body.len());
    let peaks: Peaks = serde_json::from_slice(&body).unwrap();
    assert_eq!(peaks.frames, 3_600 * 8_000);
    let buckets = peaks.channels[0].len();
    assert!((4_000..=8_000).contains(&buckets), "{buckets} buckets");
    assert!(peaks.silences.is_empty(), "tones all the way");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_stored_without_peaks_gets_them_from_r2_once() {
    // A body without a length is stored without peaks (as recordings
    // stored before the edge computed them are): the first asks compute
    // them from R2, once however many ask at the same time.
    let knobs = backend_stub::knobs::Knobs {
        all: backend_stub::knobs::FaultSet {
            chunked: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let stack = Stack::start_with(knobs, Default::default()).await;
    let sid = stack
        .origin
        .stub
        .catalog()
        .listed_calls("globex")
        .find(|c| c.summary.duration_s == 61)
        .unwrap()
        .summary
        .call_sid
        .to_string();
    stack.cache("globex", &sid).await;
    stack
        .wait_status("globex", &sid, "ready", Duration::from_secs(60))
        .await;
    let asks = (0..8).map(|_| stack.get_as("globex", &peaks_path(&sid)).send());
    let answers = futures_util::future::join_all(asks).await;
    let mut expected = PeaksBuilder::new();
    expected.push(&origin_bytes(&stack, "globex", &sid));
    let expected = expected.finish().unwrap();
    for r in answers {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Peaks>().await.unwrap(), expected);
    }
    let again = stack
        .get_as("globex", &peaks_path(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Peaks>().await.unwrap(), expected);
    let computed = stack
        .edge
        .log()
        .lines()
        .filter(|l| l.contains("\"peaks_computed\"") && l.contains(&sid))
        .count();
    assert_eq!(computed, 1, "computed once");
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_whose_header_lies_is_stored_byte_for_byte_with_no_peaks() {
    // The worker is wasm32: its offsets are 32 bits and a release build does
    // not trap on overflow, so a chunk length that wraps an offset back to
    // an earlier chunk must neither hang the call object nor (in a `fmt `
    // chunk) panic it. Both ways of computing peaks are asked: during the
    // fill (a body with a length) and later from R2 (a chunked body).
    use backend_stub::knobs::{FaultSet, Knobs};
    let stack = Stack::start().await;
    let catalog = stack.origin.stub.catalog().clone();
    let mut calls = catalog
        .listed_calls("acme")
        .filter(|c| c.summary.duration_s > 5)
        .map(|c| c.summary.call_sid.to_string());
    let (sized, chunked) = (calls.next().unwrap(), calls.next().unwrap());
    let lying = FaultSet {
        lying_header: true,
        ..Default::default()
    };
    stack.origin.stub.set_knobs(Knobs {
        calls: [
            (sized.clone(), lying.clone()),
            (
                chunked.clone(),
                FaultSet {
                    chunked: true,
                    ..lying
                },
            ),
        ]
        .into(),
        ..Default::default()
    });
    for sid in [&sized, &chunked] {
        let expected = catalog
            .find("acme", sid)
            .unwrap()
            .recording
            .with_lying_header()
            .to_vec();
        assert_eq!(&expected[36..40], b"JUNK");
        let served = stack.cache("acme", sid).await;
        assert!(served == expected, "{sid}: stored and served as sent");
        stack
            .wait_status("acme", sid, "ready", Duration::from_secs(60))
            .await;
        let r = stack.get_as("acme", &peaks_path(sid)).send().await.unwrap();
        assert_eq!(error_of(r).await, (404, "no_peaks".into()), "{sid}");
        // Asked again: the object answers (its thread came back).
        let r = stack.get_as("acme", &peaks_path(sid)).send().await.unwrap();
        assert_eq!(error_of(r).await, (404, "no_peaks".into()), "{sid}");
        assert_eq!(stack.origin.stats().call(sid).attempts, 1, "{sid}");
    }
}
