//! The business's slot table (`SLOTS_PER_BUSINESS` leases of
//! `SLOT_LEASE_MS`, each named by a grant id, and the FIFO queue of at most
//! `MAX_QUEUE_PER_BUSINESS` waiters), and the hand-over of its leases.
//!
//! The table and the alarm (set no later than the earliest lease expiry, to
//! reclaim leases that their downloads never released) are written
//! together, in one atomic write, and every handler that changes the table
//! sets the alarm when the one set would fire too late, so an alarm is
//! never missing for a lease that needs one. It is never moved later: one
//! set early fires for nothing and its handler sets the next.
//!
//! Hand-over: an acquire that finds no free slot is queued and held open
//! (`acquire_hold_ms`) on a oneshot channel, kept in memory only. When a
//! release or an expiry grants the waiter a lease (already stored), the
//! held request is answered with it, so the next download starts one hop
//! after the last one ended. A waiter with no held request (its hold ran
//! out, or this object restarted and lost its channels) is woken with a
//! `fetch` to its call object instead, whose alarm then asks again and is
//! answered from the stored lease.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{join, select, Either};
use playback_core::clock::ms_until;
use playback_core::slots::{acquire_hold_ms, holds_acquire, Acquire, SlotTable};
use serde::Serialize;
use serde_json::json;
use worker::{Delay, Env, Response, Result};

