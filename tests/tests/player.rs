//! The player in real Chromium and Firefox, each test once per browser
//! (`in_each_browser!`; WebDriver clicks are trusted), against the
//! real worker and stub.

use std::time::{Duration, Instant};

use backend_stub::knobs::{FaultSet, Knobs};
use integration_tests::browser::{Browser, Engine};
use integration_tests::{EdgeOptions, Stack};
use serde_json::json;

const UI: Duration = Duration::from_secs(60);

fn listed(stack: &Stack, n: usize) -> String {
    stack
        .origin
        .stub
        .catalog()
        .listed_calls("acme")
        .nth(n)
        .unwrap()
        .summary
        .call_sid
        .to_string()
}

/// Play requests (with `X-User-Action`) the worker saw for a call.
fn play_requests(stack: &Stack, sid: &str) -> usize {
    play_requests_since(stack, sid, 0)
}

/// The worker's request lines for `path` that arrived at or after `since_ms` (unix ms).
fn requests_since(stack: &Stack, path: &str, since_ms: u64) -> Vec<serde_json::Value> {
    stack
        .edge
        .log_lines()
        .into_iter()
        .filter(|v| v["event"] == "request" && v["path"] == path)
        .filter(|v| v["at"].as_u64().unwrap_or(0) >= since_ms)
        .collect()
}

/// Play requests for a call that arrived at the worker at or after `since_ms` (unix ms).
fn play_requests_since(stack: &Stack, sid: &str, since_ms: u64) -> usize {
    requests_since(stack, &format!("/api/recordings/{sid}/stream"), since_ms)
        .iter()
        .filter(|v| v["user_action_header"] == true)
        .count()
}

