//! The page: a title, then the business's calls with a player per row, or
//! the sign-in state. Only one recording plays at a time.

use leptos::prelude::*;
use playback_core::wire::CallSummary;

use crate::api::{fetch_calls, CallsError};
use crate::row::CallRow;

/// The demo business offered on the sign-in state (local development only;
/// `/dev/login` answers 404 unless `DEV_LOGIN` is on).
const DEMO_BUSINESS: &str = "acme";

#[component]
pub fn App() -> impl IntoView {
    let calls = LocalResource::new(fetch_calls);
    // Which row plays now; a row that starts playing pauses every other.
    let now_playing = RwSignal::new(None::<String>);
    // Announced by the live region: the latest state change of any row.
    let announcement = RwSignal::new(String::new());
    view! {
        <main>
            <h1>"Call recordings"</h1>
            <p id="announcer" class="sr-only" aria-live="polite" role="status">{move || announcement.get()}</p>
            <Suspense fallback=|| view! { <p class="notice">"Loading calls…"</p> }>
                {move || calls.get().map(|result| match result {
                    Ok(calls) => view! { <CallList calls now_playing announcement/> }.into_any(),
                    Err(CallsError::SignedOut) => view! { <SignIn/> }.into_any(),
                    Err(CallsError::Other(e)) => view! {
                        <p class="notice error" role="alert">"Could not load calls: " {e}</p>
                    }.into_any(),
                })}
            </Suspense>
        </main>
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    view! {
        <div class="notice" id="sign-in">
            <p>"You are not signed in."</p>
            <a class="button" href=format!("/dev/login?business={DEMO_BUSINESS}")>"Sign in (development)"</a>
        </div>
    }
}

#[component]
fn CallList(
    calls: Vec<CallSummary>,
    now_playing: RwSignal<Option<String>>,
    announcement: RwSignal<String>,
) -> impl IntoView {
    if calls.is_empty() {
        return view! { <p class="notice">"No calls yet."</p> }.into_any();
    }
    view! {
        <table id="calls">
            <thead><tr><th>"Time"</th><th>"From"</th><th>"To"</th><th>"Duration"</th><th>"Recording"</th></tr></thead>
            <tbody>
                {calls.into_iter().map(|call| view! { <CallRow call now_playing announcement/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
