//! Calls to the origin API (`ORIGIN_BASE_URL`), always with the edge's
//! bearer token, which is never logged and never leaves the origin's host.
//!
//! What an attempt does, in order, under its slot lease and within
//! `DOWNLOAD_TIMEOUT_MS`:
//! 1. looks in R2 (or takes the look its call object made while it waited
//!    for the slot, `Looked`): a recording stored there (by an earlier
//!    attempt that died, or timed out, before recording it) is never
//!    fetched again;
//! 2. asks the origin, with `Accept-Encoding: identity`, following up to
//!    `MAX_ORIGIN_REDIRECTS` redirects itself (the bearer token only to
//!    the origin's own scheme, host and port: a signed media URL on another
//!    host gets none);
//! 3. stores the body under the served key, whole or not at all:
//!    - with a `Content-Length` (and no content coding), the body is a
//!      *fill* (`playback_core::fill`): each chunk, as it is read (into a
//!      buffer of the edge's own that goes on to R2 as it is; one copy of
//!      it passes through the wasm, for the peaks, `playback_core::peaks`), is
//!      written both into
//!      one `put` of the whole recording through a `FixedLengthStream` of
//!      that length, and into the current piece's own `FixedLengthStream`,
//!      whose `put` under the fill's key streams while the piece fills and
//!      completes when it is whole; each landed piece is reported to the
//!      call object, which serves it to listeners while the rest arrives.
//!      R2 makes an object visible only when a `put` completes, and the
//!      runtime fails a `put` when its stream ends short of its length,
//!      runs past it, or breaks off. The feed reads on while R2 takes
//!      what it wrote, but waits whenever the writes R2 has not taken pass
//!      `WRITE_WINDOW_BYTES` (1 MiB), so memory stays bounded whatever the
//!      recording's length;
//!    - without one (chunked, or a coding the runtime decoded), the body is
//!      read in parts of `PART_BYTES` into an R2 multipart upload, which R2
//!      shows only when it is completed, and it is completed only after the
//!      body's clean end; a body past `MAX_RECORDING_BYTES` is refused;
//!    - pieces left by a fill that died are deleted before a new one
//!      starts; a stored fill's pieces are deleted by the call object once
//!      the whole recording is served instead;
//! 4. gives its slot back as soon as the origin's body has been read whole
//!    (the slot counts origin downloads; R2 finishing does not need one);
//! 5. hands the peaks of the stored bytes to its call object, which writes
//!    them with `ready` in one atomic write: R2 holds only recordings.
//!
//! Every third of `SLOT_LEASE_MS` the lease is renewed under its grant id.
//! When the business says the lease is gone, or a renew fails and the next
//! one would come after the confirmed expiry, or the timeout passes, the
//! origin fetch is aborted (which fails the next read, and the feed then
//! aborts its writes), and the attempt still waits for its R2 writes to
//! end: an attempt never ends with a write left running that could land
//! after the next attempt looked in R2.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::future::{join, join3, select, Either};
use futures_util::{SinkExt, StreamExt};
use js_sys::BigInt;
use playback_core::config::EdgeConfig;
use playback_core::directory::next_link;
use playback_core::download::{
    classify_origin_status, AttemptOutcome, Failure, MAX_ORIGIN_REDIRECTS,
};
use playback_core::fill::{
    fill_etag, fill_prefix, fills_prefix, piece_key, piece_span, FillView, WriteWindow,
    PIECES_IN_FLIGHT,
};
use playback_core::ids::recording_key;
use playback_core::peaks::{PeaksBuilder, PeaksRecord};
use playback_core::retry::parse_retry_after;
use playback_core::slots::{keep_downloading, renew_every_ms, RenewOutcome};
use playback_core::wire::CallSummary;
use wasm_bindgen::JsCast;
use web_sys::WritableStreamDefaultWriter;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::FixedLengthStream;
use worker::{
    AbortController, AbortSignal, Bucket, Data, Delay, Fetch, Headers, HttpMetadata, Method,
    MultipartUpload, Request, RequestInit, RequestRedirect, Response, ResponseBody, Url,
};

