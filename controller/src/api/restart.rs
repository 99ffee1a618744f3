//! Whether a broker may be restarted now, computed from the topics the API lists: the rule
//! of Strimzi's KafkaRoller, shared by the operator and `rustmq-admin` so both refuse alike.

use super::TopicView;

/// The partitions that would fall below their minimum in-sync replicas if broker `id`
/// stopped now (`topic/partition: ...`). `default_min_isr` applies to topics without
/// `min.insync.replicas` (the brokers' `replication.min_in_sync_replicas`). Empty: safe.
///
/// A broker outside a partition's ISR costs it nothing; a partition already below its
/// minimum blocks the restart of any of its in-sync replicas.
///
/// ```
/// use rustmq_controller::api::{restart_blockers, TopicView};
/// let topics: Vec<TopicView> = vec![]; // from GET /api/v1/topics
/// assert!(restart_blockers(&topics, 1, 2).is_empty());
/// ```
pub fn restart_blockers(topics: &[TopicView], id: u32, default_min_isr: u32) -> Vec<String> {
    let me = format!("broker-{id}");
    let mut out = Vec::new();
    for t in topics {
        let min = t.config.min_insync_replicas.unwrap_or(default_min_isr) as usize;
        for p in &t.partition_assignments {
            if !p.in_sync_replicas.contains(&me) {
                continue;
            }
            let left = p.in_sync_replicas.len() - 1;
            if left < min {
                out.push(format!(
                    "{}/{}: in sync {:?}, min.insync.replicas {min}",
                    t.name, p.partition, p.in_sync_replicas
                ));
            }
        }
    }
    out
}

/// The partitions broker `id` replicates without being in their ISR (it is still catching
/// up, for example after a restart). Empty: everything it hosts is in sync.
///
/// ```
/// use rustmq_controller::api::{out_of_sync, TopicView};
/// assert!(out_of_sync(&Vec::<TopicView>::new(), 1).is_empty());
/// ```
pub fn out_of_sync(topics: &[TopicView], id: u32) -> Vec<String> {
    let me = format!("broker-{id}");
    topics
        .iter()
        .flat_map(|t| {
            t.partition_assignments
                .iter()
                .filter(|p| p.replicas.contains(&me) && !p.in_sync_replicas.contains(&me))
                .map(|p| format!("{}/{}", t.name, p.partition))
        })
        .collect()
}

/// How many partition replicas broker `id` holds (a drained broker holds none).
///
/// ```
/// use rustmq_controller::api::{hosted_replicas, TopicView};
/// assert_eq!(hosted_replicas(&Vec::<TopicView>::new(), 1), 0);
/// ```
pub fn hosted_replicas(topics: &[TopicView], id: u32) -> usize {
    let me = format!("broker-{id}");
    topics
        .iter()
        .flat_map(|t| &t.partition_assignments)
        .filter(|p| p.replicas.contains(&me))
        .count()
}
