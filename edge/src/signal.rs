//! A signal any number of tasks can wait on, fired for all of them at once
//! and replaced by a fresh one each time (a broadcast of events, one after
//! the other), kept in an object's memory.

use std::cell::RefCell;

use futures_channel::oneshot;
use futures_util::future::Shared;
use futures_util::FutureExt;

pub(crate) struct Signal {
    tx: oneshot::Sender<()>,
    rx: Shared<oneshot::Receiver<()>>,
}

impl Signal {
    pub(crate) fn new() -> Signal {
        let (tx, rx) = oneshot::channel();
        Signal {
            tx,
            rx: rx.shared(),
        }
    }
}

/// Resolves when the signal now in `cell` fires.
pub(crate) fn fired(cell: &RefCell<Signal>) -> Shared<oneshot::Receiver<()>> {
    cell.borrow().rx.clone()
}

/// Fires the signal in `cell` (every task waiting on it goes on) and puts a
/// fresh one in its place.
pub(crate) fn fire(cell: &RefCell<Signal>) {
    let old = std::mem::replace(&mut *cell.borrow_mut(), Signal::new());
    let _ = old.tx.send(());
}
