//! Requests to the edge's public API, through the browser's `fetch`. The
//! session travels as the `rec_session` cookie, which the browser sends on
//! same-origin requests. Only `probe` (sent for a click) carries the user
//! action that may start a download; `status` (the polls) never does.
//!
//! Bodies are read with the browser's own JSON parser and picked apart field
//! by field: a JSON library compiled into the wasm would cost more bytes than
//! the whole player logic.

use js_sys::{Array, Reflect};
use playback_core::player::{BusyReason, ProbeAnswer, StatusAnswer};
use playback_core::wire::{CallSummary, StatusBody};
use playback_core::CallSid;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestInit, Response};

#[derive(Debug, Clone, PartialEq)]
pub enum CallsError {
    /// No valid session: the page shows the sign-in state.
    SignedOut,
    /// Anything else; shown as it is.
    Other(String),
}

fn describe_js(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "network error".into())
}

async fn fetch(
    path: &str,
    headers: &[(&str, &str)],
    signal: Option<&AbortSignal>,
) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let h = Headers::new().map_err(describe_js)?;
    for (name, value) in headers {
        h.set(name, value).map_err(describe_js)?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(&h);
    init.set_signal(signal);
    let response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(describe_js)?;
    response
        .dyn_into()
        .map_err(|_| "not a response".to_string())
}

async fn json(response: &Response) -> Option<JsValue> {
    JsFuture::from(response.json().ok()?).await.ok()
}

fn field(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn text(object: &JsValue, key: &str) -> Option<String> {
    field(object, key).as_string()
}

fn number(object: &JsValue, key: &str) -> Option<u64> {
    field(object, key)
        .as_f64()
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

fn call_summary(v: &JsValue) -> Option<CallSummary> {
    Some(CallSummary {
        call_sid: CallSid::parse(&text(v, "call_sid")?).ok()?,
        started_at: text(v, "started_at")?,
        duration_s: number(v, "duration_s")? as u32,
        from: text(v, "from")?,
        to: text(v, "to")?,
    })
}

pub async fn fetch_calls() -> Result<Vec<CallSummary>, CallsError> {
    let response = fetch("/api/calls", &[], None)
        .await
        .map_err(CallsError::Other)?;
    match response.status() {
        200 => {
            let list = json(&response)
                .await
                .ok_or_else(|| CallsError::Other("the call list is not JSON".into()))?;
            let list: Array = list
                .dyn_into()
                .map_err(|_| CallsError::Other("the call list is not a list".into()))?;
            Ok(list.iter().filter_map(|v| call_summary(&v)).collect())
        }
        401 => Err(CallsError::SignedOut),
        status => Err(CallsError::Other(format!("the server answered {status}"))),
    }
}

pub fn stream_path(call_sid: &str) -> String {
    format!("/api/recordings/{call_sid}/stream")
}

/// The URL the `<audio>` element loads, without the user-action marker:
/// the row hands it over only once the recording is stored (the probe was
/// served, or a status poll said `ready`), and stored bytes need no marker.
/// So neither a load minutes after the click nor a later seek can ever
/// start a download; a recording gone from storage meanwhile fails to
/// load, and the next click asks again.
pub fn audio_url(call_sid: &str) -> String {
    stream_path(call_sid)
}

/// The play request: `X-User-Action: play`, and `Range: bytes=0-0` so that a
/// cached recording answers one byte instead of the whole file, which the
/// audio element then loads itself. Sent only for a click.
pub async fn probe(call_sid: &str, signal: &AbortSignal) -> ProbeAnswer {
    let headers = [("X-User-Action", "play"), ("Range", "bytes=0-0")];
    match fetch(&stream_path(call_sid), &headers, Some(signal)).await {
        Ok(response) => read_answer(response).await,
        Err(e) => ProbeAnswer::NetworkError(e),
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// `Retry-After` in ms, when it is whole seconds (the edge never sends a date).
fn retry_after_header_ms(response: &Response) -> Option<u64> {
    header(response, "Retry-After")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000))
}

async fn read_answer(response: Response) -> ProbeAnswer {
    match response.status() {
        status @ (200 | 206 | 416) => ProbeAnswer::from_media(
            status,
            header(&response, "Content-Length").as_deref(),
            header(&response, "Content-Range").as_deref(),
        ),
        202 => {
            let header_ms = retry_after_header_ms(&response);
            let body = json(&response).await.unwrap_or(JsValue::UNDEFINED);
            ProbeAnswer::Accepted {
                queued: text(&body, "status").as_deref() == Some("queued"),
                queue_position: number(&body, "queue_position").map(|n| n as u32),
                // The JSON's estimate is finer than the header's whole seconds, so it is preferred.
                retry_after_ms: number(&body, "retry_after_ms").or(header_ms),
            }
        }
        429 => {
            let header_ms = retry_after_header_ms(&response);
            let body = json(&response).await.unwrap_or(JsValue::UNDEFINED);
            ProbeAnswer::Busy {
                reason: BusyReason::from_code(text(&body, "error").as_deref()),
                retry_after_ms: number(&body, "retry_after_ms").or(header_ms),
            }
        }
        500 => {
            let body = json(&response).await.unwrap_or(JsValue::UNDEFINED);
            match text(&body, "error") {
                Some(error) => ProbeAnswer::Failed {
                    error,
                    retry_after_ms: number(&body, "retry_after_ms").unwrap_or(0),
                },
                None => ProbeAnswer::Unexpected(500),
            }
        }
        404 => ProbeAnswer::NotFound,
        401 => ProbeAnswer::Unauthorized,
        status => ProbeAnswer::Unexpected(status),
    }
}

pub fn status_path(call_sid: &str) -> String {
    format!("/api/recordings/{call_sid}/status")
}

/// A poll after a 202: where the download is. It carries no user action
/// (no header, no query), so the edge never starts anything for it.
pub async fn status(call_sid: &str, signal: &AbortSignal) -> StatusAnswer {
    match fetch(&status_path(call_sid), &[], Some(signal)).await {
        Ok(response) => read_status(call_sid, response).await,
        Err(e) => StatusAnswer::NetworkError(e),
    }
}

async fn read_status(call_sid: &str, response: Response) -> StatusAnswer {
    match response.status() {
        200 => {
            let body = json(&response).await.unwrap_or(JsValue::UNDEFINED);
            let (Some(status), Ok(call_sid)) = (text(&body, "status"), CallSid::parse(call_sid))
            else {
                return StatusAnswer::Unexpected(200);
            };
            StatusAnswer::from_body(&StatusBody {
                status,
                call_sid,
                queue_position: number(&body, "queue_position").map(|n| n as u32),
                attempts: number(&body, "attempts").map(|n| n as u32),
                retry_after_ms: number(&body, "retry_after_ms"),
                error: text(&body, "error"),
                size: number(&body, "size"),
            })
        }
        404 => StatusAnswer::NotFound,
        401 => StatusAnswer::Unauthorized,
        status => StatusAnswer::Unexpected(status),
    }
}