use crate::error::{EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::CallIdentity;
use crate::serve::DEFAULT_CONTENT_TYPE;

/// The size of a multipart upload's parts (R2 wants at least 5 MiB but for the last).
const PART_BYTES: usize = 8 << 20;

fn origin_request(config: &EdgeConfig, url: &str, with_token: bool) -> EdgeResult<Request> {
    let headers = Headers::new();
    if with_token {
        headers.set("Authorization", &format!("Bearer {}", config.origin_token))?;
    }
    headers.set("Accept-Encoding", "identity")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    Ok(Request::new_with_init(url, &init)?)
}

/// One page of a business's call list, and the next page's URL (the
/// origin's `Link: <…>; rel="next"`, on its own host only).
pub struct ListPage {
    pub calls: Vec<CallSummary>,
    pub next: Option<String>,
}

/// Reads one page of a call list at `url` (a business the origin does not
/// know has none).
pub async fn list_page(config: &EdgeConfig, url: &str) -> EdgeResult<ListPage> {
    let request = origin_request(config, url, true)?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: {e}")))?;
    match response.status_code() {
        200 => {
            let next = response
                .headers()
                .get("Link")
                .ok()
                .flatten()
                .and_then(|link| next_link(&link, &config.origin_base_url));
            let calls = response
                .json()
                .await
                .map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}")))?;
            Ok(ListPage { calls, next })
        }
        404 => Ok(ListPage {
            calls: Vec::new(),
            next: None,
        }),
        // A query the origin refuses: the edge checks every parameter as
        // the origin does except the cursor, which is the origin's own.
        400 => Err(EdgeError::BadQuery("cursor")),
        // The detail goes to the log line only: check ORIGIN_TOKEN.
        status @ (401 | 403) => Err(EdgeError::Origin(format!(
            "calls: origin answered {status}: it refused ORIGIN_TOKEN"
        ))),
        status => Err(EdgeError::Origin(format!(
            "calls: origin answered {status}"
        ))),
    }
}

/// The slot lease an attempt runs on, and how to renew and release it.
pub struct Lease<R, G> {
    pub grant: u64,
    /// The expiry the business confirmed last.
    pub expires_ms: u64,
    pub renew: R,
    pub release: G,
}

/// How an attempt ended, and whether its slot was already given back.
pub struct Attempt {
    pub outcome: AttemptOutcome,
    /// The slot was released when the origin's body had been read whole.
    pub released: bool,
    /// The stored recording's peaks (or why it has none), computed from
    /// its bytes as they streamed past: the call object writes them with
    /// `ready`, in one atomic write. `None` when nothing was stored, or a
    /// body without a length was (its call object computes them from R2
    /// when asked).
    pub peaks: Option<PeaksRecord>,
}

/// Where a store puts the peaks it computed.
type PeaksOut<'a> = &'a RefCell<Option<PeaksRecord>>;

/// What an attempt tells its call object about its fill as it runs.
pub enum FillEvent {
    /// The origin answered with a length: the fill (id: the lease's grant) starts.
    Started(FillView),
    /// Piece `index` is in R2.
    Landed(u32),
}

/// What R2 held under the served key when the call object looked, while it
/// waited for its slot (nothing else writes that key: only this call's
/// attempts do, one at a time, and each ends only when its write has ended).
pub enum Looked {
    Stored(u64),
    Missing,
    /// The look failed: the attempt looks again itself.
    NotYet,
    /// Not looked: a fresh attempt (`CallState::Queued::fresh`), which
    /// neither looks nor clears older fills' pieces (no attempt ran since
    /// R2 was seen without the recording, and every attempt that ended
    /// deleted its pieces).
    Fresh,
}

/// Looks in R2 for the recording.
pub async fn look(bucket: &Bucket, id: &CallIdentity) -> Looked {
    match bucket.head(recording_key(&id.business, &id.call_sid)).await {
        Ok(Some(object)) => Looked::Stored(object.size()),
        Ok(None) => Looked::Missing,
        Err(_) => Looked::NotYet,
    }
}

