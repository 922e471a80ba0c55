//! Twilio's REST API (2010-04-01), as far as a recording player uses it,
//! served when the stub runs with [`crate::Api::Twilio`]. Paths, bodies and
//! status codes follow Twilio's published OpenAPI description
//! (`twilio/twilio-oai`, `spec/json/twilio_api_v2010.json`).
//!
//! Accounts: each business of the catalog is a subaccount
//! ([`account_sid`]) of [`PARENT_ACCOUNT_SID`]. Requests carry HTTP Basic
//! credentials whose secret is the stub's token: the parent's SID reaches
//! every account, a subaccount's SID its own, [`API_KEY_SID`] acme's only.
//! Bad or missing credentials, and credentials that do not reach the
//! path's account, are 401 (code 20003); an unknown account, call,
//! recording or path is 404 (20404); a bad `PageSize`, `Page`, `PageToken`
//! or `StartTime` is 400 (20001). Every error has Twilio's body: `code`,
//! `message`, `more_info`, `status`.
//!
//! - `GET /2010-04-01/Accounts/{AC}/Calls.json`: the account's calls,
//!   newest first, child legs included, in Twilio's page envelope. Takes
//!   `PageSize` (1–1000, 50 unless given), `Page`, `PageToken` (only those
//!   this stub issued), `From`, `To`, `StartTime`, `StartTime>` and
//!   `StartTime<` (see [`CallFilter::parse`]); ignores any other parameter.
//!   `next_page_uri` carries the filters on. The list knobs apply.
//! - `GET …/Calls/{CA}.json`: one call.
//! - `GET …/Calls/{CA}/Recordings.json`: the call's recordings that are not
//!   deleted, in the same envelope.
//! - `GET …/Recordings/{RE}.json`: one recording; a deleted one is 404
//!   unless `IncludeSoftDeleted=true`, which shows it as `deleted`.
//! - `GET …/Recordings/{RE}.wav` (or without an extension): the media, only
//!   of a `completed` recording (404 20404 otherwise). One channel unless
//!   `RequestedChannels=2` asks for both of a two-channel recording. It
//!   needs no credentials unless the `twilio_media_auth` knob is on, and
//!   answers 302 to the media host unless `twilio_media_direct` is on.
//!   The call's fault knobs apply, counted under the recording's SID. Every
//!   such request naming one of the account's recordings is an attempt in
//!   the stats, also one answered 404 (deleted, not completed, `.mp3`), so
//!   a test sees a client that asks for media it should not.
//! - `GET /media/twilio/{AC}/{RE}?…&Expires=…&Signature=…&hop=K` (the media
//!   host): no credentials, but the signature the API host's redirect
//!   carries (a keyed hash of the recording, the channels asked for and the
//!   expiry) and an unexpired `Expires`, else 403; redirects while K <
//!   `redirect_hops`, then serves. So the media cannot be had without the
//!   API host's answer, and `twilio_media_auth` cannot be gone round.
//!
//! Which calls have child legs and which recordings each call has is fixed
//! by the rules in `calls` ([`Shape`], [`child_leg_of`]).

mod accounts;
mod calls;
mod paging;
mod resources;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub use accounts::{
    account_sid, accounts_json, basic_authorization, business_of_account, Account, Principal,
    API_KEY_BUSINESS, API_KEY_SID, PARENT_ACCOUNT_SID,
};
pub use calls::{
    call_of_shape, child_leg_of, find_leg, find_recording, legs, recording_sid, twilio_shape,
    CallRecording, Leg, Made, Shape, Status, CHILD_LEG_EVERY,
};
pub use paging::{
    page_token, BadParameter, CallFilter, Envelope, Paging, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use resources::{rfc2822, ApiError, CallRecordingResource, CallResource, RecordingResource};

use crate::audio::Recording;
use crate::knobs::{FaultSet, Knobs};
use crate::mix::{fnv1a, splitmix};
use crate::{MediaAnswers, MediaAttempt, Stub};

/// Every path of the API starts here.
pub const API_ROOT: &str = "/2010-04-01";
/// How long the media host's signed URLs claim to last.
const SIGNED_URL_TTL_S: u64 = 3600;

const CODE_INVALID_PARAMETER: u32 = 20_001;
const CODE_AUTHENTICATE: u32 = 20_003;
const CODE_METHOD_NOT_ALLOWED: u32 = 20_004;
const CODE_NOT_FOUND: u32 = 20_404;
const CODE_TOO_MANY_REQUESTS: u32 = 20_429;
const CODE_INTERNAL: u32 = 20_500;

type Answer = Result<Response, Refusal>;

pub(crate) fn routes() -> Router<Arc<Stub>> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            get(handle_calls),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(handle_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json",
            get(handle_call_recordings),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(handle_recording),
        )
        .route("/media/twilio/{account}/{recording}", get(handle_media))
        .fallback(|uri: Uri| async move { not_found(&uri) })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
}

