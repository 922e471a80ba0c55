//! The edge's call-list cache, one per business: identical list
//! requests within `CALL_LIST_TTL_MS` reach the origin once. A request that
//! finds the page fresh is answered from it; one that finds the same page
//! being fetched joins that fetch; only a request that finds neither asks
//! the origin.
//!
//! Generic over the page `P` and the shell's handle on a fetch in flight
//! `W` (the edge keeps a shared future there), so the bookkeeping is tested
//! here without either. Keys are `ListQuery::canonical` forms.
//!
//! - A page is fresh for `ttl_ms` from the moment the origin was asked for
//!   it (so no answer is older than the TTL, however slow the origin was).
//! - A failed fetch leaves nothing behind: its joiners get the failure, the
//!   next request asks again.
//! - A fetch that has run `STALE_FETCH_MS` is no longer joined (a hung
//!   origin request cannot hold every later request), and its late result
//!   does not replace a newer fetch's entry.
//! - At most `max_entries` entries: an insert drops expired pages, then the
//!   oldest fresh ones; fetches in flight are never dropped (they hold no
//!   page, and the runtime bounds how many requests are open).

use std::collections::HashMap;

/// The default `CALL_LIST_TTL_MS`.
pub const DEFAULT_CALL_LIST_TTL_MS: u64 = 5_000;
/// How long a fetch in flight is joined.
pub const STALE_FETCH_MS: u64 = 30_000;
/// Pages one business's cache holds at most (a page is at most 200 calls).
pub const MAX_CACHED_PAGES: usize = 64;

#[derive(Debug)]
enum Entry<P, W> {
    Fetching {
        fetch: u64,
        asked_ms: u64,
        waiter: W,
    },
    Fresh {
        page: P,
        asked_ms: u64,
    },
}

impl<P, W> Entry<P, W> {
    fn asked_ms(&self) -> u64 {
        match self {
            Entry::Fetching { asked_ms, .. } | Entry::Fresh { asked_ms, .. } => *asked_ms,
        }
    }
}

