//! Twilio's REST API (2010-04-01) as an origin: its SIDs, its URLs, the
//! parts of its bodies the edge reads, and what each answer means (its
//! configuration is `config::TwilioConfig`).
//!
//! Read from Twilio's published OpenAPI description (`twilio/twilio-oai`,
//! `spec/json/twilio_api_v2010.json`):
//! - a page envelope (`ListCallResponse`, `ListCallRecordingResponse`) has
//!   `next_page_uri` (a string or null: the next page's path and query on
//!   the API host, with `Page` and `PageToken`), besides `page`,
//!   `page_size`, `uri`, `start`, `end`, and the list under the resource's
//!   plural (`calls`, `recordings`);
//! - a Call (`api.v2010.account.call`) has `sid`, `parent_call_sid`,
//!   `from`, `to`, `start_time` and `date_created` (RFC 2822 strings, which
//!   the spec names `date-time-rfc-2822`), `duration` (a string of
//!   seconds), every one nullable;
//! - a call's Recording (`api.v2010.account.call.call_recording`) has `sid`,
//!   `status` (`in-progress`, `paused`, `stopped`, `processing`,
//!   `completed`, `absent`; the account's Recordings add `deleted`),
//!   `channels` (an integer), `duration` (a string), `date_created`;
//! - an error has `code`, `message`, `more_info`, `status` (20429: too many
//!   concurrent requests for the account).
//!
//! The calls' list takes `PageSize` (at most 1000), `From` and `To` (whole
//! numbers only), and `StartTime>` / `StartTime<`, whose comparison is part
//! of the parameter's name (`StartTime%3E=2026-11-01` on the wire), a date
//! in UTC. Unknown parameters are ignored by Twilio, so a filter the edge
//! needs exactly is applied by the edge again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::download::{Failure, Resolved};
use crate::ids::CallSid;
use crate::list_query::{
    civil_from_days, days_from_civil, format_rfc3339, is_valid_cursor, percent_encode, ListQuery,
};
use crate::wire::CallSummary;

/// Twilio's API host unless `TWILIO_API_BASE` says otherwise.
pub const DEFAULT_TWILIO_API_BASE: &str = "https://api.twilio.com";
/// The most calls one page of Twilio's list holds.
pub const MAX_TWILIO_PAGE_SIZE: u32 = 1_000;
/// Twilio's error code for too many concurrent requests of one account.
pub const TOO_MANY_REQUESTS_CODE: u32 = 20_429;

const API_VERSION: &str = "/2010-04-01";

/// A Twilio SID: a two-letter prefix and 32 lowercase hexadecimal digits.
/// It goes into paths as it is (nothing in it needs encoding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    /// `raw` with `prefix` (`AC`, `RE`, `SK`) and 32 hex digits, in either
    /// case (folded to lowercase, as Twilio writes them).
    pub fn parse(prefix: &str, raw: &str) -> Option<Sid> {
        let hex = raw.strip_prefix(prefix)?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sid(format!("{prefix}{}", hex.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.get(..2)
            .and_then(|prefix| Sid::parse(prefix, &raw))
            .ok_or_else(|| serde::de::Error::custom("not a Twilio SID"))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A page of Twilio's call list, as the edge's cursor carries it: the
/// `Page` and `PageToken` of a `next_page_uri`, and nothing else of it
/// (never its host or account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMark {
    pub page: u32,
    pub token: Option<String>,
}

impl PageMark {
    /// The mark of a `next_page_uri`; `None` when it carries no page number
    /// or a token the edge's cursor cannot hold.
    pub fn of_uri(uri: &str) -> Option<PageMark> {
        let query = uri.split_once('?')?.1;
        let mut page = None;
        let mut token = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("Page", v)) => page = v.parse().ok(),
                Some(("PageToken", v)) => token = Some(token_of_uri(v)?),
                _ => {}
            }
        }
        Some(PageMark { page: page?, token })
    }

    /// The edge's cursor for it: `t{page}` and `.{token}` when there is one.
    pub fn cursor(&self) -> String {
        match &self.token {
            Some(token) => format!("t{}.{token}", self.page),
            None => format!("t{}", self.page),
        }
    }

    /// The mark a cursor of [`PageMark::cursor`]'s holds; `None` for any
    /// other (a 400 `bad_query` naming `cursor`).
    pub fn of_cursor(cursor: &str) -> Option<PageMark> {
        let rest = cursor.strip_prefix('t')?;
        let (page, token) = match rest.split_once('.') {
            Some((page, token)) if is_token(token) => (page, Some(token.to_owned())),
            Some(_) => return None,
            None => (rest, None),
        };
        if page.is_empty() || page.len() > 9 || !page.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(PageMark {
            page: page.parse().ok()?,
            token,
        })
    }
}

