//! The edge entry: routes a request, authenticates it, and answers it.
//!
//! Runs once per request, concurrently with any number of others, and holds
//! no state of its own between requests: everything that must be decided
//! once per recording is decided by that recording's Durable Object. A
//! failed check returns before anything with a side effect runs.
//!
//! Every answer carries the headers that keep the API from being framed or
//! sniffed, and every request gets a short id that its log line and any
//! error body both carry.

use playback_core::bar;
use playback_core::config::{EdgeConfig, OriginConfig};
use playback_core::download::{self, PlayAnswer};
use playback_core::ids::{parse_recording_number, recording_key};
use playback_core::list_query::ListQuery;
use playback_core::peaks::PeaksRecord;
use playback_core::request::{is_explicit_user_action, is_loopback_host, is_navigation};
use playback_core::route::{route, Route};
use playback_core::session::{self, Claims};
use playback_core::twilio::{recheck_due, StillServed};
use playback_core::wire::{AcceptedBody, FailedBody, StatusBody, WireStatus};
use playback_core::{BusinessId, CallSid};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Request, Response};

use crate::config;
use crate::error::{json_response, EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::{recordings, BusinessObject, CallObject, ListObject, PageFailure};
use crate::serve::{serve_cached, serve_fill};
use playback_core::ids::CallIdentity;

/// The service binding of the worker that serves the page's static files.
const WEB_BINDING: &str = "WEB";

/// How long a `/dev/login` session lasts.
const DEV_SESSION_S: u64 = 8 * 3600;

/// Headers on every answer of the worker (the page's own come from the
/// static assets' `_headers` file).
const SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
];

/// What a request's one log line tells beyond the request itself: its id,
/// and for a play that missed R2, what the call object answered.
struct RequestNote {
    id: String,
    play: std::cell::RefCell<Option<serde_json::Value>>,
    /// Where a stream answer's recording bytes came from (`r2`, `fill`),
    /// for the audit trail.
    served_from: std::cell::Cell<Option<&'static str>>,
}

/// A short id for a request: 8 hex digits.
fn request_id() -> String {
    format!(
        "{:08x}",
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32
    )
}

pub(crate) async fn handle_request(req: Request, env: &Env) -> web_sys::Response {
    let started = now_ms();
    let path = req.path();
    let method = req.method().to_string();
    let note = RequestNote {
        id: request_id(),
        play: Default::default(),
        served_from: Default::default(),
    };
    let id = &note.id;
    let header = req.headers().get("X-User-Action").ok().flatten();
    let range = req.headers().get("Range").ok().flatten();
    let query = req.url().ok().and_then(|u| u.query().map(str::to_owned));
    let recording = recording_asked(&req);
    let response: web_sys::Response = match route(&method, &path) {
        // The page's answer is passed on as the web worker gave it: its
        // body, length and headers (its own Content-Security-Policy, from
        // `_headers`).
        Route::Page => match page(&req, env).await {
            Ok(page) => page,
            Err(e) => with_security_headers(e.into_response(id)),
        },
        endpoint => with_security_headers(route_request(&req, env, endpoint, &note).await),
    };
    // One line per request: never the token, the cookie or a secret.
    let mut line = json!({"event": "request", "at": started, "request_id": id, "method": method, "path": path, "status": response.status(),
        "user_action_header": header.is_some(),
        "user_action": is_explicit_user_action(header.as_deref(), query.as_deref()),
        "range": range,
        "duration_ms": now_ms() - started});
    if let Some(play) = note.play.take() {
        line["play"] = play;
    }
    // A call's later recording (`recording=N`), when the request names one.
    if let Ok(Some(n)) = parse_recording_number(recording.as_deref()) {
        line["recording"] = n.into();
    }
    crate::log::event(line);
    response
}

fn with_security_headers(mut response: Response) -> web_sys::Response {
    for (name, value) in SECURITY_HEADERS {
        let _ = response.headers_mut().set(name, value);
    }
    response.into()
}

