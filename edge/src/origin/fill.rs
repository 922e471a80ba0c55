//! A body of known length, stored as a *fill* (`playback_core::fill`):
//! each chunk, as it is read (into a buffer of the runtime's that goes on
//! to R2 as it is; one copy of it passes through the wasm, for the peaks),
//! is written both into one `put` of the whole recording through a stream
//! of exactly its length, and into the current piece's own stream, whose
//! `put` under the fill's key streams while the piece fills and completes
//! when it is whole. Each landed piece is reported to the call object,
//! which serves it to listeners while the rest arrives.
//!
//! The runtime fails a `put` when its stream ends short of its length, runs
//! past it, or is aborted, so any failure aborts the streams and nothing
//! partial is stored. The feed reads on while R2 takes what it wrote, but
//! waits whenever the writes R2 has not taken pass `WRITE_WINDOW_BYTES`, so
//! memory stays bounded whatever the recording's length.

use std::collections::VecDeque;
use std::future::Future;

use futures_channel::mpsc;
use futures_util::future::{join, join3};
use futures_util::{SinkExt, StreamExt};
use playback_core::download::{AttemptOutcome, Failure};
use playback_core::fill::{
    fill_etag, piece_key, piece_span, FillView, WriteWindow, PIECES_IN_FLIGHT,
};
use playback_core::ids::CallIdentity;
use playback_core::peaks::{PeaksBuilder, PeaksRecord};

use super::client::{BodyChunk, OriginBody};
use super::lease::{AttemptHost, SlotBack};
use super::store::{put_whole, Delivery, RecordingStore, StoreBody};

/// What an attempt tells its call object about its fill as it runs.
pub(crate) enum FillEvent {
    /// The origin answered with a length: the fill (id: the lease's grant) starts.
    Started(FillView),
    /// Piece `index` is in R2.
    Landed(u32),
}

/// The fill an attempt would run: its id (the lease's grant), and where it
/// reports.
pub(super) struct Fill<'a> {
    pub id: u64,
    pub report: &'a dyn Fn(FillEvent),
}

/// One `put` of the whole recording and its pieces as they arrive.
pub(super) async fn store_filling<S, B, H>(
    delivery: Delivery<'_, S, B, H>,
    length: u64,
    fill: Fill<'_>,
) -> AttemptOutcome
where
    S: RecordingStore,
    B: OriginBody<Chunk = S::Chunk>,
    H: AttemptHost,
{
    let Delivery {
        store,
        id,
        key,
        body,
        mut meta,
        slot,
        peaks,
    } = delivery;
    let Some(mut body) = body else {
        return AttemptOutcome::transient(Failure::CutOff, format!("no body for {length} bytes"));
    };
    let etag = fill_etag(&meta.origin_etag, length, fill.id);
    meta.etag = Some(etag.clone());
    let (whole, writer) = match store.fixed_stream(length) {
        Ok(pair) => pair,
        Err(e) => return stream_failed(length, e),
    };
    let view = FillView::start(fill.id, length, etag, meta.content_type.clone());
    (fill.report)(FillEvent::Started(view));
    // The feed hands each piece's stream to the lander, which runs at most
    // `PIECES_IN_FLIGHT` puts; the channel holds none, so the feed never
    // writes a piece whose put has not started.
    let (pieces, landing) = mpsc::channel(0);
    let feed = Feed {
        store,
        whole: &writer,
        length,
        pieces,
        piece: None,
        index: 0,
        writes: Writes::new(),
        peaks: PeaksBuilder::new(),
        copy: Vec::new(),
    };
    let fed = feed.run(&mut body, slot);
    let landed = land(store, id, &fill, landing);
    let stored = put_whole(store, key, StoreBody::Stream(whole), length, &meta);
    match join3(fed, landed, stored).await {
        (Err(outcome), _, _) | (_, Err(outcome), _) => outcome,
        (Ok(built), Ok(()), stored) => {
            if matches!(stored, AttemptOutcome::Stored { .. }) {
                *peaks.borrow_mut() = Some(PeaksRecord::of(built.finish()));
            }
            stored
        }
    }
}

