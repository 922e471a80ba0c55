//! Calls to the origin API (`ORIGIN_BASE_URL`), always with the edge's
//! bearer token, which is never logged.
//!
//! Why nothing partial is ever served: the origin's body goes straight into
//! R2 as the fetch response's own stream, whose length the runtime knows
//! from `Content-Length`. R2 makes an object visible only when a `put`
//! completes, and the runtime fails the `put` when the stream ends short of
//! that length or breaks off (measured: "Network connection lost", nothing
//! under the key, an existing object intact). A body without
//! `Content-Length` is refused before the `put`. After the `put`, the stored
//! size is checked against `Content-Length` once more and a mismatch is
//! deleted and retried. So the served key holds the whole body or nothing,
//! without a temporary key and a second copy of every recording.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::{select, Either};
use playback_core::config::EdgeConfig;
use playback_core::download::{classify_origin_status, AttemptOutcome};
use playback_core::ids::recording_key;
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
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

/// One origin attempt: fetch the recording and stream it into R2 under its
/// served key, within `DOWNLOAD_TIMEOUT_MS`, calling `renew` every third of
/// `SLOT_LEASE_MS` while it runs.
pub async fn download_to_r2<F, Fut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    id: &CallIdentity,
    renew: F,
) -> AttemptOutcome
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, EdgeError>>,
{
    let controller = AbortController::default();
    let key = recording_key(&id.business, &id.call_sid);
    let path = format!(
        "/v1/businesses/{}/calls/{}/recording",
        id.business, id.call_sid
    );
    let attempt = Box::pin(fetch_into(config, bucket, &key, &path, controller.signal()));
    let timeout = Delay::from(Duration::from_millis(config.download_timeout_ms));
    let mut work = Box::pin(select(attempt, timeout));
    let renew_every = Duration::from_millis((config.slot_lease_ms / 3).max(1));
    loop {
        match select(work, Delay::from(renew_every)).await {
            Either::Left((Either::Left((outcome, _)), _)) => return outcome,
            Either::Left((Either::Right(_), _)) => {
                controller.abort();
                return AttemptOutcome::Transient(format!(
                    "timed out after {} ms",
                    config.download_timeout_ms
                ));
            }
            Either::Right((_, pending)) => {
                work = pending;
                if let Ok(false) = renew().await {
                    // The lease expired under us (the business reclaimed it). Finishing is still
                    // right: the bytes are wanted, and the release afterwards is a no-op.
                    crate::log::event(
                        serde_json::json!({"event": "lease_lost", "business": id.business, "call_sid": id.call_sid}),
                    );
                }
            }
        }
    }
}

async fn fetch_into(
    config: &EdgeConfig,
    bucket: &Bucket,
    key: &str,
    path: &str,
    signal: AbortSignal,
) -> AttemptOutcome {
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
    let (_, body) = response.into_parts();
    let data = match body {
        ResponseBody::Stream(stream) => Data::ReadableStream(stream),
        ResponseBody::Body(bytes) => Data::Bytes(bytes),
        ResponseBody::Empty => Data::Empty,
    };
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
