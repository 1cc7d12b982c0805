//! Spreading accepted connections over the worker groups' reactors
//! (`TcpListener::set_spread_across_groups`, `TcpStream::group`), through the
//! public API.
//!
//! The clients are plain blocking std sockets on their own thread, so the only
//! registrations in the runtime's reactors are the listener and the accepted
//! streams, and the per-group metrics can be asserted exactly.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use hioload::net::{TcpListener, TcpStream};
use hioload::runtime::Handle;
use hioload::topology::Numa;
use hioload::{JoinHandle, Runtime};
use support::{echo, Watchdog};

/// Connections per test.
const CONNS: usize = 64;
/// Round trips per connection.
const ROUNDS: u32 = 8;

/// Where a connection's echo handler is spawned.
#[derive(Clone, Copy, Debug)]
enum Placement {
    /// `hioload::spawn` from the accepting task.
    Spawn,
    /// `Handle::spawn_on(stream.group())`.
    StreamGroup,
    /// Alternating: the stream's group for half the connections, the other
    /// group for the rest (every handler/reactor pairing occurs).
    Mixed,
}

/// Two groups of one worker each (group 0 = worker 0, group 1 = worker 1).
fn two_groups() -> Runtime {
    Runtime::builder().worker_threads(2).numa(Numa::Groups(vec![vec![0], vec![1]])).build().unwrap()
}

/// Connects `CONNS` blocking clients to `addr` and runs `ROUNDS` round trips on
/// each, all connections in flight at once; panics on a wrong echo. Closes them
/// only once `close` receives (or its sender is gone).
fn run_clients(addr: SocketAddr, close: mpsc::Receiver<()>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut clients: Vec<_> = (0..CONNS)
            .map(|_| {
                let client = std::net::TcpStream::connect(addr).unwrap();
                client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                client.set_nodelay(true).unwrap();
                client
            })
            .collect();
        for round in 0..ROUNDS {
            for (i, client) in clients.iter_mut().enumerate() {
                client.write_all(&message(i, round)).unwrap();
            }
            for (i, client) in clients.iter_mut().enumerate() {
                let mut back = [0; 8];
                client.read_exact(&mut back).unwrap();
                assert_eq!(back, message(i, round), "connection {i} round {round}");
            }
        }
        let _ = close.recv();
    })
}

/// The bytes client `i` sends in `round`.
fn message(i: usize, round: u32) -> [u8; 8] {
    let mut msg = [0; 8];
    msg[..4].copy_from_slice(&(i as u32).to_le_bytes());
    msg[4..].copy_from_slice(&round.to_le_bytes());
    msg
}

/// Accepts `CONNS` connections on `block_on`'s thread (whose reactor is group
/// 0's), spawns a handler per `placement`, checks the per-group registration
/// metrics while all are open, then lets the clients finish.
///
/// Registrations are counted until their slot is freed lazily (at the group
/// reactor's next turn), so each call needs a fresh runtime for exact counts.
///
/// Returns how many streams landed in each group.
fn serve(rt: &Runtime, spread: bool, placement: Placement) -> Vec<usize> {
    let metrics = rt.metrics();
    let groups = metrics.num_groups();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.set_spread_across_groups(spread);
        assert_eq!(listener.spreads_across_groups(), spread);
        let (close, closed) = mpsc::channel();
        let clients = run_clients(listener.local_addr().unwrap(), closed);
        let handle = Handle::current();
        let mut per_group = vec![0; groups];
        let mut handlers: Vec<JoinHandle<()>> = Vec::new();
        for i in 0..CONNS {
            let (stream, _) = listener.accept().await.unwrap();
            let group = stream.group();
            per_group[group] += 1;
            handlers.push(match placement {
                Placement::Spawn => hioload::spawn(echo(stream)),
                Placement::StreamGroup => handle.spawn_on(group, echo(stream)),
                Placement::Mixed => {
                    let on = if i % 4 < 2 { group } else { (group + 1) % groups };
                    handle.spawn_on(on, echo(stream))
                }
            });
        }
        // Every stream is open (the clients wait for `close`): each group's
        // reactor holds its streams, group 0's the listener as well.
        let registered: Vec<_> = (0..groups).map(|g| metrics.num_io_registrations_in(g)).collect();
        let expected: Vec<_> = (0..groups).map(|g| per_group[g] + usize::from(g == 0)).collect();
        assert_eq!(registered, expected, "registrations per group");
        assert_eq!(metrics.num_io_registrations(), CONNS + 1);
        close.send(()).unwrap();
        hioload::spawn_blocking(move || clients.join().unwrap()).await.unwrap();
        for handler in handlers {
            handler.await.unwrap();
        }
        per_group
    })
}