/// One attempt (see the module header). Ends only when its R2 writes have ended.
pub async fn attempt<R, RFut, G, GFut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    id: &CallIdentity,
    looked: Looked,
    lease: Lease<R, G>,
    report: &dyn Fn(FillEvent),
) -> Attempt
where
    R: Fn(u64) -> RFut,
    RFut: Future<Output = EdgeResult<Option<u64>>>,
    G: FnOnce(u64) -> GFut,
    GFut: Future<Output = EdgeResult<()>>,
{
    let controller = AbortController::default();
    let key = recording_key(&id.business, &id.call_sid);
    let released = Cell::new(false);
    let grant = lease.grant;
    let release = lease.release;
    let origin_read = || async {
        match release(grant).await {
            Ok(()) => released.set(true),
            Err(e) => crate::log::call_event(
                id,
                "early_release_failed",
                serde_json::json!({"error": format!("{e:?}")}),
            ),
        }
    };
    let fill = Fill { id: grant, report };
    let peaks = RefCell::new(None);
    let mut work = pin!(look_then_fetch(
        config,
        bucket,
        id,
        (&key, looked),
        controller.signal(),
        (fill, &peaks),
        origin_read
    ));
    let mut timeout = pin!(Delay::from(Duration::from_millis(
        config.download_timeout_ms
    )));
    let every = renew_every_ms(config.slot_lease_ms);
    let mut expires_ms = lease.expires_ms;
    let (released_ref, renew) = (&released, &lease.renew);
    // Ends with the work's outcome, or with why the attempt stopped it.
    let ended = loop {
        // The next lease check: a renew every third of the lease, racing the
        // confirmed expiry (a renew that hangs never lets the download
        // outlive its lease), and itself raced by the work and the timeout.
        let confirmed = expires_ms;
        let check = pin!(async move {
            Delay::from(Duration::from_millis(every)).await;
            if released_ref.get() {
                return None;
            }
            let until_expiry = confirmed.saturating_sub(now_ms());
            let renewal = pin!(renew(grant));
            let expiry = pin!(Delay::from(Duration::from_millis(until_expiry)));
            Some(match select(renewal, expiry).await {
                Either::Left((Ok(Some(expires)), _)) => RenewOutcome::Renewed(expires),
                Either::Left((Ok(None), _)) => RenewOutcome::Lost,
                Either::Left((Err(_), _)) => RenewOutcome::Unreachable,
                // No answer before the confirmed expiry: the lease may be the next call's.
                Either::Right(_) => RenewOutcome::Lost,
            })
        });
        let outcome = match select(work.as_mut(), select(timeout.as_mut(), check)).await {
            Either::Left((outcome, _)) => break Ok(outcome),
            Either::Right((Either::Left(_), _)) => {
                break Err((
                    Failure::TimedOut,
                    format!("timed out after {} ms", config.download_timeout_ms),
                ))
            }
            // The slot went back when the origin's body was read (maybe while
            // the renew was on its way): nothing to renew.
            Either::Right((Either::Right((None, _)), _)) => continue,
            Either::Right((Either::Right((Some(_), _)), _)) if released.get() => continue,
            Either::Right((Either::Right((Some(outcome), _)), _)) => outcome,
        };
        match keep_downloading(outcome, now_ms(), expires_ms, every) {
            Some(expires) => expires_ms = expires,
            None => {
                crate::log::call_event(
                    id,
                    "lease_lost",
                    serde_json::json!({"grant": grant, "renew": format!("{outcome:?}")}),
                );
                break Err((Failure::LeaseLost, format!("lease {grant}: {outcome:?}")));
            }
        }
    };
    let outcome = match ended {
        Ok(outcome) => outcome,
        Err((stop, reason)) => {
            // Stop the origin fetch (which fails the feed's next read, and the
            // feed aborts its writes), then wait for the writes to end:
            // nothing may land after this attempt is over.
            controller.abort();
            match work.await {
                stored @ AttemptOutcome::Stored { .. } => stored,
                _ => AttemptOutcome::transient(stop, reason),
            }
        }
    };
    let peaks = outcome.keeps(peaks.take());
    Attempt {
        outcome,
        released: released.get(),
        peaks,
    }
}

/// The fill an attempt would run: its id, and where it reports.
struct Fill<'a> {
    id: u64,
    report: &'a dyn Fn(FillEvent),
}

async fn look_then_fetch<G, Gut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    id: &CallIdentity,
    (key, looked): (&str, Looked),
    signal: AbortSignal,
    (fill, peaks): (Fill<'_>, PeaksOut<'_>),
    origin_read: G,
) -> AttemptOutcome
where
    G: FnOnce() -> Gut,
    Gut: Future<Output = ()>,
{
    let fresh = matches!(looked, Looked::Fresh);
    let stored = match looked {
        Looked::Stored(size) => Some(size),
        Looked::Missing | Looked::Fresh => None,
        Looked::NotYet => match bucket.head(key).await {
            Ok(object) => object.map(|o| o.size()),
            Err(e) => {
                return AttemptOutcome::transient(Failure::NotStored, format!("R2 look-up: {e}"))
            }
        },
    };
    if let Some(size) = stored {
        return AttemptOutcome::Stored { size };
    }
    let path = format!(
        "/v1/businesses/{}/calls/{}/recording",
        id.business, id.call_sid
    );
    // Pieces a dead fill left are deleted while the origin is asked (never
    // this fill's own); a failure only leaves them for the next attempt.
    let clear = async {
        match fresh {
            true => Ok(()),
            false => delete_pieces(bucket, id, fill.id).await,
        }
    };
    let (fetched, cleared) = join(fetch_following_redirects(config, &path, &signal), clear).await;
    if let Err(e) = cleared {
        crate::log::call_event(
            id,
            "pieces_left",
            serde_json::json!({"error": format!("{e:?}")}),
        );
    }
    let response = match fetched {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let retry_after = response
        .headers()
        .get("Retry-After")
        .ok()
        .flatten()
        .and_then(|v| parse_retry_after(&v, now_ms()));
    if let Some(outcome) = classify_origin_status(response.status_code(), retry_after) {
        return outcome;
    }
    let headers = response.headers();
    let coded = headers
        .get("Content-Encoding")
        .ok()
        .flatten()
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
    // A coded body is decoded by the runtime: its Content-Length is not the stored length.
    let length = headers
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| !coded);
    let content_type = headers
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into());
    let origin_etag = headers.get("ETag").ok().flatten().unwrap_or_default();
    let meta = StoreMeta {
        content_type,
        origin_etag,
        etag: None,
    };
    match length {
        Some(length) if length > config.max_recording_bytes => AttemptOutcome::permanent(
            Failure::TooLarge,
            format!("{length} bytes > MAX_RECORDING_BYTES"),
        ),
        Some(length) if !playback_core::fill::fills(length) => {
            let target = Target { bucket, id, key };
            store_small(target, response, length, meta, (peaks, origin_read)).await
        }
        Some(length) => {
            let target = Target { bucket, id, key };
            store_filling(target, response, length, meta, (fill, peaks), origin_read).await
        }
        None => store_in_parts(config, bucket, key, response, meta, origin_read).await,
    }
}

