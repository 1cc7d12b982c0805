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
// Topology: CPU affinity (used by `topology/`).
// ---------------------------------------------------------------------------

/// Whether `core_affinity::set_for_current` really pins here: it calls the OS on
/// Linux, Android, FreeBSD and NetBSD; on macOS it only sets an affinity hint, and
/// elsewhere it does nothing.
pub(crate) const PIN_SUPPORTED: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
));

/// The highest CPU id plus one that `core_affinity::set_for_current` can pin to:
/// it builds a fixed `cpu_set_t`, which holds `CPU_SETSIZE` CPUs on Linux.
#[cfg(target_os = "linux")]
pub(crate) const PIN_CPU_LIMIT: Option<usize> = Some(libc::CPU_SETSIZE as usize);
/// No bound known beyond what the OS itself checks.
#[cfg(not(target_os = "linux"))]
pub(crate) const PIN_CPU_LIMIT: Option<usize> = None;

/// The CPUs the process (its main thread) may run on, ascending
/// (`sched_getaffinity(getpid())`).
///
/// # Errors
///
/// The OS error of `sched_getaffinity`; `ErrorKind::Unsupported` on unix systems
/// other than Linux.
#[allow(dead_code)]
pub(crate) fn process_affinity() -> io::Result<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid has no preconditions and cannot fail.
        let pid = unsafe { libc::getpid() };
        sched_getaffinity(pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "process CPU affinity is read on Linux only",
        ))
    }
}

/// The CPUs the calling thread may run on, ascending (`sched_getaffinity(0)`).
///
/// # Errors
///
/// The OS error of `sched_getaffinity`; `ErrorKind::Unsupported` on unix systems
/// other than Linux.
#[allow(dead_code)]
pub(crate) fn thread_affinity() -> io::Result<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        sched_getaffinity(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(io::ErrorKind::Unsupported, "thread CPU affinity is read on Linux only"))
    }
}

