//! Soak: a WebSocket-server-like mixed workload on one runtime, then leak checks.
//!
//! Echo clients with idle timeouts (`Sleep::reset`), request timeouts that
//! sometimes fire, aborts mid-I/O, `spawn_blocking` jobs, cancellation-token
//! trees, UDP, and live `resize` (every 100-400 ms; `RESIZE_MS=N` for 1-N ms),
//! all at once; then every counter, metric, open fd and thread must be back at
//! its baseline, and a watchdog aborts if a phase stalls for 30 s. Linux (the
//! fd, thread and RSS counts read `/proc`). Not part of CI: a manual soak.
//!
//! ```text
//! cargo run --release --example soak -- [multi|numa|current|all] [SECONDS] [CLIENTS]
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use futures_lite::future::or;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use hioload::net::{TcpListener, TcpStream, UdpSocket};
use hioload::task::CancellationToken;
use hioload::time::{sleep, timeout, Instant};
use hioload::topology::Numa;
use hioload::{JoinHandle, Runtime};

const IDLE: Duration = Duration::from_millis(300);
const CLIENT_GROUPS: usize = 8;
const SERVER_GROUPS: usize = 4;

// ---------------------------------------------------------------- rng
#[derive(Clone)]
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 1000 < pct * 10
    }
    fn permille(&mut self, pm: u64) -> bool {
        self.next() % 1000 < pm
    }
}

// ---------------------------------------------------------------- counters
macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        #[derive(Default)]
        struct Counters { $($name: AtomicU64,)* }
        impl Counters {
            fn dump(&self) -> String {
                let mut s = String::new();
                $( let v = self.$name.load(Relaxed); if v != 0 { s += &format!("{}={} ", stringify!($name), v); } )*
                s
            }
        }
    };
}
counters!(
    spawned,
    exited,
    client_spawned,
    client_exit_ok,
    client_joined_cancelled,
    client_joined_panic,
    aborts_requested,
    connects,
    connect_errors,
    requests_ok,
    bytes_ok,
    req_timeouts_expected,
    req_timeouts_unexpected,
    idle_eof_expected,
    unexpected_close,
    wrong_data,
    client_errors,
    client_cancelled_by_token,
    client_group_cancels,
    server_accepts,
    server_idle_closes,
    server_token_closes,
    server_peer_closes,
    server_errors,
    server_group_cancels,
    server_handler_aborts,
    blocking_ok,
    blocking_bad,
    udp_ok,
    udp_lost,
    udp_bad,
    udp_stale,
    resizes,
    resize_errors,
    idle_not_fired,
    panics,
    progress,
);

fn c_inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Counts a spawned future as alive from spawn until its future is dropped.
struct TaskGuard(Arc<Counters>);
impl TaskGuard {
    fn new(c: &Arc<Counters>) -> TaskGuard {
        c_inc(&c.spawned);
        TaskGuard(c.clone())
    }
}
impl Drop for TaskGuard {
    fn drop(&mut self) {
        c_inc(&self.0.exited);
    }
}

fn tspawn<F>(c: &Arc<Counters>, f: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let g = TaskGuard::new(c);
    hioload::spawn(async move {
        let _g = g;
        f.await
    })
}

// ---------------------------------------------------------------- watchdog
struct Watchdog {
    phase: Mutex<String>,
    tick: AtomicU64,
    stop: AtomicBool,
}
impl Watchdog {
    fn set(&self, phase: impl Into<String>) {
        let p = phase.into();
        eprintln!("[{:>7.1}s] phase: {p}", since_start());
        *self.phase.lock().unwrap() = p;
        self.tick.fetch_add(1, Relaxed);
    }
    fn spawn(self: &Arc<Self>, c: Arc<Counters>) -> std::thread::JoinHandle<()> {
        let wd = self.clone();
        std::thread::spawn(move || {
            let mut last = (u64::MAX, u64::MAX);
            let mut since = StdInstant::now();
            while !wd.stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let now = (wd.tick.load(Relaxed), c.progress.load(Relaxed));
                if now != last {
                    last = now;
                    since = StdInstant::now();
                } else if since.elapsed() > Duration::from_secs(30) {
                    eprintln!(
                        "WATCHDOG: no progress for 30 s in phase '{}'\ncounters: {}",
                        wd.phase.lock().unwrap(),
                        c.dump()
                    );
                    std::process::abort();
                }
            }
        })
    }
}

