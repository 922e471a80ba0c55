//! The sign-in state, shown by the list when the edge says there is no
//! valid session.

use leptos::prelude::*;

/// The demo business offered on the sign-in state (local development only;
/// `/dev/login` answers 404 unless `DEV_LOGIN` is on).
const DEMO_BUSINESS: &str = "acme";

#[component]
pub fn SignIn() -> impl IntoView {
    view! {
        <div class="notice" id="sign-in">
            <p>"You are not signed in."</p>
            <a class="button" href=format!("/dev/login?business={DEMO_BUSINESS}")>"Sign in (development)"</a>
        </div>
    }
}
