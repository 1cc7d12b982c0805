//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Aborts the whole test process if the guard lives longer than `limit`:
/// a hang fails loudly instead of stalling CI.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let step = Duration::from_millis(20);
            let mut waited = Duration::ZERO;
            while waited < limit {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(step);
                waited += step;
            }
            // Written to the raw stderr: the test harness captures `eprintln!`.
            let msg = format!("watchdog: test `{name}` still running after {limit:?}; aborting\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            std::process::abort();
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// Sets a flag when dropped: proves a future was dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// CPU time consumed so far by this process's threads whose name starts with
/// `prefix` (Linux: /proc/self/task/*/{comm,schedstat}, in nanoseconds).
/// `None` elsewhere.
pub fn threads_cpu_ns(prefix: &str) -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let path = task.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A multi-thread runtime with `n` workers.
pub fn rt(n: usize) -> hioload::Runtime {
    hioload::Runtime::builder().worker_threads(n).build().unwrap()
}

/// Echoes everything `stream` sends back to it, until EOF or an error.
pub async fn echo<S>(mut stream: S)
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin,
{
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends `total` patterned bytes through `writer` in 1 MiB writes (plain and
/// vectored in turn, so most of them fill the send buffer and return short)
/// while `reader`, on another task, takes 4 KiB at a time and yields between
/// reads; checks that every byte arrives in order. A write readiness cleared
/// on a short write must never miss the room the reader makes.
pub async fn fill_against_a_slow_reader<W, R>(mut writer: W, mut reader: R, total: usize)
where
    W: futures_io::AsyncWrite + Unpin + Send + 'static,
    R: futures_io::AsyncRead + Unpin,
{
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    let byte = |i: usize| (i % 253) as u8;
    let sender = hioload::spawn(async move {
        let data: Vec<u8> = (0..total).map(byte).collect();
        let mut sent = 0;
        let mut vectored = false;
        while sent < total {
            let end = (sent + (1 << 20)).min(total);
            let chunk = &data[sent..end];
            let n = if vectored {
                let (a, b) = chunk.split_at(chunk.len() / 3);
                writer.write_vectored(&[std::io::IoSlice::new(a), std::io::IoSlice::new(b)]).await
            } else {
                writer.write(chunk).await
            }
            .unwrap();
            assert!(n > 0, "a write returned 0");
            sent += n;
            vectored = !vectored;
        }
        writer.close().await.unwrap();
    });
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, byte(got + k), "byte {} corrupted", got + k);
        }
        got += n;
        hioload::task::yield_now().await;
    }
    sender.await.unwrap();
    assert_eq!(got, total);
}
