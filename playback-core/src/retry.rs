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

#[cfg(test)]
mod tests {
    use super::*;

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
