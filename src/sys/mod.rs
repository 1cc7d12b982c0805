//! The platform contract: one cfg switch, the same items in each backend.
//!
//! Every backend provides:
//!
//! - `set_timer_slack(ns)`: ask the OS to fire this thread's timers with at most
//!   `ns` nanoseconds of slack (Linux `PR_SET_TIMERSLACK`; elsewhere
//!   `ErrorKind::Unsupported`).
//!
//! Topology items (used by `topology/`):
//!
//! - `PIN_SUPPORTED`: whether `core_affinity` really pins threads on this target.
//! - `PIN_CPU_LIMIT`: `Some(n)` where CPU ids at or above `n` cannot be pinned to
//!   through `core_affinity` (Linux: `CPU_SETSIZE`; Windows: 64, one processor
//!   group); `None` where no bound is known.
//! - `process_affinity()`, `thread_affinity()`: the CPUs the process / the calling
//!   thread may run on, ascending (Linux `sched_getaffinity`; elsewhere
//!   `ErrorKind::Unsupported`).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

/// Fallbacks shared by the backends that cannot do better (see the file).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod portable;

#[cfg(not(any(unix, windows)))]
compile_error!("hioload supports unix (Linux first) and Windows targets only");

// ---------------------------------------------------------------------------
// Reactor / networking items (owned by src/reactor and src/net).
//
// Every backend also provides:
//
// - `RawSource`: the OS handle the poller registers (`RawFd` / `RawSocket`);
// - `AsSource`: the public trait a user type implements to be waited on
//   (`AsFd` / `AsSocket`), re-exported from std;
// - `raw_source(&impl AsSource) -> RawSource`;
// - `unsafe fn borrow_source<'a>(RawSource) -> BorrowedSource<'a>`: borrow a raw
//   handle the caller knows to be open, to hand to `Poller::modify`/`delete`;
// - `is_connect_in_progress(&io::Error) -> bool`: the non-blocking `connect`
//   result that means "wait for writability" (`EINPROGRESS` / `WSAEWOULDBLOCK`);
// - `nonblocking_stream_socket(Domain)` and `accept_nonblocking(&TcpListener)`:
//   sockets born non-blocking, in one syscall where the OS allows it;
// - `enable_queue_hint(&TcpStream)` and `recv_with_queue_hint(&TcpStream, bufs)
//   -> (n, drained)`: a read that also says whether the receive queue is empty
//   with no FIN pending (Linux `TCP_INQ`; elsewhere `Unsupported` and a plain
//   read that never says drained);
// - `PARTIAL_WRITE_MEANS_FULL`: whether a stream socket write that took only part
//   of its buffer proves the send buffer full, so the write readiness may be
//   cleared at once (unix: yes, and the poller reports the next edge; IOCP's
//   AFD polling: not relied on, as tokio does not);
// - `poller_has_events(&Poller) -> bool`: whether a poller holds uncollected
//   events, without collecting them (epoll/kqueue: its descriptor polls
//   readable; IOCP cannot tell: always false);
// - `POLLER_CAN_BE_PROBED`: whether `poller_has_events` can say yes (a driver
//   holder watches the poller before it sleeps only where it can).
// ---------------------------------------------------------------------------
