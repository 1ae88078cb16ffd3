//! Load accounting shared by the benches: how much of the cores other processes took during
//! a measurement, and the load average.

use std::time::Instant;

/// CPU time of the whole machine and of this process (with its waited-for children), in
/// clock ticks, to tell how much of the cores other processes took during a measurement.
pub struct CpuSample {
    at: Instant,
    busy: u64,
    own: u64,
}

/// Linux's USER_HZ, the unit of /proc/stat and /proc/self/stat.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSample {
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // cpu user nice system idle iowait irq softirq steal ...
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let busy = [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| fields.get(i))
            .sum();
        let own_stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command's closing parenthesis: state is field 3, utime field 14.
        let after = own_stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let own_fields: Vec<u64> = after
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|f| f.parse().ok())
            .collect();
        Self {
            at: Instant::now(),
            busy,
            own: own_fields.iter().sum(),
        }
    }

    /// Cores' worth of CPU that other processes used since this sample.
    pub fn foreign_cores(&self) -> f64 {
        self.since().1
    }

    /// CPU seconds this process and its children used since this sample, and the cores'
    /// worth other processes used.
    pub fn since(&self) -> (f64, f64) {
        let now = Self::now();
        let own = now.own.saturating_sub(self.own) as f64;
        let foreign = (now.busy.saturating_sub(self.busy) as f64 - own).max(0.0);
        let seconds = now.at.duration_since(self.at).as_secs_f64();
        (own / TICKS_PER_SECOND, foreign / TICKS_PER_SECOND / seconds)
    }
}

/// The load averages over 1, 5 and 15 minutes.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
