//! Fault knobs: how the origin misbehaves, set at start (flags or
//! `STUB_KNOBS`) and at run time (`POST /__knobs`).
//!
//! A `FaultSet` applies to every call, unless `calls` has an entry for that
//! call's SID, which then applies instead. Attempts (requests of the
//! recording route) are counted per call from the last stats reset,
//! starting at 1; each `*_first` knob affects the attempts numbered up to
//! its value. An attempt's plan is checked in the order hang, fail,
//! throttle, not ready, serve.
//!
//! - `hang_first`: never answer. `fail_first`: 500.
//! - `throttle_first`: `throttle_status` (429 when 0; any 400–599) with
//!   `Retry-After: retry_after_secs`, or, with `retry_after_as_date`, the
//!   HTTP date now + that many seconds, rounded up to a whole second.
//! - `not_ready_secs`: 404 `not_ready` for that long after the knobs were set;
//!   `not_ready_first`: 404 `not_ready` to the first N attempts.
//! - Serving: `latency_ms` before the headers; `redirect_hops` > 0 answers
//!   302 to the unauthenticated media route (`/media/{bid}/{sid}?hop=1`, on
//!   the media host), which redirects `hop` by `hop` until `hop ==
//!   redirect_hops` and then serves the body. The body: `empty_body` sends
//!   `Content-Length: 0` and nothing; `gzip_when_asked` gzips it (with
//!   `Content-Encoding` and the compressed `Content-Length`) when the
//!   request's `Accept-Encoding` lists gzip; `chunked` leaves out
//!   `Content-Length` (chunked transfer encoding); `truncate_first` sends
//!   only half and then breaks the connection (no clean end of body, also
//!   when chunked); `mid_body_delay_ms` pauses once at half;
//!   `bytes_per_second` paces the body (a slow origin link); `lying_header`
//!   sends a WAV whose header gives a chunk a length that wraps 32-bit
//!   offsets (a corrupted file, stored as it is, with no peaks).
//! - `hidden_from_list` (not per call): SIDs the call list leaves out.
//! - `list_latency_ms` (not per call): each page of the call list waits
//!   this long before it is answered (a slow list API).
//! - `list_fails` (not per call): every page of the call list answers 500
//!   (a list API that is down) while recordings are still served.
//!
//! In Twilio's dialect (`twilio.rs`) the knobs above apply to a
//! recording's media (`…/Recordings/{RE}.wav`): its call's fault set
//! applies, attempts are counted per recording SID, a throttled answer is
//! 429 with code 20429 and `Retry-After` only when `retry_after_secs` > 0,
//! and not ready is 404 with code 20404. The list knobs apply to
//! `Calls.json`. These apply to that dialect only (none per call):
//! - `twilio_media_direct`: media is served 200 on the API host instead of
//!   302 to the media host (unless `redirect_hops` > 0).
//! - `twilio_media_auth`: media on the API host needs HTTP Basic
//!   credentials that reach its account (401 with code 20003 without);
//!   off, it needs none, as Twilio's default.
//! - `processing_secs` (3 unless set): how long a `processing` recording
//!   stays so after anyone first asked for it or its call's recordings.
//! - `deleted_recordings`: recording SIDs deleted (soft): gone from their
//!   call's list, 404 with code 20404 for metadata and media.

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
    /// Answer 404 ("not ready yet") to the first N attempts.
    pub not_ready_first: u32,
    /// Answer `throttle_status` with `Retry-After` to the first N attempts.
    pub throttle_first: u32,
    /// The throttling status: 0 means 429; otherwise 400–599 (e.g. 503).
    #[serde(deserialize_with = "throttle_status")]
    pub throttle_status: u16,
    /// The `Retry-After` of a throttled answer, in seconds.
    pub retry_after_secs: u64,
    /// Send `Retry-After` as an HTTP date (now + `retry_after_secs`) instead of seconds.
    pub retry_after_as_date: bool,
    /// Redirect (302) this many times, via the media host, before serving the body.
    pub redirect_hops: u32,
    /// Gzip the body when the request's `Accept-Encoding` lists gzip.
    pub gzip_when_asked: bool,
    /// Send the body without `Content-Length` (chunked transfer encoding).
    pub chunked: bool,
    /// Answer 200 with `Content-Length: 0` and no body (a zero-length recording).
    pub empty_body: bool,
    /// Send the body at this many bytes per second (0: as fast as possible).
    pub bytes_per_second: u64,
    /// Send a WAV whose header lies: a chunk length that wraps 32-bit
    /// offsets back to an earlier chunk (`audio::LYING_CHUNK_LEN`).
    pub lying_header: bool,
}

