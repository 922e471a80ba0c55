//! Calls to the origin API (`ORIGIN_BASE_URL`), always with the edge's
//! bearer token, which is never logged.
//!
//! Why nothing partial is ever served: the origin's body is piped into R2
//! through a `FixedLengthStream` of its `Content-Length` (not through the
//! wasm). R2 makes an object visible only when a `put` completes, and the
//! runtime fails the `put` when the stream ends short of that length, runs
//! past it, or breaks off (measured: "Network connection lost", nothing
//! under the key, an existing object intact). A body without
//! `Content-Length` is refused before the `put`. After the `put`, the stored
//! size is checked against `Content-Length` once more and a mismatch is
//! deleted and retried. So the served key holds the whole body or nothing,
//! without a temporary key and a second copy of every recording.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use js_sys::BigInt;
use playback_core::config::EdgeConfig;
use playback_core::download::{classify_origin_status, AttemptOutcome};
use playback_core::ids::recording_key;
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::FixedLengthStream;
use worker::{
    AbortController, AbortSignal, Bucket, Data, Delay, Fetch, Headers, HttpMetadata, Method,
    Request, RequestInit, ResponseBody,
};

use crate::error::EdgeError;
use crate::rpc::CallIdentity;
use crate::serve::DEFAULT_CONTENT_TYPE;

fn origin_request(config: &EdgeConfig, path: &str) -> Result<Request, EdgeError> {
    let headers = Headers::new();
    headers.set("Authorization", &format!("Bearer {}", config.origin_token))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    Ok(Request::new_with_init(
        &format!("{}{path}", config.origin_base_url),
        &init,
    )?)
}

/// The business's calls. A business the origin does not know has none.
pub async fn list_calls(
    config: &EdgeConfig,
    business: &BusinessId,
) -> Result<Vec<CallSummary>, EdgeError> {
    let request = origin_request(config, &format!("/v1/businesses/{business}/calls"))?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: {e}")))?;
    match response.status_code() {
        200 => response
            .json()
            .await
            .map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}"))),
        404 => Ok(Vec::new()),
        401 | 403 => Err(EdgeError::Origin(
            playback_core::download::REFUSED_ERROR.into(),
        )),
        status => Err(EdgeError::Origin(format!(
            "calls: origin answered {status}"
        ))),
    }
}

/// How an attempt ended, and whether its slot was already given back.
pub struct Attempt {
    pub outcome: AttemptOutcome,
    /// The slot was released when the origin's body had been read whole,
    /// before R2 finished storing it.
    pub released: bool,
}

/// One origin attempt: fetch the recording and stream it into R2 under its
/// served key, within `DOWNLOAD_TIMEOUT_MS`, calling `renew` every third of
/// `SLOT_LEASE_MS` while the origin download runs and `release` as soon as
/// the origin's body has been read whole (the slot counts origin downloads;
/// R2 finishing the object does not need one).
pub async fn download_to_r2<F, Fut, G, Gut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    id: &CallIdentity,
    renew: F,
    release: G,
) -> Attempt
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, EdgeError>>,
    G: FnOnce() -> Gut,
    Gut: Future<Output = Result<(), EdgeError>>,
{
    let controller = AbortController::default();
    let key = recording_key(&id.business, &id.call_sid);
    let path = format!(
        "/v1/businesses/{}/calls/{}/recording",
        id.business, id.call_sid
    );
    let released = Cell::new(false);
    let origin_read = || async {
        match release().await {
            Ok(()) => released.set(true),
            Err(e) => crate::log::event(
                serde_json::json!({"event": "early_release_failed", "business": id.business, "call_sid": id.call_sid, "error": format!("{e:?}")}),
            ),
        }
    };
    let attempt = Box::pin(fetch_into(
        config,
        bucket,
        &key,
        &path,
        controller.signal(),
        origin_read,
    ));
    let timeout = Delay::from(Duration::from_millis(config.download_timeout_ms));
    let mut work = Box::pin(select(attempt, timeout));
    let renew_every = Duration::from_millis((config.slot_lease_ms / 3).max(1));
    let outcome = loop {
        match select(work, Delay::from(renew_every)).await {
            Either::Left((Either::Left((outcome, _)), _)) => break outcome,
            Either::Left((Either::Right(_), _)) => {
                controller.abort();
                break AttemptOutcome::Transient(format!(
                    "timed out after {} ms",
                    config.download_timeout_ms
                ));
            }
            Either::Right((_, pending)) => {
                work = pending;
                if released.get() {
                    continue;
                }
                if let Ok(false) = renew().await {
                    // The lease expired under us (the business reclaimed it). Finishing is still
                    // right: the bytes are wanted, and the release afterwards is a no-op.
                    crate::log::event(
                        serde_json::json!({"event": "lease_lost", "business": id.business, "call_sid": id.call_sid}),
                    );
                }
            }
        }
    };
    Attempt {
        outcome,
        released: released.get(),
    }
}

