//! Requests to the edge's public API. The session travels as the
//! `rec_session` cookie, which the browser sends on same-origin requests.

use gloo_net::http::Request;
use playback_core::wire::CallSummary;

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
