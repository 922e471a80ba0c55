//! The edge's one error type, mapped once to a status and a JSON body.
//! Every refusal the public API makes goes through here.

use playback_core::config::ConfigError;
use playback_core::wire::ErrorBody;
use worker::Response;

#[derive(Debug)]
pub enum EdgeError {
    Unauthorized,
    InvalidCallSid,
    MissingUserAction,
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    Config(ConfigError),
    /// The origin answered in a way the edge cannot use.
    Origin(String),
    /// The runtime failed (a binding call returned an error).
    Internal(String),
}

impl EdgeError {
    fn status_and_body(&self) -> (u16, ErrorBody) {
        match self {
            EdgeError::Unauthorized => (401, ErrorBody::new("unauthorized")),
            EdgeError::InvalidCallSid => (400, ErrorBody::new("invalid_call_sid")),
            EdgeError::MissingUserAction => (400, ErrorBody::new("missing_user_action")),
            EdgeError::NotFound => (404, ErrorBody::new("not_found")),
            EdgeError::MethodNotAllowed { .. } => (405, ErrorBody::new("method_not_allowed")),
            EdgeError::Config(e) => (500, ErrorBody::with_detail("config", e.to_string())),
            EdgeError::Origin(detail) => (502, ErrorBody::with_detail("origin", detail.clone())),
            EdgeError::Internal(detail) => {
                (500, ErrorBody::with_detail("internal", detail.clone()))
            }
        }
    }

    pub fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if status >= 500 {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "error", "status": status, "error": body.error, "detail": body.detail})
            );
        }
        let mut response = json_response(status, &body);
        if let EdgeError::MethodNotAllowed { allow } = self {
            let _ = response.headers_mut().set("Allow", allow);
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
pub fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut response =
        Response::ok(text).unwrap_or_else(|_| Response::empty().expect("an empty response builds"));
    let _ = response
        .headers_mut()
        .set("Content-Type", "application/json");
    let _ = response.headers_mut().set("Cache-Control", "no-store");
    response.with_status(status)
}
