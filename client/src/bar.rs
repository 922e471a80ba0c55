//! The player bar: one `<audio>` element for the whole page, fixed at the
//! bottom, with the controls an agent expects (play/pause, ±10 s, a seek
//! slider over the waveform, speed, skip silence, download, a link to the
//! moment, a picker for a call's other recordings) and the keyboard map.
//! Its decisions are `playback_core::bar`'s (times and texts, speeds,
//! skips, keys, links, resume, silence jumps, the waveform's shape, which
//! recordings to offer) and, for starting a recording, the row model's: the
//! bar's Play for a call that is not loaded is a click on that call's
//! `Loader`, the same one its row uses, so the row and the bar always agree
//! and only a trusted click ever sends the play request.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use playback_core::bar::{
    clock, download_path, has_media, lanes_html, length, parse_positions, peaks_retry_ms,
    played_width, position_text, positions_text, recording_choices, recording_name, remember,
    remembered, restart_offered, save_due, shortcut, silence_jump, skip, speed_index,
    start_position, step_speed, title, waveform_name, whole_seconds, Focus, Moment, RecordingRef,
    Shortcut, Wave, NORMAL_SPEED, SKIP_S, SPEEDS, SPEED_LABELS,
};
use playback_core::player::{button, describe, Phase, RowEvent};
use playback_core::wire::CallSummary;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api::{self, PeaksAnswer};
use crate::clock::now_ms;
use crate::loaders::Loaders;
use crate::row::{AudioCommand, AudioSink, Loader};

/// Where the device keeps the positions heard (`playback_core::bar::remember`).
const POSITIONS_KEY: &str = "player.positions";
/// The waveform's drawing box (the SVG scales it to the bar's width).
const WAVE_WIDTH: usize = 1000;
const LANE_HEIGHT: u32 = 100;

/// The bar's element ids, named once: its markup, its updates and the tests use these.
pub mod ids {
    pub const PLAYER: &str = "player";
    pub const TITLE: &str = "bar-title";
    pub const PLAY: &str = "bar-play";
    /// The play button's name ("Play" or "Pause"), beside its icons.
    pub const PLAY_NAME: &str = "bar-play-name";
    pub const STATE: &str = "bar-state";
    pub const ELAPSED: &str = "elapsed";
    pub const TOTAL: &str = "total";
    pub const LANES: &str = "lanes";
    pub const PLAYED: &str = "played";
    pub const SEEK: &str = "seek";
    pub const SPEED: &str = "speed";
    pub const SKIP_SILENCE: &str = "skip-silence";
    pub const RESTART: &str = "restart";
    pub const DOWNLOAD: &str = "download";
    /// The "More" menu button and its menu (the secondary controls on a
    /// narrow screen), and the menu's own items that mirror the bar's.
    pub const MORE: &str = "more";
    pub const MENU: &str = "more-menu";
    pub const MENU_SILENCE: &str = "menu-silence";
    pub const MENU_RESTART: &str = "menu-restart";
    pub const MENU_DOWNLOAD: &str = "menu-download";
    /// The keyboard shortcuts' modal dialog.
    pub const DIALOG: &str = "shortcuts-dialog";
    pub const RECORDINGS: &str = "recordings";
    pub const KEYS: &str = "keys";
    pub const NOTICE: &str = "bar-notice";
    pub const SHORTCUT_LIST: &str = "shortcuts";
}

/// Where the bar call's peaks stand (`data-peaks` on the waveform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeaksState {
    Waiting,
    Ready,
    None,
}

impl PeaksState {
    fn as_str(self) -> &'static str {
        match self {
            PeaksState::Waiting => "waiting",
            PeaksState::Ready => "ready",
            PeaksState::None => "none",
        }
    }
}

/// What a bar button does (its `data-act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Play,
    Back,
    Forward,
    Silence,
    Restart,
    Copy,
    Help,
    /// One of the call's recordings (its `data-recording`).
    Pick,
    /// The "More" menu button.
    More,
    /// One of the menu's speeds (its `data-speed`, an index in `SPEEDS`).
    Speed,
}

