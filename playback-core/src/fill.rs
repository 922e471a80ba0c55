//! Read-while-write: a download in progress (a *fill*) is stored in R2 as
//! pieces as its bytes arrive, and every listener (the first clicker, other
//! agents, the media element's ranges and seeks) is served from those
//! pieces, so a cold play starts at the origin's first byte whatever the
//! recording's length.
//!
//! - Pieces have fixed boundaries that depend only on their index: the first
//!   is small (`FIRST_PIECE_BYTES`, a fast start), each next one twice as
//!   long up to `MAX_PIECE_BYTES`. A piece lands (its R2 `put` completes)
//!   only whole, and landings are reported in order (two puts may run at
//!   once), so a fill's progress is one number: how many pieces have landed.
//! - Each fill has its own id (the slot grant it runs on) and keys of its
//!   own (`fills/{business}/{call}/{fill}/{index}`): pieces of a fill that
//!   died can never be read as another fill's.
//! - Answers during the fill carry the origin's full length and a validator
//!   (`fill_etag`) that the whole recording keeps once it is stored under
//!   the served key, so `If-Range` holds across the fill's end.
//! - A listener reads piece by piece (`next_read`): a landed piece at once,
//!   a later one after it lands, the rest from the served key once the fill
//!   is stored; anything else (the fill failed, another fill replaced it)
//!   aborts the response: never a clean end short of its length.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::CallIdentity;

/// The first piece: small, so the first audio bytes are served early.
pub const FIRST_PIECE_BYTES: u64 = 64 << 10;
/// The longest piece (each piece is twice the previous one up to this).
pub const MAX_PIECE_BYTES: u64 = 1 << 20;
/// How many pieces double before they reach `MAX_PIECE_BYTES`.
const GROWING_PIECES: u32 = (MAX_PIECE_BYTES / FIRST_PIECE_BYTES).trailing_zeros();
/// How many bytes a fill's writes may have issued and R2 not yet taken:
/// the feed reads the origin's next chunk while R2 takes the last ones,
/// instead of one round trip per chunk, and memory stays bounded.
pub const WRITE_WINDOW_BYTES: u64 = 1 << 20;
/// How many pieces' `put`s may run at once (they still land in order).
pub const PIECES_IN_FLIGHT: usize = 2;
/// How long the call object holds a listener's question about a piece
/// that has not landed yet before answering with the fill as it is.
pub const PIECE_HOLD_MS: u64 = 5_000;

/// Whether a recording of `size` bytes is filled piece by piece. One that
/// fits in the first piece is not: that piece would be the whole recording,
/// landing when the whole does, so it is written once (under the served
/// key) instead of twice, and its waiting plays are answered when it is
/// stored.
pub fn fills(size: u64) -> bool {
    size > FIRST_PIECE_BYTES
}

/// Where piece `index` starts, whatever the recording's size.
pub fn piece_start(index: u32) -> u64 {
    if index <= GROWING_PIECES {
        FIRST_PIECE_BYTES * ((1u64 << index) - 1)
    } else {
        piece_start(GROWING_PIECES) + u64::from(index - GROWING_PIECES) * MAX_PIECE_BYTES
    }
}

/// The piece that holds byte `offset`.
pub fn piece_of(offset: u64) -> u32 {
    let growing_end = piece_start(GROWING_PIECES);
    if offset >= growing_end {
        let past = (offset - growing_end) / MAX_PIECE_BYTES;
        return GROWING_PIECES + u32::try_from(past).unwrap_or(u32::MAX - GROWING_PIECES);
    }
    // start(i) = F·(2^i − 1) ≤ offset  ⇔  2^i ≤ offset/F + 1
    let units = offset / FIRST_PIECE_BYTES + 1;
    63 - units.leading_zeros()
}

/// Piece `index` of a recording of `size` bytes: its first byte and its
/// length, or `None` past the end.
pub fn piece_span(index: u32, size: u64) -> Option<(u64, u64)> {
    let start = piece_start(index);
    if start >= size {
        return None;
    }
    let full = piece_start(index + 1) - start;
    Some((start, full.min(size - start)))
}

/// How many pieces a recording of `size` bytes is stored in.
pub fn piece_count(size: u64) -> u32 {
    if size == 0 {
        0
    } else {
        piece_of(size - 1) + 1
    }
}

/// The prefix under which every fill of one recording keeps its pieces.
pub fn fills_prefix(id: &CallIdentity) -> String {
    format!("fills/{}/", id.stem())
}

/// The prefix of one fill's pieces.
pub fn fill_prefix(id: &CallIdentity, fill: u64) -> String {
    format!("{}{fill}/", fills_prefix(id))
}

/// The R2 key of piece `index` of fill `fill`.
pub fn piece_key(id: &CallIdentity, fill: u64, index: u32) -> String {
    format!("{}{index}", fill_prefix(id, fill))
}