/// The player's page and its files, from the web worker (`web/wrangler.toml`,
/// the static assets alone). They live in a worker of their own so that the
/// API's requests come straight here: a worker with assets gets every
/// request through the runtime's asset router first, which cost the cached
/// recordings' serving about a tenth of its rate (measured by hand, see
/// BENCHMARKS.md's notes). A browser's navigation to a path the page has no
/// file for (a deep link) gets the page itself; any other miss is the web
/// worker's 404.
async fn page(req: &Request, env: &Env) -> EdgeResult<web_sys::Response> {
    let web: worker::worker_sys::Fetcher =
        JsValue::from(env.service(WEB_BINDING)?).unchecked_into();
    let answer = ask_web(&web, req.inner()).await?;
    let headers = req.headers();
    let navigation = is_navigation(
        req.method().as_ref(),
        headers.get("Sec-Fetch-Mode").ok().flatten().as_deref(),
        headers.get("Accept").ok().flatten().as_deref(),
    );
    if answer.status() != 404 || !navigation {
        return Ok(answer);
    }
    let mut home = req.url()?;
    home.set_path("/");
    home.set_query(None);
    let init = worker::RequestInit {
        method: req.method(),
        headers: headers.clone(),
        ..Default::default()
    };
    let home = Request::new_with_init(home.as_str(), &init)?;
    ask_web(&web, home.inner()).await
}

async fn ask_web(
    web: &worker::worker_sys::Fetcher,
    req: &web_sys::Request,
) -> EdgeResult<web_sys::Response> {
    let answer = JsFuture::from(web.fetch(req).map_err(worker::Error::from)?)
        .await
        .map_err(worker::Error::from)?;
    Ok(answer.dyn_into().map_err(worker::Error::from)?)
}

async fn route_request(req: &Request, env: &Env, route: Route<'_>, note: &RequestNote) -> Response {
    let result = match route {
        Route::Healthz => Response::ok("ok").map_err(EdgeError::from),
        Route::NotFound => Err(EdgeError::NotFound),
        Route::MethodNotAllowed { allow } => Err(EdgeError::MethodNotAllowed { allow }),
        // Every other route needs the configuration: loaded here, once.
        configured => match config::load(env) {
            Ok(config) => route_configured(req, env, &config, configured, note).await,
            Err(e) => Err(e.into()),
        },
    };
    result.unwrap_or_else(|e| e.into_response(&note.id))
}

async fn route_configured(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    route: Route<'_>,
    note: &RequestNote,
) -> EdgeResult<Response> {
    match route {
        Route::DevLogin => handle_dev_login(req, config),
        Route::Calls => handle_calls(req, env, config).await,
        Route::Call { call_sid } => handle_call(req, env, config, call_sid).await,
        Route::Stream { call_sid, head } => {
            handle_stream(req, env, config, call_sid, head, note).await
        }
        Route::Status { call_sid } => handle_status(req, env, config, call_sid).await,
        Route::Peaks { call_sid } => handle_peaks(req, env, config, call_sid).await,
        Route::Healthz | Route::Page | Route::NotFound | Route::MethodNotAllowed { .. } => {
            Err(EdgeError::NotFound)
        }
    }
}

fn now_s() -> u64 {
    now_ms() / 1000
}

/// The request's verified session claims, or 401; then, with the Twilio
/// origin, 403 `no_account` for a business that has no Twilio account
/// (nothing is asked of anyone for it).
fn authenticate(req: &Request, config: &EdgeConfig) -> EdgeResult<Claims> {
    let claims = verified_claims(req, config)?;
    if let OriginConfig::Twilio(twilio) = &config.origin {
        if twilio.account(&claims.bid).is_none() {
            return Err(EdgeError::NoAccount);
        }
    }
    Ok(claims)
}

fn verified_claims(req: &Request, config: &EdgeConfig) -> EdgeResult<Claims> {
    let headers = req.headers();
    let authorization = headers.get("Authorization").ok().flatten();
    let cookie = headers.get("Cookie").ok().flatten();
    let token = session::token_from_headers(authorization.as_deref(), cookie.as_deref())
        .ok_or(EdgeError::Unauthorized)?;
    let (keys, expect) = (config.session_keys(), config.session_expect());
    session::verify(token, keys, expect, now_s()).map_err(|_| EdgeError::Unauthorized)
}

