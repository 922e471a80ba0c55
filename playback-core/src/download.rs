//! The state machine of one recording's download, as its Durable Object
//! (one per `(business, call_sid)`) runs it: events in, the next state and
//! the effects to apply out. The shell persists the state before applying
//! any effect that awaits.
//!
//! ```text
//! none ──play──▶ queued ──slot──▶ downloading ──ok──▶ ready
//!                  ▲                  │ 5xx, timeout, cut body
//!                  └── retry_wait ◀───┘ (attempt < MAX_ATTEMPTS)
//!                      downloading ──last attempt fails / 401──▶ failed (FAILED_COOLDOWN_MS)
//!                      downloading ──origin 404──▶ not_found (NOT_FOUND_TTL_MS)
//! ```
//! A play request starts a download only from `none`, from `ready` whose
//! object has gone from R2, or from `failed` / `not_found` after their time.
//!
//! Slots: the alarm of a `queued` call asks the business object for one.
//! When none is free, the business keeps the call in its queue and holds
//! the request open, answering it with the lease of the next download that
//! ends; a call whose request was not held (after a hold ran out, or a
//! restart) is woken instead, and its alarm asks again.

use serde::{Deserialize, Serialize};

use crate::retry::ORIGIN_RETRY;
use crate::wire::{AcceptedBody, StatusBody};
use crate::CallSid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    None,
    /// Waiting for a slot; `attempts` were made before. `resumed`: the last
    /// attempt was cut off by a restart, so R2 may already hold its body.
    Queued {
        attempts: u32,
        since_ms: u64,
        #[serde(default)]
        resumed: bool,
    },
    /// Attempt number `attempt` is running (it holds a slot).
    Downloading {
        attempt: u32,
        started_ms: u64,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadPolicy {
    pub max_attempts: u32,
    /// How long a slot lease lasts (`SLOT_LEASE_MS`).
    pub slot_lease_ms: u64,
    pub failed_cooldown_ms: u64,
    pub not_found_ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// (Re)arm the object's alarm.
    SetAlarm { at_ms: u64 },
    /// Ask the business object for a slot.
    AcquireSlot,
    /// Fetch from the origin into R2, holding the slot. `check_store`: look
    /// in R2 first, because an earlier attempt may have stored the body
    /// (a restart between the store and the state write, or a timeout that
    /// raced the store).
    StartAttempt { attempt: u32, check_store: bool },
    /// Give the slot back (also when not holding one: a no-op there).
    ReleaseSlot,
    /// Answer the play requests held open for this recording.
    NotifyWaiters,
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
            resumed: false,
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
    /// Another 4xx: retrying cannot help.
    Permanent(String),
    /// 5xx, timeout, connection error, a body cut short or of the wrong length.
    Transient(String),
}

/// What an origin answer's status means for the attempt: `None` for 200
/// (read the body), otherwise how the attempt ended.
pub fn classify_origin_status(status: u16) -> Option<AttemptOutcome> {
    match status {
        200 => None,
        404 => Some(AttemptOutcome::OriginNotFound),
        401 | 403 => Some(AttemptOutcome::OriginRefused),
        429 | 500..=599 => Some(AttemptOutcome::Transient(format!(
            "origin answered {status}"
        ))),
        other => Some(AttemptOutcome::Permanent(format!(
            "origin answered {other}"
        ))),
    }
}

pub const REFUSED_ERROR: &str = "the origin refused the edge's credentials (check ORIGIN_TOKEN)";

/// A play request that missed R2. `running_here` says whether this object
/// instance is running an attempt right now (false after a restart).
pub fn on_play(state: &CallState, now: u64, running_here: bool, p: &DownloadPolicy) -> Step {
    let start = || Step {
        state: CallState::queued(0, now),
        effects: vec![Effect::SetAlarm { at_ms: now }],
    };
    match state {
        CallState::None | CallState::Ready { .. } => start(),
        CallState::Failed { at_ms, .. } if now >= at_ms + p.failed_cooldown_ms => start(),
        CallState::NotFound { at_ms } if now >= at_ms + p.not_found_ttl_ms => start(),
        // An attempt recorded as running that no instance runs died with a restart: resume it now.
        CallState::Downloading { .. } if !running_here => Step {
            state: state.clone(),
            effects: vec![Effect::SetAlarm { at_ms: now }],
        },
        _ => Step::stay(state),
    }
}

/// The object's alarm fired.
pub fn on_alarm(state: &CallState, now: u64, running_here: bool) -> Step {
    if running_here {
        // A duplicate alarm while the attempt runs: nothing to do.
        return Step::stay(state);
    }
    match *state {
        CallState::Queued { .. } => Step {
            state: state.clone(),
            effects: vec![Effect::AcquireSlot],
        },
        CallState::Downloading { attempt, .. } => {
            // The instance that ran this attempt is gone; the interrupted attempt does not count.
            Step {
                state: CallState::Queued {
                    attempts: attempt.saturating_sub(1),
                    since_ms: now,
                    resumed: true,
                },
                effects: vec![Effect::AcquireSlot],
            }
        }
        CallState::RetryWait {
            attempt,
            next_at_ms,
            ..
        } if now >= next_at_ms => Step {
            state: CallState::queued(attempt, now),
            effects: vec![Effect::AcquireSlot],
        },
        CallState::RetryWait { next_at_ms, .. } => Step {
            state: state.clone(),
            effects: vec![Effect::SetAlarm { at_ms: next_at_ms }],
        },
        _ => Step::stay(state),
    }
}

/// The business object answered an acquire with a slot whose lease runs
/// until `expires_ms`.
pub fn on_slot_granted(
    state: &CallState,
    now: u64,
    running_here: bool,
    expires_ms: u64,
    p: &DownloadPolicy,
) -> Step {
    match *state {
        // The lease is the running attempt's own (acquire renews an owner's lease).
        _ if running_here => Step::stay(state),
        // An answer that took so long that its lease may be gone (a held
        // request answered long ago): ask again, which renews it if it is
        // still ours, so an attempt never starts on a lease it may not hold.
        CallState::Queued { .. } if expires_ms < now + p.slot_lease_ms / 2 => Step {
            state: state.clone(),
            effects: vec![Effect::SetAlarm { at_ms: now }],
        },
        CallState::Queued {
            attempts, resumed, ..
        } => {
            let attempt = attempts + 1;
            Step {
                state: CallState::Downloading {
                    attempt,
                    started_ms: now,
                },
                effects: vec![Effect::StartAttempt {
                    attempt,
                    check_store: resumed || attempts > 0,
                }],
            }
        }
        // A slot we no longer need (the state moved on): give it back.
        _ => Step {
            state: state.clone(),
            effects: vec![Effect::ReleaseSlot],
        },
    }
}

/// The business object answered an acquire with a place in its queue,
/// after holding the request for its hold time without a slot freeing:
/// the alarm asks again at once (the call keeps its place), so the next
/// free slot is handed over on a held request.
pub fn on_slot_queued(state: &CallState, now: u64) -> Step {
    match state {
        CallState::Queued { .. } => Step {
            state: state.clone(),
            effects: vec![Effect::SetAlarm { at_ms: now }],
        },
        _ => Step::stay(state),
    }
}

/// An attempt ended. `unit` is a random number in `[0, 1)` for the jitter.
pub fn on_attempt_finished(
    state: &CallState,
    outcome: AttemptOutcome,
    now: u64,
    unit: f64,
    p: &DownloadPolicy,
) -> Step {
    let CallState::Downloading { attempt, .. } = *state else {
        return Step {
            state: state.clone(),
            effects: vec![Effect::ReleaseSlot],
        };
    };
    let done = |state| Step {
        state,
        effects: vec![Effect::ReleaseSlot, Effect::NotifyWaiters],
    };
    match outcome {
        AttemptOutcome::Stored { size } => done(CallState::Ready { size }),
        AttemptOutcome::OriginNotFound => done(CallState::NotFound { at_ms: now }),
        AttemptOutcome::OriginRefused => done(CallState::Failed {
            at_ms: now,
            error: REFUSED_ERROR.into(),
            attempts: attempt,
        }),
        AttemptOutcome::Permanent(error) => done(CallState::Failed {
            at_ms: now,
            error,
            attempts: attempt,
        }),
        AttemptOutcome::Transient(error) if attempt >= p.max_attempts => done(CallState::Failed {
            at_ms: now,
            error,
            attempts: attempt,
        }),
        AttemptOutcome::Transient(last_error) => {
            let next_at_ms = now + ORIGIN_RETRY.equal_jitter_ms(attempt, unit);
            Step {
                state: CallState::RetryWait {
                    attempt,
                    next_at_ms,
                    last_error,
                },
                effects: vec![Effect::ReleaseSlot, Effect::SetAlarm { at_ms: next_at_ms }],
            }
        }
    }
}

/// What a play request that missed R2 is answered, given the state after `on_play`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum PlayAnswer {
    /// Serve from R2.
    Ready,
    Accepted(AcceptedBody),
    Failed {
        error: String,
        retry_after_ms: u64,
    },
    NotFound,
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
        CallState::NotFound { at_ms } => (at_ms + p.not_found_ttl_ms).saturating_sub(now),
        CallState::None | CallState::Ready { .. } => 0,
    }
}

