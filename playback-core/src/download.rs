//! The state machine of one recording's download, as its Durable Object
//! (one per `(business, call_sid)`) runs it: events in, the next state and
//! the effects to apply out. The shell stores the state and arms the alarm
//! it asks for in one atomic write, before applying any effect that awaits.
//!
//! ```text
//! none ──play (admitted)──▶ queued ──slot──▶ downloading ──ok──▶ ready
//!                             ▲                  │ 5xx, 429, timeout, cut body, lease lost
//!                             └── retry_wait ◀───┘ (attempt < MAX_ATTEMPTS)
//!                                 downloading ──last attempt fails / 401──▶ failed (FAILED_COOLDOWN_MS)
//!                                 downloading ──origin 404──▶ not_found ──NOT_FOUND_TTL_MS──▶ forgotten
//!                             queued ──queue full──▶ busy ──its time──▶ forgotten
//! ```
//!
//! Rules that hold by construction:
//! - A play starts a download only from `none` (or `failed` / `not_found` /
//!   `busy` after their time), and only once the business admitted it (the
//!   agent's budget, the queue bound); from `ready` only when the shell
//!   looked in R2 and the object is really gone.
//! - Every attempt looks in R2 before it asks the origin, so a recording
//!   that is stored is never downloaded again, whatever raced; except a
//!   fresh one (`Queued::fresh`): a play queued the call right after R2
//!   was seen without it, and no attempt (the only writer of its key) ran
//!   since. An interrupted or retried attempt always looks.
//! - An attempt holds a slot lease named by its grant id; it releases that
//!   grant and no other.
//! - A request that finds `queued` or `retry_wait` without an alarm arms
//!   one, so a lost alarm never leaves a call waiting forever.
//!
//! Slots: the alarm of a `queued` call asks the business object for one.
//! When none is free, the business keeps the call in its queue and holds
//! the request open, answering it with the lease of the next download that
//! ends; a call whose request was not held (after a hold ran out, or a
//! restart) is woken instead, and its alarm asks again.

use serde::{Deserialize, Serialize};

use crate::admission::{Admission, Refusal};
use crate::retry::{MAX_ORIGIN_RETRY_AFTER_MS, ORIGIN_RETRY};
use crate::wire::{AcceptedBody, StatusBody, WireStatus};
use crate::CallSid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    None,
    /// Waiting for a slot; `attempts` were made before. `fresh`: no attempt
    /// ran since R2 was seen without the recording (the play that queued
    /// it missed there, and only this call's attempts write its key), so
    /// the next attempt neither looks in R2 nor clears pieces of older fills.
    Queued {
        attempts: u32,
        since_ms: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fresh: bool,
    },
    /// Attempt number `attempt` is running on the slot lease `grant`.
    Downloading {
        attempt: u32,
        started_ms: u64,
        #[serde(default)]
        grant: u64,
    },
    /// Attempt `attempt` failed transiently; the next one may start at `next_at_ms`.
    RetryWait {
        attempt: u32,
        next_at_ms: u64,
        last_error: String,
    },
    Ready {
        size: u64,
    },
    Failed {
        at_ms: u64,
        error: String,
        attempts: u32,
    },
    NotFound {
        at_ms: u64,
    },
    /// The business's queue was full when this call asked for a slot.
    Busy {
        until_ms: u64,
    },
    /// The provider (Twilio) is still processing the call's recording:
    /// asked again at `next_at_ms`, without a slot. `checks` asks so far;
    /// `attempts` as in `Queued`.
    AwaitingProvider {
        since_ms: u64,
        next_at_ms: u64,
        checks: u32,
        #[serde(default)]
        attempts: u32,
    },
    /// The call has no recording to play (none, or only absent or deleted
    /// ones): answered 404 `no_recording` until `NOT_FOUND_TTL_MS` passes.
    NoRecording {
        at_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadPolicy {
    pub max_attempts: u32,
    /// How long a slot lease lasts (`SLOT_LEASE_MS`).
    pub slot_lease_ms: u64,
    pub failed_cooldown_ms: u64,
    pub not_found_ttl_ms: u64,
    /// How long one attempt may run (`DOWNLOAD_TIMEOUT_MS`).
    pub download_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// (Re)arm the object's alarm.
    SetAlarm { at_ms: u64 },
    /// Ask the business object for a slot; `look`: look in R2 meanwhile.
    AcquireSlot { look: bool },
    /// Ask the provider which recordings the call has (one request), then
    /// apply [`on_resolved`]; no slot is asked for before it answers.
    Resolve,
    /// Forget which recording plays (in the step's own atomic write): a
    /// new download asks the provider again, so a recording deleted or
    /// replaced there since is seen.
    Unresolve,
    /// Look in R2 (unless `fresh`), then (on a miss) fetch from the origin
    /// into R2, holding the lease `grant` that the business confirmed until
    /// `expires_ms`. A `fresh` attempt also leaves older fills' pieces alone:
    /// only an attempt that died with its instance leaves any behind.
    StartAttempt {
        attempt: u32,
        grant: u64,
        expires_ms: u64,
        fresh: bool,
    },
    /// Give the lease `grant` back.
    ReleaseSlot { grant: u64 },
    /// Answer the play requests held open for this recording.
    NotifyWaiters,
    /// Delete everything this object stored (a call that does not exist, or
    /// was refused, keeps no storage past its time).
    Forget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: CallState,
    pub effects: Vec<Effect>,
}

impl CallState {
    /// A call waiting for a slot after `attempts` attempts.
    pub fn queued(attempts: u32, since_ms: u64) -> CallState {
        CallState::Queued {
            attempts,
            since_ms,
            fresh: false,
        }
    }

    /// A call a play queued after R2 was seen without its recording.
    pub fn fresh(since_ms: u64) -> CallState {
        CallState::Queued {
            attempts: 0,
            since_ms,
            fresh: true,
        }
    }

    /// The name of the state, as logged.
    pub fn name(&self) -> &'static str {
        match self {
            CallState::None => "none",
            CallState::Queued { .. } => "queued",
            CallState::Downloading { .. } => "downloading",
            CallState::RetryWait { .. } => "retry_wait",
            CallState::Ready { .. } => "ready",
            CallState::Failed { .. } => "failed",
            CallState::NotFound { .. } => "not_found",
            CallState::Busy { .. } => "busy",
            CallState::AwaitingProvider { .. } => "awaiting_provider",
            CallState::NoRecording { .. } => "no_recording",
        }
    }

    /// Whether a play may start a new download from here (once admitted).
    pub fn startable(&self, now: u64, p: &DownloadPolicy) -> bool {
        match *self {
            CallState::None => true,
            CallState::Failed { at_ms, .. } => now >= at_ms + p.failed_cooldown_ms,
            CallState::NotFound { at_ms } | CallState::NoRecording { at_ms } => {
                now >= at_ms + p.not_found_ttl_ms
            }
            CallState::Busy { until_ms } => now >= until_ms,
            _ => false,
        }
    }
}

impl Step {
    fn stay(state: &CallState) -> Step {
        Step {
            state: state.clone(),
            effects: vec![],
        }
    }

    fn to(state: CallState, effects: Vec<Effect>) -> Step {
        Step { state, effects }
    }
}

/// Why an attempt failed, in the words players are told (the `error` of a
/// `failed` answer or status). Never an origin's or the runtime's own words:
/// those are the outcome's `detail`, which only the log line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 or 5xx.
    OriginUnavailable,
    OriginUnreachable,
    /// Another 4xx.
    OriginRejected,
    TimedOut,
    CutOff,
    NotStored,
    LeaseLost,
    TooLarge,
    TooManyRedirects,
    /// The origin's 404 for a recording its list says is complete.
    NotYetAtOrigin,
}

impl Failure {
    pub fn message(self) -> &'static str {
        match self {
            Failure::OriginUnavailable => "the recording store is unavailable",
            Failure::OriginUnreachable => "the recording store could not be reached",
            Failure::OriginRejected => "the recording store refused the request",
            Failure::TimedOut => "the download timed out",
            Failure::CutOff => "the download was cut off",
            Failure::NotStored => "the recording could not be stored",
            Failure::LeaseLost => "the download lost its slot",
            Failure::TooLarge => "the recording is larger than the edge stores",
            Failure::TooManyRedirects => "the recording store redirected too often",
            Failure::NotYetAtOrigin => "the recording store does not have the recording yet",
        }
    }
}

/// How one origin attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Stored {
        size: u64,
    },
    OriginNotFound,
    /// 401/403: the origin refused the edge's credentials. Retrying cannot help.
    OriginRefused,
    /// Retrying cannot help (another 4xx, too large, too many redirects).
    Permanent {
        failure: Failure,
        detail: String,
    },
    /// 5xx, 429, timeout, connection error, a body cut short or of the wrong
    /// length, a lost lease; `retry_after_ms` when the origin said how long
    /// to wait (429/503 with `Retry-After`).
    Transient {
        failure: Failure,
        detail: String,
        retry_after_ms: Option<u64>,
    },
}