fn handle_dev_login(req: &Request, config: &EdgeConfig) -> EdgeResult<Response> {
    let url = req.url()?;
    // Local development only: off by default, and never on a host other than this machine.
    let host = url.host_str().unwrap_or_default();
    if !config.dev_login || !is_loopback_host(host) {
        return Err(EdgeError::NotFound);
    }
    let business = url
        .query_pairs()
        .find(|(k, _)| k == "business")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let bid = BusinessId::parse(&business).map_err(|_| EdgeError::InvalidBusiness)?;
    let now = now_s();
    let claims = Claims::new(bid, "dev", now + DEV_SESSION_S).for_service(
        &config.session_audience,
        &config.session_issuer,
        now,
    );
    let token = session::sign(&claims, config.session_secret.as_bytes());
    let mut home = url.clone();
    home.set_path("/");
    home.set_query(None);
    home.set_fragment(None);
    let cookie = session::session_cookie(&token, DEV_SESSION_S, url.scheme() == "https");
    let headers = worker::Headers::new();
    headers.set("Location", home.as_str())?;
    headers.set("Set-Cookie", &cookie)?;
    headers.set("Cache-Control", "no-store")?;
    let response = Response::builder()
        .with_status(302)
        .with_headers(headers)
        .empty();
    Ok(response)
}

/// A page of the business's call list: the origin's list API's parameters,
/// checked here (a bad one is named in a 400 before anything is asked), and
/// its `Link` pointing back at this endpoint with the next cursor only.
async fn handle_calls(req: &Request, env: &Env, config: &EdgeConfig) -> EdgeResult<Response> {
    let claims = authenticate(req, config)?;
    let url = req.url()?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| EdgeError::BadQuery(e.parameter()))?;
    let page = ListObject::of(env, &claims.bid)?
        .page(&claims.bid, &query.canonical())
        .await?
        .map_err(|failure| match failure {
            PageFailure::BadCursor => EdgeError::BadQuery("cursor"),
            PageFailure::Origin(detail) => EdgeError::Origin(detail),
            PageFailure::OriginAuth(detail) => EdgeError::OriginAuth(detail),
            PageFailure::NoAccount => EdgeError::NoAccount,
        })?;
    let mut response = json_response(200, &page.calls);
    if let Some(note) = &page.note {
        response.headers_mut().set("X-Search-Note", note)?;
    }
    if let Some(cursor) = page.next_cursor {
        let next = query.at(Some(cursor)).canonical();
        response
            .headers_mut()
            .set("Link", &format!("</api/calls?{next}>; rel=\"next\""))?;
    }
    Ok(response)
}

/// The `recording` of a request's query, as it was sent, if it names one.
fn recording_asked(req: &Request) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(name, _)| name == "recording")
        .map(|(_, value)| value.into_owned())
}

/// The checks every recording endpoint makes, in the contract's order:
/// token (and the business's Twilio account), call SID, then which of the
/// call's recordings (`recording`, 1 by default). Returns which recording
/// is asked for, and by which agent (the session's `sub`).
fn check_recording_request(
    req: &Request,
    config: &EdgeConfig,
    raw_sid: &str,
) -> EdgeResult<(CallIdentity, String)> {
    let claims = authenticate(req, config)?;
    let call_sid = CallSid::parse(raw_sid).map_err(|_| EdgeError::InvalidCallSid)?;
    // A call's second and later recordings (Twilio) by their number.
    let recording = parse_recording_number(recording_asked(req).as_deref())
        .map_err(|_| EdgeError::BadQuery("recording"))?;
    if recording.is_some() && !matches!(config.origin, OriginConfig::Twilio(_)) {
        // The generic origin has one recording per call.
        return Err(EdgeError::NoRecording);
    }
    let id = CallIdentity {
        business: claims.bid,
        call_sid,
        recording,
    };
    Ok((id, claims.sub))
}

