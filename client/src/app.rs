//! The page: a title, then the business's calls (searchable, in pages),
//! each with its Play button, and the player bar (one audio element: one
//! recording plays at a time); or the sign-in state. A link to a moment
//! (`#call={sid}&t={seconds}`) opens with that call in the bar, paused at
//! `t`, having asked nothing.

use leptos::prelude::*;

use crate::bar::{Player, PlayerBar};
use crate::list::CallList;

#[component]
pub fn App() -> impl IntoView {
    let player = Player::new();
    provide_context(player);
    // (A link followed from this very page changes only the fragment: the
    // bar follows it too, see `Player::mount`.)
    player.open_link();
    // Announced by the live region: the latest state change of any row.
    let announcement = RwSignal::new(String::new());
    view! {
        <main>
            <h1>"Call recordings"</h1>
            <p id="announcer" class="sr-only" aria-live="polite" role="status">{move || announcement.get()}</p>
            <CallList announcement/>
        </main>
        <PlayerBar/>
    }
}
