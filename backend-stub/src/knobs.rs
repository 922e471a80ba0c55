//! Fault knobs: how the origin misbehaves, set at start (flags or
//! `STUB_KNOBS`) and at run time (`POST /__knobs`).
//!
//! A `FaultSet` applies to every call, unless `calls` has an entry for that
//! call's SID, which then applies instead. Attempts are counted per call
//! from the last stats reset, starting at 1; each `*_first` knob affects the
//! attempts numbered up to its value, checked in the order hang, fail,
//! truncate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSet {
    /// Wait this long before answering with headers.
    pub latency_ms: u64,
    /// Pause this long once half of the body has been sent.
    pub mid_body_delay_ms: u64,
    /// Answer 500 to the first N attempts.
    pub fail_first: u32,
    /// Send only half of the body (with the full Content-Length) on the first N attempts.
    pub truncate_first: u32,
    /// Never answer the first N attempts.
    pub hang_first: u32,
    /// Answer 404 ("not ready yet") for this many seconds after the knobs were set.
    pub not_ready_secs: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    #[serde(flatten)]
    pub all: FaultSet,
    /// Per-call fault sets, by SID, that replace `all` for that call.
    pub calls: BTreeMap<String, FaultSet>,
}

impl Knobs {
    pub fn for_call(&self, call_sid: &str) -> &FaultSet {
        self.calls.get(call_sid).unwrap_or(&self.all)
    }
}

/// What one attempt does, decided from the fault set, the attempt's number
/// and the seconds since the knobs were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptPlan {
    Hang,
    Fail,
    NotReady,
    Serve { truncate: bool },
}

impl FaultSet {
    pub fn plan(&self, attempt: u32, secs_since_set: u64) -> AttemptPlan {
        if attempt <= self.hang_first {
            AttemptPlan::Hang
        } else if attempt <= self.fail_first {
            AttemptPlan::Fail
        } else if secs_since_set < self.not_ready_secs {
            AttemptPlan::NotReady
        } else {
            AttemptPlan::Serve {
                truncate: attempt <= self.truncate_first,
            }
        }
    }
}

/// Parses the command line's knob flags on top of `base`.
pub fn apply_flag(knobs: &mut Knobs, flag: &str, value: &str) -> Result<bool, String> {
    let number = || {
        value
            .parse::<u64>()
            .map_err(|_| format!("{flag} needs a whole number, got {value:?}"))
    };
    let count = || {
        value
            .parse::<u32>()
            .map_err(|_| format!("{flag} needs a whole number, got {value:?}"))
    };
    let all = &mut knobs.all;
    match flag {
        "--latency-ms" => all.latency_ms = number()?,
        "--mid-body-delay-ms" => all.mid_body_delay_ms = number()?,
        "--fail-first" => all.fail_first = count()?,
        "--truncate-first" => all.truncate_first = count()?,
        "--hang-first" => all.hang_first = count()?,
        "--not-ready-secs" => all.not_ready_secs = number()?,
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_planned_in_the_order_hang_fail_not_ready_truncate() {
        let f = FaultSet {
            hang_first: 1,
            fail_first: 2,
            truncate_first: 3,
            not_ready_secs: 0,
            ..Default::default()
        };
        assert_eq!(f.plan(1, 0), AttemptPlan::Hang);
        assert_eq!(f.plan(2, 0), AttemptPlan::Fail);
        assert_eq!(f.plan(3, 0), AttemptPlan::Serve { truncate: true });
        assert_eq!(f.plan(4, 0), AttemptPlan::Serve { truncate: false });
    }

    #[test]
    fn not_ready_lasts_its_seconds() {
        let f = FaultSet {
            not_ready_secs: 5,
            ..Default::default()
        };
        assert_eq!(f.plan(1, 4), AttemptPlan::NotReady);
        assert_eq!(f.plan(1, 5), AttemptPlan::Serve { truncate: false });
    }

    #[test]
    fn a_call_entry_replaces_the_global_set() {
        let json = r#"{"latency_ms": 5, "calls": {"CAx": {"fail_first": 2}}}"#;
        let k: Knobs = serde_json::from_str(json).unwrap();
        assert_eq!(k.for_call("CAy").latency_ms, 5);
        assert_eq!(k.for_call("CAx").latency_ms, 0);
        assert_eq!(k.for_call("CAx").fail_first, 2);
    }

    #[test]
    fn unknown_knobs_are_refused() {
        assert!(serde_json::from_str::<Knobs>(r#"{"latency": 5}"#).is_err());
    }
}
