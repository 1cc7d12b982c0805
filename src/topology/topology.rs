//! [`Topology`]: the NUMA nodes this process may run on, and their CPUs.
//!
//! # Invariants
//!
//! A `Topology` has at least one node; every node has at least one CPU; no CPU
//! appears in two nodes; nodes are sorted by OS index. Discovery
//! (`discover.rs`) drops CPUs the process may not run on and nodes left empty, so
//! every CPU listed here is one a worker may be pinned to. A node's cores partition
//! its CPUs.
#![forbid(unsafe_code)]
#![allow(dead_code)] // until the executor wires placement (remove at integration)

use std::fmt;
use std::io;

use super::cpu_list::CpuList;

/// The machine as the runtime sees it: NUMA nodes and the CPUs of each that this
/// process is allowed to run on.
///
/// The runtime groups its workers by node (see [`Numa`](super::Numa)). `Display`
/// prints one line in the kernel's cpulist format; the alternate form (`{:#}`)
/// prints one node per line.
///
/// # Examples
///
/// ```
/// let topology = hioload::topology::Topology::discover()?;
/// assert!(topology.num_cpus() >= 1);
/// println!("{topology}"); // e.g. "1 NUMA node, 8 CPUs: node 0: 0-7"
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The nodes, sorted by OS index; never empty.
    nodes: Vec<Node>,
    /// Where the description came from.
    source: Source,
}

/// Where a [`Topology`] description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Linux sysfs, `/sys/devices/system/node/node*/cpulist`.
    Sysfs,
    /// No NUMA information: one node holding the CPUs the process may use.
    SingleNode,
    /// The hwloc library (cargo feature `hwloc`).
    Hwloc,
    /// A hand-made or synthetic description (tests).
    Synthetic,
}

/// One NUMA node: its OS index and the CPUs of it this process may run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The OS index of the node (`N` in `/sys/devices/system/node/nodeN`).
    id: usize,
    /// CPU ids (OS indices), sorted ascending; never empty.
    cpus: Vec<usize>,
    /// `cpus` grouped by physical core (SMT siblings together), each core
    /// ascending, cores ordered by their first CPU; one core per CPU when the
    /// source knows no cores.
    cores: Vec<Vec<usize>>,
}

impl Node {
    /// The OS index of this node (`N` in Linux's `/sys/devices/system/node/nodeN`).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The CPUs (OS indices) of this node the process may run on, ascending.
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// The node's CPUs grouped by physical core: the hardware threads (SMT
    /// siblings) of one core together, cores ordered by their first CPU.
    ///
    /// Where the source knows no cores, every CPU is its own core.
    pub fn cores(&self) -> &[Vec<usize>] {
        &self.cores
    }
}

/// The order workers take `cores`' CPUs in: the first hardware thread of every
/// core, then the second of every core, and so on, so workers get a core each
/// before any two share one.
///
/// `spread(&[[0, 4], [1, 5]])` is `[0, 1, 4, 5]`.
pub(crate) fn spread<'a>(cores: impl IntoIterator<Item = &'a Vec<usize>>) -> Vec<usize> {
    let mut ranked: Vec<(usize, usize, usize)> = cores
        .into_iter()
        .enumerate()
        .flat_map(|(core, cpus)| cpus.iter().enumerate().map(move |(rank, &cpu)| (rank, core, cpu)))
        .collect();
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, _, cpu)| cpu).collect()
}

impl Topology {
    /// Discovers the topology of this machine, as the runtime does when it starts.
    ///
    /// On Linux it reads sysfs and keeps only CPUs this process may run on
    /// (`sched_getaffinity`; e.g. under `taskset` or a cgroup cpuset); with the
    /// `hwloc` cargo feature it asks hwloc; elsewhere it reports one node with the
    /// CPUs the OS lets the process use.
    ///
    /// # Errors
    ///
    /// The I/O error of a sysfs or affinity read that failed, or `InvalidData` if
    /// what the OS reported cannot be parsed.
    pub fn discover() -> io::Result<Topology> {
        super::discover::discover()
    }

