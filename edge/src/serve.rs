//! Serving recordings: 200, 206, 304, 416 and HEAD, with the body streamed
//! by the runtime (never copied through wasm memory). The decisions (which
//! bytes, which status) come from `playback_core::range`, and while a
//! download is in progress, which piece to read from `playback_core::fill`.
//!
//! A cached request without `Range` costs one R2 `get`; with `Range`, one
//! `head` (the size decides the range) and one ranged `get`. A request
//! served from a fill costs one ranged `get` per piece it spans (and one
//! for the rest once the fill is stored).

use playback_core::fill::{next_read, piece_key, piece_missing, FillView, Read};
use playback_core::ids::recording_key;
use playback_core::range::{content_range, decide, Conditions, ServeDecision};
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::{spawn_local, JsFuture};
use worker::worker_sys::FixedLengthStream;
use worker::{Bucket, Env, Headers, Object, Range, Request, Response, ResponseBody};

use crate::error::{EdgeError, EdgeResult};
use crate::rpc::CallObject;
use playback_core::ids::CallIdentity;

pub(crate) const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// The custom metadata under which a filled recording keeps the validator
/// it was served with during its fill.
pub(crate) const ETAG_METADATA: &str = "etag";

/// What a recording is served as: its length, validator and type.
struct Representation {
    size: u64,
    etag: String,
    content_type: String,
}

impl Representation {
    fn of(object: &Object) -> Representation {
        let etag = object
            .custom_metadata()
            .ok()
            .and_then(|mut m| m.remove(ETAG_METADATA))
            .unwrap_or_else(|| object.http_etag());
        Representation {
            size: object.size(),
            etag,
            content_type: object
                .http_metadata()
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
        }
    }
}

/// The request's range and conditional headers, read once.
struct Asked {
    range: Option<String>,
    if_range: Option<String>,
    if_none_match: Option<String>,
}

impl Asked {
    fn of(req: &Request) -> Asked {
        let h = req.headers();
        Asked {
            range: h.get("Range").ok().flatten(),
            if_range: h.get("If-Range").ok().flatten(),
            if_none_match: h.get("If-None-Match").ok().flatten(),
        }
    }

    fn conditions(&self) -> Conditions<'_> {
        Conditions {
            range: self.range.as_deref(),
            if_range: self.if_range.as_deref(),
            if_none_match: self.if_none_match.as_deref(),
        }
    }
}

/// The cached recording under `key`, served for `req`; `None` when R2 does
/// not have it.
///
/// `admit` is told when the stored object was uploaded (ms), from the
/// metadata the serving reads anyway, and may refuse it (an error) before
/// anything is sent: the Twilio origin's re-check, at no extra read.
pub(crate) async fn serve_cached(
    req: &Request,
    bucket: &Bucket,
    key: &str,
    head: bool,
    admit: impl AsyncFnOnce(u64) -> EdgeResult<()>,
) -> EdgeResult<Option<Response>> {
    let asked = Asked::of(req);
    let conditions = asked.conditions();

    if head || asked.range.is_some() {
        let Some(meta) = bucket.head(key).await? else {
            return Ok(None);
        };
        admit(meta.uploaded().as_millis()).await?;
        let served = Representation::of(&meta);
        let decision = decide(conditions, served.size, &served.etag);
        if head
            || matches!(
                decision,
                ServeDecision::NotModified | ServeDecision::Unsatisfiable
            )
        {
            return Ok(Some(respond(&served, decision, None)?));
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
            // A whole GET: its object is the one served.
            let served = Representation::of(&object);
            let body = object.body().map(|b| b.response_body()).transpose()?;
            return Ok(Some(respond(&served, ServeDecision::Full, body)?));
        }
        let body = object.body().map(|b| b.response_body()).transpose()?;
        return Ok(Some(respond(&served, decision, body)?));
    }

    let Some(object) = bucket.get(key).execute().await? else {
        return Ok(None);
    };
    // (A refusal drops the body unread.)
    admit(object.uploaded().as_millis()).await?;
    let served = Representation::of(&object);
    let decision = decide(conditions, served.size, &served.etag);
    let body = match decision {
        ServeDecision::Full => object.body().map(|b| b.response_body()).transpose()?,
        _ => None,
    };
    Ok(Some(respond(&served, decision, body)?))
}