/// Asks the origin for `path`, following redirects (at most
/// `MAX_ORIGIN_REDIRECTS`) with the token only for the origin's own host.
async fn fetch_following_redirects(
    config: &EdgeConfig,
    path: &str,
    signal: &AbortSignal,
) -> Result<Response, AttemptOutcome> {
    let base = Url::parse(&config.origin_base_url).map_err(|_| {
        AttemptOutcome::permanent(Failure::OriginRejected, "ORIGIN_BASE_URL is not a URL")
    })?;
    let mut url = Url::parse(&format!("{}{path}", config.origin_base_url)).map_err(|_| {
        AttemptOutcome::permanent(Failure::OriginRejected, "the recording's URL is not a URL")
    })?;
    for hop in 0..=MAX_ORIGIN_REDIRECTS {
        let with_token = url.origin() == base.origin();
        let request = origin_request(config, url.as_str(), with_token)
            .map_err(|e| AttemptOutcome::permanent(Failure::OriginRejected, format!("{e:?}")))?;
        let response = Fetch::Request(request)
            .send_with_signal(signal)
            .await
            .map_err(|e| AttemptOutcome::transient(Failure::OriginUnreachable, e.to_string()))?;
        if !matches!(response.status_code(), 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let location = response.headers().get("Location").ok().flatten();
        let next = location.and_then(|l| url.join(&l).ok());
        match next {
            Some(next)
                if matches!(next.scheme(), "http" | "https") && hop < MAX_ORIGIN_REDIRECTS =>
            {
                url = next
            }
            Some(_) => break,
            None => {
                return Err(AttemptOutcome::permanent(
                    Failure::OriginRejected,
                    "a redirect without a usable Location",
                ))
            }
        }
    }
    Err(AttemptOutcome::permanent(
        Failure::TooManyRedirects,
        format!("more than {MAX_ORIGIN_REDIRECTS} redirects"),
    ))
}

struct StoreMeta {
    content_type: String,
    origin_etag: String,
    /// The validator a fill served the recording with, which it keeps.
    etag: Option<String>,
}

impl StoreMeta {
    fn http(&self) -> HttpMetadata {
        HttpMetadata {
            content_type: Some(self.content_type.clone()),
            ..Default::default()
        }
    }

    fn custom(&self, length: u64) -> HashMap<String, String> {
        let mut custom: HashMap<String, String> = [
            ("origin_etag".to_string(), self.origin_etag.clone()),
            ("length".to_string(), length.to_string()),
        ]
        .into();
        if let Some(etag) = &self.etag {
            custom.insert(crate::serve::ETAG_METADATA.to_string(), etag.clone());
        }
        custom
    }
}

/// Where a fill stores: the bucket, the call, the served key.
struct Target<'a> {
    bucket: &'a Bucket,
    id: &'a CallIdentity,
    key: &'a str,
}