/// A `PageToken` as the edge's cursor carries it: its form in Twilio's
/// URI (unreserved characters and `%XX` escapes; a bare `~` taken as its
/// escape `%7E`, which means the same) with each `%` written `~`, one of
/// the cursor's URL-safe characters. `None` for a token the cursor cannot
/// carry (a character a URI's query would have escaped, a broken escape,
/// too long).
fn token_of_uri(v: &str) -> Option<String> {
    let carried = v.replace('~', "%7E").replace('%', "~");
    is_token(&carried).then_some(carried)
}

/// A carried token back in a URI's form.
fn token_in_uri(token: &str) -> String {
    token.replace('~', "%")
}

/// Whether each `~` of a carried token starts an escape (two hex digits).
fn token_escapes_are_whole(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'~'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Whether a token is one the cursor carries (see [`token_of_uri`]).
fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 400
        && is_valid_cursor(token)
        && token_escapes_are_whole(token)
}

/// One request of Twilio's call list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallsRequest {
    pub page_size: u32,
    /// A whole number in E.164 on one side.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Dates (`YYYY-MM-DD`, UTC) that widen the query's times to whole days:
    /// calls that started on or after `on_or_after` (`StartTime>`), before
    /// `before` (`StartTime<`, exclusive, as the spec says).
    pub on_or_after: Option<String>,
    pub before: Option<String>,
    pub mark: Option<PageMark>,
}

impl CallsRequest {
    /// The request for `query`'s page (its cursor decoded into `mark`),
    /// `page_size` calls a page.
    pub fn for_query(query: &ListQuery, page_size: u32, mark: Option<PageMark>) -> CallsRequest {
        let day = |epoch_s: i64| {
            let (y, m, d) = civil_from_days(epoch_s.div_euclid(86_400));
            format!("{y:04}-{m:02}-{d:02}")
        };
        CallsRequest {
            page_size: page_size.clamp(1, MAX_TWILIO_PAGE_SIZE),
            from: None,
            to: None,
            on_or_after: query.since.as_ref().map(|s| day(s.epoch_s)),
            // `until` is exclusive: the day after the day of its last second.
            before: query
                .until
                .as_ref()
                .map(|u| day((u.epoch_s - 1).div_euclid(86_400) * 86_400 + 86_400)),
            mark,
        }
    }

    /// The URL of this page of `account`'s calls under `api_base`.
    pub fn url(&self, api_base: &str, account: &Sid) -> String {
        let mut url = format!(
            "{api_base}{API_VERSION}/Accounts/{account}/Calls.json?PageSize={}",
            self.page_size
        );
        for (name, value) in [
            ("From", &self.from),
            ("To", &self.to),
            ("StartTime%3E", &self.on_or_after),
            ("StartTime%3C", &self.before),
        ] {
            if let Some(value) = value {
                url.push_str(&format!("&{name}={}", percent_encode(value)));
            }
        }
        if let Some(mark) = &self.mark {
            url.push_str(&format!("&Page={}", mark.page));
            if let Some(token) = &mark.token {
                url.push_str(&format!("&PageToken={}", token_in_uri(token)));
            }
        }
        url
    }
}

