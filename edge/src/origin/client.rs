//! Asking the origin: the seam an attempt fetches through (`OriginFetch`,
//! the runtime's `fetch` in the worker, a fake in the tests) and the
//! recording's request, which follows the origin's redirects itself so
//! that the bearer token goes only where `origin_rules` allows.

use playback_core::download::{AttemptOutcome, Failure};
use playback_core::origin_rules::{carries_token, next_hop, Hop, UrlOrigin};
use worker::Url;

/// Sends GETs to the origin, or to where it redirects.
pub(super) trait OriginFetch {
    type Body: OriginBody;

    /// One GET of `url` with `Accept-Encoding: identity`, its redirects not
    /// followed, with the origin's bearer token only when `with_token`.
    async fn get(
        &self,
        url: &str,
        with_token: bool,
    ) -> Result<OriginResponse<Self::Body>, FetchError>;

    /// Aborts every GET sent: the next read of their bodies fails.
    fn abort(&self);
}

/// An answer of the origin's.
pub(super) struct OriginResponse<B> {
    pub status: u16,
    pub headers: OriginHeaders,
    /// `None` when the answer has no body.
    pub body: Option<B>,
}

/// The headers of an answer the edge reads.
#[derive(Debug, Default)]
pub(super) struct OriginHeaders {
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub content_length: Option<String>,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// Why a GET brought no answer.
#[derive(Debug)]
pub(super) enum FetchError {
    /// The runtime refused to make the request (a header or the URL).
    Request(String),
    /// The origin could not be reached.
    Unreachable(String),
}

/// The body of an answer, read in chunks. One body is read one way only.
pub(super) trait OriginBody {
    type Chunk: BodyChunk;

    /// The next chunk as the runtime holds it (a fill writes it on to R2
    /// as it is); `None` after the last.
    async fn next_chunk(&mut self) -> Result<Option<Self::Chunk>, String>;

    /// The next chunk copied into memory of our own; `None` after the last.
    async fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, String>;
}

/// A chunk of a body, as the runtime holds it.
pub(super) trait BodyChunk: Clone {
    /// Its length in bytes.
    fn size(&self) -> u64;
    /// The bytes its buffer holds until R2 has taken it (at least `size`).
    fn held(&self) -> u64;
    /// The view of its bytes `from..to`.
    fn view(&self, from: u64, to: u64) -> Self;
    /// Copies its bytes into `into`, which takes its length.
    fn copy_into(&self, into: &mut Vec<u8>);
}

/// Asks for `url` (the recording's, at the origin whose base URL is
/// `own_base`), following the origin's redirects
/// (`origin_rules::next_hop`), with the credentials only where
/// `origin_rules::carries_token` allows.
pub(super) async fn fetch_recording<O: OriginFetch>(
    origin: &O,
    own_base: &str,
    url: &str,
) -> Result<OriginResponse<O::Body>, AttemptOutcome> {
    let base = Url::parse(own_base).map_err(|_| {
        AttemptOutcome::permanent(Failure::OriginRejected, "the origin's base is not a URL")
    })?;
    let mut url = Url::parse(url).map_err(|_| {
        AttemptOutcome::permanent(Failure::OriginRejected, "the recording's URL is not a URL")
    })?;
    let own = url_origin(&base);
    let mut hop = 0;
    loop {
        let with_token = carries_token(url_origin(&url).as_ref(), own.as_ref());
        let response = origin
            .get(url.as_str(), with_token)
            .await
            .map_err(|e| match e {
                FetchError::Request(e) => AttemptOutcome::permanent(Failure::OriginRejected, e),
                FetchError::Unreachable(e) => {
                    AttemptOutcome::transient(Failure::OriginUnreachable, e)
                }
            })?;
        let next = response
            .headers
            .location
            .as_deref()
            .and_then(|l| url.join(l).ok());
        match next_hop(response.status, hop, next, Url::scheme) {
            Hop::Answer => return Ok(response),
            Hop::Follow(next) => url = next,
            Hop::Stop(outcome) => return Err(outcome),
        }
        hop += 1;
    }
}

/// A URL's scheme, host and port (the scheme's default when it names none).
fn url_origin(url: &Url) -> Option<UrlOrigin> {
    Some(UrlOrigin {
        scheme: url.scheme().to_owned(),
        host: url.host_str()?.to_owned(),
        port: url.port_or_known_default()?,
    })
}
