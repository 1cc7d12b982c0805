//! `TcpStream`: a connected TCP socket.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use socket2::Domain;

use super::split::{split, split_owned, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::addr::each_addr;
use crate::net::Async;

/// A TCP connection; implements `futures_io::AsyncRead` + `AsyncWrite`.
///
/// Replaces `tokio::net::TcpStream`.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use hioload::net::TcpStream;
///
/// async fn ping() -> std::io::Result<()> {
///     let mut stream = TcpStream::connect("127.0.0.1:7000").await?;
///     stream.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     stream.read_exact(&mut buf).await?;
///     Ok(())
/// }
/// # let _ = ping; // examples become `hioload::block_on(ping())` with the runtime
/// ```
pub struct TcpStream {
    /// The registered socket.
    io: Async<std::net::TcpStream>,
    /// Whether reads use the kernel's receive-queue hint.
    queue_hint: QueueHint,
}

/// Whether a stream's reads use the kernel's receive-queue hint
/// (`sys::recv_with_queue_hint`, Linux `TCP_INQ`).
///
/// With edge-triggered readiness a read that empties the socket is normally
/// followed by one more that returns `WouldBlock`, so that the readiness can be
/// cleared: request/response traffic pays two `recv`s per message. With the hint
/// the kernel says, along with the data, that nothing is left (and no FIN is
/// pending), and the readiness is cleared right away. tokio skips the same
/// `recv` by clearing after a short read, which needs `EPOLLRDHUP` to not lose a
/// FIN that came with the data; `polling` does not request it, the hint needs
/// no such guess.
///
/// The hint is turned on by the second read that finds the socket empty: a
/// connection that never waits for data (a bulk sink, or one that is only
/// accepted and closed) or waits once (a client waiting for the server's close)
/// never pays its `setsockopt`; one that waits again and again (request/response
/// traffic) pays it once, at its second wait.
#[derive(Debug, Default)]
struct QueueHint(AtomicU8);

/// `QueueHint`: not tried yet.
const HINT_UNTRIED: u8 = 0;
/// `QueueHint`: on; reads go through `recv_with_queue_hint`.
const HINT_ON: u8 = 1;
/// `QueueHint`: the OS refused it (or has none); plain reads for good.
const HINT_UNAVAILABLE: u8 = 2;
/// `QueueHint`: not tried yet; one read found the socket empty.
const HINT_WAITED_ONCE: u8 = 3;

impl QueueHint {
    /// Whether reads use the hint.
    fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst) == HINT_ON
    }

    /// Plain reads for good (after a read shutdown, see `TcpStream::shutdown`).
    fn turn_off(&self) {
        self.0.store(HINT_UNAVAILABLE, Ordering::SeqCst);
    }

    /// After a read found `stream` empty: at the second time, turns the hint on.
    fn enable_after_would_block(&self, stream: &std::net::TcpStream) {
        let next = match self.0.load(Ordering::Relaxed) {
            HINT_UNTRIED => HINT_WAITED_ONCE,
            HINT_WAITED_ONCE => match crate::sys::enable_queue_hint(stream) {
                Ok(()) => HINT_ON,
                Err(_) => HINT_UNAVAILABLE,
            },
            _ => return,
        };
        self.0.store(next, Ordering::Relaxed);
    }
}

