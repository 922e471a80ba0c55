//! The call list: the search box and date range, the rows, and more rows as
//! the agent scrolls. Its decisions are `playback_core::call_list`'s; this
//! file feeds it events and applies its effects: the list requests (each
//! cancellable), the rows, the page's URL (`history.replaceState`, so a
//! reload shows the same list), the search's debounce timer, and an
//! `IntersectionObserver` that asks for the next page when the end of the
//! list scrolls into view. Nothing here sends a play request.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use playback_core::call_list::{
    FilterProblem, ListEffect, ListEvent, ListFilter, ListModel, ListPhase, SEARCH_DEBOUNCE_MS,
};
use playback_core::wire::CallSummary;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, IntersectionObserver, IntersectionObserverEntry};

use crate::api::{self, CallsError};
use crate::call_row::CallRow;
use crate::sign_in::SignIn;

/// Everything the list's handlers share; `Copy`, so handlers can capture it.
#[derive(Clone, Copy)]
struct ListCtx {
    model: RwSignal<ListModel>,
    rows: RwSignal<Vec<CallSummary>>,
    in_flight: StoredValue<Option<AbortController>, LocalStorage>,
    debounce: StoredValue<Option<TimeoutHandle>, LocalStorage>,
}

impl ListCtx {
    /// Feeds the model an event and applies its effects; returns them.
    fn dispatch(self, event: ListEvent) -> Vec<ListEffect> {
        let (next, effects) = self.model.get_untracked().step(event);
        if next != self.model.get_untracked() {
            self.model.set(next);
        }
        self.run(&effects);
        effects
    }

    fn run(self, effects: &[ListEffect]) {
        for effect in effects {
            match effect {
                ListEffect::Cancel => self.cancel(),
                ListEffect::Reset(filter) => {
                    self.rows.set(Vec::new());
                    write_url(filter);
                }
                ListEffect::Fetch { path, request } => self.fetch(path.clone(), *request),
                // The page's rows are the caller's to append.
                ListEffect::Append => {}
            }
        }
    }

    fn fetch(self, path: String, request: u64) {
        let Ok(controller) = AbortController::new() else {
            return;
        };
        let signal = controller.signal();
        self.in_flight.set_value(Some(controller));
        spawn_local(async move {
            let answer = api::fetch_page(&path, &signal).await;
            if signal.aborted() {
                return;
            }
            self.in_flight.set_value(None);
            match answer {
                Ok(api::ListAnswer { calls, next, note }) => {
                    let effects = self.dispatch(ListEvent::Page {
                        request,
                        rows: calls.len(),
                        next,
                        note,
                    });
                    if effects.contains(&ListEffect::Append) {
                        self.append(calls);
                    }
                }
                Err(CallsError::SignedOut) => {
                    self.dispatch(ListEvent::SignedOut { request });
                }
                Err(CallsError::Other(message)) => {
                    self.dispatch(ListEvent::Failed { request, message });
                }
            }
        });
    }

    /// Adds a page's rows, skipping any already shown (pages of a list that
    /// changed meanwhile may overlap).
    fn append(self, calls: Vec<CallSummary>) {
        self.rows.update(|rows| {
            let before = rows.len();
            for call in calls {
                if !rows[..before].iter().any(|r| r.call_sid == call.call_sid) {
                    rows.push(call);
                }
            }
        });
    }

    fn cancel(self) {
        if let Some(controller) = self.in_flight.try_update_value(Option::take).flatten() {
            controller.abort();
        }
    }

    fn cancel_debounce(self) {
        if let Some(timer) = self.debounce.try_update_value(Option::take).flatten() {
            timer.clear();
        }
    }

    /// Applies `filter` now, unless it is the one shown.
    fn apply(self, filter: ListFilter) {
        self.cancel_debounce();
        if filter != self.model.get_untracked().filter {
            self.dispatch(ListEvent::Filter(filter));
        }
    }
}

/// Writes the filter to the page's URL without a new history entry (a
/// link to a moment in its fragment stays).
fn write_url(filter: &ListFilter) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    let path = location.pathname().unwrap_or_else(|_| "/".into());
    let hash = location.hash().unwrap_or_default();
    let url = format!("{path}{}{hash}", filter.to_search());
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// The local midnight starting `date` (`YYYY-MM-DD`, a date input's value),
/// `days` days later, in seconds since the epoch.
fn local_midnight(date: &str, days: u32) -> Option<i64> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    let time = js_sys::Date::new_with_year_month_day(year, month as i32 - 1, (day + days) as i32)
        .get_time();
    time.is_finite().then(|| (time / 1000.0).floor() as i64)
}

/// The local date (`YYYY-MM-DD`) of an instant, for a date input.
fn local_date(epoch_s: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(epoch_s as f64 * 1000.0));
    format!(
        "{:04}-{:02}-{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date()
    )
}

