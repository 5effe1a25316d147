//! Peak resident memory of this process, for training metrics and benchmarks. Here, in the
//! lowest crate, so the training loop, the CLI and the whet-models examples share one reader.

/// Peak resident memory of this process (VmHWM), in MiB; 0 where /proc is unavailable.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
