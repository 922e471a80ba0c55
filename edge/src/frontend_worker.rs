//! The edge entry: routes a request, authenticates it, and answers it.
//!
//! Runs once per request, concurrently with any number of others, and holds
//! no state of its own between requests: everything that must be decided
//! once per recording is decided by that recording's Durable Object. A
//! failed check returns before anything with a side effect runs.

use playback_core::route::{route, Route};
use playback_core::session::{self, Claims};
use playback_core::{BusinessId, CallSid};
use worker::{Date, Env, Request, Response};

use crate::config;
use crate::error::{json_response, EdgeError};
use crate::origin;

/// How long a `/dev/login` session lasts.
const DEV_SESSION_S: u64 = 8 * 3600;

pub async fn handle_request(req: Request, env: &Env) -> Response {
    let path = req.path();
    let method = req.method().to_string();
    let result = match route(&method, &path) {
        Route::Healthz => Response::ok("ok").map_err(EdgeError::from),
        Route::DevLogin => handle_dev_login(&req, env),
        Route::Calls => handle_calls(&req, env).await,
        Route::Stream { call_sid, .. } | Route::Status { call_sid } => handle_recording(&req, env, call_sid),
        Route::NotFound => Err(EdgeError::NotFound),
        Route::MethodNotAllowed { allow } => Err(EdgeError::MethodNotAllowed { allow }),
    };
    result.unwrap_or_else(EdgeError::into_response)
}

fn now_s() -> u64 {
    Date::now().as_millis() / 1000
}

/// The request's verified session claims, or 401.
fn authenticate(req: &Request, secret: &str) -> Result<Claims, EdgeError> {
    let headers = req.headers();
    let authorization = headers.get("Authorization").ok().flatten();
    let cookie = headers.get("Cookie").ok().flatten();
    let token = session::token_from_headers(authorization.as_deref(), cookie.as_deref()).ok_or(EdgeError::Unauthorized)?;
    session::verify(token, secret.as_bytes(), now_s()).map_err(|_| EdgeError::Unauthorized)
}

fn handle_dev_login(req: &Request, env: &Env) -> Result<Response, EdgeError> {
    let config = config::load(env)?;
    if !config.dev_login {
        return Err(EdgeError::NotFound);
    }
    let url = req.url()?;
    let business = url.query_pairs().find(|(k, _)| k == "business").map(|(_, v)| v.into_owned()).unwrap_or_default();
    let Ok(bid) = BusinessId::parse(&business) else {
        return Ok(json_response(400, &playback_core::wire::ErrorBody::new("invalid_business")));
    };
    let claims = Claims { bid, sub: "dev".into(), exp: now_s() + DEV_SESSION_S };
    let token = session::sign(&claims, config.session_secret.as_bytes());
    let mut home = url.clone();
    home.set_path("/");
    home.set_query(None);
    home.set_fragment(None);
    let mut response = Response::redirect_with_status(home, 302)?;
    let cookie = session::session_cookie(&token, DEV_SESSION_S, url.scheme() == "https");
    response.headers_mut().set("Set-Cookie", &cookie)?;
    response.headers_mut().set("Cache-Control", "no-store")?;
    Ok(response)
}

async fn handle_calls(req: &Request, env: &Env) -> Result<Response, EdgeError> {
    let config = config::load(env)?;
    let claims = authenticate(req, &config.session_secret)?;
    let calls = origin::list_calls(&config, &claims.bid).await?;
    Ok(json_response(200, &calls))
}

fn handle_recording(req: &Request, env: &Env, raw_sid: &str) -> Result<Response, EdgeError> {
    let config = config::load(env)?;
    let _claims = authenticate(req, &config.session_secret)?;
    let _call = CallSid::parse(raw_sid).map_err(|_| EdgeError::InvalidCallSid)?;
    Err(EdgeError::NotFound)
}