impl Act {
    const ALL: [Act; 10] = [
        Act::Play,
        Act::Back,
        Act::Forward,
        Act::Silence,
        Act::Restart,
        Act::Copy,
        Act::Help,
        Act::Pick,
        Act::More,
        Act::Speed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Act::Play => "play",
            Act::Back => "back",
            Act::Forward => "forward",
            Act::Silence => "silence",
            Act::Restart => "restart",
            Act::Copy => "copy",
            Act::Help => "help",
            Act::Pick => "pick",
            Act::More => "more",
            Act::Speed => "speed",
        }
    }

    fn parse(name: &str) -> Option<Act> {
        Act::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// The player, shared by the bar and every row (a context).
#[derive(Clone, Copy)]
pub struct Player {
    /// The recording in the bar, once a row played or a link named one
    /// (`Loaders::bar_call`).
    pub held: RwSignal<Option<RecordingRef>>,
    /// How many of the bar call's recordings play, once the edge said
    /// (with Twilio; the picker shows from two).
    pub recordings: RwSignal<Option<u32>>,
    /// The call whose count of recordings was asked for.
    recordings_asked: StoredValue<Option<playback_core::CallSid>>,
    audio: StoredValue<Option<web_sys::HtmlAudioElement>, LocalStorage>,
    /// The bar's element, once mounted.
    root: StoredValue<Option<web_sys::HtmlElement>, LocalStorage>,
    loaders: Loaders,
    pub time: RwSignal<f64>,
    pub duration: RwSignal<f64>,
    /// The speed's index in `SPEEDS`.
    pub speed: RwSignal<usize>,
    pub skip_silence: RwSignal<bool>,
    /// The bar call's peaks, once the edge has them.
    pub peaks: RwSignal<Option<Wave>>,
    /// Where the next load starts (a link's `t`), taken by `start`.
    start_at: StoredValue<Option<f64>>,
    last_saved_ms: StoredValue<f64>,
    peaks_timer: StoredValue<Option<TimeoutHandle>, LocalStorage>,
    pub help: RwSignal<bool>,
    /// Where the focus was when the shortcuts' dialog opened (it goes back there).
    help_from: StoredValue<Option<web_sys::HtmlElement>, LocalStorage>,
    /// Whether the "More" menu is open.
    pub menu: RwSignal<bool>,
    /// The bar's own messages ("Link copied").
    pub notice: RwSignal<String>,
    /// Where the bar call's peaks stand.
    peaks_state: RwSignal<PeaksState>,
    /// Which chain of peaks requests is the current one.
    peaks_chain: StoredValue<u64>,
}

impl Player {
    /// A player and the page's loaders, whose audio commands it takes; the
    /// loaders are provided to the rows below.
    pub fn new() -> Player {
        let sink = AudioSink::new();
        let loaders = Loaders::new(sink);
        provide_context(loaders);
        let player = Player {
            held: loaders.bar_call,
            recordings: RwSignal::new(None),
            recordings_asked: StoredValue::new(None),
            audio: StoredValue::new_local(None),
            root: StoredValue::new_local(None),
            loaders,
            time: RwSignal::new(0.0),
            duration: RwSignal::new(0.0),
            speed: RwSignal::new(NORMAL_SPEED),
            skip_silence: RwSignal::new(false),
            peaks: RwSignal::new(None),
            start_at: StoredValue::new(None),
            last_saved_ms: StoredValue::new(0.0),
            peaks_timer: StoredValue::new_local(None),
            help: RwSignal::new(false),
            help_from: StoredValue::new_local(None),
            menu: RwSignal::new(false),
            notice: RwSignal::new(String::new()),
            peaks_state: RwSignal::new(PeaksState::Waiting),
            peaks_chain: StoredValue::new(0),
        };
        sink.connect(move |loader, command| player.on_command(loader, command));
        player
    }

    fn on_command(self, loader: Loader, command: AudioCommand) {
        match command {
            AudioCommand::Start => self.start(loader),
            AudioCommand::Resume => self.play(loader),
            // Only the bar's call has the audio element to pause.
            AudioCommand::Pause => {
                if self
                    .held
                    .with_untracked(|h| h.as_ref() == Some(&*loader.recording.read_value()))
                {
                    self.pause();
                }
            }
        }
    }

    /// The page's player (a fresh one where none was provided, as in a
    /// component test of one row).
    pub fn get() -> Player {
        use_context::<Player>().unwrap_or_else(|| {
            let player = Player::new();
            provide_context(player);
            player
        })
    }

    pub fn current(self) -> Option<Loader> {
        self.loaders.bar_loader()
    }

    /// Shows the page address's link to a moment, if it has one.
    pub fn open_link(self) {
        let fragment = web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        if let Some(moment) = Moment::from_fragment(&fragment) {
            self.show(&moment);
        }
    }

    /// Puts a recording in the bar, paused at `t`, loading nothing (a
    /// link). (The recording already in the bar pauses and moves to `t`.)
    pub fn show(self, moment: &Moment) {
        let recording = moment.recording_ref();
        let t = moment.t as f64;
        // The call's summary, if its row (the first recording's) has it.
        let known = self
            .loaders
            .of(&RecordingRef::first(moment.call_sid.clone()))
            .and_then(|l| l.call.get_untracked());
        let loader = self.loaders.loader(&recording, known.as_ref());
        if loader.call.with_untracked(Option::is_none) {
            // A call the list has not shown (yet): its time and parties
            // from the edge, for the title (a read without side effects).
            let asked = moment.call_sid.clone();
            spawn_local(async move {
                if let Some(call) = api::call(&asked).await {
                    // (A loader gone meanwhile takes nothing.)
                    let _ = loader.call.try_update(|c| {
                        c.get_or_insert(call);
                    });
                }
            });
        }
        if self.held.with_untracked(|h| h.as_ref() == Some(&recording)) {
            self.pause();
            self.seek(t);
            return;
        }
        self.switch_to(recording.clone());
        self.start_at.set_value(Some(t));
        self.time.set(t);
        // The waveform, if the edge has it: a read without side effects.
        // (How many recordings the call has is asked once one plays.)
        self.fetch_peaks(recording, 0);
    }

    /// The bar takes another recording: the one it held stops (one element
    /// plays one recording) and what it showed of it goes (and the count
    /// of the call's recordings, for another call).
    fn switch_to(self, recording: RecordingRef) {
        if self.loaded().is_some() {
            self.save(Some(self.time.get_untracked() as u64));
        }
        if let Some(previous) = self.current() {
            previous.dispatch(RowEvent::Stop);
        }
        // The element lets go of the previous recording; its late events
        // (a pause, a time update) no longer name the bar's call and are
        // dropped (`on_event`).
        if let Some(audio) = self.audio.get_value() {
            let _ = audio.pause();
            let _ = audio.remove_attribute("src");
            audio.load();
        }
        self.start_at.set_value(None);
        let previous = self.held.get_untracked();
        if previous.as_ref().map(|p| &p.call_sid) != Some(&recording.call_sid) {
            self.recordings.set(None);
            self.recordings_asked.set_value(None);
        }
        self.held.set(Some(recording));
        // A later recording's loader has no row to keep it: it goes with
        // the bar (the first's stays with its row).
        if let Some(previous) = previous.filter(|p| p.number > 1) {
            self.loaders.forget(&previous);
        }
        self.time.set(0.0);
        self.duration.set(0.0);
        self.peaks.set(None);
        self.peaks_state.set(PeaksState::Waiting);
        if let Some(t) = self.peaks_timer.try_update_value(Option::take).flatten() {
            t.clear();
        }
    }

    /// A loader's recording is playable: load it into the bar's audio
    /// element and play it, from a link's `t` or where it was left.
    pub fn start(self, loader: Loader) {
        let Some(audio) = self.audio.get_value() else {
            return;
        };
        let recording = loader.recording.get_value();
        if self.held.with_untracked(|h| h.as_ref() != Some(&recording)) {
            self.switch_to(recording.clone());
        }
        let duration = loader
            .call
            .with_untracked(|c| c.as_ref().map(|c| f64::from(c.duration_s)));
        let link_t = self.start_at.try_update_value(Option::take).flatten();
        let from = start_position(link_t, remembered(&positions(), &recording.key()), duration);
        self.start_at.set_value(Some(from));
        // (Its peaks are asked for once it plays: the first audio bytes go first.)
        audio.set_src(&api::audio_url(&recording));
        audio.set_default_playback_rate(self.rate());
        // Speed changes keep the pitch (the browsers' default, said anyway).
        let _ = js_sys::Reflect::set(&audio, &"preservesPitch".into(), &true.into());
        self.play(loader);
    }

    /// Plays the bar's audio for `loader`; a refusal goes back to its model.
    pub fn play(self, loader: Loader) {
        let Some(audio) = self.audio.get_value() else {
            return;
        };
        if let Ok(promise) = audio.play() {
            spawn_local(async move {
                if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
                    let exception = e.dyn_ref::<web_sys::DomException>();
                    match exception.map(|d| d.name()).as_deref() {
                        // Interrupted by our own pause or a new source: not an error.
                        Some("AbortError") => {}
                        // The browser wants a gesture first: paused, and Play resumes.
                        Some("NotAllowedError") => loader.dispatch(RowEvent::AudioPaused),
                        _ => loader.dispatch(RowEvent::AudioError(
                            exception
                                .map(|d| d.message())
                                .unwrap_or_else(|| "the browser refused to play".into()),
                        )),
                    }
                }
            });
        }
    }

    pub fn pause(self) {
        if let Some(audio) = self.audio.get_value() {
            let _ = audio.pause();
        }
    }

    /// Play/Pause of the bar (button, Space, K): a click on the bar call's loader.
    pub fn toggle(self, trusted: bool) {
        if let Some(loader) = self.current() {
            loader.dispatch(RowEvent::Click {
                trusted,
                now_ms: now_ms(),
            });
        }
    }

    /// The audio element, if it holds the bar call's recording.
    fn loaded(self) -> Option<web_sys::HtmlAudioElement> {
        let playable = self
            .current()
            .is_some_and(|l| l.model.with_untracked(|m| has_media(&m.phase)));
        playable.then(|| self.audio.get_value()).flatten()
    }

    /// Moves to `to` seconds: in the loaded recording, or where Play will
    /// start (also while it loads: a move then wins over where it was to start).
    pub fn seek(self, to: f64) {
        match self.loaded() {
            Some(audio) if audio.ready_state() >= 1 => {
                self.start_at.set_value(None);
                audio.set_current_time(to);
            }
            _ => self.start_at.set_value(Some(to)),
        }
        self.time.set(to);
    }

    /// The playback rate of the chosen speed.
    fn rate(self) -> f64 {
        SPEEDS[self.speed.get_untracked().min(SPEEDS.len() - 1)]
    }

    pub fn skip_by(self, by: f64) {
        let total = untrack(|| self.total());
        let to = skip(
            self.time.get_untracked(),
            by,
            (total > 0.0).then_some(total),
        );
        self.seek(to);
    }

    /// Sets the speed (`SPEEDS[index]`); the browser keeps the pitch.
    pub fn set_speed(self, index: usize) {
        self.speed.set(index.min(SPEEDS.len() - 1));
        if let Some(audio) = self.audio.get_value() {
            audio.set_default_playback_rate(self.rate());
            audio.set_playback_rate(self.rate());
        }
    }

    /// The audio element's time moved: the slider follows, silence is
    /// skipped if asked, and the position is remembered now and then.
    fn on_time(self, audio: &web_sys::HtmlAudioElement) {
        let t = audio.current_time();
        self.time.set(t);
        if self.skip_silence.get_untracked() && !audio.paused() {
            let jump = self.peaks.with_untracked(|p| {
                p.as_ref()
                    .and_then(|p| silence_jump(&p.silences, (t * 1000.0) as u64))
            });
            if let Some(to_ms) = jump {
                audio.set_current_time(to_ms as f64 / 1000.0);
            }
        }
        if save_due(js_sys::Date::now() - self.last_saved_ms.get_value()) {
            self.save(Some(t as u64));
        }
    }

    fn save(self, t: Option<u64>) {
        let Some(recording) = self.held.get_untracked() else {
            return;
        };
        self.last_saved_ms.set_value(js_sys::Date::now());
        let mut list = positions();
        remember(&mut list, &recording.key(), t);
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(POSITIONS_KEY, &positions_text(&list));
        }
    }

    /// Asks for the bar call's peaks; `not_ready` (the download still runs)
    /// asks again later, while the call stays in the bar.
    /// (One chain of requests at a time: a new one ends the one before.)
    fn fetch_peaks(self, recording: RecordingRef, attempt: u32) {
        if let Some(t) = self.peaks_timer.try_update_value(Option::take).flatten() {
            t.clear();
        }
        let chain = if attempt == 0 {
            self.peaks_chain.try_update_value(|c| {
                *c += 1;
                *c
            })
        } else {
            Some(self.peaks_chain.get_value())
        };
        spawn_local(async move {
            let answer = api::peaks(&recording).await;
            let current = self.held.with_untracked(|h| h.as_ref() == Some(&recording))
                && Some(self.peaks_chain.get_value()) == chain;
            if !current {
                return;
            }
            match answer {
                PeaksAnswer::Peaks(peaks) => {
                    self.peaks.set(Some(peaks));
                    self.peaks_state.set(PeaksState::Ready);
                }
                PeaksAnswer::NotReady => match peaks_retry_ms(attempt) {
                    Some(delay) => {
                        let handle = set_timeout_with_handle(
                            move || self.fetch_peaks(recording, attempt + 1),
                            Duration::from_millis(delay),
                        )
                        .ok();
                        self.peaks_timer.set_value(handle);
                    }
                    None => self.peaks_state.set(PeaksState::None),
                },
                PeaksAnswer::None => self.peaks_state.set(PeaksState::None),
            }
        });
    }

    /// Asks the edge, once per call in the bar, how many of its recordings
    /// play (for the picker).
    fn ask_recordings(self, held: &RecordingRef) {
        if self.recordings_asked.get_value().as_ref() == Some(&held.call_sid) {
            return;
        }
        self.recordings_asked.set_value(Some(held.call_sid.clone()));
        let held = held.clone();
        spawn_local(async move {
            let count = api::recordings(&held).await;
            let same_call = self
                .held
                .with_untracked(|h| h.as_ref().map(|h| &h.call_sid) == Some(&held.call_sid));
            if !same_call {
                return;
            }
            match count {
                Ok(count) => self.recordings.set(count),
                // No answer to go by: asked again when it next plays.
                Err(()) => self.recordings_asked.set_value(None),
            }
        });
    }

    /// The agent picked another of the call's recordings: the bar takes
    /// it, and the pick is a click on its loader (so it asks the edge as a
    /// row's Play does). A script's pick does nothing at all.
    fn pick(self, number: u8, trusted: bool) {
        let Some(held) = self.held.get_untracked().filter(|_| trusted) else {
            return;
        };
        if held.number == number
            || !recording_choices(self.recordings.get_untracked()).contains(&number)
        {
            return;
        }
        let call = self.current().and_then(|l| l.call.get_untracked());
        let recording = RecordingRef {
            call_sid: held.call_sid,
            number,
        };
        let loader = self.loaders.loader(&recording, call.as_ref());
        self.switch_to(recording);
        loader.dispatch(RowEvent::Click {
            trusted,
            now_ms: now_ms(),
        });
    }

    /// The address of this moment, and a try to copy it.
    fn copy_link(self) {
        let (Some(recording), Some(window)) = (self.held.get_untracked(), web_sys::window()) else {
            return;
        };
        // The element's own time: the slider's lags it by up to a
        // `timeupdate` (a quarter second, more at speed).
        let t = self
            .loaded()
            .map_or_else(|| self.time.get_untracked(), |a| a.current_time());
        let moment = Moment {
            call_sid: recording.call_sid,
            t: t as u64,
            recording: recording.number,
        };
        let location = window.location();
        let url = format!(
            "{}{}{}{}",
            location.origin().unwrap_or_default(),
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default(),
            moment.fragment()
        );
        // No clipboard outside a secure context: the link is shown instead.
        let navigator = window.navigator();
        let has_clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into())
            .is_ok_and(|c| !c.is_undefined() && !c.is_null());
        let promise = has_clipboard.then(|| navigator.clipboard().write_text(&url));
        spawn_local(async move {
            let copied = match promise {
                Some(p) => wasm_bindgen_futures::JsFuture::from(p).await.is_ok(),
                None => false,
            };
            self.notice.set(if copied {
                format!("Link copied: {url}")
            } else {
                format!("Copy this link: {url}")
            });
        });
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The positions remembered on this device.
fn positions() -> Vec<(String, u64)> {
    local_storage()
        .and_then(|s| s.get_item(POSITIONS_KEY).ok().flatten())
        .map(|text| parse_positions(&text))
        .unwrap_or_default()
}

