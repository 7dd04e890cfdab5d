//! What the benchmarks need from Linux: the open-file limit, a process's memory, and 127.0.0.x
//! source addresses for many loopback connections.

use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Raises this process's RLIMIT_NOFILE to at least `wanted` (soft and, when needed and allowed,
/// hard). Children spawned afterwards inherit it, which is how the chorus node gets its limit.
/// Returns the soft limit now in force.
pub fn raise_open_file_limit(wanted: u64) -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other preconditions.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max.max(wanted),
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it, go as far as the hard limit.
    let error = std::io::Error::last_os_error();
    let capped = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 && limit.rlim_max >= wanted {
        return Ok(limit.rlim_max);
    }
    bail!(
        "need {wanted} open files but RLIMIT_NOFILE is {} (hard {}) and raising it failed: {error}; \
         run as root or raise it with `ulimit -n {wanted}` first",
        limit.rlim_cur,
        limit.rlim_max
    )
}

/// Memory of a process in KiB, from /proc/PID/smaps_rollup (whole process, all mappings).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Memory {
    /// Resident set size: what `ps`/`top` show.
    pub rss_kib: u64,
    /// Resident pages private to this process (clean + dirty): excludes shared libraries'
    /// pages shared with other processes.
    pub private_kib: u64,
    /// Anonymous memory (heap, stacks): where per-connection state lives.
    pub anonymous_kib: u64,
}

impl Memory {
    pub fn of_process(pid: u32) -> Result<Memory> {
        let path = format!("/proc/{pid}/smaps_rollup");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Memory::parse_smaps_rollup(&text).with_context(|| format!("parsing {path}"))
    }

    fn parse_smaps_rollup(text: &str) -> Result<Memory> {
        let mut memory = Memory::default();
        let mut seen_rss = false;
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(kib) = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            match key.trim() {
                "Rss" => {
                    memory.rss_kib = kib;
                    seen_rss = true;
                }
                "Private_Clean" | "Private_Dirty" => memory.private_kib += kib,
                "Anonymous" => memory.anonymous_kib = kib,
                _ => {}
            }
        }
        if !seen_rss {
            bail!("no Rss line");
        }
        Ok(memory)
    }
}

/// The source address for client connection number `index` when each address carries at most
/// `per_address` connections: 127.0.0.2, then 127.0.0.3, ... Linux routes all of 127/8 to the
/// loopback device, and each address has its own ~28k ephemeral ports towards one server port.
/// 127.0.0.1 is left to everything else (the node's PostgreSQL connections, the HTTP setup).
pub fn loopback_source(index: usize, per_address: usize) -> Ipv4Addr {
    let block = index / per_address.max(1);
    let host = 2 + block as u32;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_smaps_rollup() {
        let text = "\
55d0c5a4e000-7ffd8a5f4000 ---p 00000000 00:00 0                          [rollup]
Rss:               12288 kB
Pss:               10000 kB
Shared_Clean:       2048 kB
Shared_Dirty:          0 kB
Private_Clean:      1024 kB
Private_Dirty:      9216 kB
Referenced:        12288 kB
Anonymous:          9000 kB
Swap:                  0 kB
";
        let memory = Memory::parse_smaps_rollup(text).unwrap();
        assert_eq!(
            memory,
            Memory {
                rss_kib: 12288,
                private_kib: 10240,
                anonymous_kib: 9000
            }
        );
        assert!(Memory::parse_smaps_rollup("nothing here").is_err());
    }

    #[test]
    fn spreads_connections_over_source_addresses() {
        assert_eq!(loopback_source(0, 20_000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(loopback_source(19_999, 20_000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(loopback_source(20_000, 20_000), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(loopback_source(49_999, 20_000), Ipv4Addr::new(127, 0, 0, 4));
        assert_eq!(loopback_source(300, 1), Ipv4Addr::new(127, 0, 1, 46));
    }

    #[test]
    fn reads_our_own_memory() {
        let memory = Memory::of_process(std::process::id()).unwrap();
        assert!(memory.rss_kib > 0);
    }
}
