//! `BusinessSlots`: one Durable Object per business, holding its slot table
//! (`SLOTS_PER_BUSINESS` leases of `SLOT_LEASE_MS`, and the FIFO queue).
//!
//! Concurrency: the runtime delivers one request at a time into this
//! object's JavaScript turn, and every handler loads the table, applies one
//! pure `SlotTable` operation and stores the result before its first other
//! `await`, so two handlers never interleave on the table. The alarm, set to
//! the earliest lease expiry, reclaims leases that their downloads never
//! released (a crashed worker).
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
use futures_util::future::{select, Either};
use playback_core::slots::{acquire_hold_ms, Acquire, SlotTable};
use serde_json::json;
use worker::{durable_object, Date, Delay, Env, Request, Response, Result, State};

use crate::config;
use crate::error::{json_response, EdgeError};
use crate::rpc::SlotRequest;

const TABLE_KEY: &str = "slots";

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

    /// Stores the table and points the alarm at its next expiry.
    async fn store(&self, table: &SlotTable) -> Result<()> {
        self.state.storage().put(TABLE_KEY, table).await?;
        match table.next_expiry() {
            Some(at) => {
                let delay = (at as i64 - Date::now().as_millis() as i64).max(0);
                self.state.storage().set_alarm(delay).await
            }
            None => self.state.storage().delete_alarm().await,
        }
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
        let (slots, lease_ms) = (config.slots_per_business, config.slot_lease_ms);
        let path = req.path();
        let body: SlotRequest = req.json().await?;
        let now = Date::now().as_millis();
        let mut table = self.load().await?;
        let (answer, woken) = match path.as_str() {
            "/acquire" => {
                let (answer, woken) = table.acquire(&body.owner, now, slots, lease_ms);
                (serde_json::to_value(answer).unwrap_or_default(), woken)
            }
            "/renew" => (json!(table.renew(&body.owner, now, lease_ms)), Vec::new()),
            "/release" => (
                json!(true),
                table.release(&body.owner, now, slots, lease_ms),
            ),
            "/position" => (
                json!(table.position(&body.owner)),
                table.expire(now, slots, lease_ms),
            ),
            _ => return Err(EdgeError::NotFound),
        };
        self.store(&table).await?;
        if path != "/position" {
            crate::log::event(
                json!({"event": "slots", "op": path.trim_start_matches('/'), "owner": body.owner,
                "leases": table.leases.len(), "queued": table.queue.len(), "answer": answer}),
            );
        }
        self.hand_over(&table, woken);
        if path == "/acquire" && table.position(&body.owner).is_some() {
            return Ok(json_response(200, &self.hold(&body.owner, lease_ms).await));
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
            .unwrap_or_else(EdgeError::into_response))
    }

    async fn alarm(&self) -> Result<Response> {
        let config = match config::load(&self.env) {
            Ok(c) => c,
            Err(e) => return Ok(EdgeError::Config(e).into_response()),
        };
        let now = Date::now().as_millis();
        let mut table = self.load().await?;
        let woken = table.expire(now, config.slots_per_business, config.slot_lease_ms);
        self.store(&table).await?;
        self.hand_over(&table, woken);
        Response::ok("ok")
    }
}

/// What a call object asks of its business's slot table.
pub async fn acquire(
    env: &Env,
    business: &str,
    owner: &str,
) -> std::result::Result<Acquire, EdgeError> {
    let stub = env
        .durable_object("BUSINESS_SLOTS")?
        .get_by_name(business)?;
    crate::rpc::call(
        &stub,
        "/acquire",
        &SlotRequest {
            owner: owner.into(),
        },
    )
    .await
}

pub async fn release(env: &Env, business: &str, owner: &str) -> std::result::Result<(), EdgeError> {
    let stub = env
        .durable_object("BUSINESS_SLOTS")?
        .get_by_name(business)?;
    let _: bool = crate::rpc::call(
        &stub,
        "/release",
        &SlotRequest {
            owner: owner.into(),
        },
    )
    .await?;
    Ok(())
}

pub async fn renew(env: &Env, business: &str, owner: &str) -> std::result::Result<bool, EdgeError> {
    let stub = env
        .durable_object("BUSINESS_SLOTS")?
        .get_by_name(business)?;
    crate::rpc::call(
        &stub,
        "/renew",
        &SlotRequest {
            owner: owner.into(),
        },
    )
    .await
}

pub async fn position(
    env: &Env,
    business: &str,
    owner: &str,
) -> std::result::Result<Option<u32>, EdgeError> {
    let stub = env
        .durable_object("BUSINESS_SLOTS")?
        .get_by_name(business)?;
    crate::rpc::call(
        &stub,
        "/position",
        &SlotRequest {
            owner: owner.into(),
        },
    )
    .await
}
