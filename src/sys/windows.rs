//! Windows backend of the platform contract (see `sys/mod.rs`).
// Not `forbid(unsafe_code)`: `borrow_source` below wraps `BorrowedSocket::borrow_raw`.

use std::io;

/// `poller_has_events` cannot answer: see there.
pub(crate) const POLLER_CAN_BE_PROBED: bool = false;

/// Whether `poller` holds events no wait has collected yet. An IOCP port cannot
/// be asked without dequeuing its completions, so this always says no.
pub(crate) fn poller_has_events(_poller: &polling::Poller) -> bool {
    false
}

/// Windows has no per-thread timer slack.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    let _ = ns;
    Err(io::Error::new(io::ErrorKind::Unsupported, "timer slack is not available on Windows"))
}

// ---------------------------------------------------------------------------
// Topology: CPU affinity (used by `topology/`).
// ---------------------------------------------------------------------------

/// `core_affinity::set_for_current` pins with `SetThreadAffinityMask`.
pub(crate) const PIN_SUPPORTED: bool = true;

/// The highest CPU id plus one that `core_affinity::set_for_current` can pin to:
/// it builds a 64-bit thread affinity mask (one processor group).
pub(crate) const PIN_CPU_LIMIT: Option<usize> = Some(64);

/// Reading the process affinity is done through `core_affinity` on Windows.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn process_affinity() -> io::Result<Vec<usize>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "process CPU affinity is read on Linux only"))
}

/// Windows has no call to read a thread's affinity mask without changing it.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn thread_affinity() -> io::Result<Vec<usize>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "thread CPU affinity is read on Linux only"))
}

// ---------------------------------------------------------------------------
// Reactor / networking items (owned by src/reactor and src/net; see sys/mod.rs).
// ---------------------------------------------------------------------------

/// The OS handle the reactor's poller registers.
pub(crate) type RawSource = std::os::windows::io::RawSocket;

/// A borrowed OS handle, as `polling`'s `modify`/`delete` take it.
pub(crate) type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// What a type must implement to be registered with the reactor.
pub(crate) use std::os::windows::io::AsSocket as AsSource;

/// The raw handle of `io`.
pub(crate) fn raw_source(io: &impl AsSource) -> RawSource {
    use std::os::windows::io::AsRawSocket;
    io.as_socket().as_raw_socket()
}

/// Borrows the raw handle `raw`.
///
/// # Safety
///
/// `raw` must be an open socket for all of `'a`.
pub(crate) unsafe fn borrow_source<'a>(raw: RawSource) -> BorrowedSource<'a> {
    // SAFETY: the caller guarantees `raw` stays open for `'a` (this fn's contract).
    unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(raw) }
}

/// Whether a non-blocking `connect` error means "in progress: wait until writable".
pub(crate) fn is_connect_in_progress(err: &io::Error) -> bool {
    // WSAEWOULDBLOCK (10035) maps to ErrorKind::WouldBlock; WSAEINPROGRESS is 10036.
    err.kind() == io::ErrorKind::WouldBlock || err.raw_os_error() == Some(10036)
}

// Windows has no flag for a non-blocking socket at creation or accept:
// `ioctlsocket(FIONBIO)` after, as `sys/portable.rs` does.
pub(crate) use super::portable::{accept_nonblocking, nonblocking_stream_socket};

/// Windows has no receive-queue hint: always `Unsupported` (reads then take the
/// plain path; see the unix backend).
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
pub(crate) fn enable_queue_hint(_socket: &std::net::TcpStream) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "TCP_INQ is a Linux feature"))
}

/// Not relied on with IOCP's AFD polling (see `sys/mod.rs`): a partial write
/// is followed by another attempt, as in tokio on Windows.
pub(crate) const PARTIAL_WRITE_MEANS_FULL: bool = false;

/// A plain vectored read, never reported as drained (see the unix backend).
///
/// # Errors
///
/// The OS error of the read, `WouldBlock` included.
pub(crate) fn recv_with_queue_hint(
    socket: &std::net::TcpStream,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> io::Result<(usize, bool)> {
    use std::io::Read;
    let mut socket = socket;
    socket.read_vectored(bufs).map(|n| (n, false))
}
