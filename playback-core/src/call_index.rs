//! The edge's own index of a business's calls (Twilio), kept in its
//! business object's SQLite storage as the crawl of its list reads them, so
//! that a number search (the last digits an agent remembers) is answered
//! without asking the provider, whose list filters only by whole numbers.
//!
//! Every statement is written here with its bindings; the shell runs them.
//! A search walks the calls newest first on an index that covers the time
//! and both numbers' digits, so it reads no table row it does not return,
//! and pages by its own cursor: the last call it returned (`k{started}.{sid}`).

use crate::ids::CallSid;
use crate::list_query::{parse_rfc3339, ListQuery};
use crate::wire::CallSummary;

/// A value bound to a statement's `?N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

/// A statement and its bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Create the table and its index (idempotent), one statement each.
pub const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS calls (sid TEXT PRIMARY KEY, started_s INTEGER NOT NULL, \
     from_digits TEXT NOT NULL, to_digits TEXT NOT NULL, summary TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS calls_newest ON calls \
     (started_s DESC, sid DESC, from_digits, to_digits)",
];

/// The most calls one insert statement carries (five bindings each: the
/// runtime takes at most 100 per statement).
pub const ROWS_PER_INSERT: usize = 20;

/// The statements that store `calls` (a call already indexed is replaced).
pub fn inserts(calls: &[CallSummary]) -> Vec<Statement> {
    calls
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let mut binds = Vec::with_capacity(chunk.len() * 5);
            let rows: Vec<String> = chunk
                .iter()
                .map(|call| {
                    let n = binds.len();
                    binds.extend([
                        Bind::Text(call.call_sid.to_string()),
                        Bind::Int(parse_rfc3339(&call.started_at).unwrap_or(0)),
                        Bind::Text(digits(&call.from)),
                        Bind::Text(digits(&call.to)),
                        Bind::Text(serde_json::to_string(call).unwrap_or_default()),
                    ]);
                    format!("(?{}, ?{}, ?{}, ?{}, ?{})", n + 1, n + 2, n + 3, n + 4, n + 5)
                })
                .collect();
            Statement {
                sql: format!(
                    "INSERT OR REPLACE INTO calls (sid, started_s, from_digits, to_digits, summary) VALUES {}",
                    rows.join(", ")
                ),
                binds,
            }
        })
        .collect()
}

/// How many calls are indexed.
pub const COUNT: &str = "SELECT COUNT(*) AS n FROM calls";

/// Where a search page starts: after the call it returned last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub started_s: i64,
    pub sid: CallSid,
}

impl After {
    /// The edge's cursor for the page after `call`.
    pub fn cursor(call: &CallSummary) -> String {
        let started = parse_rfc3339(&call.started_at).unwrap_or(0);
        format!("k{started}.{}", call.call_sid)
    }

    /// The position a cursor of [`After::cursor`]'s names; `None` for any other.
    pub fn of_cursor(cursor: &str) -> Option<After> {
        let (started, sid) = cursor.strip_prefix('k')?.split_once('.')?;
        let valid = !started.is_empty()
            && started.len() <= 12
            && started.bytes().all(|b| b.is_ascii_digit());
        Some(After {
            started_s: valid.then(|| started.parse().ok())??,
            sid: CallSid::parse(sid).ok()?,
        })
    }
}

/// The page of calls `query` asks for (its `q` found in either number, its
/// times, after `after`), newest first, one more than the page so that the
/// shell knows whether another follows.
pub fn search(query: &ListQuery, after: Option<&After>) -> Statement {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let bind = |value: Bind, binds: &mut Vec<Bind>| {
        binds.push(value);
        binds.len()
    };
    if let Some(q) = &query.q {
        let n = bind(Bind::Text(format!("%{q}%")), &mut binds);
        clauses.push(format!("(from_digits LIKE ?{n} OR to_digits LIKE ?{n})"));
    }
    if let Some(since) = &query.since {
        let n = bind(Bind::Int(since.epoch_s), &mut binds);
        clauses.push(format!("started_s >= ?{n}"));
    }
    if let Some(until) = &query.until {
        let n = bind(Bind::Int(until.epoch_s), &mut binds);
        clauses.push(format!("started_s < ?{n}"));
    }
    if let Some(after) = after {
        let s = bind(Bind::Int(after.started_s), &mut binds);
        let id = bind(Bind::Text(after.sid.to_string()), &mut binds);
        clauses.push(format!(
            "(started_s < ?{s} OR (started_s = ?{s} AND sid < ?{id}))"
        ));
    }
    let n = bind(Bind::Int(i64::from(query.page_size()) + 1), &mut binds);
    let filter = match clauses.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", clauses.join(" AND ")),
    };
    Statement {
        sql: format!(
            "SELECT summary FROM calls INDEXED BY calls_newest{filter} \
             ORDER BY started_s DESC, sid DESC LIMIT ?{n}"
        ),
        binds,
    }
}

