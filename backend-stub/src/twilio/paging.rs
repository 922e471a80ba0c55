//! Twilio's list queries and page envelopes: `PageSize`, `Page`,
//! `PageToken`, the call list's filters, and the URIs of a page and of
//! the pages around it.
//!
//! A page token is `PT`, the offset of the page's first item (12 hex
//! digits) and a check (8 hex digits) over the list's path and that
//! offset: only tokens this stub issued, for this list, are accepted.

use playback_core::list_query::{
    civil_from_days, days_from_civil, format_rfc3339, parse_rfc3339, percent_encode,
};
use playback_core::wire::CallSummary;
use serde::Serialize;

use crate::mix::{fnv1a, splitmix};

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1_000;

/// A query parameter whose value Twilio would refuse (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadParameter(pub &'static str);

/// Which page of a list a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub size: usize,
    pub page: u64,
    /// Where the page starts in the whole list.
    pub offset: usize,
    /// The `PageToken` asked with, if any.
    pub token: Option<String>,
}

impl Paging {
    /// The paging of `pairs` (decoded names and values) on the list at
    /// `list_path`; other parameters are ignored, as Twilio does.
    pub fn parse(pairs: &[(String, String)], list_path: &str) -> Result<Paging, BadParameter> {
        let mut size = DEFAULT_PAGE_SIZE;
        let mut page = None;
        let mut token = None;
        for (name, value) in pairs {
            match name.as_str() {
                "PageSize" => {
                    size = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                        .ok_or(BadParameter("PageSize"))?
                }
                "Page" => page = Some(value.parse::<u64>().map_err(|_| BadParameter("Page"))?),
                "PageToken" => token = Some(value.clone()),
                _ => {}
            }
        }
        let offset = match &token {
            Some(token) => offset_of_token(list_path, token).ok_or(BadParameter("PageToken"))?,
            None => {
                usize::try_from(page.unwrap_or(0).saturating_mul(size as u64)).unwrap_or(usize::MAX)
            }
        };
        Ok(Paging {
            size,
            page: page.unwrap_or((offset / size) as u64),
            offset,
            token,
        })
    }
}

/// The token of the page of `list_path` that starts at `offset`.
pub fn page_token(list_path: &str, offset: usize) -> String {
    format!("PT{offset:012x}{:08x}", token_check(list_path, offset))
}

fn token_check(list_path: &str, offset: usize) -> u32 {
    splitmix(fnv1a(list_path.as_bytes()) ^ offset as u64) as u32
}

fn offset_of_token(list_path: &str, token: &str) -> Option<usize> {
    let hex = token.strip_prefix("PT").filter(|h| h.len() == 20)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let offset = usize::from_str_radix(&hex[..12], 16).ok()?;
    let check = u32::from_str_radix(&hex[12..], 16).ok()?;
    (check == token_check(list_path, offset)).then_some(offset)
}

/// The call list's filters. Times compare as text: the catalog writes
/// every start in one form (`YYYY-MM-DDTHH:MM:SSZ`), whose order is time's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Calls that started at or after this.
    pub since: Option<String>,
    /// Calls that started before this.
    pub before: Option<String>,
    /// The filters as they go into another page's URI (`&From=%2B1…`).
    query: String,
}

impl CallFilter {
    /// `From` and `To` (whole numbers), `StartTime`, `StartTime>` and
    /// `StartTime<` (a date, `YYYY-MM-DD`, or a time, `…THH:MM:SSZ`) of
    /// `pairs`, as the spec words them: `StartTime>=D` "on or after" D
    /// (from D 00:00 UTC on), `StartTime<=D` "before" D (before D 00:00),
    /// `StartTime=D` that day; with a time, at or after, before, at that
    /// second.
    pub fn parse(pairs: &[(String, String)]) -> Result<CallFilter, BadParameter> {
        let mut filter = CallFilter::default();
        let mut wire = Vec::new();
        for (name, value) in pairs {
            let (wire_name, bounds) = match name.as_str() {
                "From" => {
                    filter.from = Some(value.clone());
                    ("From", None)
                }
                "To" => {
                    filter.to = Some(value.clone());
                    ("To", None)
                }
                "StartTime" => ("StartTime", Some(Bound::Within)),
                "StartTime>" => ("StartTime%3E", Some(Bound::OnOrAfter)),
                "StartTime<" => ("StartTime%3C", Some(Bound::Before)),
                _ => continue,
            };
            if let Some(bound) = bounds {
                let (start, end) = time_span(value).ok_or(BadParameter("StartTime"))?;
                if matches!(bound, Bound::Within | Bound::OnOrAfter) {
                    filter.since = max_of(filter.since.take(), format_rfc3339(start));
                }
                let before = match bound {
                    Bound::Within => Some(end),
                    Bound::Before => Some(start),
                    Bound::OnOrAfter => None,
                };
                if let Some(before) = before {
                    filter.before = min_of(filter.before.take(), format_rfc3339(before));
                }
            }
            wire.push(format!("{wire_name}={}", percent_encode(value)));
        }
        filter.query = wire.iter().map(|pair| format!("&{pair}")).collect();
        Ok(filter)
    }

