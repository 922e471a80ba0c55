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
//! - A state and the alarm it needs are one atomic write: both are issued
//!   before either is awaited, and the runtime commits writes issued with
//!   no `await` between them together (alarms follow the storage rules).
//!   A play that still finds `queued` or `retry_wait` without an alarm (a
//!   lost one) arms it again.
//! - A play that must learn something first (whether R2 still has a
//!   `ready` recording; whether the business admits a new download) learns
//!   it, then loads the state again and decides on that, so whatever ran
//!   during the await is seen; if the state changed meanwhile (the
//!   in-memory `generation`), what it learnt is dropped. A refused play
//!   writes nothing.
//! - The download runs from the alarm, never from a request, so it outlives
//!   the request that asked for it. `running` (memory only) tells a
//!   duplicate alarm from a resumed one: a fresh instance that finds
//!   `downloading` in storage knows the previous instance died (a restart)
//!   and queues the attempt again. The runtime delivers an alarm at least
//!   once: an alarm whose handler has not ended when its instance dies is
//!   run again (on the restarted runtime, at once), so the handler in
//!   flight is itself what resumes a wait for a slot or an attempt after a
//!   restart, without a click and without an alarm of this object's own
//!   (`in_alarm` tells plays that one is in flight). A play that arms an
//!   alarm due at once runs that handler's work itself, in its request
//!   (`early`), without waiting for the runtime to deliver it; the alarm
//!   stays set, so an instance that dies first still has it run, and its
//!   handler, once delivered, joins the run and ends with it.
//! - The slot is taken here, in the alarm, from the business object, under
//!   a grant id; renewals and the release name that grant, so nothing this
//!   object sends late can touch a newer lease. An attempt stops when its
//!   lease is lost, and ends only when its R2 write has ended (see
//!   `origin.rs`). When no slot is free, the business object holds the
//!   acquire open and answers it with the next free slot, so the attempt
//!   starts in the same alarm.
//! - Play requests are held open (up to `PLAY_HOLD_MS`) on one shared
//!   signal that fires when the download's first piece lands or the
//!   download ends, and answered then, so a cold click is answered about
//!   one origin latency after it arrives instead of a poll later.
//! - While an attempt runs, its fill (`playback_core::fill`) lives in this
//!   instance's memory: the attempt reports each piece as it lands, and
//!   listeners ask (`Fill`) which pieces exist, held until the one they
//!   need lands. A fill dies with its instance; listeners of a fill this
//!   instance does not know are aborted, and the next attempt deletes its
//!   pieces. A fill's pieces are deleted when its attempt ends (stored:
//!   once the whole recording is under the served key; failed: its
//!   listeners were aborted).
//! - An attempt looks in R2 first, unless it is fresh: a play queued the
//!   call just after R2 was seen without the recording, and no attempt ran
//!   since (only this call's attempts write its key). A resumed or retried
//!   attempt looks, while the business holds its acquire.
//! - `/status` only reads: it never writes storage, never arms an alarm.
//! - A call the origin does not have (and one refused for a full queue)
//!   deletes its storage when its time is over.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{join, join4, select, Either, LocalBoxFuture, Shared};
use futures_util::FutureExt;
use playback_core::admission::Admission;
use playback_core::config::EdgeConfig;
use playback_core::download::{
    self, AttemptOutcome, CallState, DownloadPolicy, Effect, PlayCheck, PlayFact, PlayInput, Step,
};
use playback_core::fill::{self, FillPhase, FillView};
use playback_core::peaks::PeaksRecord;
use playback_core::slots::Acquire;
use serde_json::json;
use worker::{durable_object, Delay, Env, Request, Response, Result, State};