impl Default for Player {
    fn default() -> Self {
        Player::new()
    }
}

/// The element that has the focus.
fn active() -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .active_element()?
        .dyn_into()
        .ok()
}

/// The page's events the bar listens to: the keys, the fragment, and a
/// press anywhere (which closes the menu).
const WINDOW_EVENTS: [&str; 3] = ["keydown", "hashchange", "pointerdown"];

/// Where the keyboard's focus is, for the shortcuts.
fn focus_of(target: Option<web_sys::EventTarget>) -> Focus {
    match target.and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
        Some(e) => Focus::of(
            &e.tag_name(),
            e.get_attribute("type").as_deref(),
            e.get_attribute("contenteditable").is_some(),
        ),
        None => Focus::Page,
    }
}

/// The bar's markup (`bar.html`), written once and updated by a few
/// effects and one event handler (`Player::mount`) rather than as a Leptos
/// view: a view of this many reactive parts cost the player about 30 KB, and
/// markup built at run time (the icons, the menu, the speeds and the
/// shortcuts) about 5 KB more than this static file.
///
/// One row at desktop widths: play, ±10 s, the call, the waveform with its
/// slider, the clock, then the secondary controls, each an icon (inline
/// SVG, hidden from assistive technology) named by its words and with a
/// tooltip (`data-tip`) that names its shortcut. On a narrow screen the
/// secondary controls are behind "More", a menu button (the WAI-ARIA
/// menu-button pattern) whose menu holds the same actions. The speeds and
/// the shortcuts it lists are `SPEED_LABELS` and `SHORTCUTS` (a component
/// test checks that they agree), its ids are [`ids`] and its acts [`Act`].
const BAR_HTML: &str = include_str!("bar.html");