    /// What goes after `PageSize`, `Page` and `PageToken` in another
    /// page's URI: `&From=%2B1…` and the others given, or nothing.
    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn matches(&self, call: &CallSummary) -> bool {
        self.from.as_ref().is_none_or(|from| *from == call.from)
            && self.to.as_ref().is_none_or(|to| *to == call.to)
            && self
                .since
                .as_ref()
                .is_none_or(|since| call.started_at >= *since)
            && self
                .before
                .as_ref()
                .is_none_or(|before| call.started_at < *before)
    }
}

fn max_of(current: Option<String>, new: String) -> Option<String> {
    Some(match current {
        Some(current) => current.max(new),
        None => new,
    })
}

fn min_of(current: Option<String>, new: String) -> Option<String> {
    Some(match current {
        Some(current) => current.min(new),
        None => new,
    })
}

/// The seconds a date (its whole day) or a time (that second) spans:
/// from its start, inclusive, to its end, exclusive.
/// What a `StartTime` parameter bounds.
#[derive(Clone, Copy)]
enum Bound {
    /// `StartTime`: that day (or second).
    Within,
    /// `StartTime>`: on or after.
    OnOrAfter,
    /// `StartTime<`: before.
    Before,
}

fn time_span(value: &str) -> Option<(i64, i64)> {
    if value.len() == 10 {
        let day = parse_date(value)?;
        return Some((day * 86_400, (day + 1) * 86_400));
    }
    let at = parse_rfc3339(value)?;
    Some((at, at + 1))
}

/// `YYYY-MM-DD` as days since the epoch.
fn parse_date(value: &str) -> Option<i64> {
    let mut parts = value.split('-');
    let mut number = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))?
            .parse::<i64>()
            .ok()
    };
    let (y, m, d) = (number(4)?, number(2)?, number(2)?);
    let days = days_from_civil(y, m, d);
    // A day past its month's end comes back as another date.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// The paging fields of a page of `list_path`, which holds `shown` items
/// from `paging.offset` and has more after them when `more`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub end: usize,
    pub first_page_uri: String,
    pub next_page_uri: Option<String>,
    pub page: u64,
    pub page_size: usize,
    pub previous_page_uri: Option<String>,
    pub start: usize,
    pub uri: String,
}