impl AttemptOutcome {
    /// A transient failure; `detail` goes to the log only.
    pub fn transient(failure: Failure, detail: impl Into<String>) -> AttemptOutcome {
        AttemptOutcome::Transient {
            failure,
            detail: detail.into(),
            retry_after_ms: None,
        }
    }

    /// A permanent failure; `detail` goes to the log only.
    pub fn permanent(failure: Failure, detail: impl Into<String>) -> AttemptOutcome {
        AttemptOutcome::Permanent {
            failure,
            detail: detail.into(),
        }
    }

    /// What the attempt computed from the recording's bytes (its peaks),
    /// kept only with a stored recording: an attempt whose write failed after
    /// the body was read leaves nothing of it beside the state that follows.
    pub fn keeps<T>(&self, computed: Option<T>) -> Option<T> {
        match self {
            AttemptOutcome::Stored { .. } => computed,
            _ => None,
        }
    }
}

/// What an origin answer's status means for the attempt: `None` for 200
/// (read the body), otherwise how the attempt ended. `retry_after_ms` is
/// the answer's `Retry-After`, already read (see `retry::parse_retry_after`).
///
/// `not_yet`: a 404 means "not there yet" (retried like a 5xx), not "no
/// such recording" (`origin_url::NotFound`).
pub fn classify_origin_status(
    status: u16,
    retry_after_ms: Option<u64>,
    not_yet: bool,
) -> Option<AttemptOutcome> {
    let detail = format!("origin answered {status}");
    match status {
        200 => None,
        404 if not_yet => Some(AttemptOutcome::transient(Failure::NotYetAtOrigin, detail)),
        404 => Some(AttemptOutcome::OriginNotFound),
        401 | 403 => Some(AttemptOutcome::OriginRefused),
        429 | 500..=599 => Some(AttemptOutcome::Transient {
            failure: Failure::OriginUnavailable,
            detail,
            retry_after_ms: retry_after_ms.map(|ms| ms.min(MAX_ORIGIN_RETRY_AFTER_MS)),
        }),
        _ => Some(AttemptOutcome::permanent(Failure::OriginRejected, detail)),
    }
}

/// How many redirects an origin answer may take (to a signed media URL, say).
pub const MAX_ORIGIN_REDIRECTS: u32 = 3;

/// Told to players when the origin refuses the edge's credentials (the log
/// says more: check `ORIGIN_TOKEN`).
pub const REFUSED_ERROR: &str = "the recording store refused the edge's credentials";

/// What a play request must learn before the machine can decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayCheck {
    Nothing,
    /// `ready`: whether R2 still has the object.
    Store,
    /// A new download would start: whether the business admits it.
    Admission,
}

pub fn play_check(state: &CallState, now: u64, p: &DownloadPolicy) -> PlayCheck {
    match state {
        CallState::Ready { .. } => PlayCheck::Store,
        s if s.startable(now, p) => PlayCheck::Admission,
        _ => PlayCheck::Nothing,
    }
}

/// What the shell learnt for a play (see [`play_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayFact {
    Nothing,
    Stored(bool),
    Admission(Admission),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayInput {
    pub now: u64,
    /// This object instance runs an attempt right now (false after a restart).
    pub running_here: bool,
    /// An alarm will run for the object: one is set, or its alarm's handler
    /// is in flight (waiting for a slot or running the attempt), which the
    /// runtime runs again if the instance dies before the handler ends.
    pub alarm_set: bool,
    pub fact: PlayFact,
}

/// A play request that missed R2 reached the call object.
pub fn on_play(state: &CallState, input: PlayInput, p: &DownloadPolicy) -> Step {
    let now = input.now;
    // The frontend (or, for `ready`, this object) has just seen R2 without
    // the recording, and no attempt runs from these states.
    let start = || {
        Step::to(
            CallState::fresh(now),
            vec![Effect::Unresolve, Effect::SetAlarm { at_ms: now }],
        )
    };
    match *state {
        // Gone from R2 (deleted by hand): download again; the attempt looks in R2 first.
        CallState::Ready { .. } if input.fact == PlayFact::Stored(false) => start(),
        CallState::Ready { .. } => Step::stay(state),
        _ if state.startable(now, p) => match input.fact {
            PlayFact::Admission(Admission::Admitted) => start(),
            _ => Step::stay(state),
        },
        // An attempt recorded as running that no instance runs died with a restart: resume it now.
        CallState::Downloading { .. } if !input.running_here => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: now }])
        }
        // A lost alarm (or one never written) would leave the call waiting forever.
        CallState::Queued { .. } if !input.alarm_set => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: now }])
        }
        // So would a lost alarm of a call waiting for the provider.
        CallState::RetryWait { next_at_ms, .. }
        | CallState::AwaitingProvider { next_at_ms, .. }
            if !input.alarm_set =>
        {
            Step::to(
                state.clone(),
                vec![Effect::SetAlarm {
                    at_ms: next_at_ms.max(now),
                }],
            )
        }
        _ => Step::stay(state),
    }
}

/// Whether the shell runs, at once and in the play's own request, the alarm
/// a play's `step` arms: when that alarm is due now and no alarm's handler
/// (or such a run) is in flight in this instance (`in_flight`). Waiting for
/// the runtime to deliver it would put the whole backlog of the runtime's
/// one thread (a burst of clicks being taken in) between a click and its
/// acquire. The alarm stays set: an instance that dies before the runtime
/// delivers it still has it run on the restarted runtime, and once
/// delivered, its handler joins the run in flight (ending with it), so a
/// restart after that runs the alarm again as for any handler.
pub fn runs_alarm_at_once(step: &Step, now: u64, in_flight: bool) -> bool {
    !in_flight
        && step
            .effects
            .iter()
            .any(|e| matches!(e, Effect::SetAlarm { at_ms } if *at_ms <= now))
}

/// The object's alarm fired. An acquire is asked, and its attempt run, in
/// this alarm's handler: the runtime delivers an alarm at least once, so if
/// the instance dies before the handler ends (while the business holds the
/// acquire, or while the attempt runs) the runtime runs the alarm again,
/// and the new instance asks again or resumes the attempt. No alarm of the
/// object's own is written for that (README, "Choices worth knowing").
///
/// `unresolved`: the call's recording is not known yet (Twilio: which of
/// the call's recordings plays); it is asked for first ([`Effect::Resolve`]).
pub fn on_alarm(
    state: &CallState,
    now: u64,
    running_here: bool,
    unresolved: bool,
    p: &DownloadPolicy,
) -> Step {
    if running_here {
        // A duplicate alarm while the attempt runs: nothing to do.
        return Step::stay(state);
    }
    // A call whose attempts may have written R2 looks there while it waits.
    let acquire = |look| match unresolved {
        true => vec![Effect::Resolve],
        false => vec![Effect::AcquireSlot { look }],
    };
    match *state {
        CallState::Queued { fresh, .. } => Step::to(state.clone(), acquire(!fresh)),
        CallState::AwaitingProvider { next_at_ms, .. } if now >= next_at_ms => {
            Step::to(state.clone(), vec![Effect::Resolve])
        }
        CallState::AwaitingProvider { next_at_ms, .. } => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: next_at_ms }])
        }
        // The instance that ran this attempt is gone; the interrupted attempt
        // does not count, but its write may have landed and its pieces stay.
        CallState::Downloading { attempt, .. } => Step::to(
            CallState::queued(attempt.saturating_sub(1), now),
            acquire(true),
        ),
        // A write that reported a failure may still have stored the recording.
        CallState::RetryWait {
            attempt,
            next_at_ms,
            ..
        } if now >= next_at_ms => Step::to(CallState::queued(attempt, now), acquire(true)),
        CallState::RetryWait { next_at_ms, .. } => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: next_at_ms }])
        }
        CallState::NotFound { at_ms } | CallState::NoRecording { at_ms }
            if now < at_ms + p.not_found_ttl_ms =>
        {
            Step::to(
                state.clone(),
                vec![Effect::SetAlarm {
                    at_ms: at_ms + p.not_found_ttl_ms,
                }],
            )
        }
        CallState::Busy { until_ms } if now < until_ms => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: until_ms }])
        }
        CallState::NotFound { .. } | CallState::NoRecording { .. } | CallState::Busy { .. } => {
            Step::to(CallState::None, vec![Effect::Forget])
        }
        _ => Step::stay(state),
    }
}