fn stream_failed(length: u64, e: String) -> AttemptOutcome {
    AttemptOutcome::transient(
        Failure::NotStored,
        format!("a stream of {length} bytes: {e}"),
    )
}

/// A piece's stream, on its way from the feed to the lander.
struct PieceStream<T> {
    index: u32,
    stream: T,
}

/// The piece being written: its writer and how many bytes it still takes.
struct OpenPiece<W> {
    writer: W,
    left: u64,
}

/// Reads the origin's body chunk by chunk and writes each chunk, as it was
/// read, into the whole `put` and into the pieces' streams (a chunk that
/// crosses a piece's end is split into two views of it), within the write
/// window; while R2 takes a chunk, a copy of it feeds the peaks.
struct Feed<'a, S: RecordingStore> {
    store: &'a S,
    whole: &'a S::Writer,
    length: u64,
    pieces: mpsc::Sender<PieceStream<S::Stream>>,
    piece: Option<OpenPiece<S::Writer>>,
    /// The next piece's index.
    index: u32,
    writes: Writes<S::Write>,
    peaks: PeaksBuilder,
    /// The one copy of the bytes into the wasm, reused: bounded by a chunk.
    copy: Vec<u8>,
}

impl<S: RecordingStore> Feed<'_, S> {
    /// Feeds the whole body, then ends the whole put: closed once R2 took
    /// every write, aborted on any failure. The peaks of the bytes fed.
    async fn run<B, H>(
        mut self,
        body: &mut B,
        slot: SlotBack<'_, H>,
    ) -> Result<PeaksBuilder, AttemptOutcome>
    where
        B: OriginBody<Chunk = S::Chunk>,
        H: AttemptHost,
    {
        let fed = self.read_all(body).await;
        // No piece follows: the lander ends once the puts it runs have.
        self.pieces.close_channel();
        if let Err(outcome) = fed {
            if let Some(piece) = &self.piece {
                // Fails that piece's put, which would otherwise wait for its end.
                self.store.abort(&piece.writer).await;
            }
            // Fails the whole put: nothing partial is ever stored.
            self.store.abort(self.whole).await;
            return Err(outcome);
        }
        // The origin's body is read: its slot goes back while R2 takes the
        // last writes.
        let (_, settled) = join(slot.origin_read(), self.writes.settle(true)).await;
        let closed = match settled {
            Ok(()) => self.store.close(self.whole).await,
            Err(e) => {
                // Fails the whole put, which would otherwise wait for its end.
                self.store.abort(self.whole).await;
                Err(e)
            }
        };
        match closed {
            Ok(()) => Ok(self.peaks),
            Err(e) => Err(AttemptOutcome::transient(Failure::NotStored, e)),
        }
    }

    async fn read_all<B>(&mut self, body: &mut B) -> Result<(), AttemptOutcome>
    where
        B: OriginBody<Chunk = S::Chunk>,
    {
        let length = self.length;
        let mut total = 0u64;
        loop {
            let chunk = match body.next_chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(AttemptOutcome::transient(Failure::CutOff, e)),
            };
            total += chunk.size();
            if total > length {
                return Err(AttemptOutcome::transient(
                    Failure::CutOff,
                    format!("more than the {length} bytes announced"),
                ));
            }
            // Counted as the buffer it holds: a short read still holds its
            // whole buffer until R2 has taken it.
            let write = self.store.write(self.whole, &chunk);
            self.writes.issue(write, chunk.held());
            chunk.copy_into(&mut self.copy);
            self.peaks.push(&self.copy);
            self.write_pieces(&chunk).await?;
            // R2 takes what was written while the next chunk is read, within the window.
            let settled = self.writes.settle(false).await;
            settled.map_err(|e| AttemptOutcome::transient(Failure::NotStored, e))?;
        }
        if total < length {
            return Err(AttemptOutcome::transient(
                Failure::CutOff,
                format!("{total} of {length} bytes"),
            ));
        }
        Ok(())
    }

    /// Writes `chunk` into the pieces it spans: each piece's put starts as
    /// the piece is reached, and its stream is closed once it is whole.
    async fn write_pieces(&mut self, chunk: &S::Chunk) -> Result<(), AttemptOutcome> {
        let len = chunk.size();
        let mut at = 0u64;
        while at < len {
            if self.piece.is_none() {
                self.piece = Some(self.open_piece().await?);
            }
            let Some(piece) = self.piece.as_mut() else {
                break;
            };
            let take = (len - at).min(piece.left);
            let part = if take == len {
                chunk.clone()
            } else {
                chunk.view(at, at + take)
            };
            self.writes
                .issue(self.store.write(&piece.writer, &part), take);
            piece.left -= take;
            at += take;
            if piece.left == 0 {
                self.writes.issue(self.store.close(&piece.writer), 0);
                self.piece = None;
                self.index += 1;
            }
        }
        Ok(())
    }

    /// Hands the next piece's stream to the lander, whose put reads it.
    async fn open_piece(&mut self) -> Result<OpenPiece<S::Writer>, AttemptOutcome> {
        let length = piece_span(self.index, self.length).map_or(0, |(_, l)| l);
        let (stream, writer) = (self.store)
            .fixed_stream(length)
            .map_err(|e| stream_failed(length, e))?;
        let index = self.index;
        let sent = self.pieces.send(PieceStream { index, stream }).await;
        // A send counts as done when the lander has gone (a piece's put
        // failed). It may still have taken this piece before it closed:
        // aborted, that piece's put fails instead of waiting for its bytes.
        if sent.is_err() || self.pieces.is_closed() {
            self.store.abort(&writer).await;
            return Err(AttemptOutcome::transient(
                Failure::NotStored,
                "a piece could not be stored",
            ));
        }
        Ok(OpenPiece {
            writer,
            left: length,
        })
    }
}