    /// Builds a topology from `(node id, CPUs)` pairs, knowing no cores (every CPU
    /// is its own core).
    ///
    /// CPUs are sorted and deduplicated; nodes are sorted by id.
    ///
    /// # Errors
    ///
    /// `InvalidData` if there is no node, a node has no CPU, two nodes share an id,
    /// or a CPU appears in two nodes.
    pub(crate) fn new(nodes: Vec<(usize, Vec<usize>)>, source: Source) -> io::Result<Topology> {
        let nodes = nodes
            .into_iter()
            .map(|(id, mut cpus)| {
                cpus.sort_unstable();
                cpus.dedup();
                (id, cpus.into_iter().map(|cpu| vec![cpu]).collect())
            })
            .collect();
        Topology::with_cores(nodes, source)
    }

    /// Builds a topology from `(node id, cores)` pairs, each core a list of CPUs
    /// (SMT siblings), as discovery found them.
    ///
    /// Cores and CPUs are sorted, duplicates within a core and empty cores
    /// dropped; nodes are sorted by id.
    ///
    /// # Errors
    ///
    /// As [`Topology::new`], and `InvalidData` if two cores share a CPU.
    pub(crate) fn with_cores(
        nodes: Vec<(usize, Vec<Vec<usize>>)>,
        source: Source,
    ) -> io::Result<Topology> {
        let mut nodes: Vec<Node> = nodes.into_iter().map(|(id, cores)| node(id, cores)).collect();
        nodes.sort_by_key(|node| node.id);
        check(&nodes)?;
        Ok(Topology { nodes, source })
    }

    /// The NUMA nodes, sorted by OS index; never empty.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All CPUs of all nodes, sorted ascending.
    pub fn cpus(&self) -> Vec<usize> {
        let mut cpus: Vec<usize> = self.nodes.iter().flat_map(|n| n.cpus.iter().copied()).collect();
        cpus.sort_unstable();
        cpus
    }

    /// The number of CPUs this process may run on (at least 1).
    pub fn num_cpus(&self) -> usize {
        self.nodes.iter().map(|n| n.cpus.len()).sum()
    }

    /// Whether `cpu` is one of this topology's CPUs.
    pub fn contains(&self, cpu: usize) -> bool {
        self.nodes.iter().any(|n| n.cpus.binary_search(&cpu).is_ok())
    }

    /// Where this description came from.
    pub(crate) fn source(&self) -> Source {
        self.source
    }
}

/// A node with normalized cores: each sorted and deduplicated, none empty,
/// ordered by first CPU.
fn node(id: usize, mut cores: Vec<Vec<usize>>) -> Node {
    for core in &mut cores {
        core.sort_unstable();
        core.dedup();
    }
    cores.retain(|core| !core.is_empty());
    cores.sort_unstable();
    let mut cpus: Vec<usize> = cores.iter().flatten().copied().collect();
    cpus.sort_unstable();
    Node { id, cpus, cores }
}

/// Checks the type invariants, naming the offending node or CPU.
fn check(nodes: &[Node]) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidData, msg));
    if nodes.is_empty() {
        return invalid("topology has no NUMA node".into());
    }
    for (i, node) in nodes.iter().enumerate() {
        if node.cpus.is_empty() {
            return invalid(format!("NUMA node {} has no CPU", node.id));
        }
        if let Some(pair) = node.cpus.windows(2).find(|pair| pair[0] == pair[1]) {
            return invalid(format!("CPU {} is in two cores of NUMA node {}", pair[0], node.id));
        }
        for other in &nodes[..i] {
            if other.id == node.id {
                return invalid(format!("NUMA node {} is listed twice", node.id));
            }
            if let Some(cpu) = node.cpus.iter().find(|c| other.cpus.binary_search(c).is_ok()) {
                return invalid(format!(
                    "CPU {cpu} is in both NUMA node {} and NUMA node {}",
                    other.id, node.id
                ));
            }
        }
    }
    Ok(())
}

