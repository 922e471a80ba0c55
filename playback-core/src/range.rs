//! HTTP byte ranges and conditional requests for cached recordings.
//!
//! Decisions: a single `bytes=` range is honoured in its three forms
//! (`a-b`, `a-`, `-n`); a malformed header, another unit, or more than one
//! range is ignored and the whole body is sent with 200, as RFC 9110 §14.2
//! allows. A syntactically valid range that selects no byte of the file is
//! 416. `If-Range` with a different (or a date) validator turns the request
//! into a full one; `If-None-Match` matching the ETag is 304.

/// A `Range` header read without knowing the file's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=a-b` (`last` saturates at `u64::MAX` when it overflows).
    FromTo { first: u64, last: u64 },
    /// `bytes=a-`
    From { first: u64 },
    /// `bytes=-n` (saturating)
    Suffix { len: u64 },
    /// `bytes=a-…` where `a` overflows: past the end of any file.
    PastAnyEnd,
}

/// What to send for a cached recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeDecision {
    NotModified,
    Full,
    /// Inclusive byte positions, `first <= last < size`.
    Partial {
        first: u64,
        last: u64,
    },
    Unsatisfiable,
}

impl ServeDecision {
    pub fn status(self) -> u16 {
        match self {
            ServeDecision::NotModified => 304,
            ServeDecision::Full => 200,
            ServeDecision::Partial { .. } => 206,
            ServeDecision::Unsatisfiable => 416,
        }
    }
}

/// Parses a `Range` header; `None` when it is absent or to be ignored.
pub fn parse_range(header: &str) -> Option<RangeSpec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix {
            len: digits(last)?.unwrap_or(u64::MAX),
        }),
        (false, true) => {
            Some(digits(first)?.map_or(RangeSpec::PastAnyEnd, |first| RangeSpec::From { first }))
        }
        (false, false) => {
            let Some(from) = digits(first)? else {
                // The first overflows: past any file when the range is valid
                // (`first <= last`, compared as decimal numbers), else ignored.
                digits(last)?;
                return (decimal_cmp(first, last) != std::cmp::Ordering::Greater)
                    .then_some(RangeSpec::PastAnyEnd);
            };
            let last = digits(last)?.unwrap_or(u64::MAX);
            (from <= last).then_some(RangeSpec::FromTo { first: from, last })
        }
    }
}

/// `None`: not a number; `Some(None)`: digits that overflow `u64`.
fn digits(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().ok())
}

/// Compares two strings of ASCII digits as the numbers they write, however long.
fn decimal_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Resolves a range against a file of `size` bytes.
pub fn resolve(spec: RangeSpec, size: u64) -> ServeDecision {
    let (first, last) = match spec {
        RangeSpec::FromTo { first, last } => (first, last.min(size.saturating_sub(1))),
        RangeSpec::From { first } => (first, size.saturating_sub(1)),
        RangeSpec::Suffix { len } if len > 0 => (size.saturating_sub(len), size.saturating_sub(1)),
        RangeSpec::Suffix { .. } | RangeSpec::PastAnyEnd => return ServeDecision::Unsatisfiable,
    };
    if size == 0 || first >= size {
        ServeDecision::Unsatisfiable
    } else {
        ServeDecision::Partial { first, last }
    }
}

/// The request's conditional and range headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
}

/// Decides the answer for a cached object of `size` bytes with `etag`.
pub fn decide(c: Conditions<'_>, size: u64, etag: &str) -> ServeDecision {
    if c.if_none_match
        .is_some_and(|inm| if_none_match_matches(inm, etag))
    {
        return ServeDecision::NotModified;
    }
    let range_applies = c.if_range.is_none_or(|v| strong_match(v.trim(), etag));
    match c.range.filter(|_| range_applies).and_then(parse_range) {
        Some(spec) => resolve(spec, size),
        None => ServeDecision::Full,
    }
}

/// Weak comparison over a list of entity tags, or `*`.
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*"
        || header
            .split(',')
            .any(|candidate| bare(candidate) == bare(etag))
}

fn strong_match(candidate: &str, etag: &str) -> bool {
    !candidate.starts_with("W/") && !etag.starts_with("W/") && candidate == etag
}

