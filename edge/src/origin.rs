//! Calls to the origin API (`ORIGIN_BASE_URL`), always with the edge's
//! bearer token. Never logs the token.

use playback_core::config::EdgeConfig;
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::error::EdgeError;

fn origin_request(config: &EdgeConfig, path: &str) -> Result<Request, EdgeError> {
    let headers = Headers::new();
    headers.set("Authorization", &format!("Bearer {}", config.origin_token))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    Ok(Request::new_with_init(&format!("{}{path}", config.origin_base_url), &init)?)
}

/// The business's calls. A business the origin does not know has none.
pub async fn list_calls(config: &EdgeConfig, business: &BusinessId) -> Result<Vec<CallSummary>, EdgeError> {
    let request = origin_request(config, &format!("/v1/businesses/{business}/calls"))?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: {e}")))?;
    match response.status_code() {
        200 => response.json().await.map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}"))),
        404 => Ok(Vec::new()),
        401 | 403 => Err(EdgeError::Origin("the origin refused the edge's credentials (ORIGIN_TOKEN)".into())),
        status => Err(EdgeError::Origin(format!("calls: origin answered {status}"))),
    }
}
