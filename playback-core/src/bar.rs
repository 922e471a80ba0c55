//! The player bar's decisions: its texts (times, the slider's value text),
//! its speeds and skips, the keyboard map, the link to a moment
//! (`#call={sid}&t={seconds}`), where Play resumes, silences to skip, the
//! waveform's shape and the download's file name. The client's bar only
//! reads the media element, calls these and applies what they say.

use crate::ids::{CallSid, MAX_RECORDINGS_PER_CALL};
use crate::list_query::{parse_rfc3339, percent_decode, percent_encode};
use crate::player::Phase;
use crate::wire::CallSummary;

/// The speeds offered, slowest first, and how the speed select spells
/// them (the client formats no floating-point number: that code alone
/// would cost the player tens of kilobytes).
pub const SPEEDS: [f64; 5] = [0.75, 1.0, 1.25, 1.5, 2.0];
pub const SPEED_LABELS: [&str; 5] = ["0.75", "1", "1.25", "1.5", "2"];
/// The default speed's index in `SPEEDS` (1×).
pub const NORMAL_SPEED: usize = 1;
/// How far the back and forward buttons (and J, L, ← and →) move.
pub const SKIP_S: f64 = 10.0;
/// A silence is skipped only when it lasts longer than this.
pub const SKIP_SILENCE_LONGER_THAN_MS: u64 = 2_000;
/// Skipping lands this long before the silence ends, so the next words
/// are not clipped.
pub const SKIP_SILENCE_LEAD_MS: u64 = 250;
/// A remembered position closer than this to either end is not resumed.
pub const RESUME_MARGIN_S: f64 = 5.0;
/// The position is written to the device at most this often while playing.
pub const SAVE_EVERY_MS: f64 = 2_000.0;
/// The most positions remembered on the device (the oldest go first).
pub const MAX_REMEMBERED: usize = 200;
/// The longest file name the edge puts in `Content-Disposition`.
pub const MAX_FILE_NAME: usize = 120;

/// `m:ss`, or `h:mm:ss` from an hour; whole seconds, rounded down.
pub fn clock(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The slider's `aria-valuetext`: "1:23 of 10:00" (just "1:23" while the
/// length is unknown).
pub fn position_text(position_s: f64, duration_s: f64) -> String {
    if duration_s > 0.0 && duration_s.is_finite() {
        format!("{} of {}", clock(position_s), clock(duration_s))
    } else {
        clock(position_s)
    }
}

/// The index of the next speed up (`faster`) or down from `SPEEDS[current]`;
/// the ends stay put.
pub fn step_speed(current: usize, faster: bool) -> usize {
    if faster {
        (current + 1).min(SPEEDS.len() - 1)
    } else {
        current.saturating_sub(1)
    }
}

/// The index of the speed a select's value names.
pub fn speed_index(label: &str) -> Option<usize> {
    SPEED_LABELS.iter().position(|l| *l == label)
}

/// `position` moved by `by` seconds, kept within the recording
/// (`duration` unknown: not past the end checked).
pub fn skip(position: f64, by: f64, duration: Option<f64>) -> f64 {
    let to = (position + by).max(0.0);
    match duration {
        Some(d) if d.is_finite() && d > 0.0 => to.min(d),
        _ => to,
    }
}

/// Where the keyboard's focus is, as far as shortcuts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// A text field (search, date, any text input, textarea, editable
    /// content): every key is the field's.
    Text,
    /// A button or link: Space and Enter are its own.
    Button,
    /// A slider or select: the arrow keys are its own.
    Control,
    /// Anywhere else.
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    TogglePlay,
    Back,
    Forward,
    Slower,
    Faster,
    /// `?`: show or hide the list of shortcuts.
    Help,
    /// Escape: hide the list.
    Close,
}

impl Shortcut {
    /// Whether a key held down (its auto-repeat) does it again: skipping
    /// and the speed do; play/pause and the list do not (a held Space would
    /// toggle many times a second and stop anywhere).
    pub fn repeats(self) -> bool {
        matches!(
            self,
            Shortcut::Back | Shortcut::Forward | Shortcut::Slower | Shortcut::Faster
        )
    }
}

impl Focus {
    /// The focused element's kind from its tag name (upper case, as the
    /// DOM gives it), its `type` attribute and whether it is editable.
    pub fn of(tag: &str, input_type: Option<&str>, editable: bool) -> Focus {
        match tag {
            "TEXTAREA" => Focus::Text,
            "SELECT" => Focus::Control,
            "BUTTON" | "A" | "SUMMARY" => Focus::Button,
            "INPUT" => match input_type {
                Some("range") => Focus::Control,
                Some("button" | "checkbox" | "radio" | "submit" | "reset") => Focus::Button,
                _ => Focus::Text,
            },
            _ if editable => Focus::Text,
            _ => Focus::Page,
        }
    }
}