/// Reads the affinity mask of thread `tid` (0: the caller), growing the buffer
/// past `CPU_SETSIZE` (1024 CPUs) while the kernel's mask does not fit.
#[cfg(target_os = "linux")]
fn sched_getaffinity(tid: libc::pid_t) -> io::Result<Vec<usize>> {
    const SETSIZE: usize = libc::CPU_SETSIZE as usize;
    let mut sets = 1;
    loop {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut buf = vec![unsafe { std::mem::zeroed::<libc::cpu_set_t>() }; sets];
        let size = std::mem::size_of_val(buf.as_slice());
        // SAFETY: `buf` is a live, writable allocation of exactly `size` bytes; the
        // kernel writes at most `size` bytes into it.
        let rc = unsafe { libc::sched_getaffinity(tid, size, buf.as_mut_ptr()) };
        if rc == 0 {
            let cpus = buf.iter().enumerate().flat_map(|(i, set)| {
                // SAFETY: `j < CPU_SETSIZE`, the bit count of one `cpu_set_t`.
                (0..SETSIZE)
                    .filter(move |&j| unsafe { libc::CPU_ISSET(j, set) })
                    .map(move |j| i * SETSIZE + j)
            });
            return Ok(cpus.collect());
        }
        let err = io::Error::last_os_error();
        // EINVAL: the kernel's mask is larger than our buffer; double it (bounded).
        if err.raw_os_error() != Some(libc::EINVAL) || sets >= 1024 {
            return Err(err);
        }
        sets *= 2;
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
///
/// Only `EINPROGRESS`. `EAGAIN` is a failure: for a Unix socket the listener's
/// backlog is full and nothing was queued (no event will ever come), for TCP
/// no local port or routing entry was free (connect(2)).
pub(crate) fn is_connect_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

/// A new non-blocking, close-on-exec stream socket for `domain`: one `socket` call
/// with `SOCK_NONBLOCK` (saves the two `fcntl`s of `set_nonblocking`, per connect).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn nonblocking_stream_socket(domain: socket2::Domain) -> io::Result<socket2::Socket> {
    use socket2::{Protocol, Socket, Type};
    Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
}

/// Accepts a connection on `listener` as a non-blocking, close-on-exec socket: one
/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)` (saves the `ioctl` of `set_nonblocking`,
/// per accept).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let (socket, addr) = socket2::SockRef::from(listener).accept4(flags)?;
    let addr = addr.as_socket().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "accept returned a non-IP peer address")
    })?;
    Ok((socket.into(), addr))
}

// Other unix targets: made non-blocking after the call (`sys/portable.rs`).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) use super::portable::{accept_nonblocking, nonblocking_stream_socket};

/// Turns on a TCP socket's receive-queue hint (Linux `TCP_INQ`, since 4.18):
/// every `recvmsg` then also reports how many bytes are left queued, which
/// [`recv_with_queue_hint`] turns into "drained".
///
/// # Errors
///
/// `ErrorKind::Unsupported` off Linux/Android; the OS error (`ENOPROTOOPT` on an
/// older kernel) if `setsockopt` fails.
pub(crate) fn enable_queue_hint(socket: &std::net::TcpStream) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: `on` is a valid c_int for the duration of the call and its size
        // is passed along; the fd is open (borrowed from `socket`).
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INQ,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = socket;
        Err(io::Error::new(io::ErrorKind::Unsupported, "TCP_INQ is a Linux feature"))
    }
}

/// A stream socket write that took part of its buffer found the send buffer
/// full: the next write would return `WouldBlock` until the poller reports
/// room again (see `sys/mod.rs`).
pub(crate) const PARTIAL_WRITE_MEANS_FULL: bool = true;

/// Reads from a TCP socket whose queue hint is on ([`enable_queue_hint`]) into
/// `bufs`; returns the byte count and whether the receive queue is now drained:
/// nothing left to read and no FIN pending (the kernel reports a pending FIN as
/// one byte left). After a read that drained the queue, the next one would
/// return `WouldBlock` until a new event, so the caller may clear its read
/// readiness at once and save that call. EOF (0 bytes) never counts as drained.
///
/// # Errors
///
/// The OS error of `recvmsg`, `WouldBlock` included.
pub(crate) fn recv_with_queue_hint(
    socket: &std::net::TcpStream,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> io::Result<(usize, bool)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        // Room for one `TCP_CM_INQ` message (CMSG_SPACE(4) = 24 bytes on 64-bit),
        // aligned for `cmsghdr`.
        let mut control = [0u64; 4];
        // SAFETY: an all-zero `msghdr` is valid (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSliceMut` is ABI-compatible with `iovec` on unix (std guarantees it).
        msg.msg_iov = bufs.as_mut_ptr().cast();
        // At most UIO_MAXIOV buffers: the kernel refuses more (EMSGSIZE), and a
        // vectored read may fill fewer than it was given (std caps it alike).
        msg.msg_iovlen = bufs.len().min(1024) as _;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points at `bufs` (valid, writable iovecs) and at `control`
        // (writable, `msg_controllen` bytes), all alive for the call.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut drained = false;
        // SAFETY: `msg` was filled by a successful `recvmsg`: the CMSG_* macros
        // walk the control buffer within `msg_controllen`, and a `TCP_CM_INQ`
        // message carries one (possibly unaligned) c_int.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                    let left =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                    drained = left == 0;
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((n as usize, drained && n > 0))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use std::io::Read;
        let mut socket = socket;
        socket.read_vectored(bufs).map(|n| (n, false))
    }
}

/// `poller_has_events` answers: the poller's descriptor polls readable.
pub(crate) const POLLER_CAN_BE_PROBED: bool = true;

/// Whether `poller` holds events no wait has collected yet (its epoll / kqueue
/// descriptor polls readable), without collecting them.
pub(crate) fn poller_has_events(poller: &polling::Poller) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd { fd: poller.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: `fd` is one valid `pollfd` for the duration of the call (the count
    // is 1), and the poller's descriptor stays open while `poller` is borrowed.
    unsafe { libc::poll(&mut fd, 1, 0) > 0 }
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

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod queue_hint_tests {
    use super::*;
    use std::io::{IoSliceMut, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn read(socket: &TcpStream, len: usize) -> (usize, bool) {
        let mut buf = vec![0u8; len];
        recv_with_queue_hint(socket, &mut [IoSliceMut::new(&mut buf)]).unwrap()
    }

    #[test]
    fn drained_only_when_nothing_is_left_and_no_fin_is_pending() {
        let (mut client, server) = pair();
        enable_queue_hint(&server).unwrap();
        client.write_all(&[1; 10]).unwrap();
        // Loopback delivers on send; a short sleep covers slow machines.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(read(&server, 4), (4, false), "6 bytes left");
        assert_eq!(read(&server, 64), (6, true), "queue empty");
        client.write_all(b"bye").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(read(&server, 64), (3, false), "the FIN is still to be read");
        assert_eq!(read(&server, 64), (0, false), "EOF is never drained");
    }

    #[test]
    fn without_the_option_reads_never_say_drained() {
        let (mut client, server) = pair();
        client.write_all(&[1; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(read(&server, 64), (10, false));
    }
}