use super::BusinessSlots;
use crate::config;
use crate::error::{EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::{AcquireSlot, CallObject, Handles, QueuePosition, ReleaseLease, RenewLease};

const TABLE_KEY: &str = "slots";

/// Held acquires by owner, answered with a lease when one is granted.
#[derive(Default)]
pub(super) struct HeldAcquires(RefCell<HashMap<String, oneshot::Sender<Acquire>>>);

impl HeldAcquires {
    /// Holds `owner`'s acquire: it receives the lease handed to it.
    fn hold(&self, owner: &str) -> oneshot::Receiver<Acquire> {
        let (tx, rx) = oneshot::channel();
        if let Some(older) = self.0.borrow_mut().insert(owner.to_owned(), tx) {
            // Only a dead call object leaves a held acquire behind; answer it anyway.
            let _ = older.send(Acquire::Queued { position: 0 });
        }
        rx
    }

    /// Hands `owner`'s `standing`, when it is a lease, to its held acquire
    /// (which is let go either way); whether that acquire took it.
    fn hand(&self, owner: &str, standing: Acquire) -> bool {
        let held = self.0.borrow_mut().remove(owner);
        match (held, standing) {
            (Some(tx), granted @ Acquire::Granted { .. }) => tx.send(granted).is_ok(),
            _ => false,
        }
    }

    /// Lets go of `owner`'s held acquire once its request has gone.
    fn let_go_if_gone(&self, owner: &str) {
        let mut held = self.0.borrow_mut();
        if held.get(owner).is_some_and(|tx| tx.is_canceled()) {
            held.remove(owner);
        }
    }
}

impl Handles<AcquireSlot> for BusinessSlots {
    async fn handle(&self, AcquireSlot { owner }: AcquireSlot) -> EdgeResult<Acquire> {
        let policy = config::load(&self.env)?.slot_policy();
        let now = now_ms();
        let starters_asked = self.burst.acquired(&owner, now);
        let answer = self
            .change("acquire", &owner, |t| t.acquire(&owner, now, &policy))
            .await?;
        // Logged (in `change`) before the held admissions resume.
        if starters_asked {
            self.burst.starters_asked();
        }
        if holds_acquire(&answer) {
            return Ok(self.hold(&owner, policy.lease_ms).await);
        }
        Ok(answer)
    }
}

impl Handles<RenewLease> for BusinessSlots {
    async fn handle(&self, RenewLease { owner, grant }: RenewLease) -> EdgeResult<Option<u64>> {
        let lease_ms = config::load(&self.env)?.slot_lease_ms;
        let now = now_ms();
        self.change("renew", &owner, |t| {
            (t.renew(&owner, grant, now, lease_ms), Vec::new())
        })
        .await
    }
}

impl Handles<ReleaseLease> for BusinessSlots {
    async fn handle(&self, ReleaseLease { owner, grant }: ReleaseLease) -> EdgeResult<bool> {
        let policy = config::load(&self.env)?.slot_policy();
        let now = now_ms();
        self.change("release", &owner, |t| {
            (true, t.release(&owner, grant, now, &policy))
        })
        .await
    }
}

/// Reads only: a status poll asks for the position.
impl Handles<QueuePosition> for BusinessSlots {
    async fn handle(&self, QueuePosition { owner }: QueuePosition) -> EdgeResult<Option<u32>> {
        Ok(self.load().await?.position(&owner))
    }
}

impl BusinessSlots {
    pub(super) async fn load(&self) -> Result<SlotTable> {
        Ok(self
            .state
            .storage()
            .get(TABLE_KEY)
            .await?
            .unwrap_or_default())
    }

    /// Stores the table and, when it needs one, an alarm no later than its
    /// next expiry (the core's `alarm_to_set`: it never moves later), in
    /// one atomic write: both are issued before either is awaited, and the
    /// runtime commits writes issued without an `await` between them
    /// together. The alarm set now is read first (storage reads are input-
    /// gated: no other request runs in between).
    async fn store(&self, table: &SlotTable) -> Result<()> {
        let storage = self.state.storage();
        let current = storage.get_alarm().await?.map(|at| at.max(0) as u64);
        let put = storage.put(TABLE_KEY, table);
        match table.alarm_to_set(current) {
            Some(at) => {
                let delay = ms_until(at, now_ms()) as i64;
                let (stored, alarmed) = join(put, storage.set_alarm(delay)).await;
                stored.and(alarmed)
            }
            None => put.await,
        }
    }

    /// Applies one table operation (its answer, and the owners it granted a
    /// lease) and stores the table with its alarm before anything else
    /// awaits; then hands the granted leases over. The operation's answer.
    async fn change<A: Serialize>(
        &self,
        op: &str,
        owner: &str,
        apply: impl FnOnce(&mut SlotTable) -> (A, Vec<String>),
    ) -> EdgeResult<A> {
        let mut table = self.load().await?;
        let (answer, granted) = apply(&mut table);
        self.store(&table).await?;
        // The owners handed a lease on their held acquire are named in this
        // operation's line (one line per operation, not one more per hand-over).
        let handed = self.hand_over(&table, granted);
        crate::log::event(json!({"event": "slots", "op": op, "owner": owner,
            "leases": table.leases.len(), "queued": table.queue.len(), "answer": answer,
            "handed_over": handed}));
        Ok(answer)
    }

    /// Hands each newly granted lease to its owner: on the owner's held
    /// acquire if it still waits, else by waking its call object.
    /// Returns the owners whose held acquire took the lease.
    fn hand_over(&self, table: &SlotTable, owners: Vec<String>) -> Vec<String> {
        let now = now_ms();
        let (handed, wake): (Vec<String>, Vec<String>) = owners
            .into_iter()
            .partition(|owner| self.held.hand(owner, table.standing(owner, now)));
        if !wake.is_empty() {
            // Not awaited by the handler: a release must not wait on another object.
            self.state.wait_until(wake_all(self.env.clone(), wake));
        }
        handed
    }

    /// Holds a queued acquire until a lease is handed over on it or the hold
    /// runs out; then answers with the owner's place in the queue.
    async fn hold(&self, owner: &str, lease_ms: u64) -> Acquire {
        let handed = self.held.hold(owner);
        let hold = Delay::from(Duration::from_millis(acquire_hold_ms(lease_ms)));
        if let Either::Left((Ok(granted), _)) = select(handed, hold).await {
            return granted;
        }
        self.held.let_go_if_gone(owner);
        // No hand-over came; answer from the stored table, which a grant
        // without a live channel (an older hold of ours was replaced) leaves.
        match self.load().await {
            Ok(table) => table.standing(owner, now_ms()),
            Err(_) => Acquire::Queued { position: 0 },
        }
    }

    /// The alarm: reclaims expired leases and hands them over.
    pub(super) async fn expire_leases(&self) -> Result<Response> {
        let config = match config::load(&self.env) {
            Ok(c) => c,
            Err(e) => return Ok(EdgeError::Config(e).into_response("")),
        };
        let now = now_ms();
        let mut table = self.load().await?;
        let granted = table.expire(now, &config.slot_policy());
        self.store(&table).await?;
        let handed = self.hand_over(&table, granted);
        if !handed.is_empty() {
            crate::log::event(json!({"event": "slots", "op": "expire",
                "leases": table.leases.len(), "queued": table.queue.len(), "handed_over": handed}));
        }
        Response::ok("ok")
    }
}

/// Wakes call objects granted a lease that no held request could carry.
async fn wake_all(env: Env, owners: Vec<String>) {
    for owner in owners {
        crate::log::event(json!({"event": "slot_granted_to_waiter", "owner": owner}));
        let woken = match CallObject::named(&env, &owner) {
            Ok(call) => call.wake().await,
            Err(e) => Err(e),
        };
        if let Err(e) = woken {
            crate::log::event(
                json!({"event": "wake_failed", "owner": owner, "error": format!("{e:?}")}),
            );
        }
    }
}
