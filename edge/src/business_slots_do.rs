//! `BusinessSlots`: one Durable Object per business, holding its slot table
//! (`SLOTS_PER_BUSINESS` leases of `SLOT_LEASE_MS`, each named by a grant
//! id, and the FIFO queue of at most `MAX_QUEUE_PER_BUSINESS` waiters) and
//! its agents' download budgets (`DOWNLOAD_BUDGET_PER_MINUTE`).
//!
//! Concurrency: the runtime delivers one request at a time into this
//! object's JavaScript turn, and every handler loads the table, applies one
//! pure `SlotTable` (or `Budgets`) operation and stores the result before
//! its first other `await`, so two handlers never interleave on the table.
//! The table and the alarm (set no later than the earliest lease expiry,
//! to reclaim leases that their downloads never released) are written
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
//!
//! Only call objects, in their download alarm (or a play's run of it),
//! take slots from this object; the request handler never takes a slot.
//!
//! A burst's free slots go first: an admission that will wait in the queue
//! (the slots are taken, counting admitted calls that have not asked yet)
//! is answered only once the admitted calls that take the free slots have
//! asked for them, and a timer's turn after that (`behind_starters`; the
//! core's `slots::Admitted`, in memory only, each hold at most
//! `STARTERS_FIRST_MS`). The runtime runs every object on one thread, in
//! the order their work became ready, and sends an origin request only
//! once the work queued before it has run: answered at once, the waiting
//! calls' commits and acquires went before the free slots' acquires, and
//! the burst's first downloads started only after the whole burst had
//! been taken in. The queue stays first come, first served (it is ordered
//! by acquires, as before), and a lease is still taken only by a
//! download's acquire.
//!
//! Admission first checks the call against the business's call list (the
//! core's `directory`: one storage key per known call, and per call learnt
//! from a page the list object read for an agent's player; a miss waits for the
//! read in progress, and if the call is still unknown, for a read of the
//! list that started after it, reads at least `CALL_LIST_REFRESH_MS`
//! apart; a play waiting for a read is let through as soon as a page
//! holding its call is stored, while the crawl goes on), so a made-up call
//! SID is answered 404
//! without a slot, a queue place or an origin recording request. The check
//! awaits before the handler loads the table, so it never splits a table
//! operation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{join, LocalBoxFuture, Shared};
use futures_util::future::{select, Either};
use futures_util::FutureExt;
use playback_core::admission::{Admission, Budgets};
use playback_core::config::EdgeConfig;
use playback_core::directory::{
    crawl_complete, crawl_goes_on, known_key, learnt_key, settles, Listing, OnMiss, RefreshClock,
    COMPLETE_KEY, LIST_PAGE_LIMIT,
};
use playback_core::slots::{
    acquire_hold_ms, holds_acquire, Acquire, Admitted, SlotPolicy, SlotTable,
};
use playback_core::wire::CallSummary;
use serde_json::json;
use worker::{durable_object, Delay, Env, Request, Response, Result, State, Storage};

