//! Topology discovery: what NUMA nodes and CPUs this process may use.
//!
//! The only file that names hwloc. The sources, in the order [`discover`] tries
//! them:
//!
//! 1. with the `hwloc` cargo feature (not on Windows): hwloc's NUMA nodes, each
//!    restricted to hwloc's allowed cpuset and, on Linux, to the process's
//!    `sched_getaffinity` mask; CPUs grouped into cores by hwloc's Core objects;
//! 2. on Linux: sysfs, `<root>/devices/system/node/node<N>/cpulist`, each node
//!    restricted to the process's `sched_getaffinity` mask; nodes left without CPUs
//!    are dropped; without a node directory (some containers) or with no node left,
//!    one node with the allowed CPUs; CPUs are grouped into cores by
//!    `<root>/devices/system/cpu/cpu<N>/topology/thread_siblings_list`;
//! 3. elsewhere: one node with `core_affinity::get_core_ids()` (the process
//!    affinity mask on Windows), or `0..available_parallelism()` if even that is
//!    unknown.
//!
//! The sysfs reader takes the root directory and the allowed CPUs as arguments,
//! so tests run it on a fake tree.
#![forbid(unsafe_code)]
#![allow(dead_code)] // until the executor wires placement (remove at integration)

use std::io;
#[cfg(any(test, target_os = "linux"))]
use std::path::Path;

#[cfg(any(test, target_os = "linux"))]
use super::cpu_list;
use super::topology::{Source, Topology};

/// Discovers the topology of this machine (see the module docs for the sources).
///
/// # Errors
///
/// An I/O error from sysfs, `sched_getaffinity` or hwloc, with what was being read.
pub(crate) fn discover() -> io::Result<Topology> {
    #[cfg(all(feature = "hwloc", not(windows)))]
    {
        hwloc::discover()
    }
    #[cfg(all(not(all(feature = "hwloc", not(windows))), target_os = "linux"))]
    {
        let allowed = crate::sys::process_affinity()?;
        from_sysfs(Path::new("/sys"), &allowed)
    }
    #[cfg(all(not(all(feature = "hwloc", not(windows))), not(target_os = "linux")))]
    {
        single_node(affinity_fallback()?)
    }
}

/// One node (id 0) holding `cpus`.
///
/// # Errors
///
/// `InvalidData` if `cpus` is empty.
fn single_node(cpus: Vec<usize>) -> io::Result<Topology> {
    if cpus.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the OS reports no CPU this process may run on",
        ));
    }
    Topology::new(vec![(0, cpus)], Source::SingleNode)
}

/// The CPUs `core_affinity` reports, or `0..available_parallelism()`.
#[cfg(not(target_os = "linux"))]
fn affinity_fallback() -> io::Result<Vec<usize>> {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => Ok(ids.into_iter().map(|id| id.id).collect()),
        _ => Ok((0..std::thread::available_parallelism()?.get()).collect()),
    }
}

/// Reads NUMA nodes from a sysfs tree rooted at `root` (normally `/sys`), keeping
/// only `allowed` CPUs; see the module docs for the fallbacks.
///
/// # Errors
///
/// The I/O error (with the path) of a directory or `cpulist` that exists but cannot
/// be read; `InvalidData` for a `cpulist` that does not parse, or if `allowed` is
/// empty.
#[cfg(any(test, target_os = "linux"))]
fn from_sysfs(root: &Path, allowed: &[usize]) -> io::Result<Topology> {
    if allowed.is_empty() {
        return single_node(Vec::new());
    }
    let nodes = read_sysfs_nodes(&root.join("devices/system/node"))?.unwrap_or_default();
    let nodes = claim_cpus(nodes, Some(allowed));
    let (nodes, source) = match nodes.is_empty() {
        true => (vec![(0, allowed.to_vec())], Source::SingleNode),
        false => (nodes, Source::Sysfs),
    };
    let cpu_dir = root.join("devices/system/cpu");
    let nodes = nodes
        .into_iter()
        .map(|(id, cpus)| Ok((id, read_sysfs_cores(&cpu_dir, &cpus)?)))
        .collect::<io::Result<_>>()?;
    Topology::with_cores(nodes, source)
}

