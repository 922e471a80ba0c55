//! The player's call list: what it asks the edge for and when,
//! as a small state machine the client feeds with events and whose effects
//! it applies, and the filter that lives in the page's URL.
//!
//! - The filter (a number's digits, a `since`/`until` range) is read from
//!   the page's URL and written back to it, so a reload or a shared link
//!   shows the same list; reading it never asks for a recording.
//! - A new filter cancels the request in flight and asks for its first
//!   page; typing waits `SEARCH_DEBOUNCE_MS` after the last keystroke.
//! - More rows come from the `Link` the edge sent: each next page is asked
//!   for once (a `LoadMore` while a page is on its way, or after the last,
//!   does nothing), and an answer for an older filter is dropped.

use crate::list_query::{
    format_rfc3339, is_valid_cursor, parse_rfc3339, percent_decode, MAX_Q_DIGITS,
};

/// Calls per page the player asks for.
pub const PAGE_LIMIT: u32 = 100;
/// Quiet time after the last keystroke before a search is sent.
pub const SEARCH_DEBOUNCE_MS: u64 = 300;

/// The list's filter, as the page's URL carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Digits of a phone number (empty: any).
    pub q: String,
    /// Seconds since the epoch, `until` exclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Why a filter cannot be asked for (shown beside the inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterProblem {
    /// The search holds something other than a phone number's characters,
    /// or more digits than a number has.
    NotANumber,
    /// The range ends before it starts.
    EmptyRange,
}

impl FilterProblem {
    pub fn message(self) -> &'static str {
        match self {
            FilterProblem::NotANumber => "Search by the digits of a phone number",
            FilterProblem::EmptyRange => "The From date is after the To date",
        }
    }
}

impl ListFilter {
    /// The filter with the search box's text: separators (`+ - ( ) .` and
    /// spaces) dropped, anything else a problem.
    pub fn with_typed_q(&self, typed: &str) -> Result<ListFilter, FilterProblem> {
        let separator = |c: char| matches!(c, '+' | '-' | '(' | ')' | '.' | ' ');
        if !typed.chars().all(|c| c.is_ascii_digit() || separator(c)) {
            return Err(FilterProblem::NotANumber);
        }
        let q: String = typed.chars().filter(char::is_ascii_digit).collect();
        if q.len() > MAX_Q_DIGITS {
            return Err(FilterProblem::NotANumber);
        }
        Ok(ListFilter { q, ..self.clone() })
    }

    /// Whether the edge would take this filter.
    pub fn check(&self) -> Result<(), FilterProblem> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if since >= until => Err(FilterProblem::EmptyRange),
            _ => Ok(()),
        }
    }

    /// Whether anything is filtered (an empty answer then reads "No calls
    /// match" rather than "No calls yet").
    pub fn is_filtering(&self) -> bool {
        !self.q.is_empty() || self.since.is_some() || self.until.is_some()
    }

    /// Reads the page URL's query (`?q=…&since=…&until=…`, with or without
    /// the `?`); a value that is not valid is ignored, never guessed at.
    pub fn from_search(search: &str) -> ListFilter {
        let mut filter = ListFilter::default();
        for pair in search.trim_start_matches('?').split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match name {
                "q" => {
                    if let Ok(f) = filter.with_typed_q(&value) {
                        filter.q = f.q;
                    }
                }
                "since" => filter.since = parse_rfc3339(&value),
                "until" => filter.until = parse_rfc3339(&value),
                _ => {}
            }
        }
        if filter.check().is_err() {
            filter.since = None;
            filter.until = None;
        }
        filter
    }

    /// The page URL's query for this filter (`""` when nothing is filtered).
    pub fn to_search(&self) -> String {
        let parts = self.parameters();
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// The edge's path for the filter's first page.
    pub fn first_page(&self) -> String {
        let mut parts = vec![format!("limit={PAGE_LIMIT}")];
        parts.extend(self.parameters());
        format!("/api/calls?{}", parts.join("&"))
    }

    fn parameters(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", self.q));
        }
        for (name, time) in [("since", self.since), ("until", self.until)] {
            if let Some(t) = time {
                parts.push(format!("{name}={}", format_rfc3339(t)));
            }
        }
        parts
    }
}

