//! Download statistics: per call, attempts, downloads started (a 200 with a
//! body) and completed (every byte handed to the connection); per business,
//! current and peak concurrent attempts and the order in which calls were
//! first attempted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    pub attempts: u32,
    pub started: u32,
    pub completed: u32,
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

    /// Counts a new attempt and returns its number (1-based) and a guard
    /// that holds the business's concurrency until dropped.
    pub fn begin_attempt(&self, business: &str, sid: &str) -> (u32, InFlight) {
        let mut s = self.lock();
        let call = s.calls.entry(sid.to_owned()).or_default();
        call.attempts += 1;
        let attempt = call.attempts;
        let b = s.businesses.entry(business.to_owned()).or_default();
        b.current += 1;
        b.peak = b.peak.max(b.current);
        if attempt == 1 {
            b.first_attempt_order.push(sid.to_owned());
        }
        (
            attempt,
            InFlight {
                stats: self.clone(),
                business: business.to_owned(),
            },
        )
    }

    pub fn mark_started(&self, sid: &str) {
        self.lock().calls.entry(sid.to_owned()).or_default().started += 1;
    }

    pub fn mark_completed(&self, sid: &str) {
        self.lock()
            .calls
            .entry(sid.to_owned())
            .or_default()
            .completed += 1;
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