/// Groups `cpus` by physical core, from each CPU's
/// `<cpu_dir>/cpu<N>/topology/thread_siblings_list`; a CPU without that file is
/// its own core.
#[cfg(any(test, target_os = "linux"))]
fn read_sysfs_cores(cpu_dir: &Path, cpus: &[usize]) -> io::Result<Vec<Vec<usize>>> {
    // (first sibling, cpu): the first sibling names the core.
    let mut keyed = Vec::with_capacity(cpus.len());
    for &cpu in cpus {
        let path = cpu_dir.join(format!("cpu{cpu}/topology/thread_siblings_list"));
        let first = match std::fs::read_to_string(&path) {
            Ok(text) => cpu_list::parse(&text).map_err(|e| with_path(e, &path))?.first().copied(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(with_path(e, &path)),
        };
        keyed.push((first.unwrap_or(cpu), cpu));
    }
    Ok(group_by_core(keyed))
}

/// Gives each CPU to one node: the lowest-numbered node listing it, if `allowed`
/// (when given) holds it; drops nodes left without CPUs. Nodes come back sorted by
/// id.
///
/// Sysfs never lists a CPU twice, but hwloc gives a CPU-less memory node (HBM,
/// CXL) the cpuset of the CPUs near it, which another node already holds.
#[cfg(any(test, target_os = "linux", feature = "hwloc"))]
fn claim_cpus(mut nodes: Vec<NodeCpus>, allowed: Option<&[usize]>) -> Vec<NodeCpus> {
    nodes.sort_by_key(|(id, _)| *id);
    let mut claimed = std::collections::HashSet::new();
    for (_, cpus) in &mut nodes {
        let is_allowed = |cpu: &usize| allowed.is_none_or(|allowed| allowed.contains(cpu));
        cpus.retain(|cpu| is_allowed(cpu) && claimed.insert(*cpu));
    }
    nodes.retain(|(_, cpus)| !cpus.is_empty());
    nodes
}

/// Groups `(core, cpu)` pairs into cores (CPUs sharing `core`), cores ordered by
/// `core`.
#[cfg(any(test, target_os = "linux", feature = "hwloc"))]
fn group_by_core(mut keyed: Vec<(usize, usize)>) -> Vec<Vec<usize>> {
    keyed.sort_unstable();
    let mut cores: Vec<(usize, Vec<usize>)> = Vec::new();
    for (key, cpu) in keyed {
        match cores.last_mut() {
            Some((last, core)) if *last == key => core.push(cpu),
            _ => cores.push((key, vec![cpu])),
        }
    }
    cores.into_iter().map(|(_, core)| core).collect()
}

/// A node as read from the OS: its id and its CPUs.
#[cfg(any(test, target_os = "linux", feature = "hwloc"))]
type NodeCpus = (usize, Vec<usize>);

/// `(id, cpus)` of every `node<N>` directory under `dir`, or `None` if `dir` does
/// not exist or holds no node.
#[cfg(any(test, target_os = "linux"))]
fn read_sysfs_nodes(dir: &Path) -> io::Result<Option<Vec<NodeCpus>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(with_path(e, dir)),
    };
    let mut nodes = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| with_path(e, dir))?;
        // Skip `online`, `possible`, `has_cpu`, ... : only `node<N>` are nodes.
        let Some(id) = entry.file_name().to_str().and_then(node_id) else { continue };
        let path = entry.path().join("cpulist");
        let text = std::fs::read_to_string(&path).map_err(|e| with_path(e, &path))?;
        nodes.push((id, cpu_list::parse(&text).map_err(|e| with_path(e, &path))?));
    }
    Ok((!nodes.is_empty()).then_some(nodes))
}

/// `Some(N)` for a directory name `node<N>`.
#[cfg(any(test, target_os = "linux"))]
fn node_id(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("node")?;
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
}

/// `error`, with `path` added to its message.
#[cfg(any(test, target_os = "linux"))]
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// hwloc discovery (cargo feature `hwloc`; hwloc is not built on Windows).
#[cfg(all(feature = "hwloc", not(windows)))]
mod hwloc {
    use std::collections::HashMap;
    use std::io;

    use hwlocality::object::types::ObjectType;

