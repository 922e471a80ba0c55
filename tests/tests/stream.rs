//! The stream endpoint's request path and serving recordings from R2,
//! against the real worker under wrangler dev and the real stub.

use std::time::Duration;

use backend_stub::knobs::Knobs;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::{
    now_s, origin_bytes, sha256_hex, token_for, EdgeOptions, Kind, Stack, SESSION_SECRET,
};
use playback_core::session::{sign, Claims};
use playback_core::BusinessId;
use serde_json::Value;

fn listed_call(stack: &Stack, business: &str, n: usize) -> String {
    stack
        .origin
        .stub
        .catalog()
        .listed_calls(business)
        .nth(n)
        .unwrap()
        .summary
        .call_sid
        .to_string()
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
async fn refusals_come_in_the_contract_order_and_touch_nothing() {
    let stack = Stack::start().await;
    let sid = listed_call(&stack, "acme", 0);
    let stream = |sid: &str| stack.url(&format!("/api/recordings/{sid}/stream"));
    let claims = |exp| Claims::new(BusinessId::parse("acme").unwrap(), "x", exp);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now_s() + 60)).unwrap());
    let bad_tokens = [
        sign(&claims(now_s() + 60), b"wrong"),
        sign(
            &claims(now_s().saturating_sub(5)),
            SESSION_SECRET.as_bytes(),
        ),
        format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#)
        ),
        "x.y.z".into(),
    ];
    // 1. token: before anything else, even with a bad SID and no user action.
    assert_eq!(
        error_of(stack.http.get(stream("bad")).send().await.unwrap()).await,
        (401, "unauthorized".into())
    );
    for t in &bad_tokens {
        let r = stack
            .http
            .get(stream(&sid))
            .bearer_auth(t)
            .header("X-User-Action", "play")
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await, (401, "unauthorized".into()), "{t}");
    }
    // 2. call SID, before the user action.
    for bad in [
        "bad",
        "CA123",
        &format!("CA{}", "g".repeat(32)),
        &format!("{sid}0"),
        &sid.to_lowercase(),
    ] {
        let r = stack
            .get_as("acme", &format!("/api/recordings/{bad}/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await, (400, "invalid_call_sid".into()), "{bad}");
        let r = stack
            .get_as("acme", &format!("/api/recordings/{bad}/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await, (400, "invalid_call_sid".into()), "{bad}");
    }
    // 3. the user action.
    for (header, query) in [
        (None, ""),
        (Some("pause"), ""),
        (None, "?explicit_user_action=false"),
        (None, "?explicit_user_action=1"),
    ] {
        let mut req = stack
            .http
            .get(format!("{}{query}", stream(&sid)))
            .bearer_auth(token_for("acme"));
        if let Some(h) = header {
            req = req.header("X-User-Action", h);
        }
        assert_eq!(
            error_of(req.send().await.unwrap()).await,
            (400, "missing_user_action".into())
        );
    }
    assert_eq!(
        stack.origin.stats().total_attempts(),
        0,
        "a refused request reached the origin"
    );
    assert_eq!(
        stack.status("acme", &sid).await["status"],
        "none",
        "a refused request changed the state"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_recordings_are_served_whole_ranged_conditional_and_by_head() {
    cached_recordings_are_served(Kind::Generic).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_cached_recordings_are_served_whole_ranged_conditional_and_by_head() {
    cached_recordings_are_served(Kind::Twilio).await
}

async fn cached_recordings_are_served(kind: Kind) {
    let stack = Stack::start_kind(kind, Knobs::default(), EdgeOptions::default()).await;
    // A short call (with Twilio, one with one recording).
    let sid = listed_call(&stack, "acme", if kind == Kind::Twilio { 0 } else { 2 });
    let expected = origin_bytes(&stack, "acme", &sid);
    let size = expected.len() as u64;
    let body = stack.cache("acme", &sid).await;
    assert_eq!(sha256_hex(&body), sha256_hex(&expected));

    // 200, with the cookie instead of the header and the query instead of X-User-Action.
    let url = stack.url(&format!(
        "/api/recordings/{sid}/stream?explicit_user_action=true"
    ));
    let r = stack
        .http
        .get(&url)
        .header("Cookie", format!("rec_session={}", token_for("acme")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "audio/wav");
    assert_eq!(h["content-length"], size.to_string());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["cache-control"], "private");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().await.unwrap().to_vec(), expected);
    let get = |range: Option<&str>| {
        let mut req = stack.play("acme", &sid);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        req
    };

    // 206 for each form, with the exact bytes.
    for (range, first, last) in [
        ("bytes=0-0", 0, 0),
        ("bytes=100-1099", 100, 1099),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-500", size - 500, size - 1),
        ("bytes=-999999999", 0, size - 1),
        ("bytes=10-999999999", 10, size - 1),
    ] {
        let r = get(Some(range)).send().await.unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {first}-{last}/{size}"),
            "{range}"
        );
        assert_eq!(
            r.headers()["content-length"],
            (last - first + 1).to_string(),
            "{range}"
        );
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            expected[first as usize..=last as usize].to_vec(),
            "{range}"
        );
    }
    // The media element's loads and seeks carry no marker: stored bytes are
    // served without one (only a miss needs it, as it may start a download).
    let unmarked = stack.get_as("acme", &format!("/api/recordings/{sid}/stream"));
    let r = unmarked
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206, "a cached recording without the marker");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        expected[100..200].to_vec()
    );
    // 416 for unsatisfiable ranges.
    for range in [
        format!("bytes={size}-"),
        "bytes=-0".into(),
        "bytes=99999999999999999999999-".into(),
    ] {
        let r = get(Some(&range)).send().await.unwrap();
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(r.headers()["content-range"], format!("bytes */{size}"));
    }
    // Malformed and multi-range headers: the whole body with 200 (documented choice).
    for range in ["bytes=5-1", "bytes=0-1,5-6", "lines=1-2", "bytes=abc"] {
        let r = get(Some(range)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(r.bytes().await.unwrap().len() as u64, size);
    }
    // 304 for a matching If-None-Match.
    let r = get(None)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    let r = get(None)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // If-Range: the same ETag keeps the range, another one gets the whole body.
    let r = get(Some("bytes=0-9"))
        .header("If-Range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let r = get(Some("bytes=0-9"))
        .header("If-Range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len() as u64, size);
    // HEAD: the headers of a GET, no body.
    let r = stack
        .http
        .head(stack.url(&format!("/api/recordings/{sid}/stream")))
        .bearer_auth(token_for("acme"))
        .header("X-User-Action", "play")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], size.to_string());
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    let r = stack
        .http
        .head(stack.url(&format!("/api/recordings/{sid}/stream")))
        .bearer_auth(token_for("acme"))
        .header("X-User-Action", "play")
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 0-9/{size}"));

    // Status says ready; all of this took exactly one origin download.
    assert_eq!(stack.status("acme", &sid).await["status"], "ready");
    assert_eq!(
        stack.origin.stats().call(&stack.media_key(&sid)).attempts,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_is_an_attachment_named_for_the_call_and_a_bad_name_asks_nothing() {
    let stack = Stack::start().await;
    let catalog = stack.origin.stub.catalog();
    let cached = catalog.listed_calls("acme").nth(2).unwrap().clone();
    let cold = listed_call(&stack, "acme", 3);
    let sid = cached.summary.call_sid.to_string();
    let bytes = stack.cache("acme", &sid).await;
    let name = playback_core::bar::download_name(&cached.summary);
    let path = playback_core::bar::download_path(&cached.summary, 1);
    assert!(path.contains(&format!("/api/recordings/{sid}/stream?")));

    let r = stack.get_as("acme", &path).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{name}.wav\"").as_str()
    );
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), sha256_hex(&bytes));
    let r = stack
        .get_as("acme", &path)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.headers().contains_key("content-disposition"));
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[10..20]);
    // Without the parameter, no attachment.
    let r = stack
        .get_as("acme", &format!("/api/recordings/{sid}/stream"))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("content-disposition"));

    let attempts = stack.origin.stats().total_attempts();
    for bad in [
        "download=",
        "download=a%22b",
        "download=..%2Fx",
        "download=a%0d%0aSet-Cookie:%20x",
        "download=a&download=b",
        "download=%E2%82%AC",
    ] {
        for target in [&sid, &cold] {
            let r = stack
                .get_as(
                    "acme",
                    &format!("/api/recordings/{target}/stream?explicit_user_action=true&{bad}"),
                )
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("bad_query")),
                "{bad}"
            );
            assert_eq!(body["detail"], "download", "{bad}");
        }
    }
    assert_eq!(
        stack.origin.stats().total_attempts(),
        attempts,
        "a refused download asked the origin"
    );
    // A good name on a call not stored yet is a click like any other.
    let r = stack
        .get_as(
            "acme",
            &format!("/api/recordings/{cold}/stream?explicit_user_action=true&download=x"),
        )
        .send()
        .await
        .unwrap();
    assert!([200, 202].contains(&r.status().as_u16()), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_business_token_gets_404_never_the_bytes() {
    let stack = Stack::start().await;
    let sid = listed_call(&stack, "acme", 0);
    stack.cache("acme", &sid).await;
    let lists_before = stack.origin.stats().list_requests;
    let r = stack.play("globex", &sid).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "not_found".into()));
    // Asked again: still 404. Globex's call list does not have it, so
    // nothing is stored and its recording is never asked for on globex's behalf.
    let r = stack.play("globex", &sid).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(stack.status("globex", &sid).await["status"], "none");
    let lists = stack.origin.stats().list_requests - lists_before;
    assert!((1..=2).contains(&lists), "{lists} reads of globex's list");
    assert_eq!(
        stack.origin.stats().call(&sid).attempts,
        1,
        "only acme's download"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_long_recording_streams_whole_and_ranged_with_flat_memory() {
    let stack = Stack::start().await;
    let long = stack.origin.stub.catalog().longest().clone();
    let (business, sid) = (long.business, long.summary.call_sid.to_string());
    let size = long.recording.len();
    assert!(size >= 50_000_000);
    // Cache it (the download streams origin → R2 inside the worker).
    let first = stack.play(business, &sid).send().await.unwrap();
    assert!(matches!(first.status().as_u16(), 200 | 202));
    drop(first);
    stack
        .wait_status(business, &sid, "ready", Duration::from_secs(120))
        .await;

    let rss = || stack.edge.workerd_rss_kib();
    let before = rss();
    assert!(before > 0, "no workerd process found");
    let mut peak = before;
    // Whole, read in chunks and hashed as it arrives; memory sampled while streaming.
    use futures_util::StreamExt;
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut expected = Sha256::new();
    let r = stack.play(business, &sid).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], size.to_string());
    let mut body = r.bytes_stream();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut next_sample = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        hasher.update(&chunk);
        received += chunk.len() as u64;
        if received >= next_sample {
            peak = peak.max(rss());
            next_sample += 4 << 20;
        }
    }
    assert_eq!(received, size);
    let mut offset = 0;
    while offset < size {
        let n = long.recording.read_at(offset, &mut buf);
        expected.update(&buf[..n]);
        offset += n as u64;
    }
    assert_eq!(
        hasher.finalize(),
        expected.finalize(),
        "streamed bytes differ from the origin's"
    );
    // A range deep inside, and the last bytes.
    let r = stack
        .play(business, &sid)
        .header("Range", "bytes=40000000-40000999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let got = r.bytes().await.unwrap();
    let mut want = vec![0u8; 1000];
    long.recording.read_at(40_000_000, &mut want);
    assert_eq!(got.to_vec(), want);
    let growth_mib = peak.saturating_sub(before) / 1024;
    println!(
        "workerd RSS before {} MiB, peak while streaming {} MiB ({} MiB growth for a {} MiB body)",
        before / 1024,
        peak / 1024,
        growth_mib,
        size >> 20
    );
    assert!(
        growth_mib < 40,
        "workerd grew by {growth_mib} MiB while streaming a {} MiB body",
        size >> 20
    );
}

