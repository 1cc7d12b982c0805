//! `Async<T>`: any non-blocking OS handle, registered with the current reactor.
//!
//! The net types are built on it; users wrap their own sockets/fds with it to wait for
//! readiness (`readable().await`) or run operations (`read_with`) without blocking.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::reactor::{self, Direction, Reactor, Readiness, Ready, Registration};
use crate::sys::{raw_source, AsSource};

/// A non-blocking I/O handle registered with the runtime's reactor.
///
/// Replaces tokio's `AsyncFd` (and mirrors async-io's `Async`). The handle must already
/// be in non-blocking mode (the net types set it; for your own fd, set `O_NONBLOCK`);
/// `T` must not close its handle while wrapped, which holds for every std type.
///
/// # Examples
///
/// ```
/// use hioload::net::Async;
///
/// async fn recv_one() -> std::io::Result<()> {
///     let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
///     socket.set_nonblocking(true)?;
///     let socket = Async::new(socket)?;
///     let mut buf = [0; 1500];
///     let (n, from) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
///     println!("{n} bytes from {from}");
///     Ok(())
/// }
/// # let _ = recv_one; // examples become `hioload::block_on(recv_one())` with the runtime
/// ```
pub struct Async<T> {
    /// The reactor registration; declared first so it drops (deregisters) before `io`
    /// closes the handle, as `Registration`'s invariant requires.
    registration: Registration,
    /// The wrapped handle.
    io: T,
}

impl<T: AsSource> Async<T> {
    /// Registers `io` with the current runtime's reactor.
    ///
    /// `io` is taken as ready in both directions until an operation returns
    /// `WouldBlock` (so the first read or write is tried at once). A socket whose
    /// non-blocking connect is still in progress is not writable yet: clear that
    /// assumption first with `try_write_with(|_| Err(io::ErrorKind::WouldBlock.into()))`,
    /// or `writable()` completes at once. (`TcpStream::from_std` does this itself.)
    ///
    /// # Errors
    ///
    /// The runtime shut down or the OS refused the registration.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn new(io: T) -> io::Result<Async<T>> {
        Async::new_in(io, reactor::current())
    }

    /// Registers an accepted connection: with the reactor of the group dealt next
    /// when `spread` (see `executor/spread.rs`), else with the current reactor.
    ///
    /// # Errors
    ///
    /// As for [`Async::new`].
    #[track_caller]
    pub(crate) fn new_accepted(io: T, spread: bool) -> io::Result<Async<T>> {
        let reactor = if spread { crate::executor::spread_reactor() } else { reactor::current() };
        Async::new_in(io, reactor)
    }

    /// Registers `io` with `reactor`.
    ///
    /// # Errors
    ///
    /// As for [`Async::new`].
    pub(crate) fn new_in(io: T, reactor: Arc<Reactor>) -> io::Result<Async<T>> {
        Async::new_assuming(io, reactor, Ready::READABLE | Ready::WRITABLE)
    }

    /// Registers a socket whose non-blocking `connect` is in progress: it is not
    /// taken as writable until the poller says so, which is when the connect
    /// completed (or failed); nor as readable: a fresh connection rarely has
    /// data yet, and a read tried on the assumption would mostly fail with
    /// `WouldBlock` (measured: 3,151 of 5,000 first reads of a connect-and-read
    /// loop on loopback). The poller reports data that is there.
    ///
    /// # Errors
    ///
    /// As for [`Async::new`].
    #[track_caller]
    pub(crate) fn new_connecting(io: T) -> io::Result<Async<T>> {
        Async::new_assuming(io, reactor::current(), Ready::EMPTY)
    }

    /// Registers `io` with `reactor`, ready in `assumed` until its first event.
    fn new_assuming(io: T, reactor: Arc<Reactor>, assumed: Ready) -> io::Result<Async<T>> {
        // SAFETY: `io` owns the handle, or borrows it for a lifetime `Async<T>` carries, and
        // is stored next to the registration, which is dropped (deregistered) before `io`
        // (field order) or deregistered by `into_inner` before `io` is handed back. A `T`
        // that closed its handle through `&self` would break `AsFd`'s I/O-safety contract;
        // even then the poller only sees a stale fd number (a failed or misdirected
        // `epoll_ctl`), never memory of ours.
        let registration = unsafe { Registration::new(reactor, raw_source(&io), assumed)? };
        Ok(Async { registration, io })
    }
}

impl<T> Async<T> {
    /// The wrapped handle.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The worker group whose reactor drives this handle (0 outside a multi-group
    /// runtime).
    pub(crate) fn group(&self) -> usize {
        self.registration.group()
    }

