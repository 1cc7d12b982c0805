//! `TcpListener`: a listening TCP socket, and its `Incoming` stream.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use socket2::{Domain, Protocol, Socket, Type};

use super::stream::TcpStream;
use crate::net::addr::each_addr;
use crate::net::Async;
use crate::reactor::Readiness;
use crate::util::coop;

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
    /// Whether accepted streams are dealt to the groups' reactors; set by
    /// [`TcpListener::set_spread_across_groups`], read at each accept (relaxed: it
    /// orders nothing else).
    spread: AtomicBool,
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
        let (stream, peer) = self.io.read_with(crate::sys::accept_nonblocking).await?;
        Ok((self.register(stream)?, peer))
    }

    /// Poll version of [`TcpListener::accept`] (one waker: the last task to poll).
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.io
            .poll_read_with(cx, crate::sys::accept_nonblocking)
            .map(|result| result.and_then(|(stream, peer)| Ok((self.register(stream)?, peer))))
    }

    /// Registers an accepted connection with the reactor the spread setting picks.
    fn register(&self, stream: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_accepted(stream, self.spreads_across_groups())
    }

    /// Spreads accepted connections over the worker groups' reactors (`true`), or
    /// registers each with the reactor of the group whose thread accepted it
    /// (`false`, the default).
    ///
    /// With spreading on, each accepted [`TcpStream`] is registered with the
    /// reactor of a group dealt round-robin (skipping groups that `resize` left
    /// without a running worker), so one accept loop feeds every group's reactor;
    /// every spreading listener of a runtime shares one deal. [`TcpStream::group`]
    /// says where a stream landed: spawn its handler there with
    /// [`Handle::spawn_on`](crate::runtime::Handle::spawn_on) so it runs where its
    /// I/O events arrive (a handler elsewhere works too; see [`TcpStream::group`]).
    ///
    /// Round-robin rather than "the group with the fewest registrations": a
    /// registration count weighs a listener or an idle connection like a busy one,
    /// and lags (slots are freed lazily), so a burst of accepts would herd onto one
    /// group; the deal is one atomic add and splits exactly.
    ///
    /// On a runtime with one group (the default [`Numa::Off`], a one-node machine,
    /// the current-thread runtime) it changes nothing: there is one reactor, and
    /// every stream's group is 0. It may be switched at any time; accepts already
    /// in progress use the setting they read when their connection arrives.
    ///
    /// hioload-only: tokio has one reactor per runtime, hence no equivalent.
    ///
    /// [`Numa::Off`]: crate::topology::Numa::Off
    ///
    /// # Examples
    ///
    /// ```
    /// use hioload::net::{TcpListener, TcpStream};
    /// use hioload::topology::Numa;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let rt = hioload::Runtime::builder()
    ///     .worker_threads(2)
    ///     .numa(Numa::Groups(vec![vec![0], vec![1]]))
    ///     .build()?;
    /// rt.block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     listener.set_spread_across_groups(true);
    ///     let handle = hioload::runtime::Handle::current();
    ///     let mut groups = Vec::new();
    ///     for _ in 0..2 {
    ///         let _client = TcpStream::connect(listener.local_addr()?).await?;
    ///         let (stream, _) = listener.accept().await?;
    ///         groups.push(stream.group());
    ///         // Serve the connection on the group whose reactor drives it.
    ///         drop(handle.spawn_on(stream.group(), async move { drop(stream) }));
    ///     }
    ///     groups.sort();
    ///     assert_eq!(groups, [0, 1]);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn set_spread_across_groups(&self, on: bool) {
        self.spread.store(on, Ordering::Relaxed);
    }

    /// Whether accepted connections are spread over the groups (see
    /// [`TcpListener::set_spread_across_groups`]).
    pub fn spreads_across_groups(&self) -> bool {
        self.spread.load(Ordering::Relaxed)
    }

    /// A stream of incoming connections (never ends; yields each `accept` error).
    /// Each stream waits on its own, as each `accept` future does: several
    /// streams (and `accept` calls) on one listener are all woken.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self, waiting: None }
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
        Ok(TcpListener { io: Async::new(listener)?, spread: AtomicBool::new(false) })
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
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .field("spread_across_groups", &self.spreads_across_groups())
            .finish()
    }
}

/// The stream of [`TcpListener::incoming`]: each item is one `accept`.
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    /// The listener accepting.
    listener: &'a TcpListener,
    /// This stream's wait for the next connection, while it waits: its own
    /// waiter, not `poll_accept`'s shared slot (where the last task to poll
    /// would be the only one woken).
    waiting: Option<Readiness<'a>>,
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // The cooperative budget, as for `accept`.
        ready!(coop::poll_proceed(cx));
        let listener = this.listener;
        let accepted = ready!(listener.io.poll_read_waiting(
            &mut this.waiting,
            cx,
            crate::sys::accept_nonblocking
        ));
        Poll::Ready(Some(accepted.and_then(|(stream, _)| listener.register(stream))))
    }
}

crate::net::async_io::impl_as_handle!(TcpListener);
