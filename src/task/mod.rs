//! The public task API: join handles, join errors, cancellation, yielding.
//!
//! `hioload::task` mirrors `tokio::task` (and `tokio_util::sync::CancellationToken`).

mod cancellation_token;
mod id;
mod join_error;
mod join_handle;
mod join_set;
mod yield_now;

pub use cancellation_token::{
    CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
pub use id::{id, try_id, Id};
pub use join_error::JoinError;
pub use join_handle::{AbortHandle, JoinHandle};
pub use join_set::JoinSet;
pub use yield_now::yield_now;

#[doc(inline)]
pub use crate::{spawn, spawn_blocking};