/// A call's recordings.
pub fn call_recordings_url(api_base: &str, account: &Sid, call: &CallSid) -> String {
    format!("{api_base}{API_VERSION}/Accounts/{account}/Calls/{call}/Recordings.json")
}

/// One recording's metadata.
pub fn recording_url(api_base: &str, account: &Sid, recording: &Sid) -> String {
    format!("{api_base}{API_VERSION}/Accounts/{account}/Recordings/{recording}.json")
}

/// A recording's media as WAV (its URI without `.json`, with `.wav`), both
/// channels of a dual-channel one.
pub fn media_url(api_base: &str, account: &Sid, recording: &Sid, channels: u8) -> String {
    let both = if channels >= 2 {
        "?RequestedChannels=2"
    } else {
        ""
    };
    format!("{api_base}{API_VERSION}/Accounts/{account}/Recordings/{recording}.wav{both}")
}

/// A page of Twilio's call list, as far as the edge reads it.
#[derive(Debug, Deserialize)]
pub struct CallsPage {
    #[serde(default)]
    pub calls: Vec<Call>,
    #[serde(default)]
    pub next_page_uri: Option<String>,
}

/// A call of Twilio's list, as far as the edge reads it.
#[derive(Debug, Deserialize)]
pub struct Call {
    pub sid: Option<String>,
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub duration: Option<String>,
}

impl Call {
    /// The call as the edge's list shows it; `None` for a child leg (it
    /// belongs to its parent's row) or a call without a readable SID or time.
    pub fn summary(&self) -> Option<CallSummary> {
        if self
            .parent_call_sid
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return None;
        }
        let call_sid = CallSid::parse(self.sid.as_deref()?).ok()?;
        let started = self
            .start_time
            .as_deref()
            .or(self.date_created.as_deref())
            .and_then(parse_rfc2822)?;
        Some(CallSummary {
            call_sid,
            started_at: format_rfc3339(started),
            duration_s: self
                .duration
                .as_deref()
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(0),
            from: self.from.clone().unwrap_or_default(),
            to: self.to.clone().unwrap_or_default(),
        })
    }
}

/// A page of a call's recordings, as far as the edge reads it.
#[derive(Debug, Deserialize)]
pub struct RecordingsPage {
    #[serde(default)]
    pub recordings: Vec<Recording>,
}

/// A recording, as far as the edge reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Recording {
    pub sid: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub channels: Option<u8>,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
}

/// A recording that can be played (its call object keeps the list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playable {
    pub sid: Sid,
    pub channels: u8,
    pub duration_s: u32,
}

/// What a call's recordings mean for a play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recordings {
    /// The completed ones, oldest first: the first plays by default.
    Play(Vec<Playable>),
    /// None completed yet, one still being made or processed: ask again later.
    Processing,
    /// None, or only absent, deleted or failed ones.
    None,
}

/// The statuses of a recording Twilio is still making or processing.
fn in_making(status: &str) -> bool {
    matches!(status, "processing" | "in-progress" | "paused" | "stopped")
}

/// What `page`'s recordings mean for a play.
pub fn resolve(page: &RecordingsPage) -> Recordings {
    let mut done: Vec<(i64, Playable)> = page
        .recordings
        .iter()
        .filter(|r| r.status.as_deref() == Some("completed"))
        .filter_map(|r| {
            let sid = Sid::parse("RE", r.sid.as_deref()?)?;
            let created = r
                .date_created
                .as_deref()
                .and_then(parse_rfc2822)
                .unwrap_or(0);
            Some((
                created,
                Playable {
                    sid,
                    channels: r.channels.unwrap_or(1).clamp(1, 2),
                    duration_s: r
                        .duration
                        .as_deref()
                        .and_then(|d| d.trim().parse().ok())
                        .unwrap_or(0),
                },
            ))
        })
        .collect();
    if !done.is_empty() {
        done.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.sid.cmp(&b.1.sid)));
        return Recordings::Play(done.into_iter().map(|(_, p)| p).collect());
    }
    if still_making(page) > 0 {
        Recordings::Processing
    } else {
        Recordings::None
    }
}