/// A body of known length, stored as a fill (see the module header): one
/// `put` of the whole recording, and its pieces as they arrive.
async fn store_filling<G, Gut>(
    target: Target<'_>,
    response: Response,
    length: u64,
    mut meta: StoreMeta,
    (fill, peaks_out): (Fill<'_>, PeaksOut<'_>),
    origin_read: G,
) -> AttemptOutcome
where
    G: FnOnce() -> Gut,
    Gut: Future<Output = ()>,
{
    let Target { bucket, id, key } = target;
    let source = match response.into_parts().1 {
        ResponseBody::Stream(stream) if length > 0 => stream,
        _ if length > 0 => {
            return AttemptOutcome::transient(
                Failure::CutOff,
                format!("no body for {length} bytes"),
            )
        }
        _ => {
            origin_read().await;
            return put(bucket, key, Data::Empty, length, &meta).await;
        }
    };
    let etag = fill_etag(&meta.origin_etag, length, fill.id);
    meta.etag = Some(etag.clone());
    let (whole, writer) = match fixed_stream(length) {
        Ok(pair) => pair,
        Err(outcome) => return outcome,
    };
    (fill.report)(FillEvent::Started(FillView::start(
        fill.id,
        length,
        etag,
        meta.content_type.clone(),
    )));
    // The feed hands each piece's stream to the lander, which runs at most
    // `PIECES_IN_FLIGHT` puts; the channel holds none, so the feed never
    // writes a piece whose put has not started.
    let (pieces, landing) = mpsc::channel::<(u32, web_sys::ReadableStream)>(0);
    let mut peaks = PeaksBuilder::new();
    let feed = async {
        let mut writes = Writes::default();
        match feed(&source, &writer, length, pieces, &mut peaks, &mut writes).await {
            Ok(()) => {
                // The origin's body is read: its slot goes back while R2
                // takes the last writes.
                let (_, settled) = join(origin_read(), writes.settle(true)).await;
                let closed = match settled {
                    Ok(()) => JsFuture::from(writer.close()).await.map(drop),
                    Err(e) => {
                        // Fails the whole put, which would otherwise wait for its end.
                        let _ = JsFuture::from(writer.abort()).await;
                        Err(e)
                    }
                };
                closed.map_err(|e| AttemptOutcome::transient(Failure::NotStored, format!("{e:?}")))
            }
            Err(outcome) => {
                // Fails the whole put: nothing partial is ever stored.
                let _ = JsFuture::from(writer.abort()).await;
                Err(outcome)
            }
        }
    };
    let land = land(bucket, id, fill, landing);
    let stored = put(bucket, key, Data::ReadableStream(whole), length, &meta);
    let outcome = match join3(feed, land, stored).await {
        (Err(outcome), _, _) | (_, Err(outcome), _) => outcome,
        (Ok(()), Ok(()), stored) => stored,
    };
    if matches!(outcome, AttemptOutcome::Stored { .. }) {
        *peaks_out.borrow_mut() = Some(PeaksRecord::of(peaks.finish()));
    }
    outcome
}

/// A recording that fits in one piece (`fill::fills`): read whole (at most
/// `FIRST_PIECE_BYTES`), its slot given back, then one `put` of exactly its
/// announced length; its peaks go to `peaks_out`.
async fn store_small<G, Gut>(
    target: Target<'_>,
    mut response: Response,
    length: u64,
    meta: StoreMeta,
    (peaks_out, origin_read): (PeaksOut<'_>, G),
) -> AttemptOutcome
where
    G: FnOnce() -> Gut,
    Gut: Future<Output = ()>,
{
    let mut body = Vec::with_capacity(length as usize);
    if length > 0 {
        let mut stream = match response.stream() {
            Ok(stream) => stream,
            Err(e) => return AttemptOutcome::transient(Failure::CutOff, e.to_string()),
        };
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) if body.len() + chunk.len() <= length as usize => {
                    body.extend_from_slice(&chunk)
                }
                Ok(_) => {
                    return AttemptOutcome::transient(
                        Failure::CutOff,
                        format!("more than the {length} bytes announced"),
                    )
                }
                Err(e) => return AttemptOutcome::transient(Failure::CutOff, e.to_string()),
            }
        }
    }
    if body.len() as u64 != length {
        return AttemptOutcome::transient(
            Failure::CutOff,
            format!("{} of the {length} bytes announced", body.len()),
        );
    }
    // The origin's body is read: its slot goes back first, so that the next
    // download's origin request is not queued behind this put (or the
    // peaks) on the runtime's thread (BENCHMARKS.md, the drain); this
    // recording is ready one release later.
    origin_read().await;
    let mut peaks = PeaksBuilder::new();
    peaks.push(&body);
    let outcome = put(target.bucket, target.key, Data::Bytes(body), length, &meta).await;
    if matches!(outcome, AttemptOutcome::Stored { .. }) {
        *peaks_out.borrow_mut() = Some(PeaksRecord::of(peaks.finish()));
    }
    outcome
}

/// Computes a stored recording's peaks record from R2 (a recording stored
/// without them: its body came without a length). `None` when R2 does not
/// have the recording, or it could not be read whole.
pub async fn peaks_from_r2(env: worker::Env, id: CallIdentity) -> Option<PeaksRecord> {
    let bucket = crate::rpc::recordings(&env).ok()?;
    let recording = recording_key(&id.business, &id.call_sid);
    let object = bucket.get(&recording).execute().await.ok()??;
    let started = now_ms();
    let mut peaks = PeaksBuilder::new();
    if let Some(body) = object.body() {
        let mut stream = body.stream().ok()?;
        while let Some(chunk) = stream.next().await {
            peaks.push(&chunk.ok()?);
        }
    }
    crate::log::call_event(
        &id,
        "peaks_computed",
        serde_json::json!({"size": object.size(), "duration_ms": now_ms() - started}),
    );
    Some(PeaksRecord::of(peaks.finish()))
}

