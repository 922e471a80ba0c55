//! The row component in headless Chromium (wasm-bindgen-test): it renders
//! its states, ignores untrusted clicks, and announces state changes.

use leptos::prelude::*;
use playback_core::player::{Phase, Progress, RowModel};
use playback_core::wire::CallSummary;
use playback_core::CallSid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SID: &str = "CA0123456789abcdef0123456789abcdef";

fn call() -> CallSummary {
    CallSummary {
        call_sid: CallSid::parse(SID).unwrap(),
        started_at: "2026-11-02T08:00:00Z".into(),
        duration_s: 75,
        from: "+15550000001".into(),
        to: "+15550000002".into(),
    }
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Mounts one row (in a table, with a live region) into a fresh container.
fn mount_row(initial: Option<RowModel>) -> (web_sys::HtmlElement, RwSignal<String>) {
    let container: web_sys::HtmlElement =
        document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&container).unwrap();
    let announcement = RwSignal::new(String::new());
    let now_playing = RwSignal::new(None);
    let handle = leptos::mount::mount_to(container.clone(), move || {
        let initial = initial.clone();
        view! { <table><tbody><client::CallRow call=call() now_playing announcement initial=initial.unwrap_or_default()/></tbody></table> }
    });
    handle.forget();
    (container, announcement)
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
                    queued: true,
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
                    queued: false,
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
        (Phase::GaveUp, "still preparing, try again", "Try again"),
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
    let (c, announcement) = mount_row(Some(RowModel {
        phase: Phase::Playing,
        last_click_ms: None,
    }));
    settle().await;
    assert_eq!(announcement.get_untracked(), "playing");
    let audio = c.query_selector("audio").unwrap().unwrap();
    audio
        .dispatch_event(&web_sys::Event::new("pause").unwrap())
        .unwrap();
    settle().await;
    assert_eq!(text_of(&c, ".state"), "paused");
    assert_eq!(announcement.get_untracked(), "paused");
}
