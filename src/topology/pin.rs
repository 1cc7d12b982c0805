//! Pinning threads to CPUs, and reading a thread's CPU affinity back.
//!
//! Pinning goes through `core_affinity`; its `false` is turned into an error (the
//! OS error when the OS set one, `Unsupported` otherwise), never a silent no-op.
#![forbid(unsafe_code)]

use std::io;

use crate::sys;

/// Pins the calling thread to CPU `cpu` (an OS CPU id), so it runs there only.
///
/// Workers of a runtime built with `Builder::pin_workers(true)` call this when they
/// start; it is public for threads of your own (e.g. a dedicated I/O thread).
///
/// # Examples
///
/// ```
/// use hioload::topology::{pin_current_thread, Topology};
///
/// let cpu = Topology::discover()?.cpus()[0];
/// let pinned = std::thread::spawn(move || pin_current_thread(cpu)).join().unwrap();
/// if let Err(e) = pinned {
///     // e.g. `Unsupported` on macOS: the thread runs unpinned.
///     eprintln!("not pinned: {e}");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// - `InvalidInput` if `cpu` is beyond what the platform can pin to (1024 CPUs on
///   Linux, 64 on Windows);
/// - the OS error if the OS refuses (on Linux `InvalidInput`/`EINVAL` when the
///   process may not run on `cpu`);
/// - `Unsupported` where threads cannot be pinned (e.g. macOS, whose affinity tags
///   are only hints), or if the OS refused without an error code.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if !sys::PIN_SUPPORTED {
        return Err(unsupported(cpu));
    }
    if let Some(limit) = sys::PIN_CPU_LIMIT.filter(|&limit| cpu >= limit) {
        let msg = format!("cannot pin to CPU {cpu}: this platform pins to CPUs below {limit}");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        return Ok(());
    }
    // Read errno / GetLastError before anything else can overwrite it.
    let os = io::Error::last_os_error();
    match os.raw_os_error() {
        Some(code) if code != 0 => {
            Err(io::Error::new(os.kind(), format!("cannot pin thread to CPU {cpu}: {os}")))
        }
        _ => Err(unsupported(cpu)),
    }
}

/// The error for a pin that cannot happen on this platform.
fn unsupported(cpu: usize) -> io::Error {
    let msg = format!("cannot pin thread to CPU {cpu}: thread pinning is not supported here");
    io::Error::new(io::ErrorKind::Unsupported, msg)
}

/// The CPUs (OS ids, ascending) the calling thread may run on.
///
/// After [`pin_current_thread(cpu)`](pin_current_thread) this is `[cpu]`.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use hioload::topology::{current_thread_affinity, pin_current_thread};
///
/// let cpu = current_thread_affinity()?[0];
/// let pinned = std::thread::spawn(move || {
///     pin_current_thread(cpu)?;
///     current_thread_affinity()
/// });
/// assert_eq!(pinned.join().unwrap()?, vec![cpu]);
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS error of `sched_getaffinity`; `Unsupported` on platforms other than Linux.
pub fn current_thread_affinity() -> io::Result<Vec<usize>> {
    sys::thread_affinity()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_beyond_the_platform_limit_is_invalid_input() {
        let Some(limit) = sys::PIN_CPU_LIMIT.filter(|_| sys::PIN_SUPPORTED) else { return };
        let err = pin_current_thread(limit).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&limit.to_string()), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinned_thread_reads_back_its_cpu() {
        let allowed = sys::process_affinity().unwrap();
        // Pin to the last allowed CPU: on most machines not the one we run on.
        let cpu = *allowed.last().unwrap();
        let affinity = std::thread::spawn(move || {
            pin_current_thread(cpu).unwrap();
            current_thread_affinity().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(affinity, vec![cpu]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinning_to_a_disallowed_cpu_is_an_os_error() {
        // The highest id a cpu_set_t holds; no test machine allows it.
        let cpu = sys::PIN_CPU_LIMIT.unwrap() - 1;
        if sys::process_affinity().unwrap().contains(&cpu) {
            return;
        }
        let before = current_thread_affinity().unwrap();
        let err = std::thread::spawn(move || pin_current_thread(cpu)).join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("CPU 1023"), "{err}");
        assert_eq!(current_thread_affinity().unwrap(), before);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn thread_affinity_is_within_process_affinity() {
        let process = sys::process_affinity().unwrap();
        let thread = current_thread_affinity().unwrap();
        assert!(!thread.is_empty());
        assert!(thread.windows(2).all(|w| w[0] < w[1]), "ascending: {thread:?}");
        assert!(thread.iter().all(|cpu| process.contains(cpu)), "{thread:?} vs {process:?}");
    }
}
