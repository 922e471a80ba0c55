//! Download statistics: per call, attempts (requests of the recording
//! route) and their arrival times, downloads started (a 200 with a body,
//! from the recording or the media route) and completed (every byte handed
//! to the connection), and the latest request's `Accept-Encoding`; per
//! business, current and peak concurrent attempts (an attempt redirected to
//! the media host is in flight again while the media route serves it) and
//! the order in which calls were first attempted; overall, authorized
//! requests and media-route requests (and how many of them carried an
//! `Authorization` header, which a signed URL must not need).
//!
//! In Twilio's dialect a recording's media is counted under its recording
//! SID (`RE…`), not its call's, so a call with two recordings has two
//! entries in `calls`; per call, the authorized requests of its
//! `Recordings.json` (`recording_lists`) and of its `.json`
//! (`call_fetches`); per recording SID, those of its `.json`
//! (`recording_fetches`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    pub attempts: u32,
    pub started: u32,
    pub completed: u32,
    /// When each attempt arrived, in ms since the Unix epoch, in order.
    #[serde(default)]
    pub attempt_times_ms: Vec<u64>,
    /// When each completion happened (every byte handed over), in ms since
    /// the Unix epoch, in order.
    #[serde(default)]
    pub completed_times_ms: Vec<u64>,
    /// The `Accept-Encoding` of the call's latest request (recording or
    /// media route); `None` when that request sent none.
    #[serde(default)]
    pub accept_encoding: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessStats {
    pub current: u32,
    pub peak: u32,
    /// Calls in the order of their first attempt.
    pub first_attempt_order: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub calls: BTreeMap<String, CallStats>,
    pub businesses: BTreeMap<String, BusinessStats>,
    /// Requests of any origin route that passed authentication.
    pub authorized_requests: u64,
    /// Requests of the media route (`/media/…`, the redirect target), valid or not.
    #[serde(default)]
    pub media_requests: u64,
    /// Those media requests that carried an `Authorization` header.
    #[serde(default)]
    pub media_requests_with_token: u64,
    /// Requests of the call list route that passed authentication.
    #[serde(default)]
    pub list_requests: u64,
    /// Twilio: per call SID, authorized requests of its `Recordings.json`.
    #[serde(default)]
    pub recording_lists: BTreeMap<String, u64>,
    /// Twilio: per recording SID, authorized requests of its `.json`.
    #[serde(default)]
    pub recording_fetches: BTreeMap<String, u64>,
    /// Twilio: per call SID, authorized requests of its `.json`.
    #[serde(default)]
    pub call_fetches: BTreeMap<String, u64>,
}

impl Snapshot {
    pub fn call(&self, sid: &str) -> CallStats {
        self.calls.get(sid).cloned().unwrap_or_default()
    }

    pub fn business(&self, bid: &str) -> BusinessStats {
        self.businesses.get(bid).cloned().unwrap_or_default()
    }

    pub fn total_attempts(&self) -> u64 {
        self.calls.values().map(|c| c.attempts as u64).sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Stats(Arc<Mutex<Snapshot>>);

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    pub fn reset(&self) {
        *self.lock() = Snapshot::default();
    }

    pub fn count_authorized(&self) {
        self.lock().authorized_requests += 1;
    }

    pub fn count_list_request(&self) {
        self.lock().list_requests += 1;
    }

    pub fn count_recording_list(&self, call_sid: &str) {
        *self
            .lock()
            .recording_lists
            .entry(call_sid.to_owned())
            .or_default() += 1;
    }

    pub fn count_recording_fetch(&self, recording_sid: &str) {
        *self
            .lock()
            .recording_fetches
            .entry(recording_sid.to_owned())
            .or_default() += 1;
    }

    pub fn count_call_fetch(&self, call_sid: &str) {
        *self
            .lock()
            .call_fetches
            .entry(call_sid.to_owned())
            .or_default() += 1;
    }

    pub fn count_media_request(&self, with_token: bool) {
        let mut s = self.lock();
        s.media_requests += 1;
        if with_token {
            s.media_requests_with_token += 1;
        }
    }

    /// Records the `Accept-Encoding` of the call's latest request.
    pub fn saw_accept_encoding(&self, sid: &str, accept_encoding: Option<&str>) {
        self.lock()
            .calls
            .entry(sid.to_owned())
            .or_default()
            .accept_encoding = accept_encoding.map(str::to_owned);
    }

    /// Counts a new attempt, arriving now, and returns its number (1-based)
    /// and a guard that holds the business's concurrency until dropped.
    pub fn begin_attempt(&self, business: &str, sid: &str) -> (u32, InFlight) {
        let now_ms = unix_ms();
        let mut s = self.lock();
        let call = s.calls.entry(sid.to_owned()).or_default();
        call.attempts += 1;
        call.attempt_times_ms.push(now_ms);
        let attempt = call.attempts;
        if attempt == 1 {
            s.businesses
                .entry(business.to_owned())
                .or_default()
                .first_attempt_order
                .push(sid.to_owned());
        }
        drop(s);
        (attempt, self.hold(business))
    }

    /// The call's latest attempt number (0 before any).
    pub fn attempts(&self, sid: &str) -> u32 {
        self.lock().calls.get(sid).map_or(0, |c| c.attempts)
    }

    /// Holds one unit of the business's concurrency until the guard is dropped.
    pub fn hold(&self, business: &str) -> InFlight {
        let mut s = self.lock();
        let b = s.businesses.entry(business.to_owned()).or_default();
        b.current += 1;
        b.peak = b.peak.max(b.current);
        InFlight {
            stats: self.clone(),
            business: business.to_owned(),
        }
    }

    pub fn mark_started(&self, sid: &str) {
        self.lock().calls.entry(sid.to_owned()).or_default().started += 1;
    }

    pub fn mark_completed(&self, sid: &str) {
        let now_ms = unix_ms();
        let mut s = self.lock();
        let call = s.calls.entry(sid.to_owned()).or_default();
        call.completed += 1;
        call.completed_times_ms.push(now_ms);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        // A poisoned lock only means a handler panicked mid-update; the counts are still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Held for as long as an attempt is in flight (headers pending or body
/// still streaming); dropping it ends the attempt's share of concurrency.
#[derive(Debug)]
pub struct InFlight {
    stats: Stats,
    business: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.stats.lock();
        if let Some(b) = s.businesses.get_mut(&self.business) {
            b.current = b.current.saturating_sub(1);
        }
    }
}

/// Now, in ms since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
