//! Unix domain stream sockets: `UnixListener`, `UnixStream` (unix only).
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::net::Async;

/// The address of the Unix socket named `path`, as tokio reads it: a path
/// whose first byte is NUL names a socket in Linux's abstract namespace (the
/// rest of the bytes, NULs included, are the name); any other NUL is refused,
/// as std refuses it, instead of cutting the path short.
///
/// # Errors
///
/// `InvalidInput` for a NUL inside a path (or an abstract name off Linux), or a
/// path too long for a socket address.
pub(crate) fn unix_addr(path: &Path) -> io::Result<SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if let Some(name) = bytes.strip_prefix(b"\0") {
        #[cfg(target_os = "linux")]
        return <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name);
        #[cfg(target_os = "android")]
        return <SocketAddr as std::os::android::net::SocketAddrExt>::from_abstract_name(name);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = name;
    }
    // `from_pathname` refuses a NUL anywhere (a leading one too, off Linux).
    SocketAddr::from_pathname(path)
}

/// A Unix domain socket listening for connections.
///
/// Replaces `tokio::net::UnixListener`.
///
/// # Examples
///
/// ```
/// use hioload::net::UnixListener;
///
/// async fn serve() -> std::io::Result<()> {
///     let listener = UnixListener::bind("/tmp/hioload-example.sock")?;
///     let (stream, _addr) = listener.accept().await?;
///     drop(stream);
///     Ok(())
/// }
/// # let _ = serve; // examples become `hioload::block_on(serve())` with the runtime
/// ```
pub struct UnixListener {
    /// The registered socket.
    io: Async<std::os::unix::net::UnixListener>,
    /// Whether accepted streams are dealt to the groups' reactors (see
    /// [`UnixListener::set_spread_across_groups`]; relaxed: it orders nothing else).
    spread: AtomicBool,
}

impl UnixListener {
    /// Binds to the socket file `path` (which must not exist).
    ///
    /// # Errors
    ///
    /// The OS error (e.g. `AddrInUse` if the file exists).
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = unix_addr(path.as_ref())?;
        UnixListener::from_std(std::os::unix::net::UnixListener::bind_addr(&addr)?)
    }

    /// Accepts a connection.
    ///
    /// # Errors
    ///
    /// The OS error of `accept` (returned, not retried), or the runtime shut down.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.io.read_with(|listener| listener.accept()).await?;
        stream.set_nonblocking(true)?;
        let io = Async::new_accepted(stream, self.spreads_across_groups())?;
        Ok((UnixStream { io }, addr))
    }

    /// Spreads accepted connections over the worker groups' reactors; the same
    /// setting as [`TcpListener::set_spread_across_groups`](crate::net::TcpListener::set_spread_across_groups)
    /// (sharing its round-robin deal), with [`UnixStream::group`] saying where a
    /// stream landed. Changes nothing on a runtime with one group.
    ///
    /// # Default
    ///
    /// `false`: streams register with the reactor of the accepting thread's group.
    pub fn set_spread_across_groups(&self, on: bool) {
        self.spread.store(on, Ordering::Relaxed);
    }

    /// Whether accepted connections are spread over the groups.
    pub fn spreads_across_groups(&self) -> bool {
        self.spread.load(Ordering::Relaxed)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Wraps a bound std listener (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// The runtime shut down or the OS refused the registration.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener { io: Async::new(listener)?, spread: AtomicBool::new(false) })
    }

    /// Deregisters the listener and returns it as a std listener (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        self.io.into_inner()
    }
}

impl TryFrom<std::os::unix::net::UnixListener> for UnixListener {
    type Error = io::Error;

    /// Same as [`UnixListener::from_std`] (panics outside a runtime).
    fn try_from(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        UnixListener::from_std(listener)
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .field("spread_across_groups", &self.spreads_across_groups())
            .finish()
    }
}

/// A connected Unix domain stream socket; implements `AsyncRead` + `AsyncWrite`.
///
/// Replaces `tokio::net::UnixStream`.
pub struct UnixStream {
    /// The registered socket.
    io: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file `path` without blocking the thread.
    ///
    /// # Errors
    ///
    /// The OS error (`NotFound`, `ConnectionRefused`, ...), or the runtime shut down.
    /// A listener whose backlog is full refuses at once with `WouldBlock`
    /// (`EAGAIN`: the connection was not queued), as with tokio; retry later.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        // Checked first: `SockAddr::unix` would cut a path at an inner NUL.
        unix_addr(path.as_ref())?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(err) if crate::sys::is_connect_in_progress(&err) => {}
            Err(err) => return Err(err),
        }
        let stream = UnixStream {
            io: Async::new(std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(
                socket,
            )))?,
        };
        stream
            .io
            .write_with(|s| match s.take_error()? {
                Some(err) => Err(err),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(err) => Err(err),
                },
            })
            .await?;
        Ok(stream)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// The OS error, or the runtime shut down.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read, write, or both halves.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Wraps a connected std stream (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// The runtime shut down or the OS refused the registration.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream { io: Async::new(stream)? })
    }

    /// The worker group whose reactor drives this stream (0 on a runtime with one
    /// group); see [`TcpStream::group`](crate::net::TcpStream::group).
    pub fn group(&self) -> usize {
        self.io.group()
    }

    /// Deregisters the stream and returns it as a std stream (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        self.io.into_inner()
    }
}

impl TryFrom<std::os::unix::net::UnixStream> for UnixStream {
    type Error = io::Error;

    /// Same as [`UnixStream::from_std`] (panics outside a runtime).
    fn try_from(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        UnixStream::from_std(stream)
    }
}

impl AsyncRead for UnixStream {
    /// An empty buffer reads 0 bytes at once, as `TcpStream`'s does.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_read_with(cx, |mut s| s.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_read_with(cx, |mut s| s.read_vectored(bufs))
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_stream(cx, buf.len(), |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // No readiness clear on a short vectored write: `writev` takes at most
        // IOV_MAX slices, so short does not mean full (tokio does not clear here either).
        self.io.poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(err) if err.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(err)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::async_io::impl_as_handle!(UnixListener, UnixStream);
