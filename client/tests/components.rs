//! The row component in headless Chromium (wasm-bindgen-test): it renders
//! its states (busy and empty among them, calm rather than alarming),
//! ignores untrusted clicks, and announces state changes. The requests of
//! `client::api` are checked against a stubbed `window.fetch`: the probe
//! carries the user action, a status poll never does, and 416/429/status
//! bodies read as the row's answers.

use client::api;
use js_sys::{Array, Object, Reflect};
use leptos::prelude::*;
use playback_core::bar::{Moment, RecordingRef};
use playback_core::player::{
    BusyReason, Phase, ProbeAnswer, Progress, RowModel, Stage, StatusAnswer,
};
use playback_core::wire::{CallSummary, ErrorBody, StatusBody, WireStatus};
use playback_core::CallSid;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SID: &str = "CA0123456789abcdef0123456789abcdef";

/// The test call's first recording.
fn first() -> RecordingRef {
    RecordingRef::first(CallSid::parse(SID).unwrap())
}

fn call() -> CallSummary {
    CallSummary {
        call_sid: CallSid::parse(SID).unwrap(),
        started_at: "2026-11-02T08:00:00Z".into(),
        duration_s: 75,
        from: "+15550000001".into(),
        to: "+15550000002".into(),
    }
}

/// A wire type as the edge writes it: the bodies below are the edge's own.
fn json<T: serde::Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap()
}

fn status_body(status: WireStatus, with: impl FnOnce(&mut StatusBody)) -> String {
    let mut body = StatusBody::new(status, &CallSid::parse(SID).unwrap());
    with(&mut body);
    json(&body)
}

fn error_body(error: &str, retry_after_ms: Option<u64>) -> String {
    json(&ErrorBody {
        retry_after_ms,
        ..ErrorBody::new(error)
    })
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Mounts one row (in a table, with a live region) into a fresh container.
fn mount_row(initial: Option<RowModel>) -> (web_sys::HtmlElement, RwSignal<String>) {
    let (container, announcement, _) = mount_with_bar(initial);
    (container, announcement)
}

/// Mounts one row and the player bar they share into a fresh container.
fn mount_with_bar(
    initial: Option<RowModel>,
) -> (web_sys::HtmlElement, RwSignal<String>, client::Player) {
    let container: web_sys::HtmlElement =
        document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&container).unwrap();
    let announcement = RwSignal::new(String::new());
    let player = std::rc::Rc::new(std::cell::Cell::new(None));
    let out = player.clone();
    let handle = leptos::mount::mount_to(container.clone(), move || {
        let p = client::Player::new();
        provide_context(p);
        out.set(Some(p));
        let initial = initial.clone();
        view! {
            <table><tbody><client::CallRow call=call() announcement initial=initial.unwrap_or_default()/></tbody></table>
            <client::PlayerBar/>
        }
    });
    handle.forget();
    (container, announcement, player.get().unwrap())
}

fn text_of(container: &web_sys::HtmlElement, selector: &str) -> String {
    container
        .query_selector(selector)
        .unwrap()
        .map(|e| e.text_content().unwrap_or_default())
        .unwrap_or_default()
}

