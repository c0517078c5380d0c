//! What the benchmark programs share: percentiles, this process's memory and CPU time, and
//! the seeded benchmark database.

pub mod seed;

use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples`, which it sorts; zero when empty.
pub fn percentile(samples: &mut [u64], p: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// Resident memory of this process, in bytes (Linux).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User plus system CPU time this process has used (Linux).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat: the 12th and 13th after the name.
    let clock_ticks_per_sec = 100;
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks_per_sec)
}

/// Microseconds since the Unix epoch (the clock both ends of the fan-out benchmark share).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_by_rank() {
        let mut samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&mut samples, 50.0), 51);
        assert_eq!(percentile(&mut samples, 99.0), 99);
        assert_eq!(percentile(&mut [], 99.0), 0);
        assert!(resident_bytes() > 0);
    }
}
