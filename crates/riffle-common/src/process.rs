//! This process's resource use, read from `/proc/self` (Linux).
//!
//! Used for the `Status.ProcessTree.*` metrics and the benchmark notes. On
//! other systems the values are zero rather than errors: metrics must not
//! stop a process from starting.

/// Resident set size and CPU time of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time in milliseconds.
    pub cpu_ms: u64,
}

/// Reads the current values.
pub fn process_stats() -> ProcessStats {
    ProcessStats {
        rss_bytes: rss_bytes().unwrap_or(0),
        cpu_ms: cpu_ms().unwrap_or(0),
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux platform Riffle runs on.
    Some(ticks * 10)
}

/// CPU load between successive readings: CPU time used over wall time
/// times cores, so 1.0 means every core was busy.
#[derive(Debug)]
pub struct CpuMeter {
    cores: f64,
    last: std::sync::Mutex<(std::time::Instant, u64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            last: std::sync::Mutex::new((std::time::Instant::now(), process_stats().cpu_ms)),
        }
    }
}

impl CpuMeter {
    /// The load since the previous call (or since creation), given the
    /// process's CPU time now.
    pub fn load(&self, cpu_ms: u64) -> f64 {
        let Ok(mut last) = self.last.lock() else {
            return 0.0;
        };
        let now = std::time::Instant::now();
        let wall_ms = now.duration_since(last.0).as_secs_f64() * 1000.0;
        let used = cpu_ms.saturating_sub(last.1) as f64;
        *last = (now, cpu_ms);
        if wall_ms <= 0.0 {
            return 0.0;
        }
        (used / wall_ms / self.cores).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = process_stats();
        if cfg!(target_os = "linux") {
            assert!(s.rss_bytes > 0);
        }
    }
}