/// A stream of exactly `length` bytes for a `put`, and its writer.
fn fixed_stream(
    length: u64,
) -> Result<(web_sys::ReadableStream, WritableStreamDefaultWriter), AttemptOutcome> {
    let failed = |e: wasm_bindgen::JsValue| {
        AttemptOutcome::transient(
            Failure::NotStored,
            format!("a stream of {length} bytes: {e:?}"),
        )
    };
    let stream = FixedLengthStream::new_big_int(BigInt::from(length)).map_err(failed)?;
    let writer = stream.writable().get_writer().map_err(failed)?;
    Ok((stream.readable(), writer))
}

/// Reads the origin's body chunk by chunk and writes each chunk, as it
/// was read, into the whole `put` and into the pieces'
/// streams (a chunk that crosses a piece's end is split into two views of
/// it), within the write window; while R2 takes a chunk, a copy of it
/// feeds the peaks (one reused buffer).
async fn feed(
    source: &web_sys::ReadableStream,
    whole: &WritableStreamDefaultWriter,
    length: u64,
    pieces: mpsc::Sender<(u32, web_sys::ReadableStream)>,
    peaks: &mut PeaksBuilder,
    writes: &mut Writes,
) -> Result<(), AttemptOutcome> {
    // The current piece: its writer and how many bytes it still takes.
    let mut piece = None;
    let fed = feed_pieces(source, whole, length, pieces, &mut piece, peaks, writes).await;
    if let (Err(_), Some((writer, _))) = (&fed, piece) {
        // Fails that piece's put, which would otherwise wait for its end.
        let _ = JsFuture::from(writer.abort()).await;
    }
    fed
}

async fn feed_pieces(
    source: &web_sys::ReadableStream,
    whole: &WritableStreamDefaultWriter,
    length: u64,
    mut pieces: mpsc::Sender<(u32, web_sys::ReadableStream)>,
    piece: &mut Option<(WritableStreamDefaultWriter, u64)>,
    peaks: &mut PeaksBuilder,
    writes: &mut Writes,
) -> Result<(), AttemptOutcome> {
    let cut_off =
        |e: wasm_bindgen::JsValue| AttemptOutcome::transient(Failure::CutOff, format!("{e:?}"));
    let not_stored =
        |e: wasm_bindgen::JsValue| AttemptOutcome::transient(Failure::NotStored, format!("{e:?}"));
    let reader = BodyReader::of(source);
    let mut index = 0u32;
    let mut total = 0u64;
    // The one copy of the bytes into the wasm: for the peaks, while the
    // chunk itself goes on to R2 (reused, so bounded by a chunk).
    let mut copy = Vec::new();
    loop {
        let read = JsFuture::from(reader.read()).await.map_err(cut_off)?;
        if js_sys::Reflect::get(&read, &"done".into())
            .map_err(cut_off)?
            .is_truthy()
        {
            break;
        }
        let chunk: js_sys::Uint8Array = js_sys::Reflect::get(&read, &"value".into())
            .map_err(cut_off)?
            .dyn_into()
            .map_err(cut_off)?;
        let len = u64::from(chunk.length());
        total += len;
        if total > length {
            return Err(AttemptOutcome::transient(
                Failure::CutOff,
                format!("more than the {length} bytes announced"),
            ));
        }
        // Counted as the buffer it holds: a short read still holds its whole
        // `READ_BYTES` buffer until R2 has taken it.
        let held = u64::from(chunk.buffer().byte_length()).max(len);
        writes.issue(JsFuture::from(whole.write_with_chunk(&chunk)), held);
        copy.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut copy);
        peaks.push(&copy);
        let mut at = 0u64;
        while at < len {
            if piece.is_none() {
                let piece_len = piece_span(index, length).map_or(0, |(_, l)| l);
                let (readable, writer) = fixed_stream(piece_len)?;
                let sent = pieces.send((index, readable)).await;
                // A send counts as done when the lander has gone (a piece's
                // put failed): nothing would ever read this piece.
                if sent.is_err() || pieces.is_closed() {
                    return Err(AttemptOutcome::transient(
                        Failure::NotStored,
                        "a piece could not be stored",
                    ));
                }
                *piece = Some((writer, piece_len));
            }
            let Some((writer, left)) = piece.as_mut() else {
                break;
            };
            let take = (len - at).min(*left);
            let part = if take == len {
                chunk.clone()
            } else {
                chunk.subarray(at as u32, (at + take) as u32)
            };
            writes.issue(JsFuture::from(writer.write_with_chunk(&part)), take);
            *left -= take;
            at += take;
            if *left == 0 {
                writes.issue(JsFuture::from(writer.close()), 0);
                *piece = None;
                index += 1;
            }
        }
        // R2 takes what was written while the next chunk is read, within the window.
        writes.settle(false).await.map_err(not_stored)?;
    }
    if total < length {
        return Err(AttemptOutcome::transient(
            Failure::CutOff,
            format!("{total} of {length} bytes"),
        ));
    }
    Ok(())
}

