//! Plain-text pieces shared by the scenarios, and the machine's description.

use serde::Serialize;

use crate::pg::StatementCost;
use crate::stats::LoadResult;
use crate::sys::CpuUsage;

pub const LATENCY_HEADER: &str =
    " conc        ok/s     p50 ms   p90 ms   p99 ms  p99.9 ms   max ms  errors";

pub fn latency_row(result: &LoadResult) -> String {
    let l = &result.latency;
    format!(
        "{:>5} {:>11} {:>10.2} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>7}",
        result.concurrency,
        fmt_rate(result.per_second),
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        result.errors
    )
}

pub const CPU_HEADER: &str =
    "cores: machine  node  nginx  postgres  bench  other | CPU µs per op: node  nginx  postgres";

/// Cores busy (of `cpu.cores`) and CPU microseconds per operation at `per_second`.
pub fn cpu_row(cpu: &CpuUsage, per_second: f64) -> String {
    let per_op = |cores: f64| {
        if per_second > 0.0 {
            cores * 1e6 / per_second
        } else {
            0.0
        }
    };
    format!(
        "{:>6.2}/{} {:>5.2} {:>6.2} {:>9.2} {:>6.2} {:>6.2} | {:>19.0} {:>6.0} {:>9.0}",
        cpu.machine,
        cpu.cores,
        cpu.node,
        cpu.nginx,
        cpu.postgres,
        cpu.bench,
        cpu.other,
        per_op(cpu.node),
        per_op(cpu.nginx),
        per_op(cpu.postgres)
    )
}

/// The latency table and the CPU table of a scenario's phases, one row per phase.
pub fn phase_tables(phases: &[(String, &LoadResult)]) -> String {
    let mut out = format!("{:<30} {}\n", "phase", LATENCY_HEADER);
    for (name, result) in phases {
        out.push_str(&format!("{name:<30} {}\n", latency_row(result)));
    }
    out.push_str(&format!(
        "\n{:<30} {}\n",
        "CPU in the measured window", CPU_HEADER
    ));
    for (name, result) in phases {
        if let Some(cpu) = &result.cpu {
            out.push_str(&format!("{name:<30} {}\n", cpu_row(cpu, result.per_second)));
        }
    }
    out
}

/// `--statements` output under `title` (nothing when there are none).
pub fn statements_table(title: &str, statements: &[StatementCost]) -> String {
    if statements.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{title}\n{}\n", StatementCost::HEADER);
    for statement in statements {
        out.push_str(&format!("{}\n", statement.row()));
    }
    out
}

/// The first error of each phase that had one.
pub fn first_errors(phases: &[(String, &LoadResult)]) -> String {
    let mut out = String::new();
    for (name, result) in phases {
        if let Some(error) = &result.first_error {
            out.push_str(&format!("first error ({name}): {error}\n"));
        }
    }
    out
}

/// `12345.6` → `12,346`.
pub fn fmt_rate(value: f64) -> String {
    fmt_thousands(value.round() as u64)
}

pub fn fmt_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// What the figures were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory_gib: memory_kib as f64 / (1024.0 * 1024.0),
            kernel,
        }
    }

    pub fn text(&self) -> String {
        format!(
            "machine: {} cores ({}), {:.1} GiB RAM, Linux {}",
            self.cores, self.cpu_model, self.memory_gib, self.kernel
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_thousands() {
        assert_eq!(super::fmt_thousands(0), "0");
        assert_eq!(super::fmt_thousands(999), "999");
        assert_eq!(super::fmt_thousands(1000), "1,000");
        assert_eq!(super::fmt_thousands(1234567), "1,234,567");
        assert_eq!(super::fmt_rate(12345.6), "12,346");
    }
}
