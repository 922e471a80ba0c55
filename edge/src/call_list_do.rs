//! `CallLists`: one Durable Object per business, through which every page
//! of its call list is read. Identical list requests within
//! `CALL_LIST_TTL_MS` reach the origin once: a request that finds the page
//! fresh in memory is answered from it, one that finds the same page being
//! fetched waits for that fetch, and only one that finds neither asks the
//! origin (the bookkeeping is the core's `list_cache`).
//!
//! Concurrency: the runtime runs one JavaScript turn at a time in this
//! object, and a handler looks up and registers a fetch without an `await`
//! between, so two identical requests never both miss. The fetch runs as a
//! shared future that every joiner polls, and a task of its own settles it
//! into the cache, so a requester that goes away neither cancels the fetch
//! nor leaves it unsettled. Nothing is stored: a restarted object starts
//! with an empty cache, which costs one origin request per page.
//!
//! Each page read from the origin is told to the business object (its
//! calls are listed: a click on one needs no read of the list of its own).
//! Listing never asks the origin for a recording and never starts a
//! download.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either, LocalBoxFuture, Shared};
use futures_util::FutureExt;
use playback_core::config::{EdgeConfig, OriginConfig};
use playback_core::list_cache::{ListCache, Lookup, MAX_CACHED_PAGES};
use playback_core::list_query::ListQuery;
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
use serde_json::json;
use worker::{durable_object, Delay, Env, Request, Response, Result, State};

use crate::config;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::origin::Reader;
use crate::rpc::{
    reply, BusinessObject, CallPage, Handles, ListMessage, PageAnswer, PageFailure, PageQuery,
};

/// How long one origin list request may take before it counts as failed.
const LIST_TIMEOUT_MS: u64 = 10_000;

type Fetch = Shared<LocalBoxFuture<'static, PageAnswer>>;
type PageCache = ListCache<Rc<CallPage>, Fetch>;
/// The business's pages, shared with the tasks that settle fetches.
type Pages = Rc<RefCell<Option<PageCache>>>;

#[durable_object]
pub struct CallLists {
    env: Env,
    /// Created on the first request, with the configuration's TTL.
    cache: Pages,
}

impl CallLists {
    async fn receive(&self, mut req: Request) -> EdgeResult<Response> {
        match req.json().await? {
            ListMessage::Page(page) => reply(self.handle(page).await),
        }
    }

    /// Starts reading the page `query` from the origin, noted in `cache`;
    /// a task of its own settles it into the cache.
    fn start_fetch(
        &self,
        cache: &mut PageCache,
        config: &Rc<EdgeConfig>,
        business: &BusinessId,
        query: &str,
        now: u64,
    ) -> Fetch {
        let (env, business) = (self.env.clone(), business.clone());
        let fetch = fetch_page(config.clone(), env, business, query.to_owned())
            .boxed_local()
            .shared();
        let id = cache.fetching(query, fetch.clone(), now);
        let (pages, key, settle) = (self.cache.clone(), query.to_owned(), fetch.clone());
        worker::wasm_bindgen_futures::spawn_local(async move {
            let page = settle.await.ok().map(Rc::new);
            if let Some(cache) = pages.borrow_mut().as_mut() {
                cache.settled(&key, id, page);
            }
        });
        fetch
    }
}

/// The page `query` (a `ListQuery::canonical` form) of the business's list.
impl Handles<PageQuery> for CallLists {
    async fn handle(&self, PageQuery { business, query }: PageQuery) -> EdgeResult<PageAnswer> {
        let config = config::load(&self.env)?;
        let now = now_ms();
        let fetch = {
            let mut slot = self.cache.borrow_mut();
            let cache = slot
                .get_or_insert_with(|| ListCache::new(config.call_list_ttl_ms, MAX_CACHED_PAGES));
            match cache.lookup(&query, now) {
                Lookup::Hit(page) => return Ok(Ok(CallPage::clone(page))),
                Lookup::Join(fetch) => fetch.clone(),
                Lookup::Miss => self.start_fetch(cache, &config, &business, &query, now),
            }
        };
        Ok(fetch.await)
    }
}

/// Tells the business object the calls of a page read from the origin: an
/// agent's player shows them, so a click on one is admitted without a read
/// of the list of its own (`directory::learnt_key`).
async fn teach(env: &Env, business: &BusinessId, calls: Vec<CallSummary>) {
    let taught = match BusinessObject::of(env, business.as_str()) {
        Ok(object) => object.learn(calls).await,
        Err(e) => Err(e),
    };
    if let Err(e) = taught {
        crate::log::event(
            json!({"event": "call_list_teach_failed", "business": business, "error": format!("{e:?}")}),
        );
    }
}

/// Asks the origin for one page (at most `LIST_TIMEOUT_MS`). The page's
/// calls are told to the business object before the page is answered, so
/// every call a player shows can be played at once. With Twilio, a number
/// search is the business object's (its index of the calls).
async fn fetch_page(
    config: Rc<EdgeConfig>,
    env: Env,
    business: BusinessId,
    query: String,
) -> PageAnswer {
    let started = now_ms();
    let parsed = match ListQuery::from_canonical(&query) {
        Ok(parsed) => parsed,
        Err(e) => return Err(PageFailure::Origin(format!("not a canonical query: {e:?}"))),
    };
    let searched = matches!(config.origin, OriginConfig::Twilio(_)) && parsed.q.is_some();
    let read = async {
        if searched {
            let object = BusinessObject::of(&env, business.as_str()).map_err(PageFailure::of)?;
            return object
                .search(&business, &query)
                .await
                .map_err(PageFailure::of)?;
        }
        crate::origin::list_page(&config, &business, &parsed, Reader::Agent)
            .await
            .map(|page| CallPage {
                calls: page.calls,
                next_cursor: page.next_cursor,
                note: None,
            })
            .map_err(PageFailure::of)
    }
    .boxed_local();
    let timeout = Delay::from(Duration::from_millis(LIST_TIMEOUT_MS));
    let answer = match select(read, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(PageFailure::Origin("calls: no answer in time".into())),
    };
    if let (Ok(page), false) = (&answer, searched) {
        if !page.calls.is_empty() {
            teach(&env, &business, page.calls.clone()).await;
        }
    }
    crate::log::event(
        json!({"event": "call_list_page", "business": business, "query": query,
        "ok": answer.is_ok(), "duration_ms": now_ms() - started}),
    );
    answer
}

impl worker::DurableObject for CallLists {
    fn new(_state: State, env: Env) -> Self {
        CallLists {
            env,
            cache: Rc::new(RefCell::new(None)),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .receive(req)
            .await
            .unwrap_or_else(|e| e.into_response("")))
    }
}
