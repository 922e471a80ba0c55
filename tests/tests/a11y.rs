//! The page against an accessibility engine (axe-core, pinned in
//! `tools/package-lock.json`), in real Chromium and Firefox against the
//! real worker and stub, on the list's screens at a laptop's width and a
//! phone's: signed out, the list, "No calls match", loading more. (The
//! rows' states, the bar and its dialog and menu are audited where their
//! own tests bring them about: `player.rs`, `bar.rs`.) And: the keyboard's
//! focus is always visible, and whoever asks for less motion gets none.

use std::time::Duration;

use backend_stub::catalog::LARGE_BUSINESS;
use backend_stub::knobs::Knobs;
use integration_tests::browser::{Browser, Engine};
use integration_tests::Stack;
use serde_json::{json, Value};

const UI: Duration = Duration::from_secs(60);

/// The focused element and how its focus shows: an outline or a ring
/// (box shadow) that is there and not transparent.
const FOCUS_SHOWN: &str = "const e = document.activeElement;
     if (!e || e === document.body) return {tag: 'BODY'};
     const s = getComputedStyle(e);
     const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2
       && !/rgba\\(.*, 0\\)$/.test(s.outlineColor);
     return {tag: e.tagName, id: e.id, type: e.type, focus: e.matches(':focus'),
             outline: [s.outlineStyle, s.outlineWidth, s.outlineColor].join(' '), name: e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30),
             shown: outline || s.boxShadow !== 'none'};";

/// Presses Tab `n` times from the top of the page; every element that
/// takes the focus shows it.
async fn every_tab_stop_shows_its_focus(browser: &Browser, n: usize) -> Vec<Value> {
    browser
        .execute(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
            json!([]),
        )
        .await;
    let mut stops = Vec::new();
    for _ in 0..n {
        browser.press_key("\u{E004}").await;
        let stop = browser.execute(FOCUS_SHOWN, json!([])).await;
        if stop["tag"] == "BODY" {
            continue;
        }
        assert_eq!(
            stop["shown"],
            true,
            "{}: the focus is not visible on {stop}",
            browser.engine.name()
        );
        stops.push(stop);
    }
    stops
}

async fn the_lists_screens_pass_the_engine_and_show_the_focus(engine: Engine) {
    let stack = Stack::start().await;
    let browser = Browser::start_in(engine).await;
    browser.goto(&stack.url("/")).await;
    browser.wait_for("#sign-in", UI).await;
    let mut lesser = browser.audit_both_widths("signed-out").await;

    browser
        .goto(&stack.url(&format!("/dev/login?business={LARGE_BUSINESS}")))
        .await;
    let status = "return document.querySelector('#list-status').textContent";
    browser
        .wait_until(&format!("{status} === '100 calls shown, more below'"), UI)
        .await;
    lesser.extend(browser.audit_both_widths("list").await);
    let stops = every_tab_stop_shows_its_focus(&browser, 8).await;
    assert!(
        stops.len() >= 6,
        "the search, the dates and the rows' Play take the focus: {stops:?}"
    );

    let search = browser
        .wait_for("input[type=search][aria-label='Search by number']", UI)
        .await;
    browser.type_text(&search, "99999").await;
    browser
        .wait_until(&format!("{status} === 'No calls match'"), UI)
        .await;
    lesser.extend(browser.audit_both_widths("no-match").await);
    // (Backspaces, as a person does: Firefox's Element Clear is no input.)
    browser.type_text(&search, &"\u{E003}".repeat(5)).await;
    browser
        .wait_until(&format!("{status} === '100 calls shown, more below'"), UI)
        .await;

    // The next page is slow to come: the list says it is loading more.
    stack.origin.stub.set_knobs(Knobs {
        list_latency_ms: 30_000,
        ..Default::default()
    });
    browser
        .execute("window.scrollTo(0, document.body.scrollHeight)", json!([]))
        .await;
    browser
        .wait_until(&format!("{status}.includes('loading more')"), UI)
        .await;
    lesser.extend(browser.audit_both_widths("loading-more").await);
    eprintln!("{}: moderate and minor findings: {lesser:?}", engine.name());
}

/// With `prefers-reduced-motion: reduce`, nothing on the page animates or
/// transitions (the buttons' colour change, for one, is instant), with a
/// call playing in the bar and the shortcuts' dialog open.
async fn with_reduced_motion_nothing_moves(engine: Engine) {
    let stack = Stack::start().await;
    let sid = stack.listed_sid("acme", 0);
    stack.cache("acme", &sid).await;
    let browser = Browser::start_with_reduced_motion(engine).await;
    browser.goto(&stack.url("/dev/login?business=acme")).await;
    let play = browser
        .wait_for(&format!("tr[data-call-sid='{sid}'] button.play"), UI)
        .await;
    browser.click(&play).await;
    browser
        .wait_until(
            "const a = document.querySelector('#player audio'); return a && !a.paused && a.currentTime > 0",
            UI,
        )
        .await;
    browser.press_key("?").await;
    browser
        .wait_until(
            "return document.querySelector('#shortcuts-dialog').open",
            UI,
        )
        .await;
    let moving = browser
        .execute(
            "if (!matchMedia('(prefers-reduced-motion: reduce)').matches) return 'no preference';
             const moving = [...document.querySelectorAll('*')].filter(e => {
               const s = getComputedStyle(e);
               return s.animationName !== 'none' || s.transitionDuration.split(',').some(d => parseFloat(d) > 0);
             }).map(e => e.tagName + '.' + e.className);
             return {moving, animations: document.getAnimations().length};",
            json!([]),
        )
        .await;
    assert_eq!(
        moving,
        json!({"moving": [], "animations": 0}),
        "{}",
        engine.name()
    );
}

integration_tests::in_each_browser!(
    the_lists_screens_pass_the_engine_and_show_the_focus,
    with_reduced_motion_nothing_moves,
);
