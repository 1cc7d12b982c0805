//! The Linux cpulist format (`0-3,8-11`): parsing and printing CPU lists.
//!
//! Sysfs writes every CPU set in this format (`/sys/devices/system/node/node0/cpulist`),
//! and [`Topology`](super::Topology)'s `Display` prints node CPUs the same way, so a
//! log line reads like the kernel's own view.
//!
//! # Invariants
//!
//! [`parse`] returns CPU ids sorted ascending without duplicates; [`CpuList`] prints
//! any slice, but collapses runs only where ids ascend by one.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// Parses a cpulist such as `"0-3,8-11"` (whitespace around it is ignored, an empty
/// list is valid) into sorted, deduplicated CPU ids.
///
/// # Errors
///
/// `ErrorKind::InvalidData` naming the token that is not `N` or `N-M` with `N <= M`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // sysfs is read on Linux only
pub(crate) fn parse(list: &str) -> io::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for token in list.trim().split(',').filter(|t| !t.trim().is_empty()) {
        let (first, last) = parse_range(token.trim()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad CPU list {list:?}: {token:?} is not `N` or `N-M` with N <= M"),
            )
        })?;
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Parses one token, `N` or `N-M`; `None` if it is neither or `N > M`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // sysfs is read on Linux only
fn parse_range(token: &str) -> Option<(usize, usize)> {
    let (first, last) = match token.split_once('-') {
        Some((first, last)) => (first.trim().parse().ok()?, last.trim().parse().ok()?),
        None => {
            let cpu = token.parse().ok()?;
            (cpu, cpu)
        }
    };
    (first <= last).then_some((first, last))
}

/// Prints a slice of CPU ids in cpulist format: `[0, 1, 2, 3, 8]` prints `0-3,8`.
///
/// An empty slice prints nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuList<'a>(pub(crate) &'a [usize]);

impl fmt::Display for CpuList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut separator = "";
        while let Some((&first, _)) = rest.split_first() {
            // Length of the run first, first+1, ... at the head of `rest`.
            let run = rest.iter().enumerate().take_while(|&(i, &cpu)| cpu == first + i).count();
            match run {
                1 => write!(f, "{separator}{first}")?,
                _ => write!(f, "{separator}{first}-{}", first + run - 1)?,
            }
            rest = &rest[run..];
            separator = ",";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_singles_and_whitespace() {
        assert_eq!(parse("0-3,8-11\n").unwrap(), vec![0, 1, 2, 3, 8, 9, 10, 11]);
        assert_eq!(parse("5").unwrap(), vec![5]);
        assert_eq!(parse(" 0 , 2-3 ").unwrap(), vec![0, 2, 3]);
        assert_eq!(parse("7-7").unwrap(), vec![7]);
    }

    #[test]
    fn empty_list_is_empty() {
        assert_eq!(parse("").unwrap(), Vec::<usize>::new());
        assert_eq!(parse("\n").unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn sorts_and_dedups() {
        assert_eq!(parse("8,0-2,1").unwrap(), vec![0, 1, 2, 8]);
    }

    #[test]
    fn rejects_bad_tokens_naming_them() {
        for bad in ["a", "3-1", "1-", "-1", "0-3:2", "1,,x"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad}");
            assert!(err.to_string().contains(bad), "{err} should name {bad:?}");
        }
    }

    #[test]
    fn prints_runs() {
        assert_eq!(CpuList(&[0, 1, 2, 3, 8, 9, 10, 11]).to_string(), "0-3,8-11");
        assert_eq!(CpuList(&[0, 2, 4]).to_string(), "0,2,4");
        assert_eq!(CpuList(&[5]).to_string(), "5");
        assert_eq!(CpuList(&[]).to_string(), "");
        assert_eq!(CpuList(&[3, 4, 0, 1]).to_string(), "3-4,0-1");
    }

    #[test]
    fn print_parse_round_trip() {
        let cpus = vec![0, 1, 2, 5, 7, 8, 9, 63, 64, 1000];
        assert_eq!(parse(&CpuList(&cpus).to_string()).unwrap(), cpus);
    }
}