/// How many of `page`'s recordings are still being made or processed.
fn still_making(page: &RecordingsPage) -> usize {
    page.recordings
        .iter()
        .filter(|r| r.status.as_deref().is_some_and(in_making))
        .count()
}

/// What the answer to a call's `Recordings.json` means for the download of
/// its recording number `index + 1` (`CallIdentity::index`): `status`, its
/// `Retry-After` already read, and its body when it was one. The recordings
/// that play come with [`Resolved::Play`]; a call with fewer has no such
/// recording.
pub fn resolution(
    index: usize,
    status: u16,
    retry_after_ms: Option<u64>,
    page: Option<&RecordingsPage>,
) -> (Resolved, Vec<Playable>) {
    let busy = |failure| Resolved::Transient {
        failure,
        retry_after_ms,
    };
    match (api_status(status), page) {
        (ApiStatus::Ok, Some(page)) => match resolve(page) {
            Recordings::Play(playable) if playable.len() > index => (Resolved::Play, playable),
            // A later number that one still being made may become: ask
            // again later rather than say there is none.
            Recordings::Play(playable) if index < playable.len() + still_making(page) => {
                (Resolved::Processing, Vec::new())
            }
            Recordings::Play(_) => (Resolved::NoRecording, Vec::new()),
            Recordings::Processing => (Resolved::Processing, Vec::new()),
            Recordings::None => (Resolved::NoRecording, Vec::new()),
        },
        // A 200 whose body is not a page of recordings.
        (ApiStatus::Ok, None) => (busy(Failure::OriginRejected), Vec::new()),
        (ApiStatus::NotFound, _) => (Resolved::CallGone, Vec::new()),
        (ApiStatus::Refused, _) => (Resolved::Refused, Vec::new()),
        (ApiStatus::Busy, _) => (busy(Failure::OriginUnavailable), Vec::new()),
        (ApiStatus::Rejected, _) => (busy(Failure::OriginRejected), Vec::new()),
    }
}

/// What a stored recording's call object says of serving it (Twilio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StillServed {
    /// Serve it. Twilio last said it is there at `checked_ms`, when it has
    /// been asked (until `RECORDING_RECHECK_MS` after that, the edge need
    /// not ask again).
    Yes { checked_ms: Option<u64> },
    /// Deleted at Twilio, and so here.
    No,
}

/// What Twilio says of a stored recording when asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    /// Still there: keep serving it.
    Kept,
    /// Deleted (or its call gone): stop serving it.
    Gone,
    /// No answer to go by (429, 5xx, no answer): serve, ask again next time.
    Unknown,
}

/// A stored recording's `Recordings/{Sid}.json` answer: `status` and its
/// body when it was one.
pub fn recheck(status: u16, recording: Option<&Recording>) -> Recheck {
    match (
        api_status(status),
        recording.and_then(|r| r.status.as_deref()),
    ) {
        (ApiStatus::Ok, Some("deleted" | "absent")) => Recheck::Gone,
        (ApiStatus::Ok, Some(_)) => Recheck::Kept,
        (ApiStatus::NotFound, _) => Recheck::Gone,
        _ => Recheck::Unknown,
    }
}

/// Whether a stored recording is due to be asked about again: its last
/// check (or, never checked, its storing) `recheck_ms` or more ago.
pub fn recheck_due(stored_ms: u64, checked_ms: Option<u64>, now_ms: u64, recheck_ms: u64) -> bool {
    now_ms.saturating_sub(checked_ms.unwrap_or(0).max(stored_ms)) >= recheck_ms
}

/// Twilio's error body, as far as the edge reads it.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<u32>,
}