use crate::config;
use crate::error::{json_response, EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::{CallIdentity, CallObject, SlotMessage};
use crate::signal::{self, Signal};

const TABLE_KEY: &str = "slots";

#[durable_object]
pub struct BusinessSlots {
    state: State,
    env: Env,
    /// Held acquires by owner, answered with a lease when one is granted.
    held: RefCell<HashMap<String, oneshot::Sender<Acquire>>>,
    /// When the call list was last read, and whether a read is scheduled.
    clock: Rc<RefCell<RefreshClock>>,
    /// The latest read of the call list scheduled (running, done or not
    /// started yet); when it read the list, the time it started.
    refresh: RefCell<Option<Shared<LocalBoxFuture<'static, Option<u64>>>>>,
    /// Plays waiting for a call the known calls lack, by call SID: told as
    /// soon as a page holding it is stored, while the crawl goes on.
    sought: Sought,
    /// The agents' download budgets, in memory only: a rate limit over the
    /// last minute, which an object idle long enough to be evicted has
    /// refilled anyway; a crash forgets at most a minute's counts. Stored,
    /// each admission would be a write of its own on the runtime's thread.
    budgets: RefCell<Budgets>,
    /// Admitted calls whose acquire has not come yet (the core's
    /// `Admitted`), in memory only: it orders a burst's work, nothing else.
    admitted: RefCell<Admitted>,
    /// Fires (and is replaced) when the last admitted call that takes a free
    /// slot has asked for it: the admissions held behind them look again.
    starters_asked: RefCell<Signal>,
}

/// Senders for plays waiting on a call SID to be learnt.
type Sought = Rc<RefCell<HashMap<String, Vec<oneshot::Sender<()>>>>>;

impl BusinessSlots {
    async fn load(&self) -> Result<SlotTable> {
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
                let delay = (at as i64 - now_ms() as i64).max(0);
                let (stored, alarmed) = join(put, storage.set_alarm(delay)).await;
                stored.and(alarmed)
            }
            None => put.await,
        }
    }

    /// Hands each newly granted lease to its owner: on the owner's held
    /// acquire if it still waits, else by waking its call object.
    /// Returns the owners whose held acquire took the lease.
    fn hand_over(&self, table: &SlotTable, owners: Vec<String>) -> Vec<String> {
        let (mut wake, mut handed) = (Vec::new(), Vec::new());
        let now = now_ms();
        for owner in owners {
            let held = self.held.borrow_mut().remove(&owner);
            let answered = match (held, table.standing(&owner, now)) {
                (Some(tx), granted @ Acquire::Granted { .. }) => tx.send(granted).is_ok(),
                _ => false,
            };
            if answered {
                handed.push(owner);
            } else {
                wake.push(owner);
            }
        }
        if !wake.is_empty() {
            // Not awaited by the handler: a release must not wait on another object.
            let env = self.env.clone();
            self.state.wait_until(wake_all(env, wake));
        }
        handed
    }

    async fn handle(&self, mut req: Request) -> EdgeResult<Response> {
        let config = config::load(&self.env)?;
        let policy = slot_policy(&config);
        let message: SlotMessage = req.json().await?;
        let now = now_ms();
        match message {
            SlotMessage::Admit { call, agent } => self.admit(&config, &policy, &call, &agent).await,
            SlotMessage::Acquire { owner } => {
                let starters_asked = self.admitted.borrow_mut().acquired(&owner, now);
                let mut acquired = None;
                let answer = self
                    .change("acquire", &owner, |t| {
                        let (answer, woken) = t.acquire(&owner, now, &policy);
                        acquired = Some(answer);
                        (json!(answer), woken)
                    })
                    .await?;
                // Logged (in `change`) before the held admissions resume.
                if starters_asked {
                    signal::fire(&self.starters_asked);
                }
                if acquired.as_ref().is_some_and(holds_acquire) {
                    return Ok(json_response(
                        200,
                        &self.hold(&owner, policy.lease_ms).await,
                    ));
                }
                Ok(json_response(200, &answer))
            }
            SlotMessage::Renew { owner, grant } => {
                let answer = self
                    .change("renew", &owner, |t| {
                        (
                            json!(t.renew(&owner, grant, now, policy.lease_ms)),
                            Vec::new(),
                        )
                    })
                    .await?;
                Ok(json_response(200, &answer))
            }
            SlotMessage::Release { owner, grant } => {
                let answer = self
                    .change("release", &owner, |t| {
                        (json!(true), t.release(&owner, grant, now, &policy))
                    })
                    .await?;
                Ok(json_response(200, &answer))
            }
            // Reads only: a status poll asks for the position.
            SlotMessage::Position { owner } => {
                Ok(json_response(200, &self.load().await?.position(&owner)))
            }
            SlotMessage::Call { call } => {
                // The list unreadable says nothing of the call: not a 404.
                let summary: std::result::Result<Option<CallSummary>, ()> =
                    match self.listing(&config, &call).await? {
                        Listing::Listed => Ok(self.known(call.call_sid.as_str()).await?),
                        Listing::Unlisted => Ok(None),
                        Listing::Unavailable => Err(()),
                    };
                Ok(json_response(200, &summary))
            }
            SlotMessage::Learn { calls } => {
                let keys = calls
                    .iter()
                    .map(|c| learnt_key(c.call_sid.as_str()))
                    .collect();
                store_calls(&self.state.storage(), keys, &calls, &self.sought).await?;
                Ok(json_response(200, &true))
            }
        }
    }

    /// Applies one table operation (its answer, and the owners it granted a
    /// lease) and stores the table with its alarm before anything else
    /// awaits; then hands the granted leases over. Answers the operation's answer.
    async fn change(
        &self,
        op: &str,
        owner: &str,
        apply: impl FnOnce(&mut SlotTable) -> (serde_json::Value, Vec<String>),
    ) -> EdgeResult<serde_json::Value> {
        let mut table = self.load().await?;
        let (answer, woken) = apply(&mut table);
        self.store(&table).await?;
        // The owners handed a lease on their held acquire are named in this
        // operation's line (one line per operation, not one more per hand-over).
        let handed = self.hand_over(&table, woken);
        crate::log::event(json!({"event": "slots", "op": op, "owner": owner,
            "leases": table.leases.len(), "queued": table.queue.len(), "answer": answer,
            "handed_over": handed}));
        Ok(answer)
    }

    /// Admits a new download for the call, or refuses it: 404 for a call
    /// the business's list does not have, 429 for an agent past its budget
    /// or a full queue.
    async fn admit(
        &self,
        config: &Rc<EdgeConfig>,
        policy: &SlotPolicy,
        call: &CallIdentity,
        agent: &str,
    ) -> EdgeResult<Response> {
        let owner = call.object_name();
        let listing = self.listing(config, call).await?;
        if listing == Listing::Unlisted {
            crate::log::event(
                json!({"event": "admission", "owner": owner, "answer": Admission::Unlisted}),
            );
            return Ok(json_response(200, &Admission::Unlisted));
        }
        let table = self.load().await?;
        let admission = self.budgets.borrow_mut().admit(
            agent,
            now_ms(),
            config.download_budget_per_minute,
            table.queue.len(),
            policy.max_queue,
        );
        // Admitted: told by the call's `none → queued` transition line.
        if admission == Admission::Admitted {
            let starts = self
                .admitted
                .borrow_mut()
                .admit(&owner, now_ms(), &table, policy.slots);
            if !starts {
                self.behind_starters().await;
            }
        } else {
            crate::log::event(
                json!({"event": "admission", "owner": owner, "answer": admission,
                "queued": table.queue.len(), "listing": listing}),
            );
        }
        Ok(json_response(200, &admission))
    }

    /// Holds an admission that will wait in the queue until the admitted
    /// calls that take a free slot have asked for it (the core's `Admitted`),
    /// then for one turn of the runtime's timers.
    ///
    /// That turn is what lets their downloads start first: the runtime's one
    /// thread sends an outgoing request only once the work queued before it
    /// has run, and a timer comes due only after that. Measured with the
    /// held admissions answered as soon as the last such call had asked, in
    /// a first traffic: its origin request was issued within about 10 ms,
    /// but reached the origin 90–115 ms after that, once the 27 released
    /// calls had each stored `queued` and asked for their place.
    async fn behind_starters(&self) {
        loop {
            let Some(ms) = self.admitted.borrow().hold_ms(now_ms()) else {
                return;
            };
            let asked = signal::fired(&self.starters_asked);
            if let Either::Left(_) = select(asked, Delay::from(Duration::from_millis(ms))).await {
                Delay::from(Duration::from_millis(1)).await;
            }
        }
    }

    /// A listed call's summary, known or learnt (`None` for a call stored
    /// as only known, as before the summaries were kept).
    async fn known(&self, sid: &str) -> EdgeResult<Option<CallSummary>> {
        // One read of both keys, as `is_listed`: the known summary first.
        let keys = listing_keys(sid);
        let found = self.state.storage().get_multiple(keys.clone()).await?;
        Ok(keys
            .iter()
            .filter_map(|key| {
                found
                    .get(&wasm_bindgen::JsValue::from(key.as_str()))
                    .as_string()
            })
            .find_map(|json| serde_json::from_str(&json).ok()))
    }

    /// Whether the business's call list has the call: from the known calls,
    /// or, on a miss, from a read of the list that started after this one asked.
    async fn listing(&self, config: &Rc<EdgeConfig>, call: &CallIdentity) -> EdgeResult<Listing> {
        let sid = call.call_sid.as_str();
        if is_listed(&self.state.storage(), sid).await? {
            return Ok(Listing::Listed);
        }
        // Told as soon as a crawl stores a page holding the call: a play of
        // a recent call of a business with many calls waits for one page,
        // not for the whole crawl.
        let (tx, mut learnt) = oneshot::channel();
        self.sought
            .borrow_mut()
            .entry(sid.to_owned())
            .or_default()
            .push(tx);
        let mut wait = std::pin::pin!(self.wait_for_listing(config, call));
        let listing = match select(wait.as_mut(), &mut learnt).await {
            Either::Left((listing, _)) => listing,
            Either::Right((Ok(()), _)) => Ok(Listing::Listed),
            // Only a page that holds the call says it is listed.
            Either::Right((Err(_), _)) => wait.await,
        };
        drop(learnt);
        let mut sought = self.sought.borrow_mut();
        if let Some(waiting) = sought.get_mut(sid) {
            waiting.retain(|tx| !tx.is_canceled());
            if waiting.is_empty() {
                sought.remove(sid);
            }
        }
        listing
    }

    /// The listing of a call not known when the play asked: from a read of
    /// the list that started after that.
    async fn wait_for_listing(
        &self,
        config: &Rc<EdgeConfig>,
        call: &CallIdentity,
    ) -> EdgeResult<Listing> {
        let asked = now_ms();
        let storage = self.state.storage();
        let known = || is_listed(&storage, call.call_sid.as_str());
        // A read already scheduled or under way may well bring the call (a
        // listed call needs no read of its own), and settles it if it
        // started after this play asked.
        let current = self.refresh.borrow().clone();
        if let Some(current) = current {
            let read = current.await;
            if known().await? {
                return Ok(Listing::Listed);
            }
            if settles(read, asked) {
                return Ok(Listing::Unlisted);
            }
        }
        let now = now_ms();
        let miss = self
            .clock
            .borrow_mut()
            .on_miss(now, config.call_list_refresh_ms);
        let scheduled = self.refresh.borrow().clone();
        let refresh = match (miss, scheduled) {
            (OnMiss::Join, Some(scheduled)) => scheduled,
            (miss, previous) => {
                let start_ms = match miss {
                    OnMiss::Schedule { start_ms } => start_ms,
                    OnMiss::Join => now,
                };
                let read = read_list(
                    previous,
                    start_ms,
                    self.clock.clone(),
                    self.state.storage(),
                    config.clone(),
                    call.business.to_string(),
                    self.sought.clone(),
                )
                .boxed_local()
                .shared();
                *self.refresh.borrow_mut() = Some(read.clone());
                // The read runs to its end even when every play waiting on
                // it was let through early (a shared future runs only while
                // polled).
                self.state.wait_until(read.clone().map(|_| ()));
                read
            }
        };
        // This read starts after `now`, hence after the play asked.
        let read = refresh.await;
        Ok(match (read, known().await?) {
            (_, true) => Listing::Listed,
            (None, false) => Listing::Unavailable,
            (Some(_), false) => Listing::Unlisted,
        })
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
            Ok(table) => table.standing(owner, now_ms()),
            Err(_) => Acquire::Queued { position: 0 },
        }
    }
}

