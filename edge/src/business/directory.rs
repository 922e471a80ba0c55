//! The calls the business's list has (the core's `directory`: one storage
//! key per call known from a read of the list, and per call learnt from a
//! page the list object read for an agent's player), so that a made-up
//! call SID is answered 404 without a slot, a queue place or an origin
//! recording request.
//!
//! A miss waits for the read in progress, and if the call is still
//! unknown, for a read of the list that started after it, reads at least
//! `CALL_LIST_REFRESH_MS` apart; a play waiting for a read is let through
//! as soon as a page holding its call is stored, while the crawl goes on.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either, LocalBoxFuture, Shared};
use futures_util::FutureExt;
use playback_core::clock::ms_until;
use playback_core::config::{EdgeConfig, OriginConfig};
use playback_core::directory::{
    crawl_complete, crawl_goes_on, known_key, learnt_key, settles, Listing, OnMiss, RefreshClock,
    COMPLETE_KEY, LIST_PAGE_LIMIT,
};
use playback_core::ids::CallIdentity;
use playback_core::list_query::ListQuery;
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
use serde_json::json;
use worker::{Delay, Result, Storage};

use super::index::CallIndex;
use super::BusinessSlots;
use crate::config;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::origin::Reader;
use crate::rpc::{Handles, LearnCalls, ListUnreadable, ListedCall};

/// A read of the call list, shared by every play that waits on it: when it
/// read the list, the time it started.
type ListRead = Shared<LocalBoxFuture<'static, Option<u64>>>;

/// The reads of the call list, and the plays waiting on them.
pub(super) struct Directory {
    /// When the call list was last read, and whether a read is scheduled.
    pub(super) clock: Rc<RefCell<RefreshClock>>,
    /// The latest read scheduled (running, done or not started yet).
    refresh: RefCell<Option<ListRead>>,
    sought: Sought,
}

impl Directory {
    /// Whether a read of the list is scheduled or under way.
    pub(super) fn reading(&self) -> bool {
        self.refresh
            .borrow()
            .as_ref()
            .is_some_and(|read| read.peek().is_none())
    }

    pub(super) fn new() -> Directory {
        Directory {
            clock: Rc::new(RefCell::new(RefreshClock::default())),
            refresh: RefCell::new(None),
            sought: Sought::default(),
        }
    }
}

/// Plays waiting for a call the known calls lack, by call SID: told as
/// soon as a page holding it is stored, while the crawl goes on.
#[derive(Clone, Default)]
struct Sought(Rc<RefCell<HashMap<String, Vec<oneshot::Sender<()>>>>>);