/// The writes a feed issued and has not yet seen taken, oldest first,
/// bounded by `WriteWindow`: the bytes it counts are at least those R2 has
/// not taken (a later write may be taken before the oldest).
struct Writes<W> {
    futures: VecDeque<W>,
    window: WriteWindow,
}

impl<W: Future<Output = Result<(), String>>> Writes<W> {
    fn new() -> Self {
        Writes {
            futures: VecDeque::new(),
            window: WriteWindow::default(),
        }
    }

    fn issue(&mut self, write: W, len: u64) {
        self.futures.push_back(write);
        self.window.issued(len);
    }

    /// Waits for the oldest writes while the window is full (`all`: until
    /// none is left).
    async fn settle(&mut self, all: bool) -> Result<(), String> {
        while self.window.full() || (all && self.window.pending()) {
            let Some(oldest) = self.futures.pop_front() else {
                break;
            };
            oldest.await?;
            self.window.taken();
        }
        Ok(())
    }
}

/// Puts each piece under the fill's key for it as its bytes stream in
/// (`PIECES_IN_FLIGHT` at once, so one piece's `put` completing does not
/// hold up the next one's bytes), and reports each as it lands, in order.
async fn land<S: RecordingStore>(
    store: &S,
    id: &CallIdentity,
    fill: &Fill<'_>,
    landing: mpsc::Receiver<PieceStream<S::Stream>>,
) -> Result<(), AttemptOutcome> {
    let mut puts = landing
        .map(|piece| {
            let key = piece_key(id, fill.id, piece.index);
            async move { (piece.index, store.put_piece(key, piece.stream).await) }
        })
        .buffered(PIECES_IN_FLIGHT);
    let mut failed = None;
    while let Some((index, put)) = puts.next().await {
        match put {
            Ok(()) if failed.is_none() => (fill.report)(FillEvent::Landed(index)),
            Ok(()) => {}
            Err(e) if failed.is_none() => {
                // No further piece is taken (the feed's next one fails), and
                // the puts already running are waited for: none outlives
                // the attempt.
                puts.get_mut().get_mut().close();
                failed = Some(AttemptOutcome::transient(
                    Failure::NotStored,
                    format!("R2 piece: {e}"),
                ));
            }
            Err(_) => {}
        }
    }
    failed.map_or(Ok(()), Err)
}
