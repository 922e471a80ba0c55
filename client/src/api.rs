//! Requests to the edge's public API through `gloo-net`, with the bodies
//! deserialised by serde into `playback_core::wire`'s types: the edge
//! writes them from the same types, so a renamed field fails to compile or
//! to read, not only end to end. The session travels as the `rec_session`
//! cookie, which the browser sends on same-origin requests. Only `probe`
//! (sent for a click) carries the user action that may start a download;
//! `status` (the polls) never does. Every request in flight can be
//! cancelled through its `AbortSignal`.

use gloo_net::http::{Request, Response};
use playback_core::bar::{RecordingRef, Wave};
use playback_core::call_list::next_page;
use playback_core::player::{BusyReason, ProbeAnswer, Stage, StatusAnswer};
use playback_core::wire::{AcceptedBody, CallSummary, ErrorBody, StatusBody};
use playback_core::CallSid;
use serde::de::DeserializeOwned;
use web_sys::AbortSignal;

#[derive(Debug, Clone, PartialEq)]
pub enum CallsError {
    /// No valid session: the page shows the sign-in state.
    SignedOut,
    /// Anything else; shown as it is.
    Other(String),
}

async fn get(
    path: &str,
    headers: &[(&str, &str)],
    signal: Option<&AbortSignal>,
) -> Result<Response, String> {
    let mut request = Request::get(path).abort_signal(signal);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    // The browser's own words for a failed fetch; gloo's other errors (a
    // body's JSON, which `send` never reads) are not formatted, which keeps
    // serde_json's and std's error texts out of the player.
    request.send().await.map_err(|e| match e {
        gloo_net::Error::JsError(js) => js.message,
        _ => "the request failed".into(),
    })
}

/// The response's body read as `T` (`None` if it is not JSON of that
/// shape). The read is not generic: one copy of its future serves every `T`.
async fn body<T: DeserializeOwned>(response: &Response) -> Option<T> {
    serde_json::from_str(&text(response).await?).ok()
}

async fn text(response: &Response) -> Option<String> {
    response.text().await.ok()
}

/// A page of the call list as the edge answered it.
#[derive(Debug)]
pub struct ListAnswer {
    pub calls: Vec<CallSummary>,
    /// The next page's path, from its `Link`.
    pub next: Option<String>,
    /// What a search could not cover yet (`X-Search-Note`).
    pub note: Option<String>,
}

/// One page of the call list at `path` (a `/api/calls?…` path). Never asks
/// for a recording.
pub async fn fetch_page(path: &str, signal: &AbortSignal) -> Result<ListAnswer, CallsError> {
    let response = get(path, &[], Some(signal))
        .await
        .map_err(CallsError::Other)?;
    match response.status() {
        200 => {
            let next = next_page(header(&response, "Link").as_deref());
            let note = header(&response, "X-Search-Note");
            let calls = body::<Vec<CallSummary>>(&response)
                .await
                .ok_or_else(|| CallsError::Other("the call list is not a list of calls".into()))?;
            Ok(ListAnswer { calls, next, note })
        }
        401 => Err(CallsError::SignedOut),
        status => Err(CallsError::Other(format!("the server answered {status}"))),
    }
}

/// The URL the `<audio>` element loads, without the user-action marker:
/// the row hands it over only once the recording is stored (the probe was
/// served, or a status poll said `ready`), and stored bytes need no marker.
/// So neither a load minutes after the click nor a later seek can ever
/// start a download; a recording gone from storage meanwhile fails to
/// load, and the next click asks again.
pub fn audio_url(recording: &RecordingRef) -> String {
    recording.path("stream")
}