/// A small deterministic generator, so a failing case can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_malformed_requests_get_no_5xx_and_reach_no_origin() {
    let stack = Stack::start().await;
    let sid = listed_call(&stack, "acme", 1);
    let good = token_for("acme");
    let mut rng = Lcg(0x5eed);
    let paths = [
        "/api/recordings/{sid}/stream",
        "/api/recordings/{sid}/status",
        "/api/recordings/%00/stream",
        "/api/recordings/{sid}%2F../stream",
        "/api/recordings/../../etc/passwd",
        "/api/recordings/{sid}/stream/",
        "/api//recordings",
        "/api/calls?x=%ZZ",
        "/api/recordings/",
        "/api/recordings/CA%20{sid}/stream",
        "/api/recordings/{sid}/stream?explicit_user_action=true&explicit_user_action=false",
        "/api/recordings/ＣＡ{sid}/stream",
        "/api/recordings/{sid}{sid}/stream",
        "/api/\u{1F600}",
        "/healthz?%%%",
        "/dev/login?business=%FF",
        "/dev/login",
        "/dev/login?business=",
        "/api/recordings/{sid}/stream?download=%22%0d%0aSet-Cookie:x",
        "/api/recordings/{sid}/stream?explicit_user_action=true&download=a&download=b",
        "/api/recordings/{sid}/stream?download=",
    ];
    let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    let auths = [
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a.b.c",
        "Bearer ....",
        "bearer GOOD",
        "Bearer GOOD",
        "Bearer GOOD GOOD",
    ];
    let ranges = [
        "",
        "bytes=",
        "bytes=-",
        "bytes=1-0",
        "bytes=0-1,2-3",
        "bytes=99999999999999999999999-1",
        "bytes=\u{0}",
        "garbage",
    ];
    let actions = ["", "play", "PLAY", "pl ay", "\u{7f}"];
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let path = rng.pick(&paths).replace("{sid}", &sid);
        let method = reqwest::Method::from_bytes(rng.pick(&methods).as_bytes()).unwrap();
        let mut req = stack.http.request(method, stack.url(&path));
        let auth = rng.pick(&auths).replace("GOOD", &good);
        if !auth.is_empty() {
            req = req.header("Authorization", auth);
        }
        let range = rng.pick(&ranges);
        if !range.is_empty() {
            if let Ok(v) = reqwest::header::HeaderValue::from_bytes(range.as_bytes()) {
                req = req.header("Range", v);
            }
        }
        let action = rng.pick(&actions);
        if let Ok(v) = reqwest::header::HeaderValue::from_bytes(action.as_bytes()) {
            req = req.header("X-User-Action", v);
        }
        if rng.next().is_multiple_of(4) {
            req = req.header("Cookie", "rec_session=; rec_session=%%%; =;;");
        }
        let r = req.send().await.expect("the worker answers");
        let status = r.status().as_u16();
        *statuses.entry(status).or_insert(0) += 1;
        assert!(
            status < 500,
            "{path} answered {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    println!("status counts: {statuses:?}");
    // Some of these were well-formed plays of one call: at most that one download.
    assert!(stack.origin.stats().total_attempts() <= 1);
}