fn throttle_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let status = u16::deserialize(d)?;
    if status == 0 || (400..=599).contains(&status) {
        Ok(status)
    } else {
        Err(serde::de::Error::custom(format!(
            "throttle_status must be 0 (429) or 400-599, got {status}"
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    #[serde(flatten)]
    pub all: FaultSet,
    /// Per-call fault sets, by SID, that replace `all` for that call.
    pub calls: BTreeMap<String, FaultSet>,
    /// Calls (SIDs) the call list leaves out while the recording route still
    /// serves them: a call the origin has not listed yet.
    pub hidden_from_list: Vec<String>,
    /// Each call list page waits this long before its answer.
    pub list_latency_ms: u64,
    /// Every call list page answers 500.
    pub list_fails: bool,
    /// Twilio: media answers 200 on the API host rather than 302 to the media host.
    pub twilio_media_direct: bool,
    /// Twilio: media on the API host needs Basic credentials.
    pub twilio_media_auth: bool,
    /// Twilio: seconds a `processing` recording takes to complete, from the first request for it.
    pub processing_secs: u64,
    /// Twilio: recording SIDs (`RE…`) that are deleted.
    pub deleted_recordings: Vec<String>,
}

/// A `processing` recording's seconds unless the knobs say otherwise.
pub const DEFAULT_PROCESSING_SECS: u64 = 3;

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            all: FaultSet::default(),
            calls: BTreeMap::new(),
            hidden_from_list: Vec::new(),
            list_latency_ms: 0,
            list_fails: false,
            twilio_media_direct: false,
            twilio_media_auth: false,
            processing_secs: DEFAULT_PROCESSING_SECS,
            deleted_recordings: Vec::new(),
        }
    }
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
    /// Answer `status` with a `Retry-After` of `retry_after_secs`.
    Throttle {
        status: u16,
    },
    NotReady,
    Serve {
        truncate: bool,
    },
}

impl FaultSet {
    pub fn plan(&self, attempt: u32, secs_since_set: u64) -> AttemptPlan {
        if attempt <= self.hang_first {
            AttemptPlan::Hang
        } else if attempt <= self.fail_first {
            AttemptPlan::Fail
        } else if attempt <= self.throttle_first {
            AttemptPlan::Throttle {
                status: self.throttle_status(),
            }
        } else if secs_since_set < self.not_ready_secs || attempt <= self.not_ready_first {
            AttemptPlan::NotReady
        } else {
            AttemptPlan::Serve {
                truncate: attempt <= self.truncate_first,
            }
        }
    }

    /// The status of a throttled answer: `throttle_status`, or 429 when unset.
    pub fn throttle_status(&self) -> u16 {
        if (400..=599).contains(&self.throttle_status) {
            self.throttle_status
        } else {
            429
        }
    }
}

/// Flags that take no value (they switch a knob on).
pub fn is_switch(flag: &str) -> bool {
    matches!(
        flag,
        "--chunked"
            | "--gzip-when-asked"
            | "--empty-body"
            | "--retry-after-as-date"
            | "--list-fails"
            | "--lying-header"
            | "--twilio-media-direct"
            | "--twilio-media-auth"
    )
}

