//! The edge worker's entry point. Every request goes to
//! [`frontend_worker::handle_request`]; static assets never reach this code
//! (wrangler.toml's `run_worker_first` sends only `/api/*`, `/healthz` and
//! `/dev/*` here).

mod config;
mod error;
mod frontend_worker;
mod origin;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(frontend_worker::handle_request(req, &env).await)
}