impl Player {
    /// One element of the bar, by its id.
    fn el(self, id: &str) -> Option<web_sys::HtmlElement> {
        self.root
            .get_value()?
            .query_selector(&format!("#{id}"))
            .ok()
            .flatten()
            .map(JsCast::unchecked_into)
    }

    fn set_text(self, id: &str, text: &str) {
        if let Some(e) = self.el(id) {
            if e.text_content().as_deref() != Some(text) {
                e.set_text_content(Some(text));
            }
        }
    }

    fn set_attr(self, id: &str, name: &str, value: &str) {
        if let Some(e) = self.el(id) {
            let _ = e.set_attribute(name, value);
        }
    }

    fn set_hidden(self, id: &str, hidden: bool) {
        if let Some(e) = self.el(id) {
            e.set_hidden(hidden);
        }
    }
}

impl Player {
    /// What the bar's call is doing, as its loader's model says.
    fn phase(self) -> Option<Phase> {
        self.held.get()?;
        self.current().map(|l| l.model.with(|m| m.phase.clone()))
    }

    fn call(self) -> Option<CallSummary> {
        self.held.get()?;
        self.current().and_then(|l| l.call.get())
    }

    /// The recording's length: the media element's, else the list's.
    fn total(self) -> f64 {
        length(self.duration.get(), self.call().map(|c| c.duration_s))
    }

