//! A play and a status poll: what the call answers, and the download a
//! play starts.

use std::rc::Rc;
use std::time::Duration;

use futures_util::future::select;
use playback_core::admission::Admission;
use playback_core::download::{
    self, CallState, DownloadPolicy, PlayAnswer, PlayCheck, PlayFact, PlayInput,
};
use playback_core::ids::{recording_key, CallIdentity};
use playback_core::wire::StatusBody;
use worker::Delay;

use super::Call;
use crate::config;
use crate::error::{EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::{recordings, BusinessObject, Handles, Play, Status};
use crate::signal;

impl Handles<Play> for Rc<Call> {
    async fn handle(
        &self,
        Play {
            id,
            agent,
            request_id,
        }: Play,
    ) -> EdgeResult<PlayAnswer> {
        let p = config::load(&self.env)?.download_policy();
        let first = self.load().await?;
        let generation = self.generation.get();
        let fact = self.learn(&first, &id, &agent, &p).await?;
        // Decide on the state as it is now: other requests ran during the await.
        let fact = download::fact_after_await(fact, generation, self.generation.get());
        let (before, state) = self.decide(&id, fact, &p).await?;
        // The audit trail's `download_started` names the first play that
        // set the download on its way; it is written when the download's
        // first attempt starts (`run_attempt`).
        {
            let mut clicker = self.clicker.borrow_mut();
            if !download::is_under_way(&state) {
                *clicker = None;
            } else if download::starts_download(&before, &state) && clicker.is_none() {
                *clicker = Some((agent, request_id));
            }
        }
        let state = self.hold(state).await?;
        let position = self.queue_position(&state, &id).await;
        let answer = download::play_answer(&state, &id.call_sid, now_ms(), position, fact, &p);
        Ok(self
            .fill
            .read(|fill| download::answer_with_fill(&state, answer, fill)))
    }
}

impl Handles<Status> for Rc<Call> {
    async fn handle(&self, Status { id }: Status) -> EdgeResult<StatusBody> {
        let p = config::load(&self.env)?.download_policy();
        let state = self.load().await?;
        let position = self.queue_position(&state, &id).await;
        let mut body = download::status_of(&state, &id.call_sid, now_ms(), position, &p);
        body.recordings = self.recordings().await?.map(|r| r.len() as u32);
        Ok(self
            .fill
            .read(|fill| download::status_with_fill(&state, body, fill)))
    }
}

impl Call {
    /// What a play must learn before it decides (`download::play_check`).
    async fn learn(
        &self,
        state: &CallState,
        id: &CallIdentity,
        agent: &str,
        p: &DownloadPolicy,
    ) -> EdgeResult<PlayFact> {
        Ok(match download::play_check(state, now_ms(), p) {
            PlayCheck::Nothing => PlayFact::Nothing,
            PlayCheck::Store => {
                let key = recording_key(id);
                let bucket = recordings(&self.env)?;
                PlayFact::Stored(bucket.head(key).await?.is_some())
            }
            PlayCheck::Admission => PlayFact::Admission(self.admit(id, agent).await?),
        })
    }

    /// Commits the play's step, and runs the alarm it armed at once
    /// ([`super::AlarmRun`]). The state it stepped from, and the one it
    /// committed.
    async fn decide(
        self: &Rc<Self>,
        id: &CallIdentity,
        fact: PlayFact,
        p: &DownloadPolicy,
    ) -> EdgeResult<(CallState, CallState)> {
        let before = self.load().await?;
        let now = now_ms();
        let input = PlayInput {
            now,
            running_here: self.running.get(),
            alarm_set: self.alarm.in_flight() || self.state.storage().get_alarm().await?.is_some(),
            fact,
        };
        let step = download::on_play(&before, input, p);
        let armed = step.clone();
        let (state, _) = self.commit(&before, step, id).await?;
        // Asked after the commit's await: another play, or the delivered
        // alarm, may have started the handler's work meanwhile.
        if download::runs_alarm_at_once(&armed, now, self.alarm.in_flight()) {
            self.start_alarm_run();
        }
        Ok((before, state))
    }

    /// Holds the play until the download's first piece lands, it ends, or
    /// `PLAY_HOLD_MS` passes, when it would be answered with a wait. The
    /// state to answer with.
    async fn hold(&self, state: CallState) -> EdgeResult<CallState> {
        let playable = self
            .fill
            .read(|fill| download::plays_from_fill(&state, fill));
        if !download::holds_play(&state) || playable {
            return Ok(state);
        }
        let ended = signal::fired(&self.ended);
        let hold = Delay::from(Duration::from_millis(download::PLAY_HOLD_MS));
        let _ = select(ended, hold).await;
        Ok(self.load().await?)
    }

    /// Asks the business to admit a new download, or joins the request
    /// already in flight for this call.
    async fn admit(&self, id: &CallIdentity, agent: &str) -> EdgeResult<Admission> {
        let start = || {
            let (env, call, agent) = (self.env.clone(), id.clone(), agent.to_owned());
            async move {
                let business = BusinessObject::of(&env, call.business.as_str()).ok()?;
                business.admit(&call, &agent).await.ok()
            }
        };
        let answer = self.admission.join_or_start(start).await;
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
}
