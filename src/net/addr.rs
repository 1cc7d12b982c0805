//! Address resolution shared by the net types.
//!
//! Addresses are taken as std's [`ToSocketAddrs`](std::net::ToSocketAddrs): a `&str` like
//! `"127.0.0.1:0"`, a `SocketAddr`, an `(ip, port)` pair. Resolving a host name is a
//! blocking DNS lookup done on the calling thread (as std does); literal addresses never
//! block. Moving lookups to the blocking pool is planned once `spawn_blocking` lands.
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Tries `op` on each address `addr` resolves to, returning the first success or the
/// last error (as tokio does).
pub(crate) async fn each_addr<A, T, F, Fut>(addr: A, mut op: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match op(addr).await {
            Ok(value) => return Ok(value),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
    }))
}