fn api_error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    (status, Json(ApiError::new(status.as_u16(), code, message))).into_response()
}

/// Every refusal of this dialect's routes, mapped once to Twilio's status,
/// code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Bad or missing credentials, or ones that do not reach the account.
    Authenticate,
    /// No such account, call, recording or path.
    NotFound {
        path: String,
    },
    InvalidParameter(&'static str),
    MethodNotAllowed,
    Internal,
    /// The media host's signature is missing, wrong or expired (a signed
    /// URL's store answers 403, without Twilio's error body).
    Forbidden,
}

impl From<BadParameter> for Refusal {
    fn from(BadParameter(name): BadParameter) -> Self {
        Refusal::InvalidParameter(name)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Authenticate => {
                let mut response =
                    api_error(StatusCode::UNAUTHORIZED, CODE_AUTHENTICATE, "Authenticate");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Twilio API\""),
                );
                response
            }
            Refusal::NotFound { path } => api_error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("The requested resource {path} was not found"),
            ),
            Refusal::InvalidParameter(name) => api_error(
                StatusCode::BAD_REQUEST,
                CODE_INVALID_PARAMETER,
                format!("Invalid value for parameter {name}"),
            ),
            Refusal::MethodNotAllowed => api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                CODE_METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Refusal::Internal => api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                CODE_INTERNAL,
                "Internal Server Error",
            ),
            Refusal::Forbidden => StatusCode::FORBIDDEN.into_response(),
        }
    }
}

fn not_found(uri: &Uri) -> Refusal {
    Refusal::NotFound {
        path: uri.path().to_owned(),
    }
}

/// The path's account, if the request's credentials reach it.
fn admit(
    stub: &Stub,
    headers: &HeaderMap,
    account_sid: &str,
    uri: &Uri,
) -> Result<Account, Refusal> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal =
        Principal::authenticate(authorization, &stub.token).ok_or(Refusal::Authenticate)?;
    let account = Account::of_sid(account_sid).ok_or_else(|| not_found(uri))?;
    if !principal.reaches(account) {
        return Err(Refusal::Authenticate);
    }
    stub.stats.count_authorized();
    Ok(account)
}

/// The business of an account that has calls (the parent has none).
fn business_of(account: Account, uri: &Uri) -> Result<&'static str, Refusal> {
    account.business().ok_or_else(|| not_found(uri))
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    crate::query_pairs(uri.query().unwrap_or_default())
}

/// A page: the envelope's fields and the items under `key`.
fn page_body<T: Serialize>(key: &str, items: Vec<T>, envelope: Envelope) -> Response {
    let (Ok(serde_json::Value::Object(mut body)), Ok(items)) =
        (serde_json::to_value(envelope), serde_json::to_value(items))
    else {
        return Refusal::Internal.into_response();
    };
    body.insert(key.to_owned(), items);
    Json(body).into_response()
}

/// A recording's status now; asking starts a `processing` recording's clock.
fn status_of(stub: &Stub, knobs: &Knobs, recording: &CallRecording) -> Status {
    let deleted = knobs.deleted_recordings.contains(&recording.sid);
    let since_first_asked = match recording.state {
        Made::Processing => stub.since_first_asked(&recording.call_sid),
        Made::Completed | Made::Absent => Duration::ZERO,
    };
    let processing = Duration::from_secs(knobs.processing_secs);
    recording.status(deleted, since_first_asked, processing)
}

async fn handle_calls(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(account_sid) = path.map_err(|_| not_found(&uri))?;
    let account = admit(&stub, &headers, &account_sid, &uri)?;
    stub.stats.count_list_request();
    let list_path = format!("{API_ROOT}/Accounts/{account_sid}/Calls.json");
    let pairs = query_pairs(&uri);
    let paging = Paging::parse(&pairs, &list_path)?;
    let filter = CallFilter::parse(&pairs)?;
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
        return Err(Refusal::Internal);
    }
    let mut page = Vec::new();
    let mut more = false;
    if let Some(business) = account.business() {
        let mut matching = legs(&stub.catalog, business)
            .filter(|leg| !hidden.iter().any(|h| *h == leg.sid()))
            .filter(|leg| filter.matches(&leg.summary()))
            .skip(paging.offset);
        page = matching
            .by_ref()
            .take(paging.size)
            .map(|leg| CallResource::of(&leg, &account_sid))
            .collect();
        more = matching.next().is_some();
    }
    let envelope = Envelope::new(&list_path, &paging, filter.query(), page.len(), more);
    Ok(page_body("calls", page, envelope))
}

