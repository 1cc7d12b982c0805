//! Time errors.
#![forbid(unsafe_code)]

use std::{error, fmt, io};

/// The error of a [`Timeout`](super::Timeout) whose deadline passed before its future
/// completed; replaces `tokio::time::error::Elapsed`.
///
/// # Examples
///
/// ```
/// use hioload::time::{error::Elapsed, timeout};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let res: Result<(), Elapsed> =
///         timeout(Duration::from_millis(1), std::future::pending()).await;
///     assert!(res.is_err());
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// The error value.
    pub(crate) fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}