impl TcpStream {
    /// A stream around a registered socket.
    fn wrap(io: Async<std::net::TcpStream>) -> TcpStream {
        TcpStream { io, queue_hint: QueueHint::default() }
    }

    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// The connect is non-blocking: the task waits for writability, then checks the
    /// socket's pending error. Host names resolve with a blocking lookup (see `net`).
    ///
    /// # Errors
    ///
    /// The last address's error: `ConnectionRefused`, `TimedOut`, unreachable, ...
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |addr| async move {
            TcpStream::finish_connect(TcpStream::connect_addr(addr)?).await
        })
        .await
    }

    /// Starts a non-blocking connect to `addr` and registers the socket; the
    /// flag says whether the connect is still in progress.
    #[track_caller]
    fn connect_addr(addr: SocketAddr) -> io::Result<(TcpStream, bool)> {
        let socket = crate::sys::nonblocking_stream_socket(Domain::for_address(addr))?;
        let in_progress = match socket.connect(&addr.into()) {
            Ok(()) => false,
            Err(err) if crate::sys::is_connect_in_progress(&err) => true,
            Err(err) => return Err(err),
        };
        let stream = std::net::TcpStream::from(socket);
        let io = if in_progress { Async::new_connecting(stream)? } else { Async::new(stream)? };
        Ok((TcpStream::wrap(io), in_progress))
    }

    /// Waits until the connect started by `connect_addr` completes.
    ///
    /// The socket was registered as not writable (`Async::new_connecting`), so the
    /// first writability event is the completion: the pending error (`SO_ERROR`)
    /// then tells success from failure. No `getpeername` probe is needed.
    async fn finish_connect((stream, in_progress): (TcpStream, bool)) -> io::Result<TcpStream> {
        if in_progress {
            stream
                .io
                .write_with(|stream| match stream.take_error()? {
                    Some(err) => Err(err),
                    None => Ok(()),
                })
                .await?;
        }
        Ok(stream)
    }

    /// Wraps a std stream (switching it to non-blocking mode): a connected one,
    /// or one whose non-blocking connect is in progress (built with `socket2`,
    /// say). Such a stream is not taken as writable until the poller reports it
    /// so, which is when the connect completed or failed: `writable().await`
    /// then `take_error()` finishes the connect.
    ///
    /// # Errors
    ///
    /// The runtime shut down or the OS refused the registration.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        let connecting =
            matches!(stream.peer_addr(), Err(err) if err.kind() == io::ErrorKind::NotConnected);
        let io = if connecting { Async::new_connecting(stream)? } else { Async::new(stream)? };
        Ok(TcpStream::wrap(io))
    }

    /// Registers a connection a listener accepted (already non-blocking: see
    /// `sys::accept_nonblocking`); `spread`: with the reactor of the group dealt
    /// next (see [`crate::net::TcpListener::set_spread_across_groups`]).
    #[track_caller]
    pub(crate) fn from_accepted(
        stream: std::net::TcpStream,
        spread: bool,
    ) -> io::Result<TcpStream> {
        Ok(TcpStream::wrap(Async::new_accepted(stream, spread)?))
    }

    /// The worker group whose reactor drives this stream: where its readiness
    /// events arrive and its wakes come from.
    ///
    /// That is the group of the thread that created the stream (connected it,
    /// accepted it, or called [`TcpStream::from_std`]), unless it was accepted by
    /// a listener with [`set_spread_across_groups`] on, which deals the groups
    /// round-robin. Always 0 on a runtime with one group (the default
    /// [`Numa::Off`](crate::topology::Numa::Off), a one-node machine, the
    /// current-thread runtime). Pass it to
    /// [`Handle::spawn_on`](crate::runtime::Handle::spawn_on) to run the
    /// connection's handler where its I/O events arrive.
    ///
    /// A task of any group may use the stream: the group's worker that collects
    /// an event wakes the waiting task wherever it was spawned, and the task is
    /// then queued on that worker (so it moves to the stream's group). The
    /// handler is only cheaper on the stream's group, never required to be there.
    ///
    /// hioload-only: tokio has no worker groups.
    ///
    /// [`set_spread_across_groups`]: crate::net::TcpListener::set_spread_across_groups
    ///
    /// # Examples
    ///
    /// ```
    /// use hioload::net::TcpListener;
    ///
    /// async fn serve(listener: TcpListener) -> std::io::Result<()> {
    ///     let handle = hioload::runtime::Handle::current();
    ///     loop {
    ///         let (stream, _) = listener.accept().await?;
    ///         drop(handle.spawn_on(stream.group(), async move { drop(stream) }));
    ///     }
    /// }
    /// # let _ = serve; // examples become `hioload::block_on(serve(..))` with the runtime
    /// ```
    pub fn group(&self) -> usize {
        self.io.group()
    }

    /// Deregisters the stream and returns it as a std stream (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.io.into_inner()
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// The socket is not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets the IP time-to-live of outgoing packets.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing packets.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS error of the query itself.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Shuts down the read, write, or both halves of the connection. After a
    /// read shutdown, reads return 0 once the OS hands out no more data (on
    /// Linux, after the data still queued).
    ///
    /// # Errors
    ///
    /// The OS error, if any (e.g. not connected).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)?;
        if how != Shutdown::Write {
            // The queue hint says "drained" once the queue is empty, but it says
            // "more to come" only for a FIN received, not for our own read
            // shutdown: a drained read would clear the readiness the shutdown's
            // one event set, and the next read would wait for good. Plain reads
            // from now on (they see EOF), and the readiness set again for a read
            // that cleared it in the meantime.
            self.queue_hint.turn_off();
            self.io.mark_read_closed();
        }
        Ok(())
    }

    /// Reads into `buf` without consuming the data; returns the bytes copied (0 at EOF).
    ///
    /// # Errors
    ///
    /// The OS error, or the runtime shut down.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|stream| stream.peek(buf)).await
    }

    /// Waits until the stream is readable; may be a false positive, so follow it with
    /// [`TcpStream::try_read`] (as in tokio).
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is writable; may be a false positive, so follow it with
    /// [`TcpStream::try_write`].
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Reads without waiting; `WouldBlock` if no data is ready (and clears readiness).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read_with(|mut stream| stream.read(buf))
    }

    /// Writes without waiting; `WouldBlock` if the send buffer is full (and clears
    /// readiness).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_write_with(|mut stream| stream.write(buf))
    }

    /// [`TcpStream::try_read`] into several buffers, filled in order.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io.try_read_with(|mut stream| stream.read_vectored(bufs))
    }

    /// [`TcpStream::try_write`] from several buffers, sent in order.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.try_write_with(|mut stream| stream.write_vectored(bufs))
    }

    /// Splits into borrowed read and write halves usable from two tasks at once.
    ///
    /// With `futures_util::AsyncReadExt` in scope, `stream.split()` resolves to that
    /// trait's by-value `split` (a `BiLock`-based one); write `TcpStream::split(&mut
    /// stream)` to get these lock-free halves.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split(self)
    }

    /// Splits into owned read and write halves (`'static`, for spawning).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split_owned(self)
    }

    /// `AsyncRead::poll_read` through a shared reference (used by the halves).
    pub(crate) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_vectored_priv(cx, &mut [IoSliceMut::new(buf)])
    }

    /// `AsyncRead::poll_read_vectored` through a shared reference. Empty buffers
    /// read 0 bytes at once, as std's `Read` documents, without a syscall (the
    /// kernel's answer depended on the path: 0 from `readv`, `WouldBlock` from
    /// the hint's `recvmsg`).
    pub(crate) fn poll_read_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if self.queue_hint.is_on() {
            // "Drained" counts only while the hint is still on: a read shutdown
            // turns it off before it marks the stream readable again, so a read
            // that began before the shutdown cannot clear that readiness.
            return self.io.poll_read_drained(cx, |stream| {
                let (n, drained) = crate::sys::recv_with_queue_hint(stream, bufs)?;
                Ok((n, drained && self.queue_hint.is_on()))
            });
        }
        self.io.poll_read_with(cx, |mut stream| {
            let result = stream.read_vectored(bufs);
            if matches!(&result, Err(err) if err.kind() == io::ErrorKind::WouldBlock) {
                // The socket was found empty: the hint may pay from now on.
                self.queue_hint.enable_after_would_block(stream);
            }
            result
        })
    }

    /// `AsyncWrite::poll_write` through a shared reference.
    pub(crate) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_stream(cx, buf.len(), |mut stream| stream.write(buf))
    }

    /// `AsyncWrite::poll_write_vectored` through a shared reference.
    pub(crate) fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // No readiness clear on a short vectored write: `writev` takes at most
        // IOV_MAX slices, so short does not mean full (tokio does not clear here either).
        self.io.poll_write_with(cx, |mut stream| stream.write_vectored(bufs))
    }

    /// `AsyncWrite::poll_close`: shuts down the write half (a socket that is already
    /// disconnected counts as closed).
    pub(crate) fn poll_close_priv(&self) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(err) if err.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(err)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl TryFrom<std::net::TcpStream> for TcpStream {
    type Error = io::Error;

    /// Same as [`TcpStream::from_std`] (panics outside a runtime).
    fn try_from(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std(stream)
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_vectored_priv(cx, bufs)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the kernel: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_priv()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::async_io::impl_as_handle!(TcpStream);