/// Reads the origin's body in chunks of up to `READ_BYTES`: a reader that
/// brings its own buffer (the runtime's default reader hands over 4 KiB at
/// a time, and each chunk costs a round of promises and writes; measured:
/// 548 chunks and 151 ms of waiting for a 2.2 MB body), or the default
/// reader for a body that is not a byte stream.
enum BodyReader {
    Byob(web_sys::ReadableStreamByobReader),
    Default(web_sys::ReadableStreamDefaultReader),
}

/// The most a chunk read from the origin holds.
const READ_BYTES: u32 = 64 << 10;

impl BodyReader {
    fn of(source: &web_sys::ReadableStream) -> BodyReader {
        match web_sys::ReadableStreamByobReader::new(source) {
            Ok(reader) => BodyReader::Byob(reader),
            // Without options, `getReader` gives a default reader.
            Err(_) => BodyReader::Default(source.get_reader().unchecked_into()),
        }
    }

    /// The next read's promise: `{done, value}`, as a default reader's.
    fn read(&self) -> js_sys::Promise {
        match self {
            // Each read gets a buffer of its own: the last one went on to R2.
            BodyReader::Byob(reader) => {
                reader.read_with_array_buffer_view(&js_sys::Uint8Array::new_with_length(READ_BYTES))
            }
            BodyReader::Default(reader) => reader.read(),
        }
    }
}

/// The writes a feed issued and has not yet seen taken, oldest first,
/// bounded by `WriteWindow`: the bytes it counts are at least those R2
/// has not taken (a later write may be taken before the oldest).
#[derive(Default)]
struct Writes {
    futures: VecDeque<JsFuture>,
    window: WriteWindow,
}

impl Writes {
    fn issue(&mut self, write: JsFuture, len: u64) {
        self.futures.push_back(write);
        self.window.issued(len);
    }

    /// Waits for the oldest writes while the window is full (`all`: until
    /// none is left).
    async fn settle(&mut self, all: bool) -> Result<(), wasm_bindgen::JsValue> {
        while self.window.full() || (all && self.window.pending()) {
            let Some(oldest) = self.futures.pop_front() else {
                break;
            };
            oldest.await?;
            self.window.taken();
        }
        Ok(())
    }
}

