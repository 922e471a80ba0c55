//! One call's row, and its `Loader`: the row model of one call and the
//! requests it makes. The model's decisions are
//! `playback_core::player::RowModel`'s; the loader only feeds it events
//! (with the time and a random number) and applies its effects: the probe
//! (the play request, only ever for a click) and the status polls after a
//! 202, each cancelled with an `AbortController`; the poll timer; and the
//! page's audio element, through an `AudioSink` that the player bar
//! connects (so the loader knows nothing of the bar). A call's row and the
//! bar share its one loader (the loaders' registry, `loaders.rs`), so they always agree.

use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use playback_core::bar::RecordingRef;
use playback_core::player::{RowEffect, RowEvent, RowModel};
use playback_core::wire::CallSummary;
use web_sys::{AbortController, AbortSignal};

use crate::api;
use crate::clock::now_ms;

/// What a loader asks of the page's audio element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCommand {
    /// The recording is playable: load it and play.
    Start,
    /// Play again what the element holds.
    Resume,
    /// Pause, if the element holds this loader's call.
    Pause,
}

type AudioHandler = Rc<dyn Fn(Loader, AudioCommand)>;

/// Where loaders send their audio commands: the player bar, once it has
/// connected; until then (a row mounted without a bar) they go nowhere.
#[derive(Clone, Copy)]
pub struct AudioSink(StoredValue<Option<AudioHandler>, LocalStorage>);

impl AudioSink {
    pub fn new() -> AudioSink {
        AudioSink(StoredValue::new_local(None))
    }

    pub fn connect(self, handler: impl Fn(Loader, AudioCommand) + 'static) {
        self.0.set_value(Some(Rc::new(handler)));
    }

    fn send(self, loader: Loader, command: AudioCommand) {
        if let Some(handler) = self.0.get_value() {
            handler(loader, command);
        }
    }
}

impl Default for AudioSink {
    fn default() -> Self {
        AudioSink::new()
    }
}

/// One recording's model and requests; `Copy`, so handlers can capture it.
#[derive(Clone, Copy)]
pub struct Loader {
    pub recording: StoredValue<RecordingRef>,
    pub call: RwSignal<Option<CallSummary>>,
    pub model: RwSignal<RowModel>,
    in_flight: StoredValue<Option<AbortController>, LocalStorage>,
    poll_timer: StoredValue<Option<TimeoutHandle>, LocalStorage>,
    sink: AudioSink,
}

impl Loader {
    pub fn new(recording: &RecordingRef, call: Option<CallSummary>, sink: AudioSink) -> Loader {
        Loader {
            recording: StoredValue::new(recording.clone()),
            call: RwSignal::new(call),
            model: RwSignal::new(RowModel::default()),
            in_flight: StoredValue::new_local(None),
            poll_timer: StoredValue::new_local(None),
            sink,
        }
    }

    /// Frees its signals (`Loaders::forget`).
    pub fn dispose(self) {
        self.recording.dispose();
        self.call.dispose();
        self.model.dispose();
        self.in_flight.dispose();
        self.poll_timer.dispose();
    }

    pub fn dispatch(self, event: RowEvent) {
        let (next, effects) = self.model.get_untracked().step(event);
        if next != self.model.get_untracked() {
            self.model.set(next);
        }
        for effect in effects {
            self.apply(effect);
        }
    }

    fn apply(self, effect: RowEffect) {
        match effect {
            RowEffect::SendProbe => self.send_probe(),
            RowEffect::SendStatusPoll => self.send_status_poll(),
            RowEffect::SchedulePoll { delay_ms } => {
                let handle = set_timeout_with_handle(
                    move || self.dispatch(RowEvent::PollDue),
                    Duration::from_millis(delay_ms),
                )
                .ok();
                self.poll_timer.set_value(handle);
            }
            RowEffect::CancelInFlight => self.cancel(),
            RowEffect::StartAudio => self.sink.send(self, AudioCommand::Start),
            RowEffect::ResumeAudio => self.sink.send(self, AudioCommand::Resume),
            RowEffect::PauseAudio => self.sink.send(self, AudioCommand::Pause),
        }
    }

    /// The play request; the core asks for it only on a click. It leaves
    /// once the click's change is painted (the next frame, then a task):
    /// the work it starts (here, and on a machine that also runs the edge)
    /// never stands between the click and its first paint, and it costs at
    /// most a frame. A Stop meanwhile aborts it before it leaves.
    fn send_probe(self) {
        let Some(signal) = self.begin_request() else {
            return;
        };
        let recording = self.recording.get_value();
        request_animation_frame(move || {
            set_timeout(
                move || {
                    spawn_local(async move {
                        let answer = api::probe(&recording, &signal).await;
                        self.answered(&signal, |now_ms, unit| RowEvent::Answer {
                            answer,
                            now_ms,
                            unit,
                        });
                    })
                },
                Duration::ZERO,
            )
        });
    }

    /// A poll of the status endpoint, without the user action.
    fn send_status_poll(self) {
        let Some(signal) = self.begin_request() else {
            return;
        };
        let recording = self.recording.get_value();
        spawn_local(async move {
            let answer = api::status(&recording, &signal).await;
            self.answered(&signal, |now_ms, unit| RowEvent::PollAnswer {
                answer,
                now_ms,
                unit,
            });
        });
    }

    /// Cancels whatever is in flight and returns the signal of the new request.
    fn begin_request(self) -> Option<AbortSignal> {
        self.cancel();
        let controller = AbortController::new().ok()?;
        let signal = controller.signal();
        self.in_flight.set_value(Some(controller));
        Some(signal)
    }

    /// Feeds a request's answer to the model, unless the request was cancelled.
    fn answered(self, signal: &AbortSignal, event: impl FnOnce(u64, f64) -> RowEvent) {
        if signal.aborted() {
            return;
        }
        self.in_flight.set_value(None);
        self.dispatch(event(now_ms(), js_sys::Math::random()));
    }

    /// Aborts the request in flight (probe or poll) and the pending poll timer, if any.
    fn cancel(self) {
        if let Some(controller) = self.in_flight.try_update_value(Option::take).flatten() {
            controller.abort();
        }
        if let Some(timer) = self.poll_timer.try_update_value(Option::take).flatten() {
            timer.clear();
        }
    }
}
