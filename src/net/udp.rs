//! `UdpSocket`.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::net::addr::each_addr;
use crate::net::Async;

/// A UDP socket.
///
/// Replaces `tokio::net::UdpSocket`. Any number of tasks may send or receive on one
/// socket at once (`&self` methods).
///
/// # Examples
///
/// ```
/// use hioload::net::UdpSocket;
///
/// async fn echo_once() -> std::io::Result<()> {
///     let socket = UdpSocket::bind("127.0.0.1:0").await?;
///     let mut buf = [0; 1500];
///     let (n, from) = socket.recv_from(&mut buf).await?;
///     socket.send_to(&buf[..n], from).await?;
///     Ok(())
/// }
/// # let _ = echo_once; // examples become `hioload::block_on(echo_once())` with the runtime
/// ```
pub struct UdpSocket {
    /// The registered socket.
    io: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// The last address's error.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| async move { UdpSocket::from_std(std::net::UdpSocket::bind(addr)?) })
            .await
    }

    /// Sets the default peer for `send`/`recv` (and filters received datagrams to it),
    /// trying each address `addr` resolves to.
    ///
    /// # Errors
    ///
    /// The last address's error.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        // UDP connect only records the peer: it never blocks.
        each_addr(addr, |addr| async move { self.io.get_ref().connect(addr) }).await
    }

    /// Sends `buf` to the connected peer; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// Not connected, the OS error (e.g. `ConnectionRefused` after an ICMP
    /// port-unreachable), or the runtime shut down.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|socket| socket.send(buf)).await
    }

    /// Receives one datagram from the connected peer into `buf`.
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::send`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|socket| socket.recv(buf)).await
    }

    /// Sends `buf` to `target` (the first address it resolves to).
    ///
    /// # Errors
    ///
    /// `target` resolves to nothing, the OS error, or the runtime shut down.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = target.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.io.write_with(|socket| socket.send_to(buf, addr)).await
    }

    /// Receives one datagram into `buf`; returns its length and sender.
    ///
    /// # Errors
    ///
    /// The OS error, or the runtime shut down.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|socket| socket.recv_from(buf)).await
    }

    /// Like [`UdpSocket::recv_from`] without removing the datagram from the queue.
    ///
    /// # Errors
    ///
    /// The OS error, or the runtime shut down.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|socket| socket.peek_from(buf)).await
    }

    /// Waits until a datagram may be ready to receive (false positives are possible:
    /// follow with [`UdpSocket::try_recv_from`]).
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the socket may be writable (false positives are possible).
    ///
    /// # Errors
    ///
    /// The runtime shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Receives a datagram without waiting (`WouldBlock` if none; clears readiness).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_read_with(|socket| socket.recv_from(buf))
    }

    /// Sends a datagram without waiting (`WouldBlock` if the buffer is full).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_write_with(|socket| socket.send_to(buf, target))
    }

    /// Receives a datagram from the connected peer without waiting
    /// (`WouldBlock` if none; clears readiness).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS error (e.g. `ConnectionRefused` after a send to
    /// a closed port).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read_with(|socket| socket.recv(buf))
    }

    /// Sends a datagram to the connected peer without waiting (`WouldBlock` if
    /// the buffer is full).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, not connected, or the OS error.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_write_with(|socket| socket.send(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before [`UdpSocket::connect`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Sets the IP time-to-live of outgoing datagrams.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing datagrams.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Joins the IPv4 multicast group `group` on the interface with address `interface`
    /// (`0.0.0.0`: the OS chooses).
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group joined with [`UdpSocket::join_multicast_v4`].
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&group, &interface)
    }

    /// Joins the IPv6 multicast group `group` on interface index `interface` (0: any).
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group joined with [`UdpSocket::join_multicast_v6`].
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(group, interface)
    }

    /// Sets whether multicast datagrams sent from this socket loop back to local sockets.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v4(on)
    }

    /// Sets the time-to-live of outgoing IPv4 multicast datagrams.
    ///
    /// # Errors
    ///
    /// The OS error, if any.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Wraps a bound std socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// The runtime shut down or the OS refused the registration.
    ///
    /// # Panics
    ///
    /// Outside a hioload runtime.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { io: Async::new(socket)? })
    }

    /// Deregisters the socket and returns it as a std socket (still non-blocking).
    ///
    /// # Errors
    ///
    /// The OS failed to deregister it.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        self.io.into_inner()
    }
}

impl TryFrom<std::net::UdpSocket> for UdpSocket {
    type Error = io::Error;

    /// Same as [`UdpSocket::from_std`] (panics outside a runtime).
    fn try_from(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std(socket)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::async_io::impl_as_handle!(UdpSocket);
