//! Downloads a call's recording from the origin API (`ORIGIN_BASE_URL`)
//! into R2, and reads the origin's call-list pages. The origin's bearer
//! token is never logged and never leaves the origin's host.
//!
//! An attempt (`attempt.rs`), under its slot lease (`lease.rs`) and within
//! `DOWNLOAD_TIMEOUT_MS`:
//! 1. looks in R2, or takes the look its call object made while it waited
//!    for the slot: a recording stored there is never fetched again;
//! 2. asks the origin, following its redirects itself (`client.rs`);
//! 3. stores the body under the served key, whole or not at all: a small
//!    body in one `put` (`store.rs`), a longer one as a fill (`fill.rs`), one
//!    without a length in parts (`parts.rs`);
//! 4. gives its slot back as soon as the origin's body has been read whole
//!    (the slot counts origin downloads; R2 finishing does not need one);
//! 5. hands the peaks of the stored bytes to its call object, which writes
//!    them with `ready` in one atomic write: R2 holds only recordings.
//!
//! It never ends with an R2 write left running: such a write could land
//! after the next attempt looked in R2. Its control flow is generic over
//! `OriginFetch` (the runtime's `fetch`, `http.rs`), `RecordingStore` (R2,
//! `r2.rs`) and `AttemptHost` (the call object's business, the clock, the
//! log; wired below), so native tests drive it with fakes (`tests.rs`).

mod attempt;
mod client;
mod fill;
mod http;
mod lease;
mod list;
mod parts;
mod r2;
mod resolve;
mod store;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use playback_core::ids::CallIdentity;
use worker::{Bucket, Delay};

use crate::error::EdgeResult;
use crate::rpc::BusinessObject;

pub(crate) use attempt::{Attempt, AttemptCall, Looked};
pub(crate) use fill::FillEvent;
pub(crate) use lease::Lease;
pub(crate) use list::{list_page, number_page, Reader};
pub(crate) use r2::{look, peaks_from_r2};
pub(crate) use resolve::{recheck, resolve, Resolution};

/// Runs one attempt on the runtime: the origin through its `fetch`, the
/// recording into `bucket`, the lease at `business`. Ends only when its R2
/// writes have ended.
pub(crate) async fn attempt(
    bucket: &Bucket,
    business: &BusinessObject,
    call: AttemptCall<'_>,
) -> Attempt {
    let origin = http::WorkerOrigin::new(call.config);
    let store = r2::R2Store::new(bucket);
    let owner = call.id.object_name();
    let host = CallHost {
        business,
        owner: &owner,
        id: call.id,
    };
    let io = attempt::AttemptIo {
        origin: &origin,
        store: &store,
        host: &host,
    };
    attempt::run(&io, call).await
}

/// The call object running an attempt, as the attempt sees it.
struct CallHost<'a> {
    business: &'a BusinessObject,
    owner: &'a str,
    id: &'a CallIdentity,
}

impl lease::AttemptHost for CallHost<'_> {
    async fn renew(&self, grant: u64) -> EdgeResult<Option<u64>> {
        self.business.renew(self.owner, grant).await
    }

    async fn release(&self, grant: u64) -> EdgeResult<()> {
        self.business.release(self.owner, grant).await
    }

    fn now_ms(&self) -> u64 {
        crate::log::now_ms()
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        Delay::from(Duration::from_millis(ms))
    }

    fn log(&self, event: &str, fields: serde_json::Value) {
        crate::log::call_event(self.id, event, fields);
    }
}
