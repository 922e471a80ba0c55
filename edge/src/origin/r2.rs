//! R2 as the store of recordings: the bucket's calls behind
//! `RecordingStore`, the runtime's fixed-length streams for a fill, the
//! call object's look for a stored recording, and the peaks of a recording
//! stored without them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use js_sys::BigInt;
use playback_core::ids::{recording_key, CallIdentity};
use playback_core::peaks::{PeaksBuilder, PeaksRecord};
use web_sys::WritableStreamDefaultWriter;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::FixedLengthStream;
use worker::{Bucket, Data, HttpMetadata, MultipartUpload, UploadedPart};

use super::attempt::Looked;
use super::store::{KeyPage, ObjectMeta, RecordingStore, StoreBody};
use crate::error::EdgeResult;
use crate::log::now_ms;

/// Looks in R2 for the recording.
pub(crate) async fn look(bucket: &Bucket, id: &CallIdentity) -> Looked {
    match bucket.head(recording_key(id)).await {
        Ok(Some(object)) => Looked::Stored(object.size()),
        Ok(None) => Looked::Missing,
        Err(_) => Looked::NotYet,
    }
}

/// Computes a stored recording's peaks record from R2 (a recording stored
/// without them: its body came without a length). `None` when R2 does not
/// have the recording, or it could not be read whole.
pub(crate) async fn peaks_from_r2(env: worker::Env, id: CallIdentity) -> Option<PeaksRecord> {
    let bucket = crate::rpc::recordings(&env).ok()?;
    let recording = recording_key(&id);
    let object = bucket.get(&recording).execute().await.ok()??;
    let started = now_ms();
    let mut peaks = PeaksBuilder::new();
    if let Some(body) = object.body() {
        let mut stream = body.stream().ok()?;
        while let Some(chunk) = stream.next().await {
            peaks.push(&chunk.ok()?);
        }
    }
    crate::log::call_event(
        &id,
        "peaks_computed",
        serde_json::json!({"size": object.size(), "duration_ms": now_ms() - started}),
    );
    Some(PeaksRecord::of(peaks.finish()))
}

/// The recordings' bucket.
pub(super) struct R2Store<'a> {
    bucket: &'a Bucket,
}

impl<'a> R2Store<'a> {
    pub(super) fn new(bucket: &'a Bucket) -> Self {
        R2Store { bucket }
    }
}

fn http_metadata(content_type: &str) -> HttpMetadata {
    HttpMetadata {
        content_type: Some(content_type.to_owned()),
        ..Default::default()
    }
}

impl RecordingStore for R2Store<'_> {
    type Chunk = js_sys::Uint8Array;
    type Stream = web_sys::ReadableStream;
    type Writer = WritableStreamDefaultWriter;
    type Write = Taken;
    type Upload = MultipartUpload;
    type Part = UploadedPart;

    async fn head(&self, key: &str) -> Result<Option<u64>, String> {
        match self.bucket.head(key).await {
            Ok(object) => Ok(object.map(|o| o.size())),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: StoreBody<web_sys::ReadableStream>,
        meta: ObjectMeta,
    ) -> Result<Option<u64>, String> {
        let data = match body {
            StoreBody::Empty => Data::Empty,
            StoreBody::Bytes(bytes) => Data::Bytes(bytes),
            StoreBody::Stream(stream) => Data::ReadableStream(stream),
        };
        let put = (self.bucket.put(key, data))
            .http_metadata(http_metadata(&meta.content_type))
            .custom_metadata(meta.custom)
            .execute();
        match put.await {
            Ok(object) => Ok(object.map(|o| o.size())),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn delete(&self, key: &str) {
        let _ = self.bucket.delete(key).await;
    }

    fn fixed_stream(
        &self,
        length: u64,
    ) -> Result<(web_sys::ReadableStream, WritableStreamDefaultWriter), String> {
        let stream = FixedLengthStream::new_big_int(BigInt::from(length)).map_err(js_error)?;
        let writer = stream.writable().get_writer().map_err(js_error)?;
        Ok((stream.readable(), writer))
    }

    fn write(&self, writer: &WritableStreamDefaultWriter, chunk: &js_sys::Uint8Array) -> Taken {
        Taken(JsFuture::from(writer.write_with_chunk(chunk)))
    }

    fn close(&self, writer: &WritableStreamDefaultWriter) -> Taken {
        Taken(JsFuture::from(writer.close()))
    }

    async fn abort(&self, writer: &WritableStreamDefaultWriter) {
        let _ = JsFuture::from(writer.abort()).await;
    }

    async fn put_piece(&self, key: String, stream: web_sys::ReadableStream) -> Result<(), String> {
        let put = self.bucket.put(key, Data::ReadableStream(stream)).execute();
        put.await.map(drop).map_err(|e| e.to_string())
    }

    async fn list_keys(&self, prefix: &str, limit: u32) -> EdgeResult<KeyPage> {
        let listed = (self.bucket.list())
            .prefix(prefix.to_owned())
            .limit(limit)
            .execute()
            .await?;
        Ok(KeyPage {
            keys: listed.objects().iter().map(|o| o.key()).collect(),
            truncated: listed.truncated(),
        })
    }

    async fn delete_keys(&self, keys: Vec<String>) -> EdgeResult<()> {
        Ok(self.bucket.delete_multiple(keys).await?)
    }

    async fn create_upload(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<MultipartUpload, String> {
        let created = (self.bucket.create_multipart_upload(key))
            .http_metadata(http_metadata(content_type))
            .execute();
        created.await.map_err(|e| e.to_string())
    }

    async fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<UploadedPart, String> {
        upload
            .upload_part(number, bytes)
            .await
            .map_err(|e| e.to_string())
    }

    async fn abort_upload(&self, upload: &MultipartUpload) {
        let _ = upload.abort().await;
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: MultipartUpload,
        parts: Vec<UploadedPart>,
    ) -> Result<u64, String> {
        let upload_id = upload.upload_id().await;
        match upload.complete(parts).await {
            Ok(object) => Ok(object.size()),
            Err(e) => {
                if let Ok(upload) = self.bucket.resume_multipart_upload(key, upload_id) {
                    let _ = upload.abort().await;
                }
                Err(e.to_string())
            }
        }
    }
}

fn js_error(e: wasm_bindgen::JsValue) -> String {
    format!("{e:?}")
}

/// A write or close on a stream's writer: done once the stream's put took
/// it (the writer's promise).
pub(super) struct Taken(JsFuture);

impl Future for Taken {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|taken| taken.map(drop).map_err(js_error))
    }
}
