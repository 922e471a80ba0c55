//! `scripts/run`'s launcher: the origin stub and `wrangler dev` started as
//! the tests start them (one place knows wrangler's command line), on fixed
//! ports, with the state persisted in `.local/state` and the secrets from
//! `.dev.vars`. Ctrl-C or SIGTERM stops both.
//!
//! `PORT` (default 8787): the worker's port. `STUB_PORT` (default 8790): the origin's.
//! `ORIGIN_KIND=twilio`: the stub speaks Twilio's REST API and the worker
//! reads it as it would read Twilio (the parent account's Auth Token is
//! `.dev.vars`' `ORIGIN_TOKEN`; every demo business is a subaccount).

use backend_stub::knobs::Knobs;
use integration_tests::{repo_root, twilio_options, Edge, EdgeOptions, Origin};

fn port(var: &str, default: u16) -> u16 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var} must be a port number, got {v:?}")),
        Err(_) => default,
    }
}

/// `NAME=value` of `.dev.vars`.
fn dev_var(name: &str) -> String {
    let path = repo_root().join(".dev.vars");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/run creates it)", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} is not set in {}", path.display()))
        .trim()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let (port, stub_port) = (port("PORT", 8787), port("STUB_PORT", 8790));
    let token = dev_var("ORIGIN_TOKEN");
    let twilio = match std::env::var("ORIGIN_KIND").as_deref() {
        Ok("twilio") => true,
        Ok("generic") | Err(_) => false,
        Ok(other) => panic!("ORIGIN_KIND must be generic or twilio, got {other:?}"),
    };
    let origin = match twilio {
        true => Origin::start_twilio_on(Knobs::default(), &token, stub_port).await,
        false => Origin::start_on(Knobs::default(), &token, stub_port).await,
    };
    // Each origin kind keeps its own state: a call's object remembers what
    // its origin said.
    let state = repo_root().join(match twilio {
        true => ".local/state-twilio",
        false => ".local/state",
    });
    std::fs::create_dir_all(&state).expect("create the state directory");
    let mut options = EdgeOptions {
        port: Some(port),
        dev_vars_secrets: true,
        log_to_terminal: true,
        ..Default::default()
    };
    if twilio {
        options = twilio_options(&origin.url, options).var("TWILIO_AUTH_TOKEN", &token);
    }
    let edge = Edge::start(&origin.url, &state, options).await;
    println!(
        "
  Call recordings is running.
  Open  {url}/dev/login?business=acme   (also: globex, initech, hooli, umbrella;
        northwind: a contact centre of 20 000 calls)
  Origin stub ({api}): {origin}  (knobs: POST /__knobs, stats: GET /__stats)
  Ctrl-C (or SIGTERM) stops everything.
",
        url = edge.url,
        origin = origin.url,
        api = if twilio {
            "Twilio's REST API"
        } else {
            "the generic API"
        },
    );
    // Ctrl-C, or a SIGTERM (a supervisor's stop): either way wrangler and
    // workerd, in their own process group, are stopped with us.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    drop(edge);
    drop(origin);
    println!("stopped.");
}