async fn settle() {
    // Leptos updates the DOM after the handler returns; one animation frame later it is there.
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .request_animation_frame(&resolve)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_row_renders_the_call_and_an_idle_play_button() {
    let (c, _) = mount_row(None);
    assert!(text_of(&c, "tr").contains("+15550000001"));
    assert!(text_of(&c, "tr").contains("1:15"));
    assert_eq!(text_of(&c, "button.play"), "Play");
    assert_eq!(text_of(&c, ".state"), "");
}

#[wasm_bindgen_test]
async fn a_row_renders_each_state() {
    let far = u64::MAX / 2;
    let cases = [
        (
            Phase::Waiting {
                since_ms: 0,
                attempt: 1,
                delay_ms: 500,
                progress: Some(Progress {
                    stage: Stage::Queued,
                    queue_position: Some(2),
                }),
            },
            "queued (2 ahead)",
            "Preparing…",
        ),
        (
            Phase::Waiting {
                since_ms: 0,
                attempt: 1,
                delay_ms: 500,
                progress: Some(Progress {
                    stage: Stage::Preparing,
                    queue_position: None,
                }),
            },
            "preparing",
            "Preparing…",
        ),
        (Phase::Playing, "playing", "Pause"),
        (Phase::Paused, "paused", "Play"),
        (
            Phase::Failed {
                error: "origin answered 500".into(),
                retry_at_ms: far,
            },
            "failed: origin answered 500 · retry in",
            "Retry",
        ),
        (
            Phase::Polling {
                since_ms: 0,
                attempt: 2,
                progress: Some(Progress {
                    stage: Stage::Queued,
                    queue_position: Some(1),
                }),
            },
            "queued (1 ahead)",
            "Preparing…",
        ),
        (
            Phase::Busy {
                reason: BusyReason::RateLimited,
                retry_at_ms: far,
            },
            "busy: too many new recordings at once · retry in",
            "Retry",
        ),
        (
            Phase::Busy {
                reason: BusyReason::QueueFull,
                retry_at_ms: far,
            },
            "busy: too many recordings waiting to be prepared · retry in",
            "Retry",
        ),
        (Phase::Empty, "this recording is empty", "Play"),
        (Phase::GaveUp, "still preparing, try again", "Try again"),
        (
            Phase::NoDownload,
            "not being prepared, try again",
            "Try again",
        ),
        (Phase::NotFound, "no recording for this call", "Play"),
        (Phase::SignedOut, "sign in", "Play"),
    ];
    for (phase, text, label) in cases {
        let (c, _) = mount_row(Some(RowModel {
            phase: phase.clone(),
            last_click_ms: None,
        }));
        assert!(
            text_of(&c, ".state").contains(text),
            "{phase:?}: {:?}",
            text_of(&c, ".state")
        );
        assert_eq!(text_of(&c, "button.play"), label, "{phase:?}");
    }
}

#[wasm_bindgen_test]
async fn an_untrusted_click_sends_nothing_and_changes_nothing() {
    let (c, announcement) = mount_row(None);
    let button: web_sys::HtmlElement = c
        .query_selector("button.play")
        .unwrap()
        .unwrap()
        .unchecked_into();
    button.click();
    button.click();
    settle().await;
    assert_eq!(
        text_of(&c, ".state"),
        "",
        "a script's click started a request"
    );
    assert_eq!(announcement.get_untracked(), "");
}

#[wasm_bindgen_test]
async fn the_live_region_announces_a_state_change() {
    let (c, announcement, player) = mount_with_bar(Some(RowModel {
        phase: Phase::Playing,
        last_click_ms: None,
    }));
    settle().await;
    assert_eq!(announcement.get_untracked(), "playing");
    // The media element's pause reaches the loader the row shares with the
    // bar; the row says so, and so does the bar.
    player.held.set(Some(first()));
    player
        .current()
        .unwrap()
        .dispatch(playback_core::player::RowEvent::AudioPaused);
    settle().await;
    assert_eq!(text_of(&c, ".state"), "paused");
    assert_eq!(announcement.get_untracked(), "paused");
    assert_eq!(text_of(&c, "#bar-state"), "paused");
    assert_eq!(text_of(&c, "#bar-play"), "Play");
}

fn attribute(container: &web_sys::HtmlElement, selector: &str, name: &str) -> Option<String> {
    container
        .query_selector(selector)
        .unwrap()
        .and_then(|e| e.get_attribute(name))
}

fn has_class(container: &web_sys::HtmlElement, selector: &str, class: &str) -> bool {
    container
        .query_selector(selector)
        .unwrap()
        .is_some_and(|e| e.class_list().contains(class))
}

#[wasm_bindgen_test]
async fn a_busy_row_is_calm_and_its_retry_opens_at_the_edges_time() {
    let (c, announcement) = mount_row(Some(RowModel {
        phase: Phase::Busy {
            reason: BusyReason::RateLimited,
            retry_at_ms: js_sys::Date::now() as u64 + 30_000,
        },
        last_click_ms: None,
    }));
    settle().await;
    let state = text_of(&c, ".state");
    assert!(
        state.starts_with("busy: too many new recordings at once · retry in "),
        "{state:?}"
    );
    assert!(!has_class(&c, ".state", "error"), "a 429 is not an error");
    assert_eq!(text_of(&c, "button.play"), "Retry");
    assert_eq!(
        attribute(&c, "button.play", "aria-disabled").as_deref(),
        Some("true")
    );
    assert_eq!(
        announcement.get_untracked(),
        "busy: too many new recordings at once"
    );
    assert_eq!(attribute(&c, "button.stop", "hidden").as_deref(), Some(""));

    // Once its time has come, the Retry button is enabled.
    let (c, _) = mount_row(Some(RowModel {
        phase: Phase::Busy {
            reason: BusyReason::QueueFull,
            retry_at_ms: 1,
        },
        last_click_ms: None,
    }));
    assert_eq!(
        text_of(&c, ".state"),
        "busy: too many recordings waiting to be prepared · you can retry now"
    );
    assert_eq!(
        attribute(&c, "button.play", "aria-disabled").as_deref(),
        Some("false")
    );
}

#[wasm_bindgen_test]
async fn an_empty_recording_says_so_without_an_error_or_a_player() {
    let (c, announcement) = mount_row(Some(RowModel {
        phase: Phase::Empty,
        last_click_ms: None,
    }));
    settle().await;
    assert_eq!(text_of(&c, ".state"), "this recording is empty");
    assert!(!has_class(&c, ".state", "error"));
    assert!(!text_of(&c, ".state").contains("unexpected"));
    assert_eq!(text_of(&c, "button.play"), "Play");
    assert_eq!(
        attribute(&c, "button.play", "aria-disabled").as_deref(),
        Some("false")
    );
    assert_eq!(
        attribute(&c, "#player", "hidden").as_deref(),
        Some(""),
        "no bar before a play"
    );
    assert_eq!(announcement.get_untracked(), "this recording is empty");
    // A script's click on it changes nothing.
    let button: web_sys::HtmlElement = c
        .query_selector("button.play")
        .unwrap()
        .unwrap()
        .unchecked_into();
    button.click();
    settle().await;
    assert_eq!(text_of(&c, ".state"), "this recording is empty");
}

/// What a stubbed `fetch` saw of one request.
struct Seen {
    /// The path, without the query.
    url: String,
    /// The query, `?` included (as `gloo-net` sends it: with a `&` after it).
    query: String,
    user_action: Option<String>,
    range: Option<String>,
}

/// Replaces `window.fetch` for the length of `run` with one that records
/// each request and answers `status`, `headers` and `body`.
async fn with_fetch<T, F: std::future::Future<Output = T>>(
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    run: impl FnOnce() -> F,
) -> (T, Vec<Seen>) {
    let window = web_sys::window().unwrap();
    let original = Reflect::get(&window, &"fetch".into()).unwrap();
    let seen = Array::new();
    let answer_headers = Object::new();
    for (name, value) in headers {
        Reflect::set(&answer_headers, &(*name).into(), &(*value).into()).unwrap();
    }
    let make = js_sys::Function::new_with_args(
        "seen, status, headers, body",
        "return function (input, init) {
            const req = new Request(input, init);
            const h = req.headers;
            const url = new URL(req.url);
            seen.push([url.pathname, h.get('X-User-Action'), h.get('Range'), url.search]);
            return Promise.resolve(new Response(body, { status, headers }));
        };",
    );
    let args = Array::of4(&seen, &JsValue::from(status), &answer_headers, &body.into());
    let stub = make.apply(&JsValue::NULL, &args).unwrap();
    Reflect::set(&window, &"fetch".into(), &stub).unwrap();
    let result = run().await;
    Reflect::set(&window, &"fetch".into(), &original).unwrap();
    let seen = seen
        .iter()
        .map(|entry| {
            let entry: Array = entry.unchecked_into();
            Seen {
                url: entry.get(0).as_string().unwrap(),
                query: entry.get(3).as_string().unwrap_or_default(),
                user_action: entry.get(1).as_string(),
                range: entry.get(2).as_string(),
            }
        })
        .collect();
    (result, seen)
}

