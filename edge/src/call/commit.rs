//! The call's state in storage: read, and written with the alarm it needs
//! in one atomic write (the runtime commits the writes issued with no
//! `await` between them together; alarms follow the storage rules).

use std::future::Future;

use futures_util::future::{join, join3, join4};
use playback_core::clock::ms_until;
use playback_core::download::{CallState, Effect, Step};
use playback_core::ids::CallIdentity;
use playback_core::twilio::Playable;
use serde_json::{json, Value};
use worker::Result;

use super::Call;
use crate::log::now_ms;

const STATE_KEY: &str = "state";
const IDENTITY_KEY: &str = "identity";
/// The stored recording's peaks record (JSON), written with `ready`.
pub(super) const PEAKS_KEY: &str = "peaks";
/// The call's recordings that play, first the one played (Twilio: JSON of
/// `twilio::Playable`s), written with the step that resolved them.
const RECORDINGS_KEY: &str = "recordings";

/// What a step's commit writes and logs besides its state.
#[derive(Default)]
pub(super) struct Extras<'a> {
    /// An event name and its fields, logged in the transition's line, or
    /// in a line of its own when the state stays: one line per step.
    pub(super) note: Option<(&'a str, Value)>,
    /// The stored recording's peaks record (JSON), written in the same
    /// atomic write.
    pub(super) peaks: Option<&'a str>,
    /// The call's recordings that play (JSON), written in the same atomic
    /// write.
    pub(super) recordings: Option<&'a str>,
}

impl Call {
    pub(super) async fn load(&self) -> Result<CallState> {
        Ok(self
            .state
            .storage()
            .get(STATE_KEY)
            .await?
            .unwrap_or(CallState::None))
    }

    pub(super) async fn identity(&self) -> Result<Option<CallIdentity>> {
        self.state.storage().get(IDENTITY_KEY).await
    }

    /// The call's recordings that play, once resolved (Twilio).
    pub(super) async fn recordings(&self) -> Result<Option<Vec<Playable>>> {
        let stored: Option<String> = self.state.storage().get(RECORDINGS_KEY).await?;
        Ok(stored.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// Stores a step's state (with the object's identity, which the alarm
    /// needs) and arms the alarm it asks for, in one atomic write; forgets
    /// everything on `Forget`. Returns the effects that remain for the caller.
    pub(super) async fn commit(
        &self,
        before: &CallState,
        step: Step,
        id: &CallIdentity,
    ) -> Result<(CallState, Vec<Effect>)> {
        self.commit_with(before, step, id, Extras::default()).await
    }

    /// [`commit`](Self::commit), with its `extras` written and logged.
    pub(super) async fn commit_with(
        &self,
        before: &CallState,
        step: Step,
        id: &CallIdentity,
        extras: Extras<'_>,
    ) -> Result<(CallState, Vec<Effect>)> {
        self.write(before, &step, id, &extras).await?;
        let forget = step.effects.contains(&Effect::Forget);
        if &step.state != before || forget {
            self.generation.set(self.generation.get() + 1);
        }
        log_step(id, before, &step.state, extras.note);
        let mut rest = Vec::new();
        for effect in step.effects {
            match effect {
                Effect::SetAlarm { .. } | Effect::Forget | Effect::Unresolve => {}
                Effect::NotifyWaiters => self.notify_waiters(),
                other => rest.push(other),
            }
        }
        Ok((step.state, rest))
    }

    async fn write(
        &self,
        before: &CallState,
        step: &Step,
        id: &CallIdentity,
        extras: &Extras<'_>,
    ) -> Result<()> {
        let storage = self.state.storage();
        let alarm_at = step.effects.iter().rev().find_map(|e| match e {
            Effect::SetAlarm { at_ms } => Some(*at_ms),
            _ => None,
        });
        let changed = &step.state != before;
        if step.effects.contains(&Effect::Forget) {
            return join(storage.delete_all(), storage.delete_alarm()).await.0;
        }
        // Only Twilio's calls store which recording plays.
        let unresolve = step.effects.contains(&Effect::Unresolve) && self.resolves();
        if !changed && extras.peaks.is_none() && extras.recordings.is_none() && !unresolve {
            return maybe(alarm_at.map(|at| storage.set_alarm(delay_to(at)))).await;
        }
        // All issued before any is awaited: one atomic write. The identity
        // is written with the first state (after `none`, whose storage is
        // empty) and stays until everything is forgotten.
        let first = matches!(before, CallState::None);
        let (state, identity, peaks, (recordings, unresolved, alarm)) = join4(
            maybe(changed.then(|| storage.put(STATE_KEY, &step.state))),
            maybe(first.then(|| storage.put(IDENTITY_KEY, id))),
            maybe(extras.peaks.map(|json| storage.put(PEAKS_KEY, json))),
            join3(
                maybe(
                    extras
                        .recordings
                        .map(|json| storage.put(RECORDINGS_KEY, json)),
                ),
                maybe(
                    unresolve.then_some(async { storage.delete(RECORDINGS_KEY).await.map(|_| ()) }),
                ),
                maybe(alarm_at.map(|at| storage.set_alarm(delay_to(at)))),
            ),
        )
        .await;
        state
            .and(identity)
            .and(peaks)
            .and(recordings)
            .and(unresolved)
            .and(alarm)
    }

    /// Whether this edge resolves a call's recordings (Twilio), so that a
    /// step's `Unresolve` has a key to delete.
    fn resolves(&self) -> bool {
        crate::config::load(&self.env)
            .is_ok_and(|c| matches!(c.origin, playback_core::config::OriginConfig::Twilio(_)))
    }

    pub(super) async fn arm(&self, at_ms: u64) -> Result<()> {
        self.state.storage().set_alarm(delay_to(at_ms)).await
    }
}

/// A write's result, or `Ok` when there is nothing to write.
async fn maybe(write: Option<impl Future<Output = Result<()>>>) -> Result<()> {
    match write {
        Some(write) => write.await,
        None => Ok(()),
    }
}

/// The line of a step: its transition, with the note's fields, or the note
/// alone when the state stays.
fn log_step(id: &CallIdentity, before: &CallState, after: &CallState, note: Option<(&str, Value)>) {
    if after != before {
        let mut line = json!({"from": before.name(), "to": after.name(), "state": after});
        if let (Some((_, Value::Object(fields))), Some(map)) = (note, line.as_object_mut()) {
            map.extend(fields);
        }
        crate::log::call_event(id, "transition", line);
    } else if let Some((event, fields)) = note {
        crate::log::call_event(id, event, fields);
    }
}

fn delay_to(at_ms: u64) -> i64 {
    ms_until(at_ms, now_ms()) as i64
}
