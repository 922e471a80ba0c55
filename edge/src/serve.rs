//! Serving cached recordings from R2: 200, 206, 304, 416 and HEAD, with the
//! body streamed by the runtime (never copied through wasm memory). The
//! decisions (which bytes, which status) come from `playback_core::range`.
//!
//! A request without `Range` costs one R2 `get`; with `Range`, one `head`
//! (the size decides the range) and one ranged `get`.

use playback_core::range::{content_range, decide, Conditions, ServeDecision};
use worker::{Bucket, Headers, Object, Range, Request, Response, ResponseBody};

use crate::error::EdgeResult;

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The cached recording under `key`, served for `req`; `None` when R2 does
/// not have it.
pub async fn serve_cached(
    req: &Request,
    bucket: &Bucket,
    key: &str,
    head: bool,
) -> EdgeResult<Option<Response>> {
    let h = req.headers();
    let range = h.get("Range").ok().flatten();
    let if_range = h.get("If-Range").ok().flatten();
    let if_none_match = h.get("If-None-Match").ok().flatten();
    let conditions = Conditions {
        range: range.as_deref(),
        if_range: if_range.as_deref(),
        if_none_match: if_none_match.as_deref(),
    };

    if head || range.is_some() {
        let Some(meta) = bucket.head(key).await? else {
            return Ok(None);
        };
        let decision = decide(conditions, meta.size(), &meta.http_etag());
        if head
            || matches!(
                decision,
                ServeDecision::NotModified | ServeDecision::Unsatisfiable
            )
        {
            return Ok(Some(respond(&meta, decision, None)?));
        }
        let mut get = bucket.get(key);
        if let ServeDecision::Partial { first, last } = decision {
            get = get.range(Range::OffsetWithLength {
                offset: first,
                length: last - first + 1,
            });
        }
        // The object may have been replaced between head and get; its etag tells.
        let Some(object) = get.execute().await? else {
            return Ok(None);
        };
        if object.http_etag() != meta.http_etag() {
            return Ok(Some(respond(
                &object,
                ServeDecision::Full,
                object.body().map(|b| b.response_body()).transpose()?,
            )?));
        }
        let body = object.body().map(|b| b.response_body()).transpose()?;
        return Ok(Some(respond(&object, decision, body)?));
    }

    let Some(object) = bucket.get(key).execute().await? else {
        return Ok(None);
    };
    let decision = decide(conditions, object.size(), &object.http_etag());
    let body = match decision {
        ServeDecision::Full => object.body().map(|b| b.response_body()).transpose()?,
        _ => None,
    };
    Ok(Some(respond(&object, decision, body)?))
}

fn respond(
    object: &Object,
    decision: ServeDecision,
    body: Option<ResponseBody>,
) -> EdgeResult<Response> {
    let size = object.size();
    let headers = Headers::new();
    headers.set("Accept-Ranges", "bytes")?;
    headers.set("ETag", &object.http_etag())?;
    headers.set("Cache-Control", "private")?;
    let content_type = object
        .http_metadata()
        .content_type
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into());
    headers.set("Content-Type", &content_type)?;
    let length = match decision {
        ServeDecision::Full => size,
        ServeDecision::Partial { first, last } => last - first + 1,
        ServeDecision::NotModified | ServeDecision::Unsatisfiable => 0,
    };
    if let Some(value) = content_range(decision, size) {
        headers.set("Content-Range", &value)?;
    }
    if decision != ServeDecision::NotModified {
        headers.set("Content-Length", &length.to_string())?;
    }
    let builder = Response::builder()
        .with_status(decision.status())
        .with_headers(headers);
    Ok(match body {
        Some(body) => builder.body(body),
        None => builder.empty(),
    })
}
