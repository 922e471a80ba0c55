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
//! - A state and the alarm it needs are one atomic write (`commit.rs`). A
//!   play that still finds `queued` or `retry_wait` without an alarm (a
//!   lost one) arms it again.
//! - A play that must learn something first (whether R2 still has a
//!   `ready` recording; whether the business admits a new download) learns
//!   it, then loads the state again and decides on that, so whatever ran
//!   during the await is seen; if the state changed meanwhile (the
//!   in-memory `generation`), what it learnt is dropped. A refused play
//!   writes nothing (`play.rs`).
//! - The download runs from the alarm, never from a request, so it outlives
//!   the request that asked for it (`download.rs`; how a play's run of the
//!   alarm and the runtime's delivery share one run: [`AlarmRun`]).
//!   `running` (memory only) tells a duplicate alarm from a resumed one: a
//!   fresh instance that finds `downloading` in storage knows the previous
//!   instance died (a restart) and queues the attempt again.
//! - The slot is taken in the alarm, from the business object, under a
//!   grant id; renewals and the release name that grant, so nothing this
//!   object sends late can touch a newer lease. An attempt stops when its
//!   lease is lost, and ends only when its R2 write has ended (see
//!   `origin.rs`). When no slot is free, the business object holds the
//!   acquire open and answers it with the next free slot, so the attempt
//!   starts in the same alarm.
//! - Play requests are held open (up to `PLAY_HOLD_MS`) on one shared
//!   signal that fires when the download's first piece lands or the
//!   download ends, and answered then, so a cold click is answered about
//!   one origin latency after it arrives instead of a poll later.
//! - While an attempt runs, its fill lives in this instance's memory
//!   ([`LiveFill`]). A fill's pieces are deleted when its attempt ends
//!   (stored: once the whole recording is under the served key; failed:
//!   its listeners were aborted).
//! - An attempt looks in R2 first, unless it is fresh: a play queued the
//!   call just after R2 was seen without the recording, and no attempt ran
//!   since (only this call's attempts write its key). A resumed or retried
//!   attempt looks, while the business holds its acquire.
//! - `/status` only reads: it never writes storage, never arms an alarm.
//! - A call the origin does not have (and one refused for a full queue)
//!   deletes its storage when its time is over.

mod alarm_run;
mod commit;
mod download;
mod live_fill;
mod peaks;
mod play;
mod recheck;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use playback_core::admission::Admission;
use playback_core::fill::FillView;
use playback_core::peaks::PeaksRecord;
use playback_core::twilio::StillServed;
use worker::{durable_object, Env, Request, Response, Result, State};

use crate::error::EdgeResult;
use crate::in_flight::InFlight;
use crate::log::now_ms;
use crate::rpc::{reply, CallMessage, Fill, Handles, Wake};
use crate::signal::{self, Signal};
use alarm_run::AlarmRun;
use live_fill::LiveFill;

#[durable_object]
pub struct CallRecording {
    /// Shared with a play's run of the alarm, which outlives the play's
    /// request.
    call: Rc<Call>,
}

/// The object's state and memory.
struct Call {
    state: State,
    env: Env,
    /// An attempt runs in this instance.
    running: Cell<bool>,
    alarm: AlarmRun,
    /// Counts this instance's state changes, so a play can tell whether what
    /// it learnt during an await still speaks of the state it asked about.
    generation: Cell<u64>,
    /// Held plays wait on this; it fires (for all of them at once) when the
    /// download's first piece lands or it ends, and a new one takes its place.
    ended: RefCell<Signal>,
    /// The admission request in flight: plays that arrive while it is asked
    /// share its answer, so a storm costs one admission, never the budget.
    admission: InFlight<Option<Admission>>,
    /// The agent and request of the first play that set a download on its
    /// way, told in the audit trail's `download_started` when its first
    /// attempt starts (plays of a storm all step from the state they read,
    /// so only the attempt is one per download).
    clicker: RefCell<Option<(String, String)>>,
    fill: LiveFill,
    /// The peaks computation from R2 in flight: every request shares it.
    peaks: InFlight<Option<PeaksRecord>>,
    /// The stored recording's check at Twilio in flight: every request
    /// shares it.
    recheck: InFlight<StillServed>,
}

impl Call {
    async fn receive(self: &Rc<Self>, mut req: Request) -> EdgeResult<Response> {
        match req.json().await? {
            CallMessage::Play(play) => reply(self.handle(play).await),
            CallMessage::Status(status) => reply(self.handle(status).await),
            CallMessage::Wake => reply(self.handle(Wake).await),
            CallMessage::Fill(fill) => reply(self.handle(fill).await),
            CallMessage::Peaks(peaks) => reply(self.handle(peaks).await),
            CallMessage::Recheck(recheck) => reply(self.handle(recheck).await),
        }
    }

    /// Answers the held plays.
    fn notify_waiters(&self) {
        signal::fire(&self.ended);
    }
}

/// The business granted this call a slot: take it now.
impl Handles<Wake> for Rc<Call> {
    async fn handle(&self, _: Wake) -> EdgeResult<bool> {
        self.arm(now_ms()).await?;
        Ok(true)
    }
}

impl Handles<Fill> for Rc<Call> {
    async fn handle(&self, Fill { piece }: Fill) -> EdgeResult<Option<FillView>> {
        Ok(self.fill.answering(piece).await)
    }
}

impl worker::DurableObject for CallRecording {
    fn new(state: State, env: Env) -> Self {
        let call = Call {
            state,
            env,
            running: Cell::new(false),
            alarm: AlarmRun::new(),
            generation: Cell::new(0),
            ended: RefCell::new(Signal::new()),
            admission: InFlight::new(),
            clicker: RefCell::new(None),
            fill: LiveFill::new(),
            peaks: InFlight::new(),
            recheck: InFlight::new(),
        };
        CallRecording {
            call: Rc::new(call),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        Ok(self
            .call
            .receive(req)
            .await
            .unwrap_or_else(|e| e.into_response("")))
    }

    async fn alarm(&self) -> Result<Response> {
        self.call.alarm_delivered().await;
        Response::ok("ok")
    }
}