pub fn play_answer(
    state: &CallState,
    call_sid: &CallSid,
    now: u64,
    queue_position: Option<u32>,
    p: &DownloadPolicy,
) -> PlayAnswer {
    let retry_after_ms = retry_after_ms(state, now, queue_position, p);
    match state {
        CallState::Ready { .. } | CallState::None => PlayAnswer::Ready,
        CallState::Queued { .. } => PlayAnswer::Accepted(AcceptedBody::new(
            "queued",
            call_sid,
            retry_after_ms,
            queue_position,
        )),
        CallState::Downloading { .. } | CallState::RetryWait { .. } => PlayAnswer::Accepted(
            AcceptedBody::new("processing", call_sid, retry_after_ms, None),
        ),
        CallState::Failed { error, .. } => PlayAnswer::Failed {
            error: error.clone(),
            retry_after_ms,
        },
        CallState::NotFound { .. } => PlayAnswer::NotFound,
    }
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
    let mut body = StatusBody::new("none", call_sid);
    match state {
        CallState::None => {}
        CallState::Queued { attempts, .. } => {
            body.status = "queued".into();
            body.queue_position = queue_position;
            body.attempts = Some(*attempts);
            body.retry_after_ms = Some(retry);
        }
        CallState::Downloading { attempt, .. } => {
            body.status = "processing".into();
            body.attempts = Some(*attempt);
            body.retry_after_ms = Some(retry);
        }
        CallState::RetryWait {
            attempt,
            last_error,
            ..
        } => {
            body.status = "processing".into();
            body.attempts = Some(*attempt);
            body.error = Some(last_error.clone());
            body.retry_after_ms = Some(retry);
        }
        CallState::Ready { size } => {
            body.status = "ready".into();
            body.size = Some(*size);
        }
        CallState::Failed {
            at_ms,
            error,
            attempts,
        } if now < at_ms + p.failed_cooldown_ms => {
            body.status = "failed".into();
            body.error = Some(error.clone());
            body.attempts = Some(*attempts);
            body.retry_after_ms = Some(retry);
        }
        CallState::NotFound { at_ms } if now < at_ms + p.not_found_ttl_ms => {
            body.status = "not_found".into()
        }
        // Past their time, failed and not_found are as good as none: the next click starts afresh.
        CallState::Failed { .. } | CallState::NotFound { .. } => {}
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: DownloadPolicy = DownloadPolicy {
        max_attempts: 3,
        slot_lease_ms: 10_000,
        failed_cooldown_ms: 60_000,
        not_found_ttl_ms: 30_000,
    };

    fn sid() -> CallSid {
        CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap()
    }

    fn downloading(attempt: u32) -> CallState {
        CallState::Downloading {
            attempt,
            started_ms: 0,
        }
    }

    #[test]
    fn a_first_play_queues_and_arms_the_alarm() {
        let s = on_play(&CallState::None, 5, false, &P);
        assert_eq!(s.state, CallState::queued(0, 5));
        assert_eq!(s.effects, vec![Effect::SetAlarm { at_ms: 5 }]);
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
            let s = on_play(&state, 5, true, &P);
            assert_eq!(s.state, state);
            assert!(s.effects.is_empty(), "{state:?}");
        }
    }

    #[test]
    fn a_play_finding_a_dead_attempt_resumes_it_through_the_alarm() {
        let s = on_play(&downloading(2), 50, false, &P);
        assert_eq!(s.effects, vec![Effect::SetAlarm { at_ms: 50 }]);
        let a = on_alarm(&s.state, 50, false);
        assert_eq!(
            a.state,
            CallState::Queued {
                attempts: 1,
                since_ms: 50,
                resumed: true
            }
        );
        assert_eq!(a.effects, vec![Effect::AcquireSlot]);
        // The resumed attempt looks in R2 first: the dead one may have stored the body.
        let g = on_slot_granted(&a.state, 60, false, 60 + P.slot_lease_ms, &P);
        assert_eq!(
            g.effects,
            vec![Effect::StartAttempt {
                attempt: 2,
                check_store: true
            }]
        );
    }

    #[test]
    fn only_a_first_attempt_that_nothing_preceded_skips_the_store_check() {
        let first = on_slot_granted(&CallState::queued(0, 0), 1, false, 1 + P.slot_lease_ms, &P);
        assert_eq!(
            first.effects,
            vec![Effect::StartAttempt {
                attempt: 1,
                check_store: false
            }]
        );
        let resumed_first = CallState::Queued {
            attempts: 0,
            since_ms: 0,
            resumed: true,
        };
        assert_eq!(
            on_slot_granted(&resumed_first, 1, false, 1 + P.slot_lease_ms, &P).effects,
            vec![Effect::StartAttempt {
                attempt: 1,
                check_store: true
            }]
        );
    }

    #[test]
    fn a_queued_answer_asks_again_at_once_unless_the_call_moved_on() {
        let q = on_slot_queued(&CallState::queued(0, 0), 10);
        assert_eq!(q.effects, vec![Effect::SetAlarm { at_ms: 10 }]);
        assert!(on_slot_queued(&downloading(1), 10).effects.is_empty());
    }

    #[test]
    fn a_grant_with_less_than_half_a_lease_left_is_asked_for_again() {
        let q = CallState::queued(0, 0);
        let stale = on_slot_granted(&q, 6_000, false, 10_000, &P);
        assert_eq!(stale.state, q);
        assert_eq!(stale.effects, vec![Effect::SetAlarm { at_ms: 6_000 }]);
        let fresh = on_slot_granted(&q, 5_000, false, 10_000, &P);
        assert!(matches!(fresh.state, CallState::Downloading { .. }));
    }

    #[test]
    fn an_acquire_answered_for_a_running_attempt_keeps_its_lease() {
        let s = on_slot_granted(&downloading(1), 5, true, 5 + P.slot_lease_ms, &P);
        assert_eq!(s.state, downloading(1));
        assert!(s.effects.is_empty());
    }

    #[test]
    fn a_play_during_the_cooldown_is_answered_failed_and_after_it_starts_again() {
        let failed = CallState::Failed {
            at_ms: 1000,
            error: "boom".into(),
            attempts: 3,
        };
        let during = on_play(&failed, 1000 + 59_999, false, &P);
        assert_eq!(during.state, failed);
        assert!(during.effects.is_empty());
        assert_eq!(
            play_answer(&during.state, &sid(), 1000 + 59_999, None, &P),
            PlayAnswer::Failed {
                error: "boom".into(),
                retry_after_ms: 1
            }
        );
        let after = on_play(&failed, 1000 + 60_000, false, &P);
        assert_eq!(after.state, CallState::queued(0, 61_000));
    }

    #[test]
    fn not_found_is_remembered_for_its_ttl() {
        let nf = CallState::NotFound { at_ms: 0 };
        assert!(on_play(&nf, 29_999, false, &P).effects.is_empty());
        assert_eq!(
            play_answer(&nf, &sid(), 29_999, None, &P),
            PlayAnswer::NotFound
        );
        assert_eq!(
            on_play(&nf, 30_000, false, &P).state,
            CallState::queued(0, 30_000)
        );
    }

    #[test]
    fn ready_without_the_object_downloads_again() {
        assert!(matches!(
            on_play(&CallState::Ready { size: 1 }, 0, false, &P).state,
            CallState::Queued { .. }
        ));
    }

    #[test]
    fn a_granted_slot_starts_the_next_attempt() {
        let s = on_slot_granted(&CallState::queued(1, 0), 7, false, 7 + P.slot_lease_ms, &P);
        assert_eq!(
            s.state,
            CallState::Downloading {
                attempt: 2,
                started_ms: 7
            }
        );
        assert_eq!(
            s.effects,
            vec![Effect::StartAttempt {
                attempt: 2,
                check_store: true
            }]
        );
    }

    #[test]
    fn a_slot_granted_to_a_call_that_moved_on_is_given_back() {
        let s = on_slot_granted(
            &CallState::Ready { size: 1 },
            7,
            false,
            7 + P.slot_lease_ms,
            &P,
        );
        assert_eq!(s.effects, vec![Effect::ReleaseSlot]);
    }

    #[test]
    fn an_alarm_firing_twice_while_running_does_nothing() {
        let s = on_alarm(&downloading(1), 5, true);
        assert_eq!(s.state, downloading(1));
        assert!(s.effects.is_empty());
        let q = CallState::queued(0, 0);
        assert!(on_alarm(&q, 5, true).effects.is_empty());
        for settled in [
            CallState::None,
            CallState::Ready { size: 3 },
            CallState::NotFound { at_ms: 0 },
        ] {
            assert!(on_alarm(&settled, 5, false).effects.is_empty());
        }
    }

    #[test]
    fn a_stored_body_is_ready_and_releases_the_slot() {
        let s = on_attempt_finished(
            &downloading(1),
            AttemptOutcome::Stored { size: 10 },
            9,
            0.5,
            &P,
        );
        assert_eq!(s.state, CallState::Ready { size: 10 });
        assert_eq!(s.effects, vec![Effect::ReleaseSlot, Effect::NotifyWaiters]);
    }

    #[test]
    fn transient_failures_retry_with_backoff_then_fail_after_max_attempts() {
        let s = on_attempt_finished(
            &downloading(1),
            AttemptOutcome::Transient("500".into()),
            1000,
            0.0,
            &P,
        );
        assert_eq!(
            s.state,
            CallState::RetryWait {
                attempt: 1,
                next_at_ms: 1125,
                last_error: "500".into()
            }
        );
        assert_eq!(
            s.effects,
            vec![Effect::ReleaseSlot, Effect::SetAlarm { at_ms: 1125 }]
        );
        // Too early: re-arm; on time: queue for the next attempt.
        assert_eq!(
            on_alarm(&s.state, 1100, false).effects,
            vec![Effect::SetAlarm { at_ms: 1125 }]
        );
        let q = on_alarm(&s.state, 1125, false);
        assert_eq!(q.state, CallState::queued(1, 1125));
        assert_eq!(
            on_slot_granted(&q.state, 1130, false, 1130 + P.slot_lease_ms, &P).state,
            CallState::Downloading {
                attempt: 2,
                started_ms: 1130
            }
        );
        let last = on_attempt_finished(
            &downloading(3),
            AttemptOutcome::Transient("timeout".into()),
            5000,
            0.0,
            &P,
        );
        assert_eq!(
            last.state,
            CallState::Failed {
                at_ms: 5000,
                error: "timeout".into(),
                attempts: 3
            }
        );
        assert_eq!(
            last.effects,
            vec![Effect::ReleaseSlot, Effect::NotifyWaiters]
        );
    }

    #[test]
    fn origin_404_and_401_end_at_once() {
        let nf = on_attempt_finished(&downloading(1), AttemptOutcome::OriginNotFound, 3, 0.0, &P);
        assert_eq!(nf.state, CallState::NotFound { at_ms: 3 });
        let refused =
            on_attempt_finished(&downloading(1), AttemptOutcome::OriginRefused, 3, 0.0, &P);
        assert!(
            matches!(refused.state, CallState::Failed { ref error, attempts: 1, .. } if error.contains("credentials"))
        );
    }

    #[test]
    fn an_attempt_finishing_after_the_state_moved_on_only_releases() {
        let s = on_attempt_finished(
            &CallState::Ready { size: 1 },
            AttemptOutcome::Stored { size: 1 },
            0,
            0.0,
            &P,
        );
        assert_eq!(s.state, CallState::Ready { size: 1 });
        assert_eq!(s.effects, vec![Effect::ReleaseSlot]);
    }

    #[test]
    fn origin_statuses_are_classified() {
        assert_eq!(classify_origin_status(200), None);
        assert_eq!(
            classify_origin_status(404),
            Some(AttemptOutcome::OriginNotFound)
        );
        assert_eq!(
            classify_origin_status(401),
            Some(AttemptOutcome::OriginRefused)
        );
        assert_eq!(
            classify_origin_status(403),
            Some(AttemptOutcome::OriginRefused)
        );
        assert!(matches!(
            classify_origin_status(503),
            Some(AttemptOutcome::Transient(_))
        ));
        assert!(matches!(
            classify_origin_status(429),
            Some(AttemptOutcome::Transient(_))
        ));
        assert!(matches!(
            classify_origin_status(410),
            Some(AttemptOutcome::Permanent(_))
        ));
        assert!(matches!(
            classify_origin_status(206),
            Some(AttemptOutcome::Permanent(_))
        ));
    }

    #[test]
    fn answers_and_statuses_follow_the_state() {
        let q = CallState::queued(0, 0);
        match play_answer(&q, &sid(), 0, Some(4), &P) {
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
    }
}