use crate::config;
use crate::error::{json_response, EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::origin;
use crate::rpc::{recordings, BusinessObject, CallIdentity, CallMessage};
use crate::signal::{self, Signal};

const STATE_KEY: &str = "state";
const IDENTITY_KEY: &str = "identity";
/// The stored recording's peaks record (JSON), written with `ready`.
const PEAKS_KEY: &str = "peaks";

#[durable_object]
pub struct CallRecording {
    /// Shared with a play's run of the alarm (`start_alarm_run`), which
    /// outlives the play's request.
    call: Rc<Call>,
}

/// The object's state and memory.
struct Call {
    state: State,
    env: Env,
    running: Cell<bool>,
    /// This instance's alarm handler is in flight: an alarm will run for
    /// this object even with none set (the runtime runs it again if the
    /// instance dies before the handler ends).
    in_alarm: Cell<bool>,
    /// A play's run of the alarm it armed (`download::runs_alarm_at_once`),
    /// in flight: the alarm's handler, once the runtime delivers it, joins it.
    early: RefCell<Option<Shared<LocalBoxFuture<'static, ()>>>>,
    /// Counts this instance's state changes, so a play can tell whether what
    /// it learnt during an await still speaks of the state it asked about.
    generation: Cell<u64>,
    /// Held plays wait on this; it fires (for all of them at once) when the
    /// download ends, and a new one takes its place.
    ended: RefCell<Signal>,
    /// The admission request in flight: plays that arrive while it is asked
    /// share its answer, so a storm costs one admission, never the budget.
    admission: RefCell<Option<Shared<LocalBoxFuture<'static, Option<Admission>>>>>,
    /// The fill of the attempt running here (or of the last one).
    fill: RefCell<Option<FillView>>,
    /// Fires (and is replaced) each time the fill changes.
    progress: RefCell<Signal>,
    /// The peaks computation from R2 in flight: every request shares it.
    peaks: RefCell<Option<Shared<LocalBoxFuture<'static, Option<PeaksRecord>>>>>,
}

fn policy(c: &EdgeConfig) -> DownloadPolicy {
    DownloadPolicy {
        max_attempts: c.max_attempts,
        slot_lease_ms: c.slot_lease_ms,
        failed_cooldown_ms: c.failed_cooldown_ms,
        not_found_ttl_ms: c.not_found_ttl_ms,
        download_timeout_ms: c.download_timeout_ms,
    }
}

impl Call {
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

    /// Stores a step's state (with the object's identity, which the alarm
    /// needs) and arms the alarm it asks for, in one atomic write; forgets
    /// everything on `Forget`. Returns the effects that remain for the caller.
    async fn commit(
        &self,
        before: &CallState,
        step: Step,
        id: &CallIdentity,
    ) -> Result<(CallState, Vec<Effect>)> {
        self.commit_noting(before, step, id, None, None).await
    }

    /// [`commit`](Self::commit), with `note` (an event name and its fields)
    /// logged in the transition's line, or in a line of its own when the
    /// state stays: one line per step; and with the stored recording's
    /// `peaks` record (JSON), written in the same atomic write.
    async fn commit_noting(
        &self,
        before: &CallState,
        step: Step,
        id: &CallIdentity,
        note: Option<(&str, serde_json::Value)>,
        peaks: Option<&str>,
    ) -> Result<(CallState, Vec<Effect>)> {
        let storage = self.state.storage();
        let alarm_at = step.effects.iter().rev().find_map(|e| match e {
            Effect::SetAlarm { at_ms } => Some(*at_ms),
            _ => None,
        });
        if step.effects.contains(&Effect::Forget) {
            join(storage.delete_all(), storage.delete_alarm()).await.0?;
        } else if &step.state != before || peaks.is_some() {
            // All issued before any is awaited: one atomic write. The
            // identity is written with the first state (after `none`, whose
            // storage is empty) and stays until everything is forgotten.
            let state = async {
                match &step.state != before {
                    true => storage.put(STATE_KEY, &step.state).await,
                    false => Ok(()),
                }
            };
            let identity = async {
                match before {
                    CallState::None => storage.put(IDENTITY_KEY, id).await,
                    _ => Ok(()),
                }
            };
            let peaks = async {
                match peaks {
                    Some(json) => storage.put(PEAKS_KEY, json).await,
                    None => Ok(()),
                }
            };
            let alarm = async {
                match alarm_at {
                    Some(at) => storage.set_alarm(delay_to(at)).await,
                    None => Ok(()),
                }
            };
            let (state, identity, peaks, alarm) = join4(state, identity, peaks, alarm).await;
            state.and(identity).and(peaks).and(alarm)?
        } else if let Some(at) = alarm_at {
            storage.set_alarm(delay_to(at)).await?;
        }
        if &step.state != before || step.effects.contains(&Effect::Forget) {
            self.generation.set(self.generation.get() + 1);
        }
        if &step.state != before {
            let mut line =
                json!({"from": before.name(), "to": step.state.name(), "state": step.state});
            if let (Some((_, serde_json::Value::Object(fields))), Some(map)) =
                (note, line.as_object_mut())
            {
                map.extend(fields);
            }
            crate::log::call_event(id, "transition", line);
        } else if let Some((event, fields)) = note {
            crate::log::call_event(id, event, fields);
        }
        let mut rest = Vec::new();
        for effect in step.effects {
            match effect {
                Effect::SetAlarm { .. } | Effect::Forget => {}
                Effect::NotifyWaiters => self.notify_waiters(),
                other => rest.push(other),
            }
        }
        Ok((step.state, rest))
    }

    async fn arm(&self, at_ms: u64) -> Result<()> {
        self.state.storage().set_alarm(delay_to(at_ms)).await
    }

    fn notify_waiters(&self) {
        signal::fire(&self.ended);
    }

    /// Applies what the running attempt reports about its fill.
    fn on_fill(&self, event: origin::FillEvent) {
        let first_bytes = {
            let mut fill = self.fill.borrow_mut();
            match event {
                origin::FillEvent::Started(view) => {
                    *fill = Some(view);
                    false
                }
                origin::FillEvent::Landed(index) => fill
                    .as_mut()
                    .is_some_and(|view| view.piece_landed(index) && view.landed == 1),
            }
        };
        self.fill_changed();
        if first_bytes {
            // Held plays are answered now: the recording plays from its fill.
            self.notify_waiters();
        }
    }

    fn end_fill(&self, phase: FillPhase) {
        if let Some(view) = self.fill.borrow_mut().as_mut() {
            if view.phase == FillPhase::Filling {
                view.phase = phase;
            }
        }
        self.fill_changed();
    }

    fn fill_changed(&self) {
        signal::fire(&self.progress);
    }

    /// The fill, once it can answer about `piece` (or `PIECE_HOLD_MS` passed).
    async fn fill_view(&self, piece: Option<u32>) -> Option<FillView> {
        let mut hold = Delay::from(Duration::from_millis(fill::PIECE_HOLD_MS)).fuse();
        loop {
            let waiting = match (self.fill.borrow().as_ref(), piece) {
                (Some(view), Some(index)) => !view.answers(index),
                _ => false,
            };
            if !waiting {
                break;
            }
            let changed = signal::fired(&self.progress);
            if let Either::Right(_) = select(changed, &mut hold).await {
                break;
            }
        }
        self.fill.borrow().clone()
    }

    async fn handle(self: &Rc<Self>, mut req: Request) -> EdgeResult<Response> {
        // The configuration is loaded once, by the messages that need it.
        let policy = || config::load(&self.env).map(|c| policy(&c));
        match req.json().await? {
            // The business object granted us a slot: take it now.
            CallMessage::Wake => {
                self.arm(now_ms()).await?;
                Ok(json_response(200, &true))
            }
            CallMessage::Fill { piece } => Ok(json_response(200, &self.fill_view(piece).await)),
            CallMessage::Play { id, agent } => self.handle_play(&id, &agent, &policy()?).await,
            CallMessage::Status { id } => self.handle_status(&id, &policy()?).await,
            CallMessage::Peaks { id } => Ok(json_response(200, &self.peaks(&id).await?)),
        }
    }

    /// The stored recording's peaks record: as its download wrote it with
    /// `ready`, or, for a recording stored without one, computed from R2
    /// here and kept (concurrent requests share one computation). `None`
    /// while R2 does not have the recording.
    async fn peaks(&self, id: &CallIdentity) -> EdgeResult<Option<PeaksRecord>> {
        let storage = self.state.storage();
        if let Some(json) = storage.get::<String>(PEAKS_KEY).await? {
            return Ok(Some(
                serde_json::from_str(&json)
                    .map_err(|e| EdgeError::Internal(format!("stored peaks: {e}")))?,
            ));
        }
        let shared = {
            let mut slot = self.peaks.borrow_mut();
            slot.get_or_insert_with(|| {
                let (env, id) = (self.env.clone(), id.clone());
                async move {
                    let record = origin::peaks_from_r2(env, id.clone()).await?;
                    // Kept: a failure only costs computing them again.
                    if let Ok(json) = serde_json::to_string(&record) {
                        if let Err(e) = storage.put(PEAKS_KEY, json).await {
                            let detail = json!({"detail": format!("{e:?}")});
                            crate::log::call_event(&id, "peaks_not_stored", detail);
                        }
                    }
                    Some(record)
                }
                .boxed_local()
                .shared()
            })
            .clone()
        };
        let record = shared.clone().await;
        let mut slot = self.peaks.borrow_mut();
        if slot.as_ref().is_some_and(|s| s.ptr_eq(&shared)) {
            slot.take();
        }
        Ok(record)
    }

    async fn handle_status(&self, id: &CallIdentity, p: &DownloadPolicy) -> EdgeResult<Response> {
        let state = self.load().await?;
        let position = self.queue_position(&state, id).await;
        let body = download::status_of(&state, &id.call_sid, now_ms(), position, p);
        let fill = self.fill.borrow().clone();
        Ok(json_response(
            200,
            &download::status_with_fill(&state, body, fill.as_ref()),
        ))
    }

    async fn handle_play(
        self: &Rc<Self>,
        id: &CallIdentity,
        agent: &str,
        p: &DownloadPolicy,
    ) -> EdgeResult<Response> {
        let first = self.load().await?;
        let generation = self.generation.get();
        let mut fact = match download::play_check(&first, now_ms(), p) {
            PlayCheck::Nothing => PlayFact::Nothing,
            PlayCheck::Store => {
                let key = playback_core::ids::recording_key(&id.business, &id.call_sid);
                let bucket = recordings(&self.env)?;
                PlayFact::Stored(bucket.head(key).await?.is_some())
            }
            PlayCheck::Admission => PlayFact::Admission(self.admit(id, agent).await?),
        };
        // Decide on the state as it is now: other requests ran during the await.
        fact = download::fact_after_await(fact, generation, self.generation.get());
        let before = self.load().await?;
        let input_now = now_ms();
        let input = PlayInput {
            now: input_now,
            running_here: self.running.get(),
            alarm_set: self.in_alarm.get() || self.state.storage().get_alarm().await?.is_some(),
            fact,
        };
        let step = download::on_play(&before, input, p);
        let armed = step.clone();
        let (mut state, _) = self.commit(&before, step, id).await?;
        // Asked after the commit's await: another play, or the delivered
        // alarm, may have started the handler's work meanwhile.
        if download::runs_alarm_at_once(&armed, input_now, self.in_alarm.get()) {
            self.start_alarm_run();
        }
        let playable = download::plays_from_fill(&state, self.fill.borrow().as_ref());
        if download::holds_play(&state) && !playable {
            // Hold the request until the download's first piece lands, it
            // ends, or PLAY_HOLD_MS passes.
            let ended = signal::fired(&self.ended);
            let _ = select(
                ended,
                Delay::from(Duration::from_millis(download::PLAY_HOLD_MS)),
            )
            .await;
            state = self.load().await?;
        }
        let position = self.queue_position(&state, id).await;
        let answer = download::play_answer(&state, &id.call_sid, now_ms(), position, fact, p);
        let fill = self.fill.borrow().clone();
        Ok(json_response(
            200,
            &download::answer_with_fill(&state, answer, fill.as_ref()),
        ))
    }

    /// Asks the business to admit a new download, or joins the request
    /// already in flight for this call.
    async fn admit(&self, id: &CallIdentity, agent: &str) -> EdgeResult<Admission> {
        let shared = {
            let mut slot = self.admission.borrow_mut();
            slot.get_or_insert_with(|| {
                let (env, call, agent) = (self.env.clone(), id.clone(), agent.to_owned());
                async move {
                    let business = BusinessObject::of(&env, call.business.as_str()).ok()?;
                    business.admit(&call, &agent).await.ok()
                }
                .boxed_local()
                .shared()
            })
            .clone()
        };
        let answer = shared.clone().await;
        // Answered: the next play that needs an admission asks anew (unless
        // one already did, whose request stays shared).
        let mut slot = self.admission.borrow_mut();
        if slot.as_ref().is_some_and(|s| s.ptr_eq(&shared)) {
            slot.take();
        }
        drop(slot);
        answer.ok_or_else(|| {
            EdgeError::Internal("the business object did not answer an admission".into())
        })
    }

    async fn queue_position(&self, state: &CallState, id: &CallIdentity) -> Option<u32> {
        match state {
            CallState::Queued { .. } => match BusinessObject::of(&self.env, id.business.as_str()) {
                Ok(business) => business.position(&id.object_name()).await.ok().flatten(),
                Err(_) => None,
            },
            _ => None,
        }
    }

    /// Runs the alarm a play armed at once, in the play's request, while it
    /// stays set: an instance that dies before the runtime delivers it has it
    /// run on the restarted runtime; delivered, its handler joins this run.
    fn start_alarm_run(self: &Rc<Self>) {
        self.in_alarm.set(true);
        let call = self.clone();
        let run = async move {
            call.alarm_handler().await;
            call.early.borrow_mut().take();
        }
        .boxed_local()
        .shared();
        *self.early.borrow_mut() = Some(run.clone());
        self.state.wait_until(run);
    }

    /// The runtime delivered the alarm.
    async fn alarm_delivered(&self) {
        let early = self.early.borrow().clone();
        match early {
            // A play runs it already: this handler ends with that run, so a
            // restart before then runs the alarm again.
            Some(run) => run.await,
            None => {
                self.in_alarm.set(true);
                self.alarm_handler().await
            }
        }
    }

    /// One run of the alarm's handler (`in_alarm` set by the caller).
    async fn alarm_handler(&self) {
        // Outcomes are recorded in storage; an error here would only make the
        // runtime retry the alarm, which the state machine already arranges.
        let ran = self.run_alarm().await;
        self.in_alarm.set(false);
        if let Err(e) = ran {
            self.running.set(false);
            crate::log::event(json!({"event": "alarm_error", "error": format!("{e:?}")}));
            let _ = self.arm(now_ms() + download::ALARM_ERROR_RETRY_MS).await;
        }
    }

    async fn run_alarm(&self) -> EdgeResult<()> {
        let Some(id) = self.identity().await? else {
            return Ok(());
        };
        let config = config::load(&self.env)?;
        let p = policy(&config);
        let before = self.load().await?;
        // The acquire (and its attempt) run in this handler: see `in_alarm`.
        let step = download::on_alarm(&before, now_ms(), self.running.get(), &p);
        let (_, effects) = self.commit(&before, step, &id).await?;
        let Some(look) = effects.iter().find_map(|e| match e {
            Effect::AcquireSlot { look } => Some(*look),
            _ => None,
        }) else {
            return Ok(());
        };
        let owner = id.object_name();
        let business = BusinessObject::of(&self.env, id.business.as_str())?;
        // R2 is looked at while the business holds the acquire, off the
        // path from the grant to the origin's first byte.
        let (answer, looked) = if look {
            let bucket = recordings(&self.env)?;
            join(business.acquire(&owner), origin::look(&bucket, &id)).await
        } else {
            (business.acquire(&owner).await, origin::Looked::NotYet)
        };
        let answer = answer?;
        // Re-read: play requests may have run while the business held the acquire.
        let state = self.load().await?;
        let step = match answer {
            Acquire::Queued { position } => {
                crate::log::call_event(&id, "queued", json!({"position": position}));
                download::on_slot_queued(&state, now_ms())
            }
            Acquire::Full { retry_after_ms } => {
                crate::log::call_event(&id, "queue_full", json!({}));
                download::on_slot_full(&state, now_ms(), retry_after_ms)
            }
            Acquire::Granted { expires_ms, grant } => download::on_slot_granted(
                &state,
                now_ms(),
                self.running.get(),
                grant,
                expires_ms,
                &p,
            ),
        };
        let (_, effects) = self.commit(&state, step, &id).await?;
        let mut looked = Some(looked);
        for effect in effects {
            match effect {
                Effect::StartAttempt {
                    attempt,
                    grant,
                    expires_ms,
                    fresh,
                } => {
                    let looked = match looked.take() {
                        _ if fresh => origin::Looked::Fresh,
                        Some(looked) => looked,
                        None => origin::Looked::NotYet,
                    };
                    let lease = (attempt, grant, expires_ms);
                    self.run_attempt(&id, &config, &p, looked, lease).await?
                }
                Effect::ReleaseSlot { grant } => business.release(&owner, grant).await?,
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
        looked: origin::Looked,
        (attempt, grant, expires_ms): (u32, u64, u64),
    ) -> EdgeResult<()> {
        self.running.set(true);
        // Its start is the `downloading` transition's line (attempt, grant).
        let started = now_ms();
        let bucket = recordings(&self.env)?;
        let owner = id.object_name();
        let business = BusinessObject::of(&self.env, id.business.as_str())?;
        // A new attempt starts a new fill: listeners of an older one stop.
        self.fill.borrow_mut().take();
        self.fill_changed();
        let report = |event| self.on_fill(event);
        let call = origin::AttemptCall {
            config,
            id,
            looked,
            lease: origin::Lease { grant, expires_ms },
            report: &report,
        };
        let run = origin::attempt(&bucket, &business, call).await;
        let outcome = run.outcome;
        self.running.set(false);
        let stored = matches!(outcome, AttemptOutcome::Stored { .. });
        self.end_fill(if stored {
            FillPhase::Stored
        } else {
            FillPhase::Failed
        });
        let (pieces, filled) = match self.fill.borrow().as_ref() {
            // A fill started: some of its pieces may be in R2.
            Some(view) => (
                Some(view.landed),
                fill::piece_keys(&id.business, &id.call_sid, view.fill, view.size),
            ),
            None => (None, Vec::new()),
        };
        // The attempt's end is told in the line of the transition it makes.
        let end = json!({"attempt": attempt, "grant": grant, "pieces": pieces,
            "wasm_memory": wasm_memory(), "outcome": format!("{outcome:?}"),
            "duration_ms": now_ms() - started});
        let before = self.load().await?;
        let step = download::on_attempt_finished(
            &before,
            grant,
            outcome,
            now_ms(),
            js_sys::Math::random(),
            p,
        );
        let peaks = run
            .peaks
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok());
        let note = Some(("attempt_end", end));
        let (_, effects) = self
            .commit_noting(&before, step, id, note, peaks.as_deref())
            .await?;
        for effect in effects {
            if let Effect::ReleaseSlot { grant } = effect {
                if !run.released {
                    business.release(&owner, grant).await?;
                }
            }
        }
        if !filled.is_empty() {
            // Stored: listeners read the rest from the served key now; one
            // that finds a piece gone asks again and is told so. Failed: its
            // listeners were aborted. Either way none of its pieces is
            // needed; they are deleted by name. Only an attempt that dies
            // with its instance leaves pieces behind, for the next one (which
            // is not fresh, and clears them first).
            if let Err(e) = bucket.delete_multiple(filled).await {
                crate::log::call_event(id, "pieces_left", json!({"error": format!("{e:?}")}));
            }
        }
        Ok(())
    }
}

/// The size of this isolate's wasm memory, in bytes (it never shrinks).
fn wasm_memory() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|m| js_sys::ArrayBuffer::from(m.buffer()).byte_length() as f64)
        .unwrap_or(0.0)
}

fn delay_to(at_ms: u64) -> i64 {
    at_ms.saturating_sub(now_ms()) as i64
}

impl worker::DurableObject for CallRecording {
    fn new(state: State, env: Env) -> Self {
        let call = Call {
            state,
            env,
            running: Cell::new(false),
            in_alarm: Cell::new(false),
            early: RefCell::new(None),
            generation: Cell::new(0),
            ended: RefCell::new(Signal::new()),
            admission: RefCell::new(None),
            fill: RefCell::new(None),
            progress: RefCell::new(Signal::new()),
            peaks: RefCell::new(None),
        };
        CallRecording {
            call: Rc::new(call),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .call
            .handle(req)
            .await
            .unwrap_or_else(|e| e.into_response("")))
    }

    async fn alarm(&self) -> Result<Response> {
        self.call.alarm_delivered().await;
        Response::ok("ok")
    }
}
