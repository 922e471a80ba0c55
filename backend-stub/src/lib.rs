//! The origin stub: the existing backend's call list and the telephony
//! provider's recording store, as one axum app, in one of two dialects
//! ([`Api`]): the generic API (`/v1/businesses/…`, `Authorization: Bearer
//! <ORIGIN_TOKEN>`), or Twilio's REST API 2010-04-01 (`/2010-04-01/…`,
//! HTTP Basic, described in [`twilio`]). A stub serves one dialect's routes
//! and answers any other path 404 in that dialect's error body.
//!
//! `app` returns the `Router`, so tests call it in-process without a socket
//! and the binary only binds it. The `/__` admin routes (knobs, stats) and
//! `/healthz` are local-only, take no auth and exist in both dialects. No
//! input, however malformed, makes a handler panic.
//!
//! `GET /media/{bid}/{sid}?hop=K` stands for the provider's media host (a
//! CDN behind signed URLs), in both dialects: it takes no auth (any
//! `sig`/`hop` query is accepted), redirects to `hop=K+1` while K < the
//! `redirect_hops` knob and then serves the recording with the same body
//! faults as the recording route. Twilio's dialect has its own media host
//! route (see [`twilio`]). Redirects point at [`Stub::set_media_base`]'s
//! URL, or, unset, at the request's own `Host`. The fault knobs are
//! described in [`knobs`]; both dialects apply them to a recording's media
//! with the same code (`attempt_media`, `serve`) and differ only in how
//! they word a refusal and where media lives.

pub mod audio;
pub mod catalog;
pub mod knobs;
mod mix;
pub mod stats;
pub mod twilio;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::stream;
use playback_core::list_query::{percent_decode, percent_encode, ListQuery};
use playback_core::wire::{CallSummary, ErrorBody};
use playback_core::CallSid;

use crate::audio::Recording;
use crate::catalog::Catalog;
use crate::knobs::{AttemptPlan, FaultSet, Knobs};
use crate::stats::{InFlight, Stats};

const CHUNK_LEN: usize = 64 * 1024;
/// A chunked body's chunks: a size that divides no power of two, so a
/// reader that stores parts must cut them itself.
const ODD_CHUNK_LEN: usize = 65_537;
/// How long a hanging attempt waits before it gives up on its own.
const HANG_FOR: Duration = Duration::from_secs(3600);
/// How long a truncated body waits, after its last bytes, before it breaks the connection.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(50);
/// The latest time an HTTP date can show (9999-12-31 23:59:59 UTC).
const LAST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Which origin API the stub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// `/v1/businesses/…` with a Bearer token.
    #[default]
    Generic,
    /// Twilio's REST API 2010-04-01 with HTTP Basic.
    Twilio,
}

impl Api {
    /// `generic` or `twilio` (the `--api` flag and `STUB_API`).
    pub fn parse(name: &str) -> Option<Api> {
        match name {
            "generic" => Some(Api::Generic),
            "twilio" => Some(Api::Twilio),
            _ => None,
        }
    }
}

pub struct Stub {
    token: String,
    api: Api,
    catalog: Catalog,
    knobs: Mutex<(Knobs, Instant)>,
    /// Where redirects to the media host point (`http://host:port`, no trailing slash).
    media_base: Mutex<Option<String>>,
    /// Per call SID: when anyone first asked for its recordings (Twilio's
    /// `processing` recordings complete `processing_secs` after that).
    first_asked: Mutex<HashMap<String, Instant>>,
    pub stats: Stats,
}

impl Stub {
    pub fn new(token: impl Into<String>, knobs: Knobs) -> Arc<Self> {
        Stub::with_catalog(token, knobs, Catalog::demo())
    }

    pub fn with_catalog(token: impl Into<String>, knobs: Knobs, catalog: Catalog) -> Arc<Self> {
        Stub::with_api(token, knobs, catalog, Api::Generic)
    }

    /// A stub that speaks `api`; in Twilio's, `token` is the Auth Token of
    /// every account and the API key's secret.
    pub fn with_api(
        token: impl Into<String>,
        knobs: Knobs,
        catalog: Catalog,
        api: Api,
    ) -> Arc<Self> {
        Arc::new(Stub {
            token: token.into(),
            api,
            catalog,
            knobs: Mutex::new((knobs, Instant::now())),
            media_base: Mutex::new(None),
            first_asked: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        })
    }

