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

/// The timings of a viewer's query mix: each query's runs (µs) as they come, then the
/// summary the database benchmarks print.
#[derive(Default)]
pub struct QueryTimes {
    all: Vec<u64>,
    slowest: (String, u64),
}

impl QueryTimes {
    /// Adds one query's runs; prints its p50 and p99 (with `detail`) on stderr.
    pub fn record(&mut self, who: &str, name: &str, mut runs: Vec<u64>, detail: &str) {
        let p99 = percentile(&mut runs, 99.0);
        eprintln!(
            "{who:>10} {name:<28} p50 {:>8.1} ms  p99 {:>8.1} ms{detail}",
            ms(percentile(&mut runs, 50.0)),
            ms(p99)
        );
        if p99 > self.slowest.1 {
            self.slowest = (name.to_owned(), p99);
        }
        self.all.extend(runs);
    }

    /// `queries`, `p50_ms`, `p99_ms`, `slowest_query` and `slowest_query_p99_ms`.
    pub fn summary(mut self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("queries".into(), self.all.len().into());
        fields.insert("p50_ms".into(), ms(percentile(&mut self.all, 50.0)).into());
        fields.insert("p99_ms".into(), ms(percentile(&mut self.all, 99.0)).into());
        fields.insert("slowest_query".into(), self.slowest.0.into());
        fields.insert("slowest_query_p99_ms".into(), ms(self.slowest.1).into());
        fields
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
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