/// What an answer of Twilio's API (not the media) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiStatus {
    Ok,
    /// 404: no such call, recording or page.
    NotFound,
    /// 401 or 403: the credentials were refused (`origin_auth`).
    Refused,
    /// 429 (20429: the account's concurrency limit), or 5xx: later.
    Busy,
    /// Another 4xx: the request itself (a page token it refuses).
    Rejected,
}

pub fn api_status(status: u16) -> ApiStatus {
    match status {
        200 => ApiStatus::Ok,
        404 => ApiStatus::NotFound,
        401 | 403 => ApiStatus::Refused,
        429 | 500..=599 => ApiStatus::Busy,
        _ => ApiStatus::Rejected,
    }
}

/// An RFC 2822 date (`Fri, 18 Oct 2019 17:02:00 +0000`; the day's name
/// optional, `GMT`/`UT`/`Z` for `+0000`) as seconds since the epoch.
pub fn parse_rfc2822(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_, rest)) => rest.trim_start(),
        None => text,
    };
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    let number = |s: &str, max_len: usize| -> Option<i64> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())?
    };
    let day = number(day, 2).filter(|d| (1..=31).contains(d))?;
    let year = number(year, 4).filter(|y| *y >= 1970)?;
    let hms: Vec<&str> = time.split(':').collect();
    let (h, m, s) = match hms.as_slice() {
        [h, m] => (number(h, 2)?, number(m, 2)?, 0),
        [h, m, s] => (number(h, 2)?, number(m, 2)?, number(s, 2)?),
        _ => return None,
    };
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let offset_s = match *zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z => {
            let sign = match z.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let hh = number(z.get(1..3)?, 2).filter(|h| *h <= 23)?;
            let mm = number(z.get(3..5)?, 2).filter(|m| *m <= 59)?;
            if z.len() != 5 {
                return None;
            }
            sign * (hh * 3600 + mm * 60)
        }
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    };
    if day > days_in_month {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset_s)
}

