//! Configuring and building a [`Runtime`].
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use crate::executor::{Callback, Config, Flavor};
use crate::topology::{self, Numa};

/// Default ticks between a busy worker's maintenance (I/O poll, timers).
const DEFAULT_EVENT_INTERVAL: u32 = 61;
/// Default ticks between checks of the injector before the local queue.
const DEFAULT_GLOBAL_QUEUE_INTERVAL: u32 = 31;
/// Default most blocking-pool threads (tokio's default).
const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default idle time before a blocking-pool thread exits (tokio's default).
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default `timer_slack`.
const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(32);
/// Largest `timer_slack` accepted.
const MAX_TIMER_SLACK: Duration = Duration::from_secs(1);

/// The most worker slots a runtime may have (`worker_threads`,
/// `max_worker_threads`): each slot costs a deque and its bookkeeping up front,
/// and far more threads than CPUs only add switching. Linux's largest
/// configurations have 8192 CPUs.
const MAX_WORKERS: usize = 8192;

/// Builds a [`Runtime`] with custom settings.
///
/// Replaces `tokio::runtime::Builder`. `Runtime::builder()` starts a
/// multi-thread builder; [`Builder::current_thread`] switches to the
/// single-threaded flavour.
///
/// # Examples
///
/// ```
/// let rt = hioload::Runtime::builder()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
///
/// Invalid values are reported by `build()`:
///
/// ```
/// let err = hioload::Runtime::builder().worker_threads(0).build().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("worker_threads"));
/// ```
pub struct Builder {
    /// Which flavour.
    flavor: Flavor,
    /// Requested workers; `None` means one per available CPU.
    worker_threads: Option<usize>,
    /// Most workers `resize` may run; `None` means a default from the CPU count.
    max_worker_threads: Option<usize>,
    /// Names runtime threads.
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    /// Stack size of runtime threads.
    stack_size: Option<usize>,
    /// Start hook.
    on_thread_start: Option<Callback>,
    /// Stop hook.
    on_thread_stop: Option<Callback>,
    /// Maintenance interval in ticks.
    event_interval: u32,
    /// Injector-first interval in ticks.
    global_queue_interval: u32,
    /// Most blocking threads.
    max_blocking_threads: usize,
    /// Blocking-thread idle timeout.
    thread_keep_alive: Duration,
    /// How workers are grouped.
    numa: Numa,
    /// Whether workers are pinned to a CPU of their group.
    pin_workers: bool,
    /// Events one reactor wait may return.
    max_io_events_per_tick: usize,
    /// Whether the clock starts paused.
    start_paused: bool,
    /// How late a timer may fire so that one wake-up serves several.
    timer_slack: Duration,
}

impl Builder {
    /// A builder for the multi-thread runtime (work-stealing workers).
    pub fn new_multi_thread() -> Builder {
        Builder {
            flavor: Flavor::MultiThread,
            worker_threads: None,
            max_worker_threads: None,
            thread_name: default_thread_name(),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            event_interval: DEFAULT_EVENT_INTERVAL,
            global_queue_interval: DEFAULT_GLOBAL_QUEUE_INTERVAL,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            thread_keep_alive: DEFAULT_KEEP_ALIVE,
            numa: Numa::Auto,
            pin_workers: false,
            max_io_events_per_tick: crate::reactor::DEFAULT_EVENT_CAPACITY,
            start_paused: false,
            timer_slack: DEFAULT_TIMER_SLACK,
        }
    }

    /// A builder for the current-thread runtime: every task runs on the thread
    /// inside `block_on`.
    pub fn new_current_thread() -> Builder {
        Builder { flavor: Flavor::CurrentThread, ..Builder::new_multi_thread() }
    }

    /// Switches to the current-thread flavour (see [`Builder::new_current_thread`]).
    pub fn current_thread(&mut self) -> &mut Self {
        self.flavor = Flavor::CurrentThread;
        self
    }

    /// Switches to the multi-thread flavour.
    pub fn multi_thread(&mut self) -> &mut Self {
        self.flavor = Flavor::MultiThread;
        self
    }

    /// Number of worker threads.
    ///
    /// # Default
    ///
    /// One per CPU available to the process.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for 0.
    pub fn worker_threads(&mut self, workers: usize) -> &mut Self {
        self.worker_threads = Some(workers);
        self
    }

    /// Most workers [`Runtime::resize`] may grow the pool to.
    ///
    /// # Default
    ///
    /// The larger of 64 and four times the CPU or worker count.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` if below `worker_threads` or above 8192.
    pub fn max_worker_threads(&mut self, max: usize) -> &mut Self {
        self.max_worker_threads = Some(max);
        self
    }

    /// Names every worker thread `name` (blocking-pool threads are named
    /// `hioload-blocking`, caretakers `hioload-care-gN`).
    ///
    /// `build()` fails with `InvalidInput` if `name` contains a NUL byte.
    ///
    /// # Default
    ///
    /// `hioload-worker-N`.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name = name.into();
        self.thread_name = Arc::new(move || name.clone());
        self
    }

    /// Names worker threads with a function called once per thread (also when
    /// `resize` starts one). A name with a NUL byte, or a panic of `f`, makes
    /// `build()` (or that `resize`) fail with an error.
    pub fn thread_name_fn(&mut self, f: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.thread_name = Arc::new(f);
        self
    }

    /// Stack size of runtime threads, in bytes.
    ///
    /// # Default
    ///
    /// The standard library's (2 MiB).
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on every runtime thread (workers and blocking pool) when it starts.
    /// A panic of `f` is reported by the panic hook and contained: the thread
    /// runs on.
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on every runtime thread before it exits. A panic of `f` is
    /// reported by the panic hook and contained: the thread exits as usual.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// The most ticks (task polls) between a busy worker's non-blocking I/O
    /// polls and timer checks. A worker whose polls are long checks sooner:
    /// about every 200 µs of polling, down to after every poll.
    ///
    /// # Default
    ///
    /// 61.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for 0.
    pub fn event_interval(&mut self, ticks: u32) -> &mut Self {
        self.event_interval = ticks;
        self
    }

    /// The most ticks between checks of the shared injector before the local
    /// queue. Like `event_interval`, fewer when polls are long (about every
    /// 200 µs of polling), as tokio's multi-thread scheduler tunes its own.
    ///
    /// # Default
    ///
    /// 31.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for 0.
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Self {
        self.global_queue_interval = ticks;
        self
    }

    /// Most threads of the `spawn_blocking` pool.
    ///
    /// # Default
    ///
    /// 512.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for 0.
    pub fn max_blocking_threads(&mut self, max: usize) -> &mut Self {
        self.max_blocking_threads = max;
        self
    }

    /// How long an idle blocking-pool thread waits for a job before exiting.
    ///
    /// # Default
    ///
    /// 10 seconds.
    pub fn thread_keep_alive(&mut self, duration: Duration) -> &mut Self {
        self.thread_keep_alive = duration;
        self
    }

    /// How workers are grouped: one group per NUMA node ([`Numa::Auto`]), one
    /// group for all ([`Numa::Off`]), or explicit CPU groups ([`Numa::Groups`],
    /// which can simulate several nodes on any machine).
    ///
    /// Each group has its own injector and reactor; a worker steals from its own
    /// group first and from other groups only when its group is out of work.
    /// Workers are dealt to groups in proportion to their CPU counts.
    ///
    /// # Default
    ///
    /// [`Numa::Auto`].
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for an empty group or a CPU listed twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use hioload::topology::Numa;
    ///
    /// let rt = hioload::Runtime::builder()
    ///     .worker_threads(2)
    ///     .numa(Numa::Groups(vec![vec![0], vec![1]]))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.metrics().num_groups(), 2);
    /// ```
    pub fn numa(&mut self, numa: Numa) -> &mut Self {
        self.numa = numa;
        self
    }

    /// Pins each worker thread to one CPU of its group (blocking-pool threads
    /// are never pinned).
    ///
    /// # Default
    ///
    /// `false`.
    ///
    /// # Errors
    ///
    /// `build()` fails with `Unsupported` where threads cannot be pinned (or on
    /// the current-thread runtime, which has no workers), with `InvalidInput` if
    /// a listed CPU is not one this process may run on, and with the OS error if
    /// pinning a worker fails.
    pub fn pin_workers(&mut self, pin: bool) -> &mut Self {
        self.pin_workers = pin;
        self
    }

    /// Most I/O events one reactor wait returns (the batch capacity).
    ///
    /// # Default
    ///
    /// 1024.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` for 0.
    pub fn max_io_events_per_tick(&mut self, events: usize) -> &mut Self {
        self.max_io_events_per_tick = events;
        self
    }

    /// Starts the runtime's clock paused: time moves only through
    /// [`crate::testing::advance`], or by jumping to the next timer when the
    /// whole runtime is idle (auto-advance). For deterministic tests; works on
    /// both flavours.
    ///
    /// # Default
    ///
    /// `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap();
    /// let elapsed = rt.block_on(async {
    ///     let start = hioload::time::Instant::now();
    ///     hioload::time::sleep(Duration::from_secs(3600)).await; // returns at once
    ///     start.elapsed()
    /// });
    /// assert_eq!(elapsed, Duration::from_secs(3600));
    /// ```
    pub fn start_paused(&mut self, paused: bool) -> &mut Self {
        self.start_paused = paused;
        self
    }

    /// How late a timer may fire so that one wake-up of the runtime serves
    /// several timers.
    ///
    /// A sleeping worker wakes at the earliest deadline `d`, or at `d + slack`
    /// when another timer is due by then; every timer due at that moment fires
    /// together. A timer is therefore never early and at most `slack` late (plus
    /// the OS's wake-up latency), and a lone timer fires on time. A larger slack
    /// means fewer wake-ups (each costs a few microseconds of CPU, far more in
    /// virtual machines) when many timers are due close together; zero wakes up
    /// for every distinct deadline, however close. Busy workers fire due timers
    /// as they pass them, with no slack. A paused clock ignores it.
    ///
    /// The idea is the kernel's own timer slack (`prctl(PR_SET_TIMERSLACK)`),
    /// applied by the runtime: hioload sets the kernel's slack of its workers to
    /// 1 µs and batches here instead, where it knows which timers are pending.
    ///
    /// # Default
    ///
    /// 32 µs: with 1M timer fires per second on 2 workers (`benches/time_precision`,
    /// 16-core host) it gave lateness p50 39 µs / p99 89 µs at tokio's CPU time;
    /// 20 µs cost 18% more CPU, 50 µs moved p50 to 57 µs.
    ///
    /// # Errors
    ///
    /// `build()` fails with `InvalidInput` above one second.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Fire each timer as close to its deadline as the OS allows.
    /// let rt = hioload::Runtime::builder().timer_slack(Duration::ZERO).build().unwrap();
    /// rt.block_on(async { hioload::time::sleep(Duration::from_micros(100)).await });
    /// ```
    pub fn timer_slack(&mut self, slack: Duration) -> &mut Self {
        self.timer_slack = slack;
        self
    }

    /// Builds the runtime and starts its worker threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, naming the value, for an invalid setting; the OS error if
    /// a thread cannot be started.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let config = self.config()?;
        Runtime::from_config(config)
    }

    /// Validates the settings into an executor configuration.
    fn config(&self) -> io::Result<Config> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => self.worker_threads.unwrap_or(cpus),
        };
        check(workers >= 1, || format!("worker_threads must be at least 1 (got {workers})"))?;
        check(workers <= MAX_WORKERS, || {
            format!("worker_threads must be at most {MAX_WORKERS} (got {workers})")
        })?;
        let max_workers = match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => self
                .max_worker_threads
                .unwrap_or_else(|| cpus.max(workers).saturating_mul(4).clamp(64, MAX_WORKERS)),
        };
        check(max_workers <= MAX_WORKERS, || {
            format!("max_worker_threads must be at most {MAX_WORKERS} (got {max_workers})")
        })?;
        check(max_workers >= workers, || {
            format!(
                "max_worker_threads must be at least worker_threads ({workers}) (got {max_workers})"
            )
        })?;
        check(self.event_interval >= 1, || {
            format!("event_interval must be at least 1 (got {})", self.event_interval)
        })?;
        check(self.global_queue_interval >= 1, || {
            format!("global_queue_interval must be at least 1 (got {})", self.global_queue_interval)
        })?;
        check(self.max_io_events_per_tick >= 1, || {
            format!(
                "max_io_events_per_tick must be at least 1 (got {})",
                self.max_io_events_per_tick
            )
        })?;
        check(self.timer_slack <= MAX_TIMER_SLACK, || {
            format!("timer_slack must be at most {MAX_TIMER_SLACK:?} (got {:?})", self.timer_slack)
        })?;
        check(self.max_blocking_threads >= 1, || {
            format!("max_blocking_threads must be at least 1 (got {})", self.max_blocking_threads)
        })?;
        if self.pin_workers && self.flavor == Flavor::CurrentThread {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "pin_workers is not available on the current-thread runtime (it has no workers)",
            ));
        }
        let groups = match self.flavor {
            Flavor::CurrentThread => vec![topology::Group { cpus: vec![0] }],
            Flavor::MultiThread => {
                topology::groups(&topology::discover()?, &self.numa, self.pin_workers)?
            }
        };
        let placement = (0..max_workers)
            .map(|worker| {
                let at = topology::place(&groups, worker);
                (at.group, self.pin_workers.then_some(at.cpu))
            })
            .collect();
        Ok(Config {
            flavor: self.flavor,
            worker_threads: workers,
            max_workers,
            placement,
            num_groups: groups.len(),
            thread_name: self.thread_name.clone(),
            stack_size: self.stack_size,
            on_thread_start: self.on_thread_start.clone(),
            on_thread_stop: self.on_thread_stop.clone(),
            event_interval: self.event_interval,
            global_queue_interval: self.global_queue_interval,
            max_blocking_threads: self.max_blocking_threads,
            blocking_keep_alive: self.thread_keep_alive,
            event_capacity: self.max_io_events_per_tick,
            start_paused: self.start_paused,
            timer_slack: self.timer_slack,
        })
    }
}

/// `Ok` if `ok`, else an `InvalidInput` error with `message()`.
fn check(ok: bool, message: impl FnOnce() -> String) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, message()))
    }
}

/// `hioload-worker-0`, `hioload-worker-1`, ...
fn default_thread_name() -> Arc<dyn Fn() -> String + Send + Sync> {
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move || format!("hioload-worker-{}", next.fetch_add(1, Ordering::Relaxed)))
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new_multi_thread()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("max_worker_threads", &self.max_worker_threads)
            .field("stack_size", &self.stack_size)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .field("numa", &self.numa)
            .field("pin_workers", &self.pin_workers)
            .finish_non_exhaustive()
    }
}
