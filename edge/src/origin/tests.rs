//! The attempt, driven natively with fakes of its seams: an origin whose
//! body can stall until it is aborted, a store whose streams and puts
//! behave as R2's do (a put completes when its stream is whole and fails
//! when it is aborted or cut short), and a call object whose clock only the
//! test moves. Each test polls the attempt until nothing can move any more,
//! then checks what the fakes saw: no timers and no sleeps.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, ready, Future, Ready};
use std::ops::Range;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use playback_core::config::EdgeConfig;
use playback_core::download::{AttemptOutcome, Failure};
use playback_core::fill::{fill_prefix, piece_key};
use playback_core::ids::{recording_key, CallIdentity};
use playback_core::origin_url::recording_source;
use playback_core::{BusinessId, CallSid};

use super::attempt::{run, Attempt, AttemptCall, AttemptIo, Looked};
use super::client::{
    BodyChunk, FetchError, OriginBody, OriginFetch, OriginHeaders, OriginResponse,
};
use super::fill::FillEvent;
use super::lease::{AttemptHost, Lease};
use super::store::{KeyPage, ObjectMeta, RecordingStore, StoreBody};
use crate::error::EdgeResult;

const BASE: &str = "http://origin.test";
const LEASE_MS: u64 = 30_000;
const GRANT: u64 = 7;
const KIB: usize = 1 << 10;

// ---- Running a future until it stalls ----

/// A waker that raises a flag: the attempt is polled again only when
/// something woke it.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `future` until it is ready, or until nothing wakes it any more:
/// every fake it waits on then waits for the test.
fn run_until_stalled<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    while flag.0.swap(false, Ordering::SeqCst) {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Poll::Ready(output);
        }
    }
    Poll::Pending
}

/// Wakers waiting on one fake's state.
#[derive(Default)]
struct Waiters(RefCell<Vec<Waker>>);

impl Waiters {
    fn wait(&self, cx: &Context<'_>) {
        self.0.borrow_mut().push(cx.waker().clone());
    }

    fn wake_all(&self) {
        for waker in self.0.take() {
            waker.wake();
        }
    }
}

// ---- The origin ----

/// A body the fake origin sends: these chunks, then its end, or a stall
/// that only an abort ends.
struct BodyPlan {
    chunks: Vec<Vec<u8>>,
    stalls: bool,
}

struct FakeAnswer {
    status: u16,
    headers: OriginHeaders,
    body: Option<BodyPlan>,
}

/// The origin and the hosts it redirects to: one answer per URL, each
/// asked at most once.
#[derive(Default)]
struct FakeOrigin {
    answers: RefCell<HashMap<String, FakeAnswer>>,
    /// Every GET, with whether it carried the token.
    asked: RefCell<Vec<(String, bool)>>,
    abort: Rc<Abort>,
}

#[derive(Default)]
struct Abort {
    aborted: Cell<bool>,
    waiters: Waiters,
}

impl FakeOrigin {
    fn answers(self, url: &str, answer: FakeAnswer) -> Self {
        self.answers.borrow_mut().insert(url.to_owned(), answer);
        self
    }
}

impl OriginFetch for FakeOrigin {
    type Body = FakeBody;

    async fn get(
        &self,
        url: &str,
        with_token: bool,
    ) -> Result<OriginResponse<FakeBody>, FetchError> {
        self.asked.borrow_mut().push((url.to_owned(), with_token));
        let answer = self.answers.borrow_mut().remove(url);
        let answer =
            answer.ok_or_else(|| FetchError::Unreachable(format!("no answer for {url}")))?;
        let body = answer.body.map(|plan| FakeBody {
            chunks: plan.chunks.into(),
            stalls: plan.stalls,
            abort: self.abort.clone(),
        });
        Ok(OriginResponse {
            status: answer.status,
            headers: answer.headers,
            body,
        })
    }

    fn abort(&self) {
        self.abort.aborted.set(true);
        self.abort.waiters.wake_all();
    }
}

struct FakeBody {
    chunks: VecDeque<Vec<u8>>,
    stalls: bool,
    abort: Rc<Abort>,
}

impl FakeBody {
    /// The next chunk: a read after an abort fails, as the runtime's does.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        let abort = self.abort.clone();
        let aborted = || Err("the fetch was aborted".to_owned());
        if abort.aborted.get() {
            return aborted();
        }
        if let Some(chunk) = self.chunks.pop_front() {
            return Ok(Some(chunk));
        }
        if !self.stalls {
            return Ok(None);
        }
        poll_fn(|cx| match abort.aborted.get() {
            true => Poll::Ready(()),
            false => {
                abort.waiters.wait(cx);
                Poll::Pending
            }
        })
        .await;
        aborted()
    }
}

