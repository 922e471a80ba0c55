//! The page: a title, then the business's calls, or the sign-in state.

use leptos::prelude::*;
use playback_core::wire::CallSummary;

use crate::api::{fetch_calls, CallsError};

/// The demo business offered on the sign-in state (local development only;
/// `/dev/login` answers 404 unless `DEV_LOGIN` is on).
const DEMO_BUSINESS: &str = "acme";

#[component]
pub fn App() -> impl IntoView {
    let calls = LocalResource::new(fetch_calls);
    view! {
        <main>
            <h1>"Call recordings"</h1>
            <Suspense fallback=|| view! { <p class="notice">"Loading calls…"</p> }>
                {move || calls.get().map(|result| match result {
                    Ok(calls) => view! { <CallList calls/> }.into_any(),
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
fn SignIn() -> impl IntoView {
    view! {
        <div class="notice" id="sign-in">
            <p>"You are not signed in."</p>
            <a class="button" href=format!("/dev/login?business={DEMO_BUSINESS}")>"Sign in (development)"</a>
        </div>
    }
}

#[component]
fn CallList(calls: Vec<CallSummary>) -> impl IntoView {
    if calls.is_empty() {
        return view! { <p class="notice">"No calls yet."</p> }.into_any();
    }
    view! {
        <table id="calls">
            <thead><tr><th>"Time"</th><th>"From"</th><th>"To"</th><th>"Duration"</th></tr></thead>
            <tbody>
                {calls.into_iter().map(|c| view! {
                    <tr data-call-sid=c.call_sid.to_string()>
                        <td>{c.started_at.replace('T', " ").trim_end_matches('Z').to_owned()}</td>
                        <td>{c.from}</td>
                        <td>{c.to}</td>
                        <td>{format_duration(c.duration_s)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

fn format_duration(seconds: u32) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}
