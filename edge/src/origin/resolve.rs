//! Which of a call's recordings plays (Twilio): one request of the call's
//! `Recordings.json`, read by the core (`twilio::resolution`). It runs in
//! the call object's alarm before any slot is asked for, so a recording the
//! provider still processes never holds one.

use std::time::Duration;

use futures_util::future::{select, Either};
use playback_core::config::{EdgeConfig, OriginConfig};
use playback_core::download::{Failure, Resolved};
use playback_core::ids::CallIdentity;
use playback_core::retry::parse_retry_after;
use playback_core::twilio::{
    call_recordings_url, recheck as twilio_recheck, recording_url, resolution, Playable, Recheck,
    Recording, RecordingsPage, Sid,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use worker::{Delay, Fetch};

use super::http::origin_request;
use crate::log::now_ms;

/// How long the provider may take to answer.
const RESOLVE_TIMEOUT_MS: u64 = 10_000;

/// What the provider said of a call's recordings.
pub(crate) struct Resolution {
    pub resolved: Resolved,
    /// The recordings that play, first the one played by default.
    pub playable: Vec<Playable>,
    /// The fields of the step's log line (never a credential).
    pub note: Value,
}

/// What the provider says of `id`'s recordings.
pub(crate) async fn resolve(config: &EdgeConfig, id: &CallIdentity) -> Resolution {
    let OriginConfig::Twilio(twilio) = &config.origin else {
        // The generic origin has one recording per call: nothing to resolve.
        return Resolution {
            resolved: Resolved::Play,
            playable: Vec::new(),
            note: json!({}),
        };
    };
    let Some(account) = twilio.account(&id.business) else {
        return Resolution {
            resolved: Resolved::Refused,
            playable: Vec::new(),
            note: json!({"detail": "TWILIO_ACCOUNTS names no account for this business"}),
        };
    };
    let url = call_recordings_url(&twilio.api_base, account, &id.call_sid);
    let answer = get_json::<RecordingsPage>(config, &url).await;
    let (resolved, playable) = match &answer {
        Ok(a) => resolution(id.index(), a.status, a.retry_after_ms, a.body.as_ref()),
        Err(_) => (
            Resolved::Transient {
                failure: Failure::OriginUnreachable,
                retry_after_ms: None,
            },
            Vec::new(),
        ),
    };
    let mut note = json!({"outcome": format!("{resolved:?}"), "recordings": playable.len()});
    match (&answer, &resolved) {
        (Err(e), _) => note["detail"] = json!(e),
        (Ok(ApiAnswer { status, .. }), Resolved::Refused) => {
            note["detail"] = json!(format!(
                "origin answered {status}: it refused the edge's credentials, check {}",
                config.origin.credential_vars()
            ))
        }
        (Ok(ApiAnswer { status, .. }), _) => note["status"] = json!(status),
    }
    Resolution {
        resolved,
        playable,
        note,
    }
}

/// What Twilio says now of `recording`, a stored recording of `id`'s call
/// (its `Recordings/{Sid}.json`), and the line's fields.
pub(crate) async fn recheck(
    config: &EdgeConfig,
    id: &CallIdentity,
    recording: &Sid,
) -> (Recheck, Value) {
    let OriginConfig::Twilio(twilio) = &config.origin else {
        return (Recheck::Kept, json!({}));
    };
    let Some(account) = twilio.account(&id.business) else {
        return (
            Recheck::Unknown,
            json!({"detail": "TWILIO_ACCOUNTS names no account for this business"}),
        );
    };
    let url = recording_url(&twilio.api_base, account, recording);
    let answered = get_json::<Recording>(config, &url).await;
    match answered {
        Ok(a) => {
            let answer = twilio_recheck(a.status, a.body.as_ref());
            let note = json!({"status": a.status, "answer": format!("{answer:?}")});
            (answer, note)
        }
        Err(e) => (Recheck::Unknown, json!({"detail": e})),
    }
}

/// An answer of Twilio's API: its status, its `Retry-After` already read,
/// and its body when it was a 200 that reads as `T`.
struct ApiAnswer<T> {
    status: u16,
    retry_after_ms: Option<u64>,
    body: Option<T>,
}

/// One GET of `url` on Twilio's API, with the credentials, answered within
/// `RESOLVE_TIMEOUT_MS`; otherwise what went wrong, for the log line.
async fn get_json<T: DeserializeOwned>(
    config: &EdgeConfig,
    url: &str,
) -> Result<ApiAnswer<T>, String> {
    let asked = async {
        let request = origin_request(config, url, true).map_err(|e| format!("{e:?}"))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status_code();
        let retry_after_ms = response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|v| parse_retry_after(&v, now_ms()));
        let body = match status {
            200 => response.json::<T>().await.ok(),
            _ => None,
        };
        Ok(ApiAnswer {
            status,
            retry_after_ms,
            body,
        })
    };
    let timeout = Delay::from(Duration::from_millis(RESOLVE_TIMEOUT_MS));
    match select(std::pin::pin!(asked), timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err("no answer in time".to_owned()),
    }
}
