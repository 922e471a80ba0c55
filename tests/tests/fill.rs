//! Read-while-write: a cold play is served from its one download while it
//! runs. Every fill here is the quarter-hour demo call (14.4 MB)
//! from an origin that sends 4 MB/s, so a fill lasts about 3.6 s and
//! "during the fill" is an ordering the origin's own counters show (its
//! body not yet completed), never a timing guess; the last test is a
//! recording that fits in one piece, which is not filled.

use std::time::{Duration, Instant};

use backend_stub::knobs::{FaultSet, Knobs};
use futures_util::future::join_all;
use futures_util::StreamExt;
use integration_tests::{sha256_hex, EdgeOptions, Kind, Stack, LOG_TIMEOUT};

const READY: Duration = Duration::from_secs(90);
const RATE: u64 = 4_000_000;
/// An origin a quarter of that fast: a fill of about 14 s, for the tests
/// whose verdict needs it still running after a step of their own.
const SLOW_RATE: u64 = 1_000_000;
const BUSINESS: &str = "hooli";

fn paced(latency_ms: u64) -> FaultSet {
    FaultSet {
        latency_ms,
        bytes_per_second: RATE,
        ..Default::default()
    }
}

async fn stack_with(kind: Kind, faults: FaultSet) -> Stack {
    let knobs = Knobs {
        all: faults,
        ..Default::default()
    };
    Stack::start_kind(kind, knobs, EdgeOptions::default()).await
}

