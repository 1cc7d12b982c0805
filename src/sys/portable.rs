//! Sockets made non-blocking after the fact: the fallback of the `sys` items
//! `nonblocking_stream_socket` and `accept_nonblocking` for targets with no flag
//! to do it in the creating call (Windows, and unix other than Linux, Android and
//! FreeBSD). One extra syscall each: `fcntl`s / `ioctlsocket(FIONBIO)`.
#![forbid(unsafe_code)]

use std::io;

/// A new non-blocking stream socket for `domain`.
pub(crate) fn nonblocking_stream_socket(domain: socket2::Domain) -> io::Result<socket2::Socket> {
    use socket2::{Protocol, Socket, Type};
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Accepts a connection on `listener` and makes it non-blocking (explicitly: an
/// accepted socket's mode is inherited on some targets and not on others).
pub(crate) fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    let (stream, addr) = listener.accept()?;
    stream.set_nonblocking(true)?;
    Ok((stream, addr))
}