/// `Content-Range` for a partial answer, or for a 416 (`bytes */SIZE`).
pub fn content_range(decision: ServeDecision, size: u64) -> Option<String> {
    match decision {
        ServeDecision::Partial { first, last } => Some(format!("bytes {first}-{last}/{size}")),
        ServeDecision::Unsatisfiable => Some(format!("bytes */{size}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServeDecision::*;

    fn range(h: &str, size: u64) -> ServeDecision {
        decide(
            Conditions {
                range: Some(h),
                ..Default::default()
            },
            size,
            "\"e\"",
        )
    }

    #[test]
    fn the_three_forms_select_the_right_bytes() {
        assert_eq!(range("bytes=0-0", 100), Partial { first: 0, last: 0 });
        assert_eq!(
            range("bytes=10-19", 100),
            Partial {
                first: 10,
                last: 19
            }
        );
        assert_eq!(
            range("bytes=90-", 100),
            Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            range("bytes=-10", 100),
            Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(range("BYTES = 5 - 6", 100), Partial { first: 5, last: 6 });
    }

    #[test]
    fn a_last_position_past_the_end_is_clamped() {
        assert_eq!(
            range("bytes=50-1000", 100),
            Partial {
                first: 50,
                last: 99
            }
        );
        assert_eq!(
            range("bytes=0-99999999999999999999999", 100),
            Partial { first: 0, last: 99 }
        );
    }

    #[test]
    fn a_suffix_longer_than_the_file_is_the_whole_file() {
        assert_eq!(range("bytes=-500", 100), Partial { first: 0, last: 99 });
        assert_eq!(
            range("bytes=-99999999999999999999999", 100),
            Partial { first: 0, last: 99 }
        );
    }

    #[test]
    fn ranges_that_select_nothing_are_unsatisfiable() {
        assert_eq!(range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(range("bytes=99999999999999999999999-", 100), Unsatisfiable);
        assert_eq!(
            range("bytes=99999999999999999999999-99999999999999999999999", 100),
            Unsatisfiable
        );
    }

    #[test]
    fn a_first_position_past_u64_after_the_last_is_ignored() {
        // `a > b` is not a valid range, however large `a` is.
        assert_eq!(range("bytes=99999999999999999999999-5", 100), Full);
        assert_eq!(
            range("bytes=99999999999999999999999-99999999999999999999998", 100),
            Full
        );
        assert_eq!(
            range(
                "bytes=099999999999999999999999-99999999999999999999999",
                100
            ),
            Unsatisfiable
        );
    }

    #[test]
    fn a_zero_length_file_satisfies_no_range() {
        for h in ["bytes=0-0", "bytes=0-", "bytes=-1"] {
            assert_eq!(range(h, 0), Unsatisfiable, "{h}");
        }
        assert_eq!(decide(Conditions::default(), 0, "\"e\""), Full);
    }

    #[test]
    fn malformed_other_unit_and_multi_ranges_are_ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=5-4",
            "bytes=1-2,4-5",
            "items=0-1",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes=0x1-2",
        ] {
            assert_eq!(range(h, 100), Full, "{h:?}");
        }
    }

    #[test]
    fn if_none_match_is_a_weak_comparison_over_a_list() {
        let c = |inm| Conditions {
            if_none_match: Some(inm),
            range: Some("bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(decide(c("\"e\""), 10, "\"e\""), NotModified);
        assert_eq!(decide(c("W/\"e\""), 10, "\"e\""), NotModified);
        assert_eq!(decide(c("\"x\", \"e\""), 10, "\"e\""), NotModified);
        assert_eq!(decide(c("*"), 10, "\"e\""), NotModified);
        assert_eq!(
            decide(c("\"x\""), 10, "\"e\""),
            Partial { first: 0, last: 1 }
        );
    }

    #[test]
    fn if_range_honours_the_range_only_for_the_same_strong_etag() {
        let c = |ir| Conditions {
            if_range: Some(ir),
            range: Some("bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(
            decide(c("\"e\""), 10, "\"e\""),
            Partial { first: 0, last: 1 }
        );
        assert_eq!(decide(c("\"old\""), 10, "\"e\""), Full);
        assert_eq!(decide(c("W/\"e\""), 10, "\"e\""), Full);
        assert_eq!(
            decide(c("Sat, 28 Nov 2026 10:00:00 GMT"), 10, "\"e\""),
            Full
        );
    }

    #[test]
    fn content_range_values() {
        assert_eq!(
            content_range(Partial { first: 0, last: 9 }, 10).as_deref(),
            Some("bytes 0-9/10")
        );
        assert_eq!(
            content_range(Unsatisfiable, 10).as_deref(),
            Some("bytes */10")
        );
        assert_eq!(content_range(Full, 10), None);
    }
}