impl OriginBody for FakeBody {
    type Chunk = FakeChunk;

    async fn next_chunk(&mut self) -> Result<Option<FakeChunk>, String> {
        let chunk = self.next().await?;
        Ok(chunk.map(|bytes| {
            let range = 0..bytes.len();
            FakeChunk(Rc::new(bytes), range)
        }))
    }

    async fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, String> {
        self.next().await
    }
}

#[derive(Clone)]
struct FakeChunk(Rc<Vec<u8>>, Range<usize>);

impl BodyChunk for FakeChunk {
    fn size(&self) -> u64 {
        self.1.len() as u64
    }

    fn held(&self) -> u64 {
        self.size()
    }

    fn view(&self, from: u64, to: u64) -> Self {
        let start = self.1.start;
        FakeChunk(self.0.clone(), start + from as usize..start + to as usize)
    }

    fn copy_into(&self, into: &mut Vec<u8>) {
        into.clear();
        into.extend_from_slice(&self.0[self.1.clone()]);
    }
}

// ---- The store ----

/// A stream of a fixed length between a writer and a put.
#[derive(Default)]
struct Pipe {
    length: u64,
    bytes: Vec<u8>,
    end: Option<End>,
    waiters: Waiters,
}

enum End {
    Closed,
    Aborted,
}

#[derive(Clone)]
struct FakeStream(Rc<RefCell<Pipe>>);

impl FakeStream {
    /// The stream's bytes once it has ended: whole, or why not.
    async fn ended(&self) -> Result<Vec<u8>, String> {
        poll_fn(|cx| {
            let pipe = self.0.borrow();
            match pipe.end {
                None => {
                    pipe.waiters.wait(cx);
                    Poll::Pending
                }
                Some(End::Closed) if pipe.bytes.len() as u64 == pipe.length => {
                    Poll::Ready(Ok(pipe.bytes.clone()))
                }
                Some(End::Closed) => Poll::Ready(Err("the stream ended short".to_owned())),
                Some(End::Aborted) => Poll::Ready(Err("the stream was aborted".to_owned())),
            }
        })
        .await
    }
}

/// R2 as a map, counting every put that started and every one that ended.
#[derive(Default)]
struct FakeStore {
    objects: RefCell<HashMap<String, Vec<u8>>>,
    puts_started: Cell<u32>,
    puts_ended: Cell<u32>,
    /// A piece whose put R2 refuses once its stream has ended.
    failing_piece: Option<String>,
}

impl FakeStore {
    fn has(&self, key: &str) -> bool {
        self.objects.borrow().contains_key(key)
    }

