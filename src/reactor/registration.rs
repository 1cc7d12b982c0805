//! `Registration`: one handle's link to its reactor, and the readiness future.
//!
//! Operations follow one loop (`poll_io` / `io`): wait until the direction is ready,
//! try the non-blocking operation, and on `WouldBlock` clear the readiness observed
//! and wait again. Every other result (data, EOF, an error) goes to the caller.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::driver::Reactor;
use super::ready::{Direction, Ready, ReadyEvent};
use super::scheduled_io::ScheduledIo;
use crate::sys::RawSource;
use crate::util::coop;

/// Source of readiness-future ids (unique per process; ids only need to differ among
/// the waiters of one handle).
static NEXT_WAITER: AtomicU64 = AtomicU64::new(0);

/// A handle registered with a reactor; deregisters on drop.
///
/// # Invariants
///
/// The handle given to [`Registration::new`] stays open until this value is dropped or
/// [`Registration::deregister`]ed (the owner declares the registration before the I/O
/// object, so it drops first).
#[derive(Debug)]
pub(crate) struct Registration {
    /// The reactor the handle is registered with.
    reactor: Arc<Reactor>,
    /// The handle's readiness state.
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `raw` with `reactor`, assuming it ready in `assumed` until its
    /// first event (see `Reactor::register`).
    ///
    /// # Safety
    ///
    /// `raw` must stay open until the registration is dropped or deregistered.
    ///
    /// # Errors
    ///
    /// The reactor shut down or the poller refused the handle.
    pub(crate) unsafe fn new(
        reactor: Arc<Reactor>,
        raw: RawSource,
        assumed: Ready,
    ) -> io::Result<Registration> {
        // SAFETY: forwarded contract: the caller keeps `raw` open until we deregister.
        let io = unsafe { reactor.register(raw, assumed)? };
        Ok(Registration { reactor, io })
    }

    /// Deletes the handle from the poller; idempotent.
    ///
    /// # Errors
    ///
    /// The poller failed to delete it.
    pub(crate) fn deregister(&self) -> io::Result<()> {
        self.reactor.deregister(&self.io)
    }

    /// The worker group of the reactor this handle is registered with.
    pub(crate) fn group(&self) -> usize {
        self.reactor.group()
    }

    /// Ready in `dir`, or the waker is stored in `dir`'s shared poll slot.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.reactor.poll_ready(&self.io, cx, dir, None)
    }

    /// Makes the handle ready in `ready` and wakes its waiters (`Reactor::mark_ready`).
    pub(crate) fn mark_ready(&self, ready: Ready) {
        self.reactor.mark_ready(&self.io, ready);
    }

    /// Forgets `seen` readiness in `dir` (after `WouldBlock`) unless a newer event came.
    pub(crate) fn clear_readiness(&self, seen: ReadyEvent, dir: Direction) {
        self.io.clear_readiness(seen, dir);
    }

    /// A future that completes when `dir` is ready; any number may wait at once.
    pub(crate) fn readiness(&self, dir: Direction) -> Readiness<'_> {
        Readiness { registration: self, dir, waiter: None }
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_drained(cx, dir, || op().map(|result| (result, false)))
    }

    /// [`Registration::poll_io`] for an `op` that also says whether it exhausted
    /// the direction (`Ok((r, true))`: no data is left to read, or no room is
    /// left to write). An exhausted direction has its plain readiness bit
    /// cleared, so the next wait sleeps until a new event without the attempt
    /// that would return `WouldBlock`. The clear is skipped
    /// if an event came since the readiness was observed (as for `WouldBlock`),
    /// so it never loses one.
    ///
    /// Closed and error bits stay: "no data left" says nothing about them. A TCP
    /// reset that arrives right behind the last data takes no sequence number,
    /// so the read that takes that data reports an empty queue; clearing the
    /// reset's event with it would leave the next read waiting for an edge that
    /// never comes. With the bits kept, the next read returns the error (or EOF).
    pub(crate) fn poll_io_drained<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        // The task's cooperative budget (`util/coop.rs`): spent, the operation
        // yields instead.
        ready!(coop::poll_proceed(cx));
        loop {
            let seen = ready!(self.poll_ready(cx, dir))?;
            match op() {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_readiness(seen, dir)
                }
                Ok((result, drained)) => {
                    if drained {
                        self.io.clear_bits(seen, dir.interest());
                    }
                    coop::made_progress();
                    return Poll::Ready(Ok(result));
                }
                Err(err) => {
                    coop::made_progress();
                    return Poll::Ready(Err(err));
                }
            }
        }
    }

    /// Runs `op` once without waiting; on `WouldBlock` clears the readiness observed
    /// before it, so that the next wait sleeps until a new event instead of spinning.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = self.io.snapshot();
        let result = op();
        if matches!(&result, Err(err) if err.kind() == io::ErrorKind::WouldBlock) {
            self.clear_readiness(seen, dir);
        }
        result
    }

    /// Async version of [`Registration::poll_io`], waiting with a [`Readiness`] future
    /// (so several tasks may run operations in the same direction).
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        // The cooperative budget, as in `poll_io_drained`.
        std::future::poll_fn(coop::poll_proceed).await;
        let mut waiting = None;
        std::future::poll_fn(|cx| self.poll_io_waiting(&mut waiting, cx, dir, &mut op)).await
    }

    /// The loop of [`Registration::io`] in poll form, for a caller that keeps its
    /// own readiness future in `waiting` between polls (each such caller is
    /// woken, unlike `poll_io`'s shared slot). The caller checks the cooperative
    /// budget.
    pub(crate) fn poll_io_waiting<'a, R>(
        &'a self,
        waiting: &mut Option<Readiness<'a>>,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let readiness = waiting.get_or_insert_with(|| self.readiness(dir));
            let seen = ready!(Pin::new(readiness).poll(cx));
            *waiting = None;
            let seen = seen?;
            match op() {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_readiness(seen, dir)
                }
                result => {
                    coop::made_progress();
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Nothing to report to: the handle is being closed anyway.
        let _ = self.deregister();
    }
}

/// Completes when a direction of a registration is ready (or the reactor shut down).
///
/// Dropping it mid-wait removes its waker and leaves the handle usable.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Readiness<'a> {
    /// The registration waited on.
    registration: &'a Registration,
    /// The direction waited in.
    dir: Direction,
    /// This future's waiter id once it has waited.
    waiter: Option<u64>,
}

impl Future for Readiness<'_> {
    type Output = io::Result<ReadyEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let waited = this.waiter.is_some();
        let id = *this.waiter.get_or_insert_with(|| NEXT_WAITER.fetch_add(1, Ordering::Relaxed));
        let reg = this.registration;
        let result = reg.reactor.poll_ready(&reg.io, cx, this.dir, Some(id));
        if result.is_ready() {
            this.waiter = None;
            if waited {
                // Normally the waking dispatch drained our entry; make sure.
                reg.io.remove_waiter(this.dir, id);
            }
        }
        result
    }
}

impl Drop for Readiness<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            self.registration.io.remove_waiter(self.dir, id);
        }
    }
}