/// Puts each piece under the fill's key for it as its bytes stream in
/// (`PIECES_IN_FLIGHT` at once, so one piece's `put` completing does not
/// hold up the next one's bytes), and reports each as it lands, in order.
async fn land(
    bucket: &Bucket,
    id: &CallIdentity,
    fill: Fill<'_>,
    landing: mpsc::Receiver<(u32, web_sys::ReadableStream)>,
) -> Result<(), AttemptOutcome> {
    let mut puts = landing
        .map(|(index, stream)| {
            let key = piece_key(&id.business, &id.call_sid, fill.id, index);
            async move {
                let put = bucket.put(key, Data::ReadableStream(stream)).execute();
                (index, put.await)
            }
        })
        .buffered(PIECES_IN_FLIGHT);
    let mut failed = None;
    while let Some((index, put)) = puts.next().await {
        match put {
            Ok(_) if failed.is_none() => (fill.report)(FillEvent::Landed(index)),
            Ok(_) => {}
            Err(e) if failed.is_none() => {
                // No further piece is taken (the feed's next one fails), and
                // the puts already running are waited for: none outlives
                // the attempt.
                puts.get_mut().get_mut().close();
                failed = Some(AttemptOutcome::transient(
                    Failure::NotStored,
                    format!("R2 piece: {e}"),
                ));
            }
            Err(_) => {}
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Deletes every piece of every fill of this call but fill `keep`'s (R2
/// deletes at most 1 000 keys at once). A fill's own pieces are deleted by
/// name when its attempt ends (`fill::piece_keys`); this list finds those
/// of a fill that died with its instance.
async fn delete_pieces(bucket: &Bucket, id: &CallIdentity, keep: u64) -> EdgeResult<()> {
    let prefix = fills_prefix(&id.business, &id.call_sid);
    let kept = fill_prefix(&id.business, &id.call_sid, keep);
    loop {
        let listed = bucket
            .list()
            .prefix(prefix.clone())
            .limit(1000)
            .execute()
            .await?;
        let keys: Vec<String> = listed
            .objects()
            .iter()
            .map(|o| o.key())
            .filter(|k| !k.starts_with(&kept))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        bucket.delete_multiple(keys).await?;
        if !listed.truncated() {
            return Ok(());
        }
    }
}

/// A body of unknown length: read in parts of exactly `PART_BYTES` (R2
/// wants every part but the last of one size) into a multipart upload that
/// is completed only after the body's clean end (or one `put` when it is
/// small). Memory: one part and one chunk of the body.
async fn store_in_parts<G, Gut>(
    config: &EdgeConfig,
    bucket: &Bucket,
    key: &str,
    mut response: Response,
    meta: StoreMeta,
    origin_read: G,
) -> AttemptOutcome
where
    G: FnOnce() -> Gut,
    Gut: Future<Output = ()>,
{
    let mut stream = match response.stream() {
        Ok(s) => s,
        Err(_) => {
            origin_read().await;
            return put(bucket, key, Data::Empty, 0, &meta).await;
        }
    };
    let mut upload: Option<MultipartUpload> = None;
    let mut parts = Vec::new();
    let mut buffer: Vec<u8> = Vec::with_capacity(PART_BYTES);
    let mut total: u64 = 0;
    let failure = 'read: loop {
        let chunk = match stream.next().await {
            None => break None,
            Some(Err(e)) => break Some(AttemptOutcome::transient(Failure::CutOff, e.to_string())),
            Some(Ok(chunk)) => chunk,
        };
        total += chunk.len() as u64;
        if total > config.max_recording_bytes {
            break Some(AttemptOutcome::permanent(
                Failure::TooLarge,
                format!("more than {} bytes", config.max_recording_bytes),
            ));
        }
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let take = rest.len().min(PART_BYTES - buffer.len());
            buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buffer.len() < PART_BYTES {
                continue;
            }
            if upload.is_none() {
                match bucket
                    .create_multipart_upload(key)
                    .http_metadata(meta.http())
                    .execute()
                    .await
                {
                    Ok(u) => upload = Some(u),
                    Err(e) => {
                        break 'read Some(AttemptOutcome::transient(
                            Failure::NotStored,
                            format!("R2 upload: {e}"),
                        ))
                    }
                }
            }
            let Some(u) = upload.as_ref() else {
                break 'read None;
            };
            let part = std::mem::replace(&mut buffer, Vec::with_capacity(PART_BYTES));
            match u.upload_part(parts.len() as u16 + 1, part).await {
                Ok(p) => parts.push(p),
                Err(e) => {
                    break 'read Some(AttemptOutcome::transient(
                        Failure::NotStored,
                        format!("R2 part: {e}"),
                    ))
                }
            }
        }
    };
    if let Some(outcome) = failure {
        if let Some(u) = upload {
            let _ = u.abort().await;
        }
        return outcome;
    }
    origin_read().await;
    let Some(u) = upload else {
        return put(bucket, key, Data::Bytes(buffer), total, &meta).await;
    };
    if !buffer.is_empty() {
        match u.upload_part(parts.len() as u16 + 1, buffer).await {
            Ok(p) => parts.push(p),
            Err(e) => {
                let _ = u.abort().await;
                return AttemptOutcome::transient(Failure::NotStored, format!("R2 part: {e}"));
            }
        }
    }
    let upload_id = u.upload_id().await;
    match u.complete(parts).await {
        Ok(object) if object.size() == total => AttemptOutcome::Stored { size: total },
        Ok(object) => {
            let _ = bucket.delete(key).await;
            AttemptOutcome::transient(
                Failure::NotStored,
                format!("stored {} bytes of {total}", object.size()),
            )
        }
        Err(e) => {
            // Its parts would linger until R2's lifecycle removes them.
            if let Ok(u) = bucket.resume_multipart_upload(key, upload_id) {
                let _ = u.abort().await;
            }
            AttemptOutcome::transient(Failure::NotStored, format!("R2 complete: {e}"))
        }
    }
}

/// Puts the body under the served key; R2 makes it visible only whole.
async fn put(
    bucket: &Bucket,
    key: &str,
    data: Data,
    length: u64,
    meta: &StoreMeta,
) -> AttemptOutcome {
    match bucket
        .put(key, data)
        .http_metadata(meta.http())
        .custom_metadata(meta.custom(length))
        .execute()
        .await
    {
        Ok(Some(object)) if object.size() == length => AttemptOutcome::Stored { size: length },
        Ok(Some(object)) => {
            let _ = bucket.delete(key).await;
            AttemptOutcome::transient(
                Failure::NotStored,
                format!("stored {} bytes of {length}", object.size()),
            )
        }
        Ok(None) => AttemptOutcome::transient(Failure::NotStored, "R2 stored nothing"),
        Err(e) => AttemptOutcome::transient(Failure::CutOff, e.to_string()),
    }
}
