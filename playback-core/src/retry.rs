//! Backoff schedules, with the random number passed in (`unit` in `[0, 1)`).

/// Exponential backoff: `base × factor^(n-1)` capped at `cap`, before jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base_ms: u64,
    pub factor: u64,
    pub cap_ms: u64,
}

impl Backoff {
    /// The ceiling for the `n`th wait (n starts at 1).
    pub fn ceiling_ms(&self, n: u32) -> u64 {
        let mut ms = self.base_ms;
        for _ in 1..n.max(1) {
            ms = ms.saturating_mul(self.factor);
            if ms >= self.cap_ms {
                return self.cap_ms;
            }
        }
        ms.min(self.cap_ms)
    }

    /// Full jitter: uniformly in `[0, ceiling]`.
    pub fn full_jitter_ms(&self, n: u32, unit: f64) -> u64 {
        (self.ceiling_ms(n) as f64 * unit.clamp(0.0, 1.0)) as u64
    }

    /// Equal jitter: half the ceiling plus up to half again, so a retry never comes at once.
    pub fn equal_jitter_ms(&self, n: u32, unit: f64) -> u64 {
        let c = self.ceiling_ms(n);
        c / 2 + ((c - c / 2) as f64 * unit.clamp(0.0, 1.0)) as u64
    }
}

/// Between the edge's origin attempts.
pub const ORIGIN_RETRY: Backoff = Backoff {
    base_ms: 250,
    factor: 2,
    cap_ms: 10_000,
};

/// The longest an origin's `Retry-After` is obeyed: a longer one is cut to
/// this, so a bad header cannot park a download for days.
pub const MAX_ORIGIN_RETRY_AFTER_MS: u64 = 300_000;

/// An origin's `Retry-After` (RFC 9110: delay-seconds or an HTTP date) as
/// milliseconds from `now_ms`, capped at [`MAX_ORIGIN_RETRY_AFTER_MS`];
/// `None` when absent or unreadable. A date in the past is 0.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    let ms = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u64>()
            .unwrap_or(u64::MAX)
            .saturating_mul(1000)
    } else {
        http_date_ms(value)?.saturating_sub(now_ms)
    };
    Some(ms.min(MAX_ORIGIN_RETRY_AFTER_MS))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as milliseconds since the epoch.
pub fn http_date_ms(value: &str) -> Option<u64> {
    let rest = value.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: u64 = year.parse().ok().filter(|y| *y >= 1970)?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(((days * 86_400) + h * 3600 + m * 60 + s) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
        assert_eq!(parse_retry_after("3", 0), Some(3_000));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        assert_eq!(
            http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date_ms("Sun, 29 Nov 2026 03:10:24 GMT"),
            Some(1_795_921_824_000)
        );
        let now = 784_111_777_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:42 GMT", now),
            Some(5_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("999999999", 0),
            Some(MAX_ORIGIN_RETRY_AFTER_MS)
        );
        for bad in [
            "",
            "soon",
            "-1",
            "1.5",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn ceilings_grow_by_the_factor_up_to_the_cap() {
        let b = Backoff {
            base_ms: 500,
            factor: 2,
            cap_ms: 8_000,
        };
        let c: Vec<u64> = (1..=7).map(|n| b.ceiling_ms(n)).collect();
        assert_eq!(c, vec![500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(b.ceiling_ms(0), 500);
        assert_eq!(b.ceiling_ms(u32::MAX), 8000);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let b = Backoff {
            base_ms: 500,
            factor: 2,
            cap_ms: 8_000,
        };
        assert_eq!(b.full_jitter_ms(2, 0.0), 0);
        assert_eq!(b.full_jitter_ms(2, 0.5), 500);
        assert_eq!(b.full_jitter_ms(2, 1.0), 1000);
        assert_eq!(b.full_jitter_ms(2, 7.0), 1000);
    }

    #[test]
    fn equal_jitter_never_waits_less_than_half_the_ceiling() {
        assert_eq!(ORIGIN_RETRY.equal_jitter_ms(1, 0.0), 125);
        assert_eq!(ORIGIN_RETRY.equal_jitter_ms(1, 1.0), 250);
        assert_eq!(ORIGIN_RETRY.equal_jitter_ms(3, 0.0), 500);
    }
}
