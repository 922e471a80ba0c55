//! `backend-stub [--port N] [--token T] [--api generic|twilio] [--knobs JSON]
//! [--large-business-calls N] [--latency-ms N] ...`
//!
//! `--api` (or `STUB_API`) picks the API the stub speaks: `generic` unless
//! told, or `twilio` (Twilio's REST API, where the token is every
//! account's Auth Token; the parent account's SID and the businesses'
//! accounts, the edge's `TWILIO_ACCOUNT_SID` and `TWILIO_ACCOUNTS`, are
//! printed at start).
//!
//! `--large-business-calls` (or `STUB_LARGE_BUSINESS_CALLS`) sets how many
//! calls the contact centre (`northwind`) has: 20 000 unless told.
//!
//! Knob flags take a number (`--throttle-first 2`), or are switches that
//! take no value (`--chunked`, `--gzip-when-asked`, `--empty-body`,
//! `--retry-after-as-date`, `--twilio-media-direct`, `--twilio-media-auth`);
//! see `knobs::apply_flag`.
//!
//! Binds 127.0.0.1 only. Environment: `STUB_PORT`, `ORIGIN_TOKEN`,
//! `STUB_API`, `STUB_KNOBS` (JSON as for `POST /__knobs`); flags win over
//! environment.

use std::net::SocketAddr;
use std::process::ExitCode;

use backend_stub::catalog::{Catalog, DEFAULT_LARGE_BUSINESS_CALLS};
use backend_stub::knobs::{apply_flag, is_switch, Knobs};
use backend_stub::{app, twilio, Api, Stub};

const DEFAULT_PORT: u16 = 8790;
const DEFAULT_TOKEN: &str = "dev-origin-token";

struct Args {
    port: u16,
    token: String,
    api: Api,
    knobs: Knobs,
    large_business_calls: usize,
}

/// At most this many calls for the contact centre (a few hundred MB of list).
const MAX_LARGE_BUSINESS_CALLS: usize = 2_000_000;

fn parse_calls(value: &str) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|n| *n <= MAX_LARGE_BUSINESS_CALLS)
        .ok_or_else(|| {
            format!(
                "the large business's calls must be 0 to {MAX_LARGE_BUSINESS_CALLS}, got {value:?}"
            )
        })
}

fn parse_api(name: &str, source: &str) -> Result<Api, String> {
    Api::parse(name).ok_or_else(|| format!("{source} must be generic or twilio, got {name:?}"))
}

fn parse_args() -> Result<Args, String> {
    let mut port = match std::env::var("STUB_PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("STUB_PORT must be a port number, got {p:?}"))?,
        Err(_) => DEFAULT_PORT,
    };
    let mut token = std::env::var("ORIGIN_TOKEN").unwrap_or_else(|_| DEFAULT_TOKEN.to_owned());
    let mut api = match std::env::var("STUB_API") {
        Ok(name) => parse_api(&name, "STUB_API")?,
        Err(_) => Api::Generic,
    };
    let mut knobs = match std::env::var("STUB_KNOBS") {
        Ok(json) => serde_json::from_str(&json).map_err(|e| format!("STUB_KNOBS: {e}"))?,
        Err(_) => Knobs::default(),
    };
    let mut large_business_calls = match std::env::var("STUB_LARGE_BUSINESS_CALLS") {
        Ok(n) => parse_calls(&n)?,
        Err(_) => DEFAULT_LARGE_BUSINESS_CALLS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if is_switch(&flag) {
            apply_flag(&mut knobs, &flag, "true")?;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("--port must be a port number, got {value:?}"))?
            }
            "--token" => token = value,
            "--api" => api = parse_api(&value, "--api")?,
            "--large-business-calls" => large_business_calls = parse_calls(&value)?,
            "--knobs" => {
                knobs = serde_json::from_str(&value).map_err(|e| format!("--knobs: {e}"))?
            }
            _ if apply_flag(&mut knobs, &flag, &value)? => {}
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if token.is_empty() {
        return Err("the origin token must not be empty".into());
    }
    Ok(Args {
        port,
        token,
        api,
        knobs,
        large_business_calls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("backend-stub: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend-stub: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("backend-stub listening on http://{addr}");
    if args.api == Api::Twilio {
        println!(
            "twilio API: TWILIO_ACCOUNT_SID={} TWILIO_ACCOUNTS={}",
            twilio::PARENT_ACCOUNT_SID,
            twilio::accounts_json()
        );
    }
    let catalog = Catalog::with_large_business(args.large_business_calls);
    let stub = Stub::with_api(args.token, args.knobs, catalog, args.api);
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    match axum::serve(listener, app(stub))
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backend-stub: {e}");
            ExitCode::FAILURE
        }
    }
}
