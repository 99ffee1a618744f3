//! What brokers report about their own load with every heartbeat, and what the leader keeps
//! of it (in memory only: loads change every second and are not worth a Raft entry).

use std::collections::BTreeMap;
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

/// The loads the leader heard, by broker; reports older than `max_age` are forgotten.
///
/// ```
/// use std::time::Duration;
/// use rustmq_controller::balance::{BrokerLoad, LoadReports};
/// let reports = LoadReports::default();
/// reports.record(1, BrokerLoad { cpu: 0.5, ..Default::default() });
/// assert_eq!(reports.current(Duration::from_secs(10))[&1].cpu, 0.5);
/// ```
#[derive(Debug, Default)]
pub struct LoadReports {
    by_broker: parking_lot::Mutex<BTreeMap<u32, (Instant, BrokerLoad)>>,
}

impl LoadReports {
    /// Keeps broker `id`'s latest report.
    pub fn record(&self, id: u32, load: BrokerLoad) {
        self.by_broker.lock().insert(id, (Instant::now(), load));
    }

    /// The reports younger than `max_age`.
    pub fn current(&self, max_age: Duration) -> BTreeMap<u32, BrokerLoad> {
        let mut all = self.by_broker.lock();
        all.retain(|_, (at, _)| at.elapsed() <= max_age);
        all.iter().map(|(id, (_, l))| (*id, l.clone())).collect()
    }
}
