//! TCP on loopback, side by side: hioload, tokio's multi-thread runtime (its own
//! `TcpStream`), and async-executor + async-net (async-io's reactor), each with 2
//! worker threads; each contender runs its own server and its own clients.
//!
//! Workloads:
//! - `tcp_echo`: CONNS connections x ROUND_TRIPS round trips of MSG bytes against
//!   an echo server: messages (round trips) per second, RTT p50/p99, process CPU
//!   time per message.
//! - `bulk`: one connection streams BULK_MIB MiB one way into a sink that counts
//!   them and answers with one byte at EOF: GiB/s. `HIOLOAD_BULK_MIB` shrinks it.
//! - `connect_accept`: ACCEPTS connect+accept pairs (CONNECTORS tasks connecting
//!   concurrently; each waits for the server to accept and close, so the accept
//!   queue stays short): pairs per second.
//!
//! `cargo bench --bench net_tcp_echo [-- WORKLOAD]`; `HIOLOAD_BENCH_ROUNDS=N` (default 5).

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt as _, AsyncWriteExt as _};
use support::{compare, median, pct, ratio, rounds, selected, time_cpu, verdict, Smol};

const WORKERS: usize = 2;
const CONNS: usize = 32;
const ROUND_TRIPS: usize = 2_000;
const MSG: usize = 64;
const BULK_CHUNK: usize = 256 * 1024;
const ACCEPTS: usize = 5_000;
const CONNECTORS: usize = 8;

/// A boxed `Send` future.
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Bytes the `bulk` workload moves (HIOLOAD_BULK_MIB, default 1024 MiB).
fn bulk_bytes() -> u64 {
    let mib: u64 =
        std::env::var("HIOLOAD_BULK_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    mib.max(1) << 20
}

/// One contender: its runtime and how it binds, accepts, connects and spawns.
trait Net: Sync {
    type Stream: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static;
    type Listener: Send + 'static;
    /// Runs `f` on a worker and waits for it.
    fn run<T: Send + 'static>(&self, f: BoxFut<T>) -> T;
    /// Spawns `f` (from inside the runtime); the returned future awaits it.
    fn spawn<T: Send + 'static>(&self, f: BoxFut<T>) -> BoxFut<T>;
    fn bind() -> BoxFut<(Self::Listener, std::net::SocketAddr)>;
    fn accept(l: &Self::Listener) -> impl Future<Output = Self::Stream> + Send;
    fn connect(addr: std::net::SocketAddr) -> BoxFut<Self::Stream>;
}

struct Hio(hioload::Runtime);
struct Tok(tokio::runtime::Runtime);

impl Net for Hio {
    type Stream = hioload::net::TcpStream;
    type Listener = hioload::net::TcpListener;
    fn run<T: Send + 'static>(&self, f: BoxFut<T>) -> T {
        self.0.block_on(async { hioload::spawn(f).await.unwrap() })
    }
    fn spawn<T: Send + 'static>(&self, f: BoxFut<T>) -> BoxFut<T> {
        let h = hioload::spawn(f);
        Box::pin(async { h.await.unwrap() })
    }
    fn bind() -> BoxFut<(Self::Listener, std::net::SocketAddr)> {
        Box::pin(async {
            let l = hioload::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        })
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    fn connect(addr: std::net::SocketAddr) -> BoxFut<Self::Stream> {
        Box::pin(async move {
            let s = hioload::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
    }
}

impl Net for Tok {
    type Stream = compat::Compat;
    type Listener = tokio::net::TcpListener;
    fn run<T: Send + 'static>(&self, f: BoxFut<T>) -> T {
        self.0.block_on(async { tokio::spawn(f).await.unwrap() })
    }
    fn spawn<T: Send + 'static>(&self, f: BoxFut<T>) -> BoxFut<T> {
        let h = tokio::spawn(f);
        Box::pin(async { h.await.unwrap() })
    }
    fn bind() -> BoxFut<(Self::Listener, std::net::SocketAddr)> {
        Box::pin(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        })
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        compat::Compat(s)
    }
    fn connect(addr: std::net::SocketAddr) -> BoxFut<Self::Stream> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            compat::Compat(s)
        })
    }
}

