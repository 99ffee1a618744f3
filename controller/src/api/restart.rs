//! Whether a broker may be restarted now, computed from the topics the API lists: the rules
//! of Strimzi's KafkaRoller, shared by the operator and `rustmq-admin` so both refuse alike.

use super::TopicView;

/// The partitions that keep broker `id` from being restarted now (`topic/partition: ...`),
/// by the rules of Strimzi's KafkaRoller: a partition blocks the restart of a broker that
/// holds one of its replicas when its ISR is already below `min.insync.replicas`, or of an
/// in-sync replica when its ISR is exactly at the minimum. A partition with no more replicas
/// than its minimum never blocks (no restart could keep it writable). `default_min_isr`
/// applies to topics without `min.insync.replicas` (the brokers'
/// `replication.min_in_sync_replicas`). Empty: safe to restart.
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
            let isr = &p.in_sync_replicas;
            if p.replicas.len() <= min || !p.replicas.contains(&me) {
                continue;
            }
            let why = if isr.len() < min {
                "already below"
            } else if isr.len() == min && isr.contains(&me) {
                "exactly at"
            } else {
                continue;
            };
            out.push(format!(
                "{}/{}: in sync {isr:?}, {why} min.insync.replicas {min}",
                t.name, p.partition
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PartitionView;
    use crate::metadata::TopicConfig;

    fn topic(rf: usize, isr: &[u32], min: u32) -> Vec<TopicView> {
        let b = |id: &u32| format!("broker-{id}");
        let replicas: Vec<u32> = (0..rf as u32).collect();
        vec![TopicView {
            name: "t".into(),
            partitions: 1,
            replication_factor: rf as u32,
            config: TopicConfig {
                min_insync_replicas: Some(min),
                ..Default::default()
            },
            created_at: String::new(),
            partition_assignments: vec![PartitionView {
                partition: 0,
                leader: b(&isr[0]),
                replicas: replicas.iter().map(b).collect(),
                in_sync_replicas: isr.iter().map(b).collect(),
                leader_epoch: 0,
                under_replicated: isr.len() < rf,
                target_replicas: None,
            }],
            under_replicated_partitions: 0,
        }]
    }

    #[test]
    fn the_kafka_roller_rules() {
        // Healthy RF 3, min 2: anyone may go.
        assert!(restart_blockers(&topic(3, &[0, 1, 2], 2), 0, 1).is_empty());
        // At the minimum: the in-sync replicas may not go, the one out of sync may.
        assert!(!restart_blockers(&topic(3, &[0, 1], 2), 0, 1).is_empty());
        assert!(restart_blockers(&topic(3, &[0, 1], 2), 2, 1).is_empty());
        // Already below: no replica may go.
        let below = restart_blockers(&topic(3, &[0], 2), 2, 1);
        assert!(below[0].contains("already below"), "{below:?}");
        // RF 1 or min ISR = RF: never blocks (no restart could keep it writable).
        assert!(restart_blockers(&topic(1, &[0], 1), 0, 1).is_empty());
        assert!(restart_blockers(&topic(3, &[0, 1, 2], 3), 0, 1).is_empty());
    }
}