fn signal() -> web_sys::AbortSignal {
    web_sys::AbortController::new().unwrap().signal()
}

#[wasm_bindgen_test]
async fn a_status_poll_carries_no_user_action_and_the_probe_does() {
    let body = status_body(WireStatus::Queued, |b| {
        b.queue_position = Some(3);
        b.retry_after_ms = Some(700);
    });
    let (answer, seen) = with_fetch(
        200,
        &[("Content-Type", "application/json")],
        &body,
        || async { api::status(&first(), &signal()).await },
    )
    .await;
    assert_eq!(
        answer,
        StatusAnswer::Pending {
            stage: Stage::Queued,
            queue_position: Some(3),
            retry_after_ms: Some(700)
        }
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].url, format!("/api/recordings/{SID}/status"));
    assert_eq!(seen[0].user_action, None);
    assert_eq!(seen[0].range, None);

    let (_, seen) = with_fetch(206, &[("Content-Range", "bytes 0-0/44")], "R", || async {
        api::probe(&first(), &signal()).await
    })
    .await;
    assert_eq!(seen[0].url, format!("/api/recordings/{SID}/stream"));
    assert_eq!(seen[0].user_action.as_deref(), Some("play"));
    assert_eq!(seen[0].range.as_deref(), Some("bytes=0-0"));
}

#[wasm_bindgen_test]
async fn status_bodies_read_as_the_rows_answers() {
    let cases = [
        (
            status_body(WireStatus::Ready, |b| b.size = Some(0)),
            StatusAnswer::Ready { size: Some(0) },
        ),
        (
            status_body(WireStatus::Ready, |b| b.size = Some(44)),
            StatusAnswer::Ready { size: Some(44) },
        ),
        (
            status_body(WireStatus::None, |_| {}),
            StatusAnswer::NoDownload,
        ),
        (
            status_body(WireStatus::Failed, |b| {
                b.error = Some("origin answered 500".into());
                b.retry_after_ms = Some(60_000);
            }),
            StatusAnswer::Failed {
                error: "origin answered 500".into(),
                retry_after_ms: 60_000,
            },
        ),
        (
            status_body(WireStatus::NotFound, |_| {}),
            StatusAnswer::NotFound,
        ),
        ("not json".to_owned(), StatusAnswer::Unexpected(200)),
    ];
    for (body, expected) in cases {
        let (answer, _) = with_fetch(200, &[], &body, || async {
            api::status(&first(), &signal()).await
        })
        .await;
        assert_eq!(answer, expected, "{body}");
    }
    let (answer, _) = with_fetch(401, &[], &error_body("unauthorized", None), || async {
        api::status(&first(), &signal()).await
    })
    .await;
    assert_eq!(answer, StatusAnswer::Unauthorized);
}

