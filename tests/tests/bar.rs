//! The player bar in real Chromium and Firefox (each test once per
//! browser) against the real worker and stub: every control found by its
//! accessible name (as the browser computes it),
//! the keyboard, the link to a moment, resume, the download, the waveform
//! (and its absence), skip silence, and the narrow screen.

use std::time::{Duration, Instant};

use backend_stub::audio::Voice;
use integration_tests::browser::{Browser, Element, Engine};
use integration_tests::{repo_root, sha256_hex, Stack};
use playback_core::player::DEBOUNCE_MS;
use serde_json::{json, Value};

const UI: Duration = Duration::from_secs(60);
const BAR: &str = "#player";

fn voiced(stack: &Stack, voice: Voice) -> (String, u32) {
    let catalog = stack.origin.stub.catalog();
    let call = catalog.with_voice("acme", voice).expect("acme has it");
    (call.summary.call_sid.to_string(), call.summary.duration_s)
}

/// Requests the worker saw under `/api/recordings/{sid}/` (any endpoint).
fn recording_requests(stack: &Stack, sid: &str) -> Vec<Value> {
    let prefix = format!("/api/recordings/{sid}/");
    stack
        .edge
        .log_lines()
        .into_iter()
        .filter(|v| {
            v["event"] == "request" && v["path"].as_str().is_some_and(|p| p.starts_with(&prefix))
        })
        .collect()
}

/// Requests that could start anything or read where a download stands
/// (the stream and the status); the peaks are a read without side effects.
fn stream_or_status_requests(stack: &Stack, sid: &str) -> usize {
    recording_requests(stack, sid)
        .iter()
        .filter(|v| v["path"].as_str().is_some_and(|p| !p.ends_with("/peaks")))
        .count()
}

/// Stream requests that carried the user action (the play requests).
fn play_requests(stack: &Stack, sid: &str) -> usize {
    recording_requests(stack, sid)
        .iter()
        .filter(|v| v["path"].as_str().is_some_and(|p| p.ends_with("/stream")))
        .filter(|v| v["user_action"] == true)
        .count()
}

async fn signed_in(engine: Engine, stack: &Stack, path: &str) -> Browser {
    let browser = Browser::start_in(engine).await;
    browser.goto(&stack.url("/dev/login?business=acme")).await;
    if path != "/" {
        browser.goto(&stack.url(path)).await;
    }
    browser.wait_for("#calls tbody tr", UI).await;
    browser
}

