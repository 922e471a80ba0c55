//! The call list's query: `limit`, `cursor`, `q`, `since` and
//! `until`, as the origin's list API and the edge's `GET /api/calls` both
//! take them. Parsed and validated here once, so a bad parameter is a 400
//! that names it, and the edge forwards only what it understood.
//!
//! - `limit`: 1 to `MAX_LIST_LIMIT`, default `DEFAULT_LIST_LIMIT`.
//! - `cursor`: opaque, at most `MAX_CURSOR_LEN` URL-safe characters.
//! - `q`: the digits of a phone number (separators `+ - ( ) . ` and spaces
//!   are dropped), 1 to `MAX_Q_DIGITS` of them, matched as a substring of
//!   `from` or `to`.
//! - `since` / `until`: RFC 3339 times on `started_at`, `until` exclusive;
//!   `since` must come before `until` when both are given.
//!
//! A parameter given twice, an unknown one, or an empty value is refused.

/// The page size when the request names none.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// The largest page the origin serves.
pub const MAX_LIST_LIMIT: u32 = 200;
/// The longest cursor accepted.
pub const MAX_CURSOR_LEN: usize = 512;
/// The most digits a number search may have (E.164 has at most 15).
pub const MAX_Q_DIGITS: usize = 15;

/// A valid list query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Digits only.
    pub q: Option<String>,
    /// Seconds since the epoch, with the text as given.
    pub since: Option<Instant>,
    pub until: Option<Instant>,
}

/// A time of the query: as given, and in seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instant {
    pub text: String,
    pub epoch_s: i64,
}

/// The parameter that made a query invalid (a 400 names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListQueryError {
    Limit,
    Cursor,
    Q,
    Since,
    Until,
    /// `since` is not before `until`.
    Range,
    /// A parameter this API does not take, or one given twice.
    Unknown,
}

impl ListQueryError {
    /// The parameter's name, for the error body.
    pub fn parameter(self) -> &'static str {
        match self {
            ListQueryError::Limit => "limit",
            ListQueryError::Cursor => "cursor",
            ListQueryError::Q => "q",
            ListQueryError::Since => "since",
            ListQueryError::Until => "until",
            ListQueryError::Range => "since",
            ListQueryError::Unknown => "query",
        }
    }
}

impl ListQuery {
    /// Parses already percent-decoded `(name, value)` pairs.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListQuery, ListQueryError> {
        let mut query = ListQuery::default();
        for (name, value) in pairs {
            match name {
                "limit" if query.limit.is_none() => query.limit = Some(parse_limit(value)?),
                "cursor" if query.cursor.is_none() => query.cursor = Some(parse_cursor(value)?),
                "q" if query.q.is_none() => query.q = Some(parse_digits(value)?),
                "since" if query.since.is_none() => {
                    query.since = Some(parse_instant(value).ok_or(ListQueryError::Since)?)
                }
                "until" if query.until.is_none() => {
                    query.until = Some(parse_instant(value).ok_or(ListQueryError::Until)?)
                }
                _ => return Err(ListQueryError::Unknown),
            }
        }
        if let (Some(since), Some(until)) = (&query.since, &query.until) {
            if since.epoch_s >= until.epoch_s {
                return Err(ListQueryError::Range);
            }
        }
        Ok(query)
    }

    /// The query in one canonical form (every parameter given, in a fixed
    /// order, times in UTC), as a URL query string without `?`: two
    /// queries that ask for the same page have the same form, so it keys the
    /// edge's list cache, and it is what the edge sends the origin.
    pub fn canonical(&self) -> String {
        let mut parts = vec![format!("limit={}", self.page_size())];
        if let Some(cursor) = &self.cursor {
            parts.push(format!("cursor={cursor}"));
        }
        if let Some(q) = &self.q {
            parts.push(format!("q={q}"));
        }
        for (name, time) in [("since", &self.since), ("until", &self.until)] {
            if let Some(time) = time {
                parts.push(format!("{name}={}", format_rfc3339(time.epoch_s)));
            }
        }
        parts.join("&")
    }

    /// The query a [`ListQuery::canonical`] form holds (it needs no
    /// percent-decoding: no value in it has a character that would).
    pub fn from_canonical(text: &str) -> Result<ListQuery, ListQueryError> {
        ListQuery::parse(
            text.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| pair.split_once('=').unwrap_or((pair, ""))),
        )
    }

    /// The same query for the page at `cursor`.
    pub fn at(&self, cursor: Option<String>) -> ListQuery {
        ListQuery {
            cursor,
            ..self.clone()
        }
    }

    /// The page size this query asks for.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIST_LIMIT)
    }

    /// Whether a call (its `started_at`, `from` and `to`) matches the
    /// query's filters; a `started_at` that is not RFC 3339 matches no range.
    pub fn matches(&self, started_at: &str, from: &str, to: &str) -> bool {
        let digits_match = self.q.as_deref().is_none_or(|q| {
            let has = |number: &str| digits_of(number).contains(q);
            has(from) || has(to)
        });
        let time = parse_rfc3339(started_at);
        let after_since = self
            .since
            .as_ref()
            .is_none_or(|s| time.is_some_and(|t| t >= s.epoch_s));
        let before_until = self
            .until
            .as_ref()
            .is_none_or(|u| time.is_some_and(|t| t < u.epoch_s));
        digits_match && after_since && before_until
    }
}

