//! UDP through the public runtime.

mod support;

use std::time::Duration;

use hioload::net::UdpSocket;
use support::Watchdog;

#[test]
fn send_to_recv_from_round_trip_and_echo() {
    let _w = Watchdog::new("udp_round_trip", Duration::from_secs(30));
    hioload::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = hioload::spawn(async move {
            let mut buf = [0; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let mut buf = [0; 1500];
        for i in 0..100u32 {
            client.send_to(&i.to_le_bytes(), server_addr).await.unwrap();
            let (n, from) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&i.to_le_bytes()[..], server_addr));
        }
        echo.await.unwrap();
    });
}

#[test]
fn connected_send_and_recv() {
    let _w = Watchdog::new("udp_connected", Duration::from_secs(30));
    hioload::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"ping").await.unwrap();
        let mut buf = [0; 8];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
    });
}

#[test]
fn many_tasks_receiving_on_one_socket_all_make_progress() {
    let _w = Watchdog::new("udp_many_receivers", Duration::from_secs(30));
    hioload::block_on(async {
        let socket = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let receivers: Vec<_> = (0..8)
            .map(|_| {
                let socket = socket.clone();
                hioload::spawn(async move {
                    let mut buf = [0; 8];
                    socket.recv_from(&mut buf).await.unwrap().0
                })
            })
            .collect();
        hioload::time::sleep(Duration::from_millis(50)).await;
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for _ in 0..8 {
            sender.send_to(b"d", addr).await.unwrap();
        }
        for r in receivers {
            assert_eq!(r.await.unwrap(), 1);
        }
    });
}

#[test]
fn a_timed_out_recv_leaves_the_socket_usable() {
    let _w = Watchdog::new("udp_timed_out_recv", Duration::from_secs(30));
    hioload::block_on(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0; 8];
        let r = hioload::time::timeout(Duration::from_millis(50), socket.recv_from(&mut buf)).await;
        assert!(r.is_err());
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.send_to(b"late", socket.local_addr().unwrap()).await.unwrap();
        let got = hioload::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await;
        assert_eq!(got.expect("recv hung").unwrap().0, 4);
    });
}

#[test]
fn a_timeout_around_a_send_loop_fires() {
    // Loopback UDP sends never block: without the cooperative budget on every
    // socket operation the loop kept its worker and the timeout never fired.
    let _w = Watchdog::new("udp_send_loop", Duration::from_secs(60));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    let fired = rt.block_on(async {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sink.local_addr().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let blast = async {
            for _ in 0..300_000 {
                socket.send_to(&[0u8; 16], to).await.unwrap();
            }
        };
        hioload::time::timeout(Duration::from_millis(20), blast).await.is_err()
    });
    assert!(fired, "300,000 sends ran in one poll");
}

#[test]
fn try_send_and_try_recv_on_a_connected_socket() {
    let _w = Watchdog::new("udp_try", Duration::from_secs(30));
    hioload::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.try_recv(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(a.try_send(b"hello").unwrap(), 5);
        // Loopback delivers at once; wait for readiness all the same.
        b.readable().await.unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        // Not connected: an error, not a hang.
        let lone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(lone.try_send(b"x").is_err());
    });
}
