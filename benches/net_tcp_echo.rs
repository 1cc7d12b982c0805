//! TCP echo on loopback, side by side: hioload, tokio's multi-thread runtime, and
//! async-executor + async-net (async-io's reactor), each with 2 worker threads.
//!
//! Workloads: `echo_rtt` (CONNS connections, each ROUNDS round trips of 64 bytes: the
//! reactor's wake-up latency) and `bulk` (one connection streaming BULK bytes through
//! an echo: the read/write path and readiness clearing).
//!
//! `cargo bench --bench net_tcp_echo [-- WORKLOAD]`; `HIOLOAD_BENCH_ROUNDS=N` (default 10).

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt as _, AsyncWriteExt as _};
use support::{compare, rounds, selected};

const WORKERS: usize = 2;
const CONNS: usize = 50;
const ROUNDS: usize = 200;
const MSG: usize = 64;
const BULK: usize = 16 << 20;

/// A boxed `Send` future.
type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What each contender provides: run a future to completion on its workers.
trait Rt {
    /// Runs `f` to completion with the runtime's reactor driving its I/O.
    fn run(&self, f: BoxFut);
}

/// hioload with WORKERS workers.
struct Hio(hioload::Runtime);
/// tokio's multi-thread runtime with WORKERS workers.
struct Tok(tokio::runtime::Runtime);
/// async-executor run by WORKERS threads; async-io's reactor thread drives I/O.
struct Smol {
    ex: Arc<async_executor::Executor<'static>>,
    stop: Option<futures_channel::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Rt for Hio {
    fn run(&self, f: BoxFut) {
        self.0.block_on(f)
    }
}

impl Rt for Tok {
    fn run(&self, f: BoxFut) {
        self.0.block_on(f)
    }
}

impl Smol {
    fn new() -> Smol {
        let ex = Arc::new(async_executor::Executor::new());
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let rx = futures_util::future::FutureExt::shared(rx);
        let threads = (0..WORKERS)
            .map(|_| {
                let (ex, rx) = (ex.clone(), rx.clone());
                std::thread::spawn(move || {
                    futures_lite::future::block_on(ex.run(async move {
                        let _ = rx.await;
                    }))
                })
            })
            .collect();
        Smol { ex, stop: Some(tx), threads }
    }
}

impl Drop for Smol {
    fn drop(&mut self) {
        drop(self.stop.take());
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}

impl Rt for Smol {
    fn run(&self, f: BoxFut) {
        futures_lite::future::block_on(self.ex.spawn(f))
    }
}

/// The echo loop every server task runs, generic over the stream type.
async fn echo<S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin>(mut s: S) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// CONNS clients x ROUNDS round trips against an echo server, for any stream type.
async fn clients<S, C, CF>(connect: C) -> Duration
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
    C: Fn() -> CF,
    CF: Future<Output = S> + Send + 'static,
{
    let start = Instant::now();
    let conns: Vec<_> = (0..CONNS)
        .map(|_| {
            let connect = connect();
            async move {
                let mut s = connect.await;
                let (msg, mut back) = ([7u8; MSG], [0u8; MSG]);
                for _ in 0..ROUNDS {
                    s.write_all(&msg).await.unwrap();
                    s.read_exact(&mut back).await.unwrap();
                }
            }
        })
        .collect();
    futures_util::future::join_all(conns).await;
    start.elapsed()
}

/// One connection streaming BULK bytes through the echo and reading them back.
async fn bulk<S>(s: S) -> Duration
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin,
{
    let start = Instant::now();
    let (mut r, mut w) = s.split();
    let data = vec![5u8; 256 * 1024];
    let write = async {
        for _ in 0..BULK / data.len() {
            w.write_all(&data).await.unwrap();
        }
    };
    let read = async {
        let mut buf = vec![0; 256 * 1024];
        let mut got = 0;
        while got < BULK {
            got += r.read(&mut buf).await.unwrap();
        }
    };
    futures_util::future::join(write, read).await;
    start.elapsed()
}

fn hio_workload(rt: &Hio, name: &str) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel();
    let bulk_run = name == "bulk";
    rt.run(Box::pin(async move {
        let listener = hioload::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(hioload::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                drop(hioload::spawn(echo(s)));
            }
        }));
        let connect = move || async move {
            let s = hioload::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        };
        let t = if bulk_run { bulk(connect().await).await } else { clients(connect).await };
        tx.send(t).unwrap();
    }));
    rx.recv().unwrap()
}

fn tok_workload(rt: &Tok, name: &str) -> Duration {
    use tokio_util_compat::Compat;
    let (tx, rx) = std::sync::mpsc::channel();
    let bulk_run = name == "bulk";
    rt.run(Box::pin(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                tokio::spawn(echo(Compat(s)));
            }
        });
        let connect = move || async move {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            Compat(s)
        };
        let t = if bulk_run { bulk(connect().await).await } else { clients(connect).await };
        tx.send(t).unwrap();
    }));
    rx.recv().unwrap()
}

fn smol_workload(rt: &Smol, name: &str) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel();
    let bulk_run = name == "bulk";
    let ex = rt.ex.clone();
    rt.run(Box::pin(async move {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_ex = ex.clone();
        ex.spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                server_ex.spawn(echo(s)).detach();
            }
        })
        .detach();
        let connect = move || async move {
            let s = async_net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        };
        let t = if bulk_run { bulk(connect().await).await } else { clients(connect).await };
        tx.send(t).unwrap();
    }));
    rx.recv().unwrap()
}

/// tokio's streams implement tokio's io traits; this adapter gives them futures-io's.
mod tokio_util_compat {
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

fn main() {
    let rounds = rounds(10);
    let hio = Hio(hioload::Runtime::builder().worker_threads(WORKERS).build().unwrap());
    let tok = Tok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap());
    let smol = Smol::new();
    for workload in ["echo_rtt", "bulk"] {
        if !selected(workload) {
            continue;
        }
        compare(
            workload,
            rounds,
            &mut [
                ("hioload", &mut || hio_workload(&hio, workload)),
                ("tokio", &mut || tok_workload(&tok, workload)),
                ("async-executor", &mut || smol_workload(&smol, workload)),
            ],
        );
    }
}
