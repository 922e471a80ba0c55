//! The edge worker's entry point. Every request goes to
//! [`frontend_worker::handle_request`]; what is not the API's (the player's
//! page and its files) is handed as it is to the web worker, which holds
//! the static assets (`web/wrangler.toml`).

mod business;
mod call;
mod call_list_do;
mod config;
mod error;
mod frontend_worker;
mod in_flight;
mod log;
mod origin;
mod rpc;
mod serve;
mod signal;

pub use business::BusinessSlots;
pub use call::CallRecording;
pub use call_list_do::CallLists;

use worker::{event, Context, Env, Request, Result};

/// A panic (there should be none: every input is checked first) is logged
/// as one line with its message and place: the shipped wasm carries no
/// function names (`scripts/build` strips them), so a stack trace alone
/// would not say where.
#[event(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        log::event(serde_json::json!({"event": "panic", "message": info.to_string()}));
    }));
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    Ok(frontend_worker::handle_request(req, &env).await)
}
