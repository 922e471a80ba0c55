//! `BusinessSlots`: one Durable Object per business, holding its slot table
//! (`SLOTS_PER_BUSINESS` leases of `SLOT_LEASE_MS`, each named by a grant
//! id, and the FIFO queue of at most `MAX_QUEUE_PER_BUSINESS` waiters) and
//! its agents' download budgets (`DOWNLOAD_BUDGET_PER_MINUTE`).
//!
//! Concurrency: the runtime delivers one request at a time into this
//! object's JavaScript turn, and every handler loads the table, applies one
//! pure `SlotTable` (or `Budgets`) operation and stores the result before
//! its first other `await`, so two handlers never interleave on the table.
//! The table and the alarm (set to the earliest lease expiry, to reclaim
//! leases that their downloads never released) are written together, in
//! one atomic write, and every handler writes both, so an alarm is never
//! missing for a lease that needs one.
//!
//! Hand-over: an acquire that finds no free slot is queued and held open
//! (`acquire_hold_ms`) on a oneshot channel, kept in memory only. When a
//! release or an expiry grants the waiter a lease (already stored), the
//! held request is answered with it, so the next download starts one hop
//! after the last one ended. A waiter with no held request (its hold ran
//! out, or this object restarted and lost its channels) is woken with a
//! `fetch` to its call object instead, whose alarm then asks again and is
//! answered from the stored lease.
//!
//! Only call objects, in their download alarm, talk to this object; the
//! request handler never takes a slot.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::join;
use futures_util::future::{select, Either};
use playback_core::admission::{Admission, Budgets};
use playback_core::slots::{acquire_hold_ms, Acquire, SlotPolicy, SlotTable};
use serde_json::json;
use worker::{durable_object, Date, Delay, Env, Request, Response, Result, State};

use crate::config;
use crate::error::{json_response, EdgeError};
use crate::rpc::SlotRequest;

const TABLE_KEY: &str = "slots";
const BUDGETS_KEY: &str = "budgets";

#[durable_object]
pub struct BusinessSlots {
    state: State,
    env: Env,
    /// Held acquires by owner, answered with a lease when one is granted.
    held: RefCell<HashMap<String, oneshot::Sender<Acquire>>>,
}

impl BusinessSlots {
    async fn load(&self) -> Result<SlotTable> {
        Ok(self
            .state
            .storage()
            .get(TABLE_KEY)
            .await?
            .unwrap_or_default())
    }

    /// Stores the table and points the alarm at its next expiry, in one
    /// atomic write: both are issued before either is awaited, and the
    /// runtime commits writes issued without an `await` between them together.
    async fn store(&self, table: &SlotTable) -> Result<()> {
        let storage = self.state.storage();
        let put = storage.put(TABLE_KEY, table);
        let (stored, alarmed) = match table.next_expiry() {
            Some(at) => {
                let delay = (at as i64 - Date::now().as_millis() as i64).max(0);
                join(put, storage.set_alarm(delay)).await
            }
            None => join(put, storage.delete_alarm()).await,
        };
        stored.and(alarmed)
    }

    /// Hands each newly granted lease to its owner: on the owner's held
    /// acquire if it still waits, else by waking its call object.
    fn hand_over(&self, table: &SlotTable, owners: Vec<String>) {
        let mut wake = Vec::new();
        let now = Date::now().as_millis();
        for owner in owners {
            let held = self.held.borrow_mut().remove(&owner);
            let answered = match (held, table.standing(&owner, now)) {
                (Some(tx), granted @ Acquire::Granted { .. }) => tx.send(granted).is_ok(),
                _ => false,
            };
            if !answered {
                wake.push(owner);
            }
        }
        if !wake.is_empty() {
            // Not awaited by the handler: a release must not wait on another object.
            let env = self.env.clone();
            self.state.wait_until(wake_all(env, wake));
        }
    }

    async fn handle(&self, mut req: Request) -> std::result::Result<Response, EdgeError> {
        let config = config::load(&self.env)?;
        let policy = slot_policy(&config);
        let path = req.path();
        let body: SlotRequest = req.json().await?;
        let now = Date::now().as_millis();
        let mut table = self.load().await?;
        let (answer, woken) = match path.as_str() {
            "/acquire" => {
                let (answer, woken) = table.acquire(&body.owner, now, &policy);
                (serde_json::to_value(answer).unwrap_or_default(), woken)
            }
            "/renew" => (
                json!(table.renew(&body.owner, body.grant, now, policy.lease_ms)),
                Vec::new(),
            ),
            "/release" => (
                json!(true),
                table.release(&body.owner, body.grant, now, &policy),
            ),
            // Reads only: a status poll asks for the position, and a refused
            // admission leaves the budget as it was.
            "/position" => return Ok(json_response(200, &table.position(&body.owner))),
            "/admit" => {
                let mut budgets: Budgets = self
                    .state
                    .storage()
                    .get(BUDGETS_KEY)
                    .await?
                    .unwrap_or_default();
                let admission = budgets.admit(
                    &body.agent,
                    now,
                    config.download_budget_per_minute,
                    table.queue.len(),
                    policy.max_queue,
                );
                if admission == Admission::Admitted {
                    self.state.storage().put(BUDGETS_KEY, &budgets).await?;
                }
                crate::log::event(
                    json!({"event": "admission", "owner": body.owner, "answer": admission, "queued": table.queue.len()}),
                );
                return Ok(json_response(200, &admission));
            }
            _ => return Err(EdgeError::NotFound),
        };
        self.store(&table).await?;
        crate::log::event(
            json!({"event": "slots", "op": path.trim_start_matches('/'), "owner": body.owner,
            "leases": table.leases.len(), "queued": table.queue.len(), "answer": answer}),
        );
        self.hand_over(&table, woken);
        if path == "/acquire" && table.position(&body.owner).is_some() {
            return Ok(json_response(
                200,
                &self.hold(&body.owner, policy.lease_ms).await,
            ));
        }
        Ok(json_response(200, &answer))
    }