#[test]
fn spreading_deals_connections_evenly_and_echo_works_on_their_group() {
    let _w = Watchdog::new("spread_stream_group", Duration::from_secs(60));
    let per_group = serve(&two_groups(), true, Placement::StreamGroup);
    assert_eq!(per_group, [CONNS / 2, CONNS / 2]);
}

#[test]
fn spread_connections_echo_with_handlers_on_any_group() {
    let _w = Watchdog::new("spread_any_group", Duration::from_secs(60));
    let per_group = serve(&two_groups(), true, Placement::Mixed);
    assert_eq!(per_group, [CONNS / 2, CONNS / 2]);
    let per_group = serve(&two_groups(), true, Placement::Spawn);
    assert_eq!(per_group, [CONNS / 2, CONNS / 2]);
}

#[test]
fn without_spreading_every_connection_lands_on_the_accepting_group() {
    let _w = Watchdog::new("spread_off", Duration::from_secs(60));
    let per_group = serve(&two_groups(), false, Placement::Mixed);
    assert_eq!(per_group, [CONNS, 0]);
}

#[test]
fn spreading_skips_a_group_that_resize_left_without_workers() {
    let _w = Watchdog::new("spread_resize", Duration::from_secs(60));
    let rt = two_groups();
    rt.resize(1).unwrap(); // worker 1, group 1's only one, retires
    let per_group = serve(&rt, true, Placement::Spawn);
    assert_eq!(per_group, [CONNS, 0], "group 1's reactor is not turned by anyone");
    let rt = two_groups();
    rt.resize(1).unwrap();
    rt.resize(2).unwrap(); // group 1 has a worker again
    let per_group = serve(&rt, true, Placement::StreamGroup);
    assert_eq!(per_group, [CONNS / 2, CONNS / 2]);
}

#[test]
fn spreading_is_a_no_op_with_one_group() {
    let _w = Watchdog::new("spread_one_group", Duration::from_secs(60));
    let one_group = Runtime::builder().worker_threads(2).numa(Numa::Off).build().unwrap();
    assert_eq!(serve(&one_group, true, Placement::StreamGroup), [CONNS]);
    let current = Runtime::builder().current_thread().build().unwrap();
    assert_eq!(serve(&current, true, Placement::StreamGroup), [CONNS]);
}

#[test]
fn connected_streams_report_their_group() {
    let rt = two_groups();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // `connect` registers with the connecting thread's reactor: block_on's is group 0.
        let client = TcpStream::connect(addr).await.unwrap();
        assert_eq!(client.group(), 0);
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(server.group(), 0);
    });
}

#[test]
#[should_panic(expected = "group 2 does not exist")]
fn registrations_of_a_missing_group_panic_clearly() {
    two_groups().metrics().num_io_registrations_in(2);
}

#[cfg(unix)]
#[test]
fn unix_listener_spreads_too() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    use hioload::net::{UnixListener, UnixStream};

    let _w = Watchdog::new("spread_unix", Duration::from_secs(60));
    let path = std::env::temp_dir().join(format!("hioload-spread-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    two_groups().block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_spread_across_groups(true);
        assert!(listener.spreads_across_groups());
        let handle = Handle::current();
        let mut groups = Vec::new();
        for i in 0..4u8 {
            let mut client = UnixStream::connect(&path).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            groups.push(server.group());
            let served = handle.spawn_on(server.group(), async move {
                let mut byte = [0];
                server.read_exact(&mut byte).await.unwrap();
                server.write_all(&byte).await.unwrap();
            });
            client.write_all(&[i]).await.unwrap();
            let mut back = [0];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, [i]);
            served.await.unwrap();
        }
        assert_eq!(groups, [0, 1, 0, 1]);
    });
    let _ = std::fs::remove_file(&path);
}