/// What a key press does: `key` is the event's `key`, `modified` whether
/// Ctrl, Alt or Meta was held (those are the browser's), `in_bar` whether
/// a call is in the bar (without one only `?` acts), `help_open` whether
/// the list of shortcuts shows (Escape is the page's otherwise).
pub fn shortcut(
    key: &str,
    focus: Focus,
    modified: bool,
    in_bar: bool,
    help_open: bool,
) -> Option<Shortcut> {
    if modified || focus == Focus::Text {
        return None;
    }
    let found = match key {
        "?" => Shortcut::Help,
        "Escape" if help_open => Shortcut::Close,
        _ if !in_bar => return None,
        " " | "Spacebar" if focus != Focus::Button => Shortcut::TogglePlay,
        "k" | "K" => Shortcut::TogglePlay,
        "j" | "J" => Shortcut::Back,
        "l" | "L" => Shortcut::Forward,
        "ArrowLeft" if focus != Focus::Control => Shortcut::Back,
        "ArrowRight" if focus != Focus::Control => Shortcut::Forward,
        "<" => Shortcut::Slower,
        ">" => Shortcut::Faster,
        _ => return None,
    };
    Some(found)
}

/// The shortcuts, as the `?` list shows them.
pub const SHORTCUTS: [(&str, &str); 5] = [
    ("Space or K", "Play or pause"),
    ("J or ←", "Back 10 seconds"),
    ("L or →", "Forward 10 seconds"),
    ("< and >", "Slower and faster"),
    ("?", "Show or hide these shortcuts"),
];

/// A link to a moment of a call: `#call={sid}&t={seconds}`, with
/// `&recording={n}` for a call's second or later recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub call_sid: CallSid,
    /// Whole seconds from the start.
    pub t: u64,
    /// Which of the call's recordings (1, its first, unless the link says).
    pub recording: u8,
}

impl Moment {
    /// Reads a URL's fragment (with or without its `#`); `None` unless it
    /// names a well-formed call SID. A missing or unreadable `t` is 0, a
    /// missing or unreadable `recording` the first.
    pub fn from_fragment(fragment: &str) -> Option<Moment> {
        let mut call_sid = None;
        let mut t = 0;
        let mut recording = 1;
        for pair in fragment.trim_start_matches('#').split('&') {
            match pair.split_once('=') {
                Some(("call", v)) => call_sid = CallSid::parse(&percent_decode(v)).ok(),
                Some(("t", v)) => t = parse_seconds(v).unwrap_or(0),
                Some(("recording", v)) => recording = recording_number(v).unwrap_or(1),
                _ => {}
            }
        }
        Some(Moment {
            call_sid: call_sid?,
            t,
            recording,
        })
    }

    /// The fragment, `#` included.
    pub fn fragment(&self) -> String {
        match self.recording {
            1 => format!("#call={}&t={}", self.call_sid, self.t),
            n => format!("#call={}&t={}&recording={n}", self.call_sid, self.t),
        }
    }

    /// The recording it names.
    pub fn recording_ref(&self) -> RecordingRef {
        RecordingRef {
            call_sid: self.call_sid.clone(),
            number: self.recording,
        }
    }
}

/// Which recording of a call the player means: the call, and the
/// recording's number among the call's recordings that play (1, the
/// call's default, unless the agent picked another in the bar). The
/// client keys its loaders, its requests and the positions it remembers by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordingRef {
    pub call_sid: CallSid,
    pub number: u8,
}

impl RecordingRef {
    /// A call's default recording, the one its row plays.
    pub fn first(call_sid: CallSid) -> RecordingRef {
        RecordingRef {
            call_sid,
            number: 1,
        }
    }

    /// The path of one of its endpoints (`stream`, `status`, `peaks`):
    /// `?recording=N` for a later recording, nothing for the first.
    pub fn path(&self, endpoint: &str) -> String {
        match self.number {
            1 => format!("/api/recordings/{}/{endpoint}", self.call_sid),
            n => format!("/api/recordings/{}/{endpoint}?recording={n}", self.call_sid),
        }
    }

    /// How the positions remembered on the device name it: the SID, and
    /// `/N` after it for a later recording.
    pub fn key(&self) -> String {
        match self.number {
            1 => self.call_sid.to_string(),
            n => format!("{}/{n}", self.call_sid),
        }
    }

    /// [`RecordingRef::key`] read back.
    pub fn parse_key(key: &str) -> Option<RecordingRef> {
        let (sid, number) = match key.split_once('/') {
            Some((sid, n)) => (sid, recording_number(n)?),
            None => (key, 1),
        };
        Some(RecordingRef {
            call_sid: CallSid::parse(sid).ok()?,
            number,
        })
    }
}

/// A recording's number as a link or the device writes it: 1 to
/// [`MAX_RECORDINGS_PER_CALL`], in digits.
fn recording_number(v: &str) -> Option<u8> {
    let digits = !v.is_empty() && v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit());
    let n: u8 = digits.then(|| v.parse().ok())??;
    (1..=MAX_RECORDINGS_PER_CALL).contains(&n).then_some(n)
}

/// The recordings of a call the bar offers to pick from, by number: none
/// unless the call has several that play (the status's `recordings`), and
/// no more than can be asked for.
pub fn recording_choices(recordings: Option<u32>) -> std::ops::RangeInclusive<u8> {
    let count = recordings
        .unwrap_or(0)
        .min(u32::from(MAX_RECORDINGS_PER_CALL)) as u8;
    // (`1..=0` for one recording or none: an empty range.)
    1..=if count >= 2 { count } else { 0 }
}

