//! The browser player's row: when to ask the edge, how long to wait, what
//! to show. A pure state machine: the component feeds it events (clicks,
//! answers, timers, media events) with the time and a random number, and
//! applies the effects it returns.
//!
//! Rules: only a trusted click acts (guarantee 1 starts here), and only a
//! click sends the play request (`SendProbe`: `X-User-Action: play`,
//! `Range: bytes=0-0`); the first click acts at once and further clicks
//! within `DEBOUNCE_MS` of it do nothing (a double click is one request,
//! and does not pause what it started); while a request or a wait is in
//! flight, clicks start nothing. Pausing and resuming a recording the
//! audio element holds asks the edge for nothing, so those clicks are not
//! debounced among themselves: every press answers. After a 202 (or a
//! probe lost to the network) the row polls the status endpoint (`SendStatusPoll`, no user action), never
//! the play request, so an unattended poll cannot start a download: each
//! poll waits a full-jitter exponential backoff, never less than the edge's
//! `retry_after_ms`, and the row gives up after `GIVE_UP_MS`. A status of
//! `none` (no download under way any more) stops the polls; only a new
//! click starts anything. A 429 shows a calm "busy" state whose Retry opens
//! at the edge's `retry_after_ms`; a zero-byte recording shows "empty".

use crate::retry::Backoff;
use crate::wire::{StatusBody, WireStatus};

pub const DEBOUNCE_MS: u64 = 600;
pub const GIVE_UP_MS: u64 = 120_000;
pub const POLL: Backoff = Backoff {
    base_ms: 500,
    factor: 2,
    cap_ms: 8_000,
};
/// When a 429 names no time (neither `retry_after_ms` nor `Retry-After`).
pub const BUSY_RETRY_MS: u64 = 5_000;

/// What the edge said about the recording, as the row waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub queue_position: Option<u32>,
}

/// What a recording that is not ready yet waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A download slot (`queued`).
    Queued,
    /// Its download (`processing`).
    Preparing,
    /// The provider, still processing the recording (`not_ready`).
    AtProvider,
}

impl Stage {
    /// The stage a 202's or a status's `status` names; `None` for one that
    /// is not a wait.
    pub fn of(status: WireStatus) -> Option<Stage> {
        match status {
            WireStatus::Queued => Some(Stage::Queued),
            WireStatus::Processing => Some(Stage::Preparing),
            WireStatus::NotReady => Some(Stage::AtProvider),
            _ => None,
        }
    }
}

/// Why the edge refused to start a download (429 `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyReason {
    /// `rate_limited`: this session started new downloads faster than its budget.
    RateLimited,
    /// `queue_full`: the business's download queue is full.
    QueueFull,
}

impl BusyReason {
    /// The 429 body's `error`; an unknown or missing one reads as `rate_limited`.
    pub fn from_code(code: Option<&str>) -> BusyReason {
        match code {
            Some("queue_full") => BusyReason::QueueFull,
            _ => BusyReason::RateLimited,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// The play request (the probe) is in flight. `since_ms` is the click
    /// that started the cycle.
    Requesting {
        since_ms: u64,
        attempt: u32,
        progress: Option<Progress>,
    },
    /// Waiting `delay_ms` before the next status poll.
    Waiting {
        since_ms: u64,
        attempt: u32,
        delay_ms: u64,
        progress: Option<Progress>,
    },
    /// A status poll is in flight.
    Polling {
        since_ms: u64,
        attempt: u32,
        progress: Option<Progress>,
    },
    /// The audio element has the URL and is loading.
    Loading,
    Playing,
    Paused,
    Failed {
        error: String,
        retry_at_ms: u64,
    },
    /// The edge refused to start a download now (429); a click may retry from `retry_at_ms`.
    Busy {
        reason: BusyReason,
        retry_at_ms: u64,
    },
    /// The recording has zero bytes: nothing to play.
    Empty,
    /// Polled for `GIVE_UP_MS` and still not ready.
    GaveUp,
    /// A poll found no download under way any more (its failure expired,
    /// or it was refused): only a new click starts one.
    NoDownload,
    NotFound,
    SignedOut,
}

/// How a probe (the play request) was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// 200 or 206: cached, hand the URL to the audio element.
    Playable,
    /// 202, with the JSON's fields and the `Retry-After` header in ms.
    Accepted {
        stage: Stage,
        queue_position: Option<u32>,
        retry_after_ms: Option<u64>,
    },
    /// The recording has zero bytes (416 `bytes */0`, or 200 with no body).
    Empty,
    /// 429: the JSON's `error` and its `retry_after_ms` (else `Retry-After` in ms).
    Busy {
        reason: BusyReason,
        retry_after_ms: Option<u64>,
    },
    /// 500 `failed`.
    Failed {
        error: String,
        retry_after_ms: u64,
    },
    NotFound,
    Unauthorized,
    NetworkError(String),
    Unexpected(u16),
}

impl ProbeAnswer {
    /// A 200, 206 or 416 answer to the probe (`Range: bytes=0-0`), from its
    /// status and its `Content-Length` and `Content-Range` headers. A
    /// zero-byte recording has no byte 0: the edge answers 416 with
    /// `Content-Range: bytes */0`, or a 200 with `Content-Length: 0`. Any
    /// other 416 is unexpected.
    pub fn from_media(
        status: u16,
        content_length: Option<&str>,
        content_range: Option<&str>,
    ) -> ProbeAnswer {
        let zero_length = content_length.is_some_and(|v| v.trim() == "0");
        let unsatisfied_of_zero = content_range
            .and_then(|v| v.trim().strip_prefix("bytes"))
            .is_some_and(|rest| rest.trim() == "*/0");
        match status {
            200 if zero_length => ProbeAnswer::Empty,
            200 | 206 => ProbeAnswer::Playable,
            416 if unsatisfied_of_zero => ProbeAnswer::Empty,
            status => ProbeAnswer::Unexpected(status),
        }
    }
}

/// How a status poll (`GET …/status`, no user action) was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAnswer {
    /// `queued`, `processing` or `not_ready`.
    Pending {
        stage: Stage,
        queue_position: Option<u32>,
        retry_after_ms: Option<u64>,
    },
    /// `ready`, with the stored size when the edge gave it.
    Ready {
        size: Option<u64>,
    },
    /// `failed`.
    Failed {
        error: String,
        retry_after_ms: u64,
    },
    /// `not_found`, or a 404.
    NotFound,
    /// `none`: no download is under way (its failure expired, or it was refused).
    NoDownload,
    Unauthorized,
    NetworkError(String),
    /// Another HTTP status, or a 200 whose `status` is unknown (then 200).
    Unexpected(u16),
}

