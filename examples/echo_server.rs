//! A TCP echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --release --example echo_server                      # 127.0.0.1:7000, until Ctrl-C
//! cargo run --release --example echo_server -- 0.0.0.0:9000 --seconds 30
//! cargo run --release --example echo_server -- --max-conns 100   # exit after 100 clients
//! ```
//!
//! Then load it with `cargo run --release --example echo_client`.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use hioload::net::{TcpListener, TcpStream};

/// The address used when none is given.
const DEFAULT_ADDR: &str = "127.0.0.1:7000";

/// Command-line options.
struct Options {
    /// Where to listen.
    addr: String,
    /// Stop accepting after this many connections, and exit once they are done.
    max_conns: Option<u64>,
    /// Exit after this many seconds.
    seconds: Option<u64>,
}

/// What the server did, printed on exit.
#[derive(Default)]
struct Stats {
    /// Connections accepted.
    conns: AtomicU64,
    /// Bytes echoed back.
    bytes: AtomicU64,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(msg) => {
            eprintln!(
                "echo_server: {msg}\nusage: echo_server [ADDR] [--max-conns N] [--seconds S]"
            );
            return ExitCode::from(2);
        }
    };
    match hioload::block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_server: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Listens, serves, and prints a summary when done.
async fn run(options: Options) -> io::Result<()> {
    let listener = TcpListener::bind(options.addr.as_str()).await.map_err(|err| {
        io::Error::new(err.kind(), format!("cannot listen on {}: {err}", options.addr))
    })?;
    // With several worker groups (NUMA nodes), deal connections to every group's
    // reactor; with one group (most machines) this changes nothing.
    listener.set_spread_across_groups(true);
    let addr = listener.local_addr()?;
    let groups = hioload::runtime::Handle::current().metrics().num_groups();
    println!("echo server listening on {addr} ({groups} worker group(s))");
    println!("  try: cargo run --release --example echo_client -- {addr}");
    match (options.max_conns, options.seconds) {
        (Some(n), _) => println!("  exits after {n} connections"),
        (None, Some(s)) => println!("  exits after {s} s"),
        (None, None) => println!("  Ctrl-C to stop"),
    }
    let stats = Arc::new(Stats::default());
    let serve = accept_loop(listener, options.max_conns, stats.clone());
    match options.seconds {
        Some(s) => {
            if hioload::time::timeout(Duration::from_secs(s), serve).await.is_err() {
                println!("time is up after {s} s");
            }
        }
        None => serve.await,
    }
    println!(
        "served {} connections, echoed {} bytes",
        stats.conns.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Accepts until `max_conns` (forever if `None`), one task per connection; waits for
/// those tasks when the limit is reached.
async fn accept_loop(listener: TcpListener, max_conns: Option<u64>, stats: Arc<Stats>) {
    let handle = hioload::runtime::Handle::current();
    let mut tasks = Vec::new();
    while !matches!(max_conns, Some(max) if stats.conns.load(Ordering::Relaxed) >= max) {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // EMFILE and friends: report, back off a little, keep serving.
                eprintln!("accept failed: {err}");
                hioload::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        stats.conns.fetch_add(1, Ordering::Relaxed);
        let stats = stats.clone();
        // Serve the connection on the group whose reactor drives it.
        let task = handle.spawn_on(stream.group(), async move {
            if let Err(err) = echo(stream, &stats).await {
                eprintln!("{peer}: {err}");
            }
        });
        // With no limit, finished tasks are simply detached (dropping a JoinHandle).
        if max_conns.is_some() {
            tasks.push(task);
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Echoes `stream` until the peer closes it.
async fn echo(mut stream: TcpStream, stats: &Stats) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Parses `[ADDR] [--max-conns N] [--seconds S]`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options { addr: DEFAULT_ADDR.to_owned(), max_conns: None, seconds: None };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-conns" => options.max_conns = Some(number(&arg, args.next())?),
            "--seconds" => options.seconds = Some(number(&arg, args.next())?),
            "-h" | "--help" => return Err("an echo server".to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            addr => {
                addr.parse::<SocketAddr>()
                    .map_err(|_| format!("{addr} is not an address like {DEFAULT_ADDR}"))?;
                options.addr = addr.to_owned();
            }
        }
    }
    Ok(options)
}

/// The positive number following `flag`.
fn number(flag: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} must be a positive number (got {value})")),
    }
}
