//! Storing a recording: the seam an attempt stores through
//! (`RecordingStore`: R2 in the worker, a fake in the tests), the one `put`
//! of a whole body, a body small enough for one piece, and the clean-up of
//! the pieces a dead fill left. R2 makes an object visible only when its
//! `put` completes: a recording is stored whole or not at all.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use playback_core::download::{AttemptOutcome, Failure};
use playback_core::fill::{fill_prefix, fills_prefix};
use playback_core::ids::CallIdentity;
use playback_core::peaks::{PeaksBuilder, PeaksRecord};

use super::client::{BodyChunk, OriginBody};
use super::lease::{AttemptHost, SlotBack};
use crate::error::EdgeResult;

/// Where recordings and a fill's pieces are stored. Errors are the
/// runtime's words, for the attempt's log line (the clean-up's are only
/// logged, as the edge's own errors).
pub(super) trait RecordingStore {
    /// A chunk of the origin's body, which a fill writes on as it is.
    type Chunk: BodyChunk;
    /// A stream of a fixed length that a `put` reads.
    type Stream;
    /// Writes into a `Stream`. Its `put` fails when the stream ends short
    /// of its length, runs past it, or is aborted.
    type Writer;
    /// A write or close issued on a `Writer`: done once the put took it.
    type Write: Future<Output = Result<(), String>>;
    /// A multipart upload under way, and one of its parts.
    type Upload;
    type Part;

    /// The size of the object under `key`, if there is one.
    async fn head(&self, key: &str) -> Result<Option<u64>, String>;
    /// Puts an object: the size stored (`None`: nothing was).
    async fn put(
        &self,
        key: &str,
        body: StoreBody<Self::Stream>,
        meta: ObjectMeta,
    ) -> Result<Option<u64>, String>;
    /// Deletes the object under `key`, if it can.
    async fn delete(&self, key: &str);

    /// A stream of exactly `length` bytes for a `put`, and its writer.
    fn fixed_stream(&self, length: u64) -> Result<(Self::Stream, Self::Writer), String>;
    fn write(&self, writer: &Self::Writer, chunk: &Self::Chunk) -> Self::Write;
    fn close(&self, writer: &Self::Writer) -> Self::Write;
    /// Aborts the writer: its put fails instead of waiting for the rest.
    async fn abort(&self, writer: &Self::Writer);
    /// Puts a fill's piece as its stream fills.
    async fn put_piece(&self, key: String, stream: Self::Stream) -> Result<(), String>;

    /// Up to `limit` keys under `prefix`.
    async fn list_keys(&self, prefix: &str, limit: u32) -> EdgeResult<KeyPage>;
    async fn delete_keys(&self, keys: Vec<String>) -> EdgeResult<()>;

    async fn create_upload(&self, key: &str, content_type: &str) -> Result<Self::Upload, String>;
    async fn upload_part(
        &self,
        upload: &Self::Upload,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<Self::Part, String>;
    /// Aborts the upload, if it can.
    async fn abort_upload(&self, upload: &Self::Upload);
    /// Completes the upload: the size stored. An upload that fails to
    /// complete is aborted, so its parts do not linger until R2's lifecycle
    /// removes them.
    async fn complete_upload(
        &self,
        key: &str,
        upload: Self::Upload,
        parts: Vec<Self::Part>,
    ) -> Result<u64, String>;
}

/// What a `put` stores.
pub(super) enum StoreBody<T> {
    Empty,
    Bytes(Vec<u8>),
    Stream(T),
}

/// An object's content type and custom metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ObjectMeta {
    pub content_type: String,
    pub custom: HashMap<String, String>,
}

/// One page of a key listing.
pub(super) struct KeyPage {
    pub keys: Vec<String>,
    /// More keys follow.
    pub truncated: bool,
}

/// What the origin said about the recording, kept with it.
pub(super) struct StoreMeta {
    pub content_type: String,
    pub origin_etag: String,
    /// The validator a fill served the recording with, which it keeps.
    pub etag: Option<String>,
}

impl StoreMeta {
    fn object(&self, length: u64) -> ObjectMeta {
        let mut custom: HashMap<String, String> = [
            ("origin_etag".to_string(), self.origin_etag.clone()),
            ("length".to_string(), length.to_string()),
        ]
        .into();
        if let Some(etag) = &self.etag {
            custom.insert(crate::serve::ETAG_METADATA.to_string(), etag.clone());
        }
        ObjectMeta {
            content_type: self.content_type.clone(),
            custom,
        }
    }
}

