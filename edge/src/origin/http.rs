//! The runtime's side of asking the origin: its `fetch`, with the edge's
//! credentials (never logged), an abort for the whole attempt, and the
//! body's readers.

use std::cell::Cell;

use futures_util::StreamExt;
use playback_core::config::{EdgeConfig, OriginConfig};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    AbortController, AbortSignal, ByteStream, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, ResponseBody,
};

use super::client::{
    BodyChunk, FetchError, OriginBody, OriginFetch, OriginHeaders, OriginResponse,
};
use crate::error::EdgeResult;

/// A GET of `url`, with the origin's credentials when `with_token`.
pub(super) fn origin_request(
    config: &EdgeConfig,
    url: &str,
    with_token: bool,
) -> EdgeResult<Request> {
    let headers = Headers::new();
    if with_token {
        headers.set("Authorization", &authorization(&config.origin))?;
    }
    headers.set("Accept-Encoding", "identity")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    Ok(Request::new_with_init(url, &init)?)
}

/// The `Authorization` header's value: the generic origin's bearer token,
/// or Twilio's HTTP Basic pair.
fn authorization(origin: &OriginConfig) -> String {
    match origin {
        OriginConfig::Generic { token, .. } => format!("Bearer {token}"),
        OriginConfig::Twilio(twilio) => twilio.credentials.authorization(),
    }
}

/// The origin through the runtime's `fetch`, for one attempt: `abort` stops
/// every request it sent.
pub(super) struct WorkerOrigin<'a> {
    config: &'a EdgeConfig,
    /// Taken when it aborts (an abort is for good).
    controller: Cell<Option<AbortController>>,
    signal: AbortSignal,
}

impl<'a> WorkerOrigin<'a> {
    pub(super) fn new(config: &'a EdgeConfig) -> Self {
        let controller = AbortController::default();
        let signal = controller.signal();
        WorkerOrigin {
            config,
            controller: Cell::new(Some(controller)),
            signal,
        }
    }
}

impl OriginFetch for WorkerOrigin<'_> {
    type Body = WorkerBody;

    async fn get(
        &self,
        url: &str,
        with_token: bool,
    ) -> Result<OriginResponse<WorkerBody>, FetchError> {
        let request = origin_request(self.config, url, with_token)
            .map_err(|e| FetchError::Request(format!("{e:?}")))?;
        let response = Fetch::Request(request)
            .send_with_signal(&self.signal)
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        Ok(answer(response))
    }

    fn abort(&self) {
        if let Some(controller) = self.controller.take() {
            controller.abort();
        }
    }
}

fn answer(response: Response) -> OriginResponse<WorkerBody> {
    let status = response.status_code();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let headers = OriginHeaders {
        location: header("Location"),
        retry_after: header("Retry-After"),
        content_length: header("Content-Length"),
        content_encoding: header("Content-Encoding"),
        content_type: header("Content-Type"),
        etag: header("ETag"),
    };
    let body = match response.into_parts().1 {
        ResponseBody::Stream(stream) => Some(WorkerBody::Unread(stream)),
        _ => None,
    };
    OriginResponse {
        status,
        headers,
        body,
    }
}

/// An answer's body: unread, or read one of the two ways.
pub(super) enum WorkerBody {
    Unread(web_sys::ReadableStream),
    Chunks(BodyReader),
    Bytes(ByteStream),
}

impl OriginBody for WorkerBody {
    type Chunk = js_sys::Uint8Array;

    async fn next_chunk(&mut self) -> Result<Option<js_sys::Uint8Array>, String> {
        if let WorkerBody::Unread(source) = self {
            *self = WorkerBody::Chunks(BodyReader::of(source));
        }
        let WorkerBody::Chunks(reader) = self else {
            return Err("the body is being read as bytes".into());
        };
        let read = JsFuture::from(reader.read()).await.map_err(js_error)?;
        if js_sys::Reflect::get(&read, &"done".into())
            .map_err(js_error)?
            .is_truthy()
        {
            return Ok(None);
        }
        let chunk = js_sys::Reflect::get(&read, &"value".into()).map_err(js_error)?;
        chunk.dyn_into().map(Some).map_err(js_error)
    }

    async fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, String> {
        if let WorkerBody::Unread(source) = self {
            *self = WorkerBody::Bytes(ByteStream::from(source.clone()));
        }
        let WorkerBody::Bytes(stream) = self else {
            return Err("the body is being read in chunks".into());
        };
        stream.next().await.transpose().map_err(|e| e.to_string())
    }
}

fn js_error(e: wasm_bindgen::JsValue) -> String {
    format!("{e:?}")
}

impl BodyChunk for js_sys::Uint8Array {
    fn size(&self) -> u64 {
        u64::from(self.length())
    }

    fn held(&self) -> u64 {
        u64::from(self.buffer().byte_length()).max(self.size())
    }

    fn view(&self, from: u64, to: u64) -> Self {
        self.subarray(from as u32, to as u32)
    }

    fn copy_into(&self, into: &mut Vec<u8>) {
        into.resize(self.length() as usize, 0);
        self.copy_to(into);
    }
}

/// Reads the origin's body in chunks of up to `READ_BYTES`: a reader that
/// brings its own buffer (the runtime's default reader hands over 4 KiB at
/// a time, and each chunk costs a round of promises and writes; measured:
/// 548 chunks and 151 ms of waiting for a 2.2 MB body), or the default
/// reader for a body that is not a byte stream.
pub(super) enum BodyReader {
    Byob(web_sys::ReadableStreamByobReader),
    Default(web_sys::ReadableStreamDefaultReader),
}

/// The most a chunk read from the origin holds.
const READ_BYTES: u32 = 64 << 10;

impl BodyReader {
    fn of(source: &web_sys::ReadableStream) -> BodyReader {
        match web_sys::ReadableStreamByobReader::new(source) {
            Ok(reader) => BodyReader::Byob(reader),
            // Without options, `getReader` gives a default reader.
            Err(_) => BodyReader::Default(source.get_reader().unchecked_into()),
        }
    }

    /// The next read's promise: `{done, value}`, as a default reader's.
    fn read(&self) -> js_sys::Promise {
        match self {
            // Each read gets a buffer of its own: the last one went on to R2.
            BodyReader::Byob(reader) => {
                reader.read_with_array_buffer_view(&js_sys::Uint8Array::new_with_length(READ_BYTES))
            }
            BodyReader::Default(reader) => reader.read(),
        }
    }
}