/// The stream, as an attachment when the request names a download
/// (`?download=NAME`, the player's Download link): the same answer, with
/// `Content-Disposition` on the recording's bytes.
async fn handle_stream(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    raw_sid: &str,
    head: bool,
    note: &RequestNote,
) -> EdgeResult<Response> {
    let (id, agent) = check_recording_request(req, config, raw_sid)?;
    let query = req.url()?.query().map(str::to_owned);
    let download =
        bar::download_param(query.as_deref()).map_err(|()| EdgeError::BadQuery("download"))?;
    let who = (id.clone(), agent.clone());
    let mut response = stream(req, env, config, (id, agent), query.as_deref(), head, note).await?;
    // The audit trail: every answer that carries recording bytes.
    let status = response.status_code();
    if let Some(from) = note
        .served_from
        .get()
        .filter(|_| !head && matches!(status, 200 | 206))
    {
        let header = |name| response.headers().get(name).ok().flatten();
        let bytes = header("Content-Length").and_then(|v| v.parse::<u64>().ok());
        let fields = json!({"status": status, "bytes": bytes, "from": from,
            "range": header("Content-Range"), "download": download.is_some()});
        crate::log::audit(&who.0, "listen", &who.1, &note.id, fields);
    }
    if let Some(name) = download {
        if bar::is_attachment(response.status_code()) {
            let content_type = response.headers().get("Content-Type")?.unwrap_or_default();
            response.headers_mut().set(
                "Content-Disposition",
                &bar::content_disposition(&name, &content_type),
            )?;
        }
    }
    Ok(response)
}

async fn stream(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    (id, agent): (CallIdentity, String),
    query: Option<&str>,
    head: bool,
    note: &RequestNote,
) -> EdgeResult<Response> {
    let bucket = recordings(env)?;
    let key = recording_key(&id);
    // Stored bytes are served to anyone signed in to the business: reading
    // them never makes the origin work, so the media element's loads and
    // seeks need no marker. Only what could start a download needs one. (A
    // Twilio recording stored long enough ago is asked about again first.)
    let admit = async |uploaded_ms| admit_stored(env, config, &id, &key, uploaded_ms).await;
    if let Some(cached) = serve_cached(req, &bucket, &key, head, admit).await? {
        note.served_from.set(Some("r2"));
        return Ok(cached);
    }
    let call = CallObject::of(env, &id)?;
    let header = req.headers().get("X-User-Action").ok().flatten();
    if !is_explicit_user_action(header.as_deref(), query) {
        // A download in progress is served like stored bytes: reading it
        // never makes the origin work.
        return match call.fill(None).await? {
            Some(view) if view.serves() => {
                note.served_from.set(Some("fill"));
                serve_fill(req, env, &id, &bucket, view, head).await
            }
            _ => Err(EdgeError::MissingUserAction),
        };
    }
    let answer = call.play(&id, &agent, &note.id).await?;
    // Told in the request's line.
    *note.play.borrow_mut() = Some(json!(answer));
    match answer {
        PlayAnswer::Filling(view) => {
            note.served_from.set(Some("fill"));
            serve_fill(req, env, &id, &bucket, view, head).await
        }
        PlayAnswer::Ready => {
            let admit = async |uploaded_ms| admit_stored(env, config, &id, &key, uploaded_ms).await;
            match serve_cached(req, &bucket, &key, head, admit).await? {
                Some(cached) => {
                    note.served_from.set(Some("r2"));
                    Ok(cached)
                }
                // Ready but gone again at once: ask the client to come back.
                None => Ok(accepted(download::ready_but_gone(&id.call_sid))),
            }
        }
        PlayAnswer::Accepted(ref body) => Ok(accepted(body.clone())),
        PlayAnswer::Failed {
            ref error,
            retry_after_ms,
        } => Ok(json_response(
            answer.http_status(),
            &FailedBody {
                status: WireStatus::Failed,
                error: error.clone(),
                retry_after_ms,
                request_id: Some(note.id.clone()),
            },
        )),
        PlayAnswer::NotFound => Err(EdgeError::NotFound),
        PlayAnswer::NoRecording => Err(EdgeError::NoRecording),
        PlayAnswer::Refused {
            reason,
            retry_after_ms,
        } => Err(EdgeError::TooManyRequests {
            reason,
            retry_after_ms,
        }),
    }
}

