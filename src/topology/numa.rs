//! [`Numa`]: the `Builder::numa(..)` knob, and [`groups`], which turns it and a
//! [`Topology`] into the worker groups the executor places workers on.
//!
//! # Invariants
//!
//! `groups` returns at least one group, no empty group, no CPU twice; with pinning
//! on, every CPU is one of the topology's (one the process may run on).
#![forbid(unsafe_code)]
#![allow(dead_code)] // until the executor wires placement (remove at integration)

use std::io;

use super::cpu_list::CpuList;
use super::placement::Group;
use super::topology::spread;
use super::Topology;

/// How the runtime groups its workers: by NUMA node, all together, or as listed.
///
/// Workers of one group share a task injector and steal from each other before
/// they steal from other groups; with `Builder::pin_workers(true)` each worker is
/// pinned to one CPU of its group. Workers are dealt to groups in proportion to
/// each group's CPU count (see `place` in `topology/placement.rs`).
///
/// # Default
///
/// [`Numa::Auto`].
///
/// # Examples
///
/// Simulate two NUMA nodes of one CPU each, e.g. in a test on a 2-core machine:
///
/// ```
/// use hioload::topology::Numa;
///
/// let numa = Numa::Groups(vec![vec![0], vec![1]]);
/// assert_ne!(numa, Numa::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Numa {
    /// One group per NUMA node of the discovered [`Topology`].
    #[default]
    Auto,
    /// One group holding every CPU the process may run on: NUMA is ignored.
    Off,
    /// The listed CPU groups (CPU ids as the OS numbers them), in this order.
    ///
    /// Groups must be non-empty and no CPU may appear twice. With pinning on, every
    /// CPU must be one the process may run on; without pinning, the ids only label
    /// the groups, so any ids may be used to simulate nodes.
    Groups(Vec<Vec<usize>>),
}

/// Resolves `policy` against `topology` into worker groups.
///
/// Automatic groups list their CPUs one hardware thread per core first (see
/// `Node::cores`), so workers get a core each before any two share one; listed
/// groups keep the user's order.
///
/// `pin` says whether workers will be pinned; only then must listed CPUs be ones the
/// process may run on.
///
/// # Errors
///
/// `InvalidInput`, naming the bad value, if `Numa::Groups` lists no group, an empty
/// group, a CPU twice, or (with `pin`) a CPU outside `topology`.
pub(crate) fn groups(topology: &Topology, policy: &Numa, pin: bool) -> io::Result<Vec<Group>> {
    match policy {
        Numa::Auto => {
            Ok(topology.nodes().iter().map(|node| Group { cpus: spread(node.cores()) }).collect())
        }
        Numa::Off => {
            let mut cores: Vec<&Vec<usize>> =
                topology.nodes().iter().flat_map(|n| n.cores()).collect();
            cores.sort_unstable();
            Ok(vec![Group { cpus: spread(cores) }])
        }
        Numa::Groups(listed) => {
            check_listed(listed)?;
            if pin {
                check_allowed(listed, topology)?;
            }
            Ok(listed.iter().map(|cpus| Group { cpus: cpus.clone() }).collect())
        }
    }
}

/// Checks `Numa::Groups` on its own: some group, no empty group, no CPU twice.
fn check_listed(listed: &[Vec<usize>]) -> io::Result<()> {
    if listed.is_empty() {
        return invalid("numa: Numa::Groups lists no group (got [])".into());
    }
    let mut seen = std::collections::HashMap::new();
    for (g, cpus) in listed.iter().enumerate() {
        if cpus.is_empty() {
            return invalid(format!("numa: group {g} is empty (got {listed:?})"));
        }
        for &cpu in cpus {
            if let Some(first) = seen.insert(cpu, g) {
                return invalid(format!(
                    "numa: CPU {cpu} is listed twice (in group {first} and group {g})"
                ));
            }
        }
    }
    Ok(())
}

/// Checks that every listed CPU is one the process may run on.
fn check_allowed(listed: &[Vec<usize>], topology: &Topology) -> io::Result<()> {
    for (g, cpus) in listed.iter().enumerate() {
        if let Some(cpu) = cpus.iter().find(|&&cpu| !topology.contains(cpu)) {
            return invalid(format!(
                "numa: group {g} lists CPU {cpu}, which this process may not run on \
                 (allowed CPUs: {}); pinning needs allowed CPUs",
                CpuList(&topology.cpus())
            ));
        }
    }
    Ok(())
}

/// An `InvalidInput` error with `msg`.
fn invalid<T>(msg: String) -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::InvalidInput, msg))
}

#[cfg(test)]
mod tests {
    use super::super::topology::Source;
    use super::*;

    fn topology() -> Topology {
        Topology::new(vec![(0, vec![0, 1, 2, 3]), (1, vec![4, 5])], Source::Synthetic).unwrap()
    }

    fn cpus(groups: &[Group]) -> Vec<Vec<usize>> {
        groups.iter().map(|g| g.cpus.clone()).collect()
    }

    #[test]
    fn auto_is_one_group_per_node() {
        let got = groups(&topology(), &Numa::Auto, true).unwrap();
        assert_eq!(cpus(&got), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn off_is_one_group_of_all_cpus() {
        let got = groups(&topology(), &Numa::Off, true).unwrap();
        assert_eq!(cpus(&got), vec![vec![0, 1, 2, 3, 4, 5]]);
    }

    #[test]
    fn auto_and_off_take_one_thread_per_core_first() {
        let smt = Topology::with_cores(
            vec![(0, vec![vec![0, 1], vec![2, 3]]), (1, vec![vec![4, 5]])],
            Source::Synthetic,
        )
        .unwrap();
        let auto = groups(&smt, &Numa::Auto, true).unwrap();
        assert_eq!(cpus(&auto), vec![vec![0, 2, 1, 3], vec![4, 5]]);
        let off = groups(&smt, &Numa::Off, true).unwrap();
        assert_eq!(cpus(&off), vec![vec![0, 2, 4, 1, 3, 5]]);
    }

    #[test]
    fn listed_groups_keep_their_order() {
        let policy = Numa::Groups(vec![vec![5, 1], vec![0]]);
        let got = groups(&topology(), &policy, true).unwrap();
        assert_eq!(cpus(&got), vec![vec![5, 1], vec![0]]);
    }

    #[test]
    fn listed_groups_may_name_any_cpu_without_pinning() {
        let policy = Numa::Groups(vec![vec![0], vec![99]]);
        assert!(groups(&topology(), &policy, false).is_ok());
    }

    fn error(policy: Numa, pin: bool) -> String {
        let err = groups(&topology(), &policy, pin).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        err.to_string()
    }

    #[test]
    fn errors_name_the_bad_value() {
        assert_eq!(
            error(Numa::Groups(vec![]), false),
            "numa: Numa::Groups lists no group (got [])"
        );
        assert_eq!(
            error(Numa::Groups(vec![vec![0], vec![]]), false),
            "numa: group 1 is empty (got [[0], []])"
        );
        assert_eq!(
            error(Numa::Groups(vec![vec![0, 1], vec![2, 1]]), false),
            "numa: CPU 1 is listed twice (in group 0 and group 1)"
        );
        assert_eq!(
            error(Numa::Groups(vec![vec![0], vec![1, 9]]), true),
            "numa: group 1 lists CPU 9, which this process may not run on \
             (allowed CPUs: 0-5); pinning needs allowed CPUs"
        );
    }
}