/// Status polls for a call since `since_ms`: (all, those that carried the user-action header).
fn status_polls_since(stack: &Stack, sid: &str, since_ms: u64) -> (usize, usize) {
    let polls = requests_since(stack, &format!("/api/recordings/{sid}/status"), since_ms);
    let marked = polls
        .iter()
        .filter(|v| v["user_action_header"] == true)
        .count();
    (polls.len(), marked)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn ranges_requested(stack: &Stack, sid: &str) -> Vec<String> {
    let path = format!("\"path\":\"/api/recordings/{sid}/stream\"");
    stack
        .edge
        .log()
        .lines()
        .filter(|l| l.contains("\"event\":\"request\"") && l.contains(&path))
        .filter_map(|l| {
            l.split("\"range\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
        })
        .collect()
}

async fn signed_in(engine: Engine, stack: &Stack) -> Browser {
    let browser = Browser::start_in(engine).await;
    browser.goto(&stack.url("/dev/login?business=acme")).await;
    browser.wait_for("#calls tbody tr", UI).await;
    browser
}

fn row(sid: &str) -> String {
    format!("tr[data-call-sid='{sid}']")
}

async fn state_text(browser: &Browser, sid: &str) -> String {
    let v = browser
        .execute(
            "return document.querySelector(arguments[0]).textContent",
            json!([format!("{} .state", row(sid))]),
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

async fn wait_state(browser: &Browser, sid: &str, wanted: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = state_text(browser, sid).await;
        if wanted.iter().any(|w| text.contains(w)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "row {sid} never showed {wanted:?}; last {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// From now on, the page keeps every text the row of `sid` shows as its
/// state, and every text of the announcer (`window.__shown[sid]`,
/// `window.__announced`): a state that lasts a moment (the 1.5 s of a held
/// play request) is seen however slowly this test's polls come.
async fn record_states(browser: &Browser, sid: &str) {
    browser
        .execute(
            "const [sel, sid] = arguments;
             window.__shown = window.__shown || {};
             window.__announced = window.__announced || [];
             const shown = window.__shown[sid] = [];
             const note = () => {
               const state = document.querySelector(sel);
               const t = state ? state.textContent : '';
               if (shown[shown.length - 1] !== t) shown.push(t);
               const a = document.querySelector('#announcer');
               const said = a ? a.textContent : '';
               if (window.__announced[window.__announced.length - 1] !== said) window.__announced.push(said);
             };
             note();
             new MutationObserver(note).observe(document.body,
               {childList: true, characterData: true, subtree: true});",
            json!([format!("{} .state", row(sid)), sid]),
        )
        .await;
}

/// Waits until the row of `sid` has shown a state containing one of
/// `wanted` since [`record_states`]; returns the texts it showed.
async fn wait_shown(
    browser: &Browser,
    sid: &str,
    wanted: &[&str],
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let shown: Vec<String> = serde_json::from_value(
            browser
                .execute("return window.__shown[arguments[0]]", json!([sid]))
                .await,
        )
        .unwrap_or_default();
        if shown.iter().any(|t| wanted.iter().any(|w| t.contains(w))) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "row {sid} never showed {wanted:?}; it showed {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The bar's audio element's time (it plays one call at a time).
async fn audio_time(browser: &Browser) -> f64 {
    browser
        .execute(
            "return document.querySelector(arguments[0]).currentTime",
            json!(["#player audio"]),
        )
        .await
        .as_f64()
        .unwrap_or(0.0)
}

async fn wait_audio_past(browser: &Browser, sid: &str, seconds: f64) {
    let deadline = Instant::now() + UI;
    while audio_time(browser).await <= seconds {
        assert!(
            Instant::now() < deadline,
            "audio of {sid} never passed {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click_play(browser: &Browser, sid: &str) {
    let button = browser
        .wait_for(&format!("{} button.play", row(sid)), UI)
        .await;
    browser.click(&button).await;
}

fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = integration_tests::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

async fn a_cached_call_plays_and_seeks_with_a_range_request(engine: Engine) {
    let stack = Stack::start().await;
    // The hour-long call: far more than the browser buffers, so a seek needs a range request.
    let sid = stack
        .origin
        .stub
        .catalog()
        .longest()
        .summary
        .call_sid
        .to_string();
    stack.cache("acme", &sid).await;
    let before = play_requests(&stack, &sid);
    let browser = signed_in(engine, &stack).await;
    browser.screenshot(&screenshot_path("idle")).await;
    click_play(&browser, &sid).await;
    wait_state(&browser, &sid, &["playing"], UI).await;
    wait_audio_past(&browser, &sid, 0.3).await;
    browser.screenshot(&screenshot_path("playing")).await;
    // Seek to the middle: the audio element asks for a range from there.
    browser
        .execute(
            "const a = document.querySelector(arguments[0]); a.currentTime = a.duration / 2;",
            json!(["#player audio"]),
        )
        .await;
    wait_audio_past(&browser, &sid, 1800.0).await;
    stack.log_barrier().await;
    let ranges = ranges_requested(&stack, &sid);
    assert!(
        ranges
            .iter()
            .any(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")),
        "no range request from the middle: {ranges:?}"
    );
    assert_eq!(
        play_requests(&stack, &sid) - before,
        1,
        "one play request for the click; the rest are the audio element's"
    );
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

async fn a_cold_call_shows_its_progress_then_plays_by_itself(engine: Engine) {
    let stack = Stack::start().await;
    let sid = listed(&stack, 1);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                latency_ms: 3_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    record_states(&browser, &sid).await;
    click_play(&browser, &sid).await;
    // The screenshots show the state on screen when taken (for the docs);
    // the verdict is what the row showed.
    browser.screenshot(&screenshot_path("requesting")).await;
    wait_shown(&browser, &sid, &["requesting"], UI).await;
    wait_shown(&browser, &sid, &["preparing", "queued"], UI).await;
    browser.screenshot(&screenshot_path("preparing")).await;
    let announced: Vec<String> = serde_json::from_value(
        browser
            .execute("return window.__announced", json!([]))
            .await,
    )
    .unwrap_or_default();
    assert!(
        announced
            .iter()
            .any(|a| a.contains("preparing") || a.contains("queued")),
        "{announced:?}"
    );
    // Each change of state is announced once, not each tick of its clock.
    let mut distinct = announced.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        announced.len(),
        "a state announced twice: {announced:?}"
    );
    wait_state(&browser, &sid, &["playing"], UI).await;
    wait_audio_past(&browser, &sid, 0.2).await;
    stack.log_barrier().await;
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
    // Polls are not clicks: one play request (the click), every poll a plain status read.
    assert_eq!(
        play_requests(&stack, &sid),
        1,
        "play requests with the marker"
    );
    let (polls, marked) = status_polls_since(&stack, &sid, 0);
    assert!(polls >= 1, "the row polled /status");
    assert_eq!(marked, 0, "a poll carried X-User-Action");
    // The media element loads the recording after a poll said ready, long
    // after the click: its requests carry no user-action marker at all.
    let (media, media_marked) = media_requests(&stack, &sid);
    assert!(media >= 1, "the audio element loaded the recording");
    assert_eq!(
        media_marked, 0,
        "an audio element request carried the user-action marker"
    );
}

/// Stream requests for a call other than the row's play request (the
/// media element's): (all, those that carried a user-action marker).
fn media_requests(stack: &Stack, sid: &str) -> (usize, usize) {
    let media: Vec<serde_json::Value> =
        requests_since(stack, &format!("/api/recordings/{sid}/stream"), 0)
            .into_iter()
            .filter(|v| v["user_action_header"] != true)
            .collect();
    let marked = media.iter().filter(|v| v["user_action"] == true).count();
    (media.len(), marked)
}

async fn an_empty_recording_shows_that_it_is_empty(engine: Engine) {
    let stack = Stack::start().await;
    let sid = listed(&stack, 2);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                empty_body: true,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    click_play(&browser, &sid).await;
    let text = wait_state(&browser, &sid, &["empty"], UI).await;
    assert!(!text.contains("unexpected"), "{text}");
    browser.screenshot(&screenshot_path("empty")).await;
    assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
}

async fn a_call_waiting_for_a_slot_shows_its_place_in_the_queue(engine: Engine) {
    let stack = Stack::start_with(
        Knobs::default(),
        EdgeOptions::default().var("SLOTS_PER_BUSINESS", 1),
    )
    .await;
    let (busy, waiting) = (listed(&stack, 1), listed(&stack, 2));
    // The busy call holds the only slot far longer than the two clicks and
    // their held requests take on any machine.
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            busy.clone(),
            FaultSet {
                latency_ms: 12_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    record_states(&browser, &busy).await;
    record_states(&browser, &waiting).await;
    click_play(&browser, &busy).await;
    wait_shown(&browser, &busy, &["preparing"], UI).await;
    click_play(&browser, &waiting).await;
    wait_shown(&browser, &waiting, &["queued (0 ahead)"], UI).await;
    browser.screenshot(&screenshot_path("queued")).await;
    browser.audit_both_widths("row-queued").await;
    // Both calls play by themselves once downloaded (the first when its
    // download ends, the waiting one when the freed slot has downloaded it),
    // each handed to the bar's audio element when its row's poll sees it
    // ready, in whichever order the polls come; the later one takes the bar
    // and the earlier one's row goes back to idle: one plays at a time.
    let handed = |sid: &str| {
        requests_since(&stack, &format!("/api/recordings/{sid}/stream"), 0)
            .iter()
            .filter(|v| v["user_action"] == false)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while handed(&busy) == 0 || handed(&waiting) == 0 {
        assert!(
            Instant::now() < deadline,
            "both calls never reached the audio element"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (state_busy, state_waiting) = loop {
        let states = (
            state_text(&browser, &busy).await,
            state_text(&browser, &waiting).await,
        );
        let one_plays = |s: &str| s == "playing" || s == "paused";
        if (one_plays(&states.0) && states.1.is_empty())
            || (one_plays(&states.1) && states.0.is_empty())
        {
            break states;
        }
        assert!(
            Instant::now() < deadline,
            "not one call playing and the other idle: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    let in_bar = if state_busy.is_empty() { 2 } else { 1 };
    let title = browser
        .text(&browser.wait_for("#bar-title", UI).await)
        .await;
    let from = stack
        .origin
        .stub
        .catalog()
        .listed_calls("acme")
        .nth(in_bar)
        .unwrap()
        .summary
        .from
        .clone();
    assert!(
        title.contains(&from),
        "the bar shows the call that plays ({state_busy:?}, {state_waiting:?}): {title}"
    );
}

async fn a_double_click_and_a_burst_send_one_play_request_each(engine: Engine) {
    let stack = Stack::start().await;
    let (a, b) = (listed(&stack, 2), listed(&stack, 3));
    for sid in [&a, &b] {
        stack.cache("acme", sid).await;
    }
    let before = (play_requests(&stack, &a), play_requests(&stack, &b));
    let browser = signed_in(engine, &stack).await;
    let button = browser
        .wait_for(&format!("{} button.play", row(&a)), UI)
        .await;
    browser.click(&button).await;
    browser.click(&button).await;
    let button_b = browser
        .wait_for(&format!("{} button.play", row(&b)), UI)
        .await;
    for _ in 0..10 {
        browser.click(&button_b).await;
    }
    // Only one recording plays at a time: b took the bar from a, whose
    // row is back to idle.
    wait_state(&browser, &b, &["playing", "paused"], UI).await;
    assert_eq!(state_text(&browser, &a).await, "");
    let a_button = browser
        .find(&format!("{} button.play", row(&a)))
        .await
        .unwrap();
    assert_eq!(browser.text(&a_button).await, "Play");
    browser
        .screenshot(&screenshot_path("one-plays-at-a-time"))
        .await;
    stack.log_barrier().await;
    assert_eq!(
        play_requests(&stack, &a) - before.0,
        1,
        "a double click sent more than one play request"
    );
    let b_text = state_text(&browser, &b).await;
    assert_eq!(
        play_requests(&stack, &b) - before.1,
        1,
        "a 10-click burst sent more than one play request (the row shows {b_text:?}); the worker saw for it:\n{}",
        request_lines(&stack, &b)
    );
}

/// A double click where the first click's answer comes back at once (a
/// call without a recording: the row shows so and its Play may ask
/// again): the second click, inside `DEBOUNCE_MS`, asks nothing. Without
/// the debounce it is a second play request (the phase no longer holds
/// it back). The gap between the two trusted clicks is the page's own
/// (event time stamps); a pair whose gap a stalled machine stretched past
/// the debounce proves nothing either way, and the next call is tried.
async fn a_double_click_whose_first_answer_came_asks_once(engine: Engine) {
    let stack = Stack::start().await;
    let sids: Vec<String> = (4..7).map(|n| listed(&stack, n)).collect();
    stack.origin.stub.set_knobs(Knobs {
        calls: sids
            .iter()
            .map(|sid| {
                (
                    sid.clone(),
                    FaultSet {
                        not_ready_secs: 3600,
                        ..Default::default()
                    },
                )
            })
            .collect(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    browser
        .execute(
            "window.__clicks = [];
             document.addEventListener('click', e => { if (e.isTrusted) window.__clicks.push(e.timeStamp); }, true);",
            json!([]),
        )
        .await;
    for sid in &sids {
        let button = browser
            .wait_for(&format!("{} button.play", row(sid)), UI)
            .await;
        browser.execute("window.__clicks = []", json!([])).await;
        browser.click(&button).await;
        wait_state(&browser, sid, &["no recording for this call"], UI).await;
        browser.click(&button).await;
        let gap = browser
            .execute("return window.__clicks[1] - window.__clicks[0]", json!([]))
            .await
            .as_f64()
            .unwrap();
        stack.log_barrier().await;
        let asked = play_requests(&stack, sid);
        if gap < (playback_core::player::DEBOUNCE_MS - 50) as f64 {
            assert_eq!(
                asked,
                1,
                "{}: the second click, {gap:.0} ms after the first, asked again",
                engine.name()
            );
            return;
        }
        eprintln!(
            "{}: the clicks came {gap:.0} ms apart; trying the next call",
            engine.name()
        );
        assert!(asked <= 2);
    }
    eprintln!("no pair of clicks came within the debounce on this machine");
}

/// The worker's request lines for a call, to say what happened when a test fails.
fn request_lines(stack: &Stack, sid: &str) -> String {
    stack
        .edge
        .log()
        .lines()
        .filter(|l| l.contains(sid))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn an_untrusted_click_sends_nothing(engine: Engine) {
    let stack = Stack::start().await;
    let sid = listed(&stack, 0);
    let browser = signed_in(engine, &stack).await;
    browser
        .execute(
            "document.querySelector(arguments[0]).click()",
            json!([format!("{} button.play", row(&sid))]),
        )
        .await;
    browser.execute("document.querySelector(arguments[0]).dispatchEvent(new MouseEvent('click', {bubbles: true}))", json!([format!("{} button.play", row(&sid))])).await;
    // Leptos has handled both clicks once the DOM settles; the row stays idle.
    browser
        .wait_until(
            "return new Promise(r => requestAnimationFrame(() => r(true)))",
            UI,
        )
        .await;
    assert_eq!(state_text(&browser, &sid).await, "");
    assert_eq!(play_requests(&stack, &sid), 0);
    assert_eq!(stack.origin.stats().total_attempts(), 0);
}

async fn reloading_while_preparing_sends_nothing_until_the_next_click(engine: Engine) {
    let stack = Stack::start().await;
    let sid = listed(&stack, 1);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                latency_ms: 4_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    record_states(&browser, &sid).await;
    click_play(&browser, &sid).await;
    wait_shown(&browser, &sid, &["preparing", "queued"], UI).await;
    browser.goto(&stack.url("/")).await;
    browser.wait_for("#calls tbody tr", UI).await;
    let reloaded_at = now_ms();
    stack.wait_status("acme", &sid, "ready", UI).await;
    // Time for several polls has passed: the reloaded page sent none.
    assert_eq!(
        play_requests_since(&stack, &sid, reloaded_at),
        0,
        "the reloaded page asked without a click"
    );
    assert_eq!(state_text(&browser, &sid).await, "");
    click_play(&browser, &sid).await;
    wait_state(&browser, &sid, &["playing"], UI).await;
    stack.log_barrier().await;
    assert_eq!(play_requests_since(&stack, &sid, reloaded_at), 1);
}

async fn leaving_the_page_stops_the_polling(engine: Engine) {
    let stack = Stack::start().await;
    let sid = listed(&stack, 1);
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                latency_ms: 5_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    record_states(&browser, &sid).await;
    click_play(&browser, &sid).await;
    wait_shown(&browser, &sid, &["preparing", "queued"], UI).await;
    browser.goto("about:blank").await;
    let left_at = now_ms();
    // Wait on the origin, not on /status: the test's own status reads would count as polls.
    let deadline = Instant::now() + UI;
    while stack.origin.stats().call(&sid).completed == 0 {
        assert!(Instant::now() < deadline, "the download never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(play_requests(&stack, &sid) >= 1);
    assert_eq!(
        play_requests_since(&stack, &sid, left_at),
        0,
        "the page sent a play request after it was left"
    );
    assert_eq!(
        status_polls_since(&stack, &sid, left_at).0,
        0,
        "the page polled after it was left"
    );
}

async fn a_failing_origin_shows_the_error_and_when_to_retry(engine: Engine) {
    let options = EdgeOptions::default()
        .var("MAX_ATTEMPTS", 2)
        .var("FAILED_COOLDOWN_MS", 45_000);
    let stack = Stack::start_with(Knobs::default(), options).await;
    let sid = listed(&stack, 0);
    let missing = listed(&stack, 5);
    stack.origin.stub.set_knobs(Knobs {
        calls: [
            (
                sid.clone(),
                FaultSet {
                    fail_first: 100,
                    ..Default::default()
                },
            ),
            (
                missing.clone(),
                FaultSet {
                    not_ready_secs: 3600,
                    ..Default::default()
                },
            ),
        ]
        .into(),
        ..Default::default()
    });
    let browser = signed_in(engine, &stack).await;
    click_play(&browser, &sid).await;
    let text = wait_state(&browser, &sid, &["failed"], UI).await;
    assert!(
        text.contains("the recording store is unavailable") && text.contains("retry in"),
        "{text}"
    );
    let disabled = browser
        .execute(
            "return document.querySelector(arguments[0]).getAttribute('aria-disabled')",
            json!([format!("{} button.play", row(&sid))]),
        )
        .await;
    assert_eq!(disabled, "true");
    click_play(&browser, &missing).await;
    wait_state(&browser, &missing, &["no recording for this call"], UI).await;
    browser
        .screenshot(&screenshot_path("failed-and-not-found"))
        .await;
    browser
        .audit_both_widths("rows-failed-and-no-recording")
        .await;
}

async fn signed_out_shows_the_sign_in_state(engine: Engine) {
    let stack = Stack::start().await;
    let browser = Browser::start_in(engine).await;
    browser.goto(&stack.url("/")).await;
    browser.wait_for("#sign-in", UI).await;
    browser.screenshot(&screenshot_path("signed-out")).await;
}

/// A call of acme whose Twilio recordings have `shape`.
fn twilio_call(stack: &Stack, shape: backend_stub::twilio::Shape) -> String {
    backend_stub::twilio::call_of_shape(stack.origin.stub.catalog(), "acme", shape)
        .expect("a call of that shape")
        .summary
        .call_sid
        .to_string()
}

/// With Twilio: a recording the provider still processes says so in its
/// row and plays by itself once Twilio is done, from one click.
async fn with_twilio_a_recording_still_processing_says_so_then_plays_by_itself(engine: Engine) {
    let knobs = Knobs {
        processing_secs: 4,
        ..Knobs::default()
    };
    let stack = Stack::start_twilio(knobs, EdgeOptions::default()).await;
    let sid = twilio_call(&stack, backend_stub::twilio::Shape::Processing);
    let browser = signed_in(engine, &stack).await;
    record_states(&browser, &sid).await;
    click_play(&browser, &sid).await;
    wait_shown(
        &browser,
        &sid,
        &["the provider is still processing this recording"],
        UI,
    )
    .await;
    wait_state(&browser, &sid, &["playing"], UI).await;
    wait_audio_past(&browser, &sid, 0.2).await;
    stack.log_barrier().await;
    assert_eq!(
        play_requests(&stack, &sid),
        1,
        "one click, one play request"
    );
    let (polls, marked) = status_polls_since(&stack, &sid, 0);
    assert!(polls >= 1, "the row polled /status");
    assert_eq!(marked, 0, "a poll carried X-User-Action");
    let media = backend_stub::twilio::recording_sid(&sid, 0);
    assert_eq!(stack.origin.stats().call(&media).attempts, 1);
}

/// With Twilio: a call without a recording to play says so, and a second
/// click asks nothing of Twilio's media.
async fn with_twilio_a_call_without_a_recording_says_so(engine: Engine) {
    let stack = Stack::start_twilio(Knobs::default(), EdgeOptions::default()).await;
    let sid = twilio_call(&stack, backend_stub::twilio::Shape::NoRecording);
    let browser = signed_in(engine, &stack).await;
    click_play(&browser, &sid).await;
    wait_state(&browser, &sid, &["no recording for this call"], UI).await;
    let stats = stack.origin.stats();
    assert_eq!(stats.recording_lists.get(&sid).copied(), Some(1));
    assert_eq!(stats.total_attempts(), 0, "no media asked for");
}

integration_tests::in_each_browser!(
    a_double_click_whose_first_answer_came_asks_once,
    a_cached_call_plays_and_seeks_with_a_range_request,
    a_cold_call_shows_its_progress_then_plays_by_itself,
    an_empty_recording_shows_that_it_is_empty,
    a_call_waiting_for_a_slot_shows_its_place_in_the_queue,
    a_double_click_and_a_burst_send_one_play_request_each,
    an_untrusted_click_sends_nothing,
    reloading_while_preparing_sends_nothing_until_the_next_click,
    leaving_the_page_stops_the_polling,
    a_failing_origin_shows_the_error_and_when_to_retry,
    signed_out_shows_the_sign_in_state,
    with_twilio_a_recording_still_processing_says_so_then_plays_by_itself,
    with_twilio_a_call_without_a_recording_says_so,
);