async fn handle_call(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let Path((account_sid, file)) = path.map_err(|_| not_found(&uri))?;
    let account = admit(&stub, &headers, &account_sid, &uri)?;
    let business = business_of(account, &uri)?;
    let sid = file.strip_suffix(".json").ok_or_else(|| not_found(&uri))?;
    let leg = find_leg(&stub.catalog, business, sid).ok_or_else(|| not_found(&uri))?;
    stub.stats.count_call_fetch(sid);
    Ok(Json(CallResource::of(&leg, &account_sid)).into_response())
}

async fn handle_call_recordings(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let Path((account_sid, call_sid)) = path.map_err(|_| not_found(&uri))?;
    let account = admit(&stub, &headers, &account_sid, &uri)?;
    let business = business_of(account, &uri)?;
    let leg = find_leg(&stub.catalog, business, &call_sid).ok_or_else(|| not_found(&uri))?;
    stub.stats.count_recording_list(&call_sid);
    let list_path = format!("{API_ROOT}/Accounts/{account_sid}/Calls/{call_sid}/Recordings.json");
    let paging = Paging::parse(&query_pairs(&uri), &list_path)?;
    let knobs = stub.knobs();
    let listed: Vec<CallRecordingResource> = leg
        .recordings()
        .iter()
        .map(|r| (r, status_of(&stub, &knobs, r)))
        .filter(|(_, status)| *status != Status::Deleted)
        .map(|(r, status)| CallRecordingResource::of(r, status, &account_sid))
        .collect();
    let more = listed.len() > paging.offset.saturating_add(paging.size);
    let page: Vec<CallRecordingResource> = listed
        .into_iter()
        .skip(paging.offset)
        .take(paging.size)
        .collect();
    let envelope = Envelope::new(&list_path, &paging, "", page.len(), more);
    Ok(page_body("recordings", page, envelope))
}

/// `…/Recordings/{RE}.json` (metadata) or `.wav`, `.mp3`, no extension (media).
async fn handle_recording(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let Path((account_sid, file)) = path.map_err(|_| not_found(&uri))?;
    let (sid, format) = file.split_once('.').unwrap_or((file.as_str(), "wav"));
    match format {
        "json" => recording_metadata(&stub, &headers, &uri, &account_sid, sid),
        // Twilio serves MP3 too; the stub has no MP3 encoder, so asking for one is 404.
        "wav" | "mp3" => recording_media(&stub, &headers, &uri, &account_sid, sid, format).await,
        _ => Err(not_found(&uri)),
    }
}

fn recording_metadata(
    stub: &Stub,
    headers: &HeaderMap,
    uri: &Uri,
    account_sid: &str,
    sid: &str,
) -> Answer {
    let account = admit(stub, headers, account_sid, uri)?;
    let business = business_of(account, uri)?;
    let recording = find_recording(&stub.catalog, business, sid).ok_or_else(|| not_found(uri))?;
    stub.stats.count_recording_fetch(sid);
    let status = status_of(stub, &stub.knobs(), &recording);
    let include_deleted = query_pairs(uri)
        .iter()
        .any(|(k, v)| k == "IncludeSoftDeleted" && v.eq_ignore_ascii_case("true"));
    if status == Status::Deleted && !include_deleted {
        return Err(not_found(uri));
    }
    let api_host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_default();
    let resource = RecordingResource::of(&recording, status, account_sid, &api_host);
    Ok(Json(resource).into_response())
}

async fn recording_media(
    stub: &Stub,
    headers: &HeaderMap,
    uri: &Uri,
    account_sid: &str,
    sid: &str,
    format: &str,
) -> Answer {
    let knobs = stub.knobs();
    let account = if knobs.twilio_media_auth {
        admit(stub, headers, account_sid, uri)?
    } else {
        Account::of_sid(account_sid).ok_or_else(|| not_found(uri))?
    };
    let business = business_of(account, uri)?;
    let recording = find_recording(&stub.catalog, business, sid).ok_or_else(|| not_found(uri))?;
    let (attempt, in_flight) = stub.stats.begin_attempt(business, &recording.sid);
    if format != "wav" || status_of(stub, &knobs, &recording) != Status::Completed {
        return Err(not_found(uri));
    }
    let both_channels = query_pairs(uri)
        .iter()
        .any(|(k, v)| k == "RequestedChannels" && v == "2");
    let answers = TwilioAnswers {
        media: media_host_url(
            stub,
            &stub.media_base(headers),
            account_sid,
            &recording.sid,
            both_channels,
            1,
        ),
        direct: knobs.twilio_media_direct,
        uri: uri.clone(),
    };
    let media = MediaAttempt {
        call_sid: &recording.call_sid,
        stats_key: &recording.sid,
        recording: recording.media(both_channels),
        attempt,
        in_flight,
    };
    Ok(crate::attempt_media(stub, headers, media, &answers).await)
}