static START: std::sync::OnceLock<StdInstant> = std::sync::OnceLock::new();
fn since_start() -> f64 {
    START.get_or_init(StdInstant::now).elapsed().as_secs_f64()
}

// ---------------------------------------------------------------- proc
fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
fn count_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 4
}

// ---------------------------------------------------------------- payload
fn fill(buf: &mut Vec<u8>, seq: u32, len: usize) {
    buf.clear();
    buf.extend((0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8));
}
fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

fn expected_io(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

// ---------------------------------------------------------------- server
struct Shared {
    c: Arc<Counters>,
    server_groups: Mutex<Vec<CancellationToken>>,
    client_groups: Mutex<Vec<CancellationToken>>,
    err_log: AtomicU64,
}
impl Shared {
    fn log(&self, what: String) {
        if self.err_log.fetch_add(1, Relaxed) < 20 {
            eprintln!("  note: {what}");
        }
    }
}

async fn serve_conn(mut stream: TcpStream, token: CancellationToken, sh: Arc<Shared>) {
    enum Ev {
        Hdr(io::Result<()>),
        Idle,
        Cancel,
    }
    let c = &sh.c;
    let mut idle = pin!(sleep(IDLE));
    let mut buf = Vec::new();
    loop {
        let mut hdr = [0u8; 8];
        let ev = or(
            or(async { Ev::Hdr(stream.read_exact(&mut hdr).await) }, async {
                idle.as_mut().await;
                Ev::Idle
            }),
            async {
                token.cancelled().await;
                Ev::Cancel
            },
        )
        .await;
        match ev {
            Ev::Idle => {
                c_inc(&c.server_idle_closes);
                return;
            }
            Ev::Cancel => {
                c_inc(&c.server_token_closes);
                return;
            }
            Ev::Hdr(Err(e)) => {
                if expected_io(&e) {
                    c_inc(&c.server_peer_closes);
                } else {
                    c_inc(&c.server_errors);
                    sh.log(format!("server hdr read: {e}"));
                }
                return;
            }
            Ev::Hdr(Ok(())) => {}
        }
        let len = u32::from_le_bytes(hdr[..4].try_into().unwrap()) as usize;
        buf.resize(len, 0);
        let r = async {
            stream.read_exact(&mut buf).await?;
            idle.as_mut().reset(Instant::now() + IDLE);
            stream.write_all(&hdr).await?;
            stream.write_all(&buf).await?;
            Ok::<_, io::Error>(())
        };
        let r = or(async { Some(r.await) }, async {
            token.cancelled().await;
            None
        })
        .await;
        match r {
            None => {
                c_inc(&c.server_token_closes);
                return;
            }
            Some(Err(e)) => {
                if expected_io(&e) {
                    c_inc(&c.server_peer_closes);
                } else {
                    c_inc(&c.server_errors);
                    sh.log(format!("server body: {e}"));
                }
                return;
            }
            Some(Ok(())) => {}
        }
    }
}

async fn accept_loop(listener: TcpListener, root: CancellationToken, sh: Arc<Shared>) {
    let c = sh.c.clone();
    let mut rng = Rng::new(0xACCE);
    loop {
        let r = or(async { Some(listener.accept().await) }, async {
            root.cancelled().await;
            None
        })
        .await;
        let (stream, _) = match r {
            None => return,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                c_inc(&c.server_errors);
                sh.log(format!("accept: {e}"));
                sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        c_inc(&c.server_accepts);
        let _ = stream.set_nodelay(true);
        let tok = {
            let g = sh.server_groups.lock().unwrap();
            g[rng.range(0, g.len() as u64) as usize].child_token()
        };
        let h = tspawn(&c, serve_conn(stream, tok, sh.clone()));
        if rng.chance(3) {
            // Kill this handler mid-I/O a bit later.
            let delay = Duration::from_millis(rng.range(0, 150));
            let c2 = c.clone();
            tspawn(&c, async move {
                sleep(delay).await;
                h.abort();
                c_inc(&c2.server_handler_aborts);
                let _ = h.await;
            });
        }
    }
}

// ---------------------------------------------------------------- client
async fn client(id: u64, addr: SocketAddr, token: CancellationToken, sh: Arc<Shared>) {
    let c = &sh.c;
    let mut rng = Rng::new(id * 7919 + 17);
    let mut out = Vec::new();
    let mut inb = Vec::new();
    let mut seq: u32 = (id as u32) << 16;
    'conn: loop {
        if token.is_cancelled() {
            c_inc(&c.client_cancelled_by_token);
            return;
        }
        let conn = or(async { Some(TcpStream::connect(addr).await) }, async {
            token.cancelled().await;
            None
        })
        .await;
        let mut stream = match conn {
            None => {
                c_inc(&c.client_cancelled_by_token);
                return;
            }
            Some(Err(e)) => {
                c_inc(&c.connect_errors);
                sh.log(format!("connect: {e}"));
                sleep(Duration::from_millis(20)).await;
                continue;
            }
            Some(Ok(s)) => s,
        };
        c_inc(&c.connects);
        let _ = stream.set_nodelay(true);
        let nreq = rng.range(1, 60);
        for _ in 0..nreq {
            let long_think = rng.permille(15);
            let think = if long_think {
                IDLE + Duration::from_millis(rng.range(100, 200))
            } else {
                Duration::from_millis(rng.range(0, 30))
            };
            if or(
                async {
                    sleep(think).await;
                    false
                },
                async {
                    token.cancelled().await;
                    true
                },
            )
            .await
            {
                c_inc(&c.client_cancelled_by_token);
                return;
            }
            seq = seq.wrapping_add(1);
            let len = if rng.chance(3) { rng.range(16_384, 262_144) } else { rng.range(0, 2048) }
                as usize;
            fill(&mut out, seq, len);
            // Short deadline sometimes (likely to fire on big payloads), else a generous one.
            let short = rng.chance(4);
            let dl = if short {
                Duration::from_micros(rng.range(50, 3000))
            } else {
                Duration::from_secs(10)
            };
            let req = async {
                let mut hdr = [0u8; 8];
                hdr[..4].copy_from_slice(&(len as u32).to_le_bytes());
                hdr[4..].copy_from_slice(&seq.to_le_bytes());
                stream.write_all(&hdr).await?;
                stream.write_all(&out).await?;
                let mut rh = [0u8; 8];
                stream.read_exact(&mut rh).await?;
                if rh != hdr {
                    return Ok(false);
                }
                inb.resize(len, 0);
                stream.read_exact(&mut inb).await?;
                Ok::<bool, io::Error>(inb == out)
            };
            let r = or(async { Some(timeout(dl, req).await) }, async {
                token.cancelled().await;
                None
            })
            .await;
            match r {
                None => {
                    c_inc(&c.client_cancelled_by_token);
                    return;
                }
                Some(Err(_elapsed)) => {
                    if short {
                        c_inc(&c.req_timeouts_expected);
                    } else {
                        c_inc(&c.req_timeouts_unexpected);
                        sh.log(format!("client {id}: 10 s request timeout fired (len {len})"));
                    }
                    continue 'conn; // stream state unknown: drop it
                }
                Some(Ok(Err(e))) => {
                    if long_think && expected_io(&e) {
                        c_inc(&c.idle_eof_expected);
                    } else if expected_io(&e) {
                        c_inc(&c.unexpected_close);
                    } else {
                        c_inc(&c.client_errors);
                        sh.log(format!("client {id}: {e}"));
                    }
                    continue 'conn;
                }
                Some(Ok(Ok(false))) => {
                    c_inc(&c.wrong_data);
                    sh.log(format!("client {id}: wrong echo, seq {seq} len {len}"));
                    continue 'conn;
                }
                Some(Ok(Ok(true))) => {
                    if long_think {
                        // Server should have closed on idle; a late timer is a finding.
                        c_inc(&c.idle_not_fired);
                        sh.log(format!(
                            "client {id}: server idle timeout did not fire after {think:?}"
                        ));
                    }
                    c_inc(&c.requests_ok);
                    c_inc(&c.progress);
                    c.bytes_ok.fetch_add(len as u64, Relaxed);
                }
            }
            if rng.chance(2) {
                let data = std::mem::take(&mut inb);
                let want = checksum(&data);
                let h = hioload::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_micros(500));
                    (checksum(&data), data)
                });
                match h.await {
                    Ok((got, data)) if got == want => {
                        inb = data;
                        c_inc(&c.blocking_ok)
                    }
                    _ => c_inc(&c.blocking_bad),
                }
            }
        }
        // Closing gracefully sometimes, dropping otherwise.
        if rng.chance(50) {
            let _ = stream.close().await;
        }
    }
}

