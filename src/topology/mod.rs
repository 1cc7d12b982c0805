//! Topology: NUMA nodes and their CPUs, worker placement, and CPU pinning.
//!
//! What the runtime asks of this layer, in the order `Builder::build` and a
//! starting worker use it (crate-internal interface):
//!
//! 1. `discover() -> io::Result<Topology>`: the nodes and the CPUs of each this
//!    process may run on (sysfs + `sched_getaffinity` on Linux, hwloc with the
//!    `hwloc` cargo feature, one node elsewhere). See `discover.rs`.
//! 2. `groups(&Topology, &Numa, pin: bool) -> io::Result<Vec<Group>>`: the
//!    [`Numa`] knob resolved into worker groups (`Group { cpus: Vec<usize> }`), or
//!    an `InvalidInput` error naming the bad value, for `build()` to return.
//!    Automatic groups order their CPUs one hardware thread per core first (see
//!    [`Node::cores`]), so workers get a core each before two share one.
//! 3. `place(&[Group], worker: usize) -> Placement`: a pure function giving worker
//!    `worker` its group and CPU (`Placement { group, cpu }`). Worker `i`'s
//!    placement never depends on the pool size, so `Runtime::resize` never moves a
//!    running worker; every prefix of workers is spread over the groups in
//!    proportion to their CPU counts; beyond the CPU count it wraps around.
//! 4. [`pin_current_thread(cpu)`](pin_current_thread): called by the worker thread
//!    itself when pinning is on; an error, never a silent no-op, when it cannot.
//!
//! Public: [`Topology`] and [`Node`] (to log or show the machine), [`Numa`] (the
//! `Builder::numa` knob), [`pin_current_thread`] and [`current_thread_affinity`]
//! (for threads of your own, and for tests that check pinned workers).
//!
//! # Invariants
//!
//! A `Topology` lists at least one node, every node at least one CPU, no CPU twice,
//! and only CPUs the process may run on. Groups from `groups` are non-empty and
//! disjoint.

mod cpu_list;
mod discover;
mod numa;
mod pin;
mod placement;
#[allow(clippy::module_inception)] // one file per noun, named for the type it defines
mod topology;

pub(crate) use discover::discover;
pub(crate) use numa::groups;
pub use numa::Numa;
pub use pin::{current_thread_affinity, pin_current_thread};
pub(crate) use placement::{place, Group};
pub use topology::{Node, Topology};
