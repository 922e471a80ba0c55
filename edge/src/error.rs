//! The edge's one error type, mapped once to a status and a JSON body.
//! Every refusal the public API makes goes through here.
//!
//! A body never carries what the origin or the runtime said: that goes to
//! the error's log line, and the body carries the request id that the log
//! line (and the request's own line) also carries.

use playback_core::admission::Refusal;
use playback_core::config::ConfigError;
use playback_core::wire::{retry_after_seconds, ErrorBody};
use worker::Response;

/// What the edge's handlers and helpers return.
pub(crate) type EdgeResult<T> = std::result::Result<T, EdgeError>;

#[derive(Debug)]
pub(crate) enum EdgeError {
    Unauthorized,
    InvalidCallSid,
    InvalidBusiness,
    MissingUserAction,
    /// 400: a call-list parameter (named) is not valid.
    BadQuery(&'static str),
    NotFound,
    /// 404: the call has no recording to play.
    NoRecording,
    /// 404: what was asked for does not exist yet (a recording's peaks).
    NotReady,
    /// 404: a recording that has no peaks (not a WAV this edge reads).
    NoPeaks,
    MethodNotAllowed {
        allow: &'static str,
    },
    /// 429: the agent's download budget or the business's queue.
    TooManyRequests {
        reason: Refusal,
        retry_after_ms: u64,
    },
    Config(ConfigError),
    /// The origin answered in a way the edge cannot use.
    Origin(String),
    /// 502: the origin refused the edge's credentials (the detail names
    /// the variables to check; it goes to the log line only).
    OriginAuth(String),
    /// 403: the business has no Twilio account (`TWILIO_ACCOUNTS`).
    NoAccount,
    /// The runtime failed (a binding call returned an error).
    Internal(String),
}

impl EdgeError {
    fn status_and_body(&self) -> (u16, ErrorBody) {
        match self {
            EdgeError::Unauthorized => (401, ErrorBody::new("unauthorized")),
            EdgeError::InvalidCallSid => (400, ErrorBody::new("invalid_call_sid")),
            EdgeError::InvalidBusiness => (400, ErrorBody::new("invalid_business")),
            EdgeError::MissingUserAction => (400, ErrorBody::new("missing_user_action")),
            EdgeError::BadQuery(parameter) => {
                (400, ErrorBody::with_detail("bad_query", *parameter))
            }
            EdgeError::NotFound => (404, ErrorBody::new("not_found")),
            EdgeError::NoRecording => (404, ErrorBody::new("no_recording")),
            EdgeError::NotReady => (404, ErrorBody::new("not_ready")),
            EdgeError::NoPeaks => (404, ErrorBody::new("no_peaks")),
            EdgeError::MethodNotAllowed { .. } => (405, ErrorBody::new("method_not_allowed")),
            EdgeError::TooManyRequests {
                reason,
                retry_after_ms,
            } => {
                let mut body = ErrorBody::new(reason.code());
                body.retry_after_ms = Some(*retry_after_ms);
                (429, body)
            }
            // Names the variable and what is wrong with it; never a secret's value.
            EdgeError::Config(e) => (500, ErrorBody::with_detail("config", e.to_string())),
            EdgeError::Origin(_) => (502, ErrorBody::new("origin")),
            EdgeError::OriginAuth(_) => (502, ErrorBody::new("origin_auth")),
            EdgeError::NoAccount => (403, ErrorBody::new("no_account")),
            EdgeError::Internal(_) => (500, ErrorBody::new("internal")),
        }
    }

    /// The response for this error; `request_id` ties its body to the log.
    pub(crate) fn into_response(self, request_id: &str) -> Response {
        let (status, mut body) = self.status_and_body();
        if !request_id.is_empty() {
            body.request_id = Some(request_id.to_owned());
        }
        if status >= 500 {
            let detail = match &self {
                EdgeError::Origin(d) | EdgeError::OriginAuth(d) | EdgeError::Internal(d) => {
                    d.clone()
                }
                EdgeError::Config(e) => e.to_string(),
                _ => String::new(),
            };
            crate::log::event(
                serde_json::json!({"event": "error", "status": status, "error": body.error, "detail": detail, "request_id": request_id}),
            );
        }
        let mut response = json_response(status, &body);
        match self {
            EdgeError::MethodNotAllowed { allow } => {
                let _ = response.headers_mut().set("Allow", allow);
            }
            EdgeError::TooManyRequests { retry_after_ms, .. } => {
                let _ = response.headers_mut().set(
                    "Retry-After",
                    &retry_after_seconds(retry_after_ms).to_string(),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError::Internal(e.to_string())
    }
}

impl From<ConfigError> for EdgeError {
    fn from(e: ConfigError) -> Self {
        EdgeError::Config(e)
    }
}

/// A JSON response that cannot fail: serialization of our own wire types
/// does not fail, and if building the response did, a bare status remains.
pub(crate) fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut response =
        Response::ok(text).unwrap_or_else(|_| Response::empty().expect("an empty response builds"));
    let _ = response
        .headers_mut()
        .set("Content-Type", "application/json");
    let _ = response.headers_mut().set("Cache-Control", "no-store");
    response.with_status(status)
}