/// A recording's name among the call's: `Recording 2 of 3`.
pub fn recording_name(number: u8, of: u8) -> String {
    format!("Recording {number} of {of}")
}

/// `t`'s value: whole seconds (`42`), with a fraction (`42.7`, rounded
/// down) or `4m12s`-style; at most a day. (No floating-point parsing: see
/// `SPEED_LABELS`.)
fn parse_seconds(v: &str) -> Option<u64> {
    let whole = |digits: &str| -> Option<u64> {
        (!digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())?
    };
    let seconds = if let Some((int, fraction)) = v.split_once('.') {
        whole(fraction)?;
        whole(int)?
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        whole(v)?
    } else {
        let mut total = 0u64;
        let mut rest = v;
        for (unit, factor) in [('h', 3600), ('m', 60), ('s', 1)] {
            if let Some((n, after)) = rest.split_once(unit) {
                total += whole(n)? * factor;
                rest = after;
            }
        }
        rest.is_empty().then_some(total)?
    };
    (seconds <= 86_400).then_some(seconds)
}

/// Where a recording starts when it is loaded: a link's `t` (0 if it is not
/// before the end), else the remembered position (`resume_at`), else 0.
pub fn start_position(link_t: Option<f64>, remembered: Option<f64>, duration: Option<f64>) -> f64 {
    let known = duration.filter(|d| d.is_finite() && *d > 0.0);
    match link_t.filter(|t| t.is_finite() && *t >= 0.0) {
        Some(t) if known.is_some_and(|d| t >= d) => 0.0,
        Some(t) => t,
        None => resume_at(remembered, known).unwrap_or(0.0),
    }
}

/// Whether to write the position now, `since_ms` after the last write.
pub fn save_due(since_ms: f64) -> bool {
    since_ms >= SAVE_EVERY_MS
}

/// "Start from the beginning" shows once the position is a second in.
pub fn restart_offered(position_s: f64) -> bool {
    position_s >= 1.0
}

/// The recording's length: the media element's once it knows it (finite
/// and positive), else the call list's.
pub fn length(media_s: f64, listed_s: Option<u32>) -> f64 {
    if media_s > 0.0 && media_s.is_finite() {
        media_s
    } else {
        listed_s.map_or(0.0, f64::from)
    }
}

/// The wait before asking again for peaks the edge does not have yet
/// (its download still runs), after `attempt` answers: 1, 2, 4, 8 s, then
/// every 8 s; `None` after ten minutes of asking.
pub fn peaks_retry_ms(attempt: u32) -> Option<u64> {
    const MAX_ATTEMPTS: u32 = 78;
    (attempt < MAX_ATTEMPTS).then(|| 1_000 << attempt.min(3))
}

/// How the bar and the row name a call's start: `2026-11-28 17:00:00`.
pub fn call_time(started_at: &str) -> String {
    started_at
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

/// The bar's title for a call: its start and parties.
pub fn title(call: &CallSummary) -> String {
    format!(
        "{} · {} → {}",
        call_time(&call.started_at),
        call.from,
        call.to
    )
}

/// Whether a call in this phase has its recording in the media element
/// (so seeks go to it, and it can be downloaded at once).
pub fn has_media(phase: &Phase) -> bool {
    matches!(phase, Phase::Loading | Phase::Playing | Phase::Paused)
}

/// Whether an answer of `status` to a download request carries
/// `Content-Disposition` (only the recording's bytes do).
pub fn is_attachment(status: u16) -> bool {
    matches!(status, 200 | 206)
}

/// Where Play starts a recording heard before: the remembered position,
/// unless it is within `RESUME_MARGIN_S` of the start or of the end
/// (`duration` in seconds, when known).
pub fn resume_at(remembered: Option<f64>, duration: Option<f64>) -> Option<f64> {
    let at = remembered.filter(|p| p.is_finite() && *p >= RESUME_MARGIN_S)?;
    match duration {
        Some(d) if d.is_finite() && at > d - RESUME_MARGIN_S => None,
        _ => Some(at),
    }
}

/// What the bar draws and skips of a recording's peaks
/// (`crate::peaks::Peaks`): each channel's peaks (0–255) and the silences,
/// `[start_ms, end_ms)`. Read straight from the peaks body (its other
/// fields are not needed here).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Wave {
    pub channels: Vec<Vec<u8>>,
    pub silences: Vec<(u64, u64)>,
}

/// The remembered positions as the device stores them: `key t` lines
/// (the key is [`RecordingRef::key`]).
pub fn positions_text(positions: &[(String, u64)]) -> String {
    positions
        .iter()
        .map(|(sid, t)| format!("{sid} {t}\n"))
        .collect()
}

/// The remembered positions read back (lines that do not read are skipped).
pub fn parse_positions(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (key, t) = line.split_once(' ')?;
            let recording = RecordingRef::parse_key(key)?;
            Some((recording.key(), t.parse().ok()?))
        })
        .take(MAX_REMEMBERED)
        .collect()
}

/// The positions remembered on the device, most recent first: records
/// `t` (whole seconds) for a recording (its [`RecordingRef::key`]), or
/// forgets it (`None`: heard to the end), keeping at most `MAX_REMEMBERED`.
pub fn remember(positions: &mut Vec<(String, u64)>, key: &str, t: Option<u64>) {
    positions.retain(|(k, _)| k != key);
    if let Some(t) = t {
        positions.insert(0, (key.to_owned(), t));
    }
    positions.truncate(MAX_REMEMBERED);
}