thread_local! {
    /// When Twilio last said a stored recording is there, as its call
    /// object answered this isolate (by R2 key): until
    /// `RECORDING_RECHECK_MS` after it, a request here asks no one. At most
    /// `CHECKS_REMEMBERED` keys; the map starts again when full.
    static CHECKED: std::cell::RefCell<std::collections::HashMap<String, u64>> =
        Default::default();
}
const CHECKS_REMEMBERED: usize = 4_096;

/// Whether the stored recording at `key`, uploaded at `uploaded_ms`, may be
/// served: always with the generic origin; with Twilio, until
/// `RECORDING_RECHECK_MS` after it was stored or last found at Twilio, then
/// as its call object says after asking Twilio again (404 `no_recording`
/// once deleted there).
async fn admit_stored(
    env: &Env,
    config: &EdgeConfig,
    id: &CallIdentity,
    key: &str,
    uploaded_ms: u64,
) -> EdgeResult<()> {
    if !matches!(config.origin, OriginConfig::Twilio(_)) {
        return Ok(());
    }
    let checked = CHECKED.with_borrow(|c| c.get(key).copied());
    if !recheck_due(uploaded_ms, checked, now_ms(), config.recording_recheck_ms) {
        return Ok(());
    }
    match CallObject::of(env, id)?.recheck(id).await? {
        StillServed::Yes { checked_ms } => {
            if let Some(at) = checked_ms {
                CHECKED.with_borrow_mut(|c| {
                    if c.len() >= CHECKS_REMEMBERED {
                        c.clear();
                    }
                    c.insert(key.to_owned(), at);
                });
            }
            Ok(())
        }
        StillServed::No => {
            CHECKED.with_borrow_mut(|c| c.remove(key));
            Err(EdgeError::NoRecording)
        }
    }
}

fn accepted(body: AcceptedBody) -> Response {
    let mut response = json_response(PlayAnswer::Accepted(body.clone()).http_status(), &body);
    let _ = response
        .headers_mut()
        .set("Retry-After", &body.retry_after_header());
    response
}

/// One call of the business's list (the player bar's title for a link to a
/// call it has not listed yet): the checks of `/status`, the business
/// object's copy of the list, never the origin's recordings.
async fn handle_call(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    raw_sid: &str,
) -> EdgeResult<Response> {
    let (id, _) = check_recording_request(req, config, raw_sid)?;
    match BusinessObject::of(env, id.business.as_str())?
        .call(&id)
        .await?
    {
        Some(call) => {
            let mut response = json_response(200, &call);
            response
                .headers_mut()
                .set("Cache-Control", "private, max-age=300")?;
            Ok(response)
        }
        None => Err(EdgeError::NotFound),
    }
}

async fn handle_status(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    raw_sid: &str,
) -> EdgeResult<Response> {
    let (id, _) = check_recording_request(req, config, raw_sid)?;
    let bucket = recordings(env)?;
    if let Some(object) = bucket.head(recording_key(&id)).await? {
        let mut body = StatusBody::new(WireStatus::Ready, &id.call_sid);
        body.size = Some(object.size());
        // With Twilio, how many recordings the call has is its object's to say.
        if matches!(config.origin, OriginConfig::Twilio(_)) {
            body.recordings = CallObject::of(env, &id)?.status(&id).await?.recordings;
        }
        return Ok(json_response(200, &body));
    }
    let body = CallObject::of(env, &id)?.status(&id).await?;
    Ok(json_response(200, &body))
}

/// A recording's peaks and silences, as the edge computed them during its
/// download (kept by its call object, with `ready`): the checks of
/// `/status`, no side effect, never the origin.
async fn handle_peaks(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    raw_sid: &str,
) -> EdgeResult<Response> {
    let (id, _) = check_recording_request(req, config, raw_sid)?;
    match CallObject::of(env, &id)?.peaks(&id).await? {
        Some(PeaksRecord::Peaks(peaks)) => {
            let mut response = json_response(200, &peaks);
            // Computed once from bytes that never change under their key.
            response
                .headers_mut()
                .set("Cache-Control", "private, max-age=86400")?;
            Ok(response)
        }
        Some(PeaksRecord::None(_)) => Err(EdgeError::NoPeaks),
        None => Err(EdgeError::NotReady),
    }
}