/// What a request for a page does.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, P, W> {
    /// Answer with this page.
    Hit(&'a P),
    /// Wait for this fetch in flight.
    Join(&'a W),
    /// Ask the origin, after registering the fetch with `ListCache::fetching`.
    Miss,
}

#[derive(Debug)]
pub struct ListCache<P, W> {
    entries: HashMap<String, Entry<P, W>>,
    ttl_ms: u64,
    max_entries: usize,
    next_fetch: u64,
}

impl<P, W> ListCache<P, W> {
    pub fn new(ttl_ms: u64, max_entries: usize) -> Self {
        ListCache {
            entries: HashMap::new(),
            ttl_ms,
            max_entries: max_entries.max(1),
            next_fetch: 0,
        }
    }

    /// What a request for `key` at `now_ms` does.
    pub fn lookup(&self, key: &str, now_ms: u64) -> Lookup<'_, P, W> {
        match self.entries.get(key) {
            Some(Entry::Fresh { page, asked_ms }) if self.fresh(*asked_ms, now_ms) => {
                Lookup::Hit(page)
            }
            Some(Entry::Fetching {
                waiter, asked_ms, ..
            }) if now_ms.saturating_sub(*asked_ms) < STALE_FETCH_MS => Lookup::Join(waiter),
            _ => Lookup::Miss,
        }
    }

    /// Registers the fetch a `Miss` starts; returns its id for `settled`.
    pub fn fetching(&mut self, key: &str, waiter: W, now_ms: u64) -> u64 {
        self.next_fetch += 1;
        let fetch = self.next_fetch;
        self.entries.remove(key);
        self.make_room(now_ms);
        self.entries.insert(
            key.to_owned(),
            Entry::Fetching {
                fetch,
                asked_ms: now_ms,
                waiter,
            },
        );
        fetch
    }

    /// The fetch `fetch` of `key` ended with `page` (`None`: it failed).
    /// A fetch that is no longer the key's entry changes nothing.
    pub fn settled(&mut self, key: &str, fetch: u64, page: Option<P>) {
        let asked_ms = match self.entries.get(key) {
            Some(Entry::Fetching {
                fetch: current,
                asked_ms,
                ..
            }) if *current == fetch => *asked_ms,
            _ => return,
        };
        match page {
            Some(page) => {
                self.entries
                    .insert(key.to_owned(), Entry::Fresh { page, asked_ms });
                self.drop_oldest_pages(self.max_entries);
            }
            None => {
                self.entries.remove(key);
            }
        }
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn fresh(&self, asked_ms: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(asked_ms) < self.ttl_ms
    }

    /// Drops expired pages and stale fetches, then the oldest pages, until
    /// one more entry fits.
    fn make_room(&mut self, now_ms: u64) {
        let ttl_ms = self.ttl_ms;
        self.entries.retain(|_, entry| match entry {
            Entry::Fresh { asked_ms, .. } => now_ms.saturating_sub(*asked_ms) < ttl_ms,
            Entry::Fetching { asked_ms, .. } => now_ms.saturating_sub(*asked_ms) < STALE_FETCH_MS,
        });
        self.drop_oldest_pages(self.max_entries - 1);
    }

    /// Drops the oldest pages until at most `keep` entries remain (or only
    /// fetches in flight do).
    fn drop_oldest_pages(&mut self, keep: usize) {
        while self.entries.len() > keep {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e, Entry::Fresh { .. }))
                .min_by_key(|(_, e)| e.asked_ms())
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => {
                    self.entries.remove(&key);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Cache = ListCache<String, u32>;

    #[test]
    fn a_miss_fetches_once_joiners_wait_and_the_page_serves_until_its_ttl() {
        let mut c = Cache::new(5_000, 8);
        assert_eq!(c.lookup("limit=50", 0), Lookup::Miss);
        let f = c.fetching("limit=50", 7, 0);
        assert_eq!(c.lookup("limit=50", 10), Lookup::Join(&7));
        assert_eq!(c.lookup("limit=50&q=1", 10), Lookup::Miss, "another query");
        c.settled("limit=50", f, Some("page".into()));
        assert_eq!(c.lookup("limit=50", 4_999), Lookup::Hit(&"page".to_owned()));
        assert_eq!(c.lookup("limit=50", 5_000), Lookup::Miss, "from the ask");
    }

    #[test]
    fn a_failed_fetch_leaves_nothing_and_a_stale_one_is_not_joined() {
        let mut c = Cache::new(5_000, 8);
        let f = c.fetching("k", 1, 0);
        c.settled("k", f, None);
        assert_eq!(c.lookup("k", 1), Lookup::Miss);
        let old = c.fetching("k", 2, 100);
        assert_eq!(c.lookup("k", 100 + STALE_FETCH_MS - 1), Lookup::Join(&2));
        assert_eq!(c.lookup("k", 100 + STALE_FETCH_MS), Lookup::Miss);
        let new = c.fetching("k", 3, 100 + STALE_FETCH_MS);
        c.settled("k", old, Some("late".into()));
        assert_eq!(c.lookup("k", 100 + STALE_FETCH_MS + 1), Lookup::Join(&3));
        c.settled("k", new, Some("new".into()));
        assert_eq!(
            c.lookup("k", 100 + STALE_FETCH_MS + 2),
            Lookup::Hit(&"new".to_owned())
        );
    }

    #[test]
    fn the_cache_keeps_at_most_its_entries_dropping_the_oldest_page() {
        let mut c = Cache::new(60_000, 2);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            let f = c.fetching(key, 0, i as u64);
            c.settled(key, f, Some(key.into()));
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup("a", 3), Lookup::Miss);
        assert_eq!(c.lookup("c", 3), Lookup::Hit(&"c".to_owned()));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Request { key: u8, dt: u64 },
        Settle { which: usize, ok: bool, dt: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 0u64..4_000).prop_map(|(key, dt)| Op::Request { key, dt }),
            (0usize..8, any::<bool>(), 0u64..4_000).prop_map(|(which, ok, dt)| Op::Settle {
                which,
                ok,
                dt
            }),
        ]
    }

    proptest! {
        /// Whatever the order of requests and fetch results: an answer is
        /// never older than the TTL; the origin is asked for a key only when
        /// no page of it is fresh and no fetch of it is joinable (so within
        /// one TTL, a key is fetched again only after a failure or a
        /// stale fetch); and the cache never holds more than its entries.
        #[test]
        fn the_origin_is_asked_once_per_fresh_page(ops in proptest::collection::vec(op(), 1..80)) {
            let ttl = 5_000;
            let mut c: ListCache<u64, ()> = ListCache::new(ttl, 3);
            let mut now = 0u64;
            // Fetches in flight: (key, fetch id, asked at).
            let mut open: Vec<(String, u64, u64)> = Vec::new();
            // Per key: the latest successful ask, and whether a fetch failed or went stale since.
            let mut last_ok: HashMap<String, u64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Request { key, dt } => {
                        now += dt;
                        let key = format!("k{key}");
                        match c.lookup(&key, now) {
                            Lookup::Hit(asked) => prop_assert!(now - *asked < ttl),
                            Lookup::Join(()) => prop_assert!(open.iter().any(|(k, _, at)| *k == key && now - at < STALE_FETCH_MS)),
                            Lookup::Miss => {
                                prop_assert!(!open.iter().any(|(k, _, at)| *k == key && now - at < STALE_FETCH_MS));
                                if let Some(ok) = last_ok.get(&key) {
                                    // Fresh pages are served unless the capacity dropped them.
                                    prop_assert!(now - ok >= ttl || c.len() >= 2);
                                }
                                let id = c.fetching(&key, (), now);
                                open.retain(|(k, _, _)| *k != key);
                                open.push((key, id, now));
                            }
                        }
                    }
                    Op::Settle { which, ok, dt } => {
                        now += dt;
                        if open.is_empty() { continue; }
                        let (key, id, asked) = open.remove(which % open.len());
                        c.settled(&key, id, ok.then_some(asked));
                        if ok { last_ok.insert(key, asked); }
                    }
                }
                prop_assert!(c.len() <= 3.max(open.len()));
            }
        }
    }
}