    use super::{claim_cpus, group_by_core, NodeCpus, Source, Topology};

    /// The machine's topology from hwloc, restricted to what the process may use.
    pub(super) fn discover() -> io::Result<Topology> {
        let hw = hwlocality::Topology::new().map_err(|e| error("hwloc discovery failed", e))?;
        #[cfg(target_os = "linux")]
        let allowed = Some(crate::sys::process_affinity()?);
        #[cfg(not(target_os = "linux"))]
        let allowed = None;
        from_hwloc(&hw, allowed.as_deref(), Source::Hwloc)
    }

    /// A topology from an hwloc synthetic description such as
    /// `"node:2 core:4 pu:1"`, for tests: no CPU is filtered out.
    pub(super) fn synthetic(description: &str) -> io::Result<Topology> {
        let invalid = |e| {
            let msg = format!("hwloc synthetic topology {description:?}: {e}");
            io::Error::new(io::ErrorKind::InvalidInput, msg)
        };
        let builder =
            hwlocality::Topology::builder().from_synthetic(description).map_err(invalid)?;
        let hw = builder.build().map_err(|e| error("hwloc synthetic build failed", e))?;
        from_hwloc(&hw, None, Source::Synthetic)
    }

    /// NUMA nodes of `hw` with their allowed PUs (also in `allowed`, if given).
    fn from_hwloc(
        hw: &hwlocality::Topology,
        allowed: Option<&[usize]>,
        source: Source,
    ) -> io::Result<Topology> {
        let hw_allowed = hw.allowed_cpuset();
        let mut nodes: Vec<NodeCpus> = Vec::new();
        for (i, node) in hw.objects_with_type(ObjectType::NUMANode).enumerate() {
            let Some(cpuset) = node.cpuset() else { continue };
            let cpus = cpuset.iter_set().filter(|&pu| hw_allowed.is_set(pu)).map(usize::from);
            nodes.push((node.os_index().unwrap_or(i), cpus.collect()));
        }
        let core_of = core_of_pu(hw);
        let nodes: Vec<_> = claim_cpus(nodes, allowed)
            .into_iter()
            .map(|(id, cpus)| {
                let keyed = cpus.into_iter().map(|cpu| (*core_of.get(&cpu).unwrap_or(&cpu), cpu));
                (id, group_by_core(keyed.collect()))
            })
            .collect();
        if nodes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "hwloc reports no NUMA node with a CPU this process may run on",
            ));
        }
        Topology::with_cores(nodes, source)
    }

    /// Maps each PU (CPU id) to the first PU of its core; PUs outside any core
    /// object are missing.
    fn core_of_pu(hw: &hwlocality::Topology) -> HashMap<usize, usize> {
        let mut core_of = HashMap::new();
        for core in hw.objects_with_type(ObjectType::Core) {
            let Some(cpuset) = core.cpuset() else { continue };
            let Some(first) = cpuset.first_set().map(usize::from) else { continue };
            core_of.extend(cpuset.iter_set().map(|pu| (usize::from(pu), first)));
        }
        core_of
    }

    /// An `io::Error` with `what` and hwloc's error.
    fn error(what: &str, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("{what}: {e}"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn nodes(t: &Topology) -> Vec<(usize, Vec<usize>)> {
            t.nodes().iter().map(|n| (n.id(), n.cpus().to_vec())).collect()
        }

        #[test]
        fn synthetic_two_nodes() {
            let t = synthetic("node:2 core:4 pu:1").unwrap();
            assert_eq!(nodes(&t), vec![(0, vec![0, 1, 2, 3]), (1, vec![4, 5, 6, 7])]);
            assert_eq!(t.to_string(), "2 NUMA nodes, 8 CPUs: node 0: 0-3; node 1: 4-7");
        }

        #[test]
        fn synthetic_four_nodes_with_smt() {
            let t = synthetic("pack:2 node:2 core:2 pu:2").unwrap();
            assert_eq!(t.nodes().len(), 4);
            assert_eq!(t.num_cpus(), 16);
            assert!(t.nodes().iter().all(|n| n.cpus().len() == 4));
            // Synthetic PUs are numbered depth-first: PUs 0,1 share core 0.
            assert_eq!(t.nodes()[0].cores(), &[vec![0, 1], vec![2, 3]]);
        }

        #[test]
        fn synthetic_uneven_smt_feeds_placement() {
            use crate::topology::{groups, place, Numa};
            let t = synthetic("node:2 core:2 pu:2").unwrap();
            let g = groups(&t, &Numa::Auto, false).unwrap();
            // One thread per core first within each node.
            assert_eq!(g[0].cpus, vec![0, 2, 1, 3]);
            let first: Vec<_> = (0..4).map(|w| (place(&g, w).group, place(&g, w).cpu)).collect();
            assert_eq!(first, vec![(0, 0), (1, 4), (0, 2), (1, 6)]);
        }

        #[test]
        fn synthetic_one_node() {
            let t = synthetic("core:2 pu:2").unwrap();
            assert_eq!(nodes(&t), vec![(0, vec![0, 1, 2, 3])]);
        }

        #[test]
        fn memory_side_nodes_do_not_claim_cpus_twice() {
            // Each package has two NUMA nodes (e.g. DRAM + HBM) sharing its CPUs.
            let t = synthetic("pack:2 [numa] [numa] core:2 pu:1").unwrap();
            assert_eq!(nodes(&t), vec![(0, vec![0, 1]), (2, vec![2, 3])]);
        }

        #[test]
        fn bad_synthetic_description_names_it() {
            let err = synthetic("node:two").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("node:two"), "{err}");
        }

        #[test]
        fn real_machine_matches_process_affinity() {
            let t = discover().unwrap();
            #[cfg(target_os = "linux")]
            assert_eq!(t.cpus(), crate::sys::process_affinity().unwrap());
            assert!(t.num_cpus() >= 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    /// A fake sysfs root under the OS temp dir, removed on drop.
    struct FakeSysfs(PathBuf);

    impl FakeSysfs {
        /// A root with `node<N>/cpulist` for each `(N, cpulist)` and `extra` files.
        fn new(name: &str, nodes: &[(usize, &str)], extra: &[&str]) -> FakeSysfs {
            Self::with_siblings(name, nodes, extra, &[])
        }

        /// As `new`, plus `cpu<N>/topology/thread_siblings_list` for each
        /// `(N, siblings)`.
        fn with_siblings(
            name: &str,
            nodes: &[(usize, &str)],
            extra: &[&str],
            siblings: &[(usize, &str)],
        ) -> FakeSysfs {
            let root =
                std::env::temp_dir().join(format!("hioload-sysfs-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let dir = root.join("devices/system/node");
            fs::create_dir_all(&dir).unwrap();
            for (id, list) in nodes {
                fs::create_dir_all(dir.join(format!("node{id}"))).unwrap();
                fs::write(dir.join(format!("node{id}/cpulist")), list).unwrap();
            }
            for file in extra {
                fs::write(dir.join(file), "0-1\n").unwrap();
            }
            for (cpu, list) in siblings {
                let topology = root.join(format!("devices/system/cpu/cpu{cpu}/topology"));
                fs::create_dir_all(&topology).unwrap();
                fs::write(topology.join("thread_siblings_list"), list).unwrap();
            }
            FakeSysfs(root)
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn nodes(t: &Topology) -> Vec<(usize, Vec<usize>)> {
        t.nodes().iter().map(|n| (n.id(), n.cpus().to_vec())).collect()
    }

    #[test]
    fn reads_nodes_and_ignores_other_files() {
        let fake = FakeSysfs::new("two", &[(1, "4-7\n"), (0, "0-3\n")], &["online", "possible"]);
        let t = from_sysfs(&fake.0, &(0..8).collect::<Vec<_>>()).unwrap();
        assert_eq!(nodes(&t), vec![(0, vec![0, 1, 2, 3]), (1, vec![4, 5, 6, 7])]);
        assert_eq!(t.source(), Source::Sysfs);
    }

    fn cores(t: &Topology) -> Vec<Vec<Vec<usize>>> {
        t.nodes().iter().map(|n| n.cores().to_vec()).collect()
    }

    #[test]
    fn reads_smt_siblings_into_cores() {
        // Adjacent numbering: CPUs 0,1 share a core, 2,3 share a core; CPU 4 has no
        // topology dir.
        let siblings = [(0, "0-1\n"), (1, "0-1\n"), (2, "2-3\n"), (3, "2-3\n")];
        let fake = FakeSysfs::with_siblings("smt", &[(0, "0-4")], &[], &siblings);
        let t = from_sysfs(&fake.0, &[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(cores(&t), vec![vec![vec![0, 1], vec![2, 3], vec![4]]]);
        // A disallowed sibling leaves its core with one thread.
        let t = from_sysfs(&fake.0, &[0, 2, 3]).unwrap();
        assert_eq!(cores(&t), vec![vec![vec![0], vec![2, 3]]]);
    }

    #[test]
    fn reads_cores_without_node_dir() {
        let fake = FakeSysfs::with_siblings("nonode", &[], &[], &[(0, "0,2"), (2, "0,2")]);
        fs::remove_dir_all(fake.0.join("devices/system/node")).unwrap();
        let t = from_sysfs(&fake.0, &[0, 1, 2]).unwrap();
        assert_eq!(t.source(), Source::SingleNode);
        assert_eq!(cores(&t), vec![vec![vec![0, 2], vec![1]]]);
    }

    #[test]
    fn drops_disallowed_cpus_and_empty_nodes() {
        let fake = FakeSysfs::new("taskset", &[(0, "0-3"), (1, "4-7"), (2, "8-11")], &[]);
        let t = from_sysfs(&fake.0, &[1, 2, 8]).unwrap();
        assert_eq!(nodes(&t), vec![(0, vec![1, 2]), (2, vec![8])]);
    }

    #[test]
    fn overlapping_nodes_give_each_cpu_to_the_lowest_node() {
        let nodes = vec![(1, vec![0, 1, 2, 3]), (0, vec![0, 1]), (2, vec![3])];
        assert_eq!(claim_cpus(nodes, None), vec![(0, vec![0, 1]), (1, vec![2, 3])]);
        let nodes = vec![(0, vec![0, 1]), (1, vec![2, 3])];
        assert_eq!(claim_cpus(nodes, Some(&[1, 3])), vec![(0, vec![1]), (1, vec![3])]);
    }

    #[test]
    fn memory_only_node_is_dropped() {
        let fake = FakeSysfs::new("memonly", &[(0, "0-1\n"), (1, "\n")], &[]);
        let t = from_sysfs(&fake.0, &[0, 1]).unwrap();
        assert_eq!(nodes(&t), vec![(0, vec![0, 1])]);
    }

    #[test]
    fn no_node_dir_gives_one_node_of_allowed_cpus() {
        let root = std::env::temp_dir().join("hioload-sysfs-does-not-exist");
        let t = from_sysfs(&root, &[0, 2, 3]).unwrap();
        assert_eq!(nodes(&t), vec![(0, vec![0, 2, 3])]);
        assert_eq!(t.source(), Source::SingleNode);
    }

    #[test]
    fn nodes_without_allowed_cpus_fall_back_to_one_node() {
        let fake = FakeSysfs::new("disjoint", &[(0, "0-1")], &[]);
        let t = from_sysfs(&fake.0, &[5]).unwrap();
        assert_eq!(nodes(&t), vec![(0, vec![5])]);
    }

    #[test]
    fn bad_cpulist_names_the_file() {
        let fake = FakeSysfs::new("bad", &[(0, "0-x")], &[]);
        let err = from_sysfs(&fake.0, &[0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let path = std::path::Path::new("node0").join("cpulist");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn no_allowed_cpu_is_an_error() {
        assert_eq!(single_node(vec![]).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn node_dir_names() {
        assert_eq!(node_id("node0"), Some(0));
        assert_eq!(node_id("node12"), Some(12));
        assert_eq!(node_id("node"), None);
        assert_eq!(node_id("node-1"), None);
        assert_eq!(node_id("online"), None);
    }

    #[test]
    fn discovers_this_machine() {
        let t = discover().unwrap();
        assert!(t.num_cpus() >= 1);
        #[cfg(target_os = "linux")]
        assert_eq!(t.cpus(), crate::sys::process_affinity().unwrap());
    }
}
