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
mod edge;
mod origin;
pub mod process;
mod stack;

pub use edge::{workerd_rss_kib, Edge, EdgeOptions};
pub use origin::Origin;
pub use stack::{
    bulk_call, for_call, latency, origin_bytes, sha256_hex, twilio_options, Kind, Stack,
    LOG_TIMEOUT,
};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use playback_core::config::{DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER};
use playback_core::session::{self, Claims};
use playback_core::BusinessId;

pub const ORIGIN_TOKEN: &str = "test-origin-token";
pub const SESSION_SECRET: &str = "test-session-secret-of-at-least-32-bytes";
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(90);

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
    let now = now_s();
    let claims = Claims::new(
        BusinessId::parse(business).expect("a valid business id"),
        sub,
        now + 3600,
    )
    .for_service(DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER, now);
    session::sign(&claims, SESSION_SECRET.as_bytes())
}
