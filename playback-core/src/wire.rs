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

/// Every refusal: `{"error": "...", "detail": "...", "retry_after_ms": N,
/// "request_id": "..."}`. `detail` is only ever a configuration problem (the
/// variable's name and what is wrong with it), never an origin's or the
/// runtime's words, which go to the log line that carries the same
/// `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a 429: when asking again is worthwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            detail: None,
            retry_after_ms: None,
            request_id: None,
        }
    }

    pub fn with_detail(error: impl Into<String>, detail: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            detail: Some(detail.into()),
            retry_after_ms: None,
            request_id: None,
        }
    }
}

/// Where a recording stands, as the stream and status endpoints say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireStatus {
    /// Nothing under way: the next click may start a download.
    None,
    Queued,
    Processing,
    Ready,
    Failed,
    NotFound,
    /// The provider is still processing the recording: ask again later.
    NotReady,
    /// The call has no recording to play.
    NoRecording,
    /// A status this build does not know (a newer edge).
    #[serde(other)]
    Unknown,
}

impl WireStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WireStatus::None => "none",
            WireStatus::Queued => "queued",
            WireStatus::Processing => "processing",
            WireStatus::Ready => "ready",
            WireStatus::Failed => "failed",
            WireStatus::NotFound => "not_found",
            WireStatus::NotReady => "not_ready",
            WireStatus::NoRecording => "no_recording",
            WireStatus::Unknown => "unknown",
        }
    }
}

impl PartialEq<&str> for WireStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The 202 body of the stream endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedBody {
    /// `queued`, `processing` or `not_ready`.
    pub status: WireStatus,
    pub call_sid: CallSid,
    pub retry_after_ms: u64,
    pub queue_position: Option<u32>,
}

impl AcceptedBody {
    pub fn new(
        status: WireStatus,
        call_sid: &CallSid,
        retry_after_ms: u64,
        queue_position: Option<u32>,
    ) -> Self {
        AcceptedBody {
            status,
            call_sid: call_sid.clone(),
            retry_after_ms,
            queue_position,
        }
    }

    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_header(&self) -> String {
        retry_after_seconds(self.retry_after_ms).to_string()
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// The 500 body of the stream endpoint while a failure is remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedBody {
    /// Always `failed`.
    pub status: WireStatus,
    /// In words for players (see `download::Failure`); the details are in the log.
    pub error: String,
    pub retry_after_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The status endpoint's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBody {
    pub status: WireStatus,
    pub call_sid: CallSid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `ready` while the download still runs: playable from its fill.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filling: bool,
    /// How many recordings of the call play, once the provider said
    /// (Twilio); each is asked for by its number (`recording=N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recordings: Option<u32>,
}

impl StatusBody {
    pub fn new(status: WireStatus, call_sid: &CallSid) -> Self {
        StatusBody {
            status,
            call_sid: call_sid.clone(),
            queue_position: None,
            attempts: None,
            retry_after_ms: None,
            error: None,
            size: None,
            filling: false,
            recordings: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_written_as_serde_writes_it_and_an_unknown_one_reads_as_unknown() {
        for status in [
            WireStatus::None,
            WireStatus::Queued,
            WireStatus::Processing,
            WireStatus::Ready,
            WireStatus::Failed,
            WireStatus::NotFound,
            WireStatus::NotReady,
            WireStatus::NoRecording,
        ] {
            let by_serde = serde_json::to_string(&status).unwrap();
            assert_eq!(by_serde, format!("\"{}\"", status.as_str()));
        }
        let later: WireStatus = serde_json::from_str("\"later\"").unwrap();
        assert_eq!(later, WireStatus::Unknown);
    }
}
