//! What the benchmarks need from Linux: the open-file limit, a process's memory, who used the
//! CPU during a phase, and 127.0.0.x source addresses for many loopback connections.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

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
        "need {wanted} open files but RLIMIT_NOFILE is {} (hard {}) and raising the hard limit \
         failed: {error}. Raising it needs CAP_SYS_RESOURCE (root outside a restricted \
         container); without it no process here, the node included, can hold more than {} \
         sockets",
        limit.rlim_cur,
        limit.rlim_max,
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

/// The processes of a benchmark whose CPU is told apart: the chorus nodes and NGINX (its master;
/// the workers are its children). Every other descendant of the benchmark is PostgreSQL.
#[derive(Clone, Debug, Default)]
pub struct Parties {
    pub nodes: Vec<u32>,
    pub nginx: Option<u32>,
}

impl Parties {
    pub fn node(pid: u32) -> Parties {
        Parties {
            nodes: vec![pid],
            nginx: None,
        }
    }
}

/// CPU time counters at one instant: the whole machine (/proc/stat) and the parties of a
/// benchmark (/proc/PID/stat), in clock ticks.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    at: Instant,
    machine_busy: u64,
    machine_total: u64,
    /// Per node, in `Parties::nodes` order (0 once a node is gone).
    nodes: Vec<u64>,
    nginx: u64,
    postgres: u64,
    bench: u64,
}

/// CPU used between two snapshots, in cores (1.0 = one core busy all the time).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuUsage {
    pub cores: usize,
    /// Every process on the machine.
    pub machine: f64,
    /// The chorus nodes together.
    pub node: f64,
    /// Each node, in `Parties::nodes` order (0 for a node gone by the end of the window).
    pub per_node: Vec<f64>,
    /// NGINX, master and workers (0 when there is none).
    pub nginx: f64,
    /// The PostgreSQL server (postmaster and backends).
    pub postgres: f64,
    /// This benchmark process: the load generator.
    pub bench: f64,
    /// Everything else on the machine: other builds and tests on a shared box, and kernel
    /// interrupt work (loopback TCP) that the kernel charged to no process.
    pub other: f64,
}

impl CpuSnapshot {
    /// The nodes and NGINX as `parties` says; PostgreSQL is every other descendant of this
    /// process (the postmaster is our child, its backends are its children). A parent's
    /// cutime/cstime carry the CPU of children that have exited (backends, NGINX workers).
    pub fn take(parties: &Parties) -> CpuSnapshot {
        let (machine_busy, machine_total) = machine_ticks();
        let me = std::process::id();
        let processes = all_processes();
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for process in processes.values() {
            children.entry(process.ppid).or_default().push(process.pid);
        }
        let subtree_ticks = |root: u32, skip: &dyn Fn(u32) -> bool| {
            let mut ticks = 0;
            let mut pending = vec![root];
            while let Some(pid) = pending.pop() {
                if skip(pid) {
                    continue;
                }
                if let Some(process) = processes.get(&pid) {
                    ticks += process.own_ticks + process.reaped_children_ticks;
                }
                pending.extend(children.get(&pid).into_iter().flatten());
            }
            ticks
        };
        let ticks_of = |pid: u32| processes.get(&pid).map_or(0, |p| p.own_ticks);
        let is_node = |pid: u32| parties.nodes.contains(&pid);
        let is_nginx = |pid: u32| parties.nginx == Some(pid);
        let postgres: u64 = children
            .get(&me)
            .into_iter()
            .flatten()
            .map(|&child| subtree_ticks(child, &|pid| is_node(pid) || is_nginx(pid)))
            .sum();
        CpuSnapshot {
            at: Instant::now(),
            machine_busy,
            machine_total,
            nodes: parties.nodes.iter().map(|&pid| ticks_of(pid)).collect(),
            nginx: parties
                .nginx
                .map_or(0, |pid| subtree_ticks(pid, &|_| false)),
            postgres,
            bench: ticks_of(me),
        }
    }

    pub fn usage_since(&self, before: &CpuSnapshot) -> CpuUsage {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let seconds = (self.at - before.at).as_secs_f64().max(1e-9);
        // SAFETY: sysconf has no preconditions.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let as_cores = |after: u64, before: u64| {
            after.saturating_sub(before) as f64 / ticks_per_second / seconds
        };
        let total = self
            .machine_total
            .saturating_sub(before.machine_total)
            .max(1) as f64;
        let machine_share =
            |after: u64, before: u64| after.saturating_sub(before) as f64 / total * cores as f64;
        let machine = machine_share(self.machine_busy, before.machine_busy);
        let per_node: Vec<f64> = self
            .nodes
            .iter()
            .zip(&before.nodes)
            .map(|(&after, &before)| as_cores(after, before))
            .collect();
        let node = per_node.iter().sum();
        let nginx = as_cores(self.nginx, before.nginx);
        let postgres = as_cores(self.postgres, before.postgres);
        let bench = as_cores(self.bench, before.bench);
        CpuUsage {
            cores,
            machine,
            node,
            per_node,
            nginx,
            postgres,
            bench,
            other: (machine - node - nginx - postgres - bench).max(0.0),
        }
    }
}

struct ProcessTicks {
    pid: u32,
    ppid: u32,
    /// utime + stime (all threads).
    own_ticks: u64,
    /// cutime + cstime: children that have exited and been waited for.
    reaped_children_ticks: u64,
}

fn all_processes() -> HashMap<u32, ProcessTicks> {
    let mut processes = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return processes;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(process) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| parse_stat(pid, &stat))
        {
            processes.insert(pid, process);
        }
    }
    processes
}

/// /proc/PID/stat: "pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...".
fn parse_stat(pid: u32, stat: &str) -> Option<ProcessTicks> {
    // The command name may contain spaces and parentheses; the fields after it do not.
    let (_, after_command) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let field = |number: usize| fields.get(number - 3)?.parse::<i64>().ok();
    Some(ProcessTicks {
        pid,
        ppid: field(4)? as u32,
        own_ticks: (field(14)? + field(15)?).max(0) as u64,
        reaped_children_ticks: (field(16)? + field(17)?).max(0) as u64,
    })
}

/// (busy, total) ticks of all CPUs together, from the first line of /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let get = |i: usize| values.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, busy + idle)
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
    fn parses_proc_stat() {
        let stat =
            "4242 (post gres: (x)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        let process = parse_stat(4242, stat).unwrap();
        assert_eq!(process.ppid, 17);
        assert_eq!(process.own_ticks, 300);
        assert_eq!(process.reaped_children_ticks, 10);
    }

    #[test]
    fn accounts_our_own_cpu() {
        let before = CpuSnapshot::take(&Parties::default());
        let spin_until = Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < spin_until {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let usage = CpuSnapshot::take(&Parties::default()).usage_since(&before);
        assert!(usage.bench > 0.1, "{usage:?}");
        assert!(usage.machine > 0.0, "{usage:?}");
    }

    #[test]
    fn reads_our_own_memory() {
        let memory = Memory::of_process(std::process::id()).unwrap();
        assert!(memory.rss_kib > 0);
    }
}
