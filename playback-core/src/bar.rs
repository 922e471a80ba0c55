//! The player bar's decisions: its texts (times, the slider's value text),
//! its speeds and skips, the keyboard map, the link to a moment
//! (`#call={sid}&t={seconds}`), where Play resumes, silences to skip, the
//! waveform's shape and the download's file name. The client's bar only
//! reads the media element, calls these and applies what they say.

use crate::ids::CallSid;
use crate::list_query::{parse_rfc3339, percent_decode, percent_encode};
use crate::wire::CallSummary;

/// The speeds offered, slowest first; 1 is the default.
pub const SPEEDS: [f64; 5] = [0.75, 1.0, 1.25, 1.5, 2.0];
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

/// The slider's `aria-valuetext`: "1:23 of 10:00".
pub fn position_text(position_s: f64, duration_s: f64) -> String {
    format!("{} of {}", clock(position_s), clock(duration_s))
}

/// The next speed up (`faster`) or down from `current`; the ends stay put.
/// A speed not in the list moves to its nearest neighbour that way.
pub fn step_speed(current: f64, faster: bool) -> f64 {
    let pick = if faster {
        SPEEDS.iter().copied().find(|&s| s > current + 1e-9)
    } else {
        SPEEDS.iter().rev().copied().find(|&s| s < current - 1e-9)
    };
    pick.unwrap_or(if faster { SPEEDS[4] } else { SPEEDS[0] })
}

