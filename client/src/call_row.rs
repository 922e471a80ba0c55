//! One call's row in the list: its time, parties and length, its Play and
//! Stop buttons and where it stands, all fed by the call's shared `Loader`.

use std::time::Duration;

use leptos::prelude::*;
use playback_core::bar::RecordingRef;
use playback_core::player::{button, can_stop, describe, Phase, RowEvent, RowModel};
use playback_core::wire::CallSummary;

use crate::clock::now_ms;
use crate::loaders::Loaders;

#[component]
pub fn CallRow(
    call: CallSummary,
    announcement: RwSignal<String>,
    /// Where the row starts (tests render each state with it).
    #[prop(optional)]
    initial: Option<RowModel>,
) -> impl IntoView {
    let sid = call.call_sid.to_string();
    let loaders = Loaders::get();
    // The row plays the call's first recording (the bar can pick another).
    let own = RecordingRef::first(call.call_sid.clone());
    let ctx = loaders.loader(&own, Some(&call));
    if let Some(initial) = initial {
        ctx.model.set(initial);
    }
    // A clock for elapsed seconds and the retry countdown, ticking only
    // while the row is not idle: a long list of idle rows runs no timers.
    let clock = RwSignal::new(now_ms());
    let ticker = StoredValue::new_local(None::<IntervalHandle>);
    let stop_ticking = move || {
        if let Some(t) = ticker.try_update_value(Option::take).flatten() {
            t.clear();
        }
    };
    Effect::new(move |_| {
        let idle = ctx.model.with(|m| m.phase == Phase::Idle);
        if idle {
            stop_ticking();
        } else if ticker.with_value(Option::is_none) {
            clock.set(now_ms());
            let handle =
                set_interval_with_handle(move || clock.set(now_ms()), Duration::from_millis(1000))
                    .ok();
            ticker.set_value(handle);
        }
    });
    // A row that goes away (a new search) stops its requests and its
    // loader goes with it, unless its call is the bar's: loaders stay as
    // many as the rows shown.
    on_cleanup(move || {
        stop_ticking();
        loaders.forget(&own);
    });

    let description = Memo::new(move |_| describe(&ctx.model.get().phase, clock.get()));
    // Announce state changes (not the ticking seconds) to screen readers.
    Effect::new(move |previous: Option<String>| {
        let headline = description.get().headline;
        if previous.as_ref() != Some(&headline) && !headline.is_empty() {
            announcement.set(headline.clone());
        }
        headline
    });

    let on_main = move |ev: web_sys::MouseEvent| {
        ctx.dispatch(RowEvent::Click {
            trusted: ev.is_trusted(),
            now_ms: now_ms(),
        });
    };
    let on_stop = move |ev: web_sys::MouseEvent| {
        if ev.is_trusted() {
            ctx.dispatch(RowEvent::Stop);
        }
    };
    let label = move || button(&ctx.model.get().phase, clock.get());
    let when = playback_core::bar::call_time(&call.started_at);
    view! {
        <tr data-call-sid=sid>
            <td data-label="Time">{when}</td>
            <td data-label="From">{call.from}</td>
            <td data-label="To">{call.to}</td>
            <td data-label="Duration">{playback_core::bar::clock(f64::from(call.duration_s))}</td>
            <td class="player">
                <button class="play" type="button" on:click=on_main aria-disabled=move || (!label().enabled).to_string()>{move || label().label}</button>
                <button class="stop" type="button" on:click=on_stop hidden=move || !can_stop(&ctx.model.get().phase)>"Stop"</button>
                <span class="state" class:error=move || description.get().is_error>{move || description.get().text}</span>
            </td>
        </tr>
    }
}
