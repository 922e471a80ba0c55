//! How the call object's alarm handler runs: one run at a time, which a
//! play may start and the runtime's delivery of the alarm then joins.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use futures_util::future::{LocalBoxFuture, Shared};
use futures_util::FutureExt;

/// The alarm handler's run in this instance: started by the runtime's
/// delivery of the alarm, or by a play that armed it due at once
/// (`download::runs_alarm_at_once`) and runs it in its own request rather
/// than behind the backlog of the runtime's one thread.
///
/// The runtime delivers an alarm at least once: one whose handler has not
/// ended when its instance dies is run again, at once, on the restarted
/// runtime, so the run in flight is itself what resumes a wait for a slot
/// or an attempt. A play's run therefore leaves the alarm set: an instance
/// that dies first still has it run; delivered, its handler joins the
/// play's run and ends with it, so a restart after that runs it again.
pub(crate) struct AlarmRun {
    /// A run is in flight: an alarm will run for this object even with
    /// none set.
    in_flight: Cell<bool>,
    /// A play's run in flight, for the delivered alarm to join; the run
    /// clears it as it ends.
    started: Rc<RefCell<Option<Shared<LocalBoxFuture<'static, ()>>>>>,
}

impl AlarmRun {
    pub(crate) fn new() -> AlarmRun {
        AlarmRun {
            in_flight: Cell::new(false),
            started: Rc::new(RefCell::new(None)),
        }
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.get()
    }

    /// A play starts a run of the handler's `work`. The run returned is for
    /// the runtime to keep alive past the play's request.
    pub(crate) fn start(
        &self,
        work: impl Future<Output = ()> + 'static,
    ) -> impl Future<Output = ()> {
        self.in_flight.set(true);
        let started = self.started.clone();
        let run = async move {
            work.await;
            started.borrow_mut().take();
        }
        .boxed_local()
        .shared();
        *self.started.borrow_mut() = Some(run.clone());
        run
    }

    /// The runtime delivered the alarm: it joins a play's run in flight,
    /// ending with it, or runs the handler's `work` itself.
    pub(crate) async fn join(&self, work: impl Future<Output = ()>) {
        let started = self.started.borrow().clone();
        match started {
            Some(run) => run.await,
            None => {
                self.in_flight.set(true);
                work.await
            }
        }
    }

    /// The handler's work has ended: plays see no run in flight.
    pub(crate) fn finish(&self) {
        self.in_flight.set(false);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use futures_channel::oneshot;

    use super::*;

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// The handler's work: it ends when `done` is sent, then finishes the
    /// run, and counts how often it ran.
    async fn work(alarm: Rc<AlarmRun>, runs: Rc<Cell<u32>>, done: oneshot::Receiver<()>) {
        runs.set(runs.get() + 1);
        let _ = done.await;
        alarm.finish();
    }

    #[test]
    fn a_delivered_alarm_joins_the_run_a_play_started_and_ends_with_it() {
        let alarm = Rc::new(AlarmRun::new());
        let runs = Rc::new(Cell::new(0));
        let (end_play_run, done) = oneshot::channel();
        let mut play_run = pin!(alarm.start(work(alarm.clone(), runs.clone(), done)));
        assert!(alarm.in_flight());
        assert!(poll(play_run.as_mut()).is_pending());
        let (_never, done) = oneshot::channel();
        let mut delivered = pin!(alarm.join(work(alarm.clone(), runs.clone(), done)));
        assert!(poll(delivered.as_mut()).is_pending());
        assert_eq!(runs.get(), 1, "the delivery runs no work of its own");
        end_play_run.send(()).expect("the run waits");
        assert!(poll(play_run.as_mut()).is_ready());
        assert!(poll(delivered.as_mut()).is_ready());
        assert!(!alarm.in_flight());
    }

    #[test]
    fn an_alarm_delivered_after_the_play_s_run_ended_runs_the_work_itself() {
        let alarm = Rc::new(AlarmRun::new());
        let runs = Rc::new(Cell::new(0));
        let (end_play_run, done) = oneshot::channel();
        end_play_run.send(()).expect("not run yet");
        let mut play_run = pin!(alarm.start(work(alarm.clone(), runs.clone(), done)));
        assert!(poll(play_run.as_mut()).is_ready());
        let (end_delivered, done) = oneshot::channel();
        let mut delivered = pin!(alarm.join(work(alarm.clone(), runs.clone(), done)));
        assert!(poll(delivered.as_mut()).is_pending());
        assert!(alarm.in_flight());
        assert_eq!(runs.get(), 2);
        end_delivered.send(()).expect("the run waits");
        assert!(poll(delivered.as_mut()).is_ready());
        assert!(!alarm.in_flight());
    }
}