/// The position remembered for a recording (its [`RecordingRef::key`]).
pub fn remembered(positions: &[(String, u64)], key: &str) -> Option<f64> {
    positions
        .iter()
        .find(|(k, _)| k == key)
        .map(|&(_, t)| t as f64)
}

/// Where skipping silence jumps from `position_ms`: the end of the silence
/// it is in (less `SKIP_SILENCE_LEAD_MS`), if that silence lasts longer than
/// `SKIP_SILENCE_LONGER_THAN_MS` and the jump moves forward. `silences`
/// are `[start_ms, end_ms)`, in order.
pub fn silence_jump(silences: &[(u64, u64)], position_ms: u64) -> Option<u64> {
    // Any order and any pairs (a body read from the network): the silence
    // holding the position, if any.
    let &(start, end) = silences
        .iter()
        .find(|&&(start, end)| start <= position_ms && position_ms < end)?;
    let target = end.saturating_sub(SKIP_SILENCE_LEAD_MS);
    (end.saturating_sub(start) > SKIP_SILENCE_LONGER_THAN_MS && target > position_ms)
        .then_some(target)
}

/// One lane of the waveform as an SVG path in a `width`×`height` box (whole
/// units): the peaks (0–255) folded into at most `width` columns by their
/// maximum, scaled so that `loudest` fills the lane (a quiet telephone
/// call is drawn as large as a loud one), drawn mirrored about the lane's
/// middle as one closed shape.
pub fn waveform_path(peaks: &[u8], width: usize, height: u32, loudest: u8) -> String {
    use std::fmt::Write;
    if peaks.is_empty() || width == 0 {
        return String::new();
    }
    let columns = width.min(peaks.len());
    let half = (height / 2).max(1);
    let x = |c: usize| c * width / columns;
    let amplitude: Vec<u32> = (0..columns)
        .map(|c| {
            let from = c * peaks.len() / columns;
            let to = ((c + 1) * peaks.len() / columns).max(from + 1);
            let peak = u32::from(peaks[from..to].iter().copied().max().unwrap_or(0));
            // At least one unit, so silence still shows as a line.
            (peak * half / u32::from(loudest.max(1))).min(half).max(1)
        })
        .collect();
    let mut d = String::with_capacity(columns * 20);
    let _ = write!(d, "M0 {}", half - amplitude[0]);
    for (c, a) in amplitude.iter().enumerate() {
        let _ = write!(d, "H{}V{}H{}", x(c), half - a, x(c + 1));
    }
    for (c, a) in amplitude.iter().enumerate().rev() {
        let _ = write!(d, "V{}H{}", half + a, x(c));
    }
    d.push('Z');
    d
}

/// The played part's width: a CSS percentage with two decimals.
pub fn played_width(position_s: f64, duration_s: f64) -> String {
    let hundredths = if duration_s > 0.0 && duration_s.is_finite() && position_s > 0.0 {
        ((position_s / duration_s).min(1.0) * 10_000.0) as u32
    } else {
        0
    };
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// A number of seconds as the slider's attributes spell it: whole
/// seconds, rounded down.
pub fn whole_seconds(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    s.to_string()
}

/// The waveform's lanes as markup (static words and numbers only): each
/// channel's shape with its name.
pub fn lanes_html(channels: &[Vec<u8>], width: usize, height: u32) -> String {
    let names = lane_names(channels.len());
    let loudest = channels.iter().flatten().copied().max().unwrap_or(0);
    channels
        .iter()
        .enumerate()
        .map(|(i, peaks)| {
            format!(
                "<div class=\"lane\"><span class=\"lane-label\">{}</span><svg viewBox=\"0 0 {width} {height}\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><path d=\"{}\"></path></svg></div>",
                names.get(i).copied().unwrap_or_default(),
                waveform_path(peaks, width, height, loudest)
            )
        })
        .collect()
}

/// The waveform's accessible name, by channel count.
pub fn waveform_name(channels: usize) -> &'static str {
    match channels {
        2 => "Waveform: the agent above, the customer below",
        _ => "Waveform of the call",
    }
}

/// The lanes' names, by channel count: two channels are the agent's
/// (first) and the customer's; one channel is the call.
pub fn lane_names(channels: usize) -> &'static [&'static str] {
    match channels {
        2 => &["Agent", "Customer"],
        _ => &["Call"],
    }
}

/// The download's file name (without extension, the edge adds it from the
/// recording's type): the call's start and its parties, in characters any
/// file system takes: `call_2026-11-28_17-00-00_+12125550123_to_+18005550100`.
pub fn download_name(call: &CallSummary) -> String {
    let time: String = parse_rfc3339(&call.started_at)
        .map(crate::list_query::format_rfc3339)
        .unwrap_or_default()
        .chars()
        .map(|c| match c {
            'T' => '_',
            ':' => '-',
            c => c,
        })
        .filter(|c| *c != 'Z')
        .collect();
    // A party: its digits, letters and `+` (a number's spaces, dashes and
    // brackets dropped).
    let party = |p: &str| -> String {
        p.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
            .take(32)
            .collect()
    };
    let name = format!("call_{time}_{}_to_{}", party(&call.from), party(&call.to));
    name.chars().take(MAX_FILE_NAME).collect()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_')
}