impl StatusAnswer {
    /// The row's reading of a 200 status body.
    pub fn from_body(body: &StatusBody) -> StatusAnswer {
        match body.status {
            WireStatus::Queued | WireStatus::Processing | WireStatus::NotReady => {
                StatusAnswer::Pending {
                    stage: Stage::of(body.status).unwrap_or(Stage::Preparing),
                    queue_position: body.queue_position,
                    retry_after_ms: body.retry_after_ms,
                }
            }
            WireStatus::Ready => StatusAnswer::Ready { size: body.size },
            WireStatus::Failed => StatusAnswer::Failed {
                error: body
                    .error
                    .clone()
                    .unwrap_or_else(|| "the download failed".into()),
                retry_after_ms: body.retry_after_ms.unwrap_or(0),
            },
            WireStatus::NotFound | WireStatus::NoRecording => StatusAnswer::NotFound,
            WireStatus::None => StatusAnswer::NoDownload,
            WireStatus::Unknown => StatusAnswer::Unexpected(200),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowEvent {
    Click {
        trusted: bool,
        now_ms: u64,
    },
    Stop,
    /// The probe was answered.
    Answer {
        answer: ProbeAnswer,
        now_ms: u64,
        unit: f64,
    },
    /// A status poll was answered.
    PollAnswer {
        answer: StatusAnswer,
        now_ms: u64,
        unit: f64,
    },
    PollDue,
    AudioPlaying,
    AudioPaused,
    AudioEnded,
    AudioError(String),
    /// Another row started playing.
    OtherStarted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowEffect {
    /// The play request: only ever the effect of a click.
    SendProbe,
    /// `GET …/status` without the user-action header: never starts anything.
    SendStatusPoll,
    SchedulePoll {
        delay_ms: u64,
    },
    /// Abort the request in flight (probe or poll) and the pending poll timer.
    CancelInFlight,
    StartAudio,
    ResumeAudio,
    PauseAudio,
}

/// Where a probe or a poll leads; both answers read the same way from here.
enum Outcome {
    Play,
    Empty,
    Wait {
        progress: Progress,
        retry_after_ms: Option<u64>,
    },
    NetworkError(String),
    Busy {
        reason: BusyReason,
        retry_after_ms: u64,
    },
    Failed {
        error: String,
        retry_after_ms: u64,
    },
    NoDownload,
    NotFound,
    SignedOut,
    Unexpected(u16),
}

impl From<ProbeAnswer> for Outcome {
    fn from(answer: ProbeAnswer) -> Outcome {
        match answer {
            ProbeAnswer::Playable => Outcome::Play,
            ProbeAnswer::Accepted {
                stage,
                queue_position,
                retry_after_ms,
            } => Outcome::Wait {
                progress: Progress {
                    stage,
                    queue_position,
                },
                retry_after_ms,
            },
            ProbeAnswer::Empty => Outcome::Empty,
            ProbeAnswer::Busy {
                reason,
                retry_after_ms,
            } => Outcome::Busy {
                reason,
                retry_after_ms: retry_after_ms.unwrap_or(BUSY_RETRY_MS),
            },
            ProbeAnswer::Failed {
                error,
                retry_after_ms,
            } => Outcome::Failed {
                error,
                retry_after_ms,
            },
            ProbeAnswer::NotFound => Outcome::NotFound,
            ProbeAnswer::Unauthorized => Outcome::SignedOut,
            ProbeAnswer::NetworkError(e) => Outcome::NetworkError(e),
            ProbeAnswer::Unexpected(status) => Outcome::Unexpected(status),
        }
    }
}

impl From<StatusAnswer> for Outcome {
    fn from(answer: StatusAnswer) -> Outcome {
        match answer {
            StatusAnswer::Pending {
                stage,
                queue_position,
                retry_after_ms,
            } => Outcome::Wait {
                progress: Progress {
                    stage,
                    queue_position,
                },
                retry_after_ms,
            },
            StatusAnswer::Ready { size: Some(0) } => Outcome::Empty,
            StatusAnswer::Ready { .. } => Outcome::Play,
            StatusAnswer::Failed {
                error,
                retry_after_ms,
            } => Outcome::Failed {
                error,
                retry_after_ms,
            },
            StatusAnswer::NotFound => Outcome::NotFound,
            StatusAnswer::NoDownload => Outcome::NoDownload,
            StatusAnswer::Unauthorized => Outcome::SignedOut,
            StatusAnswer::NetworkError(e) => Outcome::NetworkError(e),
            StatusAnswer::Unexpected(status) => Outcome::Unexpected(status),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowModel {
    pub phase: Phase,
    /// When the last click that sent the play request was.
    pub last_click_ms: Option<u64>,
}

impl Default for RowModel {
    fn default() -> Self {
        RowModel {
            phase: Phase::Idle,
            last_click_ms: None,
        }
    }
}

impl RowModel {
    pub fn step(&self, event: RowEvent) -> (RowModel, Vec<RowEffect>) {
        let mut next = self.clone();
        let effects = next.apply(event);
        (next, effects)
    }

    fn apply(&mut self, event: RowEvent) -> Vec<RowEffect> {
        match event {
            RowEvent::Click { trusted, now_ms } => self.on_click(trusted, now_ms),
            RowEvent::Stop => self.on_stop(),
            RowEvent::Answer {
                answer,
                now_ms,
                unit,
            } => match self.phase.clone() {
                Phase::Requesting {
                    since_ms,
                    attempt,
                    progress,
                } => self.answered(
                    answer.into(),
                    Cycle::new(since_ms, attempt, progress),
                    Moment { now_ms, unit },
                ),
                // A stale answer (the user stopped meanwhile): ignore it.
                _ => vec![],
            },
            RowEvent::PollAnswer {
                answer,
                now_ms,
                unit,
            } => match self.phase.clone() {
                Phase::Polling {
                    since_ms,
                    attempt,
                    progress,
                } => self.answered(
                    answer.into(),
                    Cycle::new(since_ms, attempt, progress),
                    Moment { now_ms, unit },
                ),
                _ => vec![],
            },
            RowEvent::PollDue => self.on_poll_due(),
            RowEvent::AudioPlaying => self.on_audio_playing(),
            RowEvent::AudioPaused | RowEvent::AudioEnded => self.on_audio_stopped(),
            RowEvent::AudioError(error) => self.on_audio_error(error),
            RowEvent::OtherStarted => self.on_other_started(),
        }
    }

    /// A click: only a trusted one acts, and not within `DEBOUNCE_MS` of
    /// the last that sent the play request. A pause or a resume is not
    /// such a click: the next press may come at once.
    fn on_click(&mut self, trusted: bool, now_ms: u64) -> Vec<RowEffect> {
        if !trusted
            || self
                .last_click_ms
                .is_some_and(|last| now_ms < last + DEBOUNCE_MS)
        {
            return vec![];
        }
        match &self.phase {
            // Empty may ask again: a cached recording's probe never reaches a download.
            Phase::Idle | Phase::GaveUp | Phase::NoDownload | Phase::NotFound | Phase::Empty => {
                self.start(now_ms)
            }
            Phase::Failed { retry_at_ms, .. } | Phase::Busy { retry_at_ms, .. }
                if now_ms >= *retry_at_ms =>
            {
                self.start(now_ms)
            }
            Phase::Playing | Phase::Loading => {
                self.phase = Phase::Paused;
                vec![RowEffect::PauseAudio]
            }
            Phase::Paused => {
                self.phase = Phase::Loading;
                vec![RowEffect::ResumeAudio]
            }
            _ => vec![],
        }
    }

    /// A new cycle: the play request, the one effect only a click has.
    fn start(&mut self, now_ms: u64) -> Vec<RowEffect> {
        self.last_click_ms = Some(now_ms);
        self.phase = Phase::Requesting {
            since_ms: now_ms,
            attempt: 0,
            progress: None,
        };
        vec![RowEffect::SendProbe]
    }

    fn on_stop(&mut self) -> Vec<RowEffect> {
        match self.phase {
            Phase::Requesting { .. } | Phase::Waiting { .. } | Phase::Polling { .. } => {
                self.phase = Phase::Idle;
                vec![RowEffect::CancelInFlight]
            }
            Phase::Loading | Phase::Playing | Phase::Paused => {
                self.phase = Phase::Idle;
                vec![RowEffect::PauseAudio]
            }
            _ => vec![],
        }
    }

    /// A poll is not a click: it reads the status, it never re-sends the play request.
    fn on_poll_due(&mut self) -> Vec<RowEffect> {
        match self.phase.clone() {
            Phase::Waiting {
                since_ms,
                attempt,
                progress,
                ..
            } => {
                self.phase = Phase::Polling {
                    since_ms,
                    attempt,
                    progress,
                };
                vec![RowEffect::SendStatusPoll]
            }
            _ => vec![],
        }
    }

    fn on_audio_playing(&mut self) -> Vec<RowEffect> {
        if matches!(self.phase, Phase::Loading | Phase::Paused | Phase::Playing) {
            self.phase = Phase::Playing;
        }
        vec![]
    }

    /// The media element paused or ended.
    fn on_audio_stopped(&mut self) -> Vec<RowEffect> {
        if matches!(self.phase, Phase::Playing | Phase::Loading) {
            self.phase = Phase::Paused;
        }
        vec![]
    }

    fn on_audio_error(&mut self, error: String) -> Vec<RowEffect> {
        if matches!(self.phase, Phase::Loading | Phase::Playing | Phase::Paused) {
            self.phase = Phase::Failed {
                error,
                retry_at_ms: 0,
            };
        }
        vec![]
    }

    /// Another row started playing: only one plays at a time.
    fn on_other_started(&mut self) -> Vec<RowEffect> {
        if matches!(self.phase, Phase::Playing | Phase::Loading) {
            self.phase = Phase::Paused;
            vec![RowEffect::PauseAudio]
        } else {
            vec![]
        }
    }

    /// The answer to the request in flight (probe or poll) of `cycle`.
    fn answered(&mut self, outcome: Outcome, cycle: Cycle, at: Moment) -> Vec<RowEffect> {
        let now_ms = at.now_ms;
        let phase = match outcome {
            Outcome::Play => {
                self.phase = Phase::Loading;
                return vec![RowEffect::StartAudio];
            }
            Outcome::Wait {
                progress,
                retry_after_ms,
            } => {
                let next = cycle.next(Some(progress));
                return self.wait(next, retry_after_ms.unwrap_or(0), None, at);
            }
            Outcome::NetworkError(e) => {
                let next = cycle.clone().next(cycle.progress);
                return self.wait(next, 0, Some(format!("network error: {e}")), at);
            }
            Outcome::Empty => Phase::Empty,
            Outcome::Busy {
                reason,
                retry_after_ms,
            } => Phase::Busy {
                reason,
                retry_at_ms: now_ms + retry_after_ms,
            },
            Outcome::Failed {
                error,
                retry_after_ms,
            } => Phase::Failed {
                error,
                retry_at_ms: now_ms + retry_after_ms,
            },
            Outcome::NoDownload => Phase::NoDownload,
            Outcome::NotFound => Phase::NotFound,
            Outcome::SignedOut => Phase::SignedOut,
            Outcome::Unexpected(status) => Phase::Failed {
                error: format!("unexpected answer {status}"),
                retry_at_ms: now_ms,
            },
        };
        self.phase = phase;
        vec![]
    }

    /// Schedules the next status poll of `cycle` (never sooner than
    /// `floor_ms`), or gives up after `GIVE_UP_MS` (as `error`, if any).
    fn wait(
        &mut self,
        cycle: Cycle,
        floor_ms: u64,
        error: Option<String>,
        at: Moment,
    ) -> Vec<RowEffect> {
        let delay_ms = POLL.full_jitter_ms(cycle.attempt, at.unit).max(floor_ms);
        if at.now_ms.saturating_sub(cycle.since_ms) + delay_ms >= GIVE_UP_MS {
            self.phase = match error {
                Some(error) => Phase::Failed {
                    error,
                    retry_at_ms: at.now_ms,
                },
                None => Phase::GaveUp,
            };
            return vec![];
        }
        self.phase = Phase::Waiting {
            since_ms: cycle.since_ms,
            attempt: cycle.attempt,
            delay_ms,
            progress: cycle.progress,
        };
        vec![RowEffect::SchedulePoll { delay_ms }]
    }
}

/// One click's cycle of requests: when the click was, how many answers it
/// has had, and what the edge said last about the download.
#[derive(Debug, Clone)]
struct Cycle {
    since_ms: u64,
    attempt: u32,
    progress: Option<Progress>,
}

impl Cycle {
    fn new(since_ms: u64, attempt: u32, progress: Option<Progress>) -> Cycle {
        Cycle {
            since_ms,
            attempt,
            progress,
        }
    }

    /// The cycle after one more answer, with what the edge said now.
    fn next(self, progress: Option<Progress>) -> Cycle {
        Cycle {
            since_ms: self.since_ms,
            attempt: self.attempt + 1,
            progress,
        }
    }
}

/// When an event happened, and a uniform random number in `[0, 1)` for
/// the poll's jitter.
#[derive(Debug, Clone, Copy)]
struct Moment {
    now_ms: u64,
    unit: f64,
}

/// What the row shows and announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText {
    pub text: String,
    /// The state alone, without its details (the text before " · "): what
    /// the live region announces and the bar shows.
    pub headline: String,
    /// Shown as an error (and announced assertively).
    pub is_error: bool,
}

/// The row's Play button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonState {
    pub label: &'static str,
    pub enabled: bool,
}

/// What the row shows and announces, and whether it is an error.
pub fn describe(phase: &Phase, now_ms: u64) -> RowText {
    let (text, is_error) = describe_parts(phase, now_ms);
    let headline = text.split(" · ").next().unwrap_or_default().to_owned();
    RowText {
        text,
        headline,
        is_error,
    }
}

fn describe_parts(phase: &Phase, now_ms: u64) -> (String, bool) {
    let elapsed = |since: u64| now_ms.saturating_sub(since) / 1000;
    let waiting = |since: u64, progress: &Option<Progress>| match progress {
        Some(Progress {
            stage: Stage::Queued,
            queue_position: Some(n),
        }) => format!("queued ({n} ahead) · {} s", elapsed(since)),
        Some(Progress {
            stage: Stage::Queued,
            ..
        }) => format!("queued · {} s", elapsed(since)),
        Some(Progress {
            stage: Stage::Preparing,
            ..
        }) => format!("preparing · {} s", elapsed(since)),
        Some(Progress {
            stage: Stage::AtProvider,
            ..
        }) => format!(
            "the provider is still processing this recording · {} s",
            elapsed(since)
        ),
        None => "requesting…".to_owned(),
    };
    let retry = |retry_at_ms: u64| {
        if retry_at_ms > now_ms {
            format!("retry in {} s", (retry_at_ms - now_ms).div_ceil(1000))
        } else {
            "you can retry now".to_owned()
        }
    };
    match phase {
        Phase::Idle => (String::new(), false),
        Phase::Requesting {
            since_ms, progress, ..
        }
        | Phase::Waiting {
            since_ms, progress, ..
        }
        | Phase::Polling {
            since_ms, progress, ..
        } => (waiting(*since_ms, progress), false),
        Phase::Loading => ("loading…".into(), false),
        Phase::Playing => ("playing".into(), false),
        Phase::Paused => ("paused".into(), false),
        Phase::Failed { error, retry_at_ms } => {
            (format!("failed: {error} · {}", retry(*retry_at_ms)), true)
        }
        // Not an error: the edge is pacing new downloads, and says when to come back.
        Phase::Busy {
            reason,
            retry_at_ms,
        } => {
            let why = match reason {
                BusyReason::RateLimited => "too many new recordings at once",
                BusyReason::QueueFull => "too many recordings waiting to be prepared",
            };
            (format!("busy: {why} · {}", retry(*retry_at_ms)), false)
        }
        Phase::Empty => ("this recording is empty".into(), false),
        Phase::GaveUp => ("still preparing, try again".into(), true),
        Phase::NoDownload => ("not being prepared, try again".into(), true),
        Phase::NotFound => ("no recording for this call".into(), true),
        Phase::SignedOut => ("your session has ended: sign in again".into(), true),
    }
}

/// The main button's label, and whether it can act now.
pub fn button(phase: &Phase, now_ms: u64) -> ButtonState {
    let (label, enabled) = match phase {
        Phase::Idle | Phase::NotFound | Phase::Empty => ("Play", true),
        Phase::Requesting { .. } | Phase::Waiting { .. } | Phase::Polling { .. } => {
            ("Preparing…", false)
        }
        Phase::Loading | Phase::Playing => ("Pause", true),
        Phase::Paused => ("Play", true),
        Phase::Failed { retry_at_ms, .. } | Phase::Busy { retry_at_ms, .. } => {
            ("Retry", now_ms >= *retry_at_ms)
        }
        Phase::GaveUp | Phase::NoDownload => ("Try again", true),
        Phase::SignedOut => ("Play", false),
    };
    ButtonState { label, enabled }
}

/// Whether the row has something the Stop button can stop.
pub fn can_stop(phase: &Phase) -> bool {
    matches!(
        phase,
        Phase::Requesting { .. }
            | Phase::Waiting { .. }
            | Phase::Polling { .. }
            | Phase::Loading
            | Phase::Playing
            | Phase::Paused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btn(label: &'static str, enabled: bool) -> ButtonState {
        ButtonState { label, enabled }
    }

    fn row_text(text: &str, is_error: bool) -> RowText {
        RowText {
            text: text.into(),
            headline: text.split(" · ").next().unwrap().into(),
            is_error,
        }
    }
    use crate::CallSid;

    fn click(row: &RowModel, now_ms: u64) -> (RowModel, Vec<RowEffect>) {
        row.step(RowEvent::Click {
            trusted: true,
            now_ms,
        })
    }

    fn accepted(retry_after_ms: Option<u64>) -> ProbeAnswer {
        ProbeAnswer::Accepted {
            stage: Stage::Queued,
            queue_position: Some(2),
            retry_after_ms,
        }
    }

    fn pending(queue_position: Option<u32>, retry_after_ms: Option<u64>) -> StatusAnswer {
        StatusAnswer::Pending {
            stage: match queue_position {
                Some(_) => Stage::Queued,
                None => Stage::Preparing,
            },
            queue_position,
            retry_after_ms,
        }
    }

    fn answer(
        row: &RowModel,
        a: ProbeAnswer,
        now_ms: u64,
        unit: f64,
    ) -> (RowModel, Vec<RowEffect>) {
        row.step(RowEvent::Answer {
            answer: a,
            now_ms,
            unit,
        })
    }

    fn poll_answer(
        row: &RowModel,
        a: StatusAnswer,
        now_ms: u64,
        unit: f64,
    ) -> (RowModel, Vec<RowEffect>) {
        row.step(RowEvent::PollAnswer {
            answer: a,
            now_ms,
            unit,
        })
    }

    /// A row whose status poll is in flight: clicked at 0, 202, poll due.
    fn polling() -> RowModel {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, _) = answer(&row, accepted(None), 10, 0.5);
        let (row, effects) = row.step(RowEvent::PollDue);
        assert_eq!(effects, vec![RowEffect::SendStatusPoll]);
        row
    }

    #[test]
    fn an_untrusted_click_does_nothing() {
        let (row, effects) = RowModel::default().step(RowEvent::Click {
            trusted: false,
            now_ms: 1,
        });
        assert_eq!(row, RowModel::default());
        assert!(effects.is_empty());
    }

    #[test]
    fn the_first_trusted_click_sends_at_once() {
        let (row, effects) = click(&RowModel::default(), 1000);
        assert_eq!(effects, vec![RowEffect::SendProbe]);
        assert_eq!(
            row.phase,
            Phase::Requesting {
                since_ms: 1000,
                attempt: 0,
                progress: None
            }
        );
    }

    #[test]
    fn clicks_inside_the_debounce_window_or_in_flight_do_nothing() {
        let (row, _) = click(&RowModel::default(), 1000);
        assert!(click(&row, 1001).1.is_empty());
        assert!(click(&row, 1599).1.is_empty());
        // Outside the window but still in flight: nothing either.
        assert!(click(&row, 1600).1.is_empty());
        let (waiting, _) = answer(&row, accepted(None), 1100, 0.5);
        assert!(click(&waiting, 5000).1.is_empty());
        let (polling, _) = waiting.step(RowEvent::PollDue);
        assert!(click(&polling, 6000).1.is_empty());
    }

    #[test]
    fn pause_and_resume_answer_every_press_but_a_double_clicks_second_half() {
        let (row, _) = click(&RowModel::default(), 1000);
        let (row, effects) = answer(
            &row,
            ProbeAnswer::from_media(206, None, Some("bytes 0-0/10")),
            1030,
            0.0,
        );
        assert_eq!(effects, vec![RowEffect::StartAudio]);
        // A double click's second half does not pause what the first started.
        assert!(click(&row, 1200).1.is_empty());
        let (row, _) = row.step(RowEvent::AudioPlaying);
        // Then every press toggles, however close together.
        let (row, effects) = click(&row, 2000);
        assert_eq!(
            (&row.phase, effects),
            (&Phase::Paused, vec![RowEffect::PauseAudio])
        );
        let (row, effects) = click(&row, 2150);
        assert_eq!(
            (&row.phase, effects),
            (&Phase::Loading, vec![RowEffect::ResumeAudio])
        );
        let (row, effects) = click(&row, 2300);
        assert_eq!(
            (&row.phase, effects),
            (&Phase::Paused, vec![RowEffect::PauseAudio])
        );
        // A script's press still does nothing.
        assert!(row
            .step(RowEvent::Click {
                trusted: false,
                now_ms: 5000
            })
            .1
            .is_empty());
    }

    #[test]
    fn a_click_outside_the_window_acts_again() {
        let (row, _) = click(&RowModel::default(), 1000);
        let (row, _) = answer(&row, ProbeAnswer::NotFound, 1100, 0.0);
        assert!(click(&row, 1599).1.is_empty());
        assert_eq!(click(&row, 1600).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn a_202_waits_the_jittered_backoff_then_polls_the_status() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, effects) = answer(&row, accepted(None), 10, 0.5);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 250 }]);
        let (row, effects) = row.step(RowEvent::PollDue);
        assert_eq!(effects, vec![RowEffect::SendStatusPoll]);
        let (_, effects) = poll_answer(&row, pending(Some(1), None), 600, 1.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 1000 }]);
    }