    pub fn api(&self) -> Api {
        self.api
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        *self.knobs.lock().unwrap_or_else(|p| p.into_inner()) = (knobs, Instant::now());
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Makes redirects to the media host point at `url` (e.g. `http://127.0.0.2:PORT`).
    pub fn set_media_base(&self, url: String) {
        *self.media_base.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(url.trim_end_matches('/').to_owned());
    }

    /// The media host's base URL: the one set, else this request's own host,
    /// else empty (a relative redirect).
    fn media_base(&self, headers: &HeaderMap) -> String {
        if let Some(base) = self
            .media_base
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return base;
        }
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|host| format!("http://{host}"))
            .unwrap_or_default()
    }

    /// The call's fault set and when the knobs were set.
    fn faults(&self, sid: &str) -> (FaultSet, Instant) {
        let guard = self.knobs.lock().unwrap_or_else(|p| p.into_inner());
        (guard.0.for_call(sid).clone(), guard.1)
    }

    /// How long ago anyone first asked for `call_sid`'s recordings, this
    /// request starting the clock when nobody had.
    fn since_first_asked(&self, call_sid: &str) -> Duration {
        self.first_asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(call_sid.to_owned())
            .or_insert_with(Instant::now)
            .elapsed()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        constant_time_eq(presented.as_bytes(), self.token.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing digests keeps the time independent of where the inputs differ and of their lengths.
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

pub fn app(stub: Arc<Stub>) -> Router {
    // Each mode's media host route is its own: Twilio's takes signed URLs
    // only, and the generic one is not there to go round it.
    let api = match stub.api {
        Api::Generic => Router::new()
            .route("/v1/businesses/{bid}/calls", get(handle_list_calls))
            .route(
                "/v1/businesses/{bid}/calls/{call_sid}/recording",
                get(handle_recording),
            )
            .route("/media/{bid}/{call_sid}", get(handle_media))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found") })
            .method_not_allowed_fallback(|| async {
                error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }),
        Api::Twilio => twilio::routes(),
    };
    api.route("/__knobs", get(handle_get_knobs).post(handle_set_knobs))
        .route("/__stats", get(handle_stats))
        .route("/__stats/reset", post(handle_reset_stats))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(stub)
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(ErrorBody::new(code))).into_response()
}

async fn handle_list_calls(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    if !stub.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    stub.stats.count_authorized();
    stub.stats.count_list_request();
    let Ok(Path(bid)) = path else {
        return error(StatusCode::BAD_REQUEST, "bad_path");
    };
    if !stub.catalog.has_business(&bid) {
        return error(StatusCode::NOT_FOUND, "not_found");
    }
    let pairs = query_pairs(query.as_deref().unwrap_or_default());
    let query = match ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(query) => query,
        Err(e) => {
            let body = ErrorBody::with_detail("bad_query", e.parameter());
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let start = match query
        .cursor
        .as_deref()
        .map(|c| c.strip_prefix('o')?.parse::<usize>().ok())
    {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => {
            let body = ErrorBody::with_detail("bad_query", "cursor");
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let Knobs {
        hidden_from_list: hidden,
        list_latency_ms,
        list_fails,
        ..
    } = stub.knobs();
    if list_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(list_latency_ms)).await;
    }
    if list_fails {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "injected_failure");
    }
    // Newest first: the catalog holds each business's calls oldest first.
    let matching: Vec<&CallSummary> = stub
        .catalog
        .listed_calls(&bid)
        .rev()
        .map(|c| &c.summary)
        .filter(|c| !hidden.iter().any(|h| h == c.call_sid.as_str()))
        .filter(|c| query.matches(&c.started_at, &c.from, &c.to))
        .collect();
    let limit = query.page_size() as usize;
    let page: Vec<CallSummary> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|c| (*c).clone())
        .collect();
    let mut response = Json(page).into_response();
    if start + limit < matching.len() {
        let link = format!(
            "</v1/businesses/{bid}/calls?{}>; rel=\"next\"",
            next_page_query(&query, start + limit)
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// The query of the page after this one: the same filters, the next cursor.
fn next_page_query(query: &ListQuery, next: usize) -> String {
    let mut parts = vec![
        format!("limit={}", query.page_size()),
        format!("cursor=o{next}"),
    ];
    if let Some(q) = &query.q {
        parts.push(format!("q={q}"));
    }
    if let Some(since) = &query.since {
        parts.push(format!("since={}", percent_encode(&since.text)));
    }
    if let Some(until) = &query.until {
        parts.push(format!("until={}", percent_encode(&until.text)));
    }
    parts.join("&")
}

/// A query string's `(name, value)` pairs, percent-decoded (`+` is a space).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

async fn handle_recording(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    if !stub.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    stub.stats.count_authorized();
    let Ok(Path((bid, sid))) = path else {
        return error(StatusCode::BAD_REQUEST, "bad_path");
    };
    if CallSid::parse(&sid).is_err() {
        return error(StatusCode::BAD_REQUEST, "invalid_call_sid");
    }
    let Some(call) = stub.catalog.find(&bid, &sid) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    let recording = call.recording;
    let (attempt, in_flight) = stub.stats.begin_attempt(&bid, &sid);
    let base = stub.media_base(&headers);
    let answers = GenericAnswers {
        media: format!("{base}/media/{bid}/{sid}?hop=1"),
    };
    let media = MediaAttempt {
        call_sid: &sid,
        stats_key: &sid,
        recording,
        attempt,
        in_flight,
    };
    attempt_media(&stub, &headers, media, &answers).await
}

/// The generic API's words for a media attempt's answers.
struct GenericAnswers {
    /// The media host's first hop for this call.
    media: String,
}

impl MediaAnswers for GenericAnswers {
    fn hung(&self) -> Response {
        error(StatusCode::GATEWAY_TIMEOUT, "hung")
    }

    fn failed(&self) -> Response {
        error(StatusCode::INTERNAL_SERVER_ERROR, "injected_failure")
    }

    fn throttled(&self, status: u16, faults: &FaultSet) -> Response {
        throttled(status, faults)
    }

    fn not_ready(&self) -> Response {
        error(StatusCode::NOT_FOUND, "not_ready")
    }

    fn redirect_to(&self, faults: &FaultSet) -> Option<String> {
        (faults.redirect_hops > 0).then(|| self.media.clone())
    }
}

/// How an origin API answers what a media attempt's fault plan decided:
/// the two dialects differ only in these words and in where media lives.
trait MediaAnswers {
    fn hung(&self) -> Response;
    fn failed(&self) -> Response;
    fn throttled(&self, status: u16, faults: &FaultSet) -> Response;
    fn not_ready(&self) -> Response;
    /// Where the attempt redirects instead of serving, if it does.
    fn redirect_to(&self, faults: &FaultSet) -> Option<String>;
}

/// One request for a recording's media on the API host, already counted.
struct MediaAttempt<'a> {
    /// The call whose fault set applies.
    call_sid: &'a str,
    /// What the stats count the attempt's downloads under.
    stats_key: &'a str,
    recording: Recording,
    /// The attempt's number, from [`Stats::begin_attempt`].
    attempt: u32,
    in_flight: InFlight,
}

/// Plays a media attempt out as the call's fault set says: wait, hang,
/// fail, throttle, not ready, redirect to the media host, or serve.
async fn attempt_media(
    stub: &Stub,
    headers: &HeaderMap,
    media: MediaAttempt<'_>,
    answers: &impl MediaAnswers,
) -> Response {
    stub.stats
        .saw_accept_encoding(media.stats_key, accept_encoding(headers).as_deref());
    let (faults, set_at) = stub.faults(media.call_sid);
    tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    match faults.plan(media.attempt, set_at.elapsed().as_secs()) {
        AttemptPlan::Hang => {
            tokio::time::sleep(HANG_FOR).await;
            answers.hung()
        }
        AttemptPlan::Fail => answers.failed(),
        AttemptPlan::Throttle { status } => answers.throttled(status, &faults),
        AttemptPlan::NotReady => answers.not_ready(),
        AttemptPlan::Serve { truncate } => match answers.redirect_to(&faults) {
            Some(location) => redirect(&location),
            None => {
                let key = media.stats_key.to_owned();
                serve(
                    stub,
                    &faults,
                    media.recording,
                    key,
                    headers,
                    truncate,
                    media.in_flight,
                )
                .await
            }
        },
    }
}

/// The media host: a signed URL, so no auth. Redirects hop by hop, then
/// serves the body as the recording route would have, for the call's
/// latest attempt.
async fn handle_media(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    stub.stats
        .count_media_request(headers.contains_key(header::AUTHORIZATION));
    let Ok(Path((bid, sid))) = path else {
        return error(StatusCode::BAD_REQUEST, "bad_path");
    };
    if CallSid::parse(&sid).is_err() {
        return error(StatusCode::BAD_REQUEST, "invalid_call_sid");
    }
    let Some(call) = stub.catalog.find(&bid, &sid) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    let recording = call.recording;
    stub.stats
        .saw_accept_encoding(&sid, accept_encoding(&headers).as_deref());
    let hop = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("hop="))
        .and_then(|k| k.parse::<u32>().ok())
        .unwrap_or(0);
    let (faults, _) = stub.faults(&sid);
    if hop < faults.redirect_hops {
        let base = stub.media_base(&headers);
        return redirect(&format!("{base}/media/{bid}/{sid}?hop={}", hop + 1));
    }
    serve_at_media_host(&stub, &headers, &bid, &sid, recording, &faults).await
}

/// The media host's last hop: the body of the latest attempt counted
/// under `stats_key`, with that attempt's body faults (its caller has
/// recorded the request's `Accept-Encoding`).
async fn serve_at_media_host(
    stub: &Stub,
    headers: &HeaderMap,
    business: &str,
    stats_key: &str,
    recording: Recording,
    faults: &FaultSet,
) -> Response {
    let attempt = stub.stats.attempts(stats_key).max(1);
    let in_flight = stub.stats.hold(business);
    let truncate = attempt <= faults.truncate_first;
    serve(
        stub,
        faults,
        recording,
        stats_key.to_owned(),
        headers,
        truncate,
        in_flight,
    )
    .await
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response")),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "bad_location"),
    }
}