    /// Wires the bar's markup: its audio element, one handler for every
    /// event (clicks, the slider, the speed, the media element, the keys),
    /// and the effects that keep it showing the player's state.
    fn mount(self, section: &web_sys::HtmlElement) {
        let Some(audio) = section
            .query_selector("audio")
            .ok()
            .flatten()
            .map(JsCast::unchecked_into::<web_sys::HtmlAudioElement>)
        else {
            return;
        };
        self.audio.set_value(Some(audio.clone()));
        self.root.set_value(Some(section.clone()));
        self.listen(section, &audio);
        Effect::new(move |_| self.show_state());
        Effect::new(move |_| self.show_position());
        Effect::new(move |_| self.show_tools());
        Effect::new(move |_| self.show_help());
        Effect::new(move |_| self.show_wave());
        Effect::new(move |_| self.show_recordings());
    }

    /// One handler for the bar's controls, its audio element's events and
    /// the page's keys and fragment.
    fn listen(self, section: &web_sys::HtmlElement, audio: &web_sys::HtmlAudioElement) {
        let handler =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| self.on_event(&ev));
        let f = handler.as_ref().unchecked_ref();
        for name in ["click", "input", "change"] {
            let _ = section.add_event_listener_with_callback(name, f);
        }
        for name in [
            "playing",
            "pause",
            "ended",
            "error",
            "loadedmetadata",
            "timeupdate",
        ] {
            let _ = audio.add_event_listener_with_callback(name, f);
        }
        // The dialog closed by the browser (Escape).
        if let Some(dialog) = self.el(ids::DIALOG) {
            let _ = dialog.add_event_listener_with_callback("close", f);
        }
        if let Some(window) = web_sys::window() {
            for name in WINDOW_EVENTS {
                let _ = window.add_event_listener_with_callback(name, f);
            }
        }
        // Kept while the bar is shown; the keys stop with it.
        let handler = StoredValue::new_local(handler);
        on_cleanup(move || {
            if let Some(window) = web_sys::window() {
                handler.with_value(|h| {
                    for name in WINDOW_EVENTS {
                        let _ = window
                            .remove_event_listener_with_callback(name, h.as_ref().unchecked_ref());
                    }
                });
            }
        });
    }

    /// Whether it plays, where the call stands, its title and download.
    fn show_state(self) {
        let phase = self.phase();
        if let Some(root) = self.root.get_value() {
            // Shown from the first call, or for the list of shortcuts.
            root.set_hidden(self.held.get().is_none() && !self.help.get());
        }
        let playing = matches!(phase, Some(Phase::Playing | Phase::Loading));
        self.set_text(ids::PLAY_NAME, if playing { "Pause" } else { "Play" });
        self.set_attr(ids::PLAY, "data-playing", &playing.to_string());
        // The row's words for where the call stands (its Play waits
        // while it is prepared, as the row's does).
        let (state, enabled) = phase.as_ref().map_or((String::new(), true), |ph| {
            (
                describe(ph, now_ms()).headline,
                button(ph, now_ms()).enabled || has_media(ph),
            )
        });
        self.set_text(ids::STATE, &state);
        self.set_attr(ids::PLAY, "aria-disabled", &(!enabled).to_string());
        let call = self.call();
        let held = self.held.get();
        let mut title = match (&call, &held) {
            (Some(c), _) => title(c),
            (None, Some(h)) => format!("Call {}", h.call_sid),
            (None, None) => String::new(),
        };
        let number = held.as_ref().map_or(1, |h| h.number);
        let of = recording_choices(self.recordings.get()).count() as u8;
        if of > 1 {
            title = format!("{title} · {}", recording_name(number, of));
        }
        self.set_text(ids::TITLE, &title);
        let playable = phase.as_ref().is_some_and(has_media);
        let download = call.filter(|_| playable).map(|c| download_path(&c, number));
        for id in [ids::DOWNLOAD, ids::MENU_DOWNLOAD] {
            self.set_attr(id, "href", download.as_deref().unwrap_or_default());
            self.set_hidden(id, download.is_none());
        }
    }

    /// The clock, the slider and the played part of the waveform.
    fn show_position(self) {
        let (t, total) = (self.time.get(), self.total());
        self.set_text(ids::ELAPSED, &clock(t));
        self.set_text(ids::TOTAL, &clock(total));
        if let Some(seek) = self.el(ids::SEEK) {
            let seek: web_sys::HtmlInputElement = seek.unchecked_into();
            let _ = seek.set_attribute("max", &whole_seconds(total.max(t)));
            seek.set_value(&whole_seconds(t));
            let _ = seek.set_attribute("aria-valuetext", &position_text(t, total));
        }
        if let Some(played) = self.el(ids::PLAYED) {
            let _ = played
                .style()
                .set_property("width", &played_width(t, total));
        }
        for id in [ids::RESTART, ids::MENU_RESTART] {
            self.set_hidden(id, !restart_offered(t));
        }
    }

    /// Speed, skip silence, the "More" menu and the bar's own notice.
    fn show_tools(self) {
        let speed = self.speed.get().min(SPEEDS.len() - 1);
        if let Some(select) = self.el(ids::SPEED) {
            select
                .unchecked_into::<web_sys::HtmlSelectElement>()
                .set_value(SPEED_LABELS[speed]);
        }
        let speed = speed.to_string();
        for item in self.menu_items() {
            if let Some(index) = item.get_attribute("data-speed") {
                let _ = item.set_attribute("aria-checked", &(index == speed).to_string());
            }
        }
        let skipping = self.skip_silence.get().to_string();
        self.set_attr(ids::SKIP_SILENCE, "aria-pressed", &skipping);
        self.set_attr(ids::MENU_SILENCE, "aria-checked", &skipping);
        let menu = self.menu.get();
        self.set_hidden(ids::MENU, !menu);
        self.set_attr(ids::MORE, "aria-expanded", &menu.to_string());
        self.set_text(ids::NOTICE, &self.notice.get());
    }

    /// The keyboard shortcuts' dialog: modal while open (the rest of the
    /// page is inert), and the focus back where it was once it closes.
    fn show_help(self) {
        let help = self.help.get();
        let Some(dialog) = self
            .el(ids::DIALOG)
            .map(JsCast::unchecked_into::<web_sys::HtmlDialogElement>)
        else {
            return;
        };
        if help && !dialog.open() {
            self.help_from.set_value(active());
            if dialog.show_modal().is_ok() {
                self.focus_close();
            }
        } else if !help && dialog.open() {
            dialog.close();
            // Back where it was: the control (else, gone or hidden as the
            // menu's item is, the button that opens the dialog or "More"),
            // or the page itself for a `?` pressed with nothing focused.
            match self.help_from.try_update_value(Option::take).flatten() {
                Some(from) if from.tag_name() != "BODY" => {
                    let back = [Some(from), self.el(ids::KEYS), self.el(ids::MORE)]
                        .into_iter()
                        .flatten()
                        .find(|e| e.is_connected() && e.offset_parent().is_some());
                    if let Some(e) = back {
                        let _ = e.focus();
                    }
                }
                _ => {
                    if let Some(e) = active() {
                        let _ = e.blur();
                    }
                }
            }
        }
    }

    fn focus_close(self) {
        if let Some(close) = self.el(ids::DIALOG).and_then(|d| d.last_element_child()) {
            let _ = close.unchecked_into::<web_sys::HtmlElement>().focus();
        }
    }

    /// Opens or closes the "More" menu; opened, the focus is on its first
    /// item (or its last, from ↑), closed by the keyboard, back on "More".
    fn set_menu(self, open: bool, last: bool, refocus: bool) {
        self.menu.set(open);
        // (Shown at once, so that its item can take the focus now.)
        self.set_hidden(ids::MENU, !open);
        self.set_attr(ids::MORE, "aria-expanded", &open.to_string());
        let items = self.menu_items();
        let to = match (open, last) {
            (true, false) => items.first().cloned(),
            (true, true) => items.last().cloned(),
            (false, _) => self.el(ids::MORE).filter(|_| refocus),
        };
        if let Some(e) = to {
            let _ = e.focus();
        }
    }

    /// The menu's items that are shown, in order (the speeds first).
    fn menu_items(self) -> Vec<web_sys::HtmlElement> {
        let Some(menu) = self.el(ids::MENU) else {
            return Vec::new();
        };
        let speeds = menu.first_element_child().map(|g| g.children());
        let rest = menu.children();
        let all = speeds
            .into_iter()
            .chain([rest])
            .flat_map(|list| (0..list.length()).filter_map(move |i| list.item(i)));
        all.map(JsCast::unchecked_into::<web_sys::HtmlElement>)
            .filter(|e| !e.hidden() && e.has_attribute("tabindex"))
            .collect()
    }

    /// A key while the focus is on "More" or in its menu: the menu-button
    /// pattern's keys. True when the key was the menu's.
    fn on_menu_key(self, ev: &web_sys::KeyboardEvent) -> bool {
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            return false;
        };
        let key = ev.key();
        if target.id() == ids::MORE {
            let last = key == "ArrowUp";
            if last || key == "ArrowDown" {
                ev.prevent_default();
                self.set_menu(true, last, false);
                return true;
            }
            return matches!(key.as_str(), " " | "Enter");
        }
        let items = self.menu_items();
        let Some(at) = items.iter().position(|i| *i == target) else {
            return false;
        };
        let n = items.len();
        let to = match key.as_str() {
            "ArrowDown" => (at + 1) % n,
            "ArrowUp" => (at + n - 1) % n,
            "Home" => 0,
            "End" => n - 1,
            "Escape" => {
                ev.prevent_default();
                self.set_menu(false, false, true);
                return true;
            }
            // Tab leaves the menu, closing it, and goes on from "More".
            "Tab" => {
                self.set_menu(false, false, true);
                return true;
            }
            // A link is not activated by Space by itself.
            " " if target.tag_name() == "A" => {
                ev.prevent_default();
                target.click();
                return true;
            }
            _ => return true,
        };
        ev.prevent_default();
        let _ = items[to].focus();
        true
    }

    /// Tab within the open shortcuts dialog stays on its one control.
    fn on_dialog_key(self, ev: &web_sys::KeyboardEvent) -> bool {
        let trapped = ev.key() == "Tab" && self.help.get_untracked();
        if trapped {
            ev.prevent_default();
            self.focus_close();
        }
        trapped
    }

    /// The waveform's lanes, or none.
    fn show_wave(self) {
        self.peaks.with(|p| {
            if let Some(lanes) = self.el(ids::LANES) {
                lanes.set_inner_html(
                    &p.as_ref()
                        .map(|p| lanes_html(&p.channels, WAVE_WIDTH, LANE_HEIGHT))
                        .unwrap_or_default(),
                );
                lanes.set_hidden(p.is_none());
                let _ = lanes.set_attribute("data-peaks", self.peaks_state.get().as_str());
                let _ = lanes.set_attribute(
                    "aria-label",
                    waveform_name(p.as_ref().map_or(0, |p| p.channels.len())),
                );
            }
        });
    }

    /// The picker of the call's recordings: one button each ("Recording
    /// 2 of 3"), the one in the bar pressed; hidden for a call with one.
    /// (The buttons are written again only when their count changes, so a
    /// pressed one keeps the focus.)
    fn show_recordings(self) {
        let choices = recording_choices(self.recordings.get());
        let of = choices.clone().count() as u8;
        let held = self.held.get().map_or(0, |h| h.number);
        let Some(group) = self.el(ids::RECORDINGS) else {
            return;
        };
        group.set_hidden(of < 2);
        let Some(buttons) = group.last_element_child() else {
            return;
        };
        if buttons.child_element_count() != u32::from(of) {
            let pick = Act::Pick.as_str();
            let html: String = choices
                .map(|n| {
                    let name = recording_name(n, of);
                    format!(r#"<button type="button" data-act="{pick}" data-recording="{n}" aria-pressed="false" aria-label="{name}" title="{name}">{n}</button>"#)
                })
                .collect();
            buttons.set_inner_html(&html);
        }
        let children = buttons.children();
        for i in 0..children.length() {
            if let Some(button) = children.item(i) {
                let pressed = button.get_attribute("data-recording") == Some(held.to_string());
                let _ = button.set_attribute("aria-pressed", &pressed.to_string());
            }
        }
    }

    fn on_event(self, ev: &web_sys::Event) {
        let target = ev.target();
        match ev.type_().as_str() {
            "click" => self.on_click(target, ev.is_trusted()),
            "close" => self.help.set(false),
            // A press anywhere but the menu and its button closes the menu.
            "pointerdown" if self.menu.get_untracked() => {
                let inside = target
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .and_then(|e| e.closest(".bar-more").ok().flatten())
                    .is_some();
                if !inside {
                    self.set_menu(false, false, false);
                }
            }
            "input" | "change" => self.on_input(target),
            "keydown" => self.on_key(ev.unchecked_ref()),
            "hashchange" => self.open_link(),
            // The media element's events count only for the bar call's
            // recording (a switch leaves late ones of the one before).
            media if self.media_is_current() => self.on_media(media),
            _ => {}
        }
    }

    /// A click on one of the bar's buttons (its `data-act`).
    fn on_click(self, target: Option<web_sys::EventTarget>, trusted: bool) {
        let button = target
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("[data-act]").ok().flatten());
        let Some(button) = button else {
            return;
        };
        let act = button
            .get_attribute("data-act")
            .as_deref()
            .and_then(Act::parse);
        // An item of the menu does its act and closes the menu.
        if self.menu.get_untracked() && act != Some(Act::More) {
            self.set_menu(false, false, true);
        }
        match act {
            Some(Act::Play) => self.toggle(trusted),
            Some(Act::Back) => self.skip_by(-SKIP_S),
            Some(Act::Forward) => self.skip_by(SKIP_S),
            Some(Act::Silence) => self.skip_silence.update(|s| *s = !*s),
            Some(Act::Restart) => self.seek(0.0),
            Some(Act::Copy) => self.copy_link(),
            Some(Act::Help) => self.help.update(|h| *h = !*h),
            Some(Act::More) => self.set_menu(!self.menu.get_untracked(), false, false),
            Some(Act::Speed) => {
                let index = button.get_attribute("data-speed");
                if let Some(i) = index.and_then(|i| i.parse().ok()) {
                    self.set_speed(i);
                }
            }
            Some(Act::Pick) => {
                let number = button.get_attribute("data-recording");
                if let Some(number) = number.and_then(|n| n.parse().ok()) {
                    self.pick(number, trusted);
                }
            }
            None => {}
        }
    }

    /// The slider moved or another speed was chosen.
    fn on_input(self, target: Option<web_sys::EventTarget>) {
        let Some(input) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
            return;
        };
        match input.id().as_str() {
            ids::SEEK => self.seek(
                input
                    .unchecked_into::<web_sys::HtmlInputElement>()
                    .value_as_number(),
            ),
            ids::SPEED => {
                let value = input.unchecked_into::<web_sys::HtmlSelectElement>().value();
                if let Some(i) = speed_index(&value) {
                    self.set_speed(i);
                }
            }
            _ => {}
        }
    }

    /// An event of the audio element, holding the bar call's recording.
    fn on_media(self, name: &str) {
        let Some(audio) = self.audio.get_value() else {
            return;
        };
        match name {
            "playing" => {
                self.to_loader(RowEvent::AudioPlaying);
                // Still waiting for peaks and none asked for later: ask now.
                let waiting = self.peaks_state.get_untracked() == PeaksState::Waiting
                    && self.peaks_timer.with_value(Option::is_none);
                if let Some(held) = self.held.get_untracked() {
                    self.ask_recordings(&held);
                    if waiting {
                        self.fetch_peaks(held, 0);
                    }
                }
            }
            // (A pause that a new play overtook is no pause.)
            "pause" if audio.paused() => {
                self.to_loader(RowEvent::AudioPaused);
                self.save(Some(self.time.get_untracked() as u64));
            }
            "ended" => {
                self.to_loader(RowEvent::AudioEnded);
                self.save(None);
            }
            "error" => self.to_loader(RowEvent::AudioError(
                "the recording could not be played".into(),
            )),
            "loadedmetadata" => {
                self.duration.set(audio.duration());
                audio.set_playback_rate(self.rate());
                if let Some(t) = self.start_at.try_update_value(Option::take).flatten() {
                    if t > 0.0 {
                        audio.set_current_time(t);
                    }
                }
            }
            "timeupdate" => self.on_time(&audio),
            _ => {}
        }
    }

    /// Whether the audio element holds the bar call's recording.
    fn media_is_current(self) -> bool {
        match (self.audio.get_value(), self.held.get_untracked()) {
            (Some(audio), Some(held)) => audio.current_src().ends_with(&api::audio_url(&held)),
            _ => false,
        }
    }

    fn to_loader(self, event: RowEvent) {
        if let Some(loader) = self.current() {
            loader.dispatch(event);
        }
    }

    /// The keyboard map, whenever focus is not in a text field and a call
    /// is in the bar.
    fn on_key(self, ev: &web_sys::KeyboardEvent) {
        if self.on_dialog_key(ev) || self.on_menu_key(ev) {
            return;
        }
        let modified = ev.ctrl_key() || ev.alt_key() || ev.meta_key();
        let in_bar = self.held.with_untracked(Option::is_some);
        let help = self.help.get_untracked();
        let Some(action) = shortcut(&ev.key(), focus_of(ev.target()), modified, in_bar, help)
        else {
            return;
        };
        ev.prevent_default();
        if ev.repeat() && !action.repeats() {
            return;
        }
        match action {
            Shortcut::TogglePlay => self.toggle(ev.is_trusted()),
            Shortcut::Back => self.skip_by(-SKIP_S),
            Shortcut::Forward => self.skip_by(SKIP_S),
            Shortcut::Slower => self.set_speed(step_speed(self.speed.get_untracked(), false)),
            Shortcut::Faster => self.set_speed(step_speed(self.speed.get_untracked(), true)),
            Shortcut::Help => self.help.update(|h| *h = !*h),
            Shortcut::Close => self.help.set(false),
        }
    }
}

#[component]
pub fn PlayerBar() -> impl IntoView {
    let player = Player::get();
    let root = NodeRef::<leptos::html::Section>::new();
    root.on_load(move |section| player.mount(&section));
    view! { <section id=ids::PLAYER class="bar" aria-label="Player" hidden node_ref=root inner_html=BAR_HTML></section> }
}
