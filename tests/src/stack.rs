//! The origin and the worker together, and what tests ask of them.

use std::path::Path;
use std::time::{Duration, Instant};

use backend_stub::knobs::Knobs;

use crate::*;

/// The origin and the worker together, with a fresh persisted state.
pub struct Stack {
    pub origin: Origin,
    pub edge: Edge,
    pub http: reqwest::Client,
    /// Which API the origin speaks.
    pub kind: Kind,
    _state: tempfile::TempDir,
}

/// The origin API a stack runs: the generic one, or Twilio's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Generic,
    Twilio,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(Knobs::default(), EdgeOptions::default()).await
    }

    pub async fn start_with(knobs: Knobs, options: EdgeOptions) -> Stack {
        Stack::start_on(Origin::start(knobs).await, options).await
    }

    /// The stub speaking Twilio's API, and the worker with `ORIGIN_KIND=twilio`
    /// pointed at it (`twilio_options`).
    pub async fn start_twilio(knobs: Knobs, options: EdgeOptions) -> Stack {
        let origin = Origin::start_twilio(knobs).await;
        let options = twilio_options(&origin.url, options);
        Stack {
            kind: Kind::Twilio,
            ..Stack::start_on(origin, options).await
        }
    }

    /// A stack whose origin speaks `kind`'s API.
    pub async fn start_kind(kind: Kind, knobs: Knobs, options: EdgeOptions) -> Stack {
        match kind {
            Kind::Generic => Stack::start_with(knobs, options).await,
            Kind::Twilio => Stack::start_twilio(knobs, options).await,
        }
    }

    /// The key the origin's stats count a call's recording downloads under:
    /// the call's SID, or with Twilio its (first) recording's SID.
    pub fn media_key(&self, sid: &str) -> String {
        match self.kind {
            Kind::Generic => sid.to_owned(),
            Kind::Twilio => backend_stub::twilio::recording_sid(sid, 0),
        }
    }

    /// The worker with `ORIGIN_KIND=twilio` (`twilio_options`) in front of
    /// a Twilio-mode origin already started (e.g. with a catalog of its own).
    pub async fn start_twilio_on(origin: Origin, options: EdgeOptions) -> Stack {
        let options = twilio_options(&origin.url, options);
        Stack {
            kind: Kind::Twilio,
            ..Stack::start_on(origin, options).await
        }
    }

    /// The worker in front of an origin already started.
    pub async fn start_on(origin: Origin, options: EdgeOptions) -> Stack {
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
            kind: Kind::Generic,
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

    /// Once `answered` has reached `after` (another load is under way),
    /// agent `agent-2` of `business` plays `sid`: the time from its click
    /// until the recording is ready.
    pub async fn play_once_under_way(
        &self,
        business: &str,
        sid: &str,
        answered: &std::sync::atomic::AtomicUsize,
        after: usize,
    ) -> Duration {
        while answered.load(std::sync::atomic::Ordering::Relaxed) < after {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let clicked = Instant::now();
        let first = self.play_as(business, "agent-2", sid).send().await;
        let status = first.expect("the play is answered").status().as_u16();
        if status != 200 {
            assert_eq!(status, 202, "the real call's play");
            self.wait_status(business, sid, "ready", Duration::from_secs(90))
                .await;
        }
        clicked.elapsed()
    }

    /// Makes the origin misbehave as `faults` says for one call only.
    pub fn fault_call(&self, sid: &str, faults: backend_stub::knobs::FaultSet) {
        self.origin.stub.set_knobs(for_call(sid, faults));
    }

    pub fn persist_dir(&self) -> &Path {
        self._state.path()
    }

    /// Returns once the worker's log holds the line of every request
    /// answered before this call: a line is written before its response
    /// is handed back, and through one pipe, so once the line of a request
    /// sent now is in the log, so are theirs. For counts of lines that
    /// must not be read short ("no further request", "exactly one").
    pub async fn log_barrier(&self) -> Vec<serde_json::Value> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Not a route: answered 404, and logged like any request.
        let path = format!("/api/log-barrier-{}-{n}", std::process::id());
        self.http
            .get(self.url(&path))
            .send()
            .await
            .expect("the barrier request is answered");
        let done = |l: &serde_json::Value| l["event"] == "request" && l["path"] == path.as_str();
        let lines = self
            .edge
            .wait_log(|lines| lines.iter().any(done), LOG_TIMEOUT)
            .await;
        assert!(
            lines.iter().any(done),
            "the barrier's log line never came in {LOG_TIMEOUT:?}"
        );
        lines
    }
}

/// `options` with the worker speaking Twilio's API at `api_base`: the stub's
/// parent account and its Auth Token, every demo business mapped to its
/// subaccount. Vars given in `options` win.
pub fn twilio_options(api_base: &str, options: EdgeOptions) -> EdgeOptions {
    use backend_stub::twilio::{accounts_json, PARENT_ACCOUNT_SID};
    let given = options.vars.clone();
    // The later of two `--var`s of one name wins.
    let mut twilio = EdgeOptions {
        vars: Vec::new(),
        ..options
    }
    .var("ORIGIN_KIND", "twilio")
    .var("TWILIO_API_BASE", api_base)
    .var("TWILIO_ACCOUNT_SID", PARENT_ACCOUNT_SID)
    .var("TWILIO_AUTH_TOKEN", ORIGIN_TOKEN)
    .var("TWILIO_ACCOUNTS", accounts_json());
    twilio.vars.extend(given);
    twilio
}

/// How long a log line may take to reach the log once its response came: a
/// bound on a wait for a condition, failing only when the line never comes.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// The SID of the `n`th call `business`'s list has (oldest first).
    pub fn listed_sid(&self, business: &str, n: usize) -> String {
        self.origin
            .stub
            .catalog()
            .listed_calls(business)
            .nth(n)
            .expect("the business has that many calls")
            .summary
            .call_sid
            .to_string()
    }

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

    /// Waits until the status endpoint says `want` (never starts anything);
    /// `ready` means stored: a recording still playing from its fill
    /// (`filling`) is not ready yet for this wait.
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
            if s["status"] == want && s["filling"] != true {
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
        let body = if first.status() == 200 {
            first.bytes().await.expect("a body").to_vec()
        } else {
            assert_eq!(first.status(), 202, "play answered {}", first.status());
            self.wait_status(business, sid, "ready", Duration::from_secs(60))
                .await;
            let r = self.play(business, sid).send().await.expect("play answers");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("a body").to_vec()
        };
        // Its line (and so every earlier one) has reached the log, for the
        // tests that count requests from here on.
        let path = format!("/api/recordings/{sid}/stream");
        let served = |l: &serde_json::Value| {
            l["event"] == "request" && l["path"] == path.as_str() && l["status"] == 200
        };
        self.edge.wait_log_lines(served, LOG_TIMEOUT).await;
        body
    }
}
