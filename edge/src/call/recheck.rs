//! A stored Twilio recording asked about again: still served, or deleted
//! at Twilio and so deleted here (its R2 copy first, then its state), at
//! most `RECORDING_RECHECK_MS` after its last check.

use std::rc::Rc;

use playback_core::config::OriginConfig;
use playback_core::download::{self, CallState};
use playback_core::ids::recording_key;
use playback_core::twilio::{recheck_due, Recheck as Answer, StillServed};

use super::commit::Extras;
use super::Call;
use crate::config;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::rpc::{recordings, Handles, Recheck};

/// When the stored recording was last found at Twilio (ms).
const CHECKED_KEY: &str = "checked";

impl Handles<Recheck> for Rc<Call> {
    async fn handle(&self, Recheck { id }: Recheck) -> EdgeResult<StillServed> {
        let start = || {
            let call = self.clone();
            // (No answer to go by: served, and asked again next time.)
            let unknown = StillServed::Yes { checked_ms: None };
            async move { call.recheck(&id).await.unwrap_or(unknown) }
        };
        Ok(self.recheck.join_or_start(start).await)
    }
}

impl Call {
    async fn recheck(&self, id: &playback_core::CallIdentity) -> EdgeResult<StillServed> {
        let unknown = StillServed::Yes { checked_ms: None };
        let config = config::load(&self.env)?;
        let OriginConfig::Twilio(_) = &config.origin else {
            return Ok(unknown);
        };
        let state = self.load().await?;
        let storage = self.state.storage();
        let checked = storage.get::<u64>(CHECKED_KEY).await?;
        let recording = self
            .recordings()
            .await?
            .and_then(|r| r.into_iter().nth(id.index()));
        let (CallState::Ready { .. }, Some(recording)) = (&state, recording) else {
            // Nothing stored to ask about (a download asks Twilio itself).
            return Ok(unknown);
        };
        if !recheck_due(0, checked, now_ms(), config.recording_recheck_ms) {
            return Ok(StillServed::Yes {
                checked_ms: checked,
            });
        }
        let (answer, note) = crate::origin::recheck(&config, id, &recording.sid).await;
        match answer {
            Answer::Kept => {
                let now = now_ms();
                storage.put(CHECKED_KEY, now).await?;
                crate::log::call_event(id, "rechecked", note);
                Ok(StillServed::Yes {
                    checked_ms: Some(now),
                })
            }
            Answer::Unknown => {
                crate::log::call_event(id, "rechecked", note);
                Ok(unknown)
            }
            Answer::Gone => {
                // The copy first: a state left `ready` without it is asked
                // about again; never the other way round.
                let bucket = recordings(&self.env)?;
                bucket.delete(recording_key(id)).await?;
                let before = self.load().await?;
                let step =
                    download::on_recording_gone(&before, now_ms(), &config.download_policy());
                let extras = Extras {
                    note: Some(("recording_deleted", note)),
                    ..Extras::default()
                };
                self.commit_with(&before, step, id, extras).await?;
                storage.delete(CHECKED_KEY).await?;
                Ok(StillServed::No)
            }
        }
    }
}
