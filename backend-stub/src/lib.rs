//! The origin stub: the existing backend's call list and the telephony
//! provider's recording store, as one axum app.
//!
//! `app` returns the `Router`, so tests call it in-process without a socket
//! and the binary only binds it. Origin routes need `Authorization: Bearer
//! <ORIGIN_TOKEN>`; the `/__` admin routes (knobs, stats) are local-only and
//! take no auth. No input, however malformed, makes a handler panic.

pub mod audio;
pub mod catalog;
pub mod knobs;
pub mod stats;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::stream;
use playback_core::wire::{CallSummary, ErrorBody};
use playback_core::CallSid;

use crate::audio::Recording;
use crate::catalog::Catalog;
use crate::knobs::{AttemptPlan, Knobs};
use crate::stats::{InFlight, Stats};

const CHUNK_LEN: usize = 64 * 1024;
/// How long a hanging attempt waits before it gives up on its own.
const HANG_FOR: Duration = Duration::from_secs(3600);

pub struct Stub {
    token: String,
    catalog: Catalog,
    knobs: Mutex<(Knobs, Instant)>,
    pub stats: Stats,
}

impl Stub {
    pub fn new(token: impl Into<String>, knobs: Knobs) -> Arc<Self> {
        Arc::new(Stub {
            token: token.into(),
            catalog: Catalog::demo(),
            knobs: Mutex::new((knobs, Instant::now())),
            stats: Stats::default(),
        })
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
    Router::new()
        .route("/v1/businesses/{bid}/calls", get(handle_list_calls))
        .route(
            "/v1/businesses/{bid}/calls/{call_sid}/recording",
            get(handle_recording),
        )
        .route("/__knobs", get(handle_get_knobs).post(handle_set_knobs))
        .route("/__stats", get(handle_stats))
        .route("/__stats/reset", post(handle_reset_stats))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        })
        .with_state(stub)
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(ErrorBody::new(code))).into_response()
}

async fn handle_list_calls(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    if !stub.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    stub.stats.count_authorized();
    let Ok(Path(bid)) = path else {
        return error(StatusCode::BAD_REQUEST, "bad_path");
    };
    if !stub.catalog.has_business(&bid) {
        return error(StatusCode::NOT_FOUND, "not_found");
    }
    let mut calls: Vec<CallSummary> = stub
        .catalog
        .listed_calls(&bid)
        .map(|c| c.summary.clone())
        .collect();
    calls.reverse();
    Json(calls).into_response()
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
    let (faults, set_at) = {
        let guard = stub.knobs.lock().unwrap_or_else(|p| p.into_inner());
        (guard.0.for_call(&sid).clone(), guard.1)
    };
    tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    match faults.plan(attempt, set_at.elapsed().as_secs()) {
        AttemptPlan::Hang => {
            tokio::time::sleep(HANG_FOR).await;
            error(StatusCode::GATEWAY_TIMEOUT, "hung")
        }
        AttemptPlan::Fail => error(StatusCode::INTERNAL_SERVER_ERROR, "injected_failure"),
        AttemptPlan::NotReady => error(StatusCode::NOT_FOUND, "not_ready"),
        AttemptPlan::Serve { truncate } => {
            stub.stats.mark_started(&sid);
            let body = RecordingBody {
                recording,
                offset: 0,
                stop_at: if truncate {
                    recording.len() / 2
                } else {
                    recording.len()
                },
                pause_at: (faults.mid_body_delay_ms > 0).then_some(recording.len() / 2),
                pause: Duration::from_millis(faults.mid_body_delay_ms),
                stats: stub.stats.clone(),
                sid,
                _in_flight: in_flight,
            };
            Response::builder()
                .header(header::CONTENT_TYPE, audio::CONTENT_TYPE)
                .header(header::CONTENT_LENGTH, recording.len())
                .header(header::ETAG, recording.etag())
                .body(Body::from_stream(body.into_stream()))
                .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response"))
        }
    }
}

/// The body of one attempt, generated chunk by chunk as it is sent.
struct RecordingBody {
    recording: Recording,
    offset: u64,
    stop_at: u64,
    pause_at: Option<u64>,
    pause: Duration,
    stats: Stats,
    sid: String,
    _in_flight: InFlight,
}

impl RecordingBody {
    fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        stream::unfold(self, |mut body| async move {
            if body.offset >= body.stop_at {
                if body.stop_at == body.recording.len() {
                    return None;
                }
                // Cut short: end the connection with an error instead of a clean end of body.
                body.stop_at = u64::MAX;
                return Some((Err(std::io::Error::other("injected truncation")), body));
            }
            if body.pause_at.is_some_and(|at| body.offset >= at) {
                body.pause_at = None;
                tokio::time::sleep(body.pause).await;
            }
            let mut end = (body.offset + CHUNK_LEN as u64).min(body.stop_at);
            if let Some(at) = body.pause_at.filter(|&at| at > body.offset) {
                end = end.min(at);
            }
            let mut buf = vec![0; (end - body.offset) as usize];
            body.recording.read_at(body.offset, &mut buf);
            body.offset = end;
            // Counted as the last byte is handed over: hyper may never poll a body past its Content-Length.
            if end == body.recording.len() {
                body.stats.mark_completed(&body.sid);
            }
            Some((Ok(Bytes::from(buf)), body))
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
    StatusCode::NO_CONTENT
}
