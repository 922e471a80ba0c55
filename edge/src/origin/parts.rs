//! A body of unknown length (chunked, or a coding the runtime decoded):
//! read in parts of exactly `PART_BYTES` (R2 wants every part but the last
//! of one size) into a multipart upload, which R2 shows only once it is
//! completed, and it is completed only after the body's clean end (or one
//! `put` when the body is small). A body past `MAX_RECORDING_BYTES` is
//! refused. Memory: one part and one chunk of the body.

use playback_core::download::{AttemptOutcome, Failure};

use super::client::OriginBody;
use super::lease::AttemptHost;
use super::store::{put_whole, Delivery, RecordingStore, StoreBody, StoreMeta};

/// The size of a multipart upload's parts (R2 wants at least 5 MiB but for the last).
const PART_BYTES: usize = 8 << 20;

pub(super) async fn store_in_parts<S, B, H>(
    delivery: Delivery<'_, S, B, H>,
    max_bytes: u64,
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
        ..
    } = delivery;
    let Some(mut body) = body else {
        slot.origin_read().await;
        return put_whole(store, key, StoreBody::Empty, 0, &meta).await;
    };
    let mut parts = Parts {
        store,
        key,
        content_type: &meta.content_type,
        upload: None,
        sent: Vec::new(),
        buffer: Vec::with_capacity(PART_BYTES),
        total: 0,
    };
    if let Err(outcome) = parts.read(&mut body, max_bytes).await {
        if let Some(upload) = &parts.upload {
            store.abort_upload(upload).await;
        }
        return outcome;
    }
    slot.origin_read().await;
    parts.finish(&meta).await
}

/// A multipart upload as the body is read: the parts sent so far and the
/// bytes of the next one. The upload starts with the first full part.
struct Parts<'a, S: RecordingStore> {
    store: &'a S,
    key: &'a str,
    content_type: &'a str,
    upload: Option<S::Upload>,
    sent: Vec<S::Part>,
    buffer: Vec<u8>,
    total: u64,
}

impl<S: RecordingStore> Parts<'_, S> {
    /// Reads the body to its clean end, sending each part as it is full.
    async fn read<B: OriginBody>(
        &mut self,
        body: &mut B,
        max_bytes: u64,
    ) -> Result<(), AttemptOutcome> {
        loop {
            let chunk = match body.next_bytes().await {
                Ok(None) => return Ok(()),
                Ok(Some(chunk)) => chunk,
                Err(e) => return Err(AttemptOutcome::transient(Failure::CutOff, e)),
            };
            self.total += chunk.len() as u64;
            if self.total > max_bytes {
                return Err(AttemptOutcome::permanent(
                    Failure::TooLarge,
                    format!("more than {max_bytes} bytes"),
                ));
            }
            let mut rest = chunk.as_slice();
            while !rest.is_empty() {
                let take = rest.len().min(PART_BYTES - self.buffer.len());
                self.buffer.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.buffer.len() == PART_BYTES {
                    self.send_part().await?;
                }
            }
        }
    }

    /// After the body's clean end: the rest goes as the last part and the
    /// upload is completed, or, when no part was full, the body is one `put`.
    async fn finish(self, meta: &StoreMeta) -> AttemptOutcome {
        let Parts {
            store,
            key,
            upload,
            mut sent,
            buffer,
            total,
            ..
        } = self;
        let Some(upload) = upload else {
            return put_whole(store, key, StoreBody::Bytes(buffer), total, meta).await;
        };
        if !buffer.is_empty() {
            match store
                .upload_part(&upload, sent.len() as u16 + 1, buffer)
                .await
            {
                Ok(part) => sent.push(part),
                Err(e) => {
                    store.abort_upload(&upload).await;
                    return AttemptOutcome::transient(Failure::NotStored, format!("R2 part: {e}"));
                }
            }
        }
        match store.complete_upload(key, upload, sent).await {
            Ok(size) if size == total => AttemptOutcome::Stored { size: total },
            Ok(size) => {
                store.delete(key).await;
                AttemptOutcome::transient(
                    Failure::NotStored,
                    format!("stored {size} bytes of {total}"),
                )
            }
            Err(e) => AttemptOutcome::transient(Failure::NotStored, format!("R2 complete: {e}")),
        }
    }

    /// Sends the full buffer as the next part.
    async fn send_part(&mut self) -> Result<(), AttemptOutcome> {
        let upload = match &self.upload {
            Some(upload) => upload,
            None => {
                let created = self.store.create_upload(self.key, self.content_type).await;
                let created = created.map_err(|e| {
                    AttemptOutcome::transient(Failure::NotStored, format!("R2 upload: {e}"))
                })?;
                self.upload.insert(created)
            }
        };
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let number = self.sent.len() as u16 + 1;
        match self.store.upload_part(upload, number, part).await {
            Ok(part) => {
                self.sent.push(part);
                Ok(())
            }
            Err(e) => Err(AttemptOutcome::transient(
                Failure::NotStored,
                format!("R2 part: {e}"),
            )),
        }
    }
}
