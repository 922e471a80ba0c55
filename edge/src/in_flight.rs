//! One computation in flight at a time, in an object's memory: whoever asks
//! while it runs shares its result, and the first to ask after it ended
//! starts a new one. So a storm of identical requests costs one.

use std::cell::RefCell;
use std::future::Future;

use futures_util::future::{LocalBoxFuture, Shared};
use futures_util::FutureExt;

pub(crate) struct InFlight<T>(RefCell<Option<Shared<LocalBoxFuture<'static, T>>>>);

impl<T: Clone + 'static> InFlight<T> {
    pub(crate) fn new() -> InFlight<T> {
        InFlight(RefCell::new(None))
    }

    /// The result of the computation in flight, or of `start()`'s, begun now.
    pub(crate) async fn join_or_start<F>(&self, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + 'static,
    {
        let run = {
            let mut slot = self.0.borrow_mut();
            slot.get_or_insert_with(|| start().boxed_local().shared())
                .clone()
        };
        let result = run.clone().await;
        // Ended: the next ask starts anew (unless one already did, whose
        // computation stays shared).
        let mut slot = self.0.borrow_mut();
        if slot.as_ref().is_some_and(|s| s.ptr_eq(&run)) {
            slot.take();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use futures_channel::oneshot;

    use super::*;

    fn poll<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn asks_while_one_runs_share_it_and_the_next_ask_after_it_starts_anew() {
        let in_flight = InFlight::<u32>::new();
        let starts = Cell::new(0);
        let start = |answer: oneshot::Receiver<u32>| {
            let starts = &starts;
            move || {
                starts.set(starts.get() + 1);
                async move { answer.await.unwrap_or(0) }
            }
        };
        let (first_answer, rx) = oneshot::channel();
        let mut first = pin!(in_flight.join_or_start(start(rx)));
        let (_never, rx) = oneshot::channel();
        let mut second = pin!(in_flight.join_or_start(start(rx)));
        assert!(poll(first.as_mut()).is_pending());
        assert!(poll(second.as_mut()).is_pending());
        assert_eq!(starts.get(), 1);
        first_answer.send(1).expect("the computation waits");
        assert_eq!(poll(first.as_mut()), Poll::Ready(1));
        assert_eq!(poll(second.as_mut()), Poll::Ready(1));
        let (next_answer, rx) = oneshot::channel();
        next_answer.send(2).expect("not asked yet");
        let mut third = pin!(in_flight.join_or_start(start(rx)));
        assert_eq!(poll(third.as_mut()), Poll::Ready(2));
        assert_eq!(starts.get(), 2);
    }
}
