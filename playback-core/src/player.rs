//! The browser player's row: when to ask the edge, how long to wait, what
//! to show. A pure state machine: the component feeds it events (clicks,
//! answers, timers, media events) with the time and a random number, and
//! applies the effects it returns.
//!
//! Rules: only a trusted click acts (guarantee 1 starts here); the first
//! click acts at once and further clicks within `DEBOUNCE_MS` do nothing;
//! while a request or a wait is in flight, clicks start nothing; on 202 the
//! next probe waits a full-jitter exponential backoff, never less than the
//! edge's `retry_after_ms`, and the row gives up after `GIVE_UP_MS`.

use crate::retry::Backoff;

pub const DEBOUNCE_MS: u64 = 600;
pub const GIVE_UP_MS: u64 = 120_000;
pub const POLL: Backoff = Backoff {
    base_ms: 500,
    factor: 2,
    cap_ms: 8_000,
};

/// What the edge said about the recording, as the row waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `true` while queued for a slot, `false` while the download runs.
    pub queued: bool,
    pub queue_position: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// A probe is in flight. `since_ms` is the click that started the cycle.
    Requesting {
        since_ms: u64,
        attempt: u32,
        progress: Option<Progress>,
    },
    /// Waiting `delay_ms` before the next probe.
    Waiting {
        since_ms: u64,
        attempt: u32,
        delay_ms: u64,
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
    GaveUp,
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
        queued: bool,
        queue_position: Option<u32>,
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

#[derive(Debug, Clone, PartialEq)]
pub enum RowEvent {
    Click {
        trusted: bool,
        now_ms: u64,
    },
    Stop,
    Answer {
        answer: ProbeAnswer,
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
    SendProbe,
    SchedulePoll {
        delay_ms: u64,
    },
    /// Abort the in-flight probe and the pending poll timer.
    CancelInFlight,
    StartAudio,
    ResumeAudio,
    PauseAudio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowModel {
    pub phase: Phase,
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
        use RowEffect::*;
        match event {
            RowEvent::Click { trusted: false, .. } => vec![],
            RowEvent::Click { now_ms, .. } => {
                if self
                    .last_click_ms
                    .is_some_and(|last| now_ms < last + DEBOUNCE_MS)
                {
                    return vec![];
                }
                let start = |row: &mut RowModel| {
                    row.phase = Phase::Requesting {
                        since_ms: now_ms,
                        attempt: 0,
                        progress: None,
                    };
                    vec![SendProbe]
                };
                let effects = match &self.phase {
                    Phase::Idle | Phase::GaveUp | Phase::NotFound => start(self),
                    Phase::Failed { retry_at_ms, .. } if now_ms >= *retry_at_ms => start(self),
                    Phase::Playing | Phase::Loading => {
                        self.phase = Phase::Paused;
                        vec![PauseAudio]
                    }
                    Phase::Paused => {
                        self.phase = Phase::Loading;
                        vec![ResumeAudio]
                    }
                    _ => return vec![],
                };
                self.last_click_ms = Some(now_ms);
                effects
            }
            RowEvent::Stop => match self.phase {
                Phase::Requesting { .. } | Phase::Waiting { .. } => {
                    self.phase = Phase::Idle;
                    vec![CancelInFlight]
                }
                Phase::Loading | Phase::Playing | Phase::Paused => {
                    self.phase = Phase::Idle;
                    vec![PauseAudio]
                }
                _ => vec![],
            },
            RowEvent::Answer {
                answer,
                now_ms,
                unit,
            } => {
                let Phase::Requesting {
                    since_ms,
                    attempt,
                    progress,
                } = self.phase.clone()
                else {
                    // A stale answer (the user stopped meanwhile): ignore it.
                    return vec![];
                };
                match answer {
                    ProbeAnswer::Playable => {
                        self.phase = Phase::Loading;
                        vec![StartAudio]
                    }
                    ProbeAnswer::Accepted {
                        queued,
                        queue_position,
                        retry_after_ms,
                    } => {
                        let progress = Some(Progress {
                            queued,
                            queue_position,
                        });
                        self.wait(
                            since_ms,
                            attempt + 1,
                            retry_after_ms.unwrap_or(0),
                            progress,
                            now_ms,
                            unit,
                            None,
                        )
                    }
                    ProbeAnswer::NetworkError(e) => {
                        let error = format!("network error: {e}");
                        self.wait(
                            since_ms,
                            attempt + 1,
                            0,
                            progress,
                            now_ms,
                            unit,
                            Some(error),
                        )
                    }
                    ProbeAnswer::Failed {
                        error,
                        retry_after_ms,
                    } => {
                        self.phase = Phase::Failed {
                            error,
                            retry_at_ms: now_ms + retry_after_ms,
                        };
                        vec![]
                    }
                    ProbeAnswer::NotFound => {
                        self.phase = Phase::NotFound;
                        vec![]
                    }
                    ProbeAnswer::Unauthorized => {
                        self.phase = Phase::SignedOut;
                        vec![]
                    }
                    ProbeAnswer::Unexpected(status) => {
                        self.phase = Phase::Failed {
                            error: format!("unexpected answer {status}"),
                            retry_at_ms: now_ms,
                        };
                        vec![]
                    }
                }
            }
            RowEvent::PollDue => match self.phase.clone() {
                Phase::Waiting {
                    since_ms,
                    attempt,
                    progress,
                    ..
                } => {
                    self.phase = Phase::Requesting {
                        since_ms,
                        attempt,
                        progress,
                    };
                    vec![SendProbe]
                }
                _ => vec![],
            },
            RowEvent::AudioPlaying => {
                if matches!(self.phase, Phase::Loading | Phase::Paused | Phase::Playing) {
                    self.phase = Phase::Playing;
                }
                vec![]
            }
            RowEvent::AudioPaused | RowEvent::AudioEnded => {
                if matches!(self.phase, Phase::Playing | Phase::Loading) {
                    self.phase = Phase::Paused;
                }
                vec![]
            }
            RowEvent::AudioError(error) => {
                if matches!(self.phase, Phase::Loading | Phase::Playing | Phase::Paused) {
                    self.phase = Phase::Failed {
                        error,
                        retry_at_ms: 0,
                    };
                }
                vec![]
            }
            RowEvent::OtherStarted => {
                if matches!(self.phase, Phase::Playing | Phase::Loading) {
                    self.phase = Phase::Paused;
                    vec![PauseAudio]
                } else {
                    vec![]
                }
            }
        }
    }

    /// Schedules the next probe, or gives up after `GIVE_UP_MS`.
    #[allow(clippy::too_many_arguments)]
    fn wait(
        &mut self,
        since_ms: u64,
        attempt: u32,
        floor_ms: u64,
        progress: Option<Progress>,
        now_ms: u64,
        unit: f64,
        error: Option<String>,
    ) -> Vec<RowEffect> {
        let delay_ms = POLL.full_jitter_ms(attempt, unit).max(floor_ms);
        if now_ms.saturating_sub(since_ms) + delay_ms >= GIVE_UP_MS {
            self.phase = match error {
                Some(error) => Phase::Failed {
                    error,
                    retry_at_ms: now_ms,
                },
                None => Phase::GaveUp,
            };
            return vec![];
        }
        self.phase = Phase::Waiting {
            since_ms,
            attempt,
            delay_ms,
            progress,
        };
        vec![RowEffect::SchedulePoll { delay_ms }]
    }
}

/// What the row shows and announces, and whether it is an error.
pub fn describe(phase: &Phase, now_ms: u64) -> (String, bool) {
    let elapsed = |since: u64| now_ms.saturating_sub(since) / 1000;
    let waiting = |since: u64, progress: &Option<Progress>| match progress {
        Some(Progress {
            queued: true,
            queue_position: Some(n),
        }) => format!("queued ({n} ahead) · {} s", elapsed(since)),
        Some(Progress { queued: true, .. }) => format!("queued · {} s", elapsed(since)),
        Some(Progress { queued: false, .. }) => format!("preparing · {} s", elapsed(since)),
        None => "requesting…".to_owned(),
    };
    match phase {
        Phase::Idle => (String::new(), false),
        Phase::Requesting {
            since_ms, progress, ..
        }
        | Phase::Waiting {
            since_ms, progress, ..
        } => (waiting(*since_ms, progress), false),
        Phase::Loading => ("loading…".into(), false),
        Phase::Playing => ("playing".into(), false),
        Phase::Paused => ("paused".into(), false),
        Phase::Failed { error, retry_at_ms } if *retry_at_ms > now_ms => (
            format!(
                "failed: {error} · retry in {} s",
                (retry_at_ms - now_ms).div_ceil(1000)
            ),
            true,
        ),
        Phase::Failed { error, .. } => (format!("failed: {error} · you can retry now"), true),
        Phase::GaveUp => ("still preparing, try again".into(), true),
        Phase::NotFound => ("no recording for this call".into(), true),
        Phase::SignedOut => ("your session has ended: sign in again".into(), true),
    }
}

/// The main button's label, and whether it can act now.
pub fn button(phase: &Phase, now_ms: u64) -> (&'static str, bool) {
    match phase {
        Phase::Idle | Phase::NotFound => ("Play", true),
        Phase::Requesting { .. } | Phase::Waiting { .. } => ("Preparing…", false),
        Phase::Loading | Phase::Playing => ("Pause", true),
        Phase::Paused => ("Play", true),
        Phase::Failed { retry_at_ms, .. } => ("Retry", now_ms >= *retry_at_ms),
        Phase::GaveUp => ("Try again", true),
        Phase::SignedOut => ("Play", false),
    }
}

/// Whether the row has something the Stop button can stop.
pub fn can_stop(phase: &Phase) -> bool {
    matches!(
        phase,
        Phase::Requesting { .. }
            | Phase::Waiting { .. }
            | Phase::Loading
            | Phase::Playing
            | Phase::Paused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(row: &RowModel, now_ms: u64) -> (RowModel, Vec<RowEffect>) {
        row.step(RowEvent::Click {
            trusted: true,
            now_ms,
        })
    }

    fn accepted(retry_after_ms: Option<u64>) -> ProbeAnswer {
        ProbeAnswer::Accepted {
            queued: true,
            queue_position: Some(2),
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
    }

    #[test]
    fn a_click_outside_the_window_acts_again() {
        let (row, _) = click(&RowModel::default(), 1000);
        let (row, _) = answer(&row, ProbeAnswer::NotFound, 1100, 0.0);
        assert!(click(&row, 1599).1.is_empty());
        assert_eq!(click(&row, 1600).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn a_202_waits_the_jittered_backoff() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, effects) = answer(&row, accepted(None), 10, 0.5);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 250 }]);
        let (row, effects) = row.step(RowEvent::PollDue);
        assert_eq!(effects, vec![RowEffect::SendProbe]);
        let (_, effects) = answer(&row, accepted(None), 600, 1.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 1000 }]);
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
    fn it_gives_up_after_two_minutes() {
        let row = RowModel {
            phase: Phase::Requesting {
                since_ms: 0,
                attempt: 3,
                progress: None,
            },
            last_click_ms: Some(0),
        };
        let (row, effects) = answer(&row, accepted(None), GIVE_UP_MS - 100, 1.0);
        assert!(effects.is_empty());
        assert_eq!(row.phase, Phase::GaveUp);
        assert_eq!(button(&row.phase, 0), ("Try again", true));
        assert_eq!(click(&row, GIVE_UP_MS + 1000).1, vec![RowEffect::SendProbe]);
    }

    #[test]
    fn network_errors_back_off_then_show_the_error() {
        let (row, _) = click(&RowModel::default(), 0);
        let (row, effects) = answer(&row, ProbeAnswer::NetworkError("offline".into()), 10, 0.0);
        assert_eq!(effects, vec![RowEffect::SchedulePoll { delay_ms: 0 }]);
        let late = RowModel {
            phase: Phase::Requesting {
                since_ms: 0,
                attempt: 9,
                progress: None,
            },
            ..row
        };
        let (late, _) = answer(
            &late,
            ProbeAnswer::NetworkError("offline".into()),
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
            (
                "failed: origin answered 500 · retry in 30 s".to_owned(),
                true
            )
        );
        assert_eq!(button(&row.phase, 1000), ("Retry", false));
        assert!(click(&row, 2000).1.is_empty());
        assert_eq!(button(&row.phase, 31_000), ("Retry", true));
        assert_eq!(click(&row, 31_000).1, vec![RowEffect::SendProbe]);
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
                queued: true,
                queue_position: Some(3),
            }),
        };
        assert_eq!(describe(&p, 4_200).0, "queued (3 ahead) · 4 s");
        let p = Phase::Waiting {
            since_ms: 0,
            attempt: 1,
            delay_ms: 500,
            progress: Some(Progress {
                queued: false,
                queue_position: None,
            }),
        };
        assert_eq!(describe(&p, 2_000).0, "preparing · 2 s");
    }
}