/// The keys of every piece a fill of a `size`-byte recording may have put:
/// its attempt deletes them by name when it ends, without listing R2.
pub fn piece_keys(id: &CallIdentity, fill: u64, size: u64) -> Vec<String> {
    (0..piece_count(size))
        .map(|index| piece_key(id, fill, index))
        .collect()
}

/// The validator of a recording filled from an origin answer: derived from
/// the origin's `ETag` and length when it sent one (so a retry of the same
/// bytes keeps it), else from the fill itself. Stored with the whole
/// recording, which is served with it from then on.
pub fn fill_etag(origin_etag: &str, size: u64, fill: u64) -> String {
    let mut hash = Sha256::new();
    if origin_etag.is_empty() {
        hash.update(format!("fill:{fill}:{size}"));
    } else {
        hash.update(format!("origin:{origin_etag}:{size}"));
    }
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The writes a fill has issued and not yet seen taken, oldest first: the
/// feed waits for the oldest whenever the bytes in flight pass the window.
/// Each stream takes its writes in order; a later write on another stream
/// may be taken first, and is then still counted: the count never falls
/// below what R2 has not taken.
#[derive(Debug, Default)]
pub struct WriteWindow {
    sizes: std::collections::VecDeque<u64>,
    bytes: u64,
}

impl WriteWindow {
    /// A write of `len` bytes was issued.
    pub fn issued(&mut self, len: u64) {
        self.sizes.push_back(len);
        self.bytes += len;
    }

    /// Whether the feed must wait for the oldest write before reading on.
    pub fn full(&self) -> bool {
        self.bytes > WRITE_WINDOW_BYTES
    }

    /// Whether any write is still in flight.
    pub fn pending(&self) -> bool {
        !self.sizes.is_empty()
    }

    /// The oldest write was taken.
    pub fn taken(&mut self) {
        if let Some(len) = self.sizes.pop_front() {
            self.bytes -= len;
        }
    }

    /// The bytes in flight.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Where a fill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillPhase {
    Filling,
    /// The whole recording is under the served key (the pieces may be gone).
    Stored,
    /// The fill broke off: responses reading it are aborted.
    Failed,
}

/// A fill as its call object knows it (in memory: a fill lives exactly as
/// long as the attempt that runs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillView {
    pub fill: u64,
    pub size: u64,
    pub etag: String,
    pub content_type: String,
    /// Pieces `0..landed` are in R2.
    pub landed: u32,
    pub phase: FillPhase,
}

impl FillView {
    pub fn start(fill: u64, size: u64, etag: String, content_type: String) -> FillView {
        FillView {
            fill,
            size,
            etag,
            content_type,
            landed: 0,
            phase: FillPhase::Filling,
        }
    }

    /// Records that piece `index` landed; pieces land in order, so any other
    /// index (a duplicate, a gap) is refused and changes nothing.
    pub fn piece_landed(&mut self, index: u32) -> bool {
        let accepted = self.phase == FillPhase::Filling
            && index == self.landed
            && index < piece_count(self.size);
        if accepted {
            self.landed += 1;
        }
        accepted
    }

    /// Whether listeners can be served from this fill: it has bytes to
    /// serve (or nothing to wait for), and has not failed. (Serving from the
    /// fill's start, before its first piece lands, was measured: the cold
    /// click → playing was no faster, 639 against 634 ms, and every
    /// listener that arrived before the first piece asked the call object
    /// once more, so the 15 000-request storm took 117 s instead of 104 s.)
    pub fn serves(&self) -> bool {
        match self.phase {
            FillPhase::Filling => self.landed > 0 || self.size == 0,
            FillPhase::Stored => true,
            FillPhase::Failed => false,
        }
    }

    /// Whether a question about piece `index` can be answered now (else it
    /// is held until a piece lands or the fill ends).
    pub fn answers(&self, index: u32) -> bool {
        self.phase != FillPhase::Filling || index < self.landed
    }
}

/// What a listener at byte `pos` (reading up to `last`, from fill `fill`
/// with validator `etag`) does next, given the fill as its object knows it
/// now (`None`: the object knows no fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Read bytes `offset..offset+length` of piece `index` (its landed
    /// bytes only), then go on from `pos + length`.
    Piece {
        index: u32,
        offset: u64,
        length: u64,
    },
    /// Read `pos..=last` from the served key, whose validator must be `etag`.
    Stored,
    /// Ask again once piece `index` has landed.
    Wait { index: u32 },
    /// Break the response off: its bytes can no longer be had from this fill.
    Abort,
}