/// A signed URL of the media host for one hop.
fn media_host_url(
    stub: &Stub,
    base: &str,
    account_sid: &str,
    recording_sid: &str,
    both: bool,
    hop: u32,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires = now + SIGNED_URL_TTL_S;
    let signature = media_signature(stub, recording_sid, both, expires);
    let channels = if both { "RequestedChannels=2&" } else { "" };
    format!(
        "{base}/media/twilio/{account_sid}/{recording_sid}?{channels}Expires={expires}&Signature={signature:016x}&hop={hop}"
    )
}

/// The media host's signature of a recording, the channels asked for and an
/// expiry, keyed with the stub's token (which the media host never sees
/// from a client).
fn media_signature(stub: &Stub, recording_sid: &str, both: bool, expires: u64) -> u64 {
    let signed = format!("{}:{recording_sid}:{both}:{expires}", stub.token);
    splitmix(fnv1a(signed.as_bytes()))
}

/// Whether a media host request carries a valid, unexpired signature.
fn signed(stub: &Stub, recording_sid: &str, both: bool, pairs: &[(String, String)]) -> bool {
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (Some(expires), Some(signature)) = (
        value("Expires").and_then(|v| v.parse::<u64>().ok()),
        value("Signature").and_then(|v| u64::from_str_radix(v, 16).ok()),
    ) else {
        return false;
    };
    expires >= now && signature == media_signature(stub, recording_sid, both, expires)
}

/// Twilio's words for a media attempt's answers.
struct TwilioAnswers {
    /// The media host's first hop.
    media: String,
    /// Serve on the API host unless `redirect_hops` asks for hops.
    direct: bool,
    uri: Uri,
}

impl MediaAnswers for TwilioAnswers {
    fn hung(&self) -> Response {
        Refusal::Internal.into_response()
    }

    fn failed(&self) -> Response {
        Refusal::Internal.into_response()
    }

    /// Twilio documents no `Retry-After`: it is sent only when the knob sets one.
    fn throttled(&self, status: u16, faults: &FaultSet) -> Response {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let code = match status {
            StatusCode::TOO_MANY_REQUESTS => CODE_TOO_MANY_REQUESTS,
            other => 20_000 + u32::from(other.as_u16()),
        };
        let message = status.canonical_reason().unwrap_or("Too Many Requests");
        let mut response = api_error(status, code, message);
        if faults.retry_after_secs > 0 {
            if let Ok(value) = HeaderValue::from_str(&crate::retry_after(faults)) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }

    /// Right after a call ends, Twilio's media is not there yet: 404.
    fn not_ready(&self) -> Response {
        not_found(&self.uri).into_response()
    }

    fn redirect_to(&self, faults: &FaultSet) -> Option<String> {
        (!self.direct || faults.redirect_hops > 0).then(|| self.media.clone())
    }
}

/// The media host: a signed URL, so no auth. Redirects hop by hop, then
/// serves the recording's latest attempt.
async fn handle_media(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    stub.stats
        .count_media_request(headers.contains_key(header::AUTHORIZATION));
    let Path((account_sid, sid)) = path.map_err(|_| not_found(&uri))?;
    let business = business_of_account(&account_sid).ok_or_else(|| not_found(&uri))?;
    let recording = find_recording(&stub.catalog, business, &sid).ok_or_else(|| not_found(&uri))?;
    if status_of(&stub, &stub.knobs(), &recording) != Status::Completed {
        return Err(not_found(&uri));
    }
    stub.stats
        .saw_accept_encoding(&recording.sid, crate::accept_encoding(&headers).as_deref());
    let pairs = query_pairs(&uri);
    let hop = pairs
        .iter()
        .find(|(k, _)| k == "hop")
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .unwrap_or(0);
    let both_channels = pairs
        .iter()
        .any(|(k, v)| k == "RequestedChannels" && v == "2");
    if !signed(&stub, &recording.sid, both_channels, &pairs) {
        return Err(Refusal::Forbidden);
    }
    let (faults, _) = stub.faults(&recording.call_sid);
    if hop < faults.redirect_hops {
        let base = stub.media_base(&headers);
        let next = media_host_url(
            &stub,
            &base,
            &account_sid,
            &recording.sid,
            both_channels,
            hop + 1,
        );
        return Ok(crate::redirect(&next));
    }
    let media: Recording = recording.media(both_channels);
    Ok(crate::serve_at_media_host(&stub, &headers, business, &recording.sid, media, &faults).await)
}
