//! Unix backend of the platform contract (see `sys/mod.rs`).

use std::io;

/// Sets the calling thread's timer slack to `ns` nanoseconds.
///
/// Linux delays timer expiries by up to the thread's slack (50 us by default) to
/// batch wake-ups; a sub-millisecond sleep needs a smaller slack.
///
/// # Errors
///
/// `ErrorKind::Unsupported` on unix systems other than Linux/Android; the OS error
/// if `prctl` fails.
#[allow(dead_code)]
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: PR_SET_TIMERSLACK takes one unsigned long argument by value and
        // touches no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = ns;
        Err(io::Error::new(io::ErrorKind::Unsupported, "timer slack is a Linux feature"))
    }
}

// ---------------------------------------------------------------------------
// Reactor / networking items (owned by src/reactor and src/net; see sys/mod.rs).
// ---------------------------------------------------------------------------

/// The OS handle the reactor's poller registers.
pub(crate) type RawSource = std::os::fd::RawFd;

/// A borrowed OS handle, as `polling`'s `modify`/`delete` take it.
pub(crate) type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;

/// What a type must implement to be registered with the reactor.
pub(crate) use std::os::fd::AsFd as AsSource;

/// The raw handle of `io`.
pub(crate) fn raw_source(io: &impl AsSource) -> RawSource {
    use std::os::fd::AsRawFd;
    io.as_fd().as_raw_fd()
}

/// Borrows the raw handle `raw`.
///
/// # Safety
///
/// `raw` must be an open file descriptor for all of `'a`.
pub(crate) unsafe fn borrow_source<'a>(raw: RawSource) -> BorrowedSource<'a> {
    // SAFETY: the caller guarantees `raw` stays open for `'a` (this fn's contract).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) }
}

/// Whether a non-blocking `connect` error means "in progress: wait until writable".
pub(crate) fn is_connect_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS) || err.kind() == io::ErrorKind::WouldBlock
}

/// Test helper: lowers this process's soft `RLIMIT_NOFILE` to `limit` (used by a test
/// that runs in a child process to hit `EMFILE` quickly).
///
/// # Errors
///
/// The OS error of `getrlimit`/`setrlimit`.
#[cfg(test)]
pub(crate) fn set_open_files_soft_limit(limit: u64) -> io::Result<()> {
    let mut rlim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `rlim` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    rlim.rlim_cur = (limit as libc::rlim_t).min(rlim.rlim_max);
    // SAFETY: `rlim` is a valid `rlimit` read by the call; no memory is retained.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
