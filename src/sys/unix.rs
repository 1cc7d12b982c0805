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
