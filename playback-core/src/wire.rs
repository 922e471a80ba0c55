//! The JSON bodies of the public API and the origin API, shared by the edge,
//! the client, the origin stub and the tests.

use serde::{Deserialize, Serialize};

use crate::ids::CallSid;

/// One call, as `GET /api/calls` and the origin's call list return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    pub call_sid: CallSid,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_s: u32,
    pub from: String,
    pub to: String,
}

/// Every refusal: `{"error": "...", "detail": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody { error: error.into(), detail: None }
    }

    pub fn with_detail(error: impl Into<String>, detail: impl Into<String>) -> Self {
        ErrorBody { error: error.into(), detail: Some(detail.into()) }
    }
}
