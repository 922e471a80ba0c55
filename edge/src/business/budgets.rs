//! Whether a call may start a new download: 404 for a call the business's
//! list does not have (`directory.rs`), 429 for an agent past its
//! `DOWNLOAD_BUDGET_PER_MINUTE` or a full queue; an admitted call that will
//! wait is answered behind its burst's starters (`burst.rs`).
//!
//! The budgets live in memory only: a rate limit over the last minute,
//! which an object idle long enough to be evicted has refilled anyway; a
//! crash forgets at most a minute's counts. Stored, each admission would be
//! a write of its own on the runtime's one thread.

use playback_core::admission::Admission;
use playback_core::directory::Listing;
use serde_json::json;

use super::BusinessSlots;
use crate::config;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::rpc::{Admit, Handles};

impl Handles<Admit> for BusinessSlots {
    async fn handle(&self, Admit { call, agent }: Admit) -> EdgeResult<Admission> {
        let config = config::load(&self.env)?;
        let policy = config.slot_policy();
        let owner = call.object_name();
        let listing = self.listing(&config, &call).await?;
        if listing == Listing::Unlisted {
            crate::log::event(
                json!({"event": "admission", "owner": owner, "answer": Admission::Unlisted}),
            );
            return Ok(Admission::Unlisted);
        }
        let table = self.load().await?;
        let admission = self.budgets.borrow_mut().admit(
            &agent,
            now_ms(),
            config.download_budget_per_minute,
            table.queue.len(),
            policy.max_queue,
        );
        // Admitted: told by the call's `none → queued` transition line.
        if admission == Admission::Admitted {
            self.burst
                .admitted(&owner, now_ms(), &table, policy.slots)
                .await;
        } else {
            crate::log::event(
                json!({"event": "admission", "owner": owner, "answer": admission,
                "queued": table.queue.len(), "listing": listing}),
            );
        }
        Ok(admission)
    }
}
