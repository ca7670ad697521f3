//! What the machine offers, for the JobManager's `/taskmanagers` view.

/// CPU cores available to this process.
pub fn cpu_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Physical memory in bytes (0 when unknown), from `/proc/meminfo`.
pub fn physical_memory() -> u64 {
    meminfo_kib("MemTotal:").unwrap_or(0) * 1024
}

fn meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