/// `Retry-After` for a throttled answer: seconds, or an HTTP date.
fn retry_after(faults: &FaultSet) -> String {
    if faults.retry_after_as_date {
        http_date_in(faults.retry_after_secs)
    } else {
        faults.retry_after_secs.to_string()
    }
}

/// A throttled answer: `status` with `Retry-After` in seconds or as an HTTP date.
fn throttled(status: u16, faults: &FaultSet) -> Response {
    let retry_after = retry_after(faults);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut response = error(status, "throttled");
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The IMF-fixdate of now + `secs`, with now rounded up to the next whole
/// second so that the date is never earlier than now + `secs`.
pub fn http_date_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let now_up = now.as_secs() + u64::from(now.subsec_nanos() > 0);
    let at = now_up.saturating_add(secs).min(LAST_HTTP_DATE_SECS);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(at))
}

/// The request's `Accept-Encoding` headers, joined as one list.
fn accept_encoding(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Whether `Accept-Encoding` lists gzip (or x-gzip) with a quality above 0.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && q > 0.0
    })
}

/// Serves the recording's body as the fault set says: empty, gzipped (when
/// asked), without `Content-Length` (chunked), cut short, paused midway.
async fn serve(
    stub: &Stub,
    faults: &FaultSet,
    recording: Recording,
    sid: String,
    headers: &HeaderMap,
    truncate: bool,
    in_flight: InFlight,
) -> Response {
    let recording = if faults.lying_header {
        recording.with_lying_header()
    } else {
        recording
    };
    let mut response = Response::builder().header(header::CONTENT_TYPE, audio::CONTENT_TYPE);
    if faults.gzip_when_asked {
        response = response.header(header::VARY, "accept-encoding");
    }
    let etag = recording.etag();
    if faults.empty_body {
        stub.stats.mark_started(&sid);
        stub.stats.mark_completed(&sid);
        return response
            .header(header::CONTENT_LENGTH, 0)
            .header(header::ETAG, tagged(&etag, "empty"))
            .body(Body::empty())
            .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response"));
    }
    let gzip = faults.gzip_when_asked && accept_encoding(headers).is_some_and(|a| accepts_gzip(&a));
    let source = if gzip {
        match tokio::task::spawn_blocking(move || gzipped(recording)).await {
            Ok(Ok(bytes)) => {
                response = response
                    .header(header::CONTENT_ENCODING, "gzip")
                    .header(header::ETAG, tagged(&etag, "gzip"));
                Source::Bytes(bytes)
            }
            _ => return error(StatusCode::INTERNAL_SERVER_ERROR, "gzip"),
        }
    } else {
        response = response.header(header::ETAG, etag);
        Source::Generated(recording)
    };
    let len = source.len();
    if !faults.chunked {
        response = response.header(header::CONTENT_LENGTH, len);
    }
    stub.stats.mark_started(&sid);
    let body = RecordingBody {
        source,
        chunk_len: if faults.chunked {
            ODD_CHUNK_LEN
        } else {
            CHUNK_LEN
        },
        offset: 0,
        stop_at: if truncate { len / 2 } else { len },
        pause_at: (faults.mid_body_delay_ms > 0).then_some(len / 2),
        pause: Duration::from_millis(faults.mid_body_delay_ms),
        pace: (faults.bytes_per_second > 0).then_some(faults.bytes_per_second),
        started: None,
        stats: stub.stats.clone(),
        sid,
        _in_flight: in_flight,
    };
    response
        .body(Body::from_stream(body.into_stream()))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

/// A strong validator for another representation of the same recording.
fn tagged(etag: &str, representation: &str) -> String {
    format!("{}-{representation}\"", etag.trim_end_matches('"'))
}

/// The whole recording, gzip-compressed.
fn gzipped(recording: Recording) -> std::io::Result<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut buf = vec![0; CHUNK_LEN];
    let mut offset = 0;
    while offset < recording.len() {
        let n = recording.read_at(offset, &mut buf);
        encoder.write_all(&buf[..n])?;
        offset += n as u64;
    }
    encoder.finish().map(Bytes::from)
}