fn parse_limit(value: &str) -> Result<u32, ListQueryError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIST_LIMIT).contains(n) && !value.starts_with('+'))
        .ok_or(ListQueryError::Limit)
}

fn parse_cursor(value: &str) -> Result<String, ListQueryError> {
    if !is_valid_cursor(value) {
        return Err(ListQueryError::Cursor);
    }
    Ok(value.to_owned())
}

/// The cursor of the origin's next page, from its `Link: <…>; rel="next"`
/// target: the `cursor` parameter of its query, if it is one this API
/// carries (`None` otherwise; the edge then treats the page as unusable
/// rather than guess). Only the cursor travels on: never the link's host,
/// path or other parameters.
pub fn next_cursor(target: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .filter(|c| is_valid_cursor(c))
        .map(str::to_owned)
}

/// `%XX` decoded (`+` as a space); a malformed escape is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a cursor is one this API carries: 1 to `MAX_CURSOR_LEN`
/// URL-safe characters (so it needs no encoding in a URL).
pub fn is_valid_cursor(value: &str) -> bool {
    let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    !value.is_empty() && value.len() <= MAX_CURSOR_LEN && value.chars().all(url_safe)
}

fn parse_digits(value: &str) -> Result<String, ListQueryError> {
    let separator = |c: char| matches!(c, '+' | '-' | '(' | ')' | '.' | ' ');
    if !value.chars().all(|c| c.is_ascii_digit() || separator(c)) {
        return Err(ListQueryError::Q);
    }
    let digits = digits_of(value);
    if digits.is_empty() || digits.len() > MAX_Q_DIGITS {
        return Err(ListQueryError::Q);
    }
    Ok(digits)
}