/// One scheduled read of the call list: after the read before it (one at
/// a time), from `start_ms` on. When the list was read, the time it started.
async fn read_list(
    previous: Option<Shared<LocalBoxFuture<'static, Option<u64>>>>,
    start_ms: u64,
    clock: Rc<RefCell<RefreshClock>>,
    storage: Storage,
    config: Rc<EdgeConfig>,
    business: String,
    sought: Sought,
) -> Option<u64> {
    if let Some(previous) = previous {
        previous.await;
    }
    let now = now_ms();
    if start_ms > now {
        Delay::from(Duration::from_millis(start_ms - now)).await;
    }
    let started = now_ms();
    clock.borrow_mut().started(started);
    match crawl(&storage, &config, &business, &sought).await {
        Ok(pages) => {
            crate::log::event(
                json!({"event": "call_list_read", "business": business, "pages": pages}),
            );
            Some(started)
        }
        Err(e) => {
            crate::log::event(
                json!({"event": "call_list_failed", "business": business, "detail": format!("{e:?}")}),
            );
            None
        }
    }
}

/// Reads the call list's pages into the known calls: every page until the
/// first read has ended, then until a page holds a call already known.
/// Once a page is stored, the plays waiting for one of its calls are told.
async fn crawl(
    storage: &Storage,
    config: &EdgeConfig,
    business: &str,
    sought: &Sought,
) -> EdgeResult<u32> {
    let complete = storage.get::<bool>(COMPLETE_KEY).await?.unwrap_or(false);
    let mut url = format!(
        "{}/v1/businesses/{business}/calls?limit={LIST_PAGE_LIMIT}",
        config.origin_base_url
    );
    let mut pages = 0;
    loop {
        let page = crate::origin::list_page(config, &url).await?;
        pages += 1;
        let keys: Vec<String> = page
            .calls
            .iter()
            .map(|c| known_key(c.call_sid.as_str()))
            .collect();
        let had_known =
            complete && !keys.is_empty() && storage.get_multiple(keys.clone()).await?.size() > 0;
        store_calls(storage, keys, &page.calls, sought).await?;
        let has_next = page.next.is_some();
        match page.next {
            Some(next) if crawl_goes_on(complete, had_known, has_next, pages) => url = next,
            _ => {
                if !complete && crawl_complete(has_next, false) {
                    storage.put(COMPLETE_KEY, true).await?;
                }
                return Ok(pages);
            }
        }
    }
}

