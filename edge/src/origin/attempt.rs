//! One attempt: look in R2, ask the origin, store the body, all raced by
//! the lease and the timeout (`lease.rs`). A lease lost or a timeout aborts
//! the origin fetch, which fails the store's next read and makes it abort
//! its writes; the attempt still waits for them to end.

use std::cell::{Cell, RefCell};
use std::pin::pin;

use futures_util::future::join;
use playback_core::config::EdgeConfig;
use playback_core::download::{classify_origin_status, AttemptOutcome, Failure};
use playback_core::ids::{recording_key, CallIdentity};
use playback_core::origin_rules::{store_way, stored_length, StoreWay};
use playback_core::origin_url::{NotFound, RecordingSource};
use playback_core::peaks::PeaksRecord;
use playback_core::retry::parse_retry_after;
use serde_json::json;

use super::client::{fetch_recording, OriginBody, OriginFetch, OriginResponse};
use super::fill::{store_filling, Fill, FillEvent};
use super::lease::{keep_lease, AttemptHost, Lease, SlotBack};
use super::parts::store_in_parts;
use super::store::{delete_pieces, store_small, Delivery, RecordingStore, StoreMeta};
use crate::serve::DEFAULT_CONTENT_TYPE;

/// What an attempt runs on: the origin, the store, and its call object.
pub(super) struct AttemptIo<'a, O, S, H> {
    pub origin: &'a O,
    pub store: &'a S,
    pub host: &'a H,
}

/// One attempt, as its call object hands it over.
pub(crate) struct AttemptCall<'a> {
    pub config: &'a EdgeConfig,
    pub id: &'a CallIdentity,
    /// Where the recording is fetched.
    pub source: &'a RecordingSource,
    pub looked: Looked,
    pub lease: Lease,
    /// Told about the attempt's fill as it runs.
    pub report: &'a dyn Fn(FillEvent),
}

/// What R2 held under the served key when the call object looked, while it
/// waited for its slot (nothing else writes that key: only this call's
/// attempts do, one at a time, and each ends only when its write has ended).
pub(crate) enum Looked {
    Stored(u64),
    Missing,
    /// The look failed: the attempt looks again itself.
    NotYet,
    /// Not looked: a fresh attempt (`CallState::Queued::fresh`), which
    /// neither looks nor clears older fills' pieces (no attempt ran since
    /// R2 was seen without the recording, and every attempt that ended
    /// deleted its pieces).
    Fresh,
}

/// How an attempt ended, and whether its slot was already given back.
pub(crate) struct Attempt {
    pub outcome: AttemptOutcome,
    /// The slot was released when the origin's body had been read whole.
    pub released: bool,
    /// The stored recording's peaks (or why it has none), computed from
    /// its bytes as they streamed past: the call object writes them with
    /// `ready`, in one atomic write. `None` when nothing was stored, or a
    /// body without a length was (its call object computes them from R2
    /// when asked).
    pub peaks: Option<PeaksRecord>,
}

impl Attempt {
    /// An attempt that could not ask the origin at all (`detail`: for the log).
    pub(crate) fn refused(detail: &str) -> Attempt {
        Attempt {
            outcome: AttemptOutcome::permanent(Failure::OriginRejected, detail),
            released: false,
            peaks: None,
        }
    }
}

