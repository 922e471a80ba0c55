//! `CallRecording`: one Durable Object per `(business, call_sid)`, the only
//! place that decides whether a download starts, and the place it runs.
//!
//! Concurrency story:
//! - Every handler reads the state, asks the pure state machine
//!   (`playback_core::download`) for the next state, and stores it before
//!   any `await` that lets another request in (a `fetch` to the origin or to
//!   the business object, an R2 call). Storage operations alone are
//!   protected by the runtime's input gate, so a click storm sees one
//!   `none → queued` transition and every other click sees `queued`.
//! - The download runs from the alarm, never from a request, so it outlives
//!   the request that asked for it. `running` (memory only) tells a
//!   duplicate alarm from a resumed one: a fresh instance that finds
//!   `downloading` in storage knows the previous instance died (a restart)
//!   and queues the attempt again. While an attempt runs, a watchdog alarm
//!   stays set past its timeout so a restart resumes it even without a click.
//! - The slot is taken here, in the alarm, from the business object, and
//!   released on every way out of an attempt (the state machine emits
//!   `ReleaseSlot` on each). When no slot is free, the business object
//!   holds the acquire open and answers it with the next free slot, so the
//!   attempt starts in the same alarm; a safety alarm armed before asking
//!   covers an instance that dies while it waits.
//! - Play requests are held open (up to `HOLD_MS`) on a oneshot channel and
//!   answered as soon as the download ends, so a cold click is answered
//!   about one origin latency after it arrives instead of a poll later.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::select;
use playback_core::config::EdgeConfig;
use playback_core::download::{
    self, AttemptOutcome, CallState, DownloadPolicy, Effect, PlayAnswer, Step,
};
use playback_core::slots::{acquire_hold_ms, Acquire};
use serde_json::json;
use worker::{durable_object, Date, Delay, Env, Request, Response, Result, State};

use crate::business_slots_do as slots;
use crate::config;
use crate::error::{json_response, EdgeError};
use crate::origin;
use crate::rpc::CallIdentity;

const STATE_KEY: &str = "state";
const IDENTITY_KEY: &str = "identity";
/// How long a play request may be held waiting for the download to end.
const HOLD_MS: u64 = 1_500;
/// How long past an attempt's timeout the watchdog alarm fires.
const WATCHDOG_GRACE_MS: u64 = 5_000;