/// The `Link: <…>; rel="next"` target of a list answer, if it points at
/// the edge's own list endpoint (anything else is not followed).
pub fn next_page(link: Option<&str>) -> Option<String> {
    let target = link?
        .split(',')
        .find(|l| l.contains("rel=\"next\"") || l.contains("rel=next"))?
        .trim()
        .strip_prefix('<')?
        .split_once('>')?
        .0;
    let query = target.strip_prefix("/api/calls?")?;
    let cursor_ok = query
        .split('&')
        .filter_map(|p| p.strip_prefix("cursor="))
        .all(is_valid_cursor);
    cursor_ok.then(|| target.to_owned())
}

/// Where the list is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPhase {
    /// The first page of the current filter is on its way.
    Loading,
    /// Rows are shown; `more` while a next page exists.
    Shown { more: bool },
    /// The next page is on its way.
    LoadingMore,
    /// The last request failed; `more` says whether rows are shown and a
    /// retry asks for the next page (else it asks for the first again).
    Failed { message: String, more: bool },
    /// No valid session.
    SignedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEvent {
    /// A new filter (already debounced): start over.
    Filter(ListFilter),
    /// The agent asked for more rows (the button, or scrolling to it).
    LoadMore,
    /// A page arrived for request `request`: `rows` calls, `next` the link,
    /// `note` what the search could not cover yet (the edge's `X-Search-Note`).
    Page {
        request: u64,
        rows: usize,
        next: Option<String>,
        note: Option<String>,
    },
    /// Request `request` failed.
    Failed { request: u64, message: String },
    /// Request `request` was answered 401.
    SignedOut { request: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEffect {
    /// Abort the request in flight, if any.
    Cancel,
    /// Drop the rows shown and write the filter to the page's URL.
    Reset(ListFilter),
    /// Ask for `path`; its answer comes back as `request`.
    Fetch { path: String, request: u64 },
    /// Append the page's rows (they are the client's, not the model's).
    Append,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListModel {
    pub filter: ListFilter,
    pub phase: ListPhase,
    /// Rows shown.
    pub rows: usize,
    next: Option<String>,
    /// What the search could not cover yet, as the last page said.
    note: Option<String>,
    /// The request whose answer is awaited (older answers are dropped).
    request: u64,
}

impl ListModel {
    /// The model for the page's filter, and what to do first.
    pub fn start(filter: ListFilter) -> (ListModel, Vec<ListEffect>) {
        let model = ListModel {
            filter: filter.clone(),
            phase: ListPhase::Loading,
            rows: 0,
            next: None,
            note: None,
            request: 0,
        };
        model.step(ListEvent::Filter(filter))
    }

    pub fn step(&self, event: ListEvent) -> (ListModel, Vec<ListEffect>) {
        let mut m = self.clone();
        let effects = match event {
            ListEvent::Filter(filter) => {
                m.filter = filter.clone();
                m.rows = 0;
                m.next = None;
                m.note = None;
                m.request += 1;
                m.phase = ListPhase::Loading;
                vec![
                    ListEffect::Cancel,
                    ListEffect::Reset(filter),
                    ListEffect::Fetch {
                        path: m.filter.first_page(),
                        request: m.request,
                    },
                ]
            }
            ListEvent::LoadMore => match (&m.phase, m.next.clone()) {
                (ListPhase::Shown { more: true }, Some(path))
                | (ListPhase::Failed { more: true, .. }, Some(path)) => {
                    m.request += 1;
                    m.phase = ListPhase::LoadingMore;
                    vec![ListEffect::Fetch {
                        path,
                        request: m.request,
                    }]
                }
                (ListPhase::Failed { more: false, .. }, _) => {
                    return m.step(ListEvent::Filter(m.filter.clone()));
                }
                _ => vec![],
            },
            ListEvent::Page {
                request,
                rows,
                next,
                note,
            } if request == m.request
                && matches!(m.phase, ListPhase::Loading | ListPhase::LoadingMore) =>
            {
                m.rows += rows;
                m.note = note;
                m.phase = ListPhase::Shown {
                    more: next.is_some(),
                };
                m.next = next;
                vec![ListEffect::Append]
            }
            ListEvent::Failed { request, message } if request == m.request => {
                m.phase = ListPhase::Failed {
                    message,
                    more: m.next.is_some(),
                };
                vec![]
            }
            ListEvent::SignedOut { request } if request == m.request => {
                m.phase = ListPhase::SignedOut;
                vec![]
            }
            // An answer for a request no longer awaited.
            ListEvent::Page { .. } | ListEvent::Failed { .. } | ListEvent::SignedOut { .. } => {
                vec![]
            }
        };
        (m, effects)
    }

    /// What the list says under its rows, and what its search could not
    /// cover yet.
    pub fn summary(&self) -> String {
        let said = self.said();
        match (&self.note, &self.phase) {
            (Some(note), ListPhase::Shown { .. }) => format!("{said} ({note})"),
            _ => said,
        }
    }

    fn said(&self) -> String {
        match (&self.phase, self.rows) {
            (ListPhase::Loading, _) => "Loading calls…".into(),
            (ListPhase::Shown { .. }, 0) if self.filter.is_filtering() => "No calls match".into(),
            (ListPhase::Shown { .. }, 0) => "No calls yet.".into(),
            (ListPhase::Shown { more: true }, n) => format!("{n} calls shown, more below"),
            (ListPhase::Shown { more: false }, 1) => "1 call".into(),
            (ListPhase::Shown { more: false }, n) => format!("All {n} calls shown"),
            (ListPhase::LoadingMore, n) => format!("{n} calls shown, loading more…"),
            (ListPhase::Failed { message, .. }, _) => format!("Could not load calls: {message}"),
            (ListPhase::SignedOut, _) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetches(effects: &[ListEffect]) -> Vec<(String, u64)> {
        effects
            .iter()
            .filter_map(|e| match e {
                ListEffect::Fetch { path, request } => Some((path.clone(), *request)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_filter_round_trips_through_the_page_url_and_ignores_what_is_not_valid() {
        let f = ListFilter::default()
            .with_typed_q("+1 (212) 555-0101")
            .unwrap();
        let f = ListFilter {
            since: Some(1_795_132_800),
            until: Some(1_795_219_200),
            ..f
        };
        let search = f.to_search();
        assert_eq!(
            search,
            "?q=12125550101&since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z"
        );
        assert_eq!(ListFilter::from_search(&search), f);
        assert_eq!(
            ListFilter::from_search("q=%2B1%20212&since=2026-11-20T00%3A00%3A00Z"),
            ListFilter {
                q: "1212".into(),
                since: Some(1_795_132_800),
                until: None
            }
        );
        assert_eq!(
            ListFilter::from_search("?q=abc&since=never&other=1&%zz"),
            ListFilter::default()
        );
        // A range that ends before it starts is dropped whole.
        assert_eq!(
            ListFilter::from_search("since=2026-11-21T00:00:00Z&until=2026-11-20T00:00:00Z"),
            ListFilter::default()
        );
        assert_eq!(ListFilter::default().to_search(), "");
        assert_eq!(percent_decode("%e2%82%ac%2+é%"), "€%2 é%");
        assert_eq!(ListFilter::default().first_page(), "/api/calls?limit=100");
        assert_eq!(
            f.first_page(),
            "/api/calls?limit=100&q=12125550101&since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z"
        );
    }

    #[test]
    fn a_search_is_digits_and_a_range_must_not_be_empty() {
        let f = ListFilter::default();
        assert_eq!(f.with_typed_q("abc"), Err(FilterProblem::NotANumber));
        assert_eq!(
            f.with_typed_q("1234567890123456"),
            Err(FilterProblem::NotANumber)
        );
        assert_eq!(f.with_typed_q("").unwrap().q, "");
        let empty = ListFilter {
            since: Some(10),
            until: Some(10),
            ..f
        };
        assert_eq!(empty.check(), Err(FilterProblem::EmptyRange));
    }

    #[test]
    fn the_edges_next_link_is_followed_and_nothing_else() {
        assert_eq!(
            next_page(Some("</api/calls?limit=100&cursor=o100>; rel=\"next\"")).as_deref(),
            Some("/api/calls?limit=100&cursor=o100")
        );
        assert_eq!(next_page(None), None);
        assert_eq!(
            next_page(Some("<https://evil.example/api/calls?x>; rel=\"next\"")),
            None
        );
        assert_eq!(
            next_page(Some("</api/calls?cursor=a/b>; rel=\"next\"")),
            None
        );
        assert_eq!(next_page(Some("</api/calls?limit=1>; rel=\"prev\"")), None);
    }

    #[test]
    fn each_page_is_asked_for_once_and_a_new_filter_starts_over() {
        let (m, effects) = ListModel::start(ListFilter::default());
        assert_eq!(fetches(&effects), [("/api/calls?limit=100".into(), 1)]);
        assert_eq!(effects[0], ListEffect::Cancel);
        // More before the first page: nothing.
        let (m, effects) = m.step(ListEvent::LoadMore);
        assert!(effects.is_empty());
        let next = "/api/calls?limit=100&cursor=o100".to_owned();
        let (m, effects) = m.step(ListEvent::Page {
            request: 1,
            rows: 100,
            next: Some(next.clone()),
            note: None,
        });
        assert_eq!(effects, [ListEffect::Append]);
        assert_eq!(m.summary(), "100 calls shown, more below");
        let (m, effects) = m.step(ListEvent::LoadMore);
        assert_eq!(fetches(&effects), [(next.clone(), 2)]);
        // Scrolling on while it loads asks for nothing more.
        let (m, effects) = m.step(ListEvent::LoadMore);
        assert!(effects.is_empty());
        // A late answer to the first request is dropped.
        let (m, effects) = m.step(ListEvent::Page {
            request: 1,
            rows: 100,
            next: None,
            note: None,
        });
        assert!(effects.is_empty());
        let (m, _) = m.step(ListEvent::Page {
            request: 2,
            rows: 40,
            next: None,
            note: None,
        });
        assert_eq!(m.summary(), "All 140 calls shown");
        let (m, effects) = m.step(ListEvent::LoadMore);
        assert!(effects.is_empty(), "no page after the last");
        // A search cancels, resets and asks for its first page.
        let filter = ListFilter::default().with_typed_q("0101").unwrap();
        let (m, effects) = m.step(ListEvent::Filter(filter.clone()));
        assert_eq!(effects[0], ListEffect::Cancel);
        assert_eq!(effects[1], ListEffect::Reset(filter));
        assert_eq!(
            fetches(&effects),
            [("/api/calls?limit=100&q=0101".into(), 3)]
        );
        let (m, _) = m.step(ListEvent::Page {
            request: 3,
            rows: 0,
            next: None,
            note: None,
        });
        assert_eq!(m.summary(), "No calls match");
    }

    #[test]
    fn a_failure_keeps_the_rows_and_a_retry_asks_for_the_same_page() {
        let (m, _) = ListModel::start(ListFilter::default());
        let (m, _) = m.step(ListEvent::Failed {
            request: 1,
            message: "the server answered 502".into(),
        });
        assert_eq!(m.summary(), "Could not load calls: the server answered 502");
        let (m, effects) = m.step(ListEvent::LoadMore);
        assert_eq!(fetches(&effects), [("/api/calls?limit=100".into(), 2)]);
        let next = "/api/calls?limit=100&cursor=o100".to_owned();
        let (m, _) = m.step(ListEvent::Page {
            request: 2,
            rows: 100,
            next: Some(next.clone()),
            note: None,
        });
        let (m, _) = m.step(ListEvent::LoadMore);
        let (m, _) = m.step(ListEvent::Failed {
            request: 3,
            message: "offline".into(),
        });
        assert_eq!(m.rows, 100);
        let (_, effects) = m.step(ListEvent::LoadMore);
        assert_eq!(fetches(&effects), [(next, 4)]);
        let (m, _) = ListModel::start(ListFilter::default());
        let (m, _) = m.step(ListEvent::SignedOut { request: 1 });
        assert_eq!(m.phase, ListPhase::SignedOut);
    }

    #[test]
    fn a_search_that_has_not_covered_every_call_says_so_until_the_filter_changes() {
        let (m, _) = ListModel::start(ListFilter::default());
        let (m, _) = m.step(ListEvent::Page {
            request: 1,
            rows: 3,
            next: None,
            note: Some("searched the newest 2000 calls so far".into()),
        });
        assert_eq!(
            m.summary(),
            "All 3 calls shown (searched the newest 2000 calls so far)"
        );
        let (m, _) = m.step(ListEvent::Filter(ListFilter::default()));
        assert_eq!(m.summary(), "Loading calls…");
    }
}
