//! Requests to the edge's public API. The session travels as the
//! `rec_session` cookie, which the browser sends on same-origin requests.

use gloo_net::http::{Request, Response};
use playback_core::player::ProbeAnswer;
use playback_core::wire::{AcceptedBody, CallSummary, FailedBody};
use web_sys::AbortSignal;

#[derive(Debug, Clone, PartialEq)]
pub enum CallsError {
    /// No valid session: the page shows the sign-in state.
    SignedOut,
    /// Anything else; shown as it is.
    Other(String),
}

pub async fn fetch_calls() -> Result<Vec<CallSummary>, CallsError> {
    let response = Request::get("/api/calls").send().await.map_err(|e| CallsError::Other(e.to_string()))?;
    match response.status() {
        200 => response.json().await.map_err(|e| CallsError::Other(e.to_string())),
        401 => Err(CallsError::SignedOut),
        status => Err(CallsError::Other(format!("the server answered {status}"))),
    }
}

pub fn stream_path(call_sid: &str) -> String {
    format!("/api/recordings/{call_sid}/stream")
}

/// The URL the `<audio>` element loads: the query marks its own range
/// requests as part of the user's action, since it cannot send headers.
pub fn audio_url(call_sid: &str) -> String {
    format!("{}?explicit_user_action=true", stream_path(call_sid))
}

/// The play request: `X-User-Action: play`, and `Range: bytes=0-0` so that a
/// cached recording answers one byte instead of the whole file, which the
/// audio element then loads itself.
pub async fn probe(call_sid: &str, signal: &AbortSignal) -> ProbeAnswer {
    let sent = Request::get(&stream_path(call_sid))
        .header("X-User-Action", "play")
        .header("Range", "bytes=0-0")
        .abort_signal(Some(signal))
        .send()
        .await;
    match sent {
        Ok(response) => read_answer(response).await,
        Err(e) => ProbeAnswer::NetworkError(e.to_string()),
    }
}

async fn read_answer(response: Response) -> ProbeAnswer {
    match response.status() {
        200 | 206 => ProbeAnswer::Playable,
        202 => {
            let header_ms = response.headers().get("Retry-After").and_then(|v| v.trim().parse::<u64>().ok()).map(|s| s * 1000);
            match response.json::<AcceptedBody>().await {
                // The JSON's estimate is finer than the header's whole seconds, so it is preferred.
                Ok(body) => ProbeAnswer::Accepted {
                    queued: body.status == "queued",
                    queue_position: body.queue_position,
                    retry_after_ms: Some(body.retry_after_ms),
                },
                Err(_) => ProbeAnswer::Accepted { queued: false, queue_position: None, retry_after_ms: header_ms },
            }
        }
        500 => match response.json::<FailedBody>().await {
            Ok(body) => ProbeAnswer::Failed { error: body.error, retry_after_ms: body.retry_after_ms },
            Err(_) => ProbeAnswer::Unexpected(500),
        },
        404 => ProbeAnswer::NotFound,
        401 => ProbeAnswer::Unauthorized,
        status => ProbeAnswer::Unexpected(status),
    }
}
