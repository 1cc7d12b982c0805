//! Net unit tests on 127.0.0.1 with the reactor's test driver (no runtime yet); every
//! scenario runs in edge mode (where supported) and in oneshot mode (IOCP's path).
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::future::join;
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};

use super::{TcpListener, TcpStream, UdpSocket};
use crate::reactor::test_driver::{block_on, TestDriver};
use crate::reactor::{enter, Reactor};

/// Runs `fut` on a new thread that has `reactor` as its current reactor.
fn spawn_on<F, T>(reactor: &Arc<Reactor>, fut: F) -> thread::JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let reactor = reactor.clone();
    thread::spawn(move || {
        let _enter = enter(reactor);
        block_on(fut)
    })
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = waker_fn::waker_fn(|| {});
    fut.poll(&mut Context::from_waker(&waker))
}

#[test]
fn tcp_echo_of_a_few_connections() {
    TestDriver::each_mode(|driver| {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        const CONNS: usize = 8;
        let server = spawn_on(&driver.reactor, async move {
            let mut echoes = Vec::new();
            for _ in 0..CONNS {
                let (mut stream, _) = listener.accept().await.unwrap();
                echoes.push(async move {
                    let mut buf = vec![0; 4096];
                    loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        stream.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
            futures_util::future::join_all(echoes).await;
        });
        let clients = (0..CONNS).map(|i| async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            assert!(stream.nodelay().unwrap());
            assert_eq!(stream.peer_addr().unwrap(), addr);
            for round in 0..20u8 {
                let msg = [i as u8, round, 7, 7];
                stream.write_all(&msg).await.unwrap();
                let mut back = [0; 4];
                stream.read_exact(&mut back).await.unwrap();
                assert_eq!(back, msg);
            }
            stream.close().await.unwrap();
        });
        block_on(futures_util::future::join_all(clients));
        server.join().unwrap();
    });
}

#[test]
fn peer_close_gives_eof_to_waiting_reader() {
    TestDriver::each_mode(|driver| {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn_on(&driver.reactor, async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"bye").await.unwrap();
            thread::sleep(Duration::from_millis(50)); // let the reader wait first
            drop(stream);
        });
        let (mut stream, _) = block_on(listener.accept()).unwrap();
        let mut all = Vec::new();
        block_on(stream.read_to_end(&mut all)).unwrap();
        assert_eq!(all, b"bye");
        assert_eq!(block_on(stream.read(&mut [0; 8])).unwrap(), 0, "EOF reads 0 again");
        client.join().unwrap();
    });
}

#[test]
fn connect_to_closed_port_is_refused_fast() {
    TestDriver::each_mode(|_driver| {
        // A bound but not listening socket: connects get RST, and the port stays ours (a
        // dropped listener's port could be reused by a concurrent test).
        let closed =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        closed.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        let port = closed.local_addr().unwrap().as_socket().unwrap().port();
        let start = Instant::now();
        let err = block_on(TcpStream::connect(("127.0.0.1", port))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    });
}

#[test]
fn dropped_read_leaves_stream_usable_and_split_halves_work() {
    TestDriver::each_mode(|_driver| {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut a, (mut b, _)) =
            block_on(join(async { TcpStream::connect(addr).await.unwrap() }, async {
                listener.accept().await.unwrap()
            }));
        {
            let mut buf = [0; 4];
            let mut read = pin!(a.read(&mut buf));
            assert!(poll_once(read.as_mut()).is_pending(), "no data yet");
            // Dropped mid-wait, like a timed-out read.
        }
        let (mut rb, mut wb) = TcpStream::split(&mut b);
        let (mut ra, mut wa) = TcpStream::split(&mut a);
        block_on(join(
            async {
                wb.write_all(b"ping").await.unwrap();
                let mut buf = [0; 4];
                rb.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"pong");
            },
            async {
                let mut buf = [0; 4];
                ra.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"ping");
                wa.write_all(b"pong").await.unwrap();
            },
        ));
        // Owned halves from two threads.
        let (r, mut w) = a.into_split();
        let writer = thread::spawn(move || {
            block_on(async move { w.write_all(&[9; 100_000]).await.map(|_| w) })
        });
        let mut got = vec![0; 100_000];
        block_on(b.read_exact(&mut got)).unwrap();
        assert!(got.iter().all(|&x| x == 9));
        let w = writer.join().unwrap().unwrap();
        let mut a = r.reunite(w).unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(block_on(b.read(&mut [0; 1])).unwrap(), 0);
        block_on(b.write_all(b"z")).unwrap();
        let mut peeked = [0; 1];
        assert_eq!(block_on(a.peek(&mut peeked)).unwrap(), 1);
        assert_eq!(block_on(a.read(&mut [0; 1])).unwrap(), 1, "peek left the byte");
    });
}