/// A search's rows (`summary` of each, at most one more than the page) as
/// a page and the cursor of the next.
pub fn page_of(query: &ListQuery, rows: Vec<String>) -> (Vec<CallSummary>, Option<String>) {
    let size = query.page_size() as usize;
    let mut calls: Vec<CallSummary> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(row).ok())
        .collect();
    let more = calls.len() > size;
    calls.truncate(size);
    let next = match more {
        true => calls.last().map(After::cursor),
        false => None,
    };
    (calls, next)
}

/// The page of `calls` (any order; duplicates once) that `query` asks for
/// after `after`, newest first, and the cursor of the next: the same pages
/// as [`search`] over an index holding `calls`.
pub fn page_after(
    query: &ListQuery,
    mut calls: Vec<CallSummary>,
    after: Option<&After>,
) -> (Vec<CallSummary>, Option<String>) {
    let key = |c: &CallSummary| {
        (
            parse_rfc3339(&c.started_at).unwrap_or(0),
            c.call_sid.clone(),
        )
    };
    calls.retain(|c| query.matches(&c.started_at, &c.from, &c.to));
    calls.sort_by_key(|c| std::cmp::Reverse(key(c)));
    calls.dedup_by(|a, b| a.call_sid == b.call_sid);
    let rows = calls
        .into_iter()
        .filter(|c| after.is_none_or(|a| key(c) < (a.started_s, a.sid.clone())))
        .take(query.page_size() as usize + 1)
        .filter_map(|c| serde_json::to_string(&c).ok())
        .collect();
    page_of(query, rows)
}

/// Where a search's answer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchWay {
    /// Twilio itself, asked for this whole number (E.164) on either side:
    /// before the index holds every call, it alone knows them all.
    AskTwilio(String),
    /// The index.
    Index,
}

/// Where the search `q` is answered from, the index being `complete` or not.
pub fn search_way(q: Option<&str>, complete: bool) -> SearchWay {
    match q.and_then(whole_number) {
        Some(number) if !complete => SearchWay::AskTwilio(number),
        _ => SearchWay::Index,
    }
}

/// A whole phone number in E.164 for a search's digits, when they are one:
/// 11 to 15 digits are taken as they are (country code first), 10 as a
/// North American number (`+1`); fewer are part of a number.
pub fn whole_number(q: &str) -> Option<String> {
    match q.len() {
        10 => Some(format!("+1{q}")),
        11..=15 => Some(format!("+{q}")),
        _ => None,
    }
}