    /// Holds a queued acquire until a lease is handed over on it or the hold
    /// runs out; then answers with the owner's place in the queue.
    async fn hold(&self, owner: &str, lease_ms: u64) -> Acquire {
        let (tx, rx) = oneshot::channel();
        if let Some(older) = self.held.borrow_mut().insert(owner.to_owned(), tx) {
            // Only a dead call object leaves a held acquire behind; answer it anyway.
            let _ = older.send(Acquire::Queued { position: 0 });
        }
        let hold = Delay::from(Duration::from_millis(acquire_hold_ms(lease_ms)));
        let handed = match select(rx, hold).await {
            Either::Left((Ok(granted), _)) => Some(granted),
            _ => None,
        };
        if let Some(granted) = handed {
            crate::log::event(json!({"event": "slot_handed_over", "owner": owner}));
            return granted;
        }
        {
            let mut held = self.held.borrow_mut();
            if held.get(owner).is_some_and(|tx| tx.is_canceled()) {
                held.remove(owner);
            }
        }
        // No hand-over came; answer from the stored table, which a grant
        // without a live channel (an older hold of ours was replaced) leaves.
        match self.load().await {
            Ok(table) => table.standing(owner, Date::now().as_millis()),
            Err(_) => Acquire::Queued { position: 0 },
        }
    }
}

/// Wakes call objects granted a lease that no held request could carry.
async fn wake_all(env: Env, owners: Vec<String>) {
    let Ok(namespace) = env.durable_object("CALL_RECORDING") else {
        return;
    };
    for owner in owners {
        crate::log::event(json!({"event": "slot_granted_to_waiter", "owner": owner}));
        if let Ok(stub) = namespace.get_by_name(&owner) {
            if let Err(e) = stub.fetch_with_str("https://object/wake").await {
                crate::log::event(
                    json!({"event": "wake_failed", "owner": owner, "error": e.to_string()}),
                );
            }
        }
    }
}

impl worker::DurableObject for BusinessSlots {
    fn new(state: State, env: Env) -> Self {
        BusinessSlots {
            state,
            env,
            held: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .handle(req)
            .await
            .unwrap_or_else(|e| e.into_response("")))
    }

    async fn alarm(&self) -> Result<Response> {
        let config = match config::load(&self.env) {
            Ok(c) => c,
            Err(e) => return Ok(EdgeError::Config(e).into_response("")),
        };
        let now = Date::now().as_millis();
        let mut table = self.load().await?;
        let woken = table.expire(now, &slot_policy(&config));
        self.store(&table).await?;
        self.hand_over(&table, woken);
        Response::ok("ok")
    }
}

pub fn slot_policy(config: &playback_core::config::EdgeConfig) -> SlotPolicy {
    SlotPolicy {
        slots: config.slots_per_business,
        lease_ms: config.slot_lease_ms,
        max_queue: config.max_queue_per_business,
    }
}

async fn ask<T: serde::de::DeserializeOwned>(
    env: &Env,
    business: &str,
    path: &str,
    request: SlotRequest,
) -> std::result::Result<T, EdgeError> {
    let stub = env
        .durable_object("BUSINESS_SLOTS")?
        .get_by_name(business)?;
    crate::rpc::call(&stub, path, &request).await
}

fn about(owner: &str, grant: u64) -> SlotRequest {
    SlotRequest {
        owner: owner.into(),
        grant,
        agent: String::new(),
    }
}

/// What a call object asks of its business's slot table.
pub async fn acquire(
    env: &Env,
    business: &str,
    owner: &str,
) -> std::result::Result<Acquire, EdgeError> {
    ask(env, business, "/acquire", about(owner, 0)).await
}

/// Gives back the lease `grant` (a release of an older grant frees nothing).
pub async fn release(
    env: &Env,
    business: &str,
    owner: &str,
    grant: u64,
) -> std::result::Result<(), EdgeError> {
    let _: bool = ask(env, business, "/release", about(owner, grant)).await?;
    Ok(())
}

/// Extends the lease `grant`: its new expiry, or `None` when it is gone.
pub async fn renew(
    env: &Env,
    business: &str,
    owner: &str,
    grant: u64,
) -> std::result::Result<Option<u64>, EdgeError> {
    ask(env, business, "/renew", about(owner, grant)).await
}

pub async fn position(
    env: &Env,
    business: &str,
    owner: &str,
) -> std::result::Result<Option<u32>, EdgeError> {
    ask(env, business, "/position", about(owner, 0)).await
}

/// Whether `agent` may start a new download for `owner` now.
pub async fn admit(
    env: &Env,
    business: &str,
    owner: &str,
    agent: &str,
) -> std::result::Result<playback_core::admission::Admission, EdgeError> {
    let request = SlotRequest {
        owner: owner.into(),
        grant: 0,
        agent: agent.into(),
    };
    ask(env, business, "/admit", request).await
}
