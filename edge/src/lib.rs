//! The edge worker's entry point. Every request goes to
//! [`frontend_worker::handle_request`]; static assets never reach this code
//! (wrangler.toml's `run_worker_first` sends only `/api/*`, `/healthz` and
//! `/dev/*` here).

mod business_slots_do;
mod call_list_do;
mod call_recording_do;
mod config;
mod error;
mod frontend_worker;
mod log;
mod origin;
mod rpc;
mod serve;

pub use business_slots_do::BusinessSlots;
pub use call_list_do::CallLists;
pub use call_recording_do::CallRecording;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(frontend_worker::handle_request(req, &env).await)
}
