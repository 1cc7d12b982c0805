//! TCP: listener, stream, and the stream's split halves.
#![forbid(unsafe_code)]

mod listener;
mod split;
mod stream;

pub use listener::{Incoming, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