/// Whether the call is listed: known from a crawl, or learnt from a page an
/// agent's player read. One read.
async fn is_listed(storage: &Storage, sid: &str) -> Result<bool> {
    Ok(storage.get_multiple(listing_keys(sid)).await?.size() > 0)
}

/// The keys that say a call is listed: known from a crawl, then learnt.
fn listing_keys(sid: &str) -> Vec<String> {
    vec![known_key(sid), learnt_key(sid)]
}

/// Stores `calls` under `keys` (one per call), each with its summary (JSON,
/// for the bar's title), then tells the plays waiting for one of them.
async fn store_calls(
    storage: &Storage,
    keys: Vec<String>,
    calls: &[CallSummary],
    sought: &Sought,
) -> Result<()> {
    let values: Vec<String> = calls
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    // At most 128 keys per write, as a plain object (a serialised map
    // would be a JavaScript `Map`, whose entries `put` does not see).
    for (chunk, values) in keys.chunks(128).zip(values.chunks(128)) {
        let entries = js_sys::Object::new();
        for (key, value) in chunk.iter().zip(values) {
            js_sys::Reflect::set(&entries, &key.into(), &value.into())
                .map_err(worker::Error::from)?;
        }
        storage.put_multiple_raw(entries).await?;
    }
    let mut sought = sought.borrow_mut();
    for call in calls {
        for tx in sought.remove(call.call_sid.as_str()).unwrap_or_default() {
            let _ = tx.send(());
        }
    }
    Ok(())
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

impl worker::DurableObject for BusinessSlots {
    fn new(state: State, env: Env) -> Self {
        BusinessSlots {
            state,
            env,
            held: RefCell::new(HashMap::new()),
            clock: Rc::new(RefCell::new(RefreshClock::default())),
            refresh: RefCell::new(None),
            sought: Rc::new(RefCell::new(HashMap::new())),
            budgets: RefCell::new(Budgets::default()),
            admitted: RefCell::new(Admitted::default()),
            starters_asked: RefCell::new(Signal::new()),
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
        let now = now_ms();
        let mut table = self.load().await?;
        let woken = table.expire(now, &slot_policy(&config));
        self.store(&table).await?;
        let handed = self.hand_over(&table, woken);
        if !handed.is_empty() {
            crate::log::event(json!({"event": "slots", "op": "expire",
                "leases": table.leases.len(), "queued": table.queue.len(), "handed_over": handed}));
        }
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