/// What the provider said of the call's recordings ([`Effect::Resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A recording plays (the shell stores which with the step).
    Play,
    /// None is ready yet: the provider is still processing one.
    Processing,
    /// No recording, or only absent or deleted ones.
    NoRecording,
    /// The call itself is gone (the provider's 404).
    CallGone,
    /// The provider refused the edge's credentials.
    Refused,
    /// 429, 5xx, no answer: as a transient attempt failure.
    Transient {
        failure: Failure,
        retry_after_ms: Option<u64>,
    },
}

/// The provider asks for how often a recording it still processes is asked
/// about: after 1, 2, 4 … s, at most every 30 s, and given up (`failed`,
/// a later click asks again) after this many asks, about 10 minutes.
pub const MAX_PROVIDER_CHECKS: u32 = 24;
const PROVIDER_CHECK_BASE_MS: u64 = 1_000;
const PROVIDER_CHECK_CAP_MS: u64 = 30_000;
/// Told to players when the provider is still processing the recording.
pub const PROVIDER_PROCESSING_ERROR: &str = "the provider is still processing this recording";

/// How long after ask number `checks` (from 1) the provider is asked again.
pub fn provider_check_after_ms(checks: u32) -> u64 {
    PROVIDER_CHECK_BASE_MS
        .saturating_mul(1u64 << checks.saturating_sub(1).min(16))
        .min(PROVIDER_CHECK_CAP_MS)
}

/// The provider answered the call's [`Effect::Resolve`]. Only a call
/// waiting to download (`queued`) or for the provider (`awaiting_provider`)
/// takes it; no slot is held at either. `unit` in `[0, 1)` for the jitter.
pub fn on_resolved(
    state: &CallState,
    resolved: Resolved,
    now: u64,
    unit: f64,
    p: &DownloadPolicy,
) -> Step {
    let (attempts, checks, fresh) = match *state {
        CallState::Queued {
            attempts, fresh, ..
        } => (attempts, 0, fresh),
        CallState::AwaitingProvider {
            attempts, checks, ..
        } => (attempts, checks, false),
        _ => return Step::stay(state),
    };
    let notify = |state, mut effects: Vec<Effect>| {
        effects.insert(0, Effect::NotifyWaiters);
        Step::to(state, effects)
    };
    let failed = |error: &str, attempts| {
        notify(
            CallState::Failed {
                at_ms: now,
                error: error.to_owned(),
                attempts,
            },
            vec![],
        )
    };
    match resolved {
        Resolved::Play => Step::to(
            CallState::Queued {
                attempts,
                since_ms: now,
                fresh,
            },
            vec![Effect::AcquireSlot { look: !fresh }],
        ),
        // A failed ask while the provider processes: one more check, so
        // the bound on the wait stays the same.
        Resolved::Transient { retry_after_ms, .. } if checks > 0 => {
            let wait = provider_check_after_ms(checks + 1)
                .max(retry_after_ms.unwrap_or(0).min(MAX_ORIGIN_RETRY_AFTER_MS));
            on_resolved_processing(state, now, checks, attempts, wait)
        }
        Resolved::Processing => on_resolved_processing(
            state,
            now,
            checks,
            attempts,
            provider_check_after_ms(checks + 1),
        ),
        Resolved::NoRecording => notify(
            CallState::NoRecording { at_ms: now },
            vec![Effect::SetAlarm {
                at_ms: now + p.not_found_ttl_ms,
            }],
        ),
        Resolved::CallGone => notify(
            CallState::NotFound { at_ms: now },
            vec![Effect::SetAlarm {
                at_ms: now + p.not_found_ttl_ms,
            }],
        ),
        Resolved::Refused => failed(REFUSED_ERROR, attempts),
        Resolved::Transient { failure, .. } if attempts + 1 >= p.max_attempts => {
            failed(failure.message(), attempts + 1)
        }
        Resolved::Transient {
            failure,
            retry_after_ms,
        } => {
            let attempt = attempts + 1;
            let backoff = ORIGIN_RETRY.equal_jitter_ms(attempt, unit);
            let wait = backoff.max(retry_after_ms.unwrap_or(0).min(MAX_ORIGIN_RETRY_AFTER_MS));
            let next_at_ms = now + wait;
            notify(
                CallState::RetryWait {
                    attempt,
                    next_at_ms,
                    last_error: failure.message().to_owned(),
                },
                vec![Effect::SetAlarm { at_ms: next_at_ms }],
            )
        }
    }
}

/// The provider is still processing: ask it again in `wait_ms`, without a
/// slot (check number `checks + 1`).
fn on_resolved_processing(
    state: &CallState,
    now: u64,
    checks: u32,
    attempts: u32,
    wait_ms: u64,
) -> Step {
    if checks + 1 >= MAX_PROVIDER_CHECKS {
        return Step::to(
            CallState::Failed {
                at_ms: now,
                error: PROVIDER_PROCESSING_ERROR.to_owned(),
                attempts,
            },
            vec![Effect::NotifyWaiters],
        );
    }
    let next_at_ms = now + wait_ms;
    let since_ms = match *state {
        CallState::AwaitingProvider { since_ms, .. } => since_ms,
        _ => now,
    };
    Step::to(
        CallState::AwaitingProvider {
            since_ms,
            next_at_ms,
            checks: checks + 1,
            attempts,
        },
        vec![
            Effect::NotifyWaiters,
            Effect::SetAlarm { at_ms: next_at_ms },
        ],
    )
}

/// The provider deleted the stored recording (its R2 copy is deleted
/// first): plays are 404 `no_recording` for `NOT_FOUND_TTL_MS`, then a
/// click asks the provider again.
pub fn on_recording_gone(state: &CallState, now: u64, p: &DownloadPolicy) -> Step {
    match state {
        CallState::Ready { .. } => Step::to(
            CallState::NoRecording { at_ms: now },
            vec![
                Effect::Unresolve,
                Effect::NotifyWaiters,
                Effect::SetAlarm {
                    at_ms: now + p.not_found_ttl_ms,
                },
            ],
        ),
        _ => Step::stay(state),
    }
}

/// The business object answered an acquire with the lease `grant`, which
/// runs until `expires_ms`. The attempt runs in the alarm's handler that
/// asked (see [`on_alarm`]): a restart resumes it even without a click.
pub fn on_slot_granted(
    state: &CallState,
    now: u64,
    running_here: bool,
    grant: u64,
    expires_ms: u64,
    p: &DownloadPolicy,
) -> Step {
    match *state {
        // The lease is the running attempt's own (acquire renews an owner's lease).
        _ if running_here => Step::stay(state),
        // An answer that took so long that its lease may be gone (a held
        // request answered long ago): ask again, which renews it if it is
        // still ours, so an attempt never starts on a lease it may not hold.
        CallState::Queued { .. } if expires_ms < now + p.slot_lease_ms / 2 => {
            Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: now }])
        }
        CallState::Queued {
            attempts, fresh, ..
        } => {
            let attempt = attempts + 1;
            Step::to(
                CallState::Downloading {
                    attempt,
                    started_ms: now,
                    grant,
                },
                vec![Effect::StartAttempt {
                    attempt,
                    grant,
                    expires_ms,
                    fresh,
                }],
            )
        }
        // A slot we no longer need (the state moved on): give it back.
        _ => Step::to(state.clone(), vec![Effect::ReleaseSlot { grant }]),
    }
}

/// The business object answered an acquire with a place in its queue,
/// after holding the request for its hold time without a slot freeing:
/// the alarm asks again at once (the call keeps its place), so the next
/// free slot is handed over on a held request.
pub fn on_slot_queued(state: &CallState, now: u64) -> Step {
    match state {
        CallState::Queued { .. } => Step::to(state.clone(), vec![Effect::SetAlarm { at_ms: now }]),
        _ => Step::stay(state),
    }
}

/// The business object refused an acquire: its queue is full.
pub fn on_slot_full(state: &CallState, now: u64, retry_after_ms: u64) -> Step {
    match state {
        CallState::Queued { .. } => {
            let until_ms = now + retry_after_ms;
            Step::to(
                CallState::Busy { until_ms },
                vec![Effect::NotifyWaiters, Effect::SetAlarm { at_ms: until_ms }],
            )
        }
        _ => Step::stay(state),
    }
}