#[test]
fn vectored_io_and_incoming_and_std_round_trip() {
    TestDriver::each_mode(|_driver| {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut a, b) = block_on(join(async { TcpStream::connect(addr).await.unwrap() }, async {
            listener.incoming().next().await.unwrap().unwrap()
        }));
        let bufs = [io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")];
        assert_eq!(block_on(a.write_vectored(&bufs)).unwrap(), 4);
        let mut b = TcpStream::from_std(b.into_std().unwrap()).unwrap();
        let (mut x, mut y) = ([0; 1], [0; 3]);
        let mut read = 0;
        while read < 4 {
            let mut bufs = [io::IoSliceMut::new(&mut x), io::IoSliceMut::new(&mut y)];
            let n = block_on(b.read_vectored(&mut bufs)).unwrap();
            assert!(n > 0);
            read += n;
        }
        assert_eq!((&x, &y), (b"a", b"bcd"));
        let listener = TcpListener::try_from(listener.into_std().unwrap()).unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
    });
}

#[test]
fn udp_send_recv_and_connected() {
    TestDriver::each_mode(|_driver| {
        let a = block_on(UdpSocket::bind("127.0.0.1:0")).unwrap();
        let b = block_on(UdpSocket::bind(("127.0.0.1", 0))).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        block_on(a.send_to(b"one", b_addr)).unwrap();
        let mut buf = [0; 16];
        let (n, from) = block_on(b.recv_from(&mut buf)).unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a_addr));
        block_on(b.connect(a_addr)).unwrap();
        assert_eq!(b.peer_addr().unwrap(), a_addr);
        block_on(b.send(b"two")).unwrap();
        let n = block_on(a.recv(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"two");
        assert_eq!(a.try_recv_from(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    });
}

#[cfg(unix)]
#[test]
fn unix_listener_stream_and_pair() {
    use super::{UnixListener, UnixStream};
    TestDriver::each_mode(|driver| {
        let dir = std::env::temp_dir().join(format!(
            "hioload-unix-{}-{}",
            std::process::id(),
            driver.reactor.is_edge()
        ));
        let _ = std::fs::remove_file(&dir);
        let listener = UnixListener::bind(&dir).unwrap();
        let path = dir.clone();
        let client = spawn_on(&driver.reactor, async move {
            let mut s = UnixStream::connect(&path).await.unwrap();
            s.write_all(b"unix").await.unwrap();
            s.close().await.unwrap();
        });
        let (mut s, _) = block_on(listener.accept()).unwrap();
        let mut all = Vec::new();
        block_on(s.read_to_end(&mut all)).unwrap();
        assert_eq!(all, b"unix");
        client.join().unwrap();
        let _ = std::fs::remove_file(&dir);
        let (d1, d2) = super::UnixDatagram::pair().unwrap();
        block_on(d1.send(b"dgram")).unwrap();
        let mut dbuf = [0; 8];
        let n = block_on(d2.recv(&mut dbuf)).unwrap();
        assert_eq!(&dbuf[..n], b"dgram");
        let (mut x, mut y) = UnixStream::pair().unwrap();
        block_on(x.write_all(b"p")).unwrap();
        let mut b = [0; 1];
        block_on(y.read_exact(&mut b)).unwrap();
        assert_eq!(&b, b"p");
    });
}

#[test]
#[should_panic(expected = "outside a hioload runtime")]
fn net_types_outside_a_runtime_panic_clearly() {
    let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = UdpSocket::from_std(std);
}

#[test]
fn several_tasks_accept_on_one_listener() {
    TestDriver::each_mode(|driver| {
        let listener = Arc::new(block_on(TcpListener::bind("127.0.0.1:0")).unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..4)
            .map(|_| {
                let listener = listener.clone();
                spawn_on(
                    &driver.reactor,
                    async move { listener.accept().await.map(|(_, peer)| peer) },
                )
            })
            .collect();
        thread::sleep(Duration::from_millis(30)); // all four are waiting
        let clients: Vec<_> = (0..4).map(|_| block_on(TcpStream::connect(addr)).unwrap()).collect();
        let mut peers: Vec<_> = acceptors.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
        let mut locals: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        peers.sort();
        locals.sort();
        assert_eq!(peers, locals);
    });
}

/// Env var that makes `accept_at_the_fd_limit_returns_emfile` run its body (in a child
/// process: it exhausts the process's file descriptors).
#[cfg(unix)]
const EMFILE_CHILD: &str = "HIOLOAD_TEST_EMFILE_CHILD";

#[cfg(unix)]
#[test]
fn accept_at_the_fd_limit_returns_emfile_without_spinning() {
    if std::env::var_os(EMFILE_CHILD).is_none() {
        let name = "net::tests::accept_at_the_fd_limit_returns_emfile_without_spinning";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env(EMFILE_CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "child failed:\n{text}");
        return;
    }
    // Only this child process is affected; a low limit makes exhausting it quick.
    crate::sys::set_open_files_soft_limit(256).unwrap();
    let _driver = TestDriver::start(true);
    let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    // Queued in the backlog before the table is full.
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let mut hoard = Vec::new();
    let spare = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    loop {
        match spare.try_clone() {
            Ok(fd) => hoard.push(fd),
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
                break;
            }
        }
    }
    let start = Instant::now();
    let err = block_on(listener.accept()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "accept did not fail fast");
    // Freeing descriptors makes the same listener usable again.
    hoard.truncate(hoard.len() - 8);
    block_on(listener.accept()).unwrap();
}

