//! Unix domain sockets through the public runtime.
#![cfg(unix)]

mod support;

use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use hioload::net::{UnixListener, UnixStream};
use support::Watchdog;

/// A fresh socket path in the temp dir.
fn socket_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("hioload-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn echo_over_a_unix_listener() {
    let _w = Watchdog::new("unix_echo", Duration::from_secs(30));
    let path = socket_path("echo");
    hioload::block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        drop(hioload::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                drop(hioload::spawn(async move {
                    let mut buf = [0; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        stream.write_all(&buf[..n]).await.unwrap();
                    }
                }));
            }
        }));
        let clients: Vec<_> = (0..50u8)
            .map(|i| {
                let path = path.clone();
                hioload::spawn(async move {
                    let mut s = UnixStream::connect(&path).await.unwrap();
                    s.write_all(&[i; 100]).await.unwrap();
                    let mut back = [0; 100];
                    s.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, [i; 100]);
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pair_transfers_and_close_gives_eof() {
    let _w = Watchdog::new("unix_pair", Duration::from_secs(30));
    hioload::block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = hioload::spawn(async move {
            a.write_all(&vec![3; 1 << 20]).await.unwrap();
            a.close().await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), 1 << 20);
    });
}

#[test]
fn short_writes_into_a_full_send_buffer_resume_as_a_slow_reader_drains() {
    // As the TCP test of that name: short writes clear the write readiness.
    let _w = Watchdog::new("short_writes_unix", Duration::from_secs(120));
    let rt = support::rt(2);
    for _ in 0..10 {
        rt.block_on(async {
            let (writer, reader) = UnixStream::pair().unwrap();
            support::fill_against_a_slow_reader(writer, reader, 6 << 20).await;
        });
    }
}

#[test]
fn a_vectored_write_over_iov_max_slices_leaves_the_stream_writable() {
    // As the TCP test of that name.
    let _w = Watchdog::new("unix_vectored_iov_max", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    rt.block_on(async {
        let (mut a, _b) = UnixStream::pair().unwrap();
        // Let the driver collect the registration's first events: they would
        // otherwise hide a wrong clear.
        hioload::time::sleep(Duration::from_millis(50)).await;
        let bytes = vec![7u8; 2000];
        let slices: Vec<std::io::IoSlice<'_>> =
            bytes.chunks(1).map(std::io::IoSlice::new).collect();
        let n = a.write_vectored(&slices).await.unwrap();
        assert!(n > 0 && n < 2000, "expected a short vectored write, got {n}");
        let next = hioload::time::timeout(Duration::from_secs(3), a.write(b"more")).await;
        assert!(next.is_ok(), "a write into a nearly empty send buffer hung");
    });
}

#[test]
fn connect_to_a_missing_path_fails() {
    let _w = Watchdog::new("unix_missing", Duration::from_secs(30));
    hioload::block_on(async {
        let err = UnixStream::connect(socket_path("missing")).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    });
}

#[test]
fn connect_to_a_full_backlog_fails_at_once_and_works_once_drained() {
    // EAGAIN from a Unix connect means "not queued", not "in progress": taken
    // for the latter, the connect waited for an event that never comes.
    let _w = Watchdog::new("full_backlog", Duration::from_secs(60));
    let path = socket_path("backlog");
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    sock.bind(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
    sock.listen(0).unwrap();
    let listener: std::os::unix::net::UnixListener = std::os::fd::OwnedFd::from(sock).into();
    hioload::block_on(async {
        let mut queued = Vec::new();
        let refused = loop {
            let connect = UnixStream::connect(&path);
            match hioload::time::timeout(Duration::from_secs(5), connect).await {
                Ok(Ok(stream)) => queued.push(stream),
                Ok(Err(err)) => break err,
                Err(_) => panic!("connect to a full backlog hung"),
            }
            assert!(queued.len() < 64, "a backlog of 0 took {} connections", queued.len());
        };
        assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock, "{refused}");
        let _accepted = listener.accept().unwrap();
        let again = hioload::time::timeout(Duration::from_secs(5), UnixStream::connect(&path));
        again.await.expect("connect hung").expect("the drained backlog takes a connection");
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_nul_inside_a_path_is_refused_everywhere() {
    // `connect` cut the path at the NUL and reached the socket at the shorter
    // path; std (and tokio) refuse such a path.
    let _w = Watchdog::new("nul_path", Duration::from_secs(30));
    let path = socket_path("nul");
    let _ = std::fs::remove_file(&path);
    hioload::block_on(async {
        let _listener = UnixListener::bind(&path).unwrap();
        let mut with_nul = path.clone().into_os_string();
        with_nul.push("\0garbage");
        let err = UnixStream::connect(&with_nul).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(
            UnixListener::bind(&with_nul).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        let datagram = hioload::net::UnixDatagram::unbound().unwrap();
        let err = datagram.send_to(b"x", &with_nul).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
    let _ = std::fs::remove_file(&path);
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_names_work_for_listeners_streams_and_datagrams() {
    // A leading NUL names a socket in the abstract namespace (as in tokio):
    // `connect` took it, `bind` refused it.
    let _w = Watchdog::new("abstract", Duration::from_secs(30));
    let name = format!("\0hioload-test-{}", std::process::id());
    hioload::block_on(async {
        let listener = UnixListener::bind(&name).unwrap();
        let client = hioload::spawn({
            let name = name.clone();
            async move {
                let mut stream = UnixStream::connect(&name).await.unwrap();
                stream.write_all(b"hi").await.unwrap();
            }
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        client.await.unwrap();

        let dgram_name = format!("{name}-dgram");
        let server = hioload::net::UnixDatagram::bind(&dgram_name).unwrap();
        let sender = hioload::net::UnixDatagram::unbound().unwrap();
        sender.send_to(b"ping", &dgram_name).await.unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(server.recv(&mut buf).await.unwrap(), 4);
        sender.connect(&dgram_name).unwrap();
        sender.send(b"pong").await.unwrap();
        assert_eq!(server.recv(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"pong");
    });
}