    /// Counts one put from its start to its end (a put dropped before its
    /// end is never counted as ended). R2 answers a put one turn after its
    /// body is whole, so other work runs while puts are in flight.
    async fn counted<T>(&self, put: impl Future<Output = T>) -> T {
        self.puts_started.set(self.puts_started.get() + 1);
        let done = put.await;
        let mut answered = false;
        poll_fn(|cx| {
            if std::mem::replace(&mut answered, true) {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        self.puts_ended.set(self.puts_ended.get() + 1);
        done
    }

    fn store(&self, key: &str, bytes: Vec<u8>) -> u64 {
        let size = bytes.len() as u64;
        self.objects.borrow_mut().insert(key.to_owned(), bytes);
        size
    }
}

/// A multipart upload: its parts, in the order sent.
struct FakeUpload(RefCell<Vec<Vec<u8>>>);

impl RecordingStore for FakeStore {
    type Chunk = FakeChunk;
    type Stream = FakeStream;
    type Writer = FakeStream;
    type Write = Ready<Result<(), String>>;
    type Upload = FakeUpload;
    type Part = usize;

    async fn head(&self, key: &str) -> Result<Option<u64>, String> {
        Ok(self.objects.borrow().get(key).map(|b| b.len() as u64))
    }

    async fn put(
        &self,
        key: &str,
        body: StoreBody<FakeStream>,
        _meta: ObjectMeta,
    ) -> Result<Option<u64>, String> {
        self.counted(async {
            let bytes = match body {
                StoreBody::Empty => Vec::new(),
                StoreBody::Bytes(bytes) => bytes,
                StoreBody::Stream(stream) => stream.ended().await?,
            };
            Ok(Some(self.store(key, bytes)))
        })
        .await
    }

    async fn delete(&self, key: &str) {
        self.objects.borrow_mut().remove(key);
    }

    fn fixed_stream(&self, length: u64) -> Result<(FakeStream, FakeStream), String> {
        let stream = FakeStream(Rc::new(RefCell::new(Pipe {
            length,
            ..Pipe::default()
        })));
        Ok((stream.clone(), stream))
    }

    fn write(&self, writer: &FakeStream, chunk: &FakeChunk) -> Self::Write {
        let mut pipe = writer.0.borrow_mut();
        if pipe.end.is_some() {
            return ready(Err("the stream is closed".to_owned()));
        }
        if pipe.bytes.len() as u64 + chunk.size() > pipe.length {
            return ready(Err("past the stream's length".to_owned()));
        }
        let mut bytes = Vec::new();
        chunk.copy_into(&mut bytes);
        pipe.bytes.extend_from_slice(&bytes);
        ready(Ok(()))
    }

    fn close(&self, writer: &FakeStream) -> Self::Write {
        let mut pipe = writer.0.borrow_mut();
        if pipe.end.is_some() {
            return ready(Err("the stream is closed".to_owned()));
        }
        pipe.end = Some(End::Closed);
        pipe.waiters.wake_all();
        ready(Ok(()))
    }

    async fn abort(&self, writer: &FakeStream) {
        let mut pipe = writer.0.borrow_mut();
        pipe.end.get_or_insert(End::Aborted);
        pipe.waiters.wake_all();
    }

    async fn put_piece(&self, key: String, stream: FakeStream) -> Result<(), String> {
        self.counted(async {
            let bytes = stream.ended().await?;
            if self.failing_piece.as_deref() == Some(key.as_str()) {
                return Err("R2 refused the piece".to_owned());
            }
            self.store(&key, bytes);
            Ok(())
        })
        .await
    }

    async fn list_keys(&self, prefix: &str, limit: u32) -> EdgeResult<KeyPage> {
        let mut keys: Vec<String> = (self.objects.borrow().keys())
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        let truncated = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        Ok(KeyPage { keys, truncated })
    }

    async fn delete_keys(&self, keys: Vec<String>) -> EdgeResult<()> {
        for key in keys {
            self.objects.borrow_mut().remove(&key);
        }
        Ok(())
    }

    async fn create_upload(&self, _key: &str, _content_type: &str) -> Result<FakeUpload, String> {
        Ok(FakeUpload(RefCell::new(Vec::new())))
    }

    async fn upload_part(
        &self,
        upload: &FakeUpload,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<usize, String> {
        upload.0.borrow_mut().push(bytes);
        Ok(usize::from(number))
    }

    async fn abort_upload(&self, upload: &FakeUpload) {
        upload.0.borrow_mut().clear();
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: FakeUpload,
        parts: Vec<usize>,
    ) -> Result<u64, String> {
        let sent = upload.0.into_inner();
        let mut bytes = Vec::new();
        for number in parts {
            let part = sent.get(number - 1).ok_or("an unknown part")?;
            bytes.extend_from_slice(part);
        }
        Ok(self.store(key, bytes))
    }
}

// ---- The call object ----

/// The call object's side: its business's lease, a clock only the test
/// moves, and its log.
struct FakeHost {
    now: Cell<u64>,
    timers: Waiters,
    /// The business says the lease is gone.
    lease_lost: Cell<bool>,
    renewed: RefCell<Vec<u64>>,
    released: RefCell<Vec<u64>>,
    logged: RefCell<Vec<String>>,
}

impl FakeHost {
    fn new() -> Self {
        FakeHost {
            now: Cell::new(1_000_000),
            timers: Waiters::default(),
            lease_lost: Cell::new(false),
            renewed: RefCell::new(Vec::new()),
            released: RefCell::new(Vec::new()),
            logged: RefCell::new(Vec::new()),
        }
    }

    /// Moves the clock on: every timer due by then fires.
    fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
        self.timers.wake_all();
    }
}

impl AttemptHost for FakeHost {
    async fn renew(&self, grant: u64) -> EdgeResult<Option<u64>> {
        self.renewed.borrow_mut().push(grant);
        Ok((!self.lease_lost.get()).then(|| self.now.get() + LEASE_MS))
    }

    async fn release(&self, grant: u64) -> EdgeResult<()> {
        self.released.borrow_mut().push(grant);
        Ok(())
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        let due = self.now.get() + ms;
        poll_fn(move |cx| {
            if self.now.get() >= due {
                return Poll::Ready(());
            }
            self.timers.wait(cx);
            Poll::Pending
        })
    }

    fn log(&self, event: &str, _fields: serde_json::Value) {
        self.logged.borrow_mut().push(event.to_owned());
    }
}

// ---- The attempt ----

fn config() -> EdgeConfig {
    let vars = [
        ("ORIGIN_BASE_URL", BASE.to_owned()),
        ("ORIGIN_TOKEN", "origin-token".to_owned()),
        ("SESSION_SECRET", "secret".to_owned()),
        ("DEV_LOGIN", "true".to_owned()),
        ("SLOT_LEASE_MS", LEASE_MS.to_string()),
        ("DOWNLOAD_TIMEOUT_MS", "600000".to_owned()),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    EdgeConfig::from_lookup(lookup).expect("the test's configuration is valid")
}

fn identity() -> CallIdentity {
    CallIdentity::new(
        BusinessId::parse("acme").expect("a valid business"),
        CallSid::parse("CA0123456789abcdef0123456789abcdef").expect("a valid SID"),
    )
}

fn recording_url(id: &CallIdentity) -> String {
    format!(
        "{BASE}/v1/businesses/{}/calls/{}/recording",
        id.business, id.call_sid
    )
}

fn served_key(id: &CallIdentity) -> String {
    recording_key(id)
}

fn headers(length: usize) -> OriginHeaders {
    OriginHeaders {
        content_length: Some(length.to_string()),
        content_type: Some("audio/wav".to_owned()),
        ..OriginHeaders::default()
    }
}

fn redirect(location: &str) -> FakeAnswer {
    FakeAnswer {
        status: 302,
        headers: OriginHeaders {
            location: Some(location.to_owned()),
            ..OriginHeaders::default()
        },
        body: None,
    }
}

/// A 200 with `length` bytes announced, sent in chunks of `chunk` bytes up
/// to `sent` of them; a body that stops short stalls there.
fn recording(length: usize, sent: usize, chunk: usize) -> FakeAnswer {
    let bytes: Vec<u8> = (0..sent).map(|i| (i % 251) as u8).collect();
    FakeAnswer {
        status: 200,
        headers: headers(length),
        body: Some(BodyPlan {
            chunks: bytes.chunks(chunk).map(<[u8]>::to_vec).collect(),
            stalls: sent < length,
        }),
    }
}

/// Runs an attempt on the fakes until it stalls; `between` runs while it
/// is stalled, then it runs again, and it must have ended.
fn attempt(
    origin: &FakeOrigin,
    store: &FakeStore,
    host: &FakeHost,
    between: impl FnOnce(),
) -> (Attempt, Vec<FillEvent>) {
    let config = config();
    let id = identity();
    let source = recording_source(&config, &id, None).expect("the generic origin's");
    let events = RefCell::new(Vec::new());
    let report = |event| events.borrow_mut().push(event);
    let call = AttemptCall {
        config: &config,
        id: &id,
        source: &source,
        looked: Looked::Missing,
        lease: Lease {
            grant: GRANT,
            expires_ms: host.now_ms() + LEASE_MS,
        },
        report: &report,
    };
    let io = AttemptIo {
        origin,
        store,
        host,
    };
    let mut running = pin!(run(&io, call));
    let first = run_until_stalled(running.as_mut());
    let ended = match first {
        Poll::Ready(ended) => ended,
        Poll::Pending => {
            between();
            match run_until_stalled(running.as_mut()) {
                Poll::Ready(ended) => ended,
                Poll::Pending => {
                    panic!("the attempt never ended: something it waits for never comes")
                }
            }
        }
    };
    (ended, events.take())
}

fn failure(outcome: &AttemptOutcome) -> Option<Failure> {
    match outcome {
        AttemptOutcome::Transient { failure, .. } | AttemptOutcome::Permanent { failure, .. } => {
            Some(*failure)
        }
        _ => None,
    }
}

#[test]
fn a_lease_lost_mid_body_aborts_the_fetch_stores_nothing_and_waits_for_its_writes() {
    let id = identity();
    let length = 400 * KIB;
    // Piece 0 (64 KiB) whole, piece 1 begun; then the origin stalls.
    let origin =
        FakeOrigin::default().answers(&recording_url(&id), recording(length, 96 * KIB, 16 * KIB));
    let store = FakeStore::default();
    let host = FakeHost::new();
    let (ended, events) = attempt(&origin, &store, &host, || {
        assert!(
            !origin.abort.aborted.get(),
            "aborted before the lease was lost"
        );
        assert!(
            store.puts_started.get() > store.puts_ended.get(),
            "the whole recording's put and a piece's run while the body stalls"
        );
        host.lease_lost.set(true);
        host.advance(LEASE_MS / 3);
    });
    assert_eq!(host.renewed.take(), vec![GRANT]);
    assert!(host.logged.borrow().contains(&"lease_lost".to_owned()));
    assert_eq!(
        failure(&ended.outcome),
        Some(Failure::LeaseLost),
        "{:?}",
        ended.outcome
    );
    assert!(
        origin.abort.aborted.get(),
        "the origin fetch was not aborted"
    );
    assert!(!store.has(&served_key(&id)), "a recording was stored");
    assert_eq!(
        store.puts_ended.get(),
        store.puts_started.get(),
        "a write was still running when the attempt returned"
    );
    assert!(store.puts_started.get() >= 2);
    // The body was never read whole: the slot is not given back early, and
    // the call object releases it (`on_attempt_finished` always does).
    assert!(!ended.released);
    assert!(host.released.borrow().is_empty());
    assert!(ended.peaks.is_none());
    assert!(matches!(events.first(), Some(FillEvent::Started(_))));
}

#[test]
fn a_failed_piece_put_fails_the_attempt_with_nothing_stored_and_no_write_running() {
    let id = identity();
    // Pieces of 64, 128, 256, 512 and 576 KiB: piece 1 fails while the
    // feed still has pieces to hand over.
    let length = 1536 * KIB;
    let origin =
        FakeOrigin::default().answers(&recording_url(&id), recording(length, length, 16 * KIB));
    let store = FakeStore {
        failing_piece: Some(piece_key(&id, GRANT, 1)),
        ..FakeStore::default()
    };
    let host = FakeHost::new();
    let (ended, events) = attempt(&origin, &store, &host, || {});
    assert_eq!(
        failure(&ended.outcome),
        Some(Failure::NotStored),
        "{:?}",
        ended.outcome
    );
    assert!(
        !store.has(&served_key(&id)),
        "the whole recording was stored"
    );
    assert_eq!(
        store.puts_ended.get(),
        store.puts_started.get(),
        "a write was still running when the attempt returned"
    );
    assert!(ended.peaks.is_none());
    let landed: Vec<u32> = (events.iter())
        .filter_map(|e| match e {
            FillEvent::Landed(index) => Some(*index),
            FillEvent::Started(_) => None,
        })
        .collect();
    assert!(!landed.contains(&1), "the failed piece was reported landed");
    let pieces = fill_prefix(&id, GRANT);
    assert!(!store.has(&format!("{pieces}1")));
}

#[test]
fn a_redirect_to_another_host_gets_no_token_and_the_origins_own_host_does() {
    let id = identity();
    let media = "http://media.test/signed/abc?sig=1";
    let other_port = "http://origin.test:8080/signed/abc";
    let back = format!("{BASE}/v1/media/abc");
    let origin = FakeOrigin::default()
        .answers(&recording_url(&id), redirect(media))
        .answers(media, redirect(other_port))
        .answers(other_port, redirect(&back))
        .answers(&back, recording(1000, 1000, 300));
    let store = FakeStore::default();
    let host = FakeHost::new();
    let (ended, _) = attempt(&origin, &store, &host, || {});
    assert_eq!(
        origin.asked.take(),
        vec![
            (recording_url(&id), true),
            (media.to_owned(), false),
            (other_port.to_owned(), false),
            (back, true),
        ]
    );
    assert_eq!(ended.outcome, AttemptOutcome::Stored { size: 1000 });
    assert_eq!(store.objects.borrow()[&served_key(&id)].len(), 1000);
    // A small body: read whole, its slot given back before its put.
    assert!(ended.released);
    assert_eq!(host.released.take(), vec![GRANT]);
    assert!(ended.peaks.is_some());
}

#[test]
fn a_relative_location_resolves_against_the_url_asked() {
    let id = identity();
    let again = format!("{BASE}/v1/media/abc?part=1");
    let origin = FakeOrigin::default()
        .answers(
            &recording_url(&id),
            redirect("../../../../media/abc?part=1"),
        )
        .answers(&again, recording(10, 10, 10));
    let store = FakeStore::default();
    let host = FakeHost::new();
    let (ended, _) = attempt(&origin, &store, &host, || {});
    assert_eq!(
        origin.asked.take(),
        vec![(recording_url(&id), true), (again, true)]
    );
    assert_eq!(ended.outcome, AttemptOutcome::Stored { size: 10 });
}
