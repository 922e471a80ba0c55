//! A burst's free slots go first: an admission that will wait in the queue
//! (the slots are taken, counting admitted calls that have not asked yet)
//! is answered only once the admitted calls that take the free slots have
//! asked for them, and a timer's turn after that (the core's
//! `slots::Admitted`, in memory only, each hold at most
//! `STARTERS_FIRST_MS`). The runtime runs every object on one thread, in
//! the order their work became ready, and sends an origin request only
//! once the work queued before it has run: answered at once, the waiting
//! calls' commits and acquires went before the free slots' acquires, and
//! the burst's first downloads started only after the whole burst had
//! been taken in. The queue stays first come, first served (it is ordered
//! by acquires), and a lease is still taken only by a download's acquire.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{select, Either};
use playback_core::slots::{Admitted, SlotTable};
use worker::Delay;

use super::BusinessSlots;
use crate::error::EdgeResult;
use crate::log::now_ms;
use crate::rpc::{Handles, WithdrawAdmission};
use crate::signal::{self, Signal};

/// The admitted calls whose acquire has not come yet, and the admissions
/// held behind those that take a free slot.
pub(super) struct Burst {
    admitted: RefCell<Admitted>,
    /// Fires (and is replaced) when the last admitted call that takes a free
    /// slot has asked for it: the admissions held behind them look again.
    starters_asked: RefCell<Signal>,
}

impl Burst {
    pub(super) fn new() -> Burst {
        Burst {
            admitted: RefCell::new(Admitted::default()),
            starters_asked: RefCell::new(Signal::new()),
        }
    }

    /// `owner` was admitted at `now`: answered at once when it takes a free
    /// slot, else once the calls that do have asked for theirs.
    pub(super) async fn admitted(&self, owner: &str, now: u64, table: &SlotTable, slots: u32) {
        let starts = self.admitted.borrow_mut().admit(owner, now, table, slots);
        if !starts {
            self.behind_starters().await;
        }
    }

    /// `owner`'s acquire came at `now`: whether it was the last admitted
    /// call that takes a free slot to ask (then call [`starters_asked`]).
    ///
    /// [`starters_asked`]: Burst::starters_asked
    pub(super) fn acquired(&self, owner: &str, now: u64) -> bool {
        self.admitted.borrow_mut().acquired(owner, now)
    }

    /// The held admissions look again.
    pub(super) fn starters_asked(&self) {
        signal::fire(&self.starters_asked);
    }

    /// Holds an admission that will wait in the queue until the admitted
    /// calls that take a free slot have asked for it, then for one turn of
    /// the runtime's timers.
    ///
    /// That turn is what lets their downloads start first: the runtime's one
    /// thread sends an outgoing request only once the work queued before it
    /// has run, and a timer comes due only after that. Measured with the
    /// held admissions answered as soon as the last such call had asked, in
    /// a first traffic: its origin request was issued within about 10 ms,
    /// but reached the origin 90–115 ms after that, once the 27 released
    /// calls had each stored `queued` and asked for their place.
    async fn behind_starters(&self) {
        loop {
            let Some(ms) = self.admitted.borrow().hold_ms(now_ms()) else {
                return;
            };
            let asked = signal::fired(&self.starters_asked);
            if let Either::Left(_) = select(asked, Delay::from(Duration::from_millis(ms))).await {
                Delay::from(Duration::from_millis(1)).await;
            }
        }
    }
}

/// An admitted call that will not ask for a slot now no longer holds the
/// admissions behind it.
impl Handles<WithdrawAdmission> for BusinessSlots {
    async fn handle(&self, WithdrawAdmission { owner }: WithdrawAdmission) -> EdgeResult<bool> {
        if self.burst.acquired(&owner, now_ms()) {
            self.burst.starters_asked();
        }
        Ok(true)
    }
}
