//! Waiting for the runtime's idle turn: the moment a worker thread has run every task that was
//! ready and has polled the I/O driver again, just before it would go to sleep.
//!
//! The session's driver writes what yamux collected when it reaches this point, not at once.
//! Under load, a wake-up of the socket readiness makes many stream tasks ready together; each
//! writes a frame and wakes the driver, and tokio runs a task woken by the running one next
//! (its LIFO slot), so a driver that flushed at once sent one frame per system call, between
//! one stream task and the next. Waiting for the idle turn lets all of them write first: one
//! system call (and one wake-up of the peer process) carries all their frames. With nothing
//! else to run, the idle turn comes right away.
//!
//! It is tokio's own mechanism: [`tokio::task::yield_now`] defers its waker to that point. The
//! waker deferred here only records that the turn came and wakes the driver, so that other
//! wake-ups of the driver in between (yamux has more frames) do not end the wait early.

use std::{
    future::Future as _,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use futures::task::AtomicWaker;

/// Ready once per idle turn of the runtime, for one task.
#[derive(Debug, Default)]
pub(super) struct IdleTurn {
    signal: Arc<Signal>,
    waiting: bool,
}

#[derive(Debug, Default)]
struct Signal {
    came: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.came.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl IdleTurn {
    /// `Ready` when the idle turn asked for by an earlier call has come; otherwise asks for the
    /// next one and returns `Pending` (the task is woken when it comes).
    pub(super) fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.task.register(cx.waker());
        if self.waiting {
            if self.signal.came.swap(false, Ordering::Acquire) {
                self.waiting = false;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        // A fresh `yield_now` defers the waker of its first poll to the idle turn; outside a
        // runtime it wakes it at once, which ends the wait at the next poll.
        let waker = Waker::from(self.signal.clone());
        let mut deferred = Context::from_waker(&waker);
        let _ = pin!(tokio::task::yield_now()).poll(&mut deferred);
        self.waiting = true;
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::poll_fn,
        sync::atomic::{AtomicUsize, Ordering::SeqCst},
    };

    use super::*;

    /// A task that counts itself and spawns the next, `left` times: each is ready only after
    /// the one before it ran.
    fn chain(count: Arc<AtomicUsize>, left: usize) {
        if left > 0 {
            tokio::spawn(async move {
                count.fetch_add(1, SeqCst);
                chain(count, left - 1);
            });
        }
    }

    #[tokio::test]
    async fn the_idle_turn_comes_after_every_ready_task_has_run() {
        let count = Arc::new(AtomicUsize::new(0));
        let mut idle = IdleTurn::default();
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                chain(count.clone(), 5);
            }
            idle.poll_idle(cx)
        })
        .await;
        assert_eq!(count.load(SeqCst), 5, "every task of the chain ran first");
        assert_eq!(polls, 2, "one poll to ask, one when the turn came");
    }

    #[tokio::test]
    async fn each_turn_is_ready_once() {
        let mut idle = IdleTurn::default();
        for _ in 0..3 {
            let mut polls = 0;
            poll_fn(|cx| {
                polls += 1;
                idle.poll_idle(cx)
            })
            .await;
            assert_eq!(polls, 2, "a new turn is asked for after the last one came");
        }
    }
}