/// The bytes a body is made of: generated from the recording as they are
/// sent, or already in memory (compressed).
enum Source {
    Generated(Recording),
    Bytes(Bytes),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Generated(r) => r.len(),
            Source::Bytes(b) => b.len() as u64,
        }
    }

    fn slice(&self, start: u64, end: u64) -> Bytes {
        match self {
            Source::Generated(r) => {
                let mut buf = vec![0; (end - start) as usize];
                r.read_at(start, &mut buf);
                Bytes::from(buf)
            }
            Source::Bytes(b) => b.slice(start as usize..end as usize),
        }
    }
}

/// The body of one attempt, generated chunk by chunk as it is sent.
struct RecordingBody {
    source: Source,
    chunk_len: usize,
    offset: u64,
    stop_at: u64,
    pause_at: Option<u64>,
    pause: Duration,
    /// Bytes per second, when the body is paced.
    pace: Option<u64>,
    /// When the first chunk went out (the pace counts from there).
    started: Option<tokio::time::Instant>,
    stats: Stats,
    sid: String,
    _in_flight: InFlight,
}

impl RecordingBody {
    fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        stream::unfold(self, |mut body| async move {
            if body.offset >= body.stop_at {
                if body.stop_at == body.source.len() {
                    return None;
                }
                // Cut short: end the connection with an error instead of a clean end of body.
                // Waiting first lets hyper flush the headers and the bytes it holds: an error
                // in the same poll would drop them, so a small recording would get no answer at all.
                tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                body.stop_at = u64::MAX;
                return Some((Err(std::io::Error::other("injected truncation")), body));
            }
            if body.pause_at.is_some_and(|at| body.offset >= at) {
                body.pause_at = None;
                tokio::time::sleep(body.pause).await;
            }
            let mut end = (body.offset + body.chunk_len as u64).min(body.stop_at);
            if let Some(at) = body.pause_at.filter(|&at| at > body.offset) {
                end = end.min(at);
            }
            if let Some(rate) = body.pace {
                // Each chunk leaves no earlier than its last byte is due.
                let started = *body.started.get_or_insert_with(tokio::time::Instant::now);
                let due = Duration::from_micros(end.saturating_mul(1_000_000) / rate);
                tokio::time::sleep_until(started + due).await;
            }
            let chunk = body.source.slice(body.offset, end);
            body.offset = end;
            // Counted as the last byte is handed over: hyper may never poll a body past its Content-Length.
            if end == body.source.len() {
                body.stats.mark_completed(&body.sid);
            }
            Some((Ok(chunk), body))
        })
    }
}

async fn handle_get_knobs(State(stub): State<Arc<Stub>>) -> Json<Knobs> {
    Json(stub.knobs())
}

async fn handle_set_knobs(
    State(stub): State<Arc<Stub>>,
    body: Result<Json<Knobs>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(knobs)) => {
            stub.set_knobs(knobs.clone());
            Json(knobs).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(ErrorBody::with_detail("bad_knobs", e.body_text())),
        )
            .into_response(),
    }
}

async fn handle_stats(State(stub): State<Arc<Stub>>) -> Json<stats::Snapshot> {
    Json(stub.stats.snapshot())
}

async fn handle_reset_stats(State(stub): State<Arc<Stub>>) -> StatusCode {
    stub.stats.reset();
    // A recording processing since it was first asked for starts over too.
    stub.first_asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    StatusCode::NO_CONTENT
}