#[durable_object]
pub struct CallRecording {
    state: State,
    env: Env,
    running: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

fn policy(c: &EdgeConfig) -> DownloadPolicy {
    DownloadPolicy {
        max_attempts: c.max_attempts,
        slot_lease_ms: c.slot_lease_ms,
        failed_cooldown_ms: c.failed_cooldown_ms,
        not_found_ttl_ms: c.not_found_ttl_ms,
    }
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

impl CallRecording {
    async fn load(&self) -> Result<CallState> {
        Ok(self
            .state
            .storage()
            .get(STATE_KEY)
            .await?
            .unwrap_or(CallState::None))
    }

    async fn identity(&self) -> Result<Option<CallIdentity>> {
        self.state.storage().get(IDENTITY_KEY).await
    }

    /// Stores a step's state (logging the transition) and arms its alarms.
    /// Returns the effects that remain for the caller.
    async fn commit(
        &self,
        before: &CallState,
        step: Step,
        id: &CallIdentity,
    ) -> Result<(CallState, Vec<Effect>)> {
        if &step.state != before {
            self.state.storage().put(STATE_KEY, &step.state).await?;
            crate::log::event(
                json!({"event": "transition", "business": id.business, "call_sid": id.call_sid,
                "from": before.name(), "to": step.state.name(), "state": step.state}),
            );
        }
        let mut rest = Vec::new();
        for effect in step.effects {
            match effect {
                Effect::SetAlarm { at_ms } => self.arm(at_ms).await?,
                Effect::NotifyWaiters => self.notify_waiters(),
                other => rest.push(other),
            }
        }
        Ok((step.state, rest))
    }

    async fn arm(&self, at_ms: u64) -> Result<()> {
        let delay = at_ms.saturating_sub(now_ms()) as i64;
        self.state.storage().set_alarm(delay).await
    }

    fn notify_waiters(&self) {
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    async fn handle(&self, mut req: Request) -> std::result::Result<Response, EdgeError> {
        let path = req.path();
        if path == "/wake" {
            // The business object granted us a slot: take it now.
            self.arm(now_ms()).await?;
            return Ok(json_response(200, &true));
        }
        let id: CallIdentity = req.json().await?;
        let config = config::load(&self.env)?;
        let p = policy(&config);
        if self.identity().await?.is_none() {
            self.state.storage().put(IDENTITY_KEY, &id).await?;
        }
        match path.as_str() {
            "/play" => self.handle_play(&id, &p).await,
            "/status" => {
                let state = self.load().await?;
                let position = self.queue_position(&state, &id).await;
                Ok(json_response(
                    200,
                    &download::status_of(&state, &id.call_sid, now_ms(), position, &p),
                ))
            }
            _ => Err(EdgeError::NotFound),
        }
    }

    async fn handle_play(
        &self,
        id: &CallIdentity,
        p: &DownloadPolicy,
    ) -> std::result::Result<Response, EdgeError> {
        let before = self.load().await?;
        let step = download::on_play(&before, now_ms(), self.running.get(), p);
        let (mut state, _) = self.commit(&before, step, id).await?;
        if matches!(
            state,
            CallState::Queued { .. } | CallState::Downloading { .. } | CallState::RetryWait { .. }
        ) {
            // Hold the request until the download ends or HOLD_MS passes.
            let (tx, rx) = oneshot::channel();
            {
                let mut waiters = self.waiters.borrow_mut();
                waiters.retain(|w| !w.is_canceled());
                waiters.push(tx);
            }
            let _ = select(rx, Delay::from(Duration::from_millis(HOLD_MS))).await;
            state = self.load().await?;
        }
        let position = self.queue_position(&state, id).await;
        Ok(json_response(
            200,
            &download::play_answer(&state, &id.call_sid, now_ms(), position, p),
        ))
    }

    async fn queue_position(&self, state: &CallState, id: &CallIdentity) -> Option<u32> {
        match state {
            CallState::Queued { .. } => {
                slots::position(&self.env, id.business.as_str(), &id.object_name())
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        }
    }

    async fn run_alarm(&self) -> std::result::Result<(), EdgeError> {
        let Some(id) = self.identity().await? else {
            return Ok(());
        };
        let config = config::load(&self.env)?;
        let p = policy(&config);
        let before = self.load().await?;
        let step = download::on_alarm(&before, now_ms(), self.running.get());
        let (_, effects) = self.commit(&before, step, &id).await?;
        if !effects.contains(&Effect::AcquireSlot) {
            return Ok(());
        }
        let owner = id.object_name();
        // If this instance dies while the business holds the acquire, this alarm asks again.
        let hold = acquire_hold_ms(config.slot_lease_ms);
        self.arm(now_ms() + hold + WATCHDOG_GRACE_MS).await?;
        let answer = slots::acquire(&self.env, id.business.as_str(), &owner).await?;
        // Re-read: play requests may have run while the business held the acquire.
        let state = self.load().await?;
        let step = match answer {
            Acquire::Queued { position } => {
                crate::log::event(
                    json!({"event": "queued", "business": id.business, "call_sid": id.call_sid, "position": position}),
                );
                download::on_slot_queued(&state, now_ms())
            }
            Acquire::Granted { expires_ms } => {
                download::on_slot_granted(&state, now_ms(), self.running.get(), expires_ms, &p)
            }
        };
        let (_, effects) = self.commit(&state, step, &id).await?;
        for effect in effects {
            match effect {
                Effect::StartAttempt {
                    attempt,
                    check_store,
                } => {
                    self.run_attempt(&id, &config, &p, attempt, check_store)
                        .await?
                }
                Effect::ReleaseSlot => {
                    slots::release(&self.env, id.business.as_str(), &owner).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn run_attempt(
        &self,
        id: &CallIdentity,
        config: &EdgeConfig,
        p: &DownloadPolicy,
        attempt: u32,
        check_store: bool,
    ) -> std::result::Result<(), EdgeError> {
        self.running.set(true);
        let started = now_ms();
        self.arm(started + config.download_timeout_ms + WATCHDOG_GRACE_MS)
            .await?;
        crate::log::event(
            json!({"event": "attempt_start", "business": id.business, "call_sid": id.call_sid, "attempt": attempt}),
        );
        let bucket = self.env.bucket("RECORDINGS")?;
        let owner = id.object_name();
        // R2 first after an earlier attempt: it may have stored the body and
        // died (or timed out) before recording it, and a stored recording
        // must never be downloaded again.
        let key = playback_core::ids::recording_key(&id.business, &id.call_sid);
        let stored = if check_store {
            bucket.head(key).await?
        } else {
            None
        };
        let attempt_run = match stored {
            Some(object) => origin::Attempt {
                outcome: AttemptOutcome::Stored {
                    size: object.size(),
                },
                released: false,
            },
            None => {
                origin::download_to_r2(
                    config,
                    &bucket,
                    id,
                    || slots::renew(&self.env, id.business.as_str(), &owner),
                    || slots::release(&self.env, id.business.as_str(), &owner),
                )
                .await
            }
        };
        let outcome = attempt_run.outcome;
        self.running.set(false);
        crate::log::event(
            json!({"event": "attempt_end", "business": id.business, "call_sid": id.call_sid, "attempt": attempt,
            "outcome": format!("{outcome:?}"), "duration_ms": now_ms() - started}),
        );
        let before = self.load().await?;
        let step =
            download::on_attempt_finished(&before, outcome, now_ms(), js_sys::Math::random(), p);
        let (_, effects) = self.commit(&before, step, id).await?;
        if effects.contains(&Effect::ReleaseSlot) && !attempt_run.released {
            slots::release(&self.env, id.business.as_str(), &owner).await?;
        }
        Ok(())
    }
}

impl worker::DurableObject for CallRecording {
    fn new(state: State, env: Env) -> Self {
        CallRecording {
            state,
            env,
            running: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .handle(req)
            .await
            .unwrap_or_else(EdgeError::into_response))
    }

    async fn alarm(&self) -> Result<Response> {
        // Outcomes are recorded in storage; an error here would only make the
        // runtime retry the alarm, which the state machine already arranges.
        if let Err(e) = self.run_alarm().await {
            self.running.set(false);
            crate::log::event(json!({"event": "alarm_error", "error": format!("{e:?}")}));
            let _ = self.arm(now_ms() + 1_000).await;
        }
        Response::ok("ok")
    }
}

/// The frontend's view: ask the call object about a play request that missed R2.
pub async fn play(env: &Env, id: &CallIdentity) -> std::result::Result<PlayAnswer, EdgeError> {
    let stub = env
        .durable_object("CALL_RECORDING")?
        .get_by_name(&id.object_name())?;
    crate::rpc::call(&stub, "/play", id).await
}

pub async fn status(
    env: &Env,
    id: &CallIdentity,
) -> std::result::Result<playback_core::wire::StatusBody, EdgeError> {
    let stub = env
        .durable_object("CALL_RECORDING")?
        .get_by_name(&id.object_name())?;
    crate::rpc::call(&stub, "/status", id).await
}
