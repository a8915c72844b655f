//! What /proc says about a process: its memory (`VmHWM`, `VmRSS`) and the CPU time it has
//! used, the latter in clock ticks converted with the `--clk-tck` every CPU figure takes.

use std::time::Duration;

use anyhow::{Context as _, anyhow};

/// Clock ticks per second of /proc/PID/stat, as `getconf CLK_TCK` says (the script passes it).
#[derive(clap::Args, Clone, Copy)]
pub struct ClockTicks {
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long = "clk-tck", value_name = "CLK_TCK", default_value_t = 100)]
    pub per_second: u64,
}

impl ClockTicks {
    /// User+system CPU time of a process so far, all threads, from /proc/PID/stat.
    pub fn cpu_time(self, pid: u32) -> anyhow::Result<Duration> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // Fields after the command's closing parenthesis start at field 3; utime and stime are
        // 14 and 15.
        let (_, rest) = stat
            .rsplit_once(')')
            .ok_or_else(|| anyhow!("{path}: unexpected format"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |field: usize| -> anyhow::Result<u64> {
            fields
                .get(field - 3)
                .ok_or_else(|| anyhow!("{path}: no field {field}"))?
                .parse()
                .with_context(|| format!("{path}: field {field}"))
        };
        let total = ticks(14)? + ticks(15)?;
        Ok(Duration::from_secs_f64(
            total as f64 / self.per_second.max(1) as f64,
        ))
    }

    /// A stopwatch of `pid`'s CPU time, started now.
    pub fn start(self, pid: u32) -> anyhow::Result<CpuWatch> {
        Ok(CpuWatch {
            ticks: self,
            pid,
            at_start: self.cpu_time(pid)?,
        })
    }
}

/// One process's CPU time since the watch started.
pub struct CpuWatch {
    ticks: ClockTicks,
    pid: u32,
    at_start: Duration,
}

impl CpuWatch {
    pub fn elapsed(&self) -> anyhow::Result<Duration> {
        Ok(self.ticks.cpu_time(self.pid)? - self.at_start)
    }
}

/// Kilobytes of `VmHWM` (peak RSS) and `VmRSS` from /proc/PID/status.
pub fn memory_kb(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let read = |key: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .ok_or_else(|| anyhow!("{path} has no {key}"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{path}: {key} {line}"))
    };
    Ok((read("VmHWM:")?, read("VmRSS:")?))
}

pub fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