/// An answer's body on its way to R2: where it goes, what is kept with it,
/// who gives the slot back once it is read, and where its peaks go.
pub(super) struct Delivery<'a, S, B, H> {
    pub store: &'a S,
    pub id: &'a CallIdentity,
    pub key: &'a str,
    pub body: Option<B>,
    pub meta: StoreMeta,
    pub slot: SlotBack<'a, H>,
    pub peaks: &'a RefCell<Option<PeaksRecord>>,
}

/// Puts the body under the served key; R2 makes it visible only whole.
pub(super) async fn put_whole<S: RecordingStore>(
    store: &S,
    key: &str,
    body: StoreBody<S::Stream>,
    length: u64,
    meta: &StoreMeta,
) -> AttemptOutcome {
    match store.put(key, body, meta.object(length)).await {
        Ok(Some(size)) if size == length => AttemptOutcome::Stored { size: length },
        Ok(Some(size)) => {
            store.delete(key).await;
            AttemptOutcome::transient(
                Failure::NotStored,
                format!("stored {size} bytes of {length}"),
            )
        }
        Ok(None) => AttemptOutcome::transient(Failure::NotStored, "R2 stored nothing"),
        Err(e) => AttemptOutcome::transient(Failure::CutOff, e),
    }
}

/// A recording that fits in one piece (`fill::fills`): read whole (at most
/// `FIRST_PIECE_BYTES`), its slot given back, then one `put` of exactly its
/// announced length.
pub(super) async fn store_small<S, B, H>(
    delivery: Delivery<'_, S, B, H>,
    length: u64,
) -> AttemptOutcome
where
    S: RecordingStore,
    B: OriginBody,
    H: AttemptHost,
{
    let Delivery {
        store,
        key,
        body,
        meta,
        slot,
        peaks: peaks_out,
        ..
    } = delivery;
    let bytes = match read_whole(body, length).await {
        Ok(bytes) => bytes,
        Err(outcome) => return outcome,
    };
    // The origin's body is read: its slot goes back first, so that the next
    // download's origin request is not queued behind this put (or the
    // peaks) on the runtime's thread (BENCHMARKS.md, the drain); this
    // recording is ready one release later.
    slot.origin_read().await;
    let mut peaks = PeaksBuilder::new();
    peaks.push(&bytes);
    let outcome = put_whole(store, key, StoreBody::Bytes(bytes), length, &meta).await;
    if matches!(outcome, AttemptOutcome::Stored { .. }) {
        *peaks_out.borrow_mut() = Some(PeaksRecord::of(peaks.finish()));
    }
    outcome
}

/// Reads a body of exactly `length` bytes into memory.
async fn read_whole<B: OriginBody>(
    body: Option<B>,
    length: u64,
) -> Result<Vec<u8>, AttemptOutcome> {
    let cut_off = |detail: String| Err(AttemptOutcome::transient(Failure::CutOff, detail));
    let mut bytes = Vec::with_capacity(length as usize);
    if length > 0 {
        let Some(mut body) = body else {
            return cut_off("body is not streamable".into());
        };
        loop {
            match body.next_bytes().await {
                Ok(None) => break,
                Ok(Some(chunk)) if bytes.len() + chunk.len() <= length as usize => {
                    bytes.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => return cut_off(format!("more than the {length} bytes announced")),
                Err(e) => return cut_off(e),
            }
        }
    }
    if bytes.len() as u64 != length {
        return cut_off(format!("{} of the {length} bytes announced", bytes.len()));
    }
    Ok(bytes)
}

/// How many keys one listing brings: R2 deletes at most 1 000 at once.
const KEYS_AT_ONCE: u32 = 1000;

/// Deletes every piece of every fill of this call but fill `keep`'s. A
/// fill's own pieces are deleted by name when its attempt ends
/// (`fill::piece_keys`); this listing finds those of a fill that died with
/// its instance.
pub(super) async fn delete_pieces<S: RecordingStore>(
    store: &S,
    id: &CallIdentity,
    keep: u64,
) -> EdgeResult<()> {
    let prefix = fills_prefix(id);
    let kept = fill_prefix(id, keep);
    loop {
        let listed = store.list_keys(&prefix, KEYS_AT_ONCE).await?;
        let keys: Vec<String> = listed
            .keys
            .into_iter()
            .filter(|k| !k.starts_with(&kept))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        store.delete_keys(keys).await?;
        if !listed.truncated {
            return Ok(());
        }
    }
}