// ---------------------------------------------------------------- udp
async fn udp_server(sock: UdpSocket, root: CancellationToken, c: Arc<Counters>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let r = or(async { Some(sock.recv_from(&mut buf).await) }, async {
            root.cancelled().await;
            None
        })
        .await;
        match r {
            None => return,
            Some(Ok((n, from))) => {
                let _ = sock.send_to(&buf[..n], from).await;
            }
            Some(Err(_)) => c_inc(&c.udp_bad),
        }
    }
}

async fn udp_client(id: u64, server: SocketAddr, root: CancellationToken, c: Arc<Counters>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(server).await.unwrap();
    let mut rng = Rng::new(id + 991);
    let mut out = Vec::new();
    let mut inb = vec![0u8; 2048];
    let mut seq = (id as u32) << 24;
    while !root.is_cancelled() {
        seq += 1;
        let len = rng.range(8, 1400) as usize;
        fill(&mut out, seq, len);
        out[..4].copy_from_slice(&seq.to_le_bytes());
        if sock.send(&out).await.is_err() {
            c_inc(&c.udp_bad);
            continue;
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match hioload::time::timeout_at(deadline, sock.recv(&mut inb)).await {
                Err(_) => {
                    c_inc(&c.udp_lost);
                    break;
                }
                Ok(Err(_)) => {
                    c_inc(&c.udp_bad);
                    break;
                }
                Ok(Ok(n)) => {
                    let s = u32::from_le_bytes(inb[..4].try_into().unwrap());
                    if s != seq {
                        c_inc(&c.udp_stale);
                        continue;
                    }
                    if n == len && inb[..n] == out[..] {
                        c_inc(&c.udp_ok);
                        c_inc(&c.progress);
                    } else {
                        c_inc(&c.udp_bad);
                    }
                    break;
                }
            }
        }
        sleep(Duration::from_millis(rng.range(0, 10))).await;
    }
}