/// The quarter-hour call: its SID and its bytes.
fn quarter_hour(stack: &Stack) -> (String, Vec<u8>) {
    let call = stack
        .origin
        .stub
        .catalog()
        .all_calls(BUSINESS)
        .find(|c| c.summary.duration_s == 900)
        .expect("the quarter-hour call")
        .clone();
    (call.summary.call_sid.to_string(), call.recording.to_vec())
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// A request of the media element (or any reader): the stream endpoint,
/// without the user-action marker.
fn listener(stack: &Stack, sid: &str) -> reqwest::RequestBuilder {
    stack.get_as(BUSINESS, &format!("/api/recordings/{sid}/stream"))
}

/// A response's body, or the error that broke it off.
async fn body_of(r: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    r.bytes().await.map(|b| b.to_vec())
}

/// `got` and the rest of `body`.
async fn read_on<B: AsRef<[u8]>>(
    mut got: Vec<u8>,
    mut body: impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin,
) -> Vec<u8> {
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(chunk.unwrap().as_ref());
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn every_listener_during_one_fill_gets_exact_bytes_from_one_origin_download() {
    every_listener_during_one_fill(Kind::Generic).await
}

/// Ranges and seeks during the fill, with the recording fetched from
/// Twilio's media.
#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_every_listener_during_one_fill_gets_exact_bytes_from_one_origin_download() {
    every_listener_during_one_fill(Kind::Twilio).await
}

async fn every_listener_during_one_fill(kind: Kind) {
    let stack = stack_with(kind, paced(300)).await;
    let (sid, want) = quarter_hour(&stack);
    let size = want.len() as u64;

    let clicked = Instant::now();
    let first = stack.play(BUSINESS, &sid).send().await.unwrap();
    let headers_after = clicked.elapsed();
    assert_eq!(first.status(), 200, "{}", stack.edge.log_tail());
    assert_eq!(header(&first, "content-length"), size.to_string());
    assert_eq!(header(&first, "accept-ranges"), "bytes");
    let etag = header(&first, "etag");
    assert!(etag.starts_with('"'), "a strong validator: {etag}");
    let mut first_body = first.bytes_stream();
    let first_chunk = first_body.next().await.unwrap().unwrap();
    let first_byte_after = clicked.elapsed();
    assert_eq!(
        stack.origin.stats().call(&stack.media_key(&sid)).completed,
        0,
        "the first bytes came before the origin's body ended: served from the fill"
    );

    // While the fill runs: the status says playable, and every kind of listener is served.
    let status = stack.status(BUSINESS, &sid).await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["size"], size);
    let ranges: [(u64, u64); 4] = [
        (0, 999),                   // behind the fill
        (size - 100_000, size - 1), // ahead of it: the last bytes
        (7_000_000, size - 1),      // a seek into the middle, to the end
        (65_530, 65_540),           // across the first pieces' boundary
    ];
    let ranged = ranges.iter().map(|&(a, b)| {
        listener(&stack, &sid)
            .header("Range", format!("bytes={a}-{b}"))
            .send()
    });
    let whole_other_agent = stack.play_as(BUSINESS, "agent-2", &sid).send();
    let whole_media_element = listener(&stack, &sid).send();
    let (ranged, other, media) =
        tokio::join!(join_all(ranged), whole_other_agent, whole_media_element);
    for (r, &(a, b)) in ranged.into_iter().zip(&ranges) {
        let r = r.unwrap();
        assert_eq!(r.status(), 206, "bytes={a}-{b}");
        assert_eq!(header(&r, "content-range"), format!("bytes {a}-{b}/{size}"));
        assert_eq!(header(&r, "etag"), etag);
        let got = body_of(r).await.unwrap();
        assert!(
            got == want[a as usize..=b as usize],
            "bytes={a}-{b}: wrong bytes"
        );
    }
    for r in [other.unwrap(), media.unwrap()] {
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "etag"), etag);
        assert_eq!(sha256_hex(&body_of(r).await.unwrap()), sha256_hex(&want));
    }
    let got = read_on(first_chunk.to_vec(), first_body).await;
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&want),
        "the first clicker's bytes"
    );
    let fill_done = clicked.elapsed();

    stack.wait_status(BUSINESS, &sid, "ready", READY).await;
    let origin = stack.origin.stats().call(&stack.media_key(&sid));
    assert_eq!(origin.attempts, 1, "one origin download for every listener");
    // The validator stays across the fill's end: If-Range still holds.
    let r = listener(&stack, &sid)
        .header("Range", "bytes=100-199")
        .header("If-Range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        206,
        "If-Range with the fill's validator, once stored"
    );
    assert_eq!(header(&r, "etag"), etag);
    assert!(body_of(r).await.unwrap() == want[100..200]);
    println!(
        "quarter-hour at {RATE} B/s, 300 ms origin latency: headers {headers_after:?}, \
         first bytes {first_byte_after:?}, whole body {fill_done:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_listener_never_slows_the_fill_or_a_fast_one_and_a_gone_one_never_stops_it() {
    let stack = stack_with(Kind::Generic, paced(0)).await;
    let (sid, want) = quarter_hour(&stack);
    let first = stack.play(BUSINESS, &sid).send().await.unwrap();
    assert_eq!(first.status(), 200);
    // The first clicker hangs up after its first bytes.
    let mut gone = first.bytes_stream();
    gone.next().await.unwrap().unwrap();
    drop(gone);
    // A slow listener takes its first bytes, then reads nothing more...
    let slow = listener(&stack, &sid).send().await.unwrap();
    assert_eq!(slow.status(), 200);
    let mut slow = slow.bytes_stream();
    let slow_got = slow.next().await.unwrap().unwrap().to_vec();
    // ...while a fast one reads everything and the fill ends.
    let fast = listener(&stack, &sid).send().await.unwrap();
    assert_eq!(sha256_hex(&body_of(fast).await.unwrap()), sha256_hex(&want));
    stack.wait_status(BUSINESS, &sid, "ready", READY).await;
    let origin = stack.origin.stats().call(&sid);
    assert_eq!(
        (origin.attempts, origin.completed),
        (1, 1),
        "the fill ended with the slow listener still at its start"
    );
    assert!(
        slow_got.len() < want.len() / 2,
        "the slow listener was still near its start"
    );
    let slow_got = read_on(slow_got, slow).await;
    assert_eq!(
        sha256_hex(&slow_got),
        sha256_hex(&want),
        "the slow listener"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_cut_mid_fill_aborts_its_listeners_and_the_retry_stores_the_same_bytes() {
    // The cut attempt is slow (its half takes 7 s), so the tail listener
    // below asks during its fill on any machine; the retry is not.
    let stack = stack_with(
        Kind::Generic,
        FaultSet {
            truncate_first: 1,
            bytes_per_second: SLOW_RATE,
            ..paced(0)
        },
    )
    .await;
    let (sid, want) = quarter_hour(&stack);
    let first = stack.play(BUSINESS, &sid).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = header(&first, "etag");
    let tail = listener(&stack, &sid)
        .header("Range", format!("bytes={}-", want.len() - 1000))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    // The origin breaks off at half: both responses end aborted, never short and clean.
    let cut = body_of(first).await;
    assert!(cut.is_err(), "a clean end short of the length");
    assert!(
        body_of(tail).await.is_err(),
        "the tail listener was not aborted"
    );
    stack.origin.stub.set_knobs(Knobs {
        all: FaultSet {
            truncate_first: 1,
            ..paced(0)
        },
        ..Default::default()
    });
    // The retry (no click needed) stores the origin's bytes, under the same validator.
    stack.wait_status(BUSINESS, &sid, "ready", READY).await;
    let r = listener(&stack, &sid).send().await.unwrap();
    assert_eq!(
        header(&r, "etag"),
        etag,
        "the same bytes keep their validator"
    );
    assert_eq!(sha256_hex(&body_of(r).await.unwrap()), sha256_hex(&want));
    assert_eq!(stack.origin.stats().call(&sid).attempts, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_fill_aborts_its_listeners_and_the_restart_completes() {
    // A fill of 14 s: the kill below comes mid-fill on any machine.
    let mut stack = stack_with(
        Kind::Generic,
        FaultSet {
            bytes_per_second: SLOW_RATE,
            ..paced(0)
        },
    )
    .await;
    let (sid, want) = quarter_hour(&stack);
    let first = stack.play(BUSINESS, &sid).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let mut body = first.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(stack.origin.stats().call(&sid).completed, 0, "mid-fill");
    stack.edge.kill();
    stack.origin.stub.set_knobs(Knobs {
        all: paced(0),
        ..Default::default()
    });
    let mut broke = false;
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            broke = true;
            break;
        }
    }
    assert!(
        broke,
        "the listener's response ended cleanly while its worker died"
    );
    stack.edge.restart().await;
    // The restarted worker resumes the download by itself; a play meanwhile
    // is served from the new fill or from the stored recording.
    let again = stack.play(BUSINESS, &sid).send().await.unwrap();
    assert!(matches!(again.status().as_u16(), 200 | 202));
    if again.status() == 200 {
        assert_eq!(
            sha256_hex(&body_of(again).await.unwrap()),
            sha256_hex(&want)
        );
    }
    stack.wait_status(BUSINESS, &sid, "ready", READY).await;
    let r = listener(&stack, &sid).send().await.unwrap();
    assert_eq!(sha256_hex(&body_of(r).await.unwrap()), sha256_hex(&want));
    assert_eq!(stack.origin.stats().call(&sid).attempts, 2);
}

/// Waits until the local bucket's keys are `want` (a delete that follows
/// a state change may land just after the change is visible).
async fn wait_r2_keys(stack: &Stack, want: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = stack.edge.r2_keys();
        if keys == want || Instant::now() > deadline {
            return keys;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fill_that_fails_for_good_leaves_no_piece_behind() {
    let knobs = Knobs {
        all: FaultSet {
            truncate_first: 1,
            ..paced(0)
        },
        ..Default::default()
    };
    // One attempt only: no retry comes to clear what the failed fill left.
    let stack = Stack::start_with(knobs, EdgeOptions::default().var("MAX_ATTEMPTS", 1)).await;
    let (sid, _) = quarter_hour(&stack);
    let first = stack.play(BUSINESS, &sid).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        body_of(first).await.is_err(),
        "a clean end short of the length"
    );
    stack.wait_status(BUSINESS, &sid, "failed", READY).await;
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
    assert_eq!(
        wait_r2_keys(&stack, &[]).await,
        Vec::<String>::new(),
        "the failed fill's pieces are still in R2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_that_fits_in_one_piece_is_written_once_even_after_a_cut() {
    let knobs = Knobs {
        all: FaultSet {
            truncate_first: 1,
            ..paced(300)
        },
        ..Default::default()
    };
    let stack = Stack::start_with(knobs, EdgeOptions::default()).await;
    let call = stack
        .origin
        .stub
        .catalog()
        .all_calls(BUSINESS)
        .find(|c| c.bulk)
        .expect("a short bulk call")
        .clone();
    let (sid, want) = (call.summary.call_sid.to_string(), call.recording.to_vec());
    assert!(want.len() as u64 <= playback_core::fill::FIRST_PIECE_BYTES);
    // The first attempt is cut; the held play is answered by the retry (or,
    // when the retry outlasts the play's hold on a loaded machine, with a
    // 202, and the recording is played once stored).
    let r = stack.play(BUSINESS, &sid).send().await.unwrap();
    let first = r.status().as_u16();
    let body = if first == 200 {
        body_of(r).await.unwrap()
    } else {
        assert_eq!(first, 202);
        stack.cache(BUSINESS, &sid).await
    };
    assert_eq!(sha256_hex(&body), sha256_hex(&want));
    assert_eq!(stack.origin.stats().call(&sid).attempts, 2);
    // Answered once stored, never from a fill; R2 holds the recording (its
    // peaks are its call object's), and nothing of the cut attempt.
    let answered = |l: &serde_json::Value| {
        l["event"] == "request"
            && l["path"].as_str().is_some_and(|p| p.contains(&sid))
            && l.get("play").is_some_and(|p| !p.is_null())
    };
    stack.log_barrier().await;
    let answers: Vec<serde_json::Value> = stack
        .edge
        .wait_log_lines(answered, LOG_TIMEOUT)
        .await
        .into_iter()
        .map(|l| l["play"].clone())
        .collect();
    if first == 200 {
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(answers[0]["answer"], "ready", "{answers:?}");
    } else {
        assert!(
            answers.iter().all(|a| a["answer"] != "filling"),
            "{answers:?}"
        );
    }
    let stored = [format!("recordings/{BUSINESS}/{sid}")];
    assert_eq!(wait_r2_keys(&stack, &stored).await, stored);
}

/// Safari's User-Agent (macOS 15, Safari 18), as its media requests carry it.
const SAFARI_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

/// Safari's media element, replayed request by request, as the media
/// element of a page that already clicked (no user-action marker).
///
/// What WebKit sends, and the sources:
/// - first `Range: bytes=0-1`: WebKit/WebKit pull request #73126 (commit
///   d955a81), "Cocoa WebKit media engine is making a first request with a
///   byte 0-1 range" (the requests are CoreMedia's, passed on by
///   `Source/WebCore/platform/network/cocoa/WebCoreNSURLSession.mm`);
/// - then the whole file, reported both as `bytes=0-`
///   (iv-org/invidious-companion pull request #386) and as `bytes=0-{last}`
///   (AVPlayer request logs), left once it has enough to play;
/// - then ranges for seeks: bounded, open-ended, and by suffix
///   (`bytes=-N`, for an index at a file's end: Overdrive-release #257);
/// - `X-Playback-Session-Id` on every request (Apple's documentation of
///   `AVURLAsset.httpSessionIdentifier`), `Accept-Encoding: identity`.
///
/// What it refuses: media not answered 206 with an exact `Content-Range`
/// and `Content-Length` ("HTTP servers hosting media files for iOS must
/// support byte-range requests": Apple's Safari Web Content Guide,
/// "Configuring Your Server"; an inexact range makes it ask again and again
/// or fail: kiwix/kiwix-apple #489, kemalcr/kemal #405). (Current WebKit
/// turns a 200 to a closed range into a 206 itself, in
/// `RangeResponseGenerator.mm`; the edge does not lean on it.)
/// Returns how many origin downloads of it had completed once every
/// answer's head had come (0: all were answered during the fill).
async fn replay_safari(stack: &Stack, sid: &str, want: &[u8]) -> u32 {
    let size = want.len() as u64;
    let last = size - 1;
    let ask = |range: &str| {
        listener(stack, sid)
            .header("Range", range)
            .header(
                "X-Playback-Session-Id",
                "6A4F3F50-3C55-4D0C-9C1A-3E8E2D7B1C11",
            )
            .header("Accept-Encoding", "identity")
            .header("Accept", "*/*")
            .header("User-Agent", SAFARI_UA)
            .send()
    };
    let exact = |r: &reqwest::Response, range: &str, a: u64, b: u64| {
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            header(r, "content-range"),
            format!("bytes {a}-{b}/{size}"),
            "{range}"
        );
        assert_eq!(
            header(r, "content-length"),
            (b - a + 1).to_string(),
            "{range}"
        );
        assert_eq!(header(r, "accept-ranges"), "bytes", "{range}");
        assert!(header(r, "content-type").starts_with("audio/"), "{range}");
    };
    // Each request in Safari's order, its answer's head checked as it
    // comes (during a fill, at once: the length and range are known); the
    // bodies read after the last head.
    let middle = size / 2;
    let sequence = [
        ("bytes=0-1".to_string(), 0, 1),
        // The whole file, left after its first bytes.
        ("bytes=0-".to_string(), 0, last),
        // Seeks: bounded, open-ended, by suffix, the last byte.
        (
            format!("bytes={middle}-{}", middle + 999_999),
            middle,
            middle + 999_999,
        ),
        (format!("bytes={middle}-"), middle, last),
        ("bytes=-1024".to_string(), size - 1024, last),
        (format!("bytes={last}-{last}"), last, last),
        // The whole file, read to the end.
        (format!("bytes=0-{last}"), 0, last),
    ];
    let mut answers = Vec::new();
    for (range, a, b) in sequence {
        let r = ask(&range).await.unwrap();
        exact(&r, &range, a, b);
        answers.push((range, a, b, r));
    }
    // Past the end: 416 with the size.
    let r = ask(&format!("bytes={size}-")).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "content-range"), format!("bytes */{size}"));
    let heads_answered = stack.origin.stats().call(&stack.media_key(sid)).completed;
    for (range, a, b, r) in answers {
        if range == "bytes=0-" {
            let mut body = r.bytes_stream();
            let chunk = body.next().await.unwrap().unwrap();
            assert!(want.starts_with(&chunk), "bytes=0-: wrong first bytes");
            continue;
        }
        let got = body_of(r).await.unwrap();
        assert!(got == want[a as usize..=b as usize], "{range}: wrong bytes");
    }
    heads_answered
}

#[tokio::test(flavor = "multi_thread")]
async fn safaris_media_requests_get_exact_ranges_during_the_fill_and_from_storage() {
    safaris_media_requests(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_safaris_media_requests_get_exact_ranges_during_the_fill_and_from_storage() {
    safaris_media_requests(Kind::Twilio).await
}

/// Safari's sequence while the quarter-hour call fills (from the slow
/// origin: begun well before the origin's body ends), then against the
/// stored copy.
async fn safaris_media_requests(kind: Kind) {
    let slow = FaultSet {
        latency_ms: 300,
        bytes_per_second: SLOW_RATE,
        ..Default::default()
    };
    let stack = stack_with(kind, slow).await;
    let (sid, want) = quarter_hour(&stack);
    // The click's probe starts the download.
    let probe = stack
        .play(BUSINESS, &sid)
        .header("Range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    assert!(
        probe.status() == 206 || probe.status() == 202,
        "the probe: {}",
        probe.status()
    );
    // Playable from the fill once the status says ready (filling or not).
    let deadline = Instant::now() + READY;
    while stack.status(BUSINESS, &sid).await["status"] != "ready" {
        assert!(Instant::now() < deadline, "never playable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        replay_safari(&stack, &sid, &want).await,
        0,
        "the fill ended before every request was answered: not a replay during the fill"
    );
    // Once stored.
    stack.wait_status(BUSINESS, &sid, "ready", READY).await;
    replay_safari(&stack, &sid, &want).await;
    assert_eq!(
        stack.origin.stats().call(&stack.media_key(&sid)).attempts,
        1,
        "one origin download for both replays"
    );
}