/// The speed select's value, as the option spells it.
pub fn speed_label(speed: f64) -> String {
    format!("{speed}")
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

/// What a key press does: `key` is the event's `key`, `modified` whether
/// Ctrl, Alt or Meta was held (those are the browser's).
pub fn shortcut(key: &str, focus: Focus, modified: bool) -> Option<Shortcut> {
    if modified || focus == Focus::Text {
        return None;
    }
    let found = match key {
        " " | "Spacebar" if focus != Focus::Button => Shortcut::TogglePlay,
        "k" | "K" => Shortcut::TogglePlay,
        "j" | "J" => Shortcut::Back,
        "l" | "L" => Shortcut::Forward,
        "ArrowLeft" if focus != Focus::Control => Shortcut::Back,
        "ArrowRight" if focus != Focus::Control => Shortcut::Forward,
        "<" => Shortcut::Slower,
        ">" => Shortcut::Faster,
        "?" => Shortcut::Help,
        "Escape" => Shortcut::Close,
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

/// A link to a moment of a call: `#call={sid}&t={seconds}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub call_sid: CallSid,
    /// Whole seconds from the start.
    pub t: u64,
}

impl Moment {
    /// Reads a URL's fragment (with or without its `#`); `None` unless it
    /// names a well-formed call SID. A missing or unreadable `t` is 0.
    pub fn from_fragment(fragment: &str) -> Option<Moment> {
        let mut call_sid = None;
        let mut t = 0;
        for pair in fragment.trim_start_matches('#').split('&') {
            match pair.split_once('=') {
                Some(("call", v)) => call_sid = CallSid::parse(&percent_decode(v)).ok(),
                Some(("t", v)) => t = parse_seconds(v).unwrap_or(0),
                _ => {}
            }
        }
        Some(Moment {
            call_sid: call_sid?,
            t,
        })
    }

    /// The fragment, `#` included.
    pub fn fragment(&self) -> String {
        format!("#call={}&t={}", self.call_sid, self.t)
    }
}

/// `t`'s value: whole seconds (`42`), a decimal (`42.7`, rounded down) or
/// `1m30s`-style; at most a day.
fn parse_seconds(v: &str) -> Option<u64> {
    let seconds = if let Ok(n) = v.parse::<f64>() {
        (n.is_finite() && n >= 0.0).then_some(n as u64)?
    } else {
        let mut total = 0u64;
        let mut digits = String::new();
        for c in v.chars() {
            match c {
                '0'..='9' => digits.push(c),
                'h' | 'm' | 's' => {
                    let n: u64 = digits.parse().ok()?;
                    digits.clear();
                    total += n * [3600, 60, 1][usize::from(c != 'h') + usize::from(c == 's')];
                }
                _ => return None,
            }
        }
        digits.is_empty().then_some(total)?
    };
    (seconds <= 86_400).then_some(seconds)
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

/// Where skipping silence jumps from `position_ms`: the end of the silence
/// it is in (less `SKIP_SILENCE_LEAD_MS`), if that silence lasts longer than
/// `SKIP_SILENCE_LONGER_THAN_MS` and the jump moves forward. `silences`
/// are `[start_ms, end_ms)`, in order.
pub fn silence_jump(silences: &[(u64, u64)], position_ms: u64) -> Option<u64> {
    let i = silences.partition_point(|&(_, end)| end <= position_ms);
    let &(start, end) = silences.get(i)?;
    let target = end.saturating_sub(SKIP_SILENCE_LEAD_MS);
    (start <= position_ms && end - start > SKIP_SILENCE_LONGER_THAN_MS && target > position_ms)
        .then_some(target)
}

/// One lane of the waveform as an SVG path in a `width`×`height` box: the
/// peaks (0–255) folded into `width` columns by their maximum, drawn
/// mirrored about the lane's middle as one closed shape.
pub fn waveform_path(peaks: &[u8], width: usize, height: u32) -> String {
    use std::fmt::Write;
    if peaks.is_empty() || width == 0 {
        return String::new();
    }
    let columns = width.min(peaks.len());
    let half = f64::from(height) / 2.0;
    let step = width as f64 / columns as f64;
    let amplitude: Vec<f64> = (0..columns)
        .map(|c| {
            let from = c * peaks.len() / columns;
            let to = ((c + 1) * peaks.len() / columns).max(from + 1);
            let peak = peaks[from..to].iter().copied().max().unwrap_or(0);
            // At least half a unit, so silence still shows as a line.
            (f64::from(peak) / 255.0 * half).max(0.5)
        })
        .collect();
    let mut d = String::with_capacity(columns * 24);
    let _ = write!(d, "M0 {:.1}", half - amplitude[0]);
    for (c, a) in amplitude.iter().enumerate() {
        let _ = write!(d, "H{:.1}V{:.1}", c as f64 * step, half - a);
        let _ = write!(d, "H{:.1}", (c + 1) as f64 * step);
    }
    for (c, a) in amplitude.iter().enumerate().rev() {
        let _ = write!(d, "V{:.1}H{:.1}", half + a, c as f64 * step);
    }
    d.push('Z');
    d
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

/// The Download link's path for a call: the stream with the user-action
/// marker (following it is a click) and the file name.
pub fn download_path(call: &CallSummary) -> String {
    format!(
        "/api/recordings/{}/stream?explicit_user_action=true&download={}",
        call.call_sid,
        percent_encode(&download_name(call))
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
    }

    #[test]
    fn speeds_step_through_the_list_and_stop_at_its_ends() {
        assert_eq!(step_speed(1.0, true), 1.25);
        assert_eq!(step_speed(1.0, false), 0.75);
        assert_eq!(step_speed(2.0, true), 2.0);
        assert_eq!(step_speed(0.75, false), 0.75);
        assert_eq!(step_speed(1.1, true), 1.25);
        assert_eq!(step_speed(1.1, false), 1.0);
        assert_eq!(speed_label(1.25), "1.25");
        assert_eq!(speed_label(1.0), "1");
    }

    #[test]
    fn skips_stay_within_the_recording() {
        assert_eq!(skip(5.0, -SKIP_S, Some(60.0)), 0.0);
        assert_eq!(skip(55.0, SKIP_S, Some(60.0)), 60.0);
        assert_eq!(skip(20.0, SKIP_S, None), 30.0);
        assert_eq!(skip(20.0, SKIP_S, Some(f64::NAN)), 30.0);
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
            assert_eq!(shortcut(key, Focus::Page, false), Some(want), "{key:?}");
            assert_eq!(
                shortcut(key, Focus::Text, false),
                None,
                "{key:?} in a text field"
            );
            assert_eq!(shortcut(key, Focus::Page, true), None, "{key:?} with Ctrl");
        }
        assert_eq!(shortcut(" ", Focus::Button, false), None);
        assert_eq!(shortcut("k", Focus::Button, false), Some(TogglePlay));
        assert_eq!(shortcut("ArrowLeft", Focus::Control, false), None);
        assert_eq!(shortcut("j", Focus::Control, false), Some(Back));
        assert_eq!(shortcut("x", Focus::Page, false), None);
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
        for bad_t in ["-3", "x", "1e99", "99999999", "4m12", "NaN"] {
            let f = format!("call=CA0123456789abcdef0123456789abcdef&t={bad_t}");
            assert_eq!(Moment::from_fragment(&f).unwrap().t, 0, "{bad_t}");
        }
        assert_eq!(Moment::from_fragment("#t=3"), None);
        assert_eq!(Moment::from_fragment("#call=../x&t=3"), None);
        assert_eq!(Moment::from_fragment(""), None);
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
        let d = waveform_path(&[0, 255, 128, 0], 4, 100);
        assert!(d.starts_with("M0 49.5"), "{d}");
        assert!(d.contains("H1.0V0.0"), "the loudest reaches the top: {d}");
        assert!(d.ends_with('Z'));
        assert_eq!(waveform_path(&[], 100, 100), "");
        // More peaks than columns: folded by their maximum.
        let wide: Vec<u8> = (0..1000).map(|i| if i == 500 { 255 } else { 0 }).collect();
        let d = waveform_path(&wide, 10, 100);
        assert!(d.contains("H5.0V0.0"), "{d}");
        assert_eq!(lane_names(2), ["Agent", "Customer"]);
        assert_eq!(lane_names(1), ["Call"]);
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
            download_path(&call()),
            "/api/recordings/CA0123456789abcdef0123456789abcdef/stream?explicit_user_action=true&download=call_2026-11-28_17-00-00_%2B12125550123_to_%2B18005550100"
        );
        assert_eq!(download_param(None), Ok(None));
        assert_eq!(download_param(Some("explicit_user_action=true")), Ok(None));
        assert_eq!(
            download_param(Some(download_path(&call()).split_once('?').unwrap().1)),
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