/// Runs one attempt. Ends only when its writes have ended.
pub(super) async fn run<O, S, H>(io: &AttemptIo<'_, O, S, H>, call: AttemptCall<'_>) -> Attempt
where
    O: OriginFetch,
    S: RecordingStore<Chunk = <O::Body as OriginBody>::Chunk>,
    H: AttemptHost,
{
    let AttemptCall {
        config,
        id,
        source,
        looked,
        lease,
        report,
    } = call;
    let key = recording_key(id);
    let released = Cell::new(false);
    let peaks = RefCell::new(None);
    let work = Work {
        io,
        config,
        id,
        source,
        key: &key,
        fill: Fill {
            id: lease.grant,
            report,
        },
        slot: SlotBack {
            host: io.host,
            grant: lease.grant,
            released: &released,
        },
        peaks: &peaks,
    };
    let mut work = pin!(work.look_then_fetch(looked));
    let outcome = match keep_lease(io.host, config, lease, &released, work.as_mut()).await {
        Ok(outcome) => outcome,
        Err(stop) => {
            // Stop the origin fetch (which fails the store's next read, and
            // it aborts its writes), then wait for the writes to end:
            // nothing may land after this attempt is over.
            io.origin.abort();
            match work.await {
                stored @ AttemptOutcome::Stored { .. } => stored,
                _ => AttemptOutcome::transient(stop.failure, stop.reason),
            }
        }
    };
    let peaks = outcome.keeps(peaks.take());
    Attempt {
        outcome,
        released: released.get(),
        peaks,
    }
}

/// An attempt's work, apart from its lease.
struct Work<'a, O, S, H> {
    io: &'a AttemptIo<'a, O, S, H>,
    config: &'a EdgeConfig,
    id: &'a CallIdentity,
    source: &'a RecordingSource,
    /// The served key.
    key: &'a str,
    fill: Fill<'a>,
    slot: SlotBack<'a, H>,
    peaks: &'a RefCell<Option<PeaksRecord>>,
}

impl<O, S, H> Work<'_, O, S, H>
where
    O: OriginFetch,
    S: RecordingStore<Chunk = <O::Body as OriginBody>::Chunk>,
    H: AttemptHost,
{
    async fn look_then_fetch(self, looked: Looked) -> AttemptOutcome {
        let Work { io, id, key, .. } = self;
        let fill_id = self.fill.id;
        let fresh = matches!(looked, Looked::Fresh);
        let stored = match looked {
            Looked::Stored(size) => Some(size),
            Looked::Missing | Looked::Fresh => None,
            Looked::NotYet => match io.store.head(key).await {
                Ok(size) => size,
                Err(e) => {
                    return AttemptOutcome::transient(
                        Failure::NotStored,
                        format!("R2 look-up: {e}"),
                    )
                }
            },
        };
        if let Some(size) = stored {
            return AttemptOutcome::Stored { size };
        }
        // Pieces a dead fill left are deleted while the origin is asked (never
        // this fill's own); a failure only leaves them for the next attempt.
        let clear = async {
            match fresh {
                true => Ok(()),
                false => delete_pieces(io.store, id, fill_id).await,
            }
        };
        let asked = fetch_recording(io.origin, &self.source.own_base, &self.source.url);
        let (fetched, cleared) = join(asked, clear).await;
        if let Err(e) = cleared {
            io.host
                .log("pieces_left", json!({"error": format!("{e:?}")}));
        }
        match fetched {
            Ok(response) => self.store(response).await,
            Err(outcome) => outcome,
        }
    }

    /// Stores the origin's answer, unless its status says otherwise.
    async fn store(self, response: OriginResponse<O::Body>) -> AttemptOutcome {
        let headers = response.headers;
        let retry_after = headers
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, self.io.host.now_ms()));
        let not_yet = self.source.not_found == NotFound::NotYet;
        if let Some(outcome) = classify_origin_status(response.status, retry_after, not_yet) {
            return outcome;
        }
        let length = stored_length(
            headers.content_length.as_deref(),
            headers.content_encoding.as_deref(),
        );
        let meta = StoreMeta {
            content_type: headers
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
            origin_etag: headers.etag.unwrap_or_default(),
            etag: None,
        };
        let delivery = Delivery {
            store: self.io.store,
            id: self.id,
            key: self.key,
            body: response.body,
            meta,
            slot: self.slot,
            peaks: self.peaks,
        };
        match store_way(length, self.config.max_recording_bytes) {
            StoreWay::Refuse(outcome) => outcome,
            StoreWay::Small(length) => store_small(delivery, length).await,
            StoreWay::Fill(length) => store_filling(delivery, length, self.fill).await,
            StoreWay::Parts => store_in_parts(delivery, self.config.max_recording_bytes).await,
        }
    }
}