// ---------------------------------------------------------------- driver
async fn workload(
    secs: u64,
    nclients: usize,
    spread: bool,
    sh: Arc<Shared>,
    wd: Arc<Watchdog>,
    rss: Arc<Mutex<Vec<u64>>>,
) {
    let c = sh.c.clone();
    let server_root = CancellationToken::new();
    let client_root = CancellationToken::new();
    *sh.server_groups.lock().unwrap() =
        (0..SERVER_GROUPS).map(|_| server_root.child_token()).collect();
    *sh.client_groups.lock().unwrap() =
        (0..CLIENT_GROUPS).map(|_| client_root.child_token()).collect();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    if spread {
        listener.set_spread_across_groups(true);
    }
    let addr = listener.local_addr().unwrap();
    let accept = tspawn(&c, accept_loop(listener, server_root.clone(), sh.clone()));

    let usock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uaddr = usock.local_addr().unwrap();
    let mut udp = vec![tspawn(&c, udp_server(usock, server_root.clone(), c.clone()))];
    for i in 0..4 {
        udp.push(tspawn(&c, udp_client(i, uaddr, client_root.clone(), c.clone())));
    }

    let mut rng = Rng::new(42);
    let mut next_id = 0u64;
    let spawn_client = |id: u64, sh: &Arc<Shared>, rng: &mut Rng| {
        let tok = {
            let g = sh.client_groups.lock().unwrap();
            g[rng.range(0, CLIENT_GROUPS as u64) as usize].child_token()
        };
        c_inc(&sh.c.client_spawned);
        tspawn(&sh.c, client(id, addr, tok, sh.clone()))
    };
    let mut clients: Vec<JoinHandle<()>> = Vec::new();
    let t0 = StdInstant::now();
    let end = t0 + Duration::from_secs(secs);
    let mut last_rss = StdInstant::now() - Duration::from_secs(10);
    let mut last_report = StdInstant::now();
    let mut last_group_cancel = StdInstant::now();
    wd.set("workload");
    while StdInstant::now() < end {
        // Reap finished clients (token-cancelled ones), keep the population.
        let mut i = 0;
        while i < clients.len() {
            if clients[i].is_finished() {
                let h = clients.swap_remove(i);
                match h.await {
                    Ok(()) => c_inc(&c.client_exit_ok),
                    Err(e) if e.is_cancelled() => c_inc(&c.client_joined_cancelled),
                    Err(_) => c_inc(&c.client_joined_panic),
                }
            } else {
                i += 1;
            }
        }
        while clients.len() < nclients {
            next_id += 1;
            clients.push(spawn_client(next_id, &sh, &mut rng));
        }
        // Abort a few clients mid-I/O.
        for _ in 0..rng.range(0, 3) {
            let i = rng.range(0, clients.len() as u64) as usize;
            clients[i].abort();
            c_inc(&c.aborts_requested);
        }
        // Cancel a group of client (and sometimes server) connections.
        if last_group_cancel.elapsed() > Duration::from_millis(rng.range(700, 1500)) {
            last_group_cancel = StdInstant::now();
            let gi = rng.range(0, CLIENT_GROUPS as u64) as usize;
            let mut g = sh.client_groups.lock().unwrap();
            g[gi].cancel();
            g[gi] = client_root.child_token();
            c_inc(&c.client_group_cancels);
            drop(g);
            if rng.chance(40) {
                let gi = rng.range(0, SERVER_GROUPS as u64) as usize;
                let mut g = sh.server_groups.lock().unwrap();
                g[gi].cancel();
                g[gi] = server_root.child_token();
                c_inc(&c.server_group_cancels);
            }
        }
        if last_rss.elapsed() >= Duration::from_secs(5) {
            last_rss = StdInstant::now();
            rss.lock().unwrap().push(rss_kib());
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            last_report = StdInstant::now();
            eprintln!(
                "  t={:>4}s rss={} KiB fds={} {}",
                t0.elapsed().as_secs(),
                rss_kib(),
                count_fds(),
                c.dump()
            );
        }
        sleep(Duration::from_millis(rng.range(20, 80))).await;
    }

    wd.set("cancel clients: awaiting all client JoinHandles");
    client_root.cancel();
    for h in clients {
        match h.await {
            Ok(()) => c_inc(&c.client_exit_ok),
            Err(e) if e.is_cancelled() => c_inc(&c.client_joined_cancelled),
            Err(_) => c_inc(&c.client_joined_panic),
        }
        c_inc(&c.progress);
    }
    wd.set("cancel server: awaiting accept loop and UDP tasks");
    server_root.cancel();
    accept.await.unwrap();
    for h in udp {
        h.await.unwrap();
    }
    wd.set("waiting for every tracked task's future to be dropped (spawned == exited)");
    while c.spawned.load(Relaxed) != c.exited.load(Relaxed) {
        sleep(Duration::from_millis(10)).await;
    }
    sh.server_groups.lock().unwrap().clear();
    sh.client_groups.lock().unwrap().clear();
}