/// The play request: `X-User-Action: play`, and `Range: bytes=0-0` so that a
/// cached recording answers one byte instead of the whole file, which the
/// audio element then loads itself. Sent only for a click.
pub async fn probe(recording: &RecordingRef, signal: &AbortSignal) -> ProbeAnswer {
    let headers = [("X-User-Action", "play"), ("Range", "bytes=0-0")];
    match get(&recording.path("stream"), &headers, Some(signal)).await {
        Ok(response) => read_answer(response).await,
        Err(e) => ProbeAnswer::NetworkError(e),
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name)
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
            match body::<AcceptedBody>(&response).await {
                Some(body) => ProbeAnswer::Accepted {
                    stage: Stage::of(body.status).unwrap_or(Stage::Preparing),
                    queue_position: body.queue_position,
                    // The JSON's estimate is finer than the header's whole seconds, so it is preferred.
                    retry_after_ms: Some(body.retry_after_ms),
                },
                None => ProbeAnswer::Accepted {
                    stage: Stage::Preparing,
                    queue_position: None,
                    retry_after_ms: header_ms,
                },
            }
        }
        429 => {
            let header_ms = retry_after_header_ms(&response);
            let body = body::<ErrorBody>(&response).await;
            ProbeAnswer::Busy {
                reason: BusyReason::from_code(body.as_ref().map(|b| b.error.as_str())),
                retry_after_ms: body.and_then(|b| b.retry_after_ms).or(header_ms),
            }
        }
        // The failure body (`FailedBody`) reads as an error body: its words and when to retry.
        500 => match body::<ErrorBody>(&response).await {
            Some(body) => ProbeAnswer::Failed {
                error: body.error,
                retry_after_ms: body.retry_after_ms.unwrap_or(0),
            },
            None => ProbeAnswer::Unexpected(500),
        },
        404 => ProbeAnswer::NotFound,
        401 => ProbeAnswer::Unauthorized,
        status => ProbeAnswer::Unexpected(status),
    }
}

/// One call of the business's list (`GET /api/calls/{sid}`), if it has it.
pub async fn call(call_sid: &CallSid) -> Option<CallSummary> {
    let response = get(&format!("/api/calls/{call_sid}"), &[], None)
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    body(&response).await
}

/// What the edge said about a recording's peaks.
#[derive(Debug, Clone, PartialEq)]
pub enum PeaksAnswer {
    Peaks(Wave),
    /// Not computed yet (the download still runs): ask again later.
    NotReady,
    /// None will come (another coding), or the request failed.
    None,
}

/// `GET /api/recordings/{sid}/peaks`: no side effect, never the origin.
pub async fn peaks(recording: &RecordingRef) -> PeaksAnswer {
    let Ok(response) = get(&recording.path("peaks"), &[], None).await else {
        return PeaksAnswer::None;
    };
    match response.status() {
        200 => body::<Wave>(&response)
            .await
            .map_or(PeaksAnswer::None, PeaksAnswer::Peaks),
        404 => match body::<ErrorBody>(&response).await {
            Some(body) if body.error == "not_ready" => PeaksAnswer::NotReady,
            _ => PeaksAnswer::None,
        },
        _ => PeaksAnswer::None,
    }
}

/// A poll after a 202: where the download is. It carries no user action
/// (no header, no marker in its query), so the edge never starts anything for it.
pub async fn status(recording: &RecordingRef, signal: &AbortSignal) -> StatusAnswer {
    match get(&recording.path("status"), &[], Some(signal)).await {
        Ok(response) => read_status(response).await,
        Err(e) => StatusAnswer::NetworkError(e),
    }
}

/// How many of the call's recordings play, when the edge knows (it does
/// once the provider said, with Twilio; `Ok(None)` otherwise): the status
/// read once more, for the bar's picker. `Err` when it could not be read.
/// No side effect, never the origin.
pub async fn recordings(recording: &RecordingRef) -> Result<Option<u32>, ()> {
    let response = get(&recording.path("status"), &[], None)
        .await
        .map_err(|_| ())?;
    if response.status() != 200 {
        return Err(());
    }
    Ok(body::<StatusBody>(&response).await.ok_or(())?.recordings)
}

async fn read_status(response: Response) -> StatusAnswer {
    match response.status() {
        200 => match body::<StatusBody>(&response).await {
            Some(body) => StatusAnswer::from_body(&body),
            None => StatusAnswer::Unexpected(200),
        },
        404 => StatusAnswer::NotFound,
        401 => StatusAnswer::Unauthorized,
        status => StatusAnswer::Unexpected(status),
    }
}
