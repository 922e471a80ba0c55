//! The slot lease an attempt runs on. Every third of `SLOT_LEASE_MS` it is
//! renewed under its grant id. When the business says the lease is gone,
//! or a renew fails and the next one would come after the confirmed
//! expiry, or the download timeout passes, the work must stop; the slot
//! goes back early once the origin's body has been read whole.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};

use futures_util::future::{select, Either};
use playback_core::config::EdgeConfig;
use playback_core::download::{AttemptOutcome, Failure};
use playback_core::slots::{keep_downloading, renew_every_ms, RenewOutcome};
use serde_json::json;

use crate::error::EdgeResult;

/// What the call object running an attempt lends it: its slot lease at the
/// business, the runtime's clock and timers, and its log line.
pub(super) trait AttemptHost {
    /// Extends lease `grant`: its new expiry, or `None` when it is gone.
    async fn renew(&self, grant: u64) -> EdgeResult<Option<u64>>;
    /// Gives lease `grant` back (an older grant frees nothing).
    async fn release(&self, grant: u64) -> EdgeResult<()>;
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> u64;
    /// Resolves `ms` milliseconds from now.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
    /// A log line about this call.
    fn log(&self, event: &str, fields: serde_json::Value);
}

/// The slot lease an attempt runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease {
    pub grant: u64,
    /// The expiry the business confirmed last.
    pub expires_ms: u64,
}

/// Why the work must stop before it ended.
pub(super) struct Stop {
    pub failure: Failure,
    pub reason: String,
}

/// Gives the slot back once the origin's body has been read whole: the
/// slot counts origin downloads, and R2 finishing does not need one.
pub(super) struct SlotBack<'a, H> {
    pub host: &'a H,
    pub grant: u64,
    /// Set once the business took the slot back.
    pub released: &'a Cell<bool>,
}

impl<H: AttemptHost> SlotBack<'_, H> {
    pub(super) async fn origin_read(self) {
        match self.host.release(self.grant).await {
            Ok(()) => self.released.set(true),
            Err(e) => self
                .host
                .log("early_release_failed", json!({"error": format!("{e:?}")})),
        }
    }
}

/// Races `work` with the download timeout and with the lease's checks: the
/// work's outcome, or why it must stop (`work` is then still running).
pub(super) async fn keep_lease<H, W>(
    host: &H,
    config: &EdgeConfig,
    lease: Lease,
    released: &Cell<bool>,
    mut work: Pin<&mut W>,
) -> Result<AttemptOutcome, Stop>
where
    H: AttemptHost,
    W: Future<Output = AttemptOutcome>,
{
    let mut timeout = pin!(host.sleep(config.download_timeout_ms));
    let every = renew_every_ms(config.slot_lease_ms);
    let mut expires_ms = lease.expires_ms;
    loop {
        let check = pin!(check_lease(host, lease.grant, expires_ms, every, released));
        let outcome = match select(work.as_mut(), select(timeout.as_mut(), check)).await {
            Either::Left((outcome, _)) => return Ok(outcome),
            Either::Right((Either::Left(_), _)) => {
                return Err(Stop {
                    failure: Failure::TimedOut,
                    reason: format!("timed out after {} ms", config.download_timeout_ms),
                })
            }
            // The slot went back when the origin's body was read (maybe while
            // the renew was on its way): nothing to renew.
            Either::Right((Either::Right((None, _)), _)) => continue,
            Either::Right((Either::Right((Some(_), _)), _)) if released.get() => continue,
            Either::Right((Either::Right((Some(outcome), _)), _)) => outcome,
        };
        match keep_downloading(outcome, host.now_ms(), expires_ms, every) {
            Some(expires) => expires_ms = expires,
            None => {
                let grant = lease.grant;
                host.log(
                    "lease_lost",
                    json!({"grant": grant, "renew": format!("{outcome:?}")}),
                );
                return Err(Stop {
                    failure: Failure::LeaseLost,
                    reason: format!("lease {grant}: {outcome:?}"),
                });
            }
        }
    }
}

/// The next lease check: a renew `every` ms after the last, racing the
/// confirmed expiry, so a renew that hangs never lets the download outlive
/// its lease. `None` when the slot has gone back already.
async fn check_lease<H: AttemptHost>(
    host: &H,
    grant: u64,
    confirmed: u64,
    every: u64,
    released: &Cell<bool>,
) -> Option<RenewOutcome> {
    host.sleep(every).await;
    if released.get() {
        return None;
    }
    let until_expiry = playback_core::clock::ms_until(confirmed, host.now_ms());
    let renewal = pin!(host.renew(grant));
    let expiry = pin!(host.sleep(until_expiry));
    Some(match select(renewal, expiry).await {
        Either::Left((Ok(Some(expires)), _)) => RenewOutcome::Renewed(expires),
        Either::Left((Ok(None), _)) => RenewOutcome::Lost,
        Either::Left((Err(_), _)) => RenewOutcome::Unreachable,
        // No answer before the confirmed expiry: the lease may be the next call's.
        Either::Right(_) => RenewOutcome::Lost,
    })
}
