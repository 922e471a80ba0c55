//! The page: a title, then the business's calls (searchable, in pages) with
//! a player per row, or the sign-in state. Only one recording plays at a
//! time.

use leptos::prelude::*;

use crate::list::CallList;

/// The demo business offered on the sign-in state (local development only;
/// `/dev/login` answers 404 unless `DEV_LOGIN` is on).
const DEMO_BUSINESS: &str = "acme";

#[component]
pub fn App() -> impl IntoView {
    // Which row plays now; a row that starts playing pauses every other.
    let now_playing = RwSignal::new(None::<String>);
    // Announced by the live region: the latest state change of any row.
    let announcement = RwSignal::new(String::new());
    view! {
        <main>
            <h1>"Call recordings"</h1>
            <p id="announcer" class="sr-only" aria-live="polite" role="status">{move || announcement.get()}</p>
            <CallList now_playing announcement/>
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
