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
    let asked = async {
        let request = origin_request(config, &url, true).map_err(|e| format!("{e:?}"))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status_code();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|v| parse_retry_after(&v, now_ms()));
        let page = match status {
            200 => response.json::<RecordingsPage>().await.ok(),
            _ => None,
        };
        Ok::<_, String>((status, retry_after, page))
    };
    let timeout = Delay::from(Duration::from_millis(RESOLVE_TIMEOUT_MS));
    let answer = match select(std::pin::pin!(asked), timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err("no answer in time".to_owned()),
    };
    let (resolved, playable) = match &answer {
        Ok((status, retry_after, page)) => {
            resolution(id.index(), *status, *retry_after, page.as_ref())
        }
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
        (Ok((status, ..)), Resolved::Refused) => {
            note["detail"] = json!(format!(
                "origin answered {status}: it refused the edge's credentials, check {}",
                config.origin.credential_vars()
            ))
        }
        (Ok((status, ..)), _) => note["status"] = json!(status),
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
    let asked = async {
        let request = origin_request(config, &url, true).map_err(|e| format!("{e:?}"))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status_code();
        let body = match status {
            200 => response.json::<Recording>().await.ok(),
            _ => None,
        };
        Ok::<_, String>((status, body))
    };
    let timeout = Delay::from(Duration::from_millis(RESOLVE_TIMEOUT_MS));
    let answered = match select(std::pin::pin!(asked), timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err("no answer in time".to_owned()),
    };
    match answered {
        Ok((status, body)) => {
            let answer = twilio_recheck(status, body.as_ref());
            let note = json!({"status": status, "answer": format!("{answer:?}")});
            (answer, note)
        }
        Err(e) => (Recheck::Unknown, json!({"detail": e})),
    }
}