/// The attempt on lease `grant` ended (its R2 write has ended too). `unit`
/// is a random number in `[0, 1)` for the jitter.
pub fn on_attempt_finished(
    state: &CallState,
    grant: u64,
    outcome: AttemptOutcome,
    now: u64,
    unit: f64,
    p: &DownloadPolicy,
) -> Step {
    let release = Effect::ReleaseSlot { grant };
    let CallState::Downloading { attempt, .. } = *state else {
        return Step::to(state.clone(), vec![release]);
    };
    let done = |state| Step::to(state, vec![release.clone(), Effect::NotifyWaiters]);
    let failed = |error: &str| {
        done(CallState::Failed {
            at_ms: now,
            error: error.to_owned(),
            attempts: attempt,
        })
    };
    match outcome {
        AttemptOutcome::Stored { size } => done(CallState::Ready { size }),
        AttemptOutcome::OriginNotFound => Step::to(
            CallState::NotFound { at_ms: now },
            vec![
                release,
                Effect::NotifyWaiters,
                Effect::SetAlarm {
                    at_ms: now + p.not_found_ttl_ms,
                },
            ],
        ),
        AttemptOutcome::OriginRefused => failed(REFUSED_ERROR),
        AttemptOutcome::Permanent { failure, .. } => failed(failure.message()),
        AttemptOutcome::Transient { failure, .. } if attempt >= p.max_attempts => {
            failed(failure.message())
        }
        AttemptOutcome::Transient {
            failure,
            retry_after_ms,
            ..
        } => {
            let backoff = ORIGIN_RETRY.equal_jitter_ms(attempt, unit);
            // Twilio's media can take seconds to appear after its recording
            // completed (it says: retry after 1–3 s).
            let backoff = match failure {
                Failure::NotYetAtOrigin => backoff.max(provider_check_after_ms(attempt)),
                _ => backoff,
            };
            let wait = backoff.max(retry_after_ms.unwrap_or(0).min(MAX_ORIGIN_RETRY_AFTER_MS));
            let next_at_ms = now + wait;
            Step::to(
                CallState::RetryWait {
                    attempt,
                    next_at_ms,
                    last_error: failure.message().to_owned(),
                },
                vec![release, Effect::SetAlarm { at_ms: next_at_ms }],
            )
        }
    }
}

/// What a play request that missed R2 is answered, given the state after `on_play`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum PlayAnswer {
    /// Serve from R2.
    Ready,
    /// Serve from the download in progress (its pieces so far, the rest as
    /// it lands): a cold play starts at the origin's first byte.
    Filling(crate::fill::FillView),
    Accepted(AcceptedBody),
    Failed {
        error: String,
        retry_after_ms: u64,
    },
    NotFound,
    /// 404 `no_recording`: the call has no recording to play.
    NoRecording,
    /// 429: the agent's budget or the business's queue.
    Refused {
        reason: Refusal,
        retry_after_ms: u64,
    },
}

impl PlayAnswer {
    /// The HTTP status the stream endpoint answers with (`Ready` is served
    /// from R2: 200, or 206/304/416 as the request's range asks).
    pub fn http_status(&self) -> u16 {
        match self {
            PlayAnswer::Ready | PlayAnswer::Filling(_) => 200,
            PlayAnswer::Accepted(_) => 202,
            PlayAnswer::Failed { .. } => 500,
            PlayAnswer::NotFound | PlayAnswer::NoRecording => 404,
            PlayAnswer::Refused { .. } => 429,
        }
    }
}

/// How long a play request may be held open waiting for its download to end.
pub const PLAY_HOLD_MS: u64 = 1_500;
/// When an alarm's handler failed, the alarm fires again this much later.
pub const ALARM_ERROR_RETRY_MS: u64 = 1_000;
/// What a `ready` call whose recording vanished from R2 between the call
/// object's answer and the frontend's read asks the client: come back soon.
pub const READY_BUT_GONE_RETRY_MS: u64 = 250;

/// Whether a play's step, from `before` to `after`, started a download
/// (the audit trail's `download_started`): the call was not on its way to
/// the origin, and now is (queued for a slot, downloading, or asking the
/// provider whether its recording is ready).
pub fn starts_download(before: &CallState, after: &CallState) -> bool {
    !is_under_way(before) && is_under_way(after)
}

/// Whether a download is on its way: queued for a slot, downloading,
/// waiting to retry, or asking the provider whether its recording is ready.
pub fn is_under_way(state: &CallState) -> bool {
    matches!(
        state,
        CallState::Queued { .. }
            | CallState::Downloading { .. }
            | CallState::RetryWait { .. }
            | CallState::AwaitingProvider { .. }
    )
}

/// Whether a play request waits (up to `PLAY_HOLD_MS`) for the download to
/// end before it is answered: while the call is queued or downloading.
pub fn holds_play(state: &CallState) -> bool {
    matches!(
        state,
        CallState::Queued { .. } | CallState::Downloading { .. } | CallState::RetryWait { .. }
    )
}

/// What a play learnt during an await, kept only if the call object's state
/// did not change meanwhile (`generation` counts its changes): a look-up
/// made before another request stored a new state says nothing about it.
pub fn fact_after_await(fact: PlayFact, generation_then: u64, generation_now: u64) -> PlayFact {
    if generation_then == generation_now {
        fact
    } else {
        PlayFact::Nothing
    }
}

/// The 202 for a `ready` call whose recording the frontend did not find.
pub fn ready_but_gone(call_sid: &CallSid) -> AcceptedBody {
    AcceptedBody::new(
        WireStatus::Processing,
        call_sid,
        READY_BUT_GONE_RETRY_MS,
        None,
    )
}

/// How long a client should wait before asking again.
pub fn retry_after_ms(
    state: &CallState,
    now: u64,
    queue_position: Option<u32>,
    p: &DownloadPolicy,
) -> u64 {
    match state {
        CallState::Queued { .. } => 500 + 250 * queue_position.unwrap_or(0).min(30) as u64,
        CallState::Downloading { .. } => 250,
        CallState::RetryWait { next_at_ms, .. } => next_at_ms.saturating_sub(now) + 250,
        CallState::Failed { at_ms, .. } => (at_ms + p.failed_cooldown_ms).saturating_sub(now),
        CallState::NotFound { at_ms } | CallState::NoRecording { at_ms } => {
            (at_ms + p.not_found_ttl_ms).saturating_sub(now)
        }
        CallState::Busy { until_ms } => until_ms.saturating_sub(now),
        CallState::AwaitingProvider { next_at_ms, .. } => next_at_ms.saturating_sub(now) + 250,
        CallState::None | CallState::Ready { .. } => 0,
    }
}

/// The answer to a play, from the state after [`on_play`] and what the
/// shell learnt for it.
pub fn play_answer(
    state: &CallState,
    call_sid: &CallSid,
    now: u64,
    queue_position: Option<u32>,
    fact: PlayFact,
    p: &DownloadPolicy,
) -> PlayAnswer {
    if state.startable(now, p) {
        match fact {
            PlayFact::Admission(Admission::Refused {
                reason,
                retry_after_ms,
            }) => {
                return PlayAnswer::Refused {
                    reason,
                    retry_after_ms,
                }
            }
            PlayFact::Admission(Admission::Unlisted) => return PlayAnswer::NotFound,
            _ => {}
        }
    }
    let retry_after_ms = retry_after_ms(state, now, queue_position, p);
    match state {
        CallState::Ready { .. } | CallState::None => PlayAnswer::Ready,
        CallState::Queued { .. } => PlayAnswer::Accepted(AcceptedBody::new(
            WireStatus::Queued,
            call_sid,
            retry_after_ms,
            queue_position,
        )),
        CallState::Downloading { .. } | CallState::RetryWait { .. } => PlayAnswer::Accepted(
            AcceptedBody::new(WireStatus::Processing, call_sid, retry_after_ms, None),
        ),
        CallState::Failed { error, .. } => PlayAnswer::Failed {
            error: error.clone(),
            retry_after_ms,
        },
        CallState::NotFound { .. } => PlayAnswer::NotFound,
        CallState::NoRecording { .. } => PlayAnswer::NoRecording,
        CallState::AwaitingProvider { .. } => PlayAnswer::Accepted(AcceptedBody::new(
            WireStatus::NotReady,
            call_sid,
            retry_after_ms,
            None,
        )),
        CallState::Busy { .. } => PlayAnswer::Refused {
            reason: Refusal::QueueFull,
            retry_after_ms,
        },
    }
}

/// A play's answer once the fill it waits on is known: a download whose
/// fill serves bytes is answered with the fill (the recording plays now),
/// never with a 202.
pub fn answer_with_fill(
    state: &CallState,
    answer: PlayAnswer,
    fill: Option<&crate::fill::FillView>,
) -> PlayAnswer {
    match fill {
        Some(view) if plays_from_fill(state, fill) => PlayAnswer::Filling(view.clone()),
        _ => answer,
    }
}

/// Whether a call plays from its fill now (so a play is not held).
pub fn plays_from_fill(state: &CallState, fill: Option<&crate::fill::FillView>) -> bool {
    matches!(state, CallState::Downloading { .. }) && fill.is_some_and(|v| v.serves())
}