/// An epoch second as Twilio writes dates (`Fri, 18 Oct 2019 17:02:00 +0000`).
pub fn format_rfc2822(epoch_s: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = epoch_s.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let secs = epoch_s.rem_euclid(86_400);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    use crate::list_query::parse_rfc3339;

    #[test]
    fn a_next_page_uri_becomes_a_cursor_without_its_host_or_account_and_back() {
        let uri = format!(
            "/2010-04-01/Accounts/{AC}/Calls.json?PageSize=50&Page=1&PageToken=PASMabc123_-x&From=%2B1555"
        );
        let mark = PageMark::of_uri(&uri).expect("a mark");
        let cursor = mark.cursor();
        assert_eq!(cursor, "t1.PASMabc123_-x");
        assert!(is_valid_cursor(&cursor));
        assert!(!cursor.contains("AC"));
        assert_eq!(PageMark::of_cursor(&cursor), Some(mark));
        assert_eq!(
            PageMark::of_uri("/x.json?Page=3"),
            Some(PageMark {
                page: 3,
                token: None
            })
        );
        for bad in ["o20", "t", "tx", "t1.", "t1.a~b", "t1234567890", "1.PA"] {
            assert_eq!(PageMark::of_cursor(bad), None, "{bad}");
        }
        assert_eq!(
            PageMark::of_uri("/x.json?PageToken=PA1"),
            None,
            "no page number"
        );
        // An escaped token is carried (`%` as `~`) and goes back as it came.
        let escaped = PageMark::of_uri("/x.json?Page=1&PageToken=a%2Fb%3D~c").unwrap();
        assert_eq!(escaped.token.as_deref(), Some("a~2Fb~3D~7Ec"));
        assert_eq!(
            PageMark::of_cursor(&escaped.cursor()),
            Some(escaped.clone())
        );
        let request = CallsRequest {
            page_size: 50,
            from: None,
            to: None,
            on_or_after: None,
            before: None,
            mark: Some(escaped),
        };
        assert!(request
            .url("https://api.twilio.com", &Sid::parse("AC", AC).unwrap())
            .ends_with("&Page=1&PageToken=a%2Fb%3D%7Ec"));
        for bad in ["a%2", "a%zz", "a b", "a/b", "a%", "a+b"] {
            let uri = format!("/x.json?Page=1&PageToken={bad}");
            assert_eq!(PageMark::of_uri(&uri), None, "{bad}");
        }
    }

    #[test]
    fn a_query_widens_to_whole_days_and_the_page_goes_in_the_url() {
        let query = ListQuery::parse([
            ("since", "2026-11-02T08:30:00Z"),
            ("until", "2026-11-04T00:00:00Z"),
        ])
        .expect("valid");
        let mark = PageMark::of_cursor("t2.PA9").expect("a cursor");
        let request = CallsRequest::for_query(&query, 5_000, Some(mark));
        let account = Sid::parse("AC", AC).expect("a SID");
        assert_eq!(
            request.url("http://127.0.0.1:9", &account),
            format!(
                "http://127.0.0.1:9/2010-04-01/Accounts/{AC}/Calls.json?PageSize=1000\
                 &StartTime%3E=2026-11-02&StartTime%3C=2026-11-04&Page=2&PageToken=PA9"
            )
        );
        let whole = CallsRequest {
            from: Some("+15551234567".into()),
            ..CallsRequest::for_query(&ListQuery::default(), 50, None)
        };
        assert_eq!(
            whole.url("https://api.twilio.com", &account),
            format!("https://api.twilio.com/2010-04-01/Accounts/{AC}/Calls.json?PageSize=50&From=%2B15551234567")
        );
    }

    #[test]
    fn a_call_becomes_a_row_and_a_child_leg_does_not() {
        let page: CallsPage = serde_json::from_str(&format!(
            r#"{{"calls": [
                {{"sid": "CA{0}", "parent_call_sid": null, "from": "+15551230001", "to": "+15557654321",
                  "start_time": "Fri, 18 Oct 2019 17:02:00 +0000", "duration": "61", "status": "completed"}},
                {{"sid": "CA{1}", "parent_call_sid": "CA{0}", "from": "+1", "to": "+2",
                  "start_time": "Fri, 18 Oct 2019 17:02:05 +0000", "duration": "55"}},
                {{"sid": "CA{2}", "from": null, "to": null, "start_time": null,
                  "date_created": "Fri, 18 Oct 2019 16:00:00 +0000", "duration": null}}
              ], "next_page_uri": null, "page": 0, "page_size": 50}}"#,
            "a".repeat(32),
            "b".repeat(32),
            "c".repeat(32)
        ))
        .expect("a page");
        let rows: Vec<CallSummary> = page.calls.iter().filter_map(Call::summary).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].started_at, "2019-10-18T17:02:00Z");
        assert_eq!(rows[0].duration_s, 61);
        assert_eq!(rows[0].from, "+15551230001");
        assert_eq!(rows[1].started_at, "2019-10-18T16:00:00Z");
        assert_eq!(rows[1].duration_s, 0);
        assert!(page.next_page_uri.is_none());
    }

    fn recordings(entries: &[(&str, &str, u8, &str)]) -> RecordingsPage {
        RecordingsPage {
            recordings: entries
                .iter()
                .map(|(sid, status, channels, created)| Recording {
                    sid: Some(format!("RE{}", sid.repeat(32))),
                    status: Some(status.to_string()),
                    channels: Some(*channels),
                    duration: Some("12".into()),
                    date_created: Some(created.to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn the_first_completed_recording_plays_and_the_others_follow_in_time() {
        let page = recordings(&[
            ("b", "completed", 2, "Fri, 18 Oct 2019 17:05:00 +0000"),
            ("c", "processing", 1, "Fri, 18 Oct 2019 17:06:00 +0000"),
            ("a", "completed", 1, "Fri, 18 Oct 2019 17:02:00 +0000"),
        ]);
        let Recordings::Play(playable) = resolve(&page) else {
            panic!("playable");
        };
        let sids: Vec<String> = playable.iter().map(|p| p.sid.to_string()).collect();
        assert_eq!(
            sids,
            [
                format!("RE{}", "a".repeat(32)),
                format!("RE{}", "b".repeat(32))
            ]
        );
        assert_eq!(playable[1].channels, 2);
        assert_eq!(playable[0].duration_s, 12);
    }

    #[test]
    fn a_later_number_waits_while_a_recording_is_still_processing() {
        let t = "Fri, 18 Oct 2019 17:05:00 +0000";
        let one_done_one_coming = recordings(&[
            ("a", "completed", 1, t),
            ("b", "processing", 1, "Fri, 18 Oct 2019 17:06:00 +0000"),
        ]);
        let ok = |page| resolution(1, 200, None, Some(page)).0;
        assert_eq!(ok(&one_done_one_coming), Resolved::Processing);
        assert_eq!(
            resolution(0, 200, None, Some(&one_done_one_coming)).0,
            Resolved::Play
        );
        // Only as many numbers as may come: the third has none.
        assert_eq!(
            resolution(2, 200, None, Some(&one_done_one_coming)).0,
            Resolved::NoRecording
        );
        // None coming: a number beyond the completed ones has none.
        let one_done = recordings(&[("a", "completed", 1, t), ("b", "absent", 1, t)]);
        assert_eq!(ok(&one_done), Resolved::NoRecording);
    }

    #[test]
    fn processing_waits_and_absent_or_deleted_is_no_recording() {
        let t = "Fri, 18 Oct 2019 17:05:00 +0000";
        assert_eq!(
            resolve(&recordings(&[("a", "processing", 1, t)])),
            Recordings::Processing
        );
        assert_eq!(
            resolve(&recordings(&[
                ("a", "absent", 1, t),
                ("b", "in-progress", 1, t)
            ])),
            Recordings::Processing
        );
        assert_eq!(
            resolve(&recordings(&[
                ("a", "absent", 1, t),
                ("b", "deleted", 1, t),
                ("c", "failed", 1, t)
            ])),
            Recordings::None
        );
        assert_eq!(resolve(&recordings(&[])), Recordings::None);
    }

    #[test]
    fn media_urls_name_the_account_and_the_recording_and_ask_for_both_channels() {
        let account = Sid::parse("AC", AC).expect("a SID");
        let recording = Sid::parse("RE", &format!("RE{}", "d".repeat(32))).expect("a SID");
        assert_eq!(
            media_url("https://api.twilio.com", &account, &recording, 2),
            format!("https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/{recording}.wav?RequestedChannels=2")
        );
        assert!(media_url("b", &account, &recording, 1).ends_with(".wav"));
        let call = CallSid::parse(&format!("CA{}", "e".repeat(32))).expect("a SID");
        assert_eq!(
            call_recordings_url("b", &account, &call),
            format!("b/2010-04-01/Accounts/{AC}/Calls/{call}/Recordings.json")
        );
    }

    #[test]
    fn rfc_2822_dates_read_as_rfc_3339_does_and_round_trip() {
        for (rfc2822, rfc3339) in [
            ("Fri, 18 Oct 2019 17:02:00 +0000", "2019-10-18T17:02:00Z"),
            ("18 Oct 2019 17:02:00 GMT", "2019-10-18T17:02:00Z"),
            ("Tue, 1 Dec 2026 09:30 -0130", "2026-12-01T11:00:00Z"),
            ("Mon, 29 Feb 2016 23:59:59 +0100", "2016-02-29T22:59:59Z"),
        ] {
            assert_eq!(parse_rfc2822(rfc2822), parse_rfc3339(rfc3339), "{rfc2822}");
        }
        for bad in [
            "",
            "Fri, 18 Oct 2019",
            "18 Foo 2019 17:02:00 +0000",
            "18 Oct 2019 24:00:00 +0000",
            "18 Oct 2019 17:02:00 +99",
            "1e1 Oct 2019 17:02:00 +0000",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad}");
        }
        for t in [0, 1_571_418_120, 1_795_885_200, 1_795_885_200 + 86_399] {
            assert_eq!(parse_rfc2822(&format_rfc2822(t)), Some(t));
        }
        assert_eq!(
            format_rfc2822(1_571_418_120),
            "Fri, 18 Oct 2019 17:02:00 +0000"
        );
    }

    #[test]
    fn a_recordings_answer_resolves_the_download() {
        let t = "Fri, 18 Oct 2019 17:05:00 +0000";
        let one = recordings(&[("a", "completed", 2, t)]);
        let (resolved, playable) = resolution(0, 200, None, Some(&one));
        assert_eq!(resolved, Resolved::Play);
        assert_eq!(playable.len(), 1);
        // The call has no second recording.
        assert_eq!(
            resolution(1, 200, None, Some(&one)).0,
            Resolved::NoRecording
        );
        let stored = serde_json::to_string(&playable).expect("serialises");
        let back: Vec<Playable> = serde_json::from_str(&stored).expect("reads back");
        assert_eq!(back, playable);
        assert!(serde_json::from_str::<Vec<Playable>>(
            r#"[{"sid":"RE1","channels":1,"duration_s":1}]"#
        )
        .is_err());
        let page = recordings(&[("a", "processing", 1, t)]);
        assert_eq!(
            resolution(0, 200, None, Some(&page)).0,
            Resolved::Processing
        );
        assert_eq!(
            resolution(0, 200, None, Some(&recordings(&[]))).0,
            Resolved::NoRecording
        );
        assert_eq!(resolution(0, 404, None, None).0, Resolved::CallGone);
        assert_eq!(resolution(0, 401, None, None).0, Resolved::Refused);
        assert_eq!(
            resolution(0, 429, Some(2_000), None).0,
            Resolved::Transient {
                failure: Failure::OriginUnavailable,
                retry_after_ms: Some(2_000)
            }
        );
        assert!(matches!(
            resolution(0, 200, None, None).0,
            Resolved::Transient { .. }
        ));
    }

    #[test]
    fn a_stored_recording_is_asked_about_again_after_its_time_and_gone_when_deleted() {
        assert!(!recheck_due(1_000, None, 1_500, 900));
        assert!(recheck_due(1_000, None, 1_900, 900));
        assert!(!recheck_due(1_000, Some(1_800), 1_900, 900));
        assert!(
            recheck_due(1_000, Some(1_800), 1_900, 0),
            "0: before every answer"
        );
        let with = |status: &str| Recording {
            sid: None,
            status: Some(status.into()),
            channels: None,
            duration: None,
            date_created: None,
        };
        assert_eq!(recheck(200, Some(&with("completed"))), Recheck::Kept);
        assert_eq!(recheck(200, Some(&with("deleted"))), Recheck::Gone);
        assert_eq!(recheck(404, None), Recheck::Gone);
        assert_eq!(recheck(429, None), Recheck::Unknown);
        assert_eq!(recheck(200, None), Recheck::Unknown);
    }

    #[test]
    fn what_each_api_answer_means() {
        assert_eq!(api_status(200), ApiStatus::Ok);
        assert_eq!(api_status(404), ApiStatus::NotFound);
        assert_eq!(api_status(401), ApiStatus::Refused);
        assert_eq!(api_status(429), ApiStatus::Busy);
        assert_eq!(api_status(503), ApiStatus::Busy);
        assert_eq!(api_status(400), ApiStatus::Rejected);
        let e: ErrorBody = serde_json::from_str(
            r#"{"code": 20429, "message": "Too many requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#,
        )
        .expect("a body");
        assert_eq!(e.code, Some(TOO_MANY_REQUESTS_CODE));
    }
}