    /// Deregisters the handle and returns it (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_inner(self) -> io::Result<T> {
        let Async { registration, io } = self;
        registration.deregister()?;
        drop(registration);
        Ok(io)
    }

    /// Waits until the handle is readable (or at EOF / in error).
    ///
    /// Any number of tasks may wait at once; all are woken. Readiness may be a false
    /// positive (a new handle starts "assumed ready"; another task may have consumed the
    /// data): do the operation with [`Async::try_read_with`], which on `WouldBlock`
    /// clears the readiness so that the next `readable()` really waits. Replaces tokio's
    /// `AsyncFd::readable` + `try_io`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use hioload::net::Async;
    ///
    /// async fn recv(socket: &Async<std::net::UdpSocket>, buf: &mut [u8]) -> io::Result<usize> {
    ///     loop {
    ///         socket.readable().await?;
    ///         match socket.try_read_with(|s| s.recv(buf)) {
    ///             // A false positive: readiness is now cleared, so the next wait sleeps.
    ///             Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
    ///             result => return result,
    ///         }
    ///     }
    /// }
    /// # let _ = recv; // examples become `hioload::block_on(..)` calls with the runtime
    /// ```
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.registration.readiness(Direction::Read).await.map(drop)
    }

    /// Waits until the handle is writable (or closed / in error); may be a false
    /// positive (see [`Async::readable`]).
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.registration.readiness(Direction::Write).await.map(drop)
    }

    /// Runs the non-blocking `op` until it does not fail with `WouldBlock`, waiting for
    /// readability in between.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, or the runtime shut down.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.registration.io(Direction::Read, || op(&self.io)).await
    }

    /// Like [`Async::read_with`], waiting for writability.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, or the runtime shut down.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.registration.io(Direction::Write, || op(&self.io)).await
    }

    /// Runs the non-blocking read-side `op` once, without waiting; if it fails with
    /// `WouldBlock`, the handle's read readiness is cleared (so `readable()` waits for a
    /// new event).
    ///
    /// # Errors
    ///
    /// Whatever `op` returns.
    pub fn try_read_with<R>(&self, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        self.registration.try_io(Direction::Read, || op(&self.io))
    }

    /// Like [`Async::try_read_with`], for write-side operations.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns.
    pub fn try_write_with<R>(&self, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        self.registration.try_io(Direction::Write, || op(&self.io))
    }

    /// [`Async::read_with`] in poll form, for a caller that keeps its own
    /// readiness future in `waiting` between polls (so, unlike
    /// [`Async::poll_read_with`]'s shared slot, each such caller is woken).
    /// The caller checks the cooperative budget.
    pub(crate) fn poll_read_waiting<'a, R>(
        &'a self,
        waiting: &mut Option<Readiness<'a>>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration.poll_io_waiting(waiting, cx, Direction::Read, || op(&self.io))
    }

    /// Poll version of [`Async::read_with`], for `poll_*` implementations (one waker per
    /// direction: the last task to poll is the one woken).
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, or the runtime shut down.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration.poll_io(cx, Direction::Read, || op(&self.io))
    }

    /// Marks the source readable and read-closed, waking its readers: after a
    /// local read shutdown, which the poller reported once (a drained read may
    /// have cleared that since) and will not report again.
    pub(crate) fn mark_read_closed(&self) {
        self.registration.mark_ready(Ready::READABLE | Ready::READ_CLOSED);
    }

    /// [`Async::poll_read_with`] for an `op` that also says whether it drained the
    /// source (see `Registration::poll_io_drained`).
    pub(crate) fn poll_read_drained<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        self.registration.poll_io_drained(cx, Direction::Read, || op(&self.io))
    }

    /// Poll version of [`Async::write_with`].
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, or the runtime shut down.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration.poll_io(cx, Direction::Write, || op(&self.io))
    }

    /// A stream write of one buffer of `len` bytes through
    /// [`Async::poll_write_with`]: a write that took part of it found the send
    /// buffer full, so where the OS guarantees that
    /// (`sys::PARTIAL_WRITE_MEANS_FULL`) the write readiness is cleared at once
    /// and the next write waits for the poller instead of returning
    /// `WouldBlock` first (tokio does the same on unix). Not for vectored
    /// writes: `writev` takes at most IOV_MAX slices, so a short one proves
    /// nothing.
    pub(crate) fn poll_write_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.registration.poll_io_drained(cx, Direction::Write, || {
            let n = op(&self.io)?;
            Ok((n, crate::sys::PARTIAL_WRITE_MEANS_FULL && n > 0 && n < len))
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish_non_exhaustive()
    }
}

/// Implements the platform's handle-borrowing traits (`AsFd` + `AsRawFd` on unix,
/// `AsSocket` + `AsRawSocket` on Windows) for types whose `io` field is an `Async<_>`,
/// so users can set socket options (e.g. with `socket2::SockRef`).
macro_rules! impl_as_handle {
    ($($ty:ty),* $(,)?) => {$(
        #[cfg(unix)]
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsSocket for $ty {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                self.io.get_ref().as_socket()
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsRawSocket for $ty {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                self.io.get_ref().as_raw_socket()
            }
        }
    )*};
}
pub(crate) use impl_as_handle;

#[cfg(unix)]
impl<T: std::os::fd::AsFd> std::os::fd::AsFd for Async<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.as_fd()
    }
}

#[cfg(unix)]
impl<T: std::os::fd::AsRawFd> std::os::fd::AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> std::os::windows::io::AsSocket for Async<T> {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.io.as_socket()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsRawSocket> std::os::windows::io::AsRawSocket for Async<T> {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.io.as_raw_socket()
    }
}
