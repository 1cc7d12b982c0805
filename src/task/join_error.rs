//! Why a task produced no value.
#![forbid(unsafe_code)]

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

/// The reason a task's [`JoinHandle`](crate::task::JoinHandle) yields no value:
/// the task was cancelled, or it panicked.
///
/// Replaces `tokio::task::JoinError`.
///
/// # Examples
///
/// ```
/// let err = hioload::block_on(async {
///     hioload::spawn(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub struct JoinError {
    /// What happened.
    repr: Repr,
}

/// The two outcomes.
enum Repr {
    /// Aborted, or dropped by runtime shutdown.
    Cancelled,
    /// The future panicked.
    Panic {
        /// The payload, behind a mutex only so `JoinError` is `Sync` without
        /// unsafe code (shared references never reach the payload).
        payload: Mutex<Box<dyn Any + Send + 'static>>,
        /// The panic message, when the payload was a string.
        message: Option<String>,
    },
}

impl JoinError {
    /// A cancelled task.
    pub(crate) fn cancelled() -> JoinError {
        JoinError { repr: Repr::Cancelled }
    }

    /// A panicked task.
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        let message = panic_message(payload.as_ref()).map(str::to_owned);
        JoinError { repr: Repr::Panic { payload: Mutex::new(payload), message } }
    }

    /// Whether the task was cancelled (`JoinHandle::abort`, or runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the task did not panic (see [`JoinError::is_panic`]).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect("`JoinError::into_panic` called on a task that did not panic")
    }

    /// The panic payload, or the error itself if the task did not panic.
    ///
    /// # Errors
    ///
    /// Returns `self` when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => {
                Ok(payload.into_inner().unwrap_or_else(|p| p.into_inner()))
            }
            Repr::Cancelled => Err(self),
        }
    }
}

/// The panic message, when the payload is a string.
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic { message, .. } => match message {
                Some(message) => write!(f, "task panicked with message {message:?}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic { message, .. } => match message {
                Some(message) => write!(f, "JoinError::Panic({message:?})"),
                None => f.write_str("JoinError::Panic(..)"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

/// Kind `Other` for both outcomes, as tokio's. (Not `Interrupted` for a
/// cancelled task: std's I/O helpers retry on `Interrupted`.)
impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::JoinError;

    #[test]
    fn display_names_the_outcome() {
        assert_eq!(JoinError::cancelled().to_string(), "task was cancelled");
        let err = JoinError::panic(Box::new(String::from("bad")));
        assert_eq!(err.to_string(), "task panicked with message \"bad\"");
        assert!(err.is_panic() && !err.is_cancelled());
        assert!(JoinError::cancelled().try_into_panic().is_err());
    }
}