/// A recording served from its fill: the same headers a cached recording
/// gets (its full length, its validator), with a body of exactly the
/// asked length that a task fills piece by piece as they land. If the fill
/// fails, or the bytes can no longer be had, the body is aborted: a
/// listener never sees a clean end short of its length.
pub(crate) async fn serve_fill(
    req: &Request,
    env: &Env,
    id: &CallIdentity,
    bucket: &Bucket,
    view: FillView,
    head: bool,
) -> EdgeResult<Response> {
    let asked = Asked::of(req);
    let conditions = asked.conditions();
    let served = Representation {
        size: view.size,
        etag: view.etag.clone(),
        content_type: view.content_type.clone(),
    };
    let decision = decide(conditions, served.size, &served.etag);
    let (first, last) = match decision {
        _ if head => return respond(&served, decision, None),
        ServeDecision::Full if served.size > 0 => (0, served.size - 1),
        ServeDecision::Partial { first, last } => (first, last),
        _ => return respond(&served, decision, None),
    };
    let body = FixedLengthStream::new_big_int(js_sys::BigInt::from(last - first + 1))
        .map_err(|e| EdgeError::Internal(format!("{e:?}")))?;
    let listener = Listener {
        object: CallObject::of(env, id)?,
        bucket: bucket.clone(),
        id: id.clone(),
        fill: view.fill,
        etag: view.etag.clone(),
    };
    let writable = body.writable();
    spawn_local(async move {
        let mut reads = Reads::default();
        let complete = matches!(
            listener
                .pump(view, first, last, &writable, &mut reads)
                .await,
            Ok(true)
        );
        let _ = if complete {
            JsFuture::from(writable.close()).await
        } else {
            JsFuture::from(writable.abort_with_reason(&JsValue::from_str("fill lost"))).await
        };
        crate::log::call_event(
            &listener.id,
            "fill_listener",
            serde_json::json!({"fill": listener.fill, "first": first, "last": last,
                "complete": complete, "r2_gets": reads.r2_gets, "object_asks": reads.object_asks}),
        );
    });
    respond(
        &served,
        decision,
        Some(ResponseBody::Stream(body.readable())),
    )
}

/// What one listener cost: R2 reads and questions to the call object.
#[derive(Default)]
struct Reads {
    r2_gets: u32,
    object_asks: u32,
}

/// One response served from a fill.
struct Listener {
    object: CallObject,
    bucket: Bucket,
    id: CallIdentity,
    fill: u64,
    etag: String,
}

impl Listener {
    /// Writes bytes `first..=last` into `out`; `Ok(true)` when all were written.
    async fn pump(
        &self,
        view: FillView,
        first: u64,
        last: u64,
        out: &web_sys::WritableStream,
        reads: &mut Reads,
    ) -> EdgeResult<bool> {
        let mut view = Some(view);
        let mut pos = first;
        while pos <= last {
            match next_read(view.as_ref(), self.fill, &self.etag, pos, last) {
                Read::Piece {
                    index,
                    offset,
                    length,
                } => {
                    let key = piece_key(&self.id, self.fill, index);
                    let range = Range::OffsetWithLength { offset, length };
                    reads.r2_gets += 1;
                    match self.bucket.get(key).range(range).execute().await? {
                        Some(object) => {
                            if !pipe(object, out).await {
                                return Ok(false);
                            }
                            pos += length;
                        }
                        // Deleted: the fill may have been stored meanwhile.
                        None => {
                            reads.object_asks += 1;
                            view = self.object.fill(None).await?;
                            if !piece_missing(view.as_ref(), self.fill) {
                                return Ok(false);
                            }
                        }
                    }
                }
                Read::Stored => {
                    let key = recording_key(&self.id);
                    let range = Range::OffsetWithLength {
                        offset: pos,
                        length: last - pos + 1,
                    };
                    reads.r2_gets += 1;
                    let Some(object) = self.bucket.get(key).range(range).execute().await? else {
                        return Ok(false);
                    };
                    if Representation::of(&object).etag != self.etag || !pipe(object, out).await {
                        return Ok(false);
                    }
                    pos = last + 1;
                }
                Read::Wait { index } => {
                    reads.object_asks += 1;
                    view = self.object.fill(Some(index)).await?
                }
                Read::Abort => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// Pipes an object's body into `out`, leaving `out` open; false when either
/// side failed (the listener went away, or R2 broke off).
async fn pipe(object: Object, out: &web_sys::WritableStream) -> bool {
    let Some(Ok(ResponseBody::Stream(stream))) = object.body().map(|b| b.response_body()) else {
        return false;
    };
    let options = web_sys::StreamPipeOptions::new();
    options.set_prevent_close(true);
    JsFuture::from(stream.pipe_to_with_options(out, &options))
        .await
        .is_ok()
}

fn respond(
    served: &Representation,
    decision: ServeDecision,
    body: Option<ResponseBody>,
) -> EdgeResult<Response> {
    let size = served.size;
    let headers = Headers::new();
    headers.set("Accept-Ranges", "bytes")?;
    headers.set("ETag", &served.etag)?;
    headers.set("Cache-Control", "private")?;
    headers.set("Content-Type", &served.content_type)?;
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
