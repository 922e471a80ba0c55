//! `scripts/run`'s launcher: the origin stub and `wrangler dev` started as
//! the tests start them (one place knows wrangler's command line), on fixed
//! ports, with the state persisted in `.local/state` and the secrets from
//! `.dev.vars`. Ctrl-C or SIGTERM stops both.
//!
//! `PORT` (default 8787): the worker's port. `STUB_PORT` (default 8790): the origin's.

use backend_stub::knobs::Knobs;
use integration_tests::{repo_root, Edge, EdgeOptions, Origin};

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
    let origin = Origin::start_on(Knobs::default(), &dev_var("ORIGIN_TOKEN"), stub_port).await;
    let state = repo_root().join(".local/state");
    std::fs::create_dir_all(&state).expect("create .local/state");
    let options = EdgeOptions {
        port: Some(port),
        dev_vars_secrets: true,
        log_to_terminal: true,
        ..Default::default()
    };
    let edge = Edge::start(&origin.url, &state, options).await;
    println!(
        "
  Call recordings is running.
  Open  {url}/dev/login?business=acme   (also: globex, initech, hooli, umbrella;
        northwind: a contact centre of 20 000 calls)
  Origin stub: {origin}  (knobs: POST /__knobs, stats: GET /__stats)
  Ctrl-C (or SIGTERM) stops everything.
",
        url = edge.url,
        origin = origin.url,
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
