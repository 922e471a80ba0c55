//! The fill of the attempt running in this instance, and its listeners.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::FutureExt;
use playback_core::fill::{self, FillPhase, FillView};
use worker::Delay;

use crate::origin::FillEvent;
use crate::signal::{self, Signal};

/// The fill (`playback_core::fill`) of the attempt running here, or of the
/// last one, in memory only: the attempt reports each piece as it lands,
/// and listeners ask which pieces exist, held until the one they need lands.
/// A fill dies with its instance: listeners of a fill this instance does
/// not know are aborted, and the next attempt deletes its pieces.
pub(crate) struct LiveFill {
    view: RefCell<Option<FillView>>,
    /// Fires (and is replaced) each time the fill changes.
    changed: RefCell<Signal>,
}

impl LiveFill {
    pub(crate) fn new() -> LiveFill {
        LiveFill {
            view: RefCell::new(None),
            changed: RefCell::new(Signal::new()),
        }
    }

    /// The fill as it stands now.
    pub(crate) fn now(&self) -> Option<FillView> {
        self.view.borrow().clone()
    }

    /// What `read` makes of the fill as it stands, without a copy.
    pub(crate) fn read<R>(&self, read: impl FnOnce(Option<&FillView>) -> R) -> R {
        read(self.view.borrow().as_ref())
    }

    /// A new attempt starts: listeners of the older fill stop.
    pub(crate) fn restart(&self) {
        self.view.borrow_mut().take();
        signal::fire(&self.changed);
    }

    /// Applies what the running attempt reports; whether its first piece
    /// just landed (the recording now plays from the fill).
    pub(crate) fn report(&self, event: FillEvent) -> bool {
        let first_piece = {
            let mut view = self.view.borrow_mut();
            match event {
                FillEvent::Started(started) => {
                    *view = Some(started);
                    false
                }
                FillEvent::Landed(index) => view
                    .as_mut()
                    .is_some_and(|view| view.piece_landed(index) && view.landed == 1),
            }
        };
        signal::fire(&self.changed);
        first_piece
    }

    /// The attempt ended: a fill still filling ends `phase`.
    pub(crate) fn end(&self, phase: FillPhase) {
        if let Some(view) = self.view.borrow_mut().as_mut() {
            if view.phase == FillPhase::Filling {
                view.phase = phase;
            }
        }
        signal::fire(&self.changed);
    }

    /// The fill, once it can answer about `piece` (or `PIECE_HOLD_MS` passed).
    pub(crate) async fn answering(&self, piece: Option<u32>) -> Option<FillView> {
        let mut hold = Delay::from(Duration::from_millis(fill::PIECE_HOLD_MS)).fuse();
        while self.waits_for(piece) {
            let changed = signal::fired(&self.changed);
            if let Either::Right(_) = select(changed, &mut hold).await {
                break;
            }
        }
        self.now()
    }

    fn waits_for(&self, piece: Option<u32>) -> bool {
        match (self.view.borrow().as_ref(), piece) {
            (Some(view), Some(index)) => !view.answers(index),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> FillEvent {
        let size = 4 << 20;
        assert!(fill::piece_count(size) > 2);
        FillEvent::Started(FillView::start(7, size, "\"e\"".into(), "audio/wav".into()))
    }

    #[test]
    fn only_the_first_piece_to_land_says_the_recording_plays_from_the_fill() {
        let live = LiveFill::new();
        assert!(!live.report(started()));
        assert!(live.report(FillEvent::Landed(0)));
        assert!(
            !live.report(FillEvent::Landed(0)),
            "a duplicate changes nothing"
        );
        assert!(!live.report(FillEvent::Landed(1)));
        assert_eq!(live.now().map(|v| v.landed), Some(2));
    }

    #[test]
    fn an_ended_fill_keeps_its_phase_and_a_new_attempt_forgets_it() {
        let live = LiveFill::new();
        live.report(started());
        live.end(FillPhase::Stored);
        live.end(FillPhase::Failed);
        assert_eq!(live.read(|v| v.map(|v| v.phase)), Some(FillPhase::Stored));
        live.restart();
        assert_eq!(live.now(), None);
    }

    #[test]
    fn a_landed_report_without_a_fill_changes_nothing() {
        let live = LiveFill::new();
        assert!(!live.report(FillEvent::Landed(0)));
        assert_eq!(live.now(), None);
    }
}