/// The calls searched so far, when the crawl has not reached the oldest:
/// what the list says beside its results.
pub fn searched_note(indexed: u64, complete: bool) -> Option<String> {
    (!complete).then(|| format!("searched the newest {indexed} calls so far"))
}

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list_query::format_rfc3339;

    fn call(n: u32, started_s: i64, from: &str) -> CallSummary {
        CallSummary {
            call_sid: CallSid::parse(&format!("CA{n:032x}")).expect("a SID"),
            started_at: format_rfc3339(started_s),
            duration_s: 10,
            from: from.into(),
            to: "+18005550100".into(),
        }
    }

    #[test]
    fn calls_are_inserted_twenty_to_a_statement_with_their_digits() {
        let calls: Vec<CallSummary> = (0..45)
            .map(|n| call(n, 1_000 + n as i64, "+1 (212) 555-0001"))
            .collect();
        let statements = inserts(&calls);
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].binds.len(), 100);
        assert_eq!(statements[2].binds.len(), 25);
        assert!(statements[2].sql.ends_with("(?21, ?22, ?23, ?24, ?25)"));
        assert_eq!(statements[0].binds[2], Bind::Text("12125550001".into()));
        assert_eq!(statements[0].binds[1], Bind::Int(1_000));
    }

    #[test]
    fn a_search_binds_its_digits_times_and_position() {
        let query = ListQuery::parse([
            ("q", "0001"),
            ("since", "1970-01-01T00:16:40Z"),
            ("limit", "2"),
        ])
        .expect("valid");
        let after = After::of_cursor(&After::cursor(&call(7, 1_500, "+1"))).expect("a cursor");
        let s = search(&query, Some(&after));
        assert_eq!(
            s.binds,
            vec![
                Bind::Text("%0001%".into()),
                Bind::Int(1_000),
                Bind::Int(1_500),
                Bind::Text(format!("CA{:032x}", 7)),
                Bind::Int(3),
            ]
        );
        assert!(s.sql.contains("(from_digits LIKE ?1 OR to_digits LIKE ?1)"));
        assert!(s
            .sql
            .contains("(started_s < ?3 OR (started_s = ?3 AND sid < ?4))"));
        assert!(s
            .sql
            .ends_with("ORDER BY started_s DESC, sid DESC LIMIT ?5"));
        let plain = search(&ListQuery::default(), None);
        assert!(!plain.sql.contains("WHERE"));
    }

    #[test]
    fn a_page_keeps_its_size_and_names_the_next_only_when_more_remain() {
        let query = ListQuery::parse([("limit", "2")]).expect("valid");
        let rows: Vec<String> = [3, 2, 1]
            .iter()
            .map(|&n| serde_json::to_string(&call(n, 100 * n as i64, "+1")).unwrap())
            .collect();
        let (calls, next) = page_of(&query, rows.clone());
        assert_eq!(calls.len(), 2);
        let next = next.expect("a third row: more remain");
        assert_eq!(next, After::cursor(&calls[1]));
        assert!(crate::list_query::is_valid_cursor(&next));
        let (calls, next) = page_of(&query, rows[..2].to_vec());
        assert_eq!((calls.len(), next), (2, None));
    }

    #[test]
    fn pages_of_a_merged_list_walk_it_once_newest_first() {
        let from: Vec<CallSummary> = (0..5)
            .map(|n| call(n, 100 * n as i64, "+12125550001"))
            .collect();
        // The same calls again (a call from and to the number), and older ones.
        let mut merged = from.clone();
        merged.extend(from.iter().cloned());
        merged.extend((5..8).map(|n| call(n, 10 * n as i64, "+1")));
        let query = ListQuery::parse([("limit", "3")]).expect("valid");
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (calls, next) = page_after(&query, merged.clone(), after.as_ref());
            seen.extend(calls.iter().map(|c| c.call_sid.to_string()));
            match next {
                Some(cursor) => after = After::of_cursor(&cursor),
                None => break,
            }
        }
        let expected: Vec<String> = [4, 3, 2, 1, 7, 6, 5, 0]
            .iter()
            .map(|n| format!("CA{n:032x}"))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn cursors_read_back_and_others_are_refused() {
        let c = call(9, 1_795_885_200, "+1");
        let after = After::of_cursor(&After::cursor(&c)).expect("reads back");
        assert_eq!((after.started_s, after.sid), (1_795_885_200, c.call_sid));
        for bad in [
            "k",
            "k1",
            "k.CA00",
            "kx.CA0123456789abcdef0123456789abcdef",
            "t1.PA",
            "k1234567890123.CA0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(After::of_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn whole_numbers_are_read_as_e164_and_parts_are_not() {
        assert_eq!(whole_number("2125550001").as_deref(), Some("+12125550001"));
        assert_eq!(whole_number("12125550001").as_deref(), Some("+12125550001"));
        assert_eq!(
            whole_number("442071838750").as_deref(),
            Some("+442071838750")
        );
        assert_eq!(whole_number("0001"), None);
        assert_eq!(whole_number("555000"), None);
        assert_eq!(
            searched_note(5_000, false).as_deref(),
            Some("searched the newest 5000 calls so far")
        );
        assert_eq!(searched_note(5_000, true), None);
        assert_eq!(
            search_way(Some("2125550001"), false),
            SearchWay::AskTwilio("+12125550001".into())
        );
        assert_eq!(search_way(Some("2125550001"), true), SearchWay::Index);
        assert_eq!(search_way(Some("0001"), false), SearchWay::Index);
        assert_eq!(search_way(None, false), SearchWay::Index);
    }
}