#[wasm_bindgen_test]
async fn a_probe_reads_an_empty_recording_and_a_429() {
    let probe = |status, headers: &'static [(&'static str, &'static str)], body: String| async move {
        with_fetch(status, headers, &body, || async {
            api::probe(&first(), &signal()).await
        })
        .await
    };
    assert_eq!(
        probe(416, &[("Content-Range", "bytes */0")], String::new())
            .await
            .0,
        ProbeAnswer::Empty
    );
    assert_eq!(
        probe(200, &[("Content-Length", "0")], String::new())
            .await
            .0,
        ProbeAnswer::Empty
    );
    assert_eq!(
        probe(416, &[("Content-Range", "bytes */44")], String::new())
            .await
            .0,
        ProbeAnswer::Unexpected(416)
    );
    // The JSON's retry_after_ms wins over the header's whole seconds.
    assert_eq!(
        probe(
            429,
            &[("Retry-After", "3")],
            error_body("queue_full", Some(2500))
        )
        .await
        .0,
        ProbeAnswer::Busy {
            reason: BusyReason::QueueFull,
            retry_after_ms: Some(2500)
        }
    );
    assert_eq!(
        probe(
            429,
            &[("Retry-After", "3")],
            error_body("rate_limited", None)
        )
        .await
        .0,
        ProbeAnswer::Busy {
            reason: BusyReason::RateLimited,
            retry_after_ms: Some(3000)
        }
    );
}

/// Waits (up to 100 frames) until `done` holds.
async fn settle_until(done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        settle().await;
    }
    panic!("the page never settled");
}

fn list_body() -> String {
    let other = CallSummary {
        call_sid: CallSid::parse("CA00000000000000000000000000000001").unwrap(),
        started_at: "2026-11-02T07:00:00Z".into(),
        duration_s: 5,
        from: "+15550000003".into(),
        to: "+15550000002".into(),
    };
    json(&vec![call(), other])
}

#[wasm_bindgen_test]
async fn a_list_page_reads_its_calls_and_only_the_edges_next_link() {
    let link = [
        ("Link", "</api/calls?limit=100&cursor=o100>; rel=\"next\""),
        ("X-Search-Note", "searched the newest 2000 calls so far"),
    ];
    let (page, seen) = with_fetch(200, &link, &list_body(), || async {
        api::fetch_page("/api/calls?limit=100", &signal()).await
    })
    .await;
    let page = page.expect("a page");
    assert_eq!(page.calls.len(), 2);
    assert_eq!(
        page.next.as_deref(),
        Some("/api/calls?limit=100&cursor=o100")
    );
    assert_eq!(
        page.note.as_deref(),
        Some("searched the newest 2000 calls so far")
    );
    assert_eq!(seen[0].url, "/api/calls");
    assert_eq!(seen[0].user_action, None, "listing is never a play");
    let elsewhere = [(
        "Link",
        "<https://elsewhere.example/api/calls?cursor=x>; rel=\"next\"",
    )];
    let (page, _) = with_fetch(200, &elsewhere, &list_body(), || async {
        api::fetch_page("/api/calls?limit=100", &signal()).await
    })
    .await;
    assert_eq!(page.expect("a page").next, None);
    let (page, _) = with_fetch(401, &[], "{}", || async {
        api::fetch_page("/api/calls?limit=100", &signal()).await
    })
    .await;
    assert_eq!(page.err(), Some(api::CallsError::SignedOut));
}

/// Mounts the call list into a fresh container.
fn mount_list() -> web_sys::HtmlElement {
    let container: web_sys::HtmlElement =
        document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&container).unwrap();
    let announcement = RwSignal::new(String::new());
    let handle = leptos::mount::mount_to(container.clone(), move || {
        view! { <client::CallList announcement/> }
    });
    std::mem::forget(handle);
    container
}

#[wasm_bindgen_test]
async fn the_list_shows_its_page_and_its_search_takes_only_numbers() {
    // The last page (no Link): every call shown, nothing more to load.
    let (c, seen) = with_fetch(200, &[], &list_body(), || async {
        let c = mount_list();
        settle_until(|| text_of(&c, "#list-status") == "All 2 calls shown").await;
        c
    })
    .await;
    assert_eq!(seen.len(), 1, "one request: the first page");
    let row = |n: usize| {
        c.query_selector(&format!("#calls tbody tr:nth-child({n})"))
            .unwrap()
            .is_some()
    };
    assert!(row(2) && !row(3), "two rows");
    assert!(attribute(&c, "#load-more", "hidden").is_some());
    let search: web_sys::HtmlInputElement = c
        .query_selector("input[type=search]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    assert_eq!(
        search.get_attribute("aria-label").as_deref(),
        Some("Search by number")
    );
    // Letters are not a number: said at once, and nothing is asked.
    let (_, seen) = with_fetch(200, &[], "[]", || async {
        search.set_value("abc");
        search
            .dispatch_event(&web_sys::Event::new("input").unwrap())
            .unwrap();
        settle_until(|| text_of(&c, ".problem").contains("digits")).await;
    })
    .await;
    assert!(seen.is_empty());
}

#[wasm_bindgen_test]
async fn a_list_without_a_session_shows_the_sign_in() {
    let (c, _) = with_fetch(401, &[], "{}", || async {
        let c = mount_list();
        settle_until(|| c.query_selector("#sign-in").unwrap().is_some()).await;
        c
    })
    .await;
    assert!(c.query_selector("#calls tbody tr").unwrap().is_none());
}

