//! Which calls a business has: the business object's copy of the origin's
//! call list, so that a play of a call SID the business does not have is
//! answered 404 before it costs a slot, a place in the queue or an origin
//! recording request.
//!
//! The copy is kept one storage key per call (`known_key`), never one value
//! for the whole list, so a business of 100 000 calls stays cheap to extend
//! and to look up. It is learnt by crawling the list's pages (following
//! `Link: <…>; rel="next"`, RFC 8288, on the origin's own host only, at most
//! `MAX_LIST_PAGES`): the first crawl reads every page; once one has ended,
//! a refresh stops at the first page that holds a call already known (the
//! list is newest first, so everything after it is known too).
//!
//! The pages the agents' players read teach it too (`learnt_key`): a call
//! an agent can click is one the list object has just read from the origin,
//! so a business's first plays do not each wait for a crawl.
//!
//! Rules that make a 404 sound:
//! - a SID is declared unknown only by a refresh that *started after the
//!   play asked* (a refresh already under way may have read the list before
//!   the call was in it): a miss first waits for the refresh in progress
//!   (which often brings a listed call, so it costs nothing more), and if
//!   the call is still unknown, `on_miss` joins a refresh that has not
//!   started yet, or schedules a new one;
//! - refreshes start at least `CALL_LIST_REFRESH_MS` apart, so however many
//!   made-up SIDs are played, the origin sees at most one list request per
//!   interval (plus the pages of the first crawl);
//! - a refresh that fails (the origin's list is down) declares nothing: the
//!   play goes on as before this check, and the recording request decides.

use serde::{Deserialize, Serialize};

/// At most this many pages per crawl (200 000 calls at 200 a page).
pub const MAX_LIST_PAGES: u32 = 1_000;
/// Calls per page the edge asks the origin for.
pub const LIST_PAGE_LIMIT: u32 = 200;
/// The storage key that says a first crawl has read the whole list.
pub const COMPLETE_KEY: &str = "calls_complete";

/// The storage key of one known call.
pub fn known_key(call_sid: &str) -> String {
    format!("call:{call_sid}")
}

/// The storage key of a call learnt from a page of the list that the
/// agents' players read (`/api/calls`, through the business's list object):
/// listed, so its plays need no read of the list of their own, but kept
/// apart from the crawl's known calls. A refresh stops at the first page
/// holding a *known* call because everything older was crawled; a call
/// learnt from any page (a search, a page far down) says nothing of that.
pub fn learnt_key(call_sid: &str) -> String {
    format!("learnt:{call_sid}")
}

/// What the business's list says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    Listed,
    /// Not in a list read after the play asked.
    Unlisted,
    /// The list could not be read: decide as if the check did not exist.
    Unavailable,
}

/// The refreshes of one business's list, as far as timing goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshClock {
    /// When the latest refresh started reading the list.
    pub last_start_ms: Option<u64>,
    /// A refresh scheduled but not started yet, and when it starts.
    pub pending_start_ms: Option<u64>,
}

/// What a play that missed the known calls waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMiss {
    /// Join the refresh that is scheduled and has not started.
    Join,
    /// Schedule a new refresh, starting at `start_ms`, and wait for it.
    Schedule { start_ms: u64 },
}

impl RefreshClock {
    /// A play asked at `now_ms` about a call not known yet.
    pub fn on_miss(&mut self, now_ms: u64, interval_ms: u64) -> OnMiss {
        if self.pending_start_ms.is_some() {
            return OnMiss::Join;
        }
        let start_ms = self
            .last_start_ms
            .map_or(now_ms, |last| (last + interval_ms).max(now_ms));
        self.pending_start_ms = Some(start_ms);
        OnMiss::Schedule { start_ms }
    }

    /// The scheduled refresh starts reading the list now.
    pub fn started(&mut self, now_ms: u64) {
        self.pending_start_ms = None;
        self.last_start_ms = Some(now_ms);
    }
}

/// Whether a number search waits (a bounded while) for a read of the list
/// that starts now, so that calls made since are found: only when the list
/// was never read, or its last read started `interval_ms` or more ago.
/// Otherwise it answers at once from the calls indexed, which miss at most
/// the calls of the last `interval_ms` and a read (those an agent's page
/// showed are indexed too).
pub fn search_waits_for_read(clock: &RefreshClock, now_ms: u64, interval_ms: u64) -> bool {
    clock
        .last_start_ms
        .is_none_or(|last| now_ms.saturating_sub(last) >= interval_ms)
}

/// Whether a read of the list settles a call it did not bring: it read the
/// list (`read_started_ms`, when it started) and started at or after the
/// play asked (`asked_ms`). A read that failed, or one under way before the
/// play asked, settles nothing.
pub fn settles(read_started_ms: Option<u64>, asked_ms: u64) -> bool {
    read_started_ms.is_some_and(|started| started >= asked_ms)
}

