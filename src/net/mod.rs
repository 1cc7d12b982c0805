//! Async networking: TCP, UDP, Unix domain sockets, and [`Async`] for any OS handle.
//!
//! Every type here registers with the reactor of the runtime it is created in, so it
//! must be created inside a hioload runtime (`hioload::block_on` or a spawned task);
//! creating one elsewhere panics, saying so. On a runtime with several worker groups,
//! that is the reactor of the creating thread's group, except for connections accepted
//! by a listener with `set_spread_across_groups(true)`, which are dealt to the groups'
//! reactors in turn (`TcpStream::group` tells which).
//!
//! Streams implement `futures_io::AsyncRead` and `AsyncWrite`, so
//! `futures_util::{AsyncReadExt, AsyncWriteExt}` work on them.
//!
//! Addresses are std's [`ToSocketAddrs`]: `"127.0.0.1:0"`, a `SocketAddr`, an
//! `(ip, port)` pair. A host name is resolved with std's blocking lookup on the calling
//! thread; literal addresses never block.
//!
//! After the runtime shuts down, pending and later operations fail with an `io::Error`
//! ("runtime shut down") instead of hanging.

mod addr;
mod async_io;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
mod unix_datagram;

pub use std::net::ToSocketAddrs;

pub use async_io::Async;
pub use tcp::{
    Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpStream,
    WriteHalf,
};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixListener, UnixStream};
#[cfg(unix)]
pub use unix_datagram::UnixDatagram;
#[cfg(test)]
mod tests;