fn bar_value(c: &web_sys::HtmlElement, selector: &str) -> String {
    c.query_selector(selector)
        .unwrap()
        .map(|e| {
            Reflect::get(&e, &"value".into())
                .unwrap()
                .as_string()
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn key(target: &web_sys::EventTarget, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn a_link_to_a_moment_shows_the_call_paused_at_t_and_asks_nothing() {
    let ((c, player), seen) = with_fetch(500, &[], "", || async {
        let (c, _, player) = mount_with_bar(None);
        player.show(
            &playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=42")).unwrap(),
        );
        settle().await;
        settle().await;
        (c, player)
    })
    .await;
    // Only the waveform (a read without side effects) may be asked for.
    let urls: Vec<&String> = seen.iter().map(|s| &s.url).collect();
    assert_eq!(
        urls,
        [&format!("/api/recordings/{SID}/peaks")],
        "showing a link asked {urls:?}"
    );
    assert!(
        seen.iter().all(|s| s.user_action.is_none()),
        "a read carried the user action"
    );
    assert_eq!(
        attribute(&c, "#recordings", "hidden").as_deref(),
        Some(""),
        "no picker for a call whose recordings the edge did not count"
    );
    assert_eq!(attribute(&c, "#player", "hidden"), None, "the bar is shown");
    assert_eq!(text_of(&c, "#bar-play"), "Play");
    assert_eq!(text_of(&c, "#elapsed"), "0:42");
    assert_eq!(
        text_of(&c, "#total"),
        "1:15",
        "the call's length from the list"
    );
    assert!(text_of(&c, "#bar-title").contains("+15550000001 → +15550000002"));
    assert_eq!(
        attribute(&c, "#seek", "aria-valuetext").as_deref(),
        Some("0:42 of 1:15")
    );
    assert_eq!(
        attribute(&c, "#seek", "aria-label").as_deref(),
        Some("Position")
    );
    assert_eq!(
        attribute(&c, "#download", "hidden").as_deref(),
        Some(""),
        "no download before a play"
    );
    assert_eq!(player.time.get_untracked(), 42.0);
}

#[wasm_bindgen_test]
async fn the_slider_and_the_skip_buttons_move_the_position() {
    let (c, _, player) = mount_with_bar(None);
    player.show(&playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=30")).unwrap());
    settle().await;
    let seek: web_sys::HtmlInputElement =
        c.query_selector("#seek").unwrap().unwrap().unchecked_into();
    seek.set_value("60");
    seek.dispatch_event(
        &web_sys::Event::new_with_event_init_dict("input", &{
            let i = web_sys::EventInit::new();
            i.set_bubbles(true);
            i
        })
        .unwrap(),
    )
    .unwrap();
    settle().await;
    assert_eq!(text_of(&c, "#elapsed"), "1:00");
    assert_eq!(
        attribute(&c, "#seek", "aria-valuetext").as_deref(),
        Some("1:00 of 1:15")
    );
    let click = |selector: &str| {
        c.query_selector(selector)
            .unwrap()
            .unwrap()
            .unchecked_into::<web_sys::HtmlElement>()
            .click();
    };
    click("[data-act=forward]");
    settle().await;
    assert_eq!(text_of(&c, "#elapsed"), "1:10");
    click("[data-act=forward]");
    settle().await;
    assert_eq!(text_of(&c, "#elapsed"), "1:15", "not past the end");
    for _ in 0..9 {
        click("[data-act=back]");
    }
    settle().await;
    assert_eq!(text_of(&c, "#elapsed"), "0:00", "not before the start");
    assert_eq!(player.time.get_untracked(), 0.0);
}

#[wasm_bindgen_test]
async fn the_keyboard_map_skips_changes_speed_and_lists_itself_but_not_in_a_text_field() {
    let ((c, player), seen) = with_fetch(500, &[], "", || async {
        let (c, _, player) = mount_with_bar(None);
        player.show(
            &playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=30")).unwrap(),
        );
        settle().await;
        let window: web_sys::EventTarget = web_sys::window().unwrap().unchecked_into();
        key(&window, "l");
        key(&window, "ArrowRight");
        settle().await;
        assert_eq!(text_of(&c, "#elapsed"), "0:50");
        key(&window, "j");
        key(&window, "J");
        key(&window, "ArrowLeft");
        settle().await;
        assert_eq!(text_of(&c, "#elapsed"), "0:20");
        key(&window, ">");
        settle().await;
        assert_eq!(bar_value(&c, "#speed"), "1.25");
        key(&window, "<");
        key(&window, "<");
        key(&window, "<");
        settle().await;
        assert_eq!(bar_value(&c, "#speed"), "0.75", "the slowest stays");
        key(&window, "?");
        settle().await;
        assert_eq!(
            attribute(&c, "#shortcuts-dialog", "open").as_deref(),
            Some(""),
            "the shortcuts' dialog is open"
        );
        assert!(text_of(&c, "#shortcuts").contains("Back 10 seconds"));
        key(&window, "Escape");
        settle().await;
        assert_eq!(attribute(&c, "#shortcuts-dialog", "open"), None);
        // In a text field the keys are the field's.
        let input: web_sys::HtmlElement =
            document().create_element("input").unwrap().unchecked_into();
        c.append_child(&input).unwrap();
        key(&input, "l");
        key(&input, ">");
        settle().await;
        assert_eq!(text_of(&c, "#elapsed"), "0:20");
        assert_eq!(bar_value(&c, "#speed"), "0.75");
        // A script's Space is no click: nothing is asked.
        key(&window, " ");
        key(&window, "k");
        settle().await;
        (c, player)
    })
    .await;
    let asked: Vec<&String> = seen
        .iter()
        .map(|s| &s.url)
        .filter(|u| !u.ends_with("/peaks"))
        .collect();
    assert!(asked.is_empty(), "untrusted keys asked {asked:?}");
    assert_eq!(text_of(&c, "#bar-play"), "Play");
    assert_eq!(player.speed.get_untracked(), 0);
}

#[wasm_bindgen_test]
async fn the_waveform_draws_a_lane_per_channel_and_is_absent_without_peaks() {
    let (c, _, player) = mount_with_bar(None);
    player.show(&playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=0")).unwrap());
    settle().await;
    assert_eq!(
        attribute(&c, "#lanes", "hidden").as_deref(),
        Some(""),
        "no peaks: no waveform"
    );
    assert_eq!(
        attribute(&c, "#seek", "aria-label").as_deref(),
        Some("Position"),
        "the slider is still there"
    );
    player.peaks.set(Some(playback_core::bar::Wave {
        channels: vec![vec![10, 200, 30], vec![250, 0, 90]],
        silences: vec![],
    }));
    settle().await;
    assert_eq!(attribute(&c, "#lanes", "hidden"), None);
    assert_eq!(attribute(&c, "#lanes", "role").as_deref(), Some("img"));
    assert!(attribute(&c, "#lanes", "aria-label")
        .unwrap()
        .starts_with("Waveform"));
    assert_eq!(c.query_selector_all("#lanes svg path").unwrap().length(), 2);
    let labels: Vec<String> = (0..2)
        .map(|i| {
            c.query_selector_all(".lane-label")
                .unwrap()
                .get(i)
                .unwrap()
                .text_content()
                .unwrap()
        })
        .collect();
    assert_eq!(labels, ["Agent", "Customer"]);
}

#[wasm_bindgen_test]
async fn a_peaks_body_reads_as_its_lanes_and_silences_or_not_at_all() {
    use playback_core::peaks::{Coding, Format, Peaks};
    let good = json(&Peaks {
        format: Format {
            coding: Coding::Pcm16,
            channels: 2,
            sample_rate: 8_000,
        },
        frames: 16_000,
        bucket_frames: 80,
        channels: vec![vec![0, 255, 7], vec![9, 0, 1]],
        silences: vec![(12_000, 15_500)],
        complete: true,
    });
    let (answer, seen) = with_fetch(
        200,
        &[("Content-Type", "application/json")],
        &good,
        || async { api::peaks(&first()).await },
    )
    .await;
    assert_eq!(seen[0].url, format!("/api/recordings/{SID}/peaks"));
    assert_eq!(
        answer,
        api::PeaksAnswer::Peaks(playback_core::bar::Wave {
            channels: vec![vec![0, 255, 7], vec![9, 0, 1]],
            silences: vec![(12_000, 15_500)],
        })
    );
    for bad in [
        r#"{"channels":[[0,256]],"silences":[]}"#,
        r#"{"channels":[[0,"x"]],"silences":[]}"#,
        r#"{"channels":[[0,1.5]],"silences":[]}"#,
        r#"{"channels":[[0,1]],"silences":[[1]]}"#,
        r#"{"channels":[[0,1]]}"#,
        r#"[]"#,
    ] {
        let (answer, _) = with_fetch(200, &[], bad, || async { api::peaks(&first()).await }).await;
        assert_eq!(answer, api::PeaksAnswer::None, "{bad}");
    }
    let (answer, _) = with_fetch(404, &[], &error_body("not_ready", None), || async {
        api::peaks(&first()).await
    })
    .await;
    assert_eq!(answer, api::PeaksAnswer::NotReady);
    let (answer, _) = with_fetch(404, &[], &error_body("no_peaks", None), || async {
        api::peaks(&first()).await
    })
    .await;
    assert_eq!(answer, api::PeaksAnswer::None);
}

/// The picker's buttons: each one's accessible name and whether it is pressed.
fn recording_buttons(c: &web_sys::HtmlElement) -> Vec<(String, String)> {
    let list = c.query_selector_all("#recordings button").unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|n| {
            let e: web_sys::Element = n.unchecked_into();
            (
                e.get_attribute("aria-label").unwrap_or_default(),
                e.get_attribute("aria-pressed").unwrap_or_default(),
            )
        })
        .collect()
}

/// A call with several recordings (the status says how many, asked once
/// one plays): the bar offers each by its name, the one it holds pressed.
/// A script's pick changes nothing and asks nothing (only a trusted click
/// picks, and asks as a row's Play does).
#[wasm_bindgen_test]
async fn the_bar_offers_a_calls_recordings_and_a_scripts_pick_does_nothing() {
    let three = status_body(WireStatus::Ready, |b| {
        b.size = Some(1_000);
        b.recordings = Some(3);
    });
    let json_type = [("Content-Type", "application/json")];
    let ((c, player), _) = with_fetch(200, &json_type, &three, || async {
        let (c, _, player) = mount_with_bar(None);
        player.show(&Moment::from_fragment(&format!("#call={SID}&t=0")).unwrap());
        settle().await;
        assert_eq!(
            attribute(&c, "#recordings", "hidden").as_deref(),
            Some(""),
            "no picker before the edge said how many"
        );
        player.recordings.set(Some(3));
        settle().await;
        (c, player)
    })
    .await;
    assert_eq!(
        attribute(&c, "#recordings", "hidden"),
        None,
        "the picker is shown"
    );
    let pressed = |which: [&str; 3]| -> Vec<(String, String)> {
        (1..=3)
            .zip(which)
            .map(|(n, p)| (format!("Recording {n} of 3"), p.to_owned()))
            .collect()
    };
    assert_eq!(recording_buttons(&c), pressed(["true", "false", "false"]));
    assert!(text_of(&c, "#bar-title").ends_with(" · Recording 1 of 3"));
    let second: web_sys::HtmlElement = c
        .query_selector("#recordings button[data-recording='2']")
        .unwrap()
        .unwrap()
        .unchecked_into();
    let ((), seen) = with_fetch(200, &json_type, &three, || async {
        second.click();
        settle().await;
        settle().await;
    })
    .await;
    assert_eq!(recording_buttons(&c), pressed(["true", "false", "false"]));
    assert!(text_of(&c, "#bar-title").ends_with(" · Recording 1 of 3"));
    assert_eq!(
        player.held.get_untracked().map(|h| h.number),
        Some(1),
        "a script's pick moved the bar"
    );
    assert!(
        seen.is_empty(),
        "a script's pick asked {} requests",
        seen.len()
    );
    assert_eq!(text_of(&c, "#bar-play"), "Play", "nothing plays");
}

/// A link to a call's second recording: the bar shows it, and the one
/// read it makes (the waveform) names it.
#[wasm_bindgen_test]
async fn a_link_to_a_calls_second_recording_reads_that_recording() {
    let ((c, player), seen) = with_fetch(500, &[], "", || async {
        let (c, _, player) = mount_with_bar(None);
        player.show(&Moment::from_fragment(&format!("#call={SID}&t=7&recording=2")).unwrap());
        settle().await;
        settle().await;
        (c, player)
    })
    .await;
    let asked: Vec<String> = seen
        .iter()
        .map(|s| format!("{}{}", s.url, s.query.trim_end_matches('&')))
        .collect();
    assert_eq!(
        asked,
        [format!("/api/recordings/{SID}/peaks?recording=2")],
        "only its waveform is asked for"
    );
    assert_eq!(player.held.get_untracked().map(|h| h.number), Some(2));
    assert_eq!(text_of(&c, "#elapsed"), "0:07");
}

/// The "More" menu follows the menu-button pattern: ↓ on the button opens
/// it on the first item, ↑ on the last, the arrows move and wrap, Home and
/// End jump, Escape closes it with the focus back on the button, and an
/// item does its act (a speed, here) and closes it.
#[wasm_bindgen_test]
async fn the_more_menu_opens_moves_closes_and_acts_by_the_keyboard() {
    let (c, _, player) = mount_with_bar(None);
    player.show(&playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=0")).unwrap());
    settle().await;
    let el = |css: &str| -> web_sys::HtmlElement {
        c.query_selector(css).unwrap().unwrap().unchecked_into()
    };
    let focused = || {
        document()
            .active_element()
            .map(|e| {
                e.get_attribute("data-speed")
                    .map(|s| format!("speed {s}"))
                    .unwrap_or_else(|| e.text_content().unwrap_or_default())
            })
            .unwrap_or_default()
    };
    let more = el("#more");
    assert_eq!(
        attribute(&c, "#more", "aria-haspopup").as_deref(),
        Some("menu")
    );
    assert_eq!(
        attribute(&c, "#more", "aria-expanded").as_deref(),
        Some("false")
    );
    assert!(attribute(&c, "#more-menu", "hidden").is_some());
    more.focus().unwrap();
    key(&more, "ArrowDown");
    settle().await;
    assert_eq!(
        attribute(&c, "#more", "aria-expanded").as_deref(),
        Some("true")
    );
    assert_eq!(attribute(&c, "#more-menu", "hidden"), None);
    assert_eq!(focused(), "speed 0", "the first item");
    let at = |_: ()| document().active_element().unwrap();
    key(&at(()), "ArrowUp");
    assert_eq!(
        focused(),
        "Keyboard shortcuts",
        "↑ from the first wraps to the last"
    );
    key(&at(()), "ArrowDown");
    assert_eq!(focused(), "speed 0", "↓ from the last wraps to the first");
    key(&at(()), "End");
    assert_eq!(focused(), "Keyboard shortcuts");
    key(&at(()), "Home");
    key(&at(()), "ArrowDown");
    key(&at(()), "ArrowDown");
    key(&at(()), "ArrowDown");
    assert_eq!(focused(), "speed 3");
    key(&at(()), "Escape");
    settle().await;
    assert!(attribute(&c, "#more-menu", "hidden").is_some());
    assert_eq!(
        attribute(&c, "#more", "aria-expanded").as_deref(),
        Some("false")
    );
    assert_eq!(
        document().active_element().map(|e| e.id()).as_deref(),
        Some("more"),
        "Escape returns the focus to the button"
    );
    key(&more, "ArrowUp");
    settle().await;
    assert_eq!(focused(), "Keyboard shortcuts", "↑ opens on the last item");
    key(&at(()), "Escape");
    // A click opens it; an item's click does its act and closes it.
    more.click();
    settle().await;
    el("#more-menu [data-speed='3']").click();
    settle().await;
    assert_eq!(player.speed.get_untracked(), 3);
    assert_eq!(bar_value(&c, "#speed"), "1.5");
    assert_eq!(
        attribute(&c, "#more-menu [data-speed='3']", "aria-checked").as_deref(),
        Some("true")
    );
    assert!(attribute(&c, "#more-menu", "hidden").is_some());
    assert_eq!(
        document().active_element().map(|e| e.id()).as_deref(),
        Some("more")
    );
    // Skip silence from the menu is the bar's own toggle.
    more.click();
    settle().await;
    el("#menu-silence").click();
    settle().await;
    assert!(player.skip_silence.get_untracked());
    assert_eq!(
        attribute(&c, "#skip-silence", "aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(
        attribute(&c, "#menu-silence", "aria-checked").as_deref(),
        Some("true")
    );
}

/// The shortcuts' dialog is modal, keeps Tab within it, and gives the
/// focus back to where it was when it closes.
#[wasm_bindgen_test]
async fn the_shortcuts_dialog_is_modal_keeps_the_focus_and_returns_it() {
    let (c, _, player) = mount_with_bar(None);
    player.show(&playback_core::bar::Moment::from_fragment(&format!("#call={SID}&t=0")).unwrap());
    settle().await;
    let keys: web_sys::HtmlElement = c.query_selector("#keys").unwrap().unwrap().unchecked_into();
    keys.focus().unwrap();
    keys.click();
    settle().await;
    let dialog = c.query_selector("#shortcuts-dialog").unwrap().unwrap();
    assert_eq!(
        js_sys::Reflect::get(&dialog, &"open".into()).unwrap(),
        true,
        "open"
    );
    assert!(
        dialog.matches(":modal").unwrap(),
        "modal: the rest of the page is inert"
    );
    let active = || document().active_element().unwrap();
    assert_eq!(active().text_content().as_deref(), Some("Close"));
    key(&active(), "Tab");
    assert_eq!(
        active().text_content().as_deref(),
        Some("Close"),
        "Tab stays"
    );
    key(&active(), "Escape");
    settle().await;
    assert_eq!(
        js_sys::Reflect::get(&dialog, &"open".into()).unwrap(),
        false
    );
    assert_eq!(active().id(), "keys", "the focus is back on the button");
}

/// The bar's static markup lists the core's speeds (the select and the
/// menu's radio items, in order) and shortcuts (the dialog's list).
#[wasm_bindgen_test]
async fn the_bars_markup_lists_the_cores_speeds_and_shortcuts() {
    use playback_core::bar::{SHORTCUTS, SPEED_LABELS};
    let (c, _, _) = mount_with_bar(None);
    settle().await;
    let texts = |css: &str, attr: Option<&str>| -> Vec<String> {
        let list = c.query_selector_all(css).unwrap();
        (0..list.length())
            .map(|i| {
                let e: web_sys::Element = list.item(i).unwrap().unchecked_into();
                match attr {
                    Some(a) => e.get_attribute(a).unwrap_or_default(),
                    None => e.text_content().unwrap_or_default(),
                }
            })
            .collect()
    };
    let labels: Vec<String> = SPEED_LABELS.iter().map(|s| s.to_string()).collect();
    assert_eq!(texts("#speed option", Some("value")), labels);
    let items: Vec<String> = SPEED_LABELS.iter().map(|s| format!("{s}×")).collect();
    assert_eq!(texts("#more-menu [data-speed]", None), items);
    let indexes: Vec<String> = (0..SPEED_LABELS.len()).map(|i| i.to_string()).collect();
    assert_eq!(
        texts("#more-menu [data-speed]", Some("data-speed")),
        indexes
    );
    let keys: Vec<String> = SHORTCUTS.iter().map(|(k, _)| k.to_string()).collect();
    let what: Vec<String> = SHORTCUTS.iter().map(|(_, w)| w.to_string()).collect();
    assert_eq!(texts("#shortcuts dt", None), keys);
    assert_eq!(texts("#shortcuts dd", None), what);
}
