//! `TcpListener`: a listening TCP socket, and its `Incoming` stream.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use socket2::{Domain, Protocol, Socket, Type};

use super::stream::TcpStream;
use crate::net::addr::each_addr;
use crate::net::Async;

/// A TCP socket listening for connections.
///
/// Replaces `tokio::net::TcpListener`.
///
/// # Examples
///
/// ```
/// use hioload::net::TcpListener;
///
/// async fn serve() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     println!("listening on {}", listener.local_addr()?);
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         println!("{peer} connected");
///         drop(stream);
///     }
/// }
/// # let _ = serve; // examples become `hioload::block_on(serve())` with the runtime
/// ```
pub struct TcpListener {
    /// The registered socket.
    io: Async<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// The last address's error (in use, not available, permission denied).
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| async move { TcpListener::from_std(bind_std(addr)?) }).await
    }

    /// Accepts a connection.
    ///
    /// Several tasks may accept on one listener at once. An error such as `EMFILE`
    /// (too many open files) is returned, not retried: the caller decides whether to
    /// back off.
    ///
    /// # Errors
    ///
    /// The OS error of `accept`, or the runtime shut down.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.io.read_with(|listener| listener.accept()).await?;
        Ok((TcpStream::from_std(stream)?, peer))
    }

    /// Poll version of [`TcpListener::accept`] (one waker: the last task to poll).
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.io.poll_read_with(cx, |listener| listener.accept()).map(|result| {
            result.and_then(|(stream, peer)| Ok((TcpStream::from_std(stream)?, peer)))
        })
    }

    /// A stream of incoming connections (never ends; yields each `accept` error).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address (e.g. to learn the port after binding port 0).
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live of accepted connections' packets.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
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
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener { io: Async::new(listener)? })
    }

    /// Deregisters the listener and returns it as a std listener (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.io.into_inner()
    }
}

/// A listening std socket on `addr`: `SO_REUSEADDR` on unix (as std and tokio do) and a
/// backlog of 1024 (std's 128 drops SYNs when thousands of clients connect at once).
fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// The `listen` backlog of bound listeners (tokio's value).
const LISTEN_BACKLOG: i32 = 1024;

impl TryFrom<std::net::TcpListener> for TcpListener {
    type Error = io::Error;

    /// Same as [`TcpListener::from_std`] (panics outside a runtime).
    fn try_from(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("local_addr", &self.local_addr().ok()).finish()
    }
}

/// The stream of [`TcpListener::incoming`]: each item is one `accept`.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    /// The listener accepting.
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener.poll_accept(cx).map(|result| Some(result.map(|(stream, _)| stream)))
    }
}

crate::net::async_io::impl_as_handle!(TcpListener);