impl Net for Smol {
    type Stream = async_net::TcpStream;
    type Listener = async_net::TcpListener;
    fn run<T: Send + 'static>(&self, f: BoxFut<T>) -> T {
        futures_lite::future::block_on(self.ex.spawn(f))
    }
    fn spawn<T: Send + 'static>(&self, f: BoxFut<T>) -> BoxFut<T> {
        Box::pin(self.ex.spawn(f))
    }
    fn bind() -> BoxFut<(Self::Listener, std::net::SocketAddr)> {
        Box::pin(async {
            let l = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        })
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    fn connect(addr: std::net::SocketAddr) -> BoxFut<Self::Stream> {
        Box::pin(async move {
            let s = async_net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
    }
}

/// Echoes until EOF.
async fn echo<S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin>(mut s: S) {
    let mut buf = vec![0; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `tcp_echo` once on `n`'s runtime: wall time, process CPU and every RTT (sorted).
fn tcp_echo<N: Net>(n: &'static N) -> (Duration, Duration, Vec<Duration>) {
    let mut rtts = Vec::new();
    let (wall, cpu) = time_cpu(|| {
        rtts = n.run(Box::pin(async move {
            let (listener, addr) = N::bind().await;
            // The server accepts exactly CONNS connections, one echo task each.
            let server = n.spawn(Box::pin(async move {
                let mut echoes = Vec::with_capacity(CONNS);
                for _ in 0..CONNS {
                    let s = N::accept(&listener).await;
                    echoes.push(n.spawn(Box::pin(echo(s))));
                }
                futures_util::future::join_all(echoes).await;
            }));
            let clients: Vec<_> = (0..CONNS)
                .map(|_| {
                    n.spawn(Box::pin(async move {
                        let mut s = N::connect(addr).await;
                        let (msg, mut back) = ([7u8; MSG], [0u8; MSG]);
                        let mut rtts = Vec::with_capacity(ROUND_TRIPS);
                        for _ in 0..ROUND_TRIPS {
                            let start = Instant::now();
                            s.write_all(&msg).await.unwrap();
                            s.read_exact(&mut back).await.unwrap();
                            rtts.push(start.elapsed());
                        }
                        rtts
                    }))
                })
                .collect();
            let rtts: Vec<Duration> =
                futures_util::future::join_all(clients).await.into_iter().flatten().collect();
            server.await;
            rtts
        }));
    });
    rtts.sort_unstable();
    (wall, cpu, rtts)
}

/// `bulk` once: one connection writes `bytes` into a counting sink; wall time.
fn bulk<N: Net>(n: &'static N, bytes: u64) -> Duration {
    let (wall, _) = time_cpu(|| {
        n.run(Box::pin(async move {
            let (listener, addr) = N::bind().await;
            let sink = n.spawn(Box::pin(async move {
                let mut s = N::accept(&listener).await;
                let mut buf = vec![0u8; BULK_CHUNK];
                let mut got = 0u64;
                while got < bytes {
                    match s.read(&mut buf).await.unwrap() {
                        0 => break,
                        k => got += k as u64,
                    }
                }
                s.write_all(&[1]).await.unwrap();
                got
            }));
            let mut s = N::connect(addr).await;
            let data = vec![5u8; BULK_CHUNK];
            let mut left = bytes;
            while left > 0 {
                let k = left.min(BULK_CHUNK as u64) as usize;
                s.write_all(&data[..k]).await.unwrap();
                left -= k as u64;
            }
            let mut ack = [0u8; 1];
            s.read_exact(&mut ack).await.unwrap();
            assert_eq!(sink.await, bytes);
        }))
    });
    wall
}

/// `connect_accept` once: ACCEPTS pairs; wall time.
fn connect_accept<N: Net>(n: &'static N) -> Duration {
    let (wall, _) = time_cpu(|| {
        n.run(Box::pin(async move {
            let (listener, addr) = N::bind().await;
            let server = n.spawn(Box::pin(async move {
                for _ in 0..ACCEPTS {
                    drop(N::accept(&listener).await);
                }
            }));
            let clients: Vec<_> = (0..CONNECTORS)
                .map(|_| {
                    n.spawn(Box::pin(async move {
                        for _ in 0..ACCEPTS / CONNECTORS {
                            // Wait for the server's close (EOF): the pair was
                            // accepted, and the accept queue never overflows.
                            let mut s = N::connect(addr).await;
                            assert_eq!(s.read(&mut [0u8; 1]).await.unwrap(), 0);
                        }
                    }))
                })
                .collect();
            futures_util::future::join_all(clients).await;
            server.await;
        }))
    });
    wall
}

/// tokio's streams implement tokio's io traits; this adapter gives them futures-io's.
mod compat {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A tokio stream seen through `futures_io`.
    pub struct Compat(pub tokio::net::TcpStream);

    impl futures_io::AsyncRead for Compat {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let mut rb = tokio::io::ReadBuf::new(buf);
            match tokio::io::AsyncRead::poll_read(Pin::new(&mut self.get_mut().0), cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    impl futures_io::AsyncWrite for Compat {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
        }
    }
}

/// Per-round `tcp_echo` figures of one contender.
#[derive(Default)]
struct Echo {
    msgs_per_s: Vec<f64>,
    p50: Vec<Duration>,
    p99: Vec<Duration>,
    cpu_per_msg: Vec<Duration>,
}

fn median_f(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds = rounds(5);
    // 'static so server and client tasks can borrow the contender.
    let hio: &'static Hio = Box::leak(Box::new(Hio(hioload::Runtime::builder()
        .worker_threads(WORKERS)
        .build()
        .unwrap())));
    let tok: &'static Tok = Box::leak(Box::new(Tok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap())));
    let smol: &'static Smol = Box::leak(Box::new(Smol::new(WORKERS)));
    let names = ["hioload", "tokio", "async-net"];
    println!("net_tcp_echo: {WORKERS} workers, {rounds} rounds, alternating contenders, 127.0.0.1");
    let mut summary: Vec<Box<dyn Fn()>> = Vec::new();

    if selected("tcp_echo") {
        let msgs = (CONNS * ROUND_TRIPS) as f64;
        let stats: [RefCell<Echo>; 3] = Default::default();
        let record = |k: usize, (wall, cpu, rtts): (Duration, Duration, Vec<Duration>)| {
            let mut s = stats[k].borrow_mut();
            s.msgs_per_s.push(msgs / wall.as_secs_f64());
            s.p50.push(pct(&rtts, 0.5));
            s.p99.push(pct(&rtts, 0.99));
            s.cpu_per_msg.push(cpu.div_f64(msgs));
            wall
        };
        println!(
            "tcp_echo: {CONNS} conns x {ROUND_TRIPS} round trips of {MSG} B; times below are wall"
        );
        compare(
            "tcp_echo",
            rounds,
            &mut [
                ("hioload", &mut || record(0, tcp_echo(hio))),
                ("tokio", &mut || record(1, tcp_echo(tok))),
                ("async-net", &mut || record(2, tcp_echo(smol))),
            ],
        );
        // Medians over the rounds, warm-up (the first recorded) excluded.
        let stats: Vec<Echo> = stats
            .into_iter()
            .map(|s| {
                let mut s = s.into_inner();
                s.msgs_per_s.remove(0);
                for v in [&mut s.p50, &mut s.p99, &mut s.cpu_per_msg] {
                    v.remove(0);
                }
                s
            })
            .collect();
        println!(
            "{:<22} {:<15} {:>12} {:>10} {:>10} {:>12}   ratio/tokio (medians over rounds)",
            "tcp_echo", "", "msgs/s", "RTT p50", "RTT p99", "CPU/msg"
        );
        let t = &stats[1];
        for (name, s) in names.iter().zip(&stats) {
            println!(
                "{:<22} {:<15} {:>12.0} {:>10.1?} {:>10.1?} {:>10}ns   msgs/s {:.3} p50 {:.3} p99 {:.3} cpu {:.3}",
                "tcp_echo",
                name,
                median_f(&s.msgs_per_s),
                median(&s.p50),
                median(&s.p99),
                median(&s.cpu_per_msg).as_nanos(),
                median_f(&s.msgs_per_s) / median_f(&t.msgs_per_s),
                ratio(median(&s.p50), median(&t.p50)),
                ratio(median(&s.p99), median(&t.p99)),
                ratio(median(&s.cpu_per_msg), median(&t.cpu_per_msg)),
            );
        }
        let (hm, tm) = (median_f(&stats[0].msgs_per_s), median_f(&t.msgs_per_s));
        let (hp, tp) = (median(&stats[0].p99), median(&t.p99));
        let (hc, tc) = (median(&stats[0].cpu_per_msg), median(&t.cpu_per_msg));
        summary.push(Box::new(move || {
            verdict(
                "tcp_echo msgs/s (hioload vs tokio)",
                &format!("{hm:.0} vs {tm:.0} ({:.2}x)", hm / tm),
                ">= 1.1x tokio",
                hm >= 1.1 * tm,
            );
            verdict(
                "tcp_echo RTT p99 (hioload vs tokio)",
                &format!("{hp:.1?} vs {tp:.1?}"),
                "<= tokio",
                hp <= tp,
            );
            println!(
                "{:<44} {:>22}  (reported, no target)",
                "tcp_echo CPU per message (hioload vs tokio)",
                format!("{} vs {} ns", hc.as_nanos(), tc.as_nanos())
            );
        }));
    }

    if selected("bulk") {
        let bytes = bulk_bytes();
        println!(
            "bulk: 1 connection, {} MiB one way into a sink; times below are wall",
            bytes >> 20
        );
        let s = compare(
            "bulk",
            rounds,
            &mut [
                ("hioload", &mut || bulk(hio, bytes)),
                ("tokio", &mut || bulk(tok, bytes)),
                ("async-net", &mut || bulk(smol, bytes)),
            ],
        );
        let gib = bytes as f64 / (1u64 << 30) as f64;
        for x in &s {
            println!(
                "{:<22} {:<15} {:>8.2} GiB/s (median)",
                "bulk",
                x.name,
                gib / x.median().as_secs_f64()
            );
        }
        let (h, t) = (gib / s[0].median().as_secs_f64(), gib / s[1].median().as_secs_f64());
        summary.push(Box::new(move || {
            verdict(
                "bulk throughput (hioload vs tokio)",
                &format!("{h:.2} vs {t:.2} GiB/s"),
                ">= tokio",
                h >= t,
            );
        }));
    }

    if selected("connect_accept") {
        println!(
            "connect_accept: {ACCEPTS} connect+accept pairs, {CONNECTORS} connecting tasks; times below are wall"
        );
        let s = compare(
            "connect_accept",
            rounds,
            &mut [
                ("hioload", &mut || connect_accept(hio)),
                ("tokio", &mut || connect_accept(tok)),
                ("async-net", &mut || connect_accept(smol)),
            ],
        );
        for x in &s {
            println!(
                "{:<22} {:<15} {:>8.0} pairs/s (median)",
                "connect_accept",
                x.name,
                ACCEPTS as f64 / x.median().as_secs_f64()
            );
        }
        let (h, t) = (
            ACCEPTS as f64 / s[0].median().as_secs_f64(),
            ACCEPTS as f64 / s[1].median().as_secs_f64(),
        );
        summary.push(Box::new(move || {
            verdict(
                "connect+accept rate (hioload vs tokio)",
                &format!("{h:.0} vs {t:.0} /s"),
                ">= tokio",
                h >= t,
            );
        }));
    }

    println!();
    println!("summary (hioload against the issue's targets):");
    for line in &summary {
        line();
    }
}