impl Sought {
    /// Told when a page holding `sid` is stored.
    fn seek(&self, sid: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.0
            .borrow_mut()
            .entry(sid.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    /// Tells the plays waiting for one of `calls`.
    fn found(&self, calls: &[CallSummary]) {
        let mut sought = self.0.borrow_mut();
        for call in calls {
            for tx in sought.remove(call.call_sid.as_str()).unwrap_or_default() {
                let _ = tx.send(());
            }
        }
    }

    /// Forgets the plays waiting for `sid` that have stopped waiting.
    fn forget_gone(&self, sid: &str) {
        let mut sought = self.0.borrow_mut();
        if let Some(waiting) = sought.get_mut(sid) {
            waiting.retain(|tx| !tx.is_canceled());
            if waiting.is_empty() {
                sought.remove(sid);
            }
        }
    }
}

/// The call as the list has it; the list unreadable says nothing of the
/// call: not a 404.
impl Handles<ListedCall> for BusinessSlots {
    async fn handle(
        &self,
        ListedCall { call }: ListedCall,
    ) -> EdgeResult<std::result::Result<Option<CallSummary>, ListUnreadable>> {
        let config = config::load(&self.env)?;
        Ok(match self.listing(&config, &call).await? {
            Listing::Listed => Ok(self.known(call.call_sid.as_str()).await?),
            Listing::Unlisted => Ok(None),
            Listing::Unavailable => Err(ListUnreadable),
        })
    }
}

impl Handles<LearnCalls> for BusinessSlots {
    async fn handle(&self, LearnCalls { calls }: LearnCalls) -> EdgeResult<bool> {
        let keys = calls
            .iter()
            .map(|c| learnt_key(c.call_sid.as_str()))
            .collect();
        let storage = self.state.storage();
        let config = config::load(&self.env)?;
        let index = indexes(&config).then_some(self.index.as_ref());
        store_calls(&storage, keys, &calls, &self.directory.sought, index).await?;
        Ok(true)
    }
}

impl BusinessSlots {
    /// Whether the business's call list has the call: from the known calls,
    /// or, on a miss, from a read of the list that started after this one asked.
    pub(super) async fn listing(
        &self,
        config: &Rc<EdgeConfig>,
        call: &CallIdentity,
    ) -> EdgeResult<Listing> {
        let sid = call.call_sid.as_str();
        if is_listed(&self.state.storage(), sid).await? {
            return Ok(Listing::Listed);
        }
        // Told as soon as a crawl stores a page holding the call: a play of
        // a recent call of a business with many calls waits for one page,
        // not for the whole crawl.
        let mut learnt = self.directory.sought.seek(sid);
        let mut wait = pin!(self.wait_for_listing(config, call));
        let listing = match select(wait.as_mut(), &mut learnt).await {
            Either::Left((listing, _)) => listing,
            Either::Right((Ok(()), _)) => Ok(Listing::Listed),
            // Only a page that holds the call says it is listed.
            Either::Right((Err(_), _)) => wait.await,
        };
        drop(learnt);
        self.directory.sought.forget_gone(sid);
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
        let current = self.directory.refresh.borrow().clone();
        if let Some(current) = current {
            let read = current.await;
            if known().await? {
                return Ok(Listing::Listed);
            }
            if settles(read, asked) {
                return Ok(Listing::Unlisted);
            }
        }
        // This read starts after now, hence after the play asked.
        let read = self.read_from_now(config, &call.business).await;
        Ok(match (read, known().await?) {
            (_, true) => Listing::Listed,
            (None, false) => Listing::Unavailable,
            (Some(_), false) => Listing::Unlisted,
        })
    }

    /// A read of the list that starts from now on: the one scheduled, or
    /// one scheduled now (after the one before it).
    pub(super) fn read_from_now(&self, config: &Rc<EdgeConfig>, business: &BusinessId) -> ListRead {
        let now = now_ms();
        let miss = self
            .directory
            .clock
            .borrow_mut()
            .on_miss(now, config.call_list_refresh_ms);
        let scheduled = self.directory.refresh.borrow().clone();
        let start_ms = match (miss, scheduled.as_ref()) {
            (OnMiss::Join, Some(scheduled)) => return scheduled.clone(),
            (OnMiss::Schedule { start_ms }, _) => start_ms,
            (OnMiss::Join, None) => now,
        };
        let reader = ListReader {
            clock: self.directory.clock.clone(),
            storage: self.state.storage(),
            config: config.clone(),
            business: business.clone(),
            sought: self.directory.sought.clone(),
            index: self.index.clone(),
        };
        let read = reader.read(scheduled, start_ms).boxed_local().shared();
        *self.directory.refresh.borrow_mut() = Some(read.clone());
        // The read runs to its end even when every play waiting on it was
        // let through early (a shared future runs only while polled).
        self.state.wait_until(read.clone().map(|_| ()));
        read
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
}

/// What a read of the call list works with, its own: it outlives the play
/// that scheduled it.
struct ListReader {
    clock: Rc<RefCell<RefreshClock>>,
    storage: Storage,
    config: Rc<EdgeConfig>,
    business: BusinessId,
    sought: Sought,
    index: Rc<CallIndex>,
}

impl ListReader {
    /// One scheduled read: after the read before it (one at a time), from
    /// `start_ms` on. When the list was read, the time it started.
    async fn read(self, previous: Option<ListRead>, start_ms: u64) -> Option<u64> {
        if let Some(previous) = previous {
            previous.await;
        }
        let wait = ms_until(start_ms, now_ms());
        if wait > 0 {
            Delay::from(Duration::from_millis(wait)).await;
        }
        let started = now_ms();
        self.clock.borrow_mut().started(started);
        let business = &self.business;
        match self.crawl().await {
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

    /// Reads the call list's pages into the known calls: every page until
    /// the first read has ended, then until a page holds a call already
    /// known. Once a page is stored, the plays waiting for one of its calls
    /// are told.
    async fn crawl(&self) -> EdgeResult<u32> {
        let storage = &self.storage;
        let complete = storage.get::<bool>(COMPLETE_KEY).await?.unwrap_or(false);
        let mut query = ListQuery {
            limit: Some(LIST_PAGE_LIMIT),
            ..ListQuery::default()
        };
        let mut pages = 0;
        loop {
            let page =
                crate::origin::list_page(&self.config, &self.business, &query, Reader::Crawl)
                    .await?;
            pages += 1;
            let keys: Vec<String> = page
                .calls
                .iter()
                .map(|c| known_key(c.call_sid.as_str()))
                .collect();
            let had_known = complete
                && !keys.is_empty()
                && storage.get_multiple(keys.clone()).await?.size() > 0;
            let index = indexes(&self.config).then_some(self.index.as_ref());
            store_calls(storage, keys, &page.calls, &self.sought, index).await?;
            let has_next = page.next_cursor.is_some();
            match page.next_cursor {
                Some(next) if crawl_goes_on(complete, had_known, has_next, pages) => {
                    query = query.at(Some(next))
                }
                _ => {
                    if !complete && crawl_complete(has_next, false) {
                        storage.put(COMPLETE_KEY, true).await?;
                    }
                    return Ok(pages);
                }
            }
        }
    }
}

/// Whether the business's calls are indexed for number searches: with
/// Twilio, whose list finds only whole numbers.
fn indexes(config: &EdgeConfig) -> bool {
    matches!(config.origin, OriginConfig::Twilio(_))
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
    index: Option<&CallIndex>,
) -> EdgeResult<()> {
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
    if let Some(index) = index {
        index.insert(storage, calls)?;
    }
    sought.found(calls);
    Ok(())
}