impl fmt::Display for Topology {
    /// `2 NUMA nodes, 8 CPUs: node 0: 0-3; node 1: 4-7`, or with `{:#}` one node
    /// per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes.len();
        let cpus = self.num_cpus();
        write!(f, "{nodes} NUMA node{}, {cpus} CPU{}", plural(nodes), plural(cpus))?;
        let (first, between) = if f.alternate() { ("\n  ", "\n  ") } else { (": ", "; ") };
        for (i, node) in self.nodes.iter().enumerate() {
            f.write_str(if i == 0 { first } else { between })?;
            write!(f, "{node}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Node {
    /// `node 1: 4-7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}: {}", self.id, CpuList(&self.cpus))
    }
}

/// `"s"` unless `n` is 1.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> Topology {
        Topology::new(vec![(1, vec![7, 4, 5, 6]), (0, vec![0, 1, 2, 3])], Source::Synthetic)
            .unwrap()
    }

    #[test]
    fn sorts_nodes_and_cpus() {
        let t = two_nodes();
        assert_eq!(t.nodes()[0].id(), 0);
        assert_eq!(t.nodes()[1].cpus(), &[4, 5, 6, 7]);
        assert_eq!(t.cpus(), (0..8).collect::<Vec<_>>());
        assert_eq!(t.num_cpus(), 8);
        assert!(t.contains(5) && !t.contains(8));
    }

    #[test]
    fn cores_group_siblings_and_spread_takes_one_thread_per_core_first() {
        let t = Topology::with_cores(
            vec![(0, vec![vec![5, 1], vec![0, 4], vec![]]), (1, vec![vec![2, 6, 2]])],
            Source::Synthetic,
        )
        .unwrap();
        let node0 = &t.nodes()[0];
        assert_eq!(node0.cpus(), &[0, 1, 4, 5]);
        assert_eq!(node0.cores(), &[vec![0, 4], vec![1, 5]]);
        assert_eq!(spread(node0.cores()), vec![0, 1, 4, 5]);
        assert_eq!(t.nodes()[1].cores(), &[vec![2, 6]]);
        // Adjacent sibling numbering (0,1 share a core) still spreads over cores.
        assert_eq!(spread(&[vec![0, 1], vec![2, 3], vec![4]]), vec![0, 2, 4, 1, 3]);
    }

    #[test]
    fn without_core_information_every_cpu_is_a_core() {
        let t = two_nodes();
        assert_eq!(t.nodes()[0].cores(), &[vec![0], vec![1], vec![2], vec![3]]);
        assert_eq!(spread(t.nodes()[0].cores()), vec![0, 1, 2, 3]);
    }

    #[test]
    fn display_one_line_and_alternate() {
        let t = two_nodes();
        assert_eq!(t.to_string(), "2 NUMA nodes, 8 CPUs: node 0: 0-3; node 1: 4-7");
        assert_eq!(format!("{t:#}"), "2 NUMA nodes, 8 CPUs\n  node 0: 0-3\n  node 1: 4-7");
        let one = Topology::new(vec![(0, vec![3])], Source::SingleNode).unwrap();
        assert_eq!(one.to_string(), "1 NUMA node, 1 CPU: node 0: 3");
    }

    #[test]
    fn rejects_broken_descriptions() {
        let err = |nodes| Topology::new(nodes, Source::Synthetic).unwrap_err().to_string();
        assert_eq!(err(vec![]), "topology has no NUMA node");
        assert_eq!(err(vec![(0, vec![0]), (2, vec![])]), "NUMA node 2 has no CPU");
        assert_eq!(err(vec![(0, vec![0]), (0, vec![1])]), "NUMA node 0 is listed twice");
        assert_eq!(
            err(vec![(0, vec![0, 1]), (1, vec![1, 2])]),
            "CPU 1 is in both NUMA node 0 and NUMA node 1"
        );
        let two_cores = Topology::with_cores(vec![(3, vec![vec![0, 1], vec![1]])], Source::Sysfs);
        assert_eq!(two_cores.unwrap_err().to_string(), "CPU 1 is in two cores of NUMA node 3");
    }
}
