//! A load generator for `echo_server`: N connections, each doing M round trips of one
//! message; prints messages per second and the p50/p99 round-trip time.
//!
//! ```text
//! cargo run --release --example echo_server &
//! cargo run --release --example echo_client                          # 50 conns x 1000 rounds
//! cargo run --release --example echo_client -- 127.0.0.1:7000 --conns 200 --rounds 500 --size 256
//! ```

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use hioload::net::TcpStream;

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
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("cannot connect to {addr}: {err}")))?;
    stream.set_nodelay(true)?;
    let message = vec![b'x'; size];
    let mut back = vec![0; size];
    let mut rtts = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let sent = Instant::now();
        stream.write_all(&message).await?;
        stream.read_exact(&mut back).await?;
        rtts.push(sent.elapsed());
    }
    Ok(rtts)
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
            "--conns" => options.conns = number(&arg, args.next())?,
            "--rounds" => options.rounds = number(&arg, args.next())?,
            "--size" => options.size = number(&arg, args.next())?,
            "-h" | "--help" => return Err("a load generator for echo_server".to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            addr => {
                options.addr = addr
                    .parse()
                    .map_err(|_| format!("{addr} is not an address like 127.0.0.1:7000"))?
            }
        }
    }
    Ok(options)
}

/// The positive number following `flag`.
fn number(flag: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} must be a positive number (got {value})")),
    }
}
