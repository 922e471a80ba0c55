//! The JSON messages between the frontend and the two Durable Objects, and
//! the helper that sends them. Internal only: never exposed to clients.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Headers, Method, Request, RequestInit, Stub};

use crate::error::EdgeError;

/// Identifies the recording a call object is for; sent with every request
/// so a fresh object learns who it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallIdentity {
    pub business: playback_core::BusinessId,
    pub call_sid: playback_core::CallSid,
}

impl CallIdentity {
    pub fn object_name(&self) -> String {
        playback_core::ids::call_object_name(&self.business, &self.call_sid)
    }
}

/// A play sent to a call object: which recording, and which agent (the
/// session's `sub`) asks, for the agent's download budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlayRequest {
    #[serde(flatten)]
    pub id: CallIdentity,
    pub agent: String,
}

/// A message to the business object about one call object's slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotRequest {
    pub owner: String,
    /// The lease a renew or release is about.
    #[serde(default)]
    pub grant: u64,
    /// The agent an admission is for.
    #[serde(default)]
    pub agent: String,
    /// The call an admission is for (checked against the business's call list).
    #[serde(default)]
    pub call: Option<CallIdentity>,
}

/// Sends `body` as JSON to `path` on a Durable Object and reads its JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(
    stub: &Stub,
    path: &str,
    body: &B,
) -> Result<T, EdgeError> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    let json = serde_json::to_string(body).map_err(|e| EdgeError::Internal(e.to_string()))?;
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(json.into()));
    let request = Request::new_with_init(&format!("https://object{path}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    if response.status_code() != 200 {
        let text = response.text().await.unwrap_or_default();
        return Err(EdgeError::Internal(format!(
            "{path}: object answered {}: {text}",
            response.status_code()
        )));
    }
    Ok(response.json().await?)
}
