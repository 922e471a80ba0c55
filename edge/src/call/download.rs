//! The alarm's handler: the call's slot, asked of the business, and the
//! download's attempt run on it (`crate::origin`).

use std::rc::Rc;

use futures_util::future::join;
use playback_core::config::{EdgeConfig, OriginConfig};
use playback_core::download::{self, AttemptOutcome, CallState, DownloadPolicy, Effect, Step};
use playback_core::fill::{self, FillPhase, FillView};
use playback_core::ids::CallIdentity;
use playback_core::origin_url::{recording_source, RecordingSource};
use playback_core::slots::Acquire;
use playback_core::twilio::Playable;
use serde_json::{json, Value};
use worker::Bucket;

use super::commit::Extras;
use super::Call;
use crate::config;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::origin::{self, Lease, Looked};
use crate::rpc::{recordings, BusinessObject};

/// What one run of the alarm downloads with: the call, its rules, and the
/// business that leases its slot.
struct Download<'a> {
    id: &'a CallIdentity,
    config: &'a EdgeConfig,
    /// Where the recording is fetched (`None`: nowhere the configuration
    /// names, e.g. a business whose Twilio account was removed).
    source: Option<RecordingSource>,
    policy: DownloadPolicy,
    business: BusinessObject,
    /// The call object's name, which owns its lease.
    owner: String,
}

impl Call {
    /// Runs the alarm a play armed at once, in the play's request, while it
    /// stays set ([`super::AlarmRun`]).
    pub(super) fn start_alarm_run(self: &Rc<Self>) {
        let call = self.clone();
        let run = self.alarm.start(async move { call.alarm_handler().await });
        self.state.wait_until(run);
    }

    /// The runtime delivered the alarm.
    pub(super) async fn alarm_delivered(&self) {
        self.alarm.join(self.alarm_handler()).await
    }

    /// One run of the alarm's handler.
    async fn alarm_handler(&self) {
        // Outcomes are recorded in storage; an error here would only make the
        // runtime retry the alarm, which the state machine already arranges.
        let ran = self.run_alarm().await;
        self.alarm.finish();
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
        let policy = config.download_policy();
        let before = self.load().await?;
        let mut playable = self.recordings().await?;
        let unresolved = matches!(config.origin, OriginConfig::Twilio(_)) && playable.is_none();
        // The acquire (and its attempt) run in this handler: see `AlarmRun`.
        let step = download::on_alarm(&before, now_ms(), self.running.get(), unresolved, &policy);
        let (_, mut effects) = self.commit(&before, step, &id).await?;
        if effects.contains(&Effect::Resolve) {
            let (resolved_effects, found) = self.resolve(&config, &id, &policy).await?;
            effects = resolved_effects;
            playable = playable.or(found);
        }
        let Some(look) = effects.iter().find_map(|e| match e {
            Effect::AcquireSlot { look } => Some(*look),
            _ => None,
        }) else {
            return Ok(());
        };
        // This object's recording of the call (the first, or the one asked for).
        let first = playable.as_deref().and_then(|p| p.get(id.index()));
        let d = Download {
            id: &id,
            config: &config,
            source: recording_source(&config, &id, first),
            policy,
            business: BusinessObject::of(&self.env, id.business.as_str())?,
            owner: id.object_name(),
        };
        self.take_slot(&d, look).await
    }

    /// Asks the provider which recordings the call has, before any slot,
    /// and commits what that leads to, with the recordings that play. The
    /// effects left, and those recordings when there are any.
    async fn resolve(
        &self,
        config: &EdgeConfig,
        id: &CallIdentity,
        policy: &DownloadPolicy,
    ) -> EdgeResult<(Vec<Effect>, Option<Vec<Playable>>)> {
        let origin::Resolution {
            resolved,
            playable,
            note,
        } = origin::resolve(config, id).await;
        // Re-read: plays may have run during the request.
        let state = self.load().await?;
        let random = js_sys::Math::random();
        let step = download::on_resolved(&state, resolved, now_ms(), random, policy);
        let stored = match playable.is_empty() {
            true => None,
            false => serde_json::to_string(&playable).ok(),
        };
        let extras = Extras {
            note: Some(("resolved", note)),
            recordings: stored.as_deref(),
            ..Extras::default()
        };
        let (_, effects) = self.commit_with(&state, step, id, extras).await?;
        let acquires = effects
            .iter()
            .any(|e| matches!(e, Effect::AcquireSlot { .. }));
        if !acquires {
            // The business counts this admitted call as one about to take a
            // free slot: it will not, now.
            let business = BusinessObject::of(&self.env, id.business.as_str())?;
            if let Err(e) = business.withdraw(&id.object_name()).await {
                crate::log::call_event(id, "withdraw_failed", json!({"error": format!("{e:?}")}));
            }
        }
        Ok((effects, (!playable.is_empty()).then_some(playable)))
    }