/// Whether a requested download name is one the edge may put in a header:
/// 1–`MAX_FILE_NAME` of `A–Z a–z 0–9 + - _`.
pub fn is_download_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_FILE_NAME && name.chars().all(is_name_char)
}

/// The file extension for a recording's `Content-Type`, if it is a known
/// audio type.
pub fn extension_for(content_type: &str) -> Option<&'static str> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match essence.as_str() {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mp4" | "audio/x-m4a" | "audio/aac" => "m4a",
        "audio/webm" => "webm",
        "audio/flac" | "audio/x-flac" => "flac",
        _ => return None,
    })
}

/// `Content-Disposition` for a download named `name` (already checked by
/// `is_download_name`) of a recording of `content_type`.
pub fn content_disposition(name: &str, content_type: &str) -> String {
    match extension_for(content_type) {
        Some(ext) => format!("attachment; filename=\"{name}.{ext}\""),
        None => format!("attachment; filename=\"{name}\""),
    }
}

/// The download parameter of a stream request's query, if any: `Ok(None)`
/// without one, `Err(())` for a bad one (the edge answers 400).
#[allow(clippy::result_unit_err)]
pub fn download_param(query: Option<&str>) -> Result<Option<String>, ()> {
    let mut found = None;
    for pair in query.unwrap_or_default().split('&') {
        if let Some(v) = pair.strip_prefix("download=") {
            let name = percent_decode(v);
            if found.is_some() || !is_download_name(&name) {
                return Err(());
            }
            found = Some(name);
        }
    }
    Ok(found)
}