    #[test]
    fn after_a_202_every_poll_reads_the_status_and_never_resends_the_play_request() {
        let (mut row, _) = click(&RowModel::default(), 0);
        let (next, _) = answer(&row, accepted(None), 10, 0.0);
        row = next;
        let mut now = 10;
        for poll in 0..200 {
            let (next, effects) = row.step(RowEvent::PollDue);
            assert_eq!(effects, vec![RowEffect::SendStatusPoll], "poll {poll}");
            // Each status answer keeps waiting; the zero jitter keeps it under the give-up limit.
            now += 1;
            let (next, effects) = poll_answer(&next, pending(Some(3), None), now, 0.0);
            assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 0 }]);
            assert!(
                matches!(next.phase, Phase::Waiting { attempt, .. } if attempt == poll + 2),
                "{:?}",
                next.phase
            );
            row = next;
        }
    }

    #[test]
    fn the_status_answers_a_poll_with_the_edges_retry_after_as_a_floor() {
        let row = polling();
        let (waiting, effects) = poll_answer(&row, pending(Some(4), Some(3000)), 500, 1.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 3000 }]);
        assert_eq!(
            describe(&waiting.phase, 4_000).text,
            "queued (4 ahead) · 4 s"
        );
        let (_, effects) = poll_answer(&row, pending(None, Some(10)), 500, 1.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 1000 }]);
    }

    #[test]
    fn status_answers_map_to_their_states() {
        let row = polling();
        let at = |a: StatusAnswer| poll_answer(&row, a, 1000, 0.0);
        assert_eq!(
            at(StatusAnswer::Ready { size: Some(44) }),
            (
                RowModel {
                    phase: Phase::Loading,
                    last_click_ms: Some(0)
                },
                vec![RowEffect::StartAudio]
            )
        );
        assert_eq!(
            at(StatusAnswer::Ready { size: None }).1,
            vec![RowEffect::StartAudio]
        );
        assert_eq!(
            at(StatusAnswer::Ready { size: Some(0) }),
            (
                RowModel {
                    phase: Phase::Empty,
                    last_click_ms: Some(0)
                },
                vec![]
            )
        );
        assert_eq!(
            at(StatusAnswer::Failed {
                error: "origin answered 500".into(),
                retry_after_ms: 30_000,
            })
            .0
            .phase,
            Phase::Failed {
                error: "origin answered 500".into(),
                retry_at_ms: 31_000
            }
        );
        assert_eq!(at(StatusAnswer::NotFound).0.phase, Phase::NotFound);
        assert_eq!(at(StatusAnswer::Unauthorized).0.phase, Phase::SignedOut);
        assert_eq!(
            at(StatusAnswer::NetworkError("offline".into())).1,
            vec![RowEffect::SchedulePoll { delay_ms: 0 }]
        );
        assert!(matches!(
            at(StatusAnswer::Unexpected(503)).0.phase,
            Phase::Failed { ref error, .. } if error == "unexpected answer 503"
        ));
    }

    #[test]
    fn a_status_of_none_stops_polling_until_a_new_click() {
        let row = polling();
        let (stopped, effects) = poll_answer(&row, StatusAnswer::NoDownload, 1000, 0.5);
        assert!(effects.is_empty());
        assert_eq!(stopped.phase, Phase::NoDownload);
        assert_eq!(
            describe(&stopped.phase, 1000),
            row_text("not being prepared, try again", true)
        );
        assert_eq!(button(&stopped.phase, 1000), btn("Try again", true));
        assert!(!can_stop(&stopped.phase));
        // A timer that fires late starts nothing.
        assert!(stopped.step(RowEvent::PollDue).1.is_empty());
        assert_eq!(click(&stopped, 2000).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn a_probe_lost_to_the_network_is_followed_by_status_polls_not_by_another_probe() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, effects) = answer(&row, ProbeAnswer::NetworkError("offline".into()), 10, 0.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 0 }]);
        assert_eq!(
            row.step(RowEvent::PollDue).1,
            vec![RowEffect::SendStatusPoll]
        );
    }

    #[test]
    fn an_answer_of_the_other_kind_than_the_request_in_flight_is_ignored() {
        let (requesting, _) = click(&RowModel::default(), 0);
        assert_eq!(
            poll_answer(&requesting, StatusAnswer::Ready { size: None }, 5, 0.0),
            (requesting.clone(), vec![])
        );
        let row = polling();
        assert_eq!(
            answer(&row, ProbeAnswer::Playable, 5, 0.0),
            (row.clone(), vec![])
        );
    }

    #[test]
    fn status_bodies_read_as_answers() {
        let sid = CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap();
        let body =
            |status: &str| StatusBody::new(serde_json::from_value(status.into()).unwrap(), &sid);
        let queued = StatusBody {
            queue_position: Some(2),
            retry_after_ms: Some(700),
            ..body("queued")
        };
        assert_eq!(
            StatusAnswer::from_body(&queued),
            pending(Some(2), Some(700))
        );
        assert_eq!(
            StatusAnswer::from_body(&body("processing")),
            StatusAnswer::Pending {
                stage: Stage::Preparing,
                queue_position: None,
                retry_after_ms: None
            }
        );
        assert_eq!(
            StatusAnswer::from_body(&body("not_ready")),
            StatusAnswer::Pending {
                stage: Stage::AtProvider,
                queue_position: None,
                retry_after_ms: None
            }
        );
        assert_eq!(
            StatusAnswer::from_body(&body("no_recording")),
            StatusAnswer::NotFound
        );
        let ready = StatusBody {
            size: Some(0),
            ..body("ready")
        };
        assert_eq!(
            StatusAnswer::from_body(&ready),
            StatusAnswer::Ready { size: Some(0) }
        );
        let failed = StatusBody {
            error: Some("origin answered 503".into()),
            retry_after_ms: Some(60_000),
            ..body("failed")
        };
        assert_eq!(
            StatusAnswer::from_body(&failed),
            StatusAnswer::Failed {
                error: "origin answered 503".into(),
                retry_after_ms: 60_000
            }
        );
        assert!(matches!(
            StatusAnswer::from_body(&body("failed")),
            StatusAnswer::Failed {
                retry_after_ms: 0,
                ..
            }
        ));
        assert_eq!(
            StatusAnswer::from_body(&body("not_found")),
            StatusAnswer::NotFound
        );
        assert_eq!(
            StatusAnswer::from_body(&body("none")),
            StatusAnswer::NoDownload
        );
        assert_eq!(
            StatusAnswer::from_body(&body("downloading")),
            StatusAnswer::Unexpected(200)
        );
    }

    #[test]
    fn the_backoff_is_capped_at_8_seconds() {
        let mut row = RowModel {
            phase: Phase::Requesting {
                since_ms: 0,
                attempt: 20,
                progress: None,
            },
            last_click_ms: Some(0),
        };
        let (next, effects) = answer(&row, accepted(None), 10, 1.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 8000 }]);
        row = next;
        assert!(matches!(row.phase, Phase::Waiting { attempt: 21, .. }));
    }

    #[test]
    fn retry_after_larger_than_the_backoff_wins_and_smaller_does_not() {
        let (row, _) = click(&RowModel::default(), 0);
        assert_eq!(
            answer(&row, accepted(Some(3000)), 10, 1.0).1,
            vec![RowEffect::SchedulePoll { delay_ms: 3000 }]
        );
        assert_eq!(
            answer(&row, accepted(Some(100)), 10, 1.0).1,
            vec![RowEffect::SchedulePoll { delay_ms: 500 }]
        );
    }

    #[test]
    fn it_gives_up_after_two_minutes() {
        let row = RowModel {
            phase: Phase::Polling {
                since_ms: 0,
                attempt: 3,
                progress: None,
            },
            last_click_ms: Some(0),
        };
        let (row, effects) = poll_answer(&row, pending(None, None), GIVE_UP_MS - 100, 1.0);
        assert!(effects.is_empty());
        assert_eq!(row.phase, Phase::GaveUp);
        assert_eq!(button(&row.phase, 0), btn("Try again", true));
        assert_eq!(click(&row, GIVE_UP_MS + 1000).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn network_errors_back_off_then_show_the_error() {
        let row = polling();
        let (row, effects) =
            poll_answer(&row, StatusAnswer::NetworkError("offline".into()), 10, 0.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 0 }]);
        let late = RowModel {
            phase: Phase::Polling {
                since_ms: 0,
                attempt: 9,
                progress: None,
            },
            ..row
        };
        let (late, _) = poll_answer(
            &late,
            StatusAnswer::NetworkError("offline".into()),
            GIVE_UP_MS,
            0.0,
        );
        assert!(matches!(late.phase, Phase::Failed { ref error, .. } if error.contains("offline")));
    }

    #[test]
    fn failed_shows_the_error_and_enables_retry_when_its_time_comes() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, _) = answer(
            &row,
            ProbeAnswer::Failed {
                error: "origin answered 500".into(),
                retry_after_ms: 30_000,
            },
            1000,
            0.0,
        );
        assert_eq!(
            describe(&row.phase, 1000),
            row_text("failed: origin answered 500 · retry in 30 s", true)
        );
        assert_eq!(button(&row.phase, 1000), btn("Retry", false));
        assert!(click(&row, 2000).1.is_empty());
        assert_eq!(button(&row.phase, 31_000), btn("Retry", true));
        assert_eq!(
            describe(&row.phase, 31_000).text,
            "failed: origin answered 500 · you can retry now"
        );
        assert_eq!(click(&row, 31_000).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn a_429_shows_a_calm_busy_state_and_enables_retry_at_its_time() {
        let (row, _) = click(&RowModel::default(), 0);
        let busy = ProbeAnswer::Busy {
            reason: BusyReason::RateLimited,
            retry_after_ms: Some(12_500),
        };
        let (row, effects) = answer(&row, busy, 1000, 0.0);
        assert!(effects.is_empty());
        assert_eq!(
            row.phase,
            Phase::Busy {
                reason: BusyReason::RateLimited,
                retry_at_ms: 13_500
            }
        );
        assert_eq!(
            describe(&row.phase, 1000),
            row_text(
                "busy: too many new recordings at once · retry in 13 s",
                false
            )
        );
        assert_eq!(button(&row.phase, 1000), btn("Retry", false));
        assert!(!can_stop(&row.phase));
        // Nothing polls or retries by itself, and a click before the time does nothing.
        assert!(row.step(RowEvent::PollDue).1.is_empty());
        assert!(click(&row, 13_499).1.is_empty());
        assert_eq!(button(&row.phase, 13_500), btn("Retry", true));
        assert_eq!(
            describe(&row.phase, 13_500).text,
            "busy: too many new recordings at once · you can retry now"
        );
        assert_eq!(click(&row, 13_500).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn a_full_queue_says_so_and_a_429_without_a_time_waits_the_default() {
        let (row, _) = click(&RowModel::default(), 0);
        let busy = ProbeAnswer::Busy {
            reason: BusyReason::from_code(Some("queue_full")),
            retry_after_ms: None,
        };
        let (row, _) = answer(&row, busy, 1000, 0.0);
        assert_eq!(
            row.phase,
            Phase::Busy {
                reason: BusyReason::QueueFull,
                retry_at_ms: 1000 + BUSY_RETRY_MS
            }
        );
        assert!(describe(&row.phase, 1000)
            .text
            .starts_with("busy: too many recordings waiting to be prepared · retry in"));
        assert_eq!(
            BusyReason::from_code(Some("rate_limited")),
            BusyReason::RateLimited
        );
        assert_eq!(BusyReason::from_code(None), BusyReason::RateLimited);
    }

    #[test]
    fn a_zero_byte_recording_reads_as_empty_and_other_416s_do_not() {
        assert_eq!(
            ProbeAnswer::from_media(416, Some("0"), Some("bytes */0")),
            ProbeAnswer::Empty
        );
        assert_eq!(
            ProbeAnswer::from_media(416, None, Some(" bytes  */0 ")),
            ProbeAnswer::Empty
        );
        assert_eq!(
            ProbeAnswer::from_media(200, Some("0"), None),
            ProbeAnswer::Empty
        );
        assert_eq!(
            ProbeAnswer::from_media(416, None, Some("bytes */1234")),
            ProbeAnswer::Unexpected(416)
        );
        assert_eq!(
            ProbeAnswer::from_media(416, None, Some("bytes */00")),
            ProbeAnswer::Unexpected(416)
        );
        assert_eq!(
            ProbeAnswer::from_media(416, None, None),
            ProbeAnswer::Unexpected(416)
        );
        assert_eq!(
            ProbeAnswer::from_media(206, Some("1"), Some("bytes 0-0/44")),
            ProbeAnswer::Playable
        );
        assert_eq!(
            ProbeAnswer::from_media(200, Some("44"), None),
            ProbeAnswer::Playable
        );
        assert_eq!(
            ProbeAnswer::from_media(200, None, None),
            ProbeAnswer::Playable
        );
    }

    #[test]
    fn an_empty_recording_shows_empty_and_a_click_only_probes_again() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, effects) = answer(&row, ProbeAnswer::Empty, 10, 0.0);
        assert!(effects.is_empty());
        assert_eq!(row.phase, Phase::Empty);
        assert_eq!(
            describe(&row.phase, 10),
            row_text("this recording is empty", false)
        );
        assert_eq!(button(&row.phase, 10), btn("Play", true));
        assert!(!can_stop(&row.phase));
        assert!(row.step(RowEvent::Stop).1.is_empty());
        assert_eq!(click(&row, 1000).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn answers_map_to_their_states() {
        let (row, _) = click(&RowModel::default(), 0);
        assert_eq!(
            answer(&row, ProbeAnswer::Playable, 5, 0.0),
            (
                RowModel {
                    phase: Phase::Loading,
                    last_click_ms: Some(0)
                },
                vec![RowEffect::StartAudio]
            )
        );
        assert_eq!(
            answer(&row, ProbeAnswer::NotFound, 5, 0.0).0.phase,
            Phase::NotFound
        );
        assert_eq!(
            answer(&row, ProbeAnswer::Unauthorized, 5, 0.0).0.phase,
            Phase::SignedOut
        );
        assert!(matches!(
            answer(&row, ProbeAnswer::Unexpected(418), 5, 0.0).0.phase,
            Phase::Failed { .. }
        ));
    }

    #[test]
    fn stop_cancels_at_each_state() {
        let (requesting, _) = click(&RowModel::default(), 0);
        assert_eq!(
            requesting.step(RowEvent::Stop),
            (
                RowModel {
                    phase: Phase::Idle,
                    last_click_ms: Some(0)
                },
                vec![RowEffect::CancelInFlight]
            )
        );
        let (waiting, _) = answer(&requesting, accepted(None), 5, 0.5);
        assert_eq!(
            waiting.step(RowEvent::Stop).1,
            vec![RowEffect::CancelInFlight]
        );
        let (stopped, _) = waiting.step(RowEvent::Stop);
        // A poll timer or answer that fires after the stop changes nothing.
        assert!(stopped.step(RowEvent::PollDue).1.is_empty());
        assert!(answer(&stopped, ProbeAnswer::Playable, 9, 0.0).1.is_empty());
        let (polling, _) = waiting.step(RowEvent::PollDue);
        assert!(can_stop(&polling.phase));
        let (stopped, effects) = polling.step(RowEvent::Stop);
        assert_eq!(effects, vec![RowEffect::CancelInFlight]);
        assert!(
            poll_answer(&stopped, StatusAnswer::Ready { size: None }, 9, 0.0)
                .1
                .is_empty()
        );
        let playing = RowModel {
            phase: Phase::Playing,
            last_click_ms: None,
        };
        assert_eq!(playing.step(RowEvent::Stop).1, vec![RowEffect::PauseAudio]);
        assert!(RowModel::default().step(RowEvent::Stop).1.is_empty());
    }

    #[test]
    fn a_click_on_a_playing_row_pauses_and_another_resumes() {
        let playing = RowModel {
            phase: Phase::Playing,
            last_click_ms: Some(0),
        };
        let (paused, effects) = click(&playing, 5000);
        assert_eq!(
            (paused.phase.clone(), effects),
            (Phase::Paused, vec![RowEffect::PauseAudio])
        );
        assert_eq!(click(&paused, 6000).1, vec![RowEffect::ResumeAudio]);
    }

    #[test]
    fn another_row_starting_pauses_this_one() {
        let playing = RowModel {
            phase: Phase::Playing,
            last_click_ms: None,
        };
        assert_eq!(
            playing.step(RowEvent::OtherStarted).1,
            vec![RowEffect::PauseAudio]
        );
        assert!(RowModel::default()
            .step(RowEvent::OtherStarted)
            .1
            .is_empty());
    }

    #[test]
    fn waiting_describes_queue_position_and_elapsed_seconds() {
        let p = Phase::Waiting {
            since_ms: 0,
            attempt: 1,
            delay_ms: 500,
            progress: Some(Progress {
                stage: Stage::Queued,
                queue_position: Some(3),
            }),
        };
        assert_eq!(describe(&p, 4_200).text, "queued (3 ahead) · 4 s");
        // The headline is the state without its ticking seconds.
        assert_eq!(describe(&p, 4_200).headline, "queued (3 ahead)");
        assert_eq!(describe(&p, 9_200).headline, "queued (3 ahead)");
        let p = Phase::Polling {
            since_ms: 0,
            attempt: 1,
            progress: Some(Progress {
                stage: Stage::Preparing,
                queue_position: None,
            }),
        };
        assert_eq!(describe(&p, 2_000).text, "preparing · 2 s");
        assert_eq!(button(&p, 2_000), btn("Preparing…", false));
        let p = Phase::Waiting {
            since_ms: 0,
            attempt: 2,
            delay_ms: 2_000,
            progress: Some(Progress {
                stage: Stage::AtProvider,
                queue_position: None,
            }),
        };
        assert_eq!(
            describe(&p, 3_000).headline,
            "the provider is still processing this recording"
        );
    }

    mod only_a_click_sends_the_play_request {
        use super::*;
        use proptest::prelude::*;

        fn stage() -> impl Strategy<Value = Stage> {
            prop_oneof![
                Just(Stage::Queued),
                Just(Stage::Preparing),
                Just(Stage::AtProvider)
            ]
        }

        fn probe_answer() -> impl Strategy<Value = ProbeAnswer> {
            prop_oneof![
                Just(ProbeAnswer::Playable),
                (
                    stage(),
                    proptest::option::of(0u32..5),
                    proptest::option::of(0u64..20_000)
                )
                    .prop_map(|(stage, queue_position, retry_after_ms)| {
                        ProbeAnswer::Accepted {
                            stage,
                            queue_position,
                            retry_after_ms,
                        }
                    }),
                Just(ProbeAnswer::Empty),
                proptest::option::of(0u64..20_000).prop_map(|retry_after_ms| {
                    ProbeAnswer::Busy {
                        reason: BusyReason::RateLimited,
                        retry_after_ms,
                    }
                }),
                (0u64..60_000).prop_map(|retry_after_ms| ProbeAnswer::Failed {
                    error: "origin answered 500".into(),
                    retry_after_ms
                }),
                Just(ProbeAnswer::NotFound),
                Just(ProbeAnswer::Unauthorized),
                Just(ProbeAnswer::NetworkError("offline".into())),
                Just(ProbeAnswer::Unexpected(416)),
            ]
        }

        fn status_answer() -> impl Strategy<Value = StatusAnswer> {
            prop_oneof![
                (
                    stage(),
                    proptest::option::of(0u32..5),
                    proptest::option::of(0u64..20_000)
                )
                    .prop_map(|(stage, queue_position, retry_after_ms)| {
                        StatusAnswer::Pending {
                            stage,
                            queue_position,
                            retry_after_ms,
                        }
                    }),
                proptest::option::of(0u64..3).prop_map(|size| StatusAnswer::Ready { size }),
                (0u64..60_000).prop_map(|retry_after_ms| StatusAnswer::Failed {
                    error: "origin answered 500".into(),
                    retry_after_ms
                }),
                Just(StatusAnswer::NotFound),
                Just(StatusAnswer::NoDownload),
                Just(StatusAnswer::Unauthorized),
                Just(StatusAnswer::NetworkError("offline".into())),
                Just(StatusAnswer::Unexpected(500)),
            ]
        }

        /// Events with `now_ms` 0; the test sets the time as it goes.
        fn event() -> impl Strategy<Value = RowEvent> {
            prop_oneof![
                1 => any::<bool>().prop_map(|trusted| RowEvent::Click { trusted, now_ms: 0 }),
                1 => Just(RowEvent::Stop),
                1 => (probe_answer(), 0.0..1.0f64).prop_map(|(answer, unit)| RowEvent::Answer {
                    answer,
                    now_ms: 0,
                    unit
                }),
                1 => (status_answer(), 0.0..1.0f64).prop_map(|(answer, unit)| {
                    RowEvent::PollAnswer {
                        answer,
                        now_ms: 0,
                        unit,
                    }
                }),
                // Timers fire often: weigh them up.
                3 => Just(RowEvent::PollDue),
                1 => Just(RowEvent::AudioPlaying),
                1 => Just(RowEvent::AudioPaused),
                1 => Just(RowEvent::AudioEnded),
                1 => Just(RowEvent::AudioError("decode".into())),
                1 => Just(RowEvent::OtherStarted),
            ]
        }

        fn at(mut event: RowEvent, now: u64) -> RowEvent {
            match &mut event {
                RowEvent::Click { now_ms, .. }
                | RowEvent::Answer { now_ms, .. }
                | RowEvent::PollAnswer { now_ms, .. } => *now_ms = now,
                _ => {}
            }
            event
        }

        proptest! {
            #[test]
            fn in_any_sequence_of_events(
                steps in proptest::collection::vec((0u64..10_000, event()), 1..80)
            ) {
                let mut row = RowModel::default();
                let mut now = 0;
                let mut last_probe: Option<u64> = None;
                for (delta, event) in steps {
                    now += delta;
                    let event = at(event, now);
                    let trusted_click = matches!(event, RowEvent::Click { trusted: true, .. });
                    let polls_due = matches!(event, RowEvent::PollDue);
                    let (next, effects) = row.step(event.clone());
                    if effects.contains(&RowEffect::SendProbe) {
                        prop_assert!(trusted_click, "{event:?} sent the play request from {:?}", row.phase);
                        prop_assert!(
                            last_probe.is_none_or(|t| now >= t + DEBOUNCE_MS),
                            "two play requests within the debounce"
                        );
                        last_probe = Some(now);
                    }
                    // A press on a recording the element holds always
                    // answers, unless it is a double click's second half.
                    let holds = matches!(row.phase, Phase::Playing | Phase::Loading | Phase::Paused);
                    let double = last_probe.is_some_and(|t| now < t + DEBOUNCE_MS);
                    if trusted_click && holds && !double {
                        let toggled = effects == vec![RowEffect::PauseAudio]
                            || effects == vec![RowEffect::ResumeAudio];
                        prop_assert!(toggled, "a press on {:?} did {effects:?}", row.phase);
                    }
                    if polls_due && !effects.is_empty() {
                        prop_assert_eq!(&effects, &vec![RowEffect::SendStatusPoll]);
                    }
                    row = next;
                }
            }
        }
    }
}