async fn control(browser: &Browser, name: &str) -> (Element, String) {
    let deadline = Instant::now() + UI;
    loop {
        if let Some(found) = browser.by_name(BAR, name).await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "the bar has no control named {name:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn press(browser: &Browser, name: &str) {
    let (element, _) = control(browser, name).await;
    browser.click(&element).await;
}

async fn audio(browser: &Browser, property: &str) -> Value {
    browser
        .execute(
            "return document.querySelector('#player audio')[arguments[0]]",
            json!([property]),
        )
        .await
}

async fn time(browser: &Browser) -> f64 {
    audio(browser, "currentTime").await.as_f64().unwrap_or(0.0)
}

/// Waits until the bar's audio is at or past `from` seconds.
async fn wait_time_past(browser: &Browser, from: f64) -> f64 {
    let deadline = Instant::now() + UI;
    loop {
        let t = time(browser).await;
        if t >= from {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the audio never reached {from} s (at {t})"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Waits until the bar's audio, played from `start` (at most) since
/// `since`, has played on from there: at or past `from` (`start` or a
/// little before it), and no further than it can have played since (at
/// its rate, with a second to spare), however long this test took to look.
async fn wait_played_on(browser: &Browser, from: f64, start: f64, since: Instant) -> f64 {
    let t = wait_time_past(browser, from).await;
    let rate = audio(browser, "playbackRate").await.as_f64().unwrap_or(1.0);
    let most = start + 1.0 + since.elapsed().as_secs_f64() * rate;
    assert!(
        t < most,
        "at {t}: not played on from {start} (at most {most} by now)"
    );
    t
}

/// Runs `act` (a click, a key) and returns where the bar's audio was when
/// the page got it (the first `event` of that kind, in a capturing
/// listener) and where the seek it made landed (the `seeked` event): both
/// read in the page as they happen, so how slowly this test looks does
/// not move them.
async fn seek_made_by(browser: &Browser, event: &str, act: impl std::future::Future) -> (f64, f64) {
    browser
        .execute(
            "const a = document.querySelector('#player audio');
             window.__at = null; window.__landed = null;
             document.addEventListener(arguments[0], () => { if (window.__at === null) window.__at = a.currentTime; },
               {capture: true, once: true});
             a.addEventListener('seeked', () => { if (window.__landed === null) window.__landed = a.currentTime; },
               {once: true});",
            json!([event]),
        )
        .await;
    act.await;
    let both = browser
        .wait_until(
            "return window.__at !== null && window.__landed !== null && [window.__at, window.__landed]",
            UI,
        )
        .await;
    (
        both[0].as_f64().unwrap_or(f64::NAN),
        both[1].as_f64().unwrap_or(f64::NAN),
    )
}

async fn wait_playing(browser: &Browser, playing: bool) {
    browser
        .wait_until(
            &format!(
                "const a = document.querySelector('#player audio'); return a.paused === {} && (a.paused || a.currentTime > 0);",
                !playing
            ),
            UI,
        )
        .await;
}

/// Waits out the row model's click debounce (a timer of the player, not a
/// condition to wait for): the next click on the same call counts.
async fn after_debounce() {
    tokio::time::sleep(Duration::from_millis(DEBOUNCE_MS + 50)).await;
}

async fn click_row_play(browser: &Browser, sid: &str) {
    let button = browser
        .wait_for(&format!("tr[data-call-sid='{sid}'] button.play"), UI)
        .await;
    browser.click(&button).await;
}

fn screenshot(name: &str) -> std::path::PathBuf {
    let dir = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

async fn every_control_of_the_bar_works_by_its_name(engine: Engine) {
    let stack = Stack::start().await;
    let (sid, duration_s) = voiced(&stack, Voice::Conversation);
    let origin = stack.cache("acme", &sid).await;
    let browser = signed_in(engine, &stack, "/").await;
    assert!(
        browser
            .find(&format!("{BAR}:not([hidden])"))
            .await
            .is_none(),
        "no bar before the first play"
    );
    click_row_play(&browser, &sid).await;
    wait_playing(&browser, true).await;

    // The bar names the call, and every control is there by its name.
    let title = browser
        .text(&browser.wait_for("#bar-title", UI).await)
        .await;
    assert!(title.contains(" → "), "{title:?}");
    let (_, role) = control(&browser, "Pause").await;
    assert_eq!(role, "button");
    for name in [
        "Back 10 seconds",
        "Forward 10 seconds",
        "Skip silence",
        "Copy link to this moment",
    ] {
        assert_eq!(control(&browser, name).await.1, "button", "{name}");
    }
    assert_eq!(control(&browser, "Position").await.1, "slider");
    assert_eq!(control(&browser, "Playback speed").await.1, "combobox");
    assert_eq!(control(&browser, "Download").await.1, "link");
    let (_, role) = control(&browser, "Waveform").await;
    assert!(
        ["img", "image"].contains(&role.as_str()),
        "the waveform is an image with a name: {role}"
    );
    let lanes: Vec<String> = browser
        .execute(
            "return [...document.querySelectorAll('#player .lane-label')].map(e => e.textContent)",
            json!([]),
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        lanes,
        ["Agent", "Customer"],
        "two lanes for a two-channel call"
    );
    let row_state = browser
        .text(
            &browser
                .find(&format!("tr[data-call-sid='{sid}'] .state"))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(row_state, "playing", "the row and the bar agree");

    // One row at a laptop's width, and each icon button's tooltip names
    // its shortcut.
    let one_row = browser
        .execute(
            "const rects = [...document.querySelectorAll('#player .bar-row > *')]
               .map(e => e.getBoundingClientRect()).filter(r => r.height > 0);
             return Math.max(...rects.map(r => r.top)) < Math.min(...rects.map(r => r.bottom));",
            json!([]),
        )
        .await;
    assert_eq!(one_row, json!(true), "the bar is one row");
    let (back, _) = control(&browser, "Back 10 seconds").await;
    browser.hover(&back).await;
    browser
        .wait_until(
            // (Chromium gives the text, Firefox the `attr()`.)
            "const b = document.querySelector('#player [data-act=back]');
             const shown = getComputedStyle(b, '::after').content;
             return !['none', 'normal', ''].includes(shown)
               && b.dataset.tip === 'Back 10 seconds (J or ←)'",
            UI,
        )
        .await;
    browser.audit_both_widths("bar-playing").await;

    // Pause and Play.
    after_debounce().await;
    press(&browser, "Pause").await;
    wait_playing(&browser, false).await;
    control(&browser, "Play").await;
    after_debounce().await;
    press(&browser, "Play").await;
    wait_playing(&browser, true).await;

    // The slider: a click in its middle seeks to the middle.
    let (slider, _) = control(&browser, "Position").await;
    let (_, t) = seek_made_by(&browser, "click", browser.click(&slider)).await;
    let middle = f64::from(duration_s) / 2.0;
    assert!(
        (middle - 3.0..middle + 3.0).contains(&t),
        "the slider's middle sought to {t}"
    );
    let valuetext = browser
        .execute(
            "return document.querySelector('#seek').getAttribute('aria-valuetext')",
            json!([]),
        )
        .await;
    assert!(
        valuetext.as_str().unwrap().ends_with(" of 1:30"),
        "{valuetext}"
    );

    // ±10 s, from where the audio was at the click.
    let (forward, _) = control(&browser, "Forward 10 seconds").await;
    let (at, landed) = seek_made_by(&browser, "click", browser.click(&forward)).await;
    assert!(
        (9.0..11.0).contains(&(landed - at)),
        "forward from {at} landed at {landed}"
    );
    let (back, _) = control(&browser, "Back 10 seconds").await;
    let (at, landed) = seek_made_by(&browser, "click", browser.click(&back)).await;
    assert!(
        (9.0..11.0).contains(&(at - landed)),
        "back from {at} landed at {landed}"
    );
    browser.screenshot(&screenshot("bar-playing")).await;

    // Speed, pitch kept.
    let (select, _) = control(&browser, "Playback speed").await;
    browser.click(&select).await;
    let option = browser.wait_for("#speed option[value='1.5']", UI).await;
    browser.click(&option).await;
    browser
        .wait_until(
            "return document.querySelector('#player audio').playbackRate === 1.5",
            UI,
        )
        .await;
    assert_eq!(audio(&browser, "preservesPitch").await, json!(true));

    // Copy link to this moment: the moment of the click, kept by the page.
    let (copy, _) = control(&browser, "Copy link to this moment").await;
    browser
        .execute(
            "const a = document.querySelector('#player audio'); window.__at = null;
             document.addEventListener('click', () => { window.__at = a.currentTime; }, {capture: true, once: true});",
            json!([]),
        )
        .await;
    browser.click(&copy).await;
    let notice = browser
        .wait_until(
            "const t = document.querySelector('#bar-notice').textContent; return t.includes('#call=') && t",
            UI,
        )
        .await;
    let notice = notice.as_str().unwrap();
    let link_t: f64 = notice
        .split("&t=")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no t in {notice:?}"));
    assert!(notice.contains(&format!("#call={sid}&t=")), "{notice}");
    let clicked_at = browser
        .execute("return window.__at", json!([]))
        .await
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(
        link_t <= clicked_at + 0.25 && link_t >= clicked_at - 1.25,
        "the link's t {link_t} is the moment of the click ({clicked_at})"
    );

    // Download: a link marked for download whose bytes are the origin's,
    // as an attachment named after the call.
    let (link, _) = control(&browser, "Download").await;
    let href = browser
        .execute(
            "return arguments[0].getAttribute('href')",
            json!([{integration_tests::browser::ELEMENT: link.id()}]),
        )
        .await;
    let has_download = browser
        .execute(
            "return arguments[0].hasAttribute('download')",
            json!([{integration_tests::browser::ELEMENT: link.id()}]),
        )
        .await;
    assert_eq!(has_download, json!(true));
    let href = href.as_str().unwrap();
    assert!(
        href.contains("explicit_user_action=true"),
        "following it is a user action: {href}"
    );
    let r = stack.get_as("acme", href).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"call_2026-11-")
            && disposition.ends_with(".wav\""),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(
        sha256_hex(&bytes),
        sha256_hex(&origin),
        "the download is the origin's bytes"
    );

    // The keyboard, with focus on the page: L forward, > faster, ? lists them.
    browser
        .execute("document.activeElement.blur()", json!([]))
        .await;
    let (at, landed) = seek_made_by(&browser, "keydown", browser.press_key("l")).await;
    assert!(
        (9.0..11.0).contains(&(landed - at)),
        "L from {at} landed at {landed}"
    );
    browser.press_key(">").await;
    browser
        .wait_until(
            "return document.querySelector('#player audio').playbackRate === 2",
            UI,
        )
        .await;
    browser.press_key("?").await;
    let open = "return document.querySelector('#shortcuts-dialog').open";
    let closed = "return !document.querySelector('#shortcuts-dialog').open";
    browser.wait_until(open, UI).await;
    // The dialog is modal: Tab stays in it; Escape closes it, the focus
    // back where it was (the page, here; the button, when clicked open).
    browser.audit_both_widths("shortcuts-dialog").await;
    for _ in 0..3 {
        browser.press_key("\u{E004}").await;
        let inside = browser
            .execute(
                "return !!document.activeElement.closest('#shortcuts-dialog')",
                json!([]),
            )
            .await;
        assert_eq!(inside, json!(true), "Tab left the dialog");
    }
    browser.press_key("\u{E00C}").await;
    browser.wait_until(closed, UI).await;
    let (keys, _) = control(&browser, "Keyboard shortcuts").await;
    browser.click(&keys).await;
    browser.wait_until(open, UI).await;
    browser.press_key("\u{E00C}").await;
    browser.wait_until(closed, UI).await;
    let focused = browser
        .execute("return document.activeElement.id", json!([]))
        .await;
    assert_eq!(focused, "keys", "the focus is back on the button");
    browser
        .execute("document.activeElement.blur()", json!([]))
        .await;
    after_debounce().await;
    browser.press_key(" ").await;
    wait_playing(&browser, false).await;
    assert_eq!(
        stack.origin.stats().call(&sid).attempts,
        1,
        "one origin download for everything above"
    );
}

async fn a_link_to_a_moment_asks_nothing_on_load_plays_from_t_and_resume_remembers(engine: Engine) {
    let stack = Stack::start().await;
    let (sid, _) = voiced(&stack, Voice::Conversation);
    stack.cache("acme", &sid).await;
    let before = stream_or_status_requests(&stack, &sid);
    let plays_before = play_requests(&stack, &sid);
    let browser = signed_in(engine, &stack, &format!("/#call={sid}&t=42")).await;
    browser
        .wait_until("return !document.querySelector('#player').hidden", UI)
        .await;
    let elapsed = browser.text(&browser.wait_for("#elapsed", UI).await).await;
    assert_eq!(elapsed, "0:42");
    control(&browser, "Play").await;
    assert_eq!(audio(&browser, "paused").await, json!(true));
    assert_eq!(
        stream_or_status_requests(&stack, &sid),
        before,
        "opening the link sent a request for the recording"
    );

    let clicked = Instant::now();
    press(&browser, "Play").await;
    wait_playing(&browser, true).await;
    wait_played_on(&browser, 42.0, 42.0, clicked).await;
    stack.log_barrier().await;
    assert_eq!(
        play_requests(&stack, &sid) - plays_before,
        1,
        "the bar's Play sent the one play request"
    );

    // Paused at about 0:44, the position is remembered on the device: a
    // reload without the link and the row's Play resume there.
    wait_time_past(&browser, 44.0).await;
    after_debounce().await;
    press(&browser, "Pause").await;
    wait_playing(&browser, false).await;
    let paused_at = time(&browser).await;
    browser.goto(&stack.url("/")).await;
    browser.wait_for("#calls tbody tr", UI).await;
    let clicked = Instant::now();
    click_row_play(&browser, &sid).await;
    wait_playing(&browser, true).await;
    let resumed = wait_played_on(&browser, paused_at.floor() - 1.0, paused_at, clicked).await;
    println!("resumed at {resumed}, paused at {paused_at}");
    // And it can start from the beginning.
    let (start, _) = control(&browser, "Start from the beginning").await;
    let (_, landed) = seek_made_by(&browser, "click", browser.click(&start)).await;
    assert!(landed < 0.5, "started again from {landed}");

    // A link followed on the open page, while this call plays: the bar
    // takes the linked call paused at its t (nothing of the call before
    // shows in it), the call before goes back to idle, and the linked
    // call's row never says "paused" on its way to playing.
    wait_time_past(&browser, 4.0).await;
    let other = stack
        .origin
        .stub
        .catalog()
        .listed_calls("acme")
        .nth(6)
        .unwrap()
        .summary
        .call_sid
        .to_string();
    stack.cache("acme", &other).await;
    browser
        .execute(
            "location.hash = arguments[0];",
            json!([format!("#call={other}&t=5")]),
        )
        .await;
    browser
        .wait_until(
            &format!(
                "return document.querySelector(\"tr[data-call-sid='{sid}'] .state\").textContent === ''"
            ),
            UI,
        )
        .await;
    wait_playing(&browser, false).await;
    let shown = browser
        .execute(
            "return [document.querySelector('#elapsed').textContent, document.querySelector('#bar-title').textContent]",
            json!([]),
        )
        .await;
    assert_eq!(shown[0], "0:05", "{shown}");
    browser
        .execute(
            "const state = arguments[0]; window.__states = [];
             new MutationObserver(() => window.__states.push(state.textContent))
               .observe(state, {childList: true, characterData: true, subtree: true});",
            json!([{integration_tests::browser::ELEMENT: browser.find(&format!("tr[data-call-sid='{other}'] .state")).await.unwrap().id()}]),
        )
        .await;
    after_debounce().await;
    let clicked = Instant::now();
    press(&browser, "Play").await;
    wait_playing(&browser, true).await;
    wait_played_on(&browser, 5.0, 5.0, clicked).await;
    browser
        .wait_until(
            &format!("return document.querySelector(\"tr[data-call-sid='{other}'] .state\").textContent === 'playing'"),
            UI,
        )
        .await;
    let states = browser.execute("return window.__states", json!([])).await;
    assert!(
        !states.as_array().unwrap().iter().any(|s| s == "paused"),
        "the linked call's row said paused on its way to playing: {states}"
    );
}

async fn the_waveform_comes_with_a_wav_even_cold_and_is_absent_for_another_type(engine: Engine) {
    let stack = Stack::start().await;
    let (float_sid, _) = voiced(&stack, Voice::Float);
    stack.cache("acme", &float_sid).await;
    let browser = signed_in(engine, &stack, "/").await;
    click_row_play(&browser, &float_sid).await;
    wait_playing(&browser, true).await;
    wait_time_past(&browser, 0.5).await;
    // The edge said it has none: the bar shows no waveform.
    browser
        .wait_until(
            "return document.querySelector('#lanes').dataset.peaks === 'none'",
            UI,
        )
        .await;
    assert_eq!(
        browser
            .execute(
                "return getComputedStyle(document.querySelector('#lanes')).display",
                json!([])
            )
            .await,
        json!("none"),
        "no waveform for a float WAV"
    );
    assert!(browser.by_name(BAR, "Waveform").await.is_none());
    control(&browser, "Position").await;
    control(&browser, "Pause").await;

    // A cold WAV: it plays from its download, and its waveform (not ready
    // while it downloads) comes once it is stored.
    let (cold, _) = voiced(&stack, Voice::Conversation);
    click_row_play(&browser, &cold).await;
    browser
        .wait_until(
            &format!("return document.querySelector('#bar-title').textContent !== '' && document.querySelector(\"tr[data-call-sid='{cold}'] .state\").textContent === 'playing'"),
            UI,
        )
        .await;
    browser
        .wait_until("return !document.querySelector('#lanes').hidden && document.querySelectorAll('#lanes path').length === 2", UI)
        .await;
    let float_state = browser
        .text(
            &browser
                .find(&format!("tr[data-call-sid='{float_sid}'] .state"))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(
        float_state, "",
        "the call the bar held before stopped: one plays at a time"
    );
    assert_eq!(stack.origin.stats().call(&cold).attempts, 1);
}

async fn skip_silence_jumps_a_silent_stretch(engine: Engine) {
    let stack = Stack::start().await;
    let (sid, _) = voiced(&stack, Voice::Conversation);
    stack.cache("acme", &sid).await;
    let browser = signed_in(engine, &stack, "/").await;
    click_row_play(&browser, &sid).await;
    wait_playing(&browser, true).await;
    browser
        .wait_until("return !document.querySelector('#lanes').hidden", UI)
        .await;
    let (toggle, _) = control(&browser, "Skip silence").await;
    browser.click(&toggle).await;
    browser
        .wait_until("return document.querySelector('#skip-silence').getAttribute('aria-pressed') === 'true'", UI)
        .await;
    // Record where every seek lands from now on; then start 1.5 s before
    // the silence of 12–15.5 s.
    browser
        .execute(
            "window.__seeks = []; document.querySelector('#player audio').addEventListener('seeked', e => window.__seeks.push(e.target.currentTime));
             document.querySelector('#player audio').currentTime = 10.5;",
            json!([]),
        )
        .await;
    // The test's own seek, then the first jump (later silences may have
    // been jumped too by the time this test looks).
    let seeks = browser
        .wait_until("return window.__seeks.length >= 2 && window.__seeks", UI)
        .await;
    let landed: Vec<f64> = seeks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(
        (10.4..10.6).contains(&landed[0]),
        "the test's own seek first: {landed:?}"
    );
    assert!(
        (15.1..15.5).contains(&landed[1]),
        "the next seek is the jump to the silence's end (15.25 s): {landed:?}"
    );
}

async fn at_375_pixels_the_rows_are_cards_and_the_bar_fits(engine: Engine) {
    let stack = Stack::start().await;
    let (sid, _) = voiced(&stack, Voice::Conversation);
    stack.cache("acme", &sid).await;
    let browser = signed_in(engine, &stack, "/").await;
    browser.set_window_size(375, 812).await;
    browser
        .wait_until("return window.innerWidth <= 375", UI)
        .await;
    click_row_play(&browser, &sid).await;
    wait_playing(&browser, true).await;
    browser
        .wait_until("return !document.querySelector('#lanes').hidden", UI)
        .await;
    let layout = browser
        .execute(
            "const row = document.querySelector('#calls tbody tr');
             return {
               rowDisplay: getComputedStyle(row).display,
               headHidden: document.querySelector('#calls thead').getBoundingClientRect().height <= 1,
               pageWidth: document.documentElement.scrollWidth,
               barRight: document.querySelector('#player').getBoundingClientRect().right,
               innerWidth: window.innerWidth,
             };",
            json!([]),
        )
        .await;
    assert_eq!(layout["rowDisplay"], "block", "{layout}");
    assert_eq!(layout["headHidden"], true, "{layout}");
    let inner = layout["innerWidth"].as_f64().unwrap();
    assert!(
        layout["pageWidth"].as_f64().unwrap() <= inner,
        "nothing scrolls sideways: {layout}"
    );
    assert!(layout["barRight"].as_f64().unwrap() <= inner, "{layout}");
    // The bar takes at most a third of the screen's height.
    let bar = browser
        .execute(
            "return [document.querySelector('#player').getBoundingClientRect().height, window.innerHeight]",
            json!([]),
        )
        .await;
    let (height, screen) = (bar[0].as_f64().unwrap(), bar[1].as_f64().unwrap());
    assert!(height <= screen / 3.0, "the bar is {height} of {screen} px");
    for name in [
        "Pause",
        "Back 10 seconds",
        "Forward 10 seconds",
        "Position",
        "More",
    ] {
        let (element, _) = control(&browser, name).await;
        let visible = browser
            .execute(
                "const r = arguments[0].getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth + 1;",
                json!([{integration_tests::browser::ELEMENT: element.id()}]),
            )
            .await;
        assert_eq!(visible, json!(true), "{name} is on the screen");
    }
    browser.screenshot(&screenshot("bar-narrow")).await;
    // The secondary controls are in "More": a menu, opened from the
    // keyboard on its first item, Escape closing it back onto the button.
    let (more, role) = control(&browser, "More").await;
    assert_eq!(role, "button");
    browser.click(&more).await;
    browser
        .wait_until("return !document.querySelector('#more-menu').hidden", UI)
        .await;
    for name in [
        "Playback speed",
        "Skip silence",
        "Download",
        "Copy link to this moment",
        "Keyboard shortcuts",
    ] {
        let (_, role) = control(&browser, name).await;
        assert!(
            ["group", "menuitem", "menuitemcheckbox"].contains(&role.as_str()),
            "{name} is a {role}"
        );
    }
    browser.screenshot(&screenshot("bar-narrow-more")).await;
    browser.audit("more-menu-375").await;
    browser.press_key("\u{E00C}").await;
    browser
        .wait_until(
            "return document.querySelector('#more-menu').hidden && document.activeElement.id === 'more'",
            UI,
        )
        .await;
    browser.press_key("\u{E015}").await;
    let first = browser
        .wait_until(
            "return !document.querySelector('#more-menu').hidden && document.activeElement.getAttribute('role')",
            UI,
        )
        .await;
    assert_eq!(first, "menuitemradio", "↓ opens the menu on its first item");
    // Its 1.5× is the bar's speed.
    let fast = browser.wait_for("#more-menu [data-speed='3']", UI).await;
    browser.click(&fast).await;
    browser
        .wait_until(
            "return document.querySelector('#player audio').playbackRate === 1.5
               && document.querySelector('#more-menu').hidden",
            UI,
        )
        .await;
}

async fn a_call_is_looked_up_by_its_sid_for_a_link_to_one_the_list_has_not_shown(engine: Engine) {
    let stack = Stack::start().await;
    let catalog = stack.origin.stub.catalog();
    // An old call of the contact centre: far beyond the list's first page.
    let old = catalog
        .listed_calls("northwind")
        .nth(5)
        .unwrap()
        .summary
        .clone();
    let sid = old.call_sid.to_string();
    let r = stack
        .get_as("northwind", &format!("/api/calls/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<playback_core::wire::CallSummary>().await.unwrap(),
        old
    );
    let acme = catalog
        .listed_calls("acme")
        .next()
        .unwrap()
        .summary
        .call_sid
        .to_string();
    for (business, path, want) in [
        (
            "northwind",
            format!("/api/calls/{acme}"),
            (404, "not_found"),
        ),
        (
            "northwind",
            "/api/calls/CA00000000000000000000000000000000".to_owned(),
            (404, "not_found"),
        ),
        (
            "northwind",
            "/api/calls/nope".to_owned(),
            (400, "invalid_call_sid"),
        ),
    ] {
        let r = stack.get_as(business, &path).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!((status, body["error"].as_str().unwrap()), want, "{path}");
    }
    let r = stack
        .http
        .get(stack.url(&format!("/api/calls/{sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        stack.origin.stats().total_attempts(),
        0,
        "no recording was asked for"
    );

    // In the browser: a link to it names the call in the bar.
    let browser = Browser::start_in(engine).await;
    browser
        .goto(&stack.url("/dev/login?business=northwind"))
        .await;
    browser.goto(&stack.url(&format!("/#call={sid}&t=7"))).await;
    browser
        .wait_until(
            &format!(
                "return document.querySelector('#bar-title').textContent.includes('{}')",
                old.from
            ),
            UI,
        )
        .await;
    assert!(
        browser
            .find(&format!("tr[data-call-sid='{sid}']"))
            .await
            .is_none(),
        "the list has not shown it"
    );
    let elapsed = browser.text(&browser.wait_for("#elapsed", UI).await).await;
    assert_eq!(elapsed, "0:07");
}

/// Stream requests for the `number`-th recording of `sid` that carried the
/// user action.
fn play_requests_of(stack: &Stack, sid: &str, number: u64) -> usize {
    recording_requests(stack, sid)
        .iter()
        .filter(|v| v["path"].as_str().is_some_and(|p| p.ends_with("/stream")))
        .filter(|v| v["user_action"] == true)
        .filter(|v| v["recording"].as_u64().unwrap_or(1) == number)
        .count()
}

/// Waits until the bar's audio element holds the media at a URL ending
/// with `tail`, and plays it on.
async fn wait_playing_src(browser: &Browser, tail: &str) {
    browser
        .wait_until_with(
            "const a = document.querySelector('#player audio');
             return a.currentSrc.endsWith(arguments[0]) && !a.paused && a.currentTime > 0.2;",
            json!([tail]),
            UI,
        )
        .await;
}

/// The bar holds recording `number` of a call's two: its button alone
/// pressed, and the title says so.
async fn assert_held(browser: &Browser, number: u8) {
    for n in [1, 2] {
        let pressed = if n == number { "true" } else { "false" };
        assert_eq!(
            recording_pressed(browser, n).await,
            pressed,
            "recording {n}"
        );
    }
    let title = browser
        .text(&browser.wait_for("#bar-title", UI).await)
        .await;
    assert!(
        title.ends_with(&format!("Recording {number} of 2")),
        "{title}"
    );
}

/// Whether the picker's button for recording `number` is pressed.
async fn recording_pressed(browser: &Browser, number: u8) -> Value {
    browser
        .execute(
            "const b = document.querySelector(`#recordings button[data-recording='${arguments[0]}']`);
             return b && b.getAttribute('aria-pressed');",
            json!([number]),
        )
        .await
}

/// With Twilio, a call with two recordings: its row plays the first; the
/// bar offers both by name ("Recording 2 of 2"); a click on the second
/// plays the second's own audio (one play request, one download from
/// Twilio), and a click back plays the first again from storage, with
/// no new download.
async fn with_twilio_the_bar_plays_a_calls_second_recording(engine: Engine) {
    use backend_stub::twilio::{call_of_shape, recording_sid, Shape};
    let stack = Stack::start_twilio(
        backend_stub::knobs::Knobs::default(),
        integration_tests::EdgeOptions::default(),
    )
    .await;
    let sid = call_of_shape(stack.origin.stub.catalog(), "acme", Shape::Two)
        .expect("acme has a call with two recordings")
        .summary
        .call_sid
        .to_string();
    let browser = signed_in(engine, &stack, "/").await;
    click_row_play(&browser, &sid).await;
    wait_playing_src(&browser, &format!("/api/recordings/{sid}/stream")).await;
    let (_, role) = control(&browser, "Recording 1 of 2").await;
    assert_eq!(role, "button");
    assert_held(&browser, 1).await;
    let first_length = audio(&browser, "duration").await.as_f64().unwrap_or(0.0);

    press(&browser, "Recording 2 of 2").await;
    let second_src = format!("/api/recordings/{sid}/stream?recording=2");
    wait_playing_src(&browser, &second_src).await;
    assert_held(&browser, 2).await;
    // Its own audio: the stub makes a call's second recording half as long.
    let second_length = audio(&browser, "duration").await.as_f64().unwrap_or(0.0);
    assert!(
        (second_length - (first_length / 2.0).floor().max(1.0)).abs() < 1.5,
        "the second plays {second_length} s of a {first_length} s call"
    );
    let download = browser
        .execute(
            "return document.querySelector('#download').getAttribute('href')",
            json!([]),
        )
        .await;
    assert!(
        download
            .as_str()
            .is_some_and(|h| h.contains("recording=2") && h.ends_with("_recording-2")),
        "{download}"
    );

    press(&browser, "Recording 1 of 2").await;
    wait_playing_src(&browser, &format!("/api/recordings/{sid}/stream")).await;
    stack.log_barrier().await;
    assert_eq!(
        play_requests_of(&stack, &sid, 2),
        1,
        "one click on the second, one play request"
    );
    assert_eq!(
        play_requests_of(&stack, &sid, 1),
        2,
        "the row's click and the click back"
    );
    let stats = stack.origin.stats();
    assert_eq!(
        stats.call(&recording_sid(&sid, 0)).attempts,
        1,
        "the first, downloaded once"
    );
    assert_eq!(
        stats.call(&recording_sid(&sid, 1)).attempts,
        1,
        "the second, downloaded once"
    );
    browser.screenshot(&screenshot("bar-recordings")).await;
}

/// Pause and resume at the speed of a hand: Space twice, K twice and the
/// bar's Pause/Play button twice, each pair 150 ms apart (in one WebDriver
/// action, so the browser keeps the gap), and every pair pauses and then
/// resumes. The debounce guards only what can reach the edge: no press
/// here sends a request for the recording.
async fn pause_and_resume_answer_every_press(engine: Engine) {
    const GAP_MS: u64 = 150;
    let stack = Stack::start().await;
    let (sid, _) = voiced(&stack, Voice::Conversation);
    stack.cache("acme", &sid).await;
    let browser = signed_in(engine, &stack, "/").await;
    click_row_play(&browser, &sid).await;
    wait_playing(&browser, true).await;
    // The click that started it: a second click inside its window would
    // be a double click's second half, which does nothing.
    after_debounce().await;
    // The focus off the row's button: the keys are the page's map.
    browser
        .execute(
            "document.activeElement && document.activeElement.blur()",
            json!([]),
        )
        .await;
    stack.log_barrier().await;
    // (The media element's own range requests for stored bytes may come
    // and go; a play request or a status poll would be the presses'.)
    let asked = |stack: &Stack| {
        recording_requests(stack, &sid)
            .iter()
            .filter(|v| {
                v["user_action"] == true
                    || v["path"].as_str().is_some_and(|p| p.ends_with("/status"))
            })
            .count()
    };
    let requests = asked(&stack);
    let record = "const a = document.querySelector('#player audio');
        window.__toggles = [];
        if (!window.__listening) {
          window.__listening = true;
          for (const name of ['pause', 'play']) a.addEventListener(name, () => window.__toggles.push(name));
        }";
    let both = "return window.__toggles.join(',') === 'pause,play'";
    for key in [" ", "k"] {
        browser.execute(record, json!([])).await;
        browser.press_key_twice(key, GAP_MS).await;
        browser.wait_until(both, UI).await;
        wait_playing(&browser, true).await;
    }
    browser.execute(record, json!([])).await;
    let (button, _) = control(&browser, "Pause").await;
    browser.click_twice(&button, GAP_MS).await;
    browser.wait_until(both, UI).await;
    wait_playing(&browser, true).await;
    stack.log_barrier().await;
    assert_eq!(
        asked(&stack),
        requests,
        "a pause or a resume asked the edge"
    );
}

integration_tests::in_each_browser!(
    every_control_of_the_bar_works_by_its_name,
    a_link_to_a_moment_asks_nothing_on_load_plays_from_t_and_resume_remembers,
    the_waveform_comes_with_a_wav_even_cold_and_is_absent_for_another_type,
    skip_silence_jumps_a_silent_stretch,
    a_call_is_looked_up_by_its_sid_for_a_link_to_one_the_list_has_not_shown,
    with_twilio_the_bar_plays_a_calls_second_recording,
    pause_and_resume_answer_every_press,
    at_375_pixels_the_rows_are_cards_and_the_bar_fits,
);