/// The status of a download whose fill serves bytes: `ready`, with the
/// recording's size, so a polling player hands it to its media element.
pub fn status_with_fill(
    state: &CallState,
    mut body: StatusBody,
    fill: Option<&crate::fill::FillView>,
) -> StatusBody {
    if let Some(view) = fill.filter(|_| plays_from_fill(state, fill)) {
        body.status = WireStatus::Ready;
        body.size = Some(view.size);
        body.retry_after_ms = None;
        body.filling = true;
    }
    body
}

/// The status endpoint's answer for a state (the shell answers `ready`
/// itself when R2 has the object).
pub fn status_of(
    state: &CallState,
    call_sid: &CallSid,
    now: u64,
    queue_position: Option<u32>,
    p: &DownloadPolicy,
) -> StatusBody {
    let retry = retry_after_ms(state, now, queue_position, p);
    let mut body = StatusBody::new(WireStatus::None, call_sid);
    match state {
        CallState::None => {}
        CallState::Queued { attempts, .. } => {
            body.status = WireStatus::Queued;
            body.queue_position = queue_position;
            body.attempts = Some(*attempts);
            body.retry_after_ms = Some(retry);
        }
        CallState::Downloading { attempt, .. } => {
            body.status = WireStatus::Processing;
            body.attempts = Some(*attempt);
            body.retry_after_ms = Some(retry);
        }
        CallState::RetryWait {
            attempt,
            last_error,
            ..
        } => {
            body.status = WireStatus::Processing;
            body.attempts = Some(*attempt);
            body.error = Some(last_error.clone());
            body.retry_after_ms = Some(retry);
        }
        CallState::Ready { size } => {
            body.status = WireStatus::Ready;
            body.size = Some(*size);
        }
        CallState::Failed {
            at_ms,
            error,
            attempts,
        } if now < at_ms + p.failed_cooldown_ms => {
            body.status = WireStatus::Failed;
            body.error = Some(error.clone());
            body.attempts = Some(*attempts);
            body.retry_after_ms = Some(retry);
        }
        CallState::NotFound { at_ms } if now < at_ms + p.not_found_ttl_ms => {
            body.status = WireStatus::NotFound
        }
        CallState::NoRecording { at_ms } if now < at_ms + p.not_found_ttl_ms => {
            body.status = WireStatus::NoRecording
        }
        CallState::AwaitingProvider { checks, .. } => {
            body.status = WireStatus::NotReady;
            body.attempts = Some(*checks);
            body.error = Some(PROVIDER_PROCESSING_ERROR.into());
            body.retry_after_ms = Some(retry);
        }
        // Refused for a full queue: nothing runs; a click after retry_after_ms may start it.
        CallState::Busy { until_ms } if now < *until_ms => {
            body.error = Some(Refusal::QueueFull.code().into());
            body.retry_after_ms = Some(retry);
        }
        // Past their time, these are as good as none: the next click starts afresh.
        CallState::Failed { .. }
        | CallState::NotFound { .. }
        | CallState::NoRecording { .. }
        | CallState::Busy { .. } => {}
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stored_recording_keeps_what_its_attempt_computed() {
        assert_eq!(AttemptOutcome::Stored { size: 9 }.keeps(Some(1)), Some(1));
        let failed = [
            AttemptOutcome::transient(Failure::NotStored, "write failed"),
            AttemptOutcome::permanent(Failure::TooLarge, "too large"),
            AttemptOutcome::OriginNotFound,
            AttemptOutcome::OriginRefused,
        ];
        for outcome in failed {
            assert_eq!(outcome.keeps(Some(1)), None, "{outcome:?}");
        }
    }

    const P: DownloadPolicy = DownloadPolicy {
        max_attempts: 3,
        slot_lease_ms: 10_000,
        failed_cooldown_ms: 60_000,
        not_found_ttl_ms: 30_000,
        download_timeout_ms: 60_000,
    };

    fn sid() -> CallSid {
        CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_download_whose_fill_serves_is_answered_with_the_fill_and_reported_ready() {
        use crate::fill::{FillPhase, FillView};
        let downloading = CallState::Downloading {
            attempt: 1,
            started_ms: 0,
            grant: 4,
        };
        let accepted = play_answer(&downloading, &sid(), 10, None, PlayFact::Nothing, &P);
        let status = status_of(&downloading, &sid(), 10, None, &P);
        let mut view = FillView::start(4, 1 << 20, "\"e\"".into(), "audio/wav".into());
        // No piece yet: still a 202 and `processing`.
        assert_eq!(
            answer_with_fill(&downloading, accepted.clone(), Some(&view)),
            accepted
        );
        assert_eq!(
            status_with_fill(&downloading, status.clone(), Some(&view)).status,
            WireStatus::Processing
        );
        view.piece_landed(0);
        assert_eq!(
            answer_with_fill(&downloading, accepted.clone(), Some(&view)),
            PlayAnswer::Filling(view.clone())
        );
        assert_eq!(PlayAnswer::Filling(view.clone()).http_status(), 200);
        let ready = status_with_fill(&downloading, status.clone(), Some(&view));
        assert_eq!(
            (ready.status, ready.size),
            (WireStatus::Ready, Some(1 << 20))
        );
        // A failed fill, or a state that is not a download, answers as before.
        let mut failed = view.clone();
        failed.phase = FillPhase::Failed;
        assert_eq!(
            answer_with_fill(&downloading, accepted.clone(), Some(&failed)),
            accepted
        );
        let queued = CallState::queued(0, 0);
        let answer = play_answer(&queued, &sid(), 10, Some(2), PlayFact::Nothing, &P);
        assert_eq!(
            answer_with_fill(&queued, answer.clone(), Some(&view)),
            answer
        );
    }

    fn input(now: u64, fact: PlayFact) -> PlayInput {
        PlayInput {
            now,
            running_here: false,
            alarm_set: true,
            fact,
        }
    }

    const ADMITTED: PlayFact = PlayFact::Admission(Admission::Admitted);

    fn downloading(attempt: u32) -> CallState {
        CallState::Downloading {
            attempt,
            started_ms: 0,
            grant: 7,
        }
    }

    #[test]
    fn a_first_play_is_admitted_then_queues_and_arms_the_alarm() {
        assert_eq!(play_check(&CallState::None, 5, &P), PlayCheck::Admission);
        let s = on_play(&CallState::None, input(5, ADMITTED), &P);
        assert_eq!(s.state, CallState::fresh(5));
        // A new download asks the provider again which recording plays.
        assert_eq!(
            s.effects,
            vec![Effect::Unresolve, Effect::SetAlarm { at_ms: 5 }]
        );
    }

    #[test]
    fn a_play_runs_the_alarm_it_arms_at_once_only_when_due_and_none_is_in_flight() {
        let queued = on_play(&CallState::None, input(5, ADMITTED), &P);
        assert!(runs_alarm_at_once(&queued, 5, false));
        // A handler (or an earlier run) in flight does the work already.
        assert!(!runs_alarm_at_once(&queued, 5, true));
        // A retry's alarm armed again for later waits for its time.
        let later = Step::to(queued.state.clone(), vec![Effect::SetAlarm { at_ms: 6 }]);
        assert!(!runs_alarm_at_once(&later, 5, false));
        // A step that arms nothing runs nothing.
        assert!(!runs_alarm_at_once(&Step::stay(&queued.state), 5, false));
    }

    #[test]
    fn a_refused_play_stores_nothing_and_is_answered_429() {
        let refused = PlayFact::Admission(Admission::Refused {
            reason: Refusal::RateLimited,
            retry_after_ms: 3_000,
        });
        let s = on_play(&CallState::None, input(5, refused), &P);
        assert_eq!(s, Step::stay(&CallState::None));
        assert_eq!(
            play_answer(&s.state, &sid(), 5, None, refused, &P),
            PlayAnswer::Refused {
                reason: Refusal::RateLimited,
                retry_after_ms: 3_000
            }
        );
    }

    #[test]
    fn plays_are_held_only_while_a_download_is_under_way() {
        assert!(holds_play(&CallState::queued(0, 0)));
        assert!(!holds_play(&CallState::None));
        assert!(!holds_play(&CallState::Ready { size: 1 }));
        assert!(!holds_play(&CallState::NotFound { at_ms: 0 }));
    }

    #[test]
    fn a_fact_learnt_across_a_state_change_is_dropped() {
        let fact = PlayFact::Stored(false);
        assert_eq!(fact_after_await(fact, 3, 3), fact);
        assert_eq!(fact_after_await(fact, 3, 4), PlayFact::Nothing);
    }

    #[test]
    fn each_answer_has_its_status_and_a_vanished_ready_recording_asks_again_soon() {
        let gone = ready_but_gone(&sid());
        assert_eq!(
            (gone.status.as_str(), gone.retry_after_ms),
            ("processing", 250)
        );
        assert_eq!(PlayAnswer::Accepted(gone).http_status(), 202);
        assert_eq!(PlayAnswer::Ready.http_status(), 200);
        assert_eq!(PlayAnswer::NotFound.http_status(), 404);
        let refused = PlayAnswer::Refused {
            reason: Refusal::QueueFull,
            retry_after_ms: 1,
        };
        assert_eq!(refused.http_status(), 429);
    }

    #[test]
    fn a_call_the_business_does_not_list_stores_nothing_and_is_answered_404() {
        let unlisted = PlayFact::Admission(Admission::Unlisted);
        let failed_long_ago = CallState::Failed {
            at_ms: 0,
            error: "origin unavailable".into(),
            attempts: 4,
        };
        for state in [CallState::None, failed_long_ago] {
            let s = on_play(&state, input(1_000_000, unlisted), &P);
            assert_eq!(s, Step::stay(&state));
            assert_eq!(
                play_answer(&s.state, &sid(), 1_000_000, None, unlisted, &P),
                PlayAnswer::NotFound
            );
        }
    }

    #[test]
    fn a_play_in_ready_looks_in_r2_and_never_reaches_the_origin_while_it_is_there() {
        let ready = CallState::Ready { size: 4 };
        assert_eq!(play_check(&ready, 0, &P), PlayCheck::Store);
        let s = on_play(&ready, input(0, PlayFact::Stored(true)), &P);
        assert_eq!(s, Step::stay(&ready));
        assert_eq!(
            play_answer(&s.state, &sid(), 0, None, PlayFact::Stored(true), &P),
            PlayAnswer::Ready
        );
        // Really gone: download again (and the attempt looks in R2 first).
        let gone = on_play(&ready, input(9, PlayFact::Stored(false)), &P);
        assert_eq!(gone.state, CallState::fresh(9));
    }

    #[test]
    fn plays_while_queued_or_running_start_nothing() {
        for state in [
            CallState::queued(0, 0),
            downloading(1),
            CallState::RetryWait {
                attempt: 1,
                next_at_ms: 9,
                last_error: "x".into(),
            },
        ] {
            assert_eq!(play_check(&state, 5, &P), PlayCheck::Nothing);
            let mut i = input(5, PlayFact::Nothing);
            i.running_here = true;
            let s = on_play(&state, i, &P);
            assert_eq!(s.state, state);
            assert!(s.effects.is_empty(), "{state:?}");
        }
    }

    #[test]
    fn a_play_finding_a_waiting_call_without_an_alarm_arms_it() {
        let mut i = input(50, PlayFact::Nothing);
        i.alarm_set = false;
        assert_eq!(
            on_play(&CallState::queued(0, 0), i, &P).effects,
            vec![Effect::SetAlarm { at_ms: 50 }]
        );
        let wait = CallState::RetryWait {
            attempt: 1,
            next_at_ms: 80,
            last_error: "x".into(),
        };
        assert_eq!(
            on_play(&wait, i, &P).effects,
            vec![Effect::SetAlarm { at_ms: 80 }]
        );
    }

    #[test]
    fn a_play_finding_a_dead_attempt_resumes_it_through_the_alarm() {
        let s = on_play(&downloading(2), input(50, PlayFact::Nothing), &P);
        assert_eq!(s.effects, vec![Effect::SetAlarm { at_ms: 50 }]);
        let a = on_alarm(&s.state, 50, false, false, &P);
        assert_eq!(a.state, CallState::queued(1, 50));
        // The acquire and the attempt run in this alarm's handler, which the
        // runtime runs again if the instance dies: no alarm of its own.
        assert_eq!(a.effects, vec![Effect::AcquireSlot { look: true }]);
        let g = on_slot_granted(&a.state, 60, false, 3, 60 + P.slot_lease_ms, &P);
        assert_eq!(
            g.effects,
            vec![Effect::StartAttempt {
                attempt: 2,
                grant: 3,
                expires_ms: 60 + P.slot_lease_ms,
                fresh: false
            }]
        );
    }

    #[test]
    fn only_a_call_a_play_queued_skips_the_look_in_r2() {
        let admitted = input(5, PlayFact::Admission(Admission::Admitted));
        let q = on_play(&CallState::None, admitted, &P).state;
        let a = on_alarm(&q, 5, false, false, &P);
        assert_eq!(a.effects, vec![Effect::AcquireSlot { look: false }]);
        let g = on_slot_granted(&a.state, 6, false, 1, 6 + P.slot_lease_ms, &P);
        assert!(matches!(
            g.effects[..],
            [Effect::StartAttempt { fresh: true, .. }]
        ));
        // An interrupted attempt's write may have landed; a write that
        // reported a failure may have stored the recording all the same.
        let wait = CallState::RetryWait {
            attempt: 1,
            next_at_ms: 80,
            last_error: "x".into(),
        };
        for before in [downloading(1), wait] {
            let a = on_alarm(&before, 90, false, false, &P);
            assert_eq!(a.effects, vec![Effect::AcquireSlot { look: true }]);
            let g = on_slot_granted(&a.state, 91, false, 2, 91 + P.slot_lease_ms, &P);
            assert!(matches!(
                g.effects[..],
                [Effect::StartAttempt { fresh: false, .. }]
            ));
        }
        // Stored before this field existed: looks.
        let old: CallState =
            serde_json::from_str(r#"{"state":"queued","attempts":0,"since_ms":1}"#).unwrap();
        assert_eq!(old, CallState::queued(0, 1));
    }

    #[test]
    fn a_queued_answer_asks_again_at_once_unless_the_call_moved_on() {
        let q = on_slot_queued(&CallState::queued(0, 0), 10);
        assert_eq!(q.effects, vec![Effect::SetAlarm { at_ms: 10 }]);
        assert!(on_slot_queued(&downloading(1), 10).effects.is_empty());
    }

    #[test]
    fn a_full_queue_makes_the_call_busy_then_forgotten() {
        let s = on_slot_full(&CallState::queued(0, 0), 10, 5_000);
        assert_eq!(s.state, CallState::Busy { until_ms: 5_010 });
        assert_eq!(
            s.effects,
            vec![Effect::NotifyWaiters, Effect::SetAlarm { at_ms: 5_010 }]
        );
        assert_eq!(
            play_answer(&s.state, &sid(), 10, None, PlayFact::Nothing, &P),
            PlayAnswer::Refused {
                reason: Refusal::QueueFull,
                retry_after_ms: 5_000
            }
        );
        assert_eq!(play_check(&s.state, 5_010, &P), PlayCheck::Admission);
        assert_eq!(
            on_alarm(&s.state, 5_010, false, false, &P),
            Step::to(CallState::None, vec![Effect::Forget])
        );
    }

    #[test]
    fn a_grant_with_less_than_half_a_lease_left_is_asked_for_again() {
        let q = CallState::queued(0, 0);
        let stale = on_slot_granted(&q, 6_000, false, 1, 10_000, &P);
        assert_eq!(stale.state, q);
        assert_eq!(stale.effects, vec![Effect::SetAlarm { at_ms: 6_000 }]);
        let fresh = on_slot_granted(&q, 5_000, false, 1, 10_000, &P);
        assert!(matches!(
            fresh.state,
            CallState::Downloading { grant: 1, .. }
        ));
    }

    #[test]
    fn an_acquire_answered_for_a_running_attempt_keeps_its_lease() {
        let s = on_slot_granted(&downloading(1), 5, true, 7, 5 + P.slot_lease_ms, &P);
        assert_eq!(s.state, downloading(1));
        assert!(s.effects.is_empty());
    }

    #[test]
    fn a_play_during_the_cooldown_is_answered_failed_and_after_it_needs_admission() {
        let failed = CallState::Failed {
            at_ms: 1000,
            error: "boom".into(),
            attempts: 3,
        };
        assert_eq!(play_check(&failed, 1000 + 59_999, &P), PlayCheck::Nothing);
        let during = on_play(&failed, input(1000 + 59_999, PlayFact::Nothing), &P);
        assert_eq!(during.state, failed);
        assert!(during.effects.is_empty());
        assert_eq!(
            play_answer(
                &during.state,
                &sid(),
                1000 + 59_999,
                None,
                PlayFact::Nothing,
                &P
            ),
            PlayAnswer::Failed {
                error: "boom".into(),
                retry_after_ms: 1
            }
        );
        assert_eq!(play_check(&failed, 61_000, &P), PlayCheck::Admission);
        let after = on_play(&failed, input(61_000, ADMITTED), &P);
        assert_eq!(after.state, CallState::fresh(61_000));
    }

    #[test]
    fn not_found_is_remembered_for_its_ttl_then_forgotten() {
        let nf = on_attempt_finished(
            &downloading(1),
            7,
            AttemptOutcome::OriginNotFound,
            0,
            0.0,
            &P,
        );
        assert_eq!(nf.state, CallState::NotFound { at_ms: 0 });
        assert!(nf.effects.contains(&Effect::SetAlarm { at_ms: 30_000 }));
        assert!(on_play(&nf.state, input(29_999, PlayFact::Nothing), &P)
            .effects
            .is_empty());
        assert_eq!(
            play_answer(&nf.state, &sid(), 29_999, None, PlayFact::Nothing, &P),
            PlayAnswer::NotFound
        );
        assert_eq!(
            on_alarm(&nf.state, 29_999, false, false, &P).effects,
            vec![Effect::SetAlarm { at_ms: 30_000 }]
        );
        assert_eq!(
            on_alarm(&nf.state, 30_000, false, false, &P),
            Step::to(CallState::None, vec![Effect::Forget])
        );
        assert_eq!(
            on_play(&nf.state, input(30_000, ADMITTED), &P).state,
            CallState::fresh(30_000)
        );
    }

    #[test]
    fn a_granted_slot_starts_the_next_attempt_on_that_grant() {
        let s = on_slot_granted(
            &CallState::queued(1, 0),
            7,
            false,
            4,
            7 + P.slot_lease_ms,
            &P,
        );
        assert_eq!(
            s.state,
            CallState::Downloading {
                attempt: 2,
                started_ms: 7,
                grant: 4
            }
        );
    }

    #[test]
    fn a_slot_granted_to_a_call_that_moved_on_is_given_back_by_its_grant() {
        let s = on_slot_granted(
            &CallState::Ready { size: 1 },
            7,
            false,
            9,
            7 + P.slot_lease_ms,
            &P,
        );
        assert_eq!(s.effects, vec![Effect::ReleaseSlot { grant: 9 }]);
    }

    #[test]
    fn an_alarm_firing_twice_while_running_does_nothing() {
        let s = on_alarm(&downloading(1), 5, true, false, &P);
        assert_eq!(s.state, downloading(1));
        assert!(s.effects.is_empty());
        assert!(on_alarm(&CallState::queued(0, 0), 5, true, false, &P)
            .effects
            .is_empty());
        for settled in [CallState::None, CallState::Ready { size: 3 }] {
            assert!(on_alarm(&settled, 5, false, false, &P).effects.is_empty());
        }
    }

    #[test]
    fn a_stored_body_is_ready_and_releases_its_grant() {
        let s = on_attempt_finished(
            &downloading(1),
            7,
            AttemptOutcome::Stored { size: 10 },
            9,
            0.5,
            &P,
        );
        assert_eq!(s.state, CallState::Ready { size: 10 });
        assert_eq!(
            s.effects,
            vec![Effect::ReleaseSlot { grant: 7 }, Effect::NotifyWaiters]
        );
    }

    #[test]
    fn transient_failures_retry_with_backoff_then_fail_after_max_attempts() {
        let s = on_attempt_finished(
            &downloading(1),
            7,
            AttemptOutcome::transient(Failure::OriginUnavailable, "origin answered 500"),
            1000,
            0.0,
            &P,
        );
        assert_eq!(
            s.state,
            CallState::RetryWait {
                attempt: 1,
                next_at_ms: 1125,
                last_error: Failure::OriginUnavailable.message().into()
            }
        );
        assert_eq!(
            s.effects,
            vec![
                Effect::ReleaseSlot { grant: 7 },
                Effect::SetAlarm { at_ms: 1125 }
            ]
        );
        assert_eq!(
            on_alarm(&s.state, 1100, false, false, &P).effects,
            vec![Effect::SetAlarm { at_ms: 1125 }]
        );
        let q = on_alarm(&s.state, 1125, false, false, &P);
        assert_eq!(q.state, CallState::queued(1, 1125));
        let last = on_attempt_finished(
            &downloading(3),
            7,
            AttemptOutcome::transient(Failure::TimedOut, "after 60000 ms"),
            5000,
            0.0,
            &P,
        );
        assert_eq!(
            last.state,
            CallState::Failed {
                at_ms: 5000,
                error: Failure::TimedOut.message().into(),
                attempts: 3
            }
        );
    }

    #[test]
    fn an_origin_retry_after_is_waited_for_up_to_the_cap() {
        let throttled = classify_origin_status(429, Some(3_000), false).unwrap();
        let s = on_attempt_finished(&downloading(1), 7, throttled, 1000, 0.0, &P);
        assert!(matches!(
            s.state,
            CallState::RetryWait {
                next_at_ms: 4000,
                ..
            }
        ));
        let long = classify_origin_status(503, Some(u64::MAX), false).unwrap();
        let s = on_attempt_finished(&downloading(1), 7, long, 0, 0.0, &P);
        assert!(
            matches!(s.state, CallState::RetryWait { next_at_ms, .. } if next_at_ms == MAX_ORIGIN_RETRY_AFTER_MS)
        );
    }

    #[test]
    fn origin_404_and_401_end_at_once() {
        let refused = on_attempt_finished(
            &downloading(1),
            7,
            AttemptOutcome::OriginRefused,
            3,
            0.0,
            &P,
        );
        assert!(
            matches!(refused.state, CallState::Failed { ref error, attempts: 1, .. } if error.contains("credentials") && !error.contains("ORIGIN_TOKEN"))
        );
    }

    #[test]
    fn an_attempt_finishing_after_the_state_moved_on_only_releases_its_grant() {
        let s = on_attempt_finished(
            &CallState::Ready { size: 1 },
            5,
            AttemptOutcome::Stored { size: 1 },
            0,
            0.0,
            &P,
        );
        assert_eq!(s.state, CallState::Ready { size: 1 });
        assert_eq!(s.effects, vec![Effect::ReleaseSlot { grant: 5 }]);
    }

    #[test]
    fn origin_statuses_are_classified() {
        assert_eq!(classify_origin_status(200, None, false), None);
        assert_eq!(
            classify_origin_status(404, None, false),
            Some(AttemptOutcome::OriginNotFound)
        );
        // Twilio's media right after completion: retried, not forgotten.
        assert!(matches!(
            classify_origin_status(404, None, true),
            Some(AttemptOutcome::Transient {
                failure: Failure::NotYetAtOrigin,
                ..
            })
        ));
        assert_eq!(
            classify_origin_status(403, None, false),
            Some(AttemptOutcome::OriginRefused)
        );
        assert!(matches!(
            classify_origin_status(503, None, false),
            Some(AttemptOutcome::Transient {
                retry_after_ms: None,
                ..
            })
        ));
        assert!(matches!(
            classify_origin_status(429, Some(5), false),
            Some(AttemptOutcome::Transient {
                retry_after_ms: Some(5),
                ..
            })
        ));
        assert!(matches!(
            classify_origin_status(410, None, false),
            Some(AttemptOutcome::Permanent { .. })
        ));
        assert!(matches!(
            classify_origin_status(206, None, false),
            Some(AttemptOutcome::Permanent { .. })
        ));
    }

    #[test]
    fn answers_and_statuses_follow_the_state() {
        let q = CallState::queued(0, 0);
        match play_answer(&q, &sid(), 0, Some(4), PlayFact::Nothing, &P) {
            PlayAnswer::Accepted(a) => {
                assert_eq!((a.status.as_str(), a.queue_position), ("queued", Some(4)));
                assert!(a.retry_after_ms >= 500);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            status_of(&downloading(2), &sid(), 0, None, &P).attempts,
            Some(2)
        );
        assert_eq!(
            status_of(&CallState::Ready { size: 5 }, &sid(), 0, None, &P).status,
            "ready"
        );
        let failed = CallState::Failed {
            at_ms: 0,
            error: "e".into(),
            attempts: 3,
        };
        assert_eq!(status_of(&failed, &sid(), 1, None, &P).status, "failed");
        assert_eq!(status_of(&failed, &sid(), 60_000, None, &P).status, "none");
        assert_eq!(
            status_of(&CallState::NotFound { at_ms: 0 }, &sid(), 1, None, &P).status,
            "not_found"
        );
        let busy = status_of(&CallState::Busy { until_ms: 10 }, &sid(), 1, None, &P);
        assert_eq!(
            (
                busy.status.as_str(),
                busy.error.as_deref(),
                busy.retry_after_ms
            ),
            ("none", Some("queue_full"), Some(9))
        );
    }

    #[test]
    fn an_unresolved_call_asks_the_provider_before_any_slot() {
        let queued = CallState::fresh(0);
        assert_eq!(
            on_alarm(&queued, 5, false, true, &P).effects,
            vec![Effect::Resolve]
        );
        let played = on_resolved(&queued, Resolved::Play, 9, 0.5, &P);
        assert_eq!(played.effects, vec![Effect::AcquireSlot { look: false }]);
        assert!(matches!(
            played.state,
            CallState::Queued { fresh: true, .. }
        ));
        // A retried call looks in R2 while it waits for its slot.
        let retried = on_resolved(&CallState::queued(1, 0), Resolved::Play, 9, 0.5, &P);
        assert_eq!(retried.effects, vec![Effect::AcquireSlot { look: true }]);
    }

    #[test]
    fn a_recording_the_provider_processes_waits_without_a_slot_and_is_asked_again_later() {
        let step = on_resolved(&CallState::fresh(0), Resolved::Processing, 100, 0.5, &P);
        assert_eq!(
            step.state,
            CallState::AwaitingProvider {
                since_ms: 100,
                next_at_ms: 1_100,
                checks: 1,
                attempts: 0
            }
        );
        assert_eq!(
            step.effects,
            vec![Effect::NotifyWaiters, Effect::SetAlarm { at_ms: 1_100 }]
        );
        assert!(!step
            .effects
            .iter()
            .any(|e| matches!(e, Effect::AcquireSlot { .. })));
        // Early: the alarm only moves; due: the provider is asked again.
        assert_eq!(
            on_alarm(&step.state, 600, false, true, &P).effects,
            vec![Effect::SetAlarm { at_ms: 1_100 }]
        );
        assert_eq!(
            on_alarm(&step.state, 1_100, false, true, &P).effects,
            vec![Effect::Resolve]
        );
        let again = on_resolved(&step.state, Resolved::Processing, 1_100, 0.5, &P);
        assert!(matches!(
            again.state,
            CallState::AwaitingProvider {
                since_ms: 100,
                next_at_ms: 3_100,
                checks: 2,
                ..
            }
        ));
        let ready = on_resolved(&again.state, Resolved::Play, 3_100, 0.5, &P);
        assert_eq!(ready.effects, vec![Effect::AcquireSlot { look: true }]);
        // A play meanwhile is told to wait, and a status says why.
        let answer = play_answer(&again.state, &sid(), 2_000, None, PlayFact::Nothing, &P);
        let PlayAnswer::Accepted(body) = answer else {
            panic!("a 202, not {answer:?}");
        };
        assert_eq!(
            (body.status, body.retry_after_ms),
            (WireStatus::NotReady, 1_350)
        );
        let status = status_of(&again.state, &sid(), 2_000, None, &P);
        assert_eq!(status.status, WireStatus::NotReady);
        assert_eq!(status.error.as_deref(), Some(PROVIDER_PROCESSING_ERROR));
        assert!(
            !again.state.startable(2_000, &P),
            "a click asks nothing more"
        );
    }

    #[test]
    fn asking_about_a_processing_recording_backs_off_and_ends() {
        let waits: Vec<u64> = (1..=7).map(provider_check_after_ms).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        let mut state = CallState::fresh(0);
        let mut asks = 0;
        while !matches!(state, CallState::Failed { .. }) {
            state = on_resolved(&state, Resolved::Processing, 0, 0.5, &P).state;
            asks += 1;
            assert!(asks <= MAX_PROVIDER_CHECKS);
        }
        assert_eq!(asks, MAX_PROVIDER_CHECKS);
        let total: u64 = (1..MAX_PROVIDER_CHECKS).map(provider_check_after_ms).sum();
        assert!((9 * 60_000..=11 * 60_000).contains(&total), "{total}");
    }

    #[test]
    fn no_recording_is_404_for_its_time_then_forgotten() {
        let step = on_resolved(&CallState::fresh(0), Resolved::NoRecording, 10, 0.5, &P);
        assert_eq!(step.state, CallState::NoRecording { at_ms: 10 });
        assert_eq!(
            play_answer(&step.state, &sid(), 11, None, PlayFact::Nothing, &P).http_status(),
            404
        );
        assert_eq!(
            play_answer(&step.state, &sid(), 11, None, PlayFact::Nothing, &P),
            PlayAnswer::NoRecording
        );
        assert_eq!(
            status_of(&step.state, &sid(), 11, None, &P).status,
            WireStatus::NoRecording
        );
        let ttl = 10 + P.not_found_ttl_ms;
        assert!(!step.state.startable(ttl - 1, &P));
        assert!(step.state.startable(ttl, &P));
        assert_eq!(
            on_alarm(&step.state, ttl, false, true, &P),
            Step::to(CallState::None, vec![Effect::Forget])
        );
        let gone = on_resolved(&CallState::fresh(0), Resolved::CallGone, 10, 0.5, &P);
        assert_eq!(gone.state, CallState::NotFound { at_ms: 10 });
    }

    #[test]
    fn a_failed_ask_counts_as_an_attempt_and_a_refusal_ends_at_once() {
        let busy = Resolved::Transient {
            failure: Failure::OriginUnavailable,
            retry_after_ms: None,
        };
        let step = on_resolved(&CallState::fresh(0), busy.clone(), 100, 0.0, &P);
        let CallState::RetryWait {
            attempt: 1,
            next_at_ms,
            ..
        } = step.state
        else {
            panic!("a retry, not {:?}", step.state);
        };
        assert!(next_at_ms > 100);
        // Its retry asks the provider again (the call is still unresolved).
        let back = on_alarm(&step.state, next_at_ms, false, true, &P);
        assert_eq!(back.effects, vec![Effect::Resolve]);
        let last = on_resolved(
            &CallState::queued(P.max_attempts - 1, 0),
            busy,
            100,
            0.0,
            &P,
        );
        assert!(matches!(last.state, CallState::Failed { .. }));
        let refused = on_resolved(&CallState::fresh(0), Resolved::Refused, 100, 0.0, &P);
        assert!(
            matches!(refused.state, CallState::Failed { ref error, .. } if error == REFUSED_ERROR)
        );
        // Only a waiting call takes the answer.
        let downloading = downloading(1);
        assert_eq!(
            on_resolved(&downloading, Resolved::NoRecording, 5, 0.0, &P).state,
            downloading
        );
    }

    #[test]
    fn a_failed_ask_while_the_provider_processes_is_one_more_check() {
        let waiting = CallState::AwaitingProvider {
            since_ms: 0,
            next_at_ms: 10,
            checks: 3,
            attempts: 0,
        };
        let busy = Resolved::Transient {
            failure: Failure::OriginUnavailable,
            retry_after_ms: Some(9_000),
        };
        let step = on_resolved(&waiting, busy, 10, 0.5, &P);
        assert_eq!(
            step.state,
            CallState::AwaitingProvider {
                since_ms: 0,
                next_at_ms: 9_010,
                checks: 4,
                attempts: 0
            }
        );
    }

    #[test]
    fn media_not_there_yet_is_asked_again_after_seconds_not_milliseconds() {
        let not_yet = AttemptOutcome::transient(Failure::NotYetAtOrigin, "origin answered 404");
        let waits: Vec<u64> = (1..P.max_attempts)
            .map(|attempt| {
                let step =
                    on_attempt_finished(&downloading(attempt), 7, not_yet.clone(), 0, 0.0, &P);
                match step.state {
                    CallState::RetryWait { next_at_ms, .. } => next_at_ms,
                    other => panic!("a retry, not {other:?}"),
                }
            })
            .collect();
        assert_eq!(waits, [1_000, 2_000]);
    }

    #[test]
    fn a_recording_deleted_at_the_provider_is_no_recording_then_forgotten() {
        let step = on_recording_gone(&CallState::Ready { size: 9 }, 100, &P);
        assert_eq!(step.state, CallState::NoRecording { at_ms: 100 });
        assert!(step.effects.contains(&Effect::Unresolve));
        assert_eq!(
            play_answer(&step.state, &sid(), 101, None, PlayFact::Nothing, &P),
            PlayAnswer::NoRecording
        );
        // A download under way is not touched (it asks the provider itself).
        let d = downloading(1);
        assert_eq!(on_recording_gone(&d, 100, &P).state, d);
    }

    #[test]
    fn only_a_step_onto_the_origins_way_starts_a_download() {
        let queued = CallState::Queued {
            attempts: 0,
            since_ms: 1,
            fresh: true,
        };
        let downloading = CallState::Downloading {
            attempt: 1,
            started_ms: 2,
            grant: 1,
        };
        let ready = CallState::Ready { size: 10 };
        assert!(starts_download(&CallState::None, &queued));
        assert!(starts_download(
            &CallState::NotFound { at_ms: 0 },
            &downloading
        ));
        assert!(!starts_download(&queued, &downloading), "already under way");
        assert!(!starts_download(&CallState::None, &ready));
        assert!(!starts_download(&ready, &ready));
    }
}