/// The Download link's path for one of a call's recordings: the stream
/// with the user-action marker (following it is a click) and the file name
/// (a later recording's says which it is: `…_recording-2`).
pub fn download_path(call: &CallSummary, number: u8) -> String {
    let recording = RecordingRef {
        call_sid: call.call_sid.clone(),
        number,
    };
    let stream = recording.path("stream");
    let joint = if number > 1 { '&' } else { '?' };
    let mut name = download_name(call);
    if number > 1 {
        let suffix = format!("_recording-{number}");
        let keep = MAX_FILE_NAME - suffix.len();
        name.truncate(keep);
        name.push_str(&suffix);
    }
    format!(
        "{stream}{joint}explicit_user_action=true&download={}",
        percent_encode(&name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call() -> CallSummary {
        CallSummary {
            call_sid: CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap(),
            started_at: "2026-11-28T17:00:00Z".into(),
            duration_s: 600,
            from: "+1 (212) 555-0123".into(),
            to: "+18005550100".into(),
        }
    }

    #[test]
    fn clocks_and_the_sliders_words() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(83.9), "1:23");
        assert_eq!(clock(3600.0), "1:00:00");
        assert_eq!(clock(f64::NAN), "0:00");
        assert_eq!(clock(-3.0), "0:00");
        assert_eq!(position_text(83.0, 600.0), "1:23 of 10:00");
        assert_eq!(position_text(83.0, 0.0), "1:23");
    }

    #[test]
    fn speeds_step_through_the_list_and_stop_at_its_ends() {
        assert_eq!(SPEEDS[NORMAL_SPEED], 1.0);
        assert_eq!(step_speed(NORMAL_SPEED, true), 2);
        assert_eq!(step_speed(NORMAL_SPEED, false), 0);
        assert_eq!(step_speed(4, true), 4);
        assert_eq!(step_speed(0, false), 0);
        for (speed, label) in SPEEDS.iter().zip(SPEED_LABELS) {
            assert_eq!(label.parse::<f64>().unwrap(), *speed);
            assert_eq!(SPEEDS[speed_index(label).unwrap()], *speed);
        }
        assert_eq!(speed_index("3"), None);
    }

    #[test]
    fn skips_stay_within_the_recording() {
        assert_eq!(skip(5.0, -SKIP_S, Some(60.0)), 0.0);
        assert_eq!(skip(55.0, SKIP_S, Some(60.0)), 60.0);
        assert_eq!(skip(20.0, SKIP_S, None), 30.0);
        assert_eq!(skip(20.0, SKIP_S, Some(f64::NAN)), 30.0);
    }

    #[test]
    fn a_held_key_repeats_skips_and_speed_but_never_play_pause() {
        use Shortcut::*;
        for s in [Back, Forward, Slower, Faster] {
            assert!(s.repeats(), "{s:?}");
        }
        for s in [TogglePlay, Help, Close] {
            assert!(!s.repeats(), "{s:?}");
        }
    }

    #[test]
    fn the_keyboard_map_leaves_text_fields_and_controls_their_keys() {
        use Shortcut::*;
        for (key, want) in [
            (" ", TogglePlay),
            ("k", TogglePlay),
            ("K", TogglePlay),
            ("j", Back),
            ("ArrowLeft", Back),
            ("l", Forward),
            ("ArrowRight", Forward),
            ("<", Slower),
            (">", Faster),
            ("?", Help),
            ("Escape", Close),
        ] {
            assert_eq!(
                shortcut(key, Focus::Page, false, true, true),
                Some(want),
                "{key:?}"
            );
            assert_eq!(
                shortcut(key, Focus::Text, false, true, true),
                None,
                "{key:?} in a text field"
            );
            assert_eq!(
                shortcut(key, Focus::Page, true, true, true),
                None,
                "{key:?} with Ctrl"
            );
        }
        assert_eq!(shortcut(" ", Focus::Button, false, true, true), None);
        assert_eq!(
            shortcut("k", Focus::Button, false, true, true),
            Some(TogglePlay)
        );
        assert_eq!(
            shortcut("ArrowLeft", Focus::Control, false, true, true),
            None
        );
        assert_eq!(shortcut("j", Focus::Control, false, true, true), Some(Back));
        assert_eq!(shortcut("x", Focus::Page, false, true, true), None);
        // Without a call in the bar only the list acts; Escape only closes it.
        assert_eq!(shortcut("k", Focus::Page, false, false, false), None);
        assert_eq!(shortcut("?", Focus::Page, false, false, false), Some(Help));
        assert_eq!(shortcut("Escape", Focus::Page, false, true, false), None);
        assert_eq!(Focus::of("INPUT", Some("search"), false), Focus::Text);
        assert_eq!(Focus::of("INPUT", None, false), Focus::Text);
        assert_eq!(Focus::of("INPUT", Some("range"), false), Focus::Control);
        assert_eq!(Focus::of("SELECT", None, false), Focus::Control);
        assert_eq!(Focus::of("BUTTON", None, false), Focus::Button);
        assert_eq!(Focus::of("DIV", None, true), Focus::Text);
        assert_eq!(Focus::of("BODY", None, false), Focus::Page);
    }

    #[test]
    fn a_link_to_a_moment_reads_back() {
        let m = Moment::from_fragment("#call=CA0123456789abcdef0123456789abcdef&t=252").unwrap();
        assert_eq!(m.t, 252);
        assert_eq!(Moment::from_fragment(&m.fragment()), Some(m.clone()));
        assert_eq!(
            Moment::from_fragment("t=4m12s&call=CA0123456789abcdef0123456789abcdef")
                .unwrap()
                .t,
            252
        );
        assert_eq!(
            Moment::from_fragment("call=CA0123456789abcdef0123456789abcdef&t=12.9")
                .unwrap()
                .t,
            12
        );
        assert_eq!(
            Moment::from_fragment("call=CA0123456789abcdef0123456789abcdef&t=1h2s")
                .unwrap()
                .t,
            3602
        );
        for bad_t in [
            "-3", "x", "1e99", "99999999", "4m12", "NaN", "12.", ".5", "4s4m", "1.2.3",
        ] {
            let f = format!("call=CA0123456789abcdef0123456789abcdef&t={bad_t}");
            assert_eq!(Moment::from_fragment(&f).unwrap().t, 0, "{bad_t}");
        }
        assert_eq!(Moment::from_fragment("#t=3"), None);
        assert_eq!(Moment::from_fragment("#call=../x&t=3"), None);
        // A call's later recording: named in the link, read back; the
        // first is the link of old.
        assert_eq!(m.recording, 1);
        let second =
            Moment::from_fragment("#call=CA0123456789abcdef0123456789abcdef&t=5&recording=2")
                .unwrap();
        assert_eq!(second.recording, 2);
        assert_eq!(
            second.fragment(),
            "#call=CA0123456789abcdef0123456789abcdef&t=5&recording=2"
        );
        assert_eq!(
            second.recording_ref().path("peaks"),
            "/api/recordings/CA0123456789abcdef0123456789abcdef/peaks?recording=2"
        );
        for bad in ["0", "21", "x", "", "002", "-1", "255", "2.0"] {
            let f = format!("call=CA0123456789abcdef0123456789abcdef&recording={bad}");
            assert_eq!(Moment::from_fragment(&f).unwrap().recording, 1, "{bad}");
        }
        assert_eq!(Moment::from_fragment(""), None);
    }

    #[test]
    fn a_load_starts_at_the_links_t_else_where_it_was_left() {
        assert_eq!(start_position(Some(42.0), Some(100.0), Some(600.0)), 42.0);
        assert_eq!(
            start_position(Some(700.0), Some(100.0), Some(600.0)),
            0.0,
            "t past the end"
        );
        assert_eq!(
            start_position(Some(700.0), None, None),
            700.0,
            "length unknown"
        );
        assert_eq!(start_position(None, Some(100.0), Some(600.0)), 100.0);
        assert_eq!(start_position(None, Some(598.0), Some(600.0)), 0.0);
        assert_eq!(start_position(None, None, Some(600.0)), 0.0);
        assert!(save_due(2_000.0) && !save_due(1_999.0));
        assert!(restart_offered(1.0) && !restart_offered(0.9));
        assert_eq!(length(f64::NAN, Some(90)), 90.0);
        assert_eq!(length(f64::INFINITY, Some(90)), 90.0);
        assert_eq!(length(91.5, Some(90)), 91.5);
        assert_eq!(length(0.0, None), 0.0);
        let waits: Vec<u64> = (0..6).map(|a| peaks_retry_ms(a).unwrap()).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        let total: u64 = (0..).map_while(peaks_retry_ms).sum();
        assert!(
            (590_000..=630_000).contains(&total),
            "about ten minutes: {total}"
        );
        assert!(
            is_attachment(200) && is_attachment(206) && !is_attachment(304) && !is_attachment(202)
        );
    }

    #[test]
    fn play_resumes_only_well_inside_the_recording() {
        assert_eq!(resume_at(Some(42.0), Some(600.0)), Some(42.0));
        assert_eq!(resume_at(Some(2.0), Some(600.0)), None);
        assert_eq!(resume_at(Some(598.0), Some(600.0)), None);
        assert_eq!(resume_at(Some(598.0), None), Some(598.0));
        assert_eq!(resume_at(None, Some(600.0)), None);
        assert_eq!(resume_at(Some(f64::NAN), None), None);
    }

    #[test]
    fn positions_are_remembered_most_recent_first_and_bounded() {
        let mut p = Vec::new();
        remember(&mut p, "a", Some(10));
        remember(&mut p, "b", Some(20));
        remember(&mut p, "a", Some(30));
        assert_eq!(p, [("a".to_owned(), 30), ("b".to_owned(), 20)]);
        assert_eq!(remembered(&p, "a"), Some(30.0));
        remember(&mut p, "a", None);
        assert_eq!(remembered(&p, "a"), None);
        for i in 0..500 {
            remember(&mut p, &format!("c{i}"), Some(i));
        }
        assert_eq!(p.len(), MAX_REMEMBERED);
        assert_eq!(p[0], ("c499".to_owned(), 499));
        let sids = [
            "CA0123456789abcdef0123456789abcdef",
            "CAffffffffffffffffffffffffffffffff",
        ];
        let mut stored = Vec::new();
        remember(&mut stored, sids[0], Some(42));
        remember(&mut stored, sids[1], Some(7));
        let text = positions_text(&stored);
        assert_eq!(parse_positions(&text), stored);
        assert_eq!(
            parse_positions(&format!("junk\nCA1 5\n{} x\n{text}", sids[0])),
            stored
        );
    }

    #[test]
    fn silences_longer_than_two_seconds_are_jumped_to_their_end() {
        let silences = [(1_000, 2_500), (10_000, 14_000), (20_000, 23_000)];
        assert_eq!(silence_jump(&silences, 1_200), None, "1.5 s is not skipped");
        assert_eq!(silence_jump(&silences, 9_999), None);
        assert_eq!(silence_jump(&silences, 10_000), Some(13_750));
        assert_eq!(silence_jump(&silences, 12_000), Some(13_750));
        assert_eq!(silence_jump(&silences, 13_800), None, "already at its end");
        assert_eq!(silence_jump(&silences, 14_000), None);
        assert_eq!(silence_jump(&silences, 21_000), Some(22_750));
        assert_eq!(silence_jump(&silences, 30_000), None);
        assert_eq!(silence_jump(&[], 0), None);
        // Whatever a body says: unordered or inverted pairs never panic.
        assert_eq!(
            silence_jump(&[(20_000, 23_000), (10_000, 14_000)], 12_000),
            Some(13_750)
        );
        assert_eq!(silence_jump(&[(5_000, 1_000)], 3_000), None);
    }

    proptest! {
        #[test]
        fn a_silence_jump_lands_forward_inside_the_same_silence(
            starts in proptest::collection::vec((0u64..5_000, 1u64..6_000), 0..20),
            position in 0u64..150_000,
        ) {
            let mut at = 0;
            let silences: Vec<(u64, u64)> = starts
                .into_iter()
                .map(|(gap, len)| {
                    let s = at + gap;
                    at = s + len;
                    (s, at)
                })
                .collect();
            if let Some(to) = silence_jump(&silences, position) {
                let (s, e) = *silences.iter().find(|(s, e)| *s <= position && position < *e).unwrap();
                prop_assert!(e - s > SKIP_SILENCE_LONGER_THAN_MS);
                prop_assert!(to > position && to < e);
            }
        }
    }

    #[test]
    fn the_waveform_is_one_closed_shape_per_lane() {
        let d = waveform_path(&[0, 255, 128, 0], 4, 100, 255);
        assert_eq!(d, "M0 49H0V49H1H1V0H2H2V25H3H3V49H4V51H3V75H2V100H1V51H0Z");
        assert_eq!(waveform_path(&[], 100, 100, 255), "");
        assert!(
            waveform_path(&[255, 0], 10, 0, 0).ends_with('Z'),
            "any box, no panic"
        );
        assert!(waveform_path(&[255, 0], 10, 1, 255).ends_with('Z'));
        // Scaled to the loudest peak: a quiet call fills its lane.
        assert_eq!(waveform_path(&[0, 64, 32, 0], 4, 100, 64), d);
        // Fewer peaks than columns: each is wider.
        assert!(waveform_path(&[255, 0], 1000, 100, 255).contains("H0V0H500"));
        // More peaks than columns: folded by their maximum.
        let wide: Vec<u8> = (0..1000).map(|i| if i == 500 { 255 } else { 0 }).collect();
        let d = waveform_path(&wide, 10, 100, 255);
        assert!(d.contains("H5V0H6"), "{d}");
        assert_eq!(played_width(30.0, 120.0), "25.00%");
        assert_eq!(played_width(1.0, 3.0), "33.33%");
        assert_eq!(played_width(500.0, 120.0), "100.00%");
        assert_eq!(played_width(5.0, f64::NAN), "0.00%");
        let two = lanes_html(&[vec![255, 0], vec![0, 255]], 1000, 100);
        assert_eq!(two.matches("<svg").count(), 2);
        assert!(two.contains(">Agent</span>") && two.contains(">Customer</span>"));
        assert!(two.find("Agent") < two.find("Customer"));
        assert!(lanes_html(&[vec![1]], 1000, 100).contains(">Call</span>"));
        assert_eq!(
            waveform_name(2),
            "Waveform: the agent above, the customer below"
        );
        assert!(waveform_name(1).starts_with("Waveform"));
        assert_eq!(whole_seconds(83.9), "83");
        assert_eq!(whole_seconds(f64::INFINITY), "0");
        assert_eq!(lane_names(2), ["Agent", "Customer"]);
        assert_eq!(lane_names(1), ["Call"]);
    }

    #[test]
    fn a_recording_is_named_by_its_call_and_number() {
        let sid = CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap();
        let first = RecordingRef::first(sid.clone());
        assert_eq!(
            first.path("stream"),
            "/api/recordings/CA0123456789abcdef0123456789abcdef/stream"
        );
        assert_eq!(first.key(), "CA0123456789abcdef0123456789abcdef");
        let third = RecordingRef {
            call_sid: sid,
            number: 3,
        };
        assert_eq!(
            third.path("status"),
            "/api/recordings/CA0123456789abcdef0123456789abcdef/status?recording=3"
        );
        assert_eq!(third.key(), "CA0123456789abcdef0123456789abcdef/3");
        for r in [&first, &third] {
            assert_eq!(RecordingRef::parse_key(&r.key()).as_ref(), Some(r));
        }
        for bad in [
            "CA1",
            "CA0123456789abcdef0123456789abcdef/0",
            "CA0123456789abcdef0123456789abcdef/21",
            "CA0123456789abcdef0123456789abcdef/",
            "x/2",
        ] {
            assert_eq!(RecordingRef::parse_key(bad), None, "{bad}");
        }
        // A picker only for a call with several recordings that play.
        assert!(recording_choices(None).is_empty());
        assert!(recording_choices(Some(0)).is_empty());
        assert!(recording_choices(Some(1)).is_empty());
        assert_eq!(recording_choices(Some(3)).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(recording_choices(Some(500)).count(), 20);
        assert_eq!(recording_name(2, 3), "Recording 2 of 3");
        // Positions of a call's recordings are remembered apart.
        let mut list = Vec::new();
        remember(&mut list, &first.key(), Some(40));
        remember(&mut list, &third.key(), Some(7));
        let read = parse_positions(&positions_text(&list));
        assert_eq!(remembered(&read, &first.key()), Some(40.0));
        assert_eq!(remembered(&read, &third.key()), Some(7.0));
    }

    #[test]
    fn the_download_is_named_after_the_call_and_checked_by_the_edge() {
        let name = download_name(&call());
        assert_eq!(
            name,
            "call_2026-11-28_17-00-00_+12125550123_to_+18005550100"
        );
        assert!(is_download_name(&name));
        assert_eq!(
            download_path(&call(), 1),
            "/api/recordings/CA0123456789abcdef0123456789abcdef/stream?explicit_user_action=true&download=call_2026-11-28_17-00-00_%2B12125550123_to_%2B18005550100"
        );
        // A later recording: its number in the query and in the name.
        let second = download_path(&call(), 2);
        assert_eq!(
            second,
            "/api/recordings/CA0123456789abcdef0123456789abcdef/stream?recording=2&explicit_user_action=true&download=call_2026-11-28_17-00-00_%2B12125550123_to_%2B18005550100_recording-2"
        );
        let long = CallSummary {
            from: "1".repeat(40),
            to: "2".repeat(40),
            ..call()
        };
        let long_name = download_param(Some(download_path(&long, 20).split_once('?').unwrap().1))
            .unwrap()
            .unwrap();
        assert!(
            is_download_name(&long_name) && long_name.ends_with("_recording-20"),
            "{long_name}"
        );
        assert_eq!(download_param(None), Ok(None));
        assert_eq!(download_param(Some("explicit_user_action=true")), Ok(None));
        assert_eq!(
            download_param(Some(download_path(&call(), 1).split_once('?').unwrap().1)),
            Ok(Some(name.clone()))
        );
        assert_eq!(download_param(Some("download=%2B1")), Ok(Some("+1".into())));
        for bad in [
            "download=",
            "download=a%22b",
            "download=a/b",
            "download=..",
            "download=a&download=b",
            "download=%0d%0aX:1",
        ] {
            assert_eq!(download_param(Some(bad)), Err(()), "{bad}");
        }
        assert_eq!(
            download_param(Some(&format!("download={}", "a".repeat(121)))),
            Err(())
        );
        assert_eq!(
            content_disposition(&name, "audio/wav"),
            format!("attachment; filename=\"{name}.wav\"")
        );
        assert_eq!(
            content_disposition("x", "application/octet-stream"),
            "attachment; filename=\"x\""
        );
        assert_eq!(extension_for("Audio/MPEG; charset=x"), Some("mp3"));
    }
}