#[component]
pub fn CallList(announcement: RwSignal<String>) -> impl IntoView {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let initial = ListFilter::from_search(&search);
    let (model, first) = ListModel::start(initial.clone());
    let ctx = ListCtx {
        model: RwSignal::new(model),
        rows: RwSignal::new(Vec::new()),
        in_flight: StoredValue::new_local(None),
        debounce: StoredValue::new_local(None),
    };
    // The first page of the URL's filter (written back in its one form).
    ctx.run(&first);
    on_cleanup(move || {
        ctx.cancel();
        ctx.cancel_debounce();
    });

    let end = more_at_the_end(ctx);
    let phase = move || ctx.model.with(|m| m.phase.clone());
    let more_button = move || match phase() {
        ListPhase::Shown { more: true } => Some("Load more calls"),
        ListPhase::Failed { .. } => Some("Try again"),
        _ => None,
    };
    let signed_out = Memo::new(move |_| phase() == ListPhase::SignedOut);
    let list = view! {
            <Filters ctx initial/>
            <table id="calls" hidden=move || ctx.rows.with(Vec::is_empty)>
                <thead><tr><th>"Time"</th><th>"From"</th><th>"To"</th><th>"Duration"</th><th>"Recording"</th></tr></thead>
                <tbody>
                    <For each=move || ctx.rows.get() key=|c| c.call_sid.to_string() let:call>
                        <CallRow call announcement/>
                    </For>
                </tbody>
            </table>
            <p id="list-status" class="notice" class:error=move || matches!(phase(), ListPhase::Failed { .. }) role="status">
                {move || ctx.model.with(ListModel::summary)}
            </p>
            <button type="button" id="load-more" hidden=move || more_button().is_none()
                on:click=move |_| { ctx.dispatch(ListEvent::LoadMore); }>{move || more_button().unwrap_or_default()}</button>
            <div node_ref=end class="list-end"></div>
    };
    view! {
        <div hidden=move || signed_out.get()>{list}</div>
        {move || signed_out.get().then(|| view! { <SignIn/> })}
    }
}

/// The search box and the date range: typing waits `SEARCH_DEBOUNCE_MS`
/// after the last key (and cancels the search before it); a date applies
/// at once; a filter that cannot be asked for says why.
#[component]
fn Filters(ctx: ListCtx, initial: ListFilter) -> impl IntoView {
    let typed = RwSignal::new(initial.q.clone());
    let from = RwSignal::new(initial.since.map(local_date).unwrap_or_default());
    let to = RwSignal::new(initial.until.map(|u| local_date(u - 1)).unwrap_or_default());
    let problem = RwSignal::new(None::<FilterProblem>);

    // The filter the inputs show, or why it cannot be asked for.
    let filter_of_inputs = move || -> Result<ListFilter, FilterProblem> {
        let range = ListFilter {
            since: local_midnight(&from.get_untracked(), 0),
            until: local_midnight(&to.get_untracked(), 1),
            ..ListFilter::default()
        };
        let filter = range.with_typed_q(&typed.get_untracked())?;
        filter.check().map(|()| filter)
    };
    let on_search = move |ev: web_sys::Event| {
        typed.set(event_target_value(&ev));
        ctx.cancel_debounce();
        match filter_of_inputs() {
            Err(p) => problem.set(Some(p)),
            Ok(_) => {
                problem.set(None);
                let handle = set_timeout_with_handle(
                    move || {
                        if let Ok(filter) = filter_of_inputs() {
                            ctx.apply(filter);
                        }
                    },
                    Duration::from_millis(SEARCH_DEBOUNCE_MS),
                )
                .ok();
                ctx.debounce.set_value(handle);
            }
        }
    };
    let on_range = move |ev: web_sys::Event, input: RwSignal<String>| {
        input.set(event_target_value(&ev));
        match filter_of_inputs() {
            Err(p) => problem.set(Some(p)),
            Ok(filter) => {
                problem.set(None);
                ctx.apply(filter);
            }
        }
    };

    view! {
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            <input type="search" id="search" aria-label="Search by number" placeholder="Search by number"
                inputmode="tel" autocomplete="off" prop:value=move || typed.get() on:input=on_search/>
            <label>"From "<input type="date" id="from" prop:value=move || from.get() on:change=move |ev| on_range(ev, from)/></label>
            <label>"To "<input type="date" id="to" prop:value=move || to.get() on:change=move |ev| on_range(ev, to)/></label>
            <span class="problem" role="alert">{move || problem.get().map(FilterProblem::message)}</span>
        </form>
    }
}

/// The element after the last row: when it scrolls into view, the next page.
fn more_at_the_end(ctx: ListCtx) -> NodeRef<leptos::html::Div> {
    let end = NodeRef::<leptos::html::Div>::new();
    let observer = StoredValue::new_local(None::<IntersectionObserver>);
    end.on_load(move |element| {
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let seen = entries.iter().any(|e| {
                e.dyn_into::<IntersectionObserverEntry>()
                    .is_ok_and(|e| e.is_intersecting())
            });
            if seen {
                ctx.dispatch(ListEvent::LoadMore);
            }
        });
        if let Ok(o) = IntersectionObserver::new(callback.as_ref().unchecked_ref()) {
            o.observe(&element);
            observer.set_value(Some(o));
        }
        callback.forget();
    });
    on_cleanup(move || {
        if let Some(o) = observer.try_update_value(Option::take).flatten() {
            o.disconnect();
        }
    });

    end
}
