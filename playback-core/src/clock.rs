//! Times as the shells' timers and alarms take them.

/// Milliseconds from `now_ms` until `at_ms`: 0 for a time already past.
pub fn ms_until(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_ahead_is_that_far_and_a_time_past_is_now() {
        assert_eq!(ms_until(1_500, 1_000), 500);
        assert_eq!(ms_until(1_000, 1_000), 0);
        assert_eq!(ms_until(999, 1_000), 0);
        assert_eq!(ms_until(0, u64::MAX), 0);
    }
}