/// Whether a crawl reads the page after this one.
pub fn crawl_goes_on(
    complete: bool,
    page_had_known: bool,
    has_next: bool,
    pages_read: u32,
) -> bool {
    has_next && pages_read < MAX_LIST_PAGES && !(complete && page_had_known)
}

/// Whether a crawl that stopped has read the whole list (a first crawl
/// that ran out of pages has not).
pub fn crawl_complete(has_next: bool, stopped_on_known: bool) -> bool {
    !has_next || stopped_on_known
}

/// The `rel="next"` target of a `Link` header (RFC 8288), resolved against
/// the origin's base URL (`scheme://host[:port]…`, no trailing slash). A
/// link to another host is refused (`None`): the origin's token never goes
/// anywhere else.
pub fn next_link(header: &str, origin_base_url: &str) -> Option<String> {
    let target = header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        is_next.then_some(target)
    })?;
    let authority = origin_of(origin_base_url)?;
    if target.starts_with('/') && !target.starts_with("//") {
        return Some(format!("{authority}{target}"));
    }
    let rest = target.strip_prefix(authority)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| target.to_owned())
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_waits_for_a_read_only_when_the_list_is_not_fresh() {
        let mut clock = RefreshClock::default();
        assert!(search_waits_for_read(&clock, 1_000, 2_000), "never read");
        clock.started(1_000);
        assert!(!search_waits_for_read(&clock, 2_999, 2_000));
        assert!(search_waits_for_read(&clock, 3_000, 2_000));
    }

    #[test]
    fn a_learnt_call_is_kept_apart_from_the_crawls_known_calls() {
        assert_ne!(learnt_key("CA1"), known_key("CA1"));
        assert!(learnt_key("CA1").ends_with("CA1"));
    }

    const BASE: &str = "http://127.0.0.1:8790";

    #[test]
    fn a_miss_joins_a_refresh_not_started_yet_or_schedules_one_an_interval_after_the_last() {
        let mut clock = RefreshClock::default();
        assert_eq!(
            clock.on_miss(1_000, 2_000),
            OnMiss::Schedule { start_ms: 1_000 }
        );
        assert_eq!(clock.on_miss(1_001, 2_000), OnMiss::Join);
        clock.started(1_002);
        // Under way: a miss now must not trust it, and waits an interval.
        assert_eq!(
            clock.on_miss(1_003, 2_000),
            OnMiss::Schedule { start_ms: 3_002 }
        );
        assert_eq!(clock.on_miss(2_500, 2_000), OnMiss::Join);
        clock.started(3_002);
        assert_eq!(
            clock.on_miss(9_000, 2_000),
            OnMiss::Schedule { start_ms: 9_000 }
        );
    }

    #[test]
    fn only_a_read_that_started_after_the_play_asked_settles_it() {
        assert!(settles(Some(1_000), 1_000));
        assert!(settles(Some(1_001), 1_000));
        assert!(
            !settles(Some(999), 1_000),
            "under way before the play asked"
        );
        assert!(!settles(None, 0), "the read failed");
    }

    #[test]
    fn a_first_crawl_reads_every_page_and_a_refresh_stops_at_a_known_call() {
        assert!(crawl_goes_on(false, true, true, 1));
        assert!(!crawl_goes_on(true, true, true, 1));
        assert!(crawl_goes_on(true, false, true, 1));
        assert!(!crawl_goes_on(false, false, false, 1));
        assert!(!crawl_goes_on(false, false, true, MAX_LIST_PAGES));
        assert!(crawl_complete(false, false));
        assert!(crawl_complete(true, true));
        assert!(!crawl_complete(true, false));
    }

    #[test]
    fn the_next_link_is_followed_on_the_origin_host_only() {
        let next = |h: &str| next_link(h, BASE);
        assert_eq!(
            next(r#"<http://127.0.0.1:8790/v1/businesses/acme/calls?cursor=abc>; rel="next""#),
            Some("http://127.0.0.1:8790/v1/businesses/acme/calls?cursor=abc".into())
        );
        assert_eq!(
            next(
                r#"</v1/businesses/acme/calls?cursor=x>; rel="prev", </v1/businesses/acme/calls?cursor=y>; rel=next"#
            ),
            Some("http://127.0.0.1:8790/v1/businesses/acme/calls?cursor=y".into())
        );
        assert_eq!(
            next(r#"</a>; title="x"; REL="last next""#),
            Some(format!("{BASE}/a"))
        );
        assert_eq!(next(r#"<http://evil.example/x>; rel="next""#), None);
        assert_eq!(next(r#"<http://127.0.0.1:87901/x>; rel="next""#), None);
        assert_eq!(next(r#"<//evil.example/x>; rel="next""#), None);
        assert_eq!(next(r#"</x>; rel="prev""#), None);
        assert_eq!(next("garbage"), None);
        assert_eq!(next(""), None);
        assert_eq!(
            next_link(r#"</v1/x>; rel="next""#, "https://origin.example/base"),
            Some("https://origin.example/v1/x".into())
        );
    }
}
