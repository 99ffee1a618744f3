//! What this broker tells the controllers about its load with every heartbeat: CPU and
//! memory of the process (against what it may use: its cgroup's limits on Kubernetes), and
//! the produce and fetch byte rates, per led partition for produce. The controller leader
//! plans rebalances with it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rustmq_controller::balance::{BrokerLoad, PartitionLoad};

use super::Broker;

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is 100 on every
/// architecture (part of the kernel's ABI for /proc, unlike the kernel's own HZ).
const USER_HZ: f64 = 100.0;

/// The previous sample; rates are differences to it.
#[derive(Debug, Default)]
pub(crate) struct LoadSampler {
    last: Option<Sample>,
    report: BrokerLoad,
    /// Samples taken so far.
    taken: u64,
}

/// Rates over shorter intervals are mostly noise: a heartbeat sooner than this after the
/// last sample repeats its report.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
struct Sample {
    at: Instant,
    cpu_seconds: f64,
    bytes_out: u64,
    produced: HashMap<(u64, u32), u64>,
}

impl Broker {
    /// This broker's load since the previous call (the first call reports no rates).
    pub fn load_report(&self) -> BrokerLoad {
        let now = Instant::now();
        {
            let sampler = self.load_sampler.lock();
            if sampler
                .last
                .as_ref()
                .is_some_and(|l| now.duration_since(l.at) < MIN_INTERVAL)
            {
                return sampler.report.clone();
            }
        }
        let produced: HashMap<(u64, u32), (u64, bool)> = self
            .by_id
            .read()
            .iter()
            .map(|(k, p)| (*k, (p.produced_bytes(), p.is_leader())))
            .collect();
        let sample = Sample {
            at: now,
            cpu_seconds: process_cpu_seconds().unwrap_or(0.0),
            bytes_out: self.metrics.bytes_served(),
            produced: produced.iter().map(|(k, (b, _))| (*k, *b)).collect(),
        };
        let mut sampler = self.load_sampler.lock();
        sampler.taken += 1;
        let mut load = BrokerLoad {
            memory: memory_fraction().unwrap_or(0.0),
            sample: sampler.taken,
            ..Default::default()
        };
        if let Some(prev) = &sampler.last {
            let secs = now.duration_since(prev.at).as_secs_f64();
            if secs > 0.0 {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                load.cpu = ((sample.cpu_seconds - prev.cpu_seconds) / secs / cpus).clamp(0.0, 1.0);
                load.bytes_out_per_sec =
                    sample.bytes_out.saturating_sub(prev.bytes_out) as f64 / secs;
                for ((topic_id, partition), (bytes, leader)) in &produced {
                    let before = prev
                        .produced
                        .get(&(*topic_id, *partition))
                        .copied()
                        .unwrap_or(*bytes);
                    let rate = bytes.saturating_sub(before) as f64 / secs;
                    if *leader && rate > 0.0 {
                        load.bytes_in_per_sec += rate;
                        load.partitions.push(PartitionLoad {
                            topic_id: *topic_id,
                            partition: *partition,
                            bytes_in_per_sec: rate,
                        });
                    }
                }
            }
        }
        sampler.last = Some(sample);
        sampler.report = load.clone();
        load
    }
}

/// User plus system CPU time of this process, in seconds (`/proc/self/stat` fields 14-15).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident memory over the memory this process may use: its cgroup v2 `memory.max`, or
/// the machine's memory when there is no limit.
fn memory_fraction() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .or_else(|| {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let kib: f64 = info
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024.0)
        })?;
    (limit > 0.0).then(|| (rss_kib * 1024.0 / limit).clamp(0.0, 1.0))
}

impl super::metrics::BrokerMetrics {
    /// Bytes served to consumers since start, over every topic.
    pub fn bytes_served(&self) -> u64 {
        self.served_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_cpu_time_and_memory() {
        // Burn a little CPU so the counter cannot be zero.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(super::process_cpu_seconds().is_some_and(|s| s >= 0.0));
        let m = super::memory_fraction().expect("memory fraction");
        assert!(m > 0.0 && m <= 1.0, "{m}");
    }
}