pub fn next_read(view: Option<&FillView>, fill: u64, etag: &str, pos: u64, last: u64) -> Read {
    let Some(view) = view else {
        return Read::Abort;
    };
    if view.fill != fill || view.etag != etag || pos > last || last >= view.size {
        return Read::Abort;
    }
    let index = piece_of(pos);
    match view.phase {
        FillPhase::Failed => Read::Abort,
        FillPhase::Stored => Read::Stored,
        FillPhase::Filling if index >= view.landed => Read::Wait { index },
        FillPhase::Filling => match piece_span(index, view.size) {
            Some((start, length)) => {
                let offset = pos - start;
                Read::Piece {
                    index,
                    offset,
                    length: (length - offset).min(last - pos + 1),
                }
            }
            None => Read::Abort,
        },
    }
}

/// The listener reads where it stands on a fill that is not there any more
/// (a piece's key found empty): ask the object again rather than fail,
/// since the fill may have been stored meanwhile and its pieces deleted.
pub fn piece_missing(view_now: Option<&FillView>, fill: u64) -> bool {
    view_now.is_some_and(|v| v.fill == fill && v.phase == FillPhase::Stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_fills_piece_keys_name_every_piece_of_that_fill_alone() {
        let id = CallIdentity::new(
            crate::ids::BusinessId::parse("acme").unwrap(),
            crate::ids::CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap(),
        );
        let size = piece_start(6) + 1;
        let keys = piece_keys(&id, 7, size);
        assert_eq!(keys.len(), 7);
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(key, &piece_key(&id, 7, index as u32));
            assert!(key.starts_with(&fill_prefix(&id, 7)));
        }
        assert!(piece_keys(&id, 7, 0).is_empty());
        // Another recording of the call fills pieces of its own.
        let second = CallIdentity {
            recording: Some(2),
            ..id.clone()
        };
        assert!(!piece_key(&second, 7, 0).starts_with(&fills_prefix(&id)));
    }

    #[test]
    fn only_a_recording_longer_than_its_first_piece_is_filled() {
        assert!(!fills(0));
        assert!(!fills(FIRST_PIECE_BYTES));
        assert_eq!(piece_count(FIRST_PIECE_BYTES), 1);
        assert!(fills(FIRST_PIECE_BYTES + 1));
        assert_eq!(piece_count(FIRST_PIECE_BYTES + 1), 2);
    }

    #[test]
    fn pieces_start_small_and_grow_to_the_cap() {
        assert_eq!(piece_span(0, 10 << 20), Some((0, 64 << 10)));
        assert_eq!(piece_span(1, 10 << 20), Some((64 << 10, 128 << 10)));
        assert_eq!(piece_span(4, 10 << 20), Some((960 << 10, 1 << 20)));
        assert_eq!(piece_span(5, 10 << 20), Some((1984 << 10, 1 << 20)));
        assert_eq!(piece_span(0, 100), Some((0, 100)));
        assert_eq!(piece_span(1, 100), None);
        assert_eq!(piece_count(0), 0);
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(64 << 10), 1);
        assert_eq!(piece_count((64 << 10) + 1), 2);
        // The hour-long demo recording: 57.6 MB in 58 pieces.
        assert_eq!(piece_count(57_600_044), 58);
    }

    #[test]
    fn validators_follow_the_origin_etag_and_length_else_the_fill() {
        let a = fill_etag("\"abc\"", 10, 1);
        assert_eq!(a, fill_etag("\"abc\"", 10, 2), "a retry of the same bytes");
        assert_ne!(a, fill_etag("\"abd\"", 10, 1));
        assert_ne!(a, fill_etag("\"abc\"", 11, 1));
        assert_ne!(fill_etag("", 10, 1), fill_etag("", 10, 2));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 26);
    }

    #[test]
    fn pieces_land_in_order_once_and_only_while_filling() {
        let mut v = FillView::start(7, 192 << 10, "\"e\"".into(), "audio/wav".into());
        assert!(!v.serves());
        assert!(!v.piece_landed(1), "a gap");
        assert!(v.piece_landed(0));
        assert!(!v.piece_landed(0), "a duplicate");
        assert!(v.serves());
        assert!(v.piece_landed(1));
        assert!(!v.piece_landed(2), "past the last piece");
        v.phase = FillPhase::Failed;
        assert!(!v.serves());
        assert!(v.answers(9));
    }

    #[test]
    fn a_listener_waits_for_a_piece_then_reads_it_and_aborts_on_another_fill() {
        let size = 300 << 10;
        let mut v = FillView::start(3, size, "\"e\"".into(), "audio/wav".into());
        let e = "\"e\"";
        assert_eq!(
            next_read(Some(&v), 3, e, 0, size - 1),
            Read::Wait { index: 0 }
        );
        v.piece_landed(0);
        assert_eq!(
            next_read(Some(&v), 3, e, 10, size - 1),
            Read::Piece {
                index: 0,
                offset: 10,
                length: (64 << 10) - 10
            }
        );
        assert_eq!(
            next_read(Some(&v), 3, e, 100 << 10, size - 1),
            Read::Wait { index: 1 }
        );
        assert_eq!(next_read(Some(&v), 4, e, 0, size - 1), Read::Abort);
        assert_eq!(next_read(Some(&v), 3, "\"x\"", 0, size - 1), Read::Abort);
        assert_eq!(next_read(None, 3, e, 0, size - 1), Read::Abort);
        v.phase = FillPhase::Stored;
        assert_eq!(next_read(Some(&v), 3, e, 100 << 10, size - 1), Read::Stored);
        assert!(piece_missing(Some(&v), 3));
        assert!(!piece_missing(Some(&v), 4));
        v.phase = FillPhase::Failed;
        assert_eq!(next_read(Some(&v), 3, e, 0, 5), Read::Abort);
    }

    proptest! {
        /// The pieces tile the recording: no gap, no overlap, none longer
        /// than the cap, and `piece_of` names the piece that holds a byte.
        #[test]
        fn pieces_tile_every_recording(size in 1u64..200_000_000, probe in any::<u64>()) {
            let count = piece_count(size);
            let mut next = 0;
            for i in 0..count {
                let (start, len) = piece_span(i, size).unwrap();
                prop_assert_eq!(start, next);
                prop_assert!(len > 0 && len <= MAX_PIECE_BYTES);
                next = start + len;
            }
            prop_assert_eq!(next, size);
            prop_assert_eq!(piece_span(count, size), None);
            let offset = probe % size;
            let (start, len) = piece_span(piece_of(offset), size).unwrap();
            prop_assert!(start <= offset && offset < start + len);
        }

        /// A listener driven by `next_read` over any order of events (pieces
        /// landing, the fill stored, failed, or replaced) reads exactly the
        /// bytes it asked for, in order, each from a piece that had landed
        /// or from the stored recording, or it aborts; it never ends short.
        #[test]
        fn a_listener_reads_its_range_exactly_or_aborts(
            size in 1u64..(6 << 20),
            a in any::<u64>(),
            b in any::<u64>(),
            events in proptest::collection::vec(0u8..20, 0..200),
        ) {
            let (x, y) = (a % size, b % size);
            let (first, last) = (x.min(y), x.max(y));
            let mut view = FillView::start(1, size, "\"e\"".into(), "t".into());
            let mut pos = first;
            let mut served = Vec::new();
            let mut aborted = false;
            let mut events = events.into_iter();
            while pos <= last && !aborted {
                match next_read(Some(&view), 1, "\"e\"", pos, last) {
                    Read::Piece { index, offset, length } => {
                        prop_assert!(index < view.landed);
                        let (start, len) = piece_span(index, size).unwrap();
                        prop_assert_eq!(start + offset, pos);
                        prop_assert!(offset + length <= len && length > 0);
                        served.push((pos, pos + length - 1));
                        pos += length;
                    }
                    Read::Stored => {
                        prop_assert_eq!(view.phase, FillPhase::Stored);
                        served.push((pos, last));
                        pos = last + 1;
                    }
                    Read::Abort => aborted = true,
                    Read::Wait { index } => {
                        prop_assert!(index >= view.landed);
                        match events.next() {
                            None | Some(0) => view.phase = FillPhase::Stored,
                            Some(1) => view.phase = FillPhase::Failed,
                            Some(2) => view.fill = 2,
                            Some(_) => { view.piece_landed(view.landed); }
                        }
                    }
                }
            }
            if !aborted {
                let mut at = first;
                for (s, e) in served {
                    prop_assert_eq!(s, at);
                    at = e + 1;
                }
                prop_assert_eq!(at, last + 1);
            }
        }

        /// A feed that issues each chunk's writes, then waits for the
        /// oldest while the window is full, never holds more than the
        /// window and one chunk's writes, and the bytes it counts are
        /// exactly those issued and not yet taken.
        #[test]
        fn the_write_window_bounds_what_is_in_flight(
            chunks in proptest::collection::vec((1u64..(256 << 10), 1usize..4, any::<bool>()), 0..300),
        ) {
            let mut window = WriteWindow::default();
            let mut in_flight = std::collections::VecDeque::new();
            for (len, writes, settle_one) in chunks {
                for _ in 0..writes {
                    window.issued(len);
                    in_flight.push_back(len);
                }
                prop_assert!(window.bytes() <= WRITE_WINDOW_BYTES + writes as u64 * len);
                while window.full() {
                    window.taken();
                    in_flight.pop_front();
                }
                if settle_one && window.pending() {
                    window.taken();
                    in_flight.pop_front();
                }
                prop_assert!(window.bytes() <= WRITE_WINDOW_BYTES);
                prop_assert_eq!(window.bytes(), in_flight.iter().sum::<u64>());
                prop_assert_eq!(window.pending(), !in_flight.is_empty());
            }
        }
    }
}
