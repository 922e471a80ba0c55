//! `BusinessSlots`: one Durable Object per business, with four jobs, one
//! module each: its slot leases and their hand-over (`leases.rs`), its
//! agents' download budgets (`budgets.rs`), the order of a burst's work
//! (`burst.rs`), and the calls its list has (`directory.rs`; with Twilio,
//! also indexed for number searches, `index.rs`).
//!
//! Concurrency: the runtime delivers one request at a time into this
//! object's JavaScript turn, and every handler loads the table, applies one
//! pure `SlotTable` (or `Budgets`) operation and stores the result before
//! its first other `await`, so two handlers never interleave on the table.
//! A check of the call list awaits before the handler loads the table, so
//! it never splits a table operation.
//!
//! Only call objects, in their download alarm (or a play's run of it),
//! take slots from this object; the request handler never takes a slot.

mod budgets;
mod burst;
mod directory;
mod index;
mod leases;

use std::cell::RefCell;
use std::rc::Rc;

use playback_core::admission::Budgets;
use worker::{durable_object, Env, Request, Response, Result, State};

use crate::error::EdgeResult;
use crate::rpc::{reply, Handles, SlotMessage};
use burst::Burst;
use directory::Directory;
use index::CallIndex;
use leases::HeldAcquires;

#[durable_object]
pub struct BusinessSlots {
    state: State,
    env: Env,
    held: HeldAcquires,
    /// The agents' download budgets, in memory only (`budgets.rs`).
    budgets: RefCell<Budgets>,
    burst: Burst,
    directory: Directory,
    /// The calls indexed for number searches (Twilio).
    index: Rc<CallIndex>,
}

impl BusinessSlots {
    async fn receive(&self, mut req: Request) -> EdgeResult<Response> {
        match req.json().await? {
            SlotMessage::Admit(admit) => reply(self.handle(admit).await),
            SlotMessage::Acquire(acquire) => reply(self.handle(acquire).await),
            SlotMessage::Renew(renew) => reply(self.handle(renew).await),
            SlotMessage::Release(release) => reply(self.handle(release).await),
            SlotMessage::Position(position) => reply(self.handle(position).await),
            SlotMessage::Call(call) => reply(self.handle(call).await),
            SlotMessage::Learn(learn) => reply(self.handle(learn).await),
            SlotMessage::Search(search) => reply(self.handle(search).await),
            SlotMessage::Withdraw(withdraw) => reply(self.handle(withdraw).await),
        }
    }
}

impl worker::DurableObject for BusinessSlots {
    fn new(state: State, env: Env) -> Self {
        BusinessSlots {
            state,
            env,
            held: HeldAcquires::default(),
            budgets: RefCell::new(Budgets::default()),
            burst: Burst::new(),
            directory: Directory::new(),
            index: Rc::new(CallIndex::default()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .receive(req)
            .await
            .unwrap_or_else(|e| e.into_response("")))
    }

    async fn alarm(&self) -> Result<Response> {
        self.expire_leases().await
    }
}
