//! A load generator for `echo_server`: N connections, each doing M round trips of one
//! message; prints messages per second and the p50/p99 round-trip time.
//!
//! ```text
//! cargo run --release --example echo_server &
//! cargo run --release --example echo_client                          # 50 conns x 1000 rounds
//! cargo run --release --example echo_client -- 127.0.0.1:7000 --conns 200 --rounds 500 --size 256
//! ```
//!
//! Each round trip that gets no full echo within 10 s ends the run with an error
//! (exit code 1); arguments past the limits below are refused (exit code 2).

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future::try_join;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use hioload::net::TcpStream;
use hioload::time::timeout;

/// Most connections: each is a socket and a task, and the OS limits open files.
const MAX_CONNS: usize = 10_000;
/// Most bytes in one message: each connection holds two buffers of this size.
const MAX_SIZE: usize = 16 << 20;
/// Most round trips in a run: each keeps a 16-byte sample until the percentiles.
const MAX_ROUND_TRIPS: usize = 10_000_000;
/// Most message bytes over all connections (each holds a message and its echo).
const MAX_BUFFERED: usize = 256 << 20;
/// How long one connect or round trip may take before the run is abandoned: a
/// server that accepts but never answers would otherwise hang the client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Command-line options.
struct Options {
    /// The server.
    addr: SocketAddr,
    /// Concurrent connections.
    conns: usize,
    /// Round trips per connection.
    rounds: usize,
    /// Message size in bytes.
    size: usize,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(msg) => {
            eprintln!(
                "echo_client: {msg}\nusage: echo_client [ADDR] [--conns N] [--rounds M] [--size BYTES]"
            );
            return ExitCode::from(2);
        }
    };
    match hioload::block_on(run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_client: {err}");
            if err.kind() == io::ErrorKind::ConnectionRefused {
                eprintln!("is the server running? cargo run --release --example echo_server");
            }
            if err.kind() == io::ErrorKind::TimedOut {
                eprintln!(
                    "is {} an echo server? cargo run --release --example echo_server",
                    options.addr
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs every connection, then prints the results.
async fn run(options: &Options) -> io::Result<()> {
    println!(
        "{} connections x {} round trips of {} bytes to {}",
        options.conns, options.rounds, options.size, options.addr
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..options.conns)
        .map(|_| hioload::spawn(connection(options.addr, options.rounds, options.size)))
        .collect();
    // parse_args checked that this product fits MAX_ROUND_TRIPS.
    let mut rtts = Vec::with_capacity(options.conns * options.rounds);
    for task in tasks {
        let task_rtts =
            task.await.map_err(|err| io::Error::other(format!("task failed: {err}")))??;
        rtts.extend(task_rtts);
    }
    let elapsed = start.elapsed();
    rtts.sort_unstable();
    let rate = rtts.len() as f64 / elapsed.as_secs_f64();
    println!("{} messages in {:.2?}: {rate:.0} messages/s", rtts.len(), elapsed);
    println!(
        "round trip: p50 {:?}  p99 {:?}  max {:?}",
        percentile(&rtts, 50.0),
        percentile(&rtts, 99.0),
        rtts.last().copied().unwrap_or_default()
    );
    Ok(())
}

/// One connection's round trips; returns each one's duration.
async fn connection(addr: SocketAddr, rounds: usize, size: usize) -> io::Result<Vec<Duration>> {
    let mut stream = timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out(format!("cannot connect to {addr}")))?
        .map_err(|err| io::Error::new(err.kind(), format!("cannot connect to {addr}: {err}")))?;
    stream.set_nodelay(true)?;
    let message = vec![b'x'; size];
    let mut back = vec![0; size];
    let mut rtts = Vec::with_capacity(rounds);
    let (mut reader, mut writer) = TcpStream::split(&mut stream);
    for round in 1..=rounds {
        let sent = Instant::now();
        // Read while writing: a message larger than the sockets buffer would
        // otherwise deadlock, the server blocked on echoing what we do not read.
        let trip = try_join(writer.write_all(&message), reader.read_exact(&mut back));
        timeout(REQUEST_TIMEOUT, trip)
            .await
            .map_err(|_| timed_out(format!("no echo from {addr} for round trip {round}")))??;
        rtts.push(sent.elapsed());
    }
    Ok(rtts)
}

/// A `TimedOut` error saying what did not happen within [`REQUEST_TIMEOUT`].
fn timed_out(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} within {REQUEST_TIMEOUT:?}"))
}

/// The `p`th percentile of sorted `values` (nearest rank).
fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// Parses `[ADDR] [--conns N] [--rounds M] [--size BYTES]`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options =
        Options { addr: "127.0.0.1:7000".parse().unwrap(), conns: 50, rounds: 1000, size: 64 };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--conns" => options.conns = number(&arg, args.next(), MAX_CONNS)?,
            "--rounds" => options.rounds = number(&arg, args.next(), MAX_ROUND_TRIPS)?,
            "--size" => options.size = number(&arg, args.next(), MAX_SIZE)?,
            "-h" | "--help" => return Err("a load generator for echo_server".to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            addr => {
                options.addr = addr
                    .parse()
                    .map_err(|_| format!("{addr} is not an address like 127.0.0.1:7000"))?
            }
        }
    }
    // Each limit alone still allows products that exhaust memory.
    let (conns, rounds, size) = (options.conns, options.rounds, options.size);
    if conns.checked_mul(rounds).is_none_or(|trips| trips > MAX_ROUND_TRIPS) {
        return Err(format!(
            "--conns {conns} x --rounds {rounds} is more than {MAX_ROUND_TRIPS} round trips"
        ));
    }
    if conns.checked_mul(size).is_none_or(|bytes| bytes > MAX_BUFFERED) {
        return Err(format!(
            "--conns {conns} x --size {size} is more than {MAX_BUFFERED} bytes of messages"
        ));
    }
    Ok(options)
}

/// The number following `flag`, from 1 to `max`.
fn number(flag: &str, value: Option<String>, max: usize) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    match value.parse::<usize>() {
        Ok(n) if n > max => Err(format!("{flag} must be at most {max} (got {value})")),
        Ok(n) if n > 0 => Ok(n),
        // A number too large for usize is also "too large", not "not a number".
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{flag} must be at most {max} (got {value})"))
        }
        _ => Err(format!("{flag} must be a positive number (got {value})")),
    }
}