fn digits_of(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

fn parse_instant(value: &str) -> Option<Instant> {
    Some(Instant {
        text: value.to_owned(),
        epoch_s: parse_rfc3339(value)?,
    })
}

/// Seconds since the epoch of an RFC 3339 date-time
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t` and a space are accepted
/// for `T`, `z` for `Z`, as RFC 3339 allows).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || !text.is_ascii() {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let sign = if o[0] == b'-' { -1 } else { 1 };
            let (oh, om): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(year) => 29,
        2 => 28,
        _ => return None,
    };
    // Second 60 is a leap second: it counts as the next minute's first.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_s)
}

/// An epoch second as RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SSZ`), for years
/// 0 to 9999; `parse_rfc3339` reads it back as the same second.
pub fn format_rfc3339(epoch_s: i64) -> String {
    let (year, month, day) = civil_from_days(epoch_s.div_euclid(86_400));
    let secs = epoch_s.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day since 1970-01-01 (the inverse of
/// `days_from_civil`, H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(query: &[(&'static str, &'static str)]) -> Result<ListQuery, ListQueryError> {
        ListQuery::parse(query.iter().copied())
    }

    #[test]
    fn a_query_parses_each_parameter_once_and_names_the_bad_one() {
        let q = parse(&[
            ("limit", "200"),
            ("cursor", "abc-_.~9"),
            ("q", "+1 (555) 010-7"),
            ("since", "2026-11-02T08:00:00Z"),
            ("until", "2026-11-03T00:00:00+01:00"),
        ])
        .unwrap();
        assert_eq!(q.page_size(), 200);
        assert_eq!(q.q.as_deref(), Some("15550107"));
        assert_eq!(q.since.as_ref().unwrap().epoch_s, 1_793_606_400);
        assert_eq!(parse(&[]).unwrap().page_size(), DEFAULT_LIST_LIMIT);
        for (query, error) in [
            (&[("limit", "0")][..], ListQueryError::Limit),
            (&[("limit", "201")], ListQueryError::Limit),
            (&[("limit", "+5")], ListQueryError::Limit),
            (&[("limit", "ten")], ListQueryError::Limit),
            (&[("cursor", "")], ListQueryError::Cursor),
            (&[("cursor", "a/b")], ListQueryError::Cursor),
            (&[("q", "")], ListQueryError::Q),
            (&[("q", "abc")], ListQueryError::Q),
            (&[("q", "()")], ListQueryError::Q),
            (&[("q", "1234567890123456")], ListQueryError::Q),
            (&[("since", "yesterday")], ListQueryError::Since),
            (&[("until", "2026-02-30T00:00:00Z")], ListQueryError::Until),
            (
                &[
                    ("since", "2026-11-02T00:00:00Z"),
                    ("until", "2026-11-02T00:00:00Z"),
                ],
                ListQueryError::Range,
            ),
            (&[("limit", "5"), ("limit", "6")], ListQueryError::Unknown),
            (&[("sort", "asc")], ListQueryError::Unknown),
        ] {
            assert_eq!(
                ListQuery::parse(query.iter().copied()),
                Err(error),
                "{query:?}"
            );
        }
        assert_eq!(ListQueryError::Range.parameter(), "since");
    }

    #[test]
    fn filters_match_digits_in_either_party_and_a_half_open_time_range() {
        let q = parse(&[
            ("q", "0107"),
            ("since", "2026-11-02T08:00:00Z"),
            ("until", "2026-11-02T09:00:00Z"),
        ])
        .unwrap();
        assert!(q.matches("2026-11-02T08:00:00Z", "+1 555-0107", "+1 555 0100"));
        assert!(q.matches("2026-11-02T08:59:59Z", "+1 555 0100", "+1-555-010-7"));
        assert!(
            !q.matches("2026-11-02T09:00:00Z", "+1 555-0107", ""),
            "until is exclusive"
        );
        assert!(!q.matches("2026-11-02T07:59:59Z", "+1 555-0107", ""));
        assert!(!q.matches("2026-11-02T08:30:00Z", "+1 555 0100", "+1 555 0101"));
        assert!(!q.matches("not a time", "+1 555-0107", ""));
        assert!(parse(&[]).unwrap().matches("not a time", "", ""));
    }

    #[test]
    fn the_canonical_form_names_every_parameter_in_one_order_in_utc() {
        let a = parse(&[
            ("until", "2026-11-03T01:00:00+01:00"),
            ("q", "555-01"),
            ("since", "2026-11-02T08:00:00.5Z"),
        ])
        .unwrap();
        let b = parse(&[
            ("since", "2026-11-02T08:00:00Z"),
            ("until", "2026-11-03T00:00:00Z"),
            ("limit", "50"),
            ("q", "55501"),
        ])
        .unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(
            a.canonical(),
            "limit=50&q=55501&since=2026-11-02T08:00:00Z&until=2026-11-03T00:00:00Z"
        );
        let next = a.at(Some("o50".into()));
        assert_eq!(
            ListQuery::from_canonical(&next.canonical()).unwrap(),
            parse(&[
                ("limit", "50"),
                ("cursor", "o50"),
                ("q", "55501"),
                ("since", "2026-11-02T08:00:00Z"),
                ("until", "2026-11-03T00:00:00Z"),
            ])
            .unwrap(),
            "the canonical form parses back"
        );
    }

    #[test]
    fn only_a_valid_cursor_is_taken_from_the_origins_next_link() {
        assert_eq!(
            next_cursor("http://o:1/v1/businesses/acme/calls?limit=50&cursor=o50&q=1").as_deref(),
            Some("o50")
        );
        assert_eq!(
            next_cursor("/calls?cursor=abc#frag").as_deref(),
            Some("abc")
        );
        assert_eq!(next_cursor("/calls?limit=50"), None);
        assert_eq!(next_cursor("/calls?cursor=a%2Fb"), None);
        assert_eq!(next_cursor("/calls?cursor="), None);
        assert_eq!(next_cursor("/calls"), None);
    }

    #[test]
    fn rfc3339_times_read_as_seconds_since_the_epoch() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31t23:59:59.999z"), Some(-1));
        assert_eq!(
            parse_rfc3339("2000-02-29 12:00:00-00:30"),
            Some(951_827_400)
        );
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_800));
        for bad in [
            "2026-11-02",
            "2026-11-02T08:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T08:00:00.Z",
            "2026-11-02T08:00:00+0100",
            "2026-11-02T08:00:00+24:00",
            "2026-11-02T08:00:00Zjunk",
            "２026-11-02T08:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest! {
        /// Every second from year 1 to 9999, written as RFC 3339 UTC, reads
        /// back as itself.
        #[test]
        fn rfc3339_round_trips(epoch in -62_135_596_800i64..253_402_300_799) {
            let text = format_rfc3339(epoch);
            prop_assert_eq!(parse_rfc3339(&text), Some(epoch), "{}", text);
        }
    }
}
