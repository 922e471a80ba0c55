//! `BusinessSlots`: one Durable Object per business, holding its slot table
//! (`SLOTS_PER_BUSINESS` leases of `SLOT_LEASE_MS`, and the FIFO queue).
//!
//! Concurrency: the runtime delivers one request at a time into this
//! object's JavaScript turn, and every handler loads the table, applies one
//! pure `SlotTable` operation and stores the result before its first other
//! `await`, so two handlers never interleave on the table. Waking a waiter
//! (a `fetch` to its call object) happens after the table is stored. The
//! alarm, set to the earliest lease expiry, reclaims leases that their
//! downloads never released (a crashed worker) and wakes the next waiter.
//!
//! Only call objects, in their download alarm, talk to this object; the
//! request handler never takes a slot.

use playback_core::slots::{Acquire, SlotTable};
use serde_json::json;
use worker::{durable_object, Date, Env, Request, Response, Result, State};

use crate::config;
use crate::error::{json_response, EdgeError};
use crate::rpc::SlotRequest;

const TABLE_KEY: &str = "slots";

#[durable_object]
pub struct BusinessSlots {
    state: State,
    env: Env,
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

    /// Tells each newly granted call object to come and take its slot.
    async fn wake(&self, owners: Vec<String>) {
        let Ok(namespace) = self.env.durable_object("CALL_RECORDING") else {
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
        self.wake(woken).await;
        Ok(json_response(200, &answer))
    }
}

impl worker::DurableObject for BusinessSlots {
    fn new(state: State, env: Env) -> Self {
        BusinessSlots { state, env }
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
        self.wake(woken).await;
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