async fn fetch_into<G, Gut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    key: &str,
    path: &str,
    signal: AbortSignal,
    origin_read: G,
) -> AttemptOutcome
where
    G: FnOnce() -> Gut,
    Gut: Future<Output = ()>,
{
    let request = match origin_request(config, path) {
        Ok(r) => r,
        Err(e) => return AttemptOutcome::Permanent(format!("{e:?}")),
    };
    let response = match Fetch::Request(request).send_with_signal(&signal).await {
        Ok(r) => r,
        Err(e) => return AttemptOutcome::Transient(format!("origin unreachable: {e}")),
    };
    if let Some(outcome) = classify_origin_status(response.status_code()) {
        return outcome;
    }
    let headers = response.headers();
    let Some(length) = headers
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return AttemptOutcome::Transient("origin sent no Content-Length".into());
    };
    let content_type = headers
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into());
    let origin_etag = headers.get("ETag").ok().flatten().unwrap_or_default();
    // The body goes through a FixedLengthStream of the announced length: R2
    // stores it only if exactly that many bytes arrive, and the end of the
    // pipe tells when the origin's part is over.
    let (_, body) = response.into_parts();
    let source = match body {
        ResponseBody::Stream(stream) => stream,
        ResponseBody::Body(_) | ResponseBody::Empty if length > 0 => {
            return AttemptOutcome::Transient(format!("origin sent no body for {length} bytes"))
        }
        ResponseBody::Body(_) | ResponseBody::Empty => {
            return store(bucket, key, Data::Empty, length, content_type, origin_etag).await
        }
    };
    let fixed = match FixedLengthStream::new_big_int(BigInt::from(length)) {
        Ok(f) => f,
        Err(e) => return AttemptOutcome::Transient(format!("stream of {length} bytes: {e:?}")),
    };
    let piped = JsFuture::from(source.pipe_to(&fixed.writable()));
    let origin_done = async {
        if piped.await.is_ok() {
            origin_read().await;
        }
    };
    let stored = store(
        bucket,
        key,
        Data::ReadableStream(fixed.readable()),
        length,
        content_type,
        origin_etag,
    );
    // The attempt ends when R2 has the object, never later: a release still
    // on its way then is left to the caller's ordinary release, which comes
    // after the waiting plays have been answered.
    match select(pin!(origin_done), pin!(stored)).await {
        Either::Left(((), stored)) => stored.await,
        Either::Right((outcome, _)) => outcome,
    }
}

/// Puts the body under the served key; R2 makes it visible only whole.
async fn store(
    bucket: &Bucket,
    key: &str,
    data: Data,
    length: u64,
    content_type: String,
    origin_etag: String,
) -> AttemptOutcome {
    let metadata = HttpMetadata {
        content_type: Some(content_type),
        ..Default::default()
    };
    let custom: HashMap<String, String> = [
        ("origin_etag".to_string(), origin_etag),
        ("length".to_string(), length.to_string()),
    ]
    .into();
    match bucket
        .put(key, data)
        .http_metadata(metadata)
        .custom_metadata(custom)
        .execute()
        .await
    {
        Ok(Some(object)) if object.size() == length => AttemptOutcome::Stored { size: length },
        Ok(Some(object)) => {
            let _ = bucket.delete(key).await;
            AttemptOutcome::Transient(format!("stored {} bytes of {length}", object.size()))
        }
        Ok(None) => AttemptOutcome::Transient("R2 stored nothing".into()),
        Err(e) => AttemptOutcome::Transient(format!("body cut off or unreadable: {e}")),
    }
}