impl Envelope {
    /// `filters` is what goes after `PageSize`, `Page` and `PageToken` in
    /// each URI (`&From=…`, or nothing).
    pub fn new(
        list_path: &str,
        paging: &Paging,
        filters: &str,
        shown: usize,
        more: bool,
    ) -> Envelope {
        let size = paging.size;
        let uri = |page: u64, token: Option<&str>| {
            let token = token.map(|t| format!("&PageToken={t}")).unwrap_or_default();
            format!("{list_path}?PageSize={size}&Page={page}{token}{filters}")
        };
        let next = more.then(|| {
            let token = page_token(list_path, paging.offset + shown);
            uri(paging.page.saturating_add(1), Some(&token))
        });
        let previous = (paging.offset > 0).then(|| {
            let token = page_token(list_path, paging.offset.saturating_sub(size));
            uri(paging.page.saturating_sub(1), Some(&token))
        });
        Envelope {
            end: paging.offset + shown.saturating_sub(1),
            first_page_uri: uri(0, None),
            next_page_uri: next,
            page: paging.page,
            page_size: size,
            previous_page_uri: previous,
            start: paging.offset,
            uri: uri(paging.page, paging.token.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const LIST: &str = "/2010-04-01/Accounts/ACx/Calls.json";

    #[test]
    fn page_size_and_page_are_checked_and_only_issued_tokens_pass() {
        let p = Paging::parse(&pairs(&[("Foo", "1")]), LIST).unwrap();
        assert_eq!((p.size, p.page, p.offset), (DEFAULT_PAGE_SIZE, 0, 0));
        for bad in ["0", "1001", "x", "-1"] {
            assert_eq!(
                Paging::parse(&pairs(&[("PageSize", bad)]), LIST),
                Err(BadParameter("PageSize"))
            );
        }
        assert_eq!(
            Paging::parse(&pairs(&[("Page", "x")]), LIST),
            Err(BadParameter("Page"))
        );
        let p = Paging::parse(&pairs(&[("PageSize", "7"), ("Page", "3")]), LIST).unwrap();
        assert_eq!(p.offset, 21);
        let token = page_token(LIST, 700);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        let p = Paging::parse(&pairs(&[("PageToken", &token), ("PageSize", "7")]), LIST).unwrap();
        assert_eq!((p.offset, p.page), (700, 100));
        let other = page_token("/2010-04-01/Accounts/ACy/Calls.json", 700);
        let forged = format!("PT{:012x}{}", 701, &token[14..]);
        for bad in [other.as_str(), forged.as_str(), "PA123", "", "PT"] {
            assert_eq!(
                Paging::parse(&pairs(&[("PageToken", bad)]), LIST),
                Err(BadParameter("PageToken")),
                "{bad}"
            );
        }
    }

    #[test]
    fn start_time_bounds_are_whole_days_or_seconds() {
        let f = CallFilter::parse(&pairs(&[
            ("StartTime>", "2026-11-02"),
            ("StartTime<", "2026-11-03"),
        ]))
        .unwrap();
        assert_eq!(f.since.as_deref(), Some("2026-11-02T00:00:00Z"));
        // "Before this date": the 2nd only.
        assert_eq!(f.before.as_deref(), Some("2026-11-03T00:00:00Z"));
        assert_eq!(
            f.query(),
            "&StartTime%3E=2026-11-02&StartTime%3C=2026-11-03"
        );
        let f = CallFilter::parse(&pairs(&[("StartTime", "2026-02-28")])).unwrap();
        assert_eq!(f.before.as_deref(), Some("2026-03-01T00:00:00Z"));
        let f = CallFilter::parse(&pairs(&[("StartTime<", "2026-11-02T08:00:00Z")])).unwrap();
        assert_eq!(f.before.as_deref(), Some("2026-11-02T08:00:00Z"));
        for bad in [
            "2026-02-30",
            "2026-1-02",
            "yesterday",
            "2026-11-02T25:00:00Z",
        ] {
            assert_eq!(
                CallFilter::parse(&pairs(&[("StartTime>", bad)])),
                Err(BadParameter("StartTime")),
                "{bad}"
            );
        }
        let f = CallFilter::parse(&pairs(&[("From", "+15551234567"), ("Status", "busy")])).unwrap();
        assert_eq!(f.query(), "&From=%2B15551234567");
    }

    #[test]
    fn the_envelope_links_pages_with_their_filters() {
        let p = Paging::parse(&pairs(&[("PageSize", "2")]), LIST).unwrap();
        let e = Envelope::new(LIST, &p, "&To=%2B1", 2, true);
        assert_eq!(e.uri, format!("{LIST}?PageSize=2&Page=0&To=%2B1"));
        assert_eq!(e.first_page_uri, e.uri);
        assert_eq!(e.previous_page_uri, None);
        let next = e.next_page_uri.unwrap();
        assert_eq!(
            next,
            format!(
                "{LIST}?PageSize=2&Page=1&PageToken={}&To=%2B1",
                page_token(LIST, 2)
            )
        );
        assert_eq!((e.start, e.end), (0, 1));
        let p = Paging::parse(
            &pairs(&[
                ("PageSize", "2"),
                ("Page", "1"),
                ("PageToken", &page_token(LIST, 2)),
            ]),
            LIST,
        )
        .unwrap();
        let e = Envelope::new(LIST, &p, "", 1, false);
        assert_eq!(e.next_page_uri, None);
        assert_eq!(
            e.previous_page_uri,
            Some(format!(
                "{LIST}?PageSize=2&Page=0&PageToken={}",
                page_token(LIST, 0)
            ))
        );
        assert_eq!((e.start, e.end, e.page), (2, 2, 1));
    }
}
