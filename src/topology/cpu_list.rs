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

/// One more than the largest CPU id [`parse`] accepts.
///
/// Linux builds for at most 8192 CPUs today (`CONFIG_NR_CPUS`); 1 << 16 leaves room
/// for growth while keeping a corrupt or hostile list such as `0-99999999999` from
/// allocating gigabytes (or overflowing the capacity) before anything checks it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // sysfs is read on Linux only
pub(crate) const MAX_CPUS: usize = 1 << 16;

/// Parses a cpulist such as `"0-3,8-11"` (whitespace around it is ignored, an empty
/// list is valid) into sorted, deduplicated CPU ids.
///
/// # Errors
///
/// `ErrorKind::InvalidData` naming the token that is empty (`"0,,2"`), is not `N` or
/// `N-M` with `N <= M`, or names a CPU id not below [`MAX_CPUS`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // sysfs is read on Linux only
pub(crate) fn parse(list: &str) -> io::Result<Vec<usize>> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Whether each id is present: bounded by MAX_CPUS however often ranges repeat,
    // and already sorted and deduplicated.
    let mut present = Vec::new();
    for token in list.trim().split(',') {
        let (first, last) = parse_range(token.trim()).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad CPU list {list:?}: {token:?} {why}"),
            )
        })?;
        if present.len() <= last {
            present.resize(last + 1, false);
        }
        present[first..=last].fill(true);
    }
    Ok(present.iter().enumerate().filter(|&(_, &p)| p).map(|(cpu, _)| cpu).collect())
}

/// Parses one token, `N` or `N-M`; the error says why it is neither, for [`parse`]'s
/// message.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // sysfs is read on Linux only
fn parse_range(token: &str) -> Result<(usize, usize), String> {
    if token.is_empty() {
        return Err("is empty (two commas in a row, or one at an end)".to_owned());
    }
    let not_a_range = || "is not `N` or `N-M` with N <= M".to_owned();
    let (first, last) = match token.split_once('-') {
        Some((first, last)) => (
            first.trim().parse().map_err(|_| not_a_range())?,
            last.trim().parse().map_err(|_| not_a_range())?,
        ),
        None => {
            let cpu = token.parse().map_err(|_| not_a_range())?;
            (cpu, cpu)
        }
    };
    if first > last {
        return Err(not_a_range());
    }
    if last >= MAX_CPUS {
        return Err(format!("names CPU {last}, past the largest supported id {}", MAX_CPUS - 1));
    }
    Ok((first, last))
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
    fn rejects_empty_tokens_naming_the_list() {
        for bad in [",", "0,,2", "0,", ",3", " , "] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad:?}");
            assert!(err.to_string().contains("is empty"), "{err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err} should name {bad:?}");
        }
    }

    #[test]
    fn rejects_ids_past_the_bound_without_allocating_them() {
        // The first would overflow the capacity, the second ask for ~800 GB.
        for bad in ["0-18446744073709551614", "0-99999999999", "65536", "3,0-65536"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad}");
            assert!(err.to_string().contains("past the largest supported id 65535"), "{err}");
        }
        let err = parse("0-99999999999").unwrap_err().to_string();
        assert!(err.contains("\"0-99999999999\" names CPU 99999999999"), "{err}");
        // An id that does not fit a usize is a bad token, not a panic.
        assert!(parse("99999999999999999999999").is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "65,536 ids take miri minutes; nothing unsafe here")]
    fn accepts_the_largest_id_and_repeated_ranges() {
        assert_eq!(parse("65535").unwrap(), vec![65535]);
        assert_eq!(parse("0-65535").unwrap().len(), MAX_CPUS);
        // Repeats cost no more memory than one range.
        let repeated = ["0-65535"; 3].join(",");
        assert_eq!(parse(&repeated).unwrap().len(), MAX_CPUS);
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