fn build(config: &str) -> Runtime {
    match config {
        "multi" => Runtime::builder().worker_threads(2).max_blocking_threads(16).build().unwrap(),
        "numa" => Runtime::builder()
            .worker_threads(2)
            .numa(Numa::Groups(vec![vec![0], vec![1]]))
            .max_blocking_threads(16)
            .build()
            .unwrap(),
        "current" => {
            hioload::Builder::new_current_thread().max_blocking_threads(16).build().unwrap()
        }
        other => panic!("unknown config {other}"),
    }
}

fn run_config(
    config: &str,
    secs: u64,
    nclients: usize,
    wd: &Arc<Watchdog>,
    c: &Arc<Counters>,
) -> bool {
    let fds0 = count_fds();
    let threads0 = count_threads();
    let rss0 = rss_kib();
    wd.set(format!("[{config}] build runtime"));
    let rt = build(config);
    let m0 = rt.metrics();
    let (alive0, regs0, timers0) =
        (m0.num_alive_tasks(), m0.num_io_registrations(), m0.num_pending_timers());
    let fds_rt = count_fds();
    eprintln!(
        "[{config}] baseline: fds={fds0} (with rt {fds_rt}) threads={threads0} rss={rss0} KiB alive={alive0} regs={regs0} timers={timers0} groups={}",
        m0.num_groups()
    );
    let sh = Arc::new(Shared {
        c: c.clone(),
        server_groups: Mutex::new(Vec::new()),
        client_groups: Mutex::new(Vec::new()),
        err_log: AtomicU64::new(0),
    });
    let rss = Arc::new(Mutex::new(Vec::new()));
    let stop = AtomicBool::new(false);
    let t0 = StdInstant::now();
    std::thread::scope(|s| {
        if config != "current" {
            let rt = &rt;
            let stop = &stop;
            let c = c.clone();
            s.spawn(move || {
                let mut rng = Rng::new(7);
                let (lo, hi): (u64, u64) = match std::env::var("RESIZE_MS") {
                    Ok(v) => {
                        let x: u64 = v.parse().unwrap();
                        (1, x.max(2))
                    }
                    Err(_) => (100, 400),
                };
                while !stop.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(rng.range(lo, hi)));
                    let n = rng.range(1, 5) as usize;
                    match rt.resize(n) {
                        Ok(()) => c_inc(&c.resizes),
                        Err(e) => {
                            c_inc(&c.resize_errors);
                            eprintln!("resize({n}): {e}");
                        }
                    }
                }
            });
        }
        rt.block_on(workload(
            secs,
            nclients,
            config == "numa",
            sh.clone(),
            wd.clone(),
            rss.clone(),
        ));
        stop.store(true, Relaxed);
    });
    let elapsed = t0.elapsed();
    let mut ok = true;
    // Metrics back to baseline (registrations are freed lazily: give the reactor turns).
    wd.set(format!("[{config}] waiting for metrics to return to baseline"));
    let settle = StdInstant::now();
    let (mut alive, mut regs, mut timers, mut blocking, mut waiting);
    loop {
        let m = rt.metrics();
        alive = m.num_alive_tasks();
        regs = m.num_io_registrations();
        timers = m.num_pending_timers();
        blocking = m.num_blocking_jobs_running();
        waiting = m.num_waiting_tasks();
        if (alive, regs, timers, blocking, waiting) == (alive0, regs0, timers0, 0, 0)
            || settle.elapsed() > Duration::from_secs(10)
        {
            break;
        }
        rt.block_on(sleep(Duration::from_millis(20)));
    }
    let m = rt.metrics();
    eprintln!(
        "[{config}] after {:.1}s (settled in {:?}): alive={alive} regs={regs} timers={timers} blocking_jobs={blocking} waiting={waiting} workers={} blocking_threads={} fds={}",
        elapsed.as_secs_f64(),
        settle.elapsed(),
        m.num_workers(),
        m.num_blocking_threads(),
        count_fds()
    );
    if alive != alive0 || regs != regs0 || timers != timers0 || blocking != 0 || waiting != 0 {
        eprintln!("FAIL [{config}]: metrics did not return to baseline");
        ok = false;
    }
    if count_fds() != fds_rt {
        eprintln!("FAIL [{config}]: fds with runtime alive {} != {fds_rt}", count_fds());
        ok = false;
    }
    let rs = rss.lock().unwrap().clone();
    eprintln!("[{config}] rss samples KiB: {rs:?}");
    if rs.len() >= 4 {
        let half = rs.len() / 2;
        let first = *rs[..half].iter().max().unwrap();
        let second = *rs[half..].iter().max().unwrap();
        if second > first + first / 2 + 8192 {
            eprintln!("FAIL [{config}]: RSS grew {first} -> {second} KiB");
            ok = false;
        }
    }
    wd.set(format!("[{config}] dropping runtime"));
    drop((m, m0)); // RuntimeMetrics holds the runtime's shared state (and its fds)
    drop(rt);
    // Blocking threads should exit with the runtime.
    wd.set(format!("[{config}] waiting for threads/fds to return after drop"));
    let t = StdInstant::now();
    while (count_fds() != fds0 || count_threads() != threads0)
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "[{config}] after drop: fds={} (baseline {fds0}) threads={} (baseline {threads0}) rss={} KiB",
        count_fds(),
        count_threads(),
        rss_kib()
    );
    if count_fds() != fds0 || count_threads() != threads0 {
        eprintln!("FAIL [{config}]: fds/threads not back to baseline after drop");
        for e in std::fs::read_dir("/proc/self/fd").unwrap() {
            let p = e.unwrap().path();
            eprintln!("    {} -> {:?}", p.display(), std::fs::read_link(&p));
        }
        ok = false;
    }
    let d = c.dump();
    eprintln!("[{config}] counters: {d}");
    let g = |a: &AtomicU64| a.load(Relaxed);
    if g(&c.spawned) != g(&c.exited) {
        eprintln!("FAIL [{config}]: spawned {} != exited {}", g(&c.spawned), g(&c.exited));
        ok = false;
    }
    let joined = g(&c.client_exit_ok) + g(&c.client_joined_cancelled) + g(&c.client_joined_panic);
    if joined != g(&c.client_spawned) {
        eprintln!("FAIL [{config}]: clients spawned {} joined {joined}", g(&c.client_spawned));
        ok = false;
    }
    for (name, v) in [
        ("wrong_data", g(&c.wrong_data)),
        ("client_errors", g(&c.client_errors)),
        ("server_errors", g(&c.server_errors)),
        ("req_timeouts_unexpected", g(&c.req_timeouts_unexpected)),
        ("blocking_bad", g(&c.blocking_bad)),
        ("udp_bad", g(&c.udp_bad)),
        ("client_joined_panic", g(&c.client_joined_panic)),
        ("panics", g(&c.panics)),
        ("resize_errors", g(&c.resize_errors)),
        ("idle_not_fired", g(&c.idle_not_fired)),
    ] {
        if v != 0 {
            eprintln!("FAIL [{config}]: {name} = {v}");
            ok = false;
        }
    }
    if g(&c.unexpected_close) != 0 {
        eprintln!("WARN [{config}]: unexpected_close = {}", g(&c.unexpected_close));
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let nclients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    since_start();
    let wd = Arc::new(Watchdog {
        phase: Mutex::new("start".into()),
        tick: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let configs: Vec<&str> =
        if which == "all" { vec!["multi", "numa", "current"] } else { vec![which] };
    let mut all_ok = true;
    let panics = Arc::new(AtomicU64::new(0));
    {
        let panics = panics.clone();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            panics.fetch_add(1, Relaxed);
            eprintln!("PANIC on thread {:?}", std::thread::current().name());
            prev(info);
        }));
    }
    for cfg in configs {
        let c = Arc::new(Counters::default());
        let wdt = wd.spawn(c.clone());
        let p0 = panics.load(Relaxed);
        let ok = run_config(cfg, secs, nclients, &wd, &c);
        let np = panics.load(Relaxed) - p0;
        if np != 0 {
            eprintln!("FAIL [{cfg}]: {np} panics");
        }
        all_ok &= ok && np == 0;
        wd.stop.store(true, Relaxed);
        wdt.join().unwrap();
        wd.stop.store(false, Relaxed);
        eprintln!("[{cfg}] {}", if ok && np == 0 { "OK" } else { "FAILED" });
    }
    eprintln!("soak: {}", if all_ok { "ALL OK" } else { "FAILURES" });
    std::process::exit(if all_ok { 0 } else { 1 });
}