#[test]
fn public_net_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TcpListener>();
    send_sync::<TcpStream>();
    send_sync::<UdpSocket>();
    send_sync::<super::OwnedReadHalf>();
    send_sync::<super::OwnedWriteHalf>();
    send_sync::<super::ReadHalf<'static>>();
    send_sync::<super::Incoming<'static>>();
    #[cfg(unix)]
    send_sync::<super::UnixStream>();
    #[cfg(unix)]
    send_sync::<super::UnixListener>();
    #[cfg(unix)]
    send_sync::<super::UnixDatagram>();
}

#[test]
fn net_types_lend_their_handle_for_socket_options() {
    TestDriver::each_mode(|_driver| {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let stream = block_on(TcpStream::connect(listener.local_addr().unwrap())).unwrap();
        stream.set_nodelay(true).unwrap();
        assert!(socket2::SockRef::from(&stream).tcp_nodelay().unwrap());
        let udp = block_on(UdpSocket::bind("127.0.0.1:0")).unwrap();
        socket2::SockRef::from(&udp).set_broadcast(true).unwrap();
        assert!(socket2::SockRef::from(&udp).broadcast().unwrap());
        assert!(socket2::SockRef::from(&listener).reuse_address().is_ok());
        stream.set_ttl(42).unwrap();
        assert_eq!(stream.ttl().unwrap(), 42);
        udp.set_ttl(7).unwrap();
        assert_eq!(udp.ttl().unwrap(), 7);
        listener.set_ttl(9).unwrap();
        assert_eq!(listener.ttl().unwrap(), 9);
    });
}