    /// Asks the business for the slot, looking in R2 meanwhile when `look`,
    /// and runs what its answer leads to.
    async fn take_slot(&self, d: &Download<'_>, look: bool) -> EdgeResult<()> {
        let (answer, looked) = self.acquire(d, look).await?;
        // Re-read: play requests may have run while the business held the acquire.
        let state = self.load().await?;
        let step = on_answer(d, &state, answer, self.running.get());
        let (_, effects) = self.commit(&state, step, d.id).await?;
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
                        _ if fresh => Looked::Fresh,
                        Some(looked) => looked,
                        None => Looked::NotYet,
                    };
                    let lease = Lease { grant, expires_ms };
                    self.run_attempt(d, looked, attempt, lease).await?
                }
                Effect::ReleaseSlot { grant } => d.business.release(&d.owner, grant).await?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The business's answer to the acquire, and what R2 held meanwhile:
    /// looked at while the business holds the acquire, off the path from
    /// the grant to the origin's first byte.
    async fn acquire(&self, d: &Download<'_>, look: bool) -> EdgeResult<(Acquire, Looked)> {
        let (answer, looked) = if look {
            let bucket = recordings(&self.env)?;
            join(d.business.acquire(&d.owner), origin::look(&bucket, d.id)).await
        } else {
            (d.business.acquire(&d.owner).await, Looked::NotYet)
        };
        Ok((answer?, looked))
    }

    async fn run_attempt(
        &self,
        d: &Download<'_>,
        looked: Looked,
        attempt: u32,
        lease: Lease,
    ) -> EdgeResult<()> {
        self.running.set(true);
        // The audit trail: the download's first attempt, and who set it on
        // its way (unknown after this object restarted).
        let clicker = self.clicker.borrow_mut().take();
        if attempt == 1 || clicker.is_some() {
            let (agent, request) = clicker.unwrap_or_default();
            crate::log::audit(
                d.id,
                "download_started",
                &agent,
                &request,
                json!({"attempt": attempt}),
            );
        }
        // Its start is the `downloading` transition's line (attempt, grant).
        let started = now_ms();
        let bucket = recordings(&self.env)?;
        let run = self.attempt(d, &bucket, looked, lease).await;
        self.running.set(false);
        let stored = matches!(run.outcome, AttemptOutcome::Stored { .. });
        self.fill.end(if stored {
            FillPhase::Stored
        } else {
            FillPhase::Failed
        });
        let (pieces, filled) = self.fill.read(|view| pieces_of(d.id, view));
        // The attempt's end is told in the line of the transition it makes.
        let end = json!({"attempt": attempt, "grant": lease.grant, "pieces": pieces,
            "wasm_memory": wasm_memory(), "outcome": format!("{:?}", run.outcome),
            "duration_ms": now_ms() - started});
        self.record_attempt(d, run, lease.grant, end).await?;
        delete_pieces(&bucket, d.id, filled).await;
        Ok(())
    }

    /// Runs the attempt on the origin and R2, its fill told to this
    /// instance's listeners as it lands.
    async fn attempt(
        &self,
        d: &Download<'_>,
        bucket: &Bucket,
        looked: Looked,
        lease: Lease,
    ) -> origin::Attempt {
        // A new attempt starts a new fill: listeners of an older one stop.
        self.fill.restart();
        let report = |event| {
            if self.fill.report(event) {
                // Held plays are answered now: the recording plays from its fill.
                self.notify_waiters();
            }
        };
        let Some(source) = &d.source else {
            return origin::Attempt::refused("the configuration names no source for the recording");
        };
        let call = origin::AttemptCall {
            config: d.config,
            id: d.id,
            source,
            looked,
            lease,
            report: &report,
        };
        origin::attempt(bucket, &d.business, call).await
    }

    /// Commits how the attempt ended (`end`: its line's fields) with the
    /// recording's peaks, and gives its slot back unless it did already.
    async fn record_attempt(
        &self,
        d: &Download<'_>,
        run: origin::Attempt,
        grant: u64,
        end: Value,
    ) -> EdgeResult<()> {
        let before = self.load().await?;
        let random = js_sys::Math::random();
        let step =
            download::on_attempt_finished(&before, grant, run.outcome, now_ms(), random, &d.policy);
        let peaks = run
            .peaks
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok());
        let extras = Extras {
            note: Some(("attempt_end", end)),
            peaks: peaks.as_deref(),
            ..Extras::default()
        };
        let (_, effects) = self.commit_with(&before, step, d.id, extras).await?;
        for effect in effects {
            if let Effect::ReleaseSlot { grant } = effect {
                if !run.released {
                    d.business.release(&d.owner, grant).await?;
                }
            }
        }
        Ok(())
    }
}

/// The state the business's answer to the acquire leads to.
fn on_answer(d: &Download<'_>, state: &CallState, answer: Acquire, running: bool) -> Step {
    match answer {
        Acquire::Queued { position } => {
            crate::log::call_event(d.id, "queued", json!({"position": position}));
            download::on_slot_queued(state, now_ms())
        }
        Acquire::Full { retry_after_ms } => {
            crate::log::call_event(d.id, "queue_full", json!({}));
            download::on_slot_full(state, now_ms(), retry_after_ms)
        }
        Acquire::Granted { expires_ms, grant } => {
            download::on_slot_granted(state, now_ms(), running, grant, expires_ms, &d.policy)
        }
    }
}

/// How many of a fill's pieces landed, and the keys of all it may have put
/// in R2: none when no fill started.
fn pieces_of(id: &CallIdentity, view: Option<&FillView>) -> (Option<u32>, Vec<String>) {
    match view {
        Some(view) => (
            Some(view.landed),
            fill::piece_keys(id, view.fill, view.size),
        ),
        None => (None, Vec::new()),
    }
}

/// Deletes an ended attempt's pieces by name. Stored: listeners read the
/// rest from the served key now; one that finds a piece gone asks again and
/// is told so. Failed: its listeners were aborted. Only an attempt that dies
/// with its instance leaves pieces behind, for the next one (which is not
/// fresh, and clears them first).
async fn delete_pieces(bucket: &Bucket, id: &CallIdentity, filled: Vec<String>) {
    if filled.is_empty() {
        return;
    }
    if let Err(e) = bucket.delete_multiple(filled).await {
        crate::log::call_event(id, "pieces_left", json!({"error": format!("{e:?}")}));
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