/// Parses one of the command line's knob flags into `knobs`; `Ok(false)`
/// when `flag` is not a knob. A switch (see [`is_switch`]) takes `true` or
/// `false` as its value.
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
    let switch = || match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{flag} takes true or false, got {value:?}")),
    };
    let all = &mut knobs.all;
    match flag {
        "--list-latency-ms" => knobs.list_latency_ms = number()?,
        "--list-fails" => knobs.list_fails = switch()?,
        "--twilio-media-direct" => knobs.twilio_media_direct = switch()?,
        "--twilio-media-auth" => knobs.twilio_media_auth = switch()?,
        "--processing-secs" => knobs.processing_secs = number()?,
        "--latency-ms" => all.latency_ms = number()?,
        "--mid-body-delay-ms" => all.mid_body_delay_ms = number()?,
        "--fail-first" => all.fail_first = count()?,
        "--truncate-first" => all.truncate_first = count()?,
        "--hang-first" => all.hang_first = count()?,
        "--not-ready-secs" => all.not_ready_secs = number()?,
        "--not-ready-first" => all.not_ready_first = count()?,
        "--throttle-first" => all.throttle_first = count()?,
        "--throttle-status" => {
            all.throttle_status = value
                .parse::<u16>()
                .ok()
                .filter(|s| *s == 0 || (400..=599).contains(s))
                .ok_or_else(|| format!("{flag} needs 0 or a status 400-599, got {value:?}"))?
        }
        "--retry-after-secs" => all.retry_after_secs = number()?,
        "--retry-after-as-date" => all.retry_after_as_date = switch()?,
        "--redirect-hops" => all.redirect_hops = count()?,
        "--chunked" => all.chunked = switch()?,
        "--gzip-when-asked" => all.gzip_when_asked = switch()?,
        "--empty-body" => all.empty_body = switch()?,
        "--bytes-per-second" => all.bytes_per_second = number()?,
        "--lying-header" => all.lying_header = switch()?,
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
        let counted = FaultSet {
            not_ready_first: 2,
            ..Default::default()
        };
        assert_eq!(counted.plan(2, 99), AttemptPlan::NotReady);
        assert_eq!(counted.plan(3, 0), AttemptPlan::Serve { truncate: false });
    }

    #[test]
    fn throttling_comes_after_fail_and_before_not_ready() {
        let f = FaultSet {
            fail_first: 1,
            throttle_first: 2,
            not_ready_secs: 5,
            ..Default::default()
        };
        assert_eq!(f.plan(1, 0), AttemptPlan::Fail);
        assert_eq!(f.plan(2, 0), AttemptPlan::Throttle { status: 429 });
        assert_eq!(f.plan(3, 0), AttemptPlan::NotReady);
        assert_eq!(f.plan(3, 5), AttemptPlan::Serve { truncate: false });
        let f = FaultSet {
            throttle_first: 1,
            throttle_status: 503,
            ..Default::default()
        };
        assert_eq!(f.plan(1, 0), AttemptPlan::Throttle { status: 503 });
    }

    #[test]
    fn a_throttle_status_outside_4xx_5xx_is_refused() {
        let k: Knobs = serde_json::from_str(r#"{"throttle_status": 503}"#).unwrap();
        assert_eq!(k.all.throttle_status(), 503);
        let k: Knobs = serde_json::from_str(r#"{"throttle_first": 1}"#).unwrap();
        assert_eq!(k.all.throttle_status(), 429);
        assert!(serde_json::from_str::<Knobs>(r#"{"throttle_status": 200}"#).is_err());
        assert!(serde_json::from_str::<Knobs>(r#"{"throttle_status": 70000}"#).is_err());
    }

    #[test]
    fn flags_set_the_new_knobs() {
        let mut k = Knobs::default();
        for (flag, value) in [
            ("--throttle-first", "2"),
            ("--throttle-status", "503"),
            ("--retry-after-secs", "7"),
            ("--retry-after-as-date", "true"),
            ("--redirect-hops", "3"),
            ("--chunked", "true"),
            ("--gzip-when-asked", "1"),
            ("--empty-body", "true"),
        ] {
            assert_eq!(apply_flag(&mut k, flag, value), Ok(true), "{flag}");
        }
        let want = FaultSet {
            throttle_first: 2,
            throttle_status: 503,
            retry_after_secs: 7,
            retry_after_as_date: true,
            redirect_hops: 3,
            chunked: true,
            gzip_when_asked: true,
            empty_body: true,
            ..Default::default()
        };
        assert_eq!(k.all, want);
        assert!(apply_flag(&mut k, "--chunked", "maybe").is_err());
        assert!(apply_flag(&mut k, "--throttle-status", "200").is_err());
        assert_eq!(apply_flag(&mut k, "--chunky", "1"), Ok(false));
        assert!(is_switch("--chunked") && !is_switch("--redirect-hops"));
        assert!(is_switch("--list-fails"));
        assert_eq!(apply_flag(&mut k, "--list-fails", "true"), Ok(true));
        assert!(k.list_fails);
    }

    #[test]
    fn twilio_knobs_default_to_a_3_second_processing_and_take_flags() {
        let k: Knobs = serde_json::from_str("{}").unwrap();
        assert_eq!(k, Knobs::default());
        assert_eq!(k.processing_secs, DEFAULT_PROCESSING_SECS);
        assert!(!k.twilio_media_direct && !k.twilio_media_auth);
        let mut k = Knobs::default();
        assert!(is_switch("--twilio-media-direct") && is_switch("--twilio-media-auth"));
        assert_eq!(
            apply_flag(&mut k, "--twilio-media-direct", "true"),
            Ok(true)
        );
        assert_eq!(apply_flag(&mut k, "--twilio-media-auth", "1"), Ok(true));
        assert_eq!(apply_flag(&mut k, "--processing-secs", "0"), Ok(true));
        assert!(apply_flag(&mut k, "--processing-secs", "soon").is_err());
        assert!(k.twilio_media_direct && k.twilio_media_auth);
        assert_eq!(k.processing_secs, 0);
        let json = r#"{"deleted_recordings": ["RE1"], "processing_secs": 9}"#;
        let k: Knobs = serde_json::from_str(json).unwrap();
        assert_eq!(
            (k.deleted_recordings, k.processing_secs),
            (vec!["RE1".to_owned()], 9)
        );
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
