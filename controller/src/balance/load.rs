//! What brokers report about their own load with every heartbeat, and what the leader keeps
//! of it (in memory only: loads change every second and are not worth a Raft entry).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A broker's load over its last reporting interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerLoad {
    /// CPU used by the broker process, as a fraction of the CPUs it may use (0..=1).
    pub cpu: f64,
    /// Resident memory as a fraction of the memory it may use (its cgroup limit, or the
    /// machine's memory).
    pub memory: f64,
    /// Bytes produced to the partitions it leads, per second.
    pub bytes_in_per_sec: f64,
    /// Bytes served to consumers, per second.
    pub bytes_out_per_sec: f64,
    /// Per led partition, the bytes produced to it per second (partitions without
    /// traffic are left out).
    #[serde(default)]
    pub partitions: Vec<PartitionLoad>,
    /// Which of the broker's samples this is: it counts up with every new sample, and a
    /// heartbeat that repeats the last report repeats it (0: not counted). The balancer
    /// waits for new samples after moving leaderships.
    #[serde(default)]
    pub sample: u64,
}

/// One led partition's produce rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartitionLoad {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// Bytes produced to it per second.
    pub bytes_in_per_sec: f64,
}

/// Produce rates by partition: (topic id, partition) to bytes per second.
pub type PartitionRates = BTreeMap<(u64, u32), f64>;

/// (when, highest rate reported then), oldest first.
type RateSamples = VecDeque<(Instant, f64)>;

/// How long the leader remembers a partition's reported rates. Longer than any window a
/// caller asks [`LoadReports::partition_rates`] for.
const RATE_HISTORY: Duration = Duration::from_secs(30);

/// Reports closer together than this are one sample of a partition's rate (brokers
/// heartbeat several times a second and repeat their last report in between).
const SAMPLE_SPACING: Duration = Duration::from_millis(500);

/// The loads the leader heard, by broker; reports older than `max_age` are forgotten. It
/// also remembers each partition's recent produce rates whoever reported them: a partition
/// whose leadership just moved is in neither broker's report for a moment (the old leader
/// no longer leads it, the new one has not sampled a whole interval yet), and would look
/// idle to a plan made then.
///
/// ```
/// use std::time::Duration;
/// use rustmq_controller::balance::{BrokerLoad, LoadReports, PartitionLoad};
/// let reports = LoadReports::default();
/// let p = PartitionLoad { topic_id: 7, partition: 0, bytes_in_per_sec: 1e6 };
/// reports.record(1, BrokerLoad { cpu: 0.5, partitions: vec![p], ..Default::default() });
/// assert_eq!(reports.current(Duration::from_secs(10))[&1].cpu, 0.5);
/// // Broker 2 took the partition over and reports nothing of it yet.
/// reports.record(1, BrokerLoad::default());
/// reports.record(2, BrokerLoad::default());
/// assert_eq!(reports.partition_rates(Duration::from_secs(3))[&(7, 0)], 1e6);
/// ```
#[derive(Debug, Default)]
pub struct LoadReports {
    by_broker: parking_lot::Mutex<BTreeMap<u32, (Instant, BrokerLoad)>>,
    /// Per partition, its rate samples, oldest first.
    rates: parking_lot::Mutex<BTreeMap<(u64, u32), RateSamples>>,
}

impl LoadReports {
    /// Keeps broker `id`'s latest report.
    pub fn record(&self, id: u32, load: BrokerLoad) {
        let now = Instant::now();
        {
            let mut rates = self.rates.lock();
            for p in &load.partitions {
                let samples = rates.entry((p.topic_id, p.partition)).or_default();
                let rate = p.bytes_in_per_sec.max(0.0);
                match samples.back_mut() {
                    Some((at, r)) if now.duration_since(*at) < SAMPLE_SPACING => *r = r.max(rate),
                    _ => samples.push_back((now, rate)),
                }
            }
            rates.retain(|_, samples| {
                while samples
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > RATE_HISTORY)
                {
                    samples.pop_front();
                }
                !samples.is_empty()
            });
        }
        self.by_broker.lock().insert(id, (now, load));
    }

    /// The reports younger than `max_age`.
    pub fn current(&self, max_age: Duration) -> BTreeMap<u32, BrokerLoad> {
        let mut all = self.by_broker.lock();
        all.retain(|_, (at, _)| at.elapsed() <= max_age);
        all.iter().map(|(id, (_, l))| (*id, l.clone())).collect()
    }

    /// The sample number of each broker's latest report younger than `max_age` (brokers
    /// that do not count their samples are left out).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rustmq_controller::balance::{BrokerLoad, LoadReports};
    /// let reports = LoadReports::default();
    /// reports.record(1, BrokerLoad { sample: 4, ..Default::default() });
    /// reports.record(2, BrokerLoad::default());
    /// assert_eq!(reports.samples(Duration::from_secs(10)).into_iter().collect::<Vec<_>>(), [(1, 4)]);
    /// ```
    pub fn samples(&self, max_age: Duration) -> BTreeMap<u32, u64> {
        self.current(max_age)
            .into_iter()
            .filter(|(_, l)| l.sample > 0)
            .map(|(id, l)| (id, l.sample))
            .collect()
    }

    /// Each partition's highest produce rate reported within `window`, by whichever broker
    /// led it then (partitions without traffic in the window are left out).
    pub fn partition_rates(&self, window: Duration) -> PartitionRates {
        self.rates
            .lock()
            .iter()
            .filter_map(|(k, samples)| {
                samples
                    .iter()
                    .filter(|(at, _)| at.elapsed() <= window)
                    .map(|(_, r)| *r)
                    .reduce(f64::max)
                    .map(|r| (*k, r))
            })
            .collect()
    }
}
