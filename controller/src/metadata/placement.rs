//! Where replicas go: a new topic's partitions, a reassignment, and the plan that drains a
//! broker.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ClusterMetadata, MAX_PARTITIONS, MetadataError, PartitionAssignment, Topic, TopicConfig,
    validate_topic_name,
};

/// Per topic name, `(partition, new replicas)`.
pub type DrainPlan = BTreeMap<String, Vec<(u32, Vec<u32>)>>;

/// Per topic, the new replica lists that move every replica off broker `id`: each replica
/// on it goes to a live, non-draining broker that is not already a replica of that
/// partition, preferring `id`'s rack, then the broker holding the fewest replicas.
///
/// ```
/// use rustmq_controller::metadata::{BrokerRegistration, ClusterMetadata, Command, TopicConfig, drain_plan};
/// let mut md = ClusterMetadata::default();
/// for id in 1..=3 {
///     md.apply(Command::RegisterBroker(BrokerRegistration {
///         id, host: "h".into(), port_quic: 1, port_rpc: 2, rack_id: "r".into(), incarnation: 0,
///         empty_log: false,
///     }));
/// }
/// md.apply(Command::CreateTopic {
///     name: "t".into(), partitions: 2, replication_factor: 2,
///     config: TopicConfig::default(), created_at: String::new(),
/// });
/// md.apply(Command::SetDraining { id: 1, draining: true });
/// let plan = drain_plan(&md, 1).unwrap();
/// assert!(plan["t"].iter().all(|(_, r)| !r.contains(&1) && r.len() == 2));
/// ```
pub fn drain_plan(md: &ClusterMetadata, id: u32) -> Result<DrainPlan, MetadataError> {
    let mut load: BTreeMap<u32, usize> = md
        .live_brokers()
        .filter(|b| b.id != id && !md.draining_brokers.contains(&b.id))
        .map(|b| (b.id, 0))
        .collect();
    for t in md.topics.values() {
        for a in &t.assignments {
            for r in &a.replicas {
                if let Some(n) = load.get_mut(r) {
                    *n += 1;
                }
            }
        }
    }
    let rack = |b: u32| md.brokers.get(&b).map(|r| r.rack_id.as_str());
    let mut plan = DrainPlan::new();
    for t in md.topics.values() {
        for a in &t.assignments {
            let current = a.target_replicas.as_ref().unwrap_or(&a.replicas);
            if !current.contains(&id) {
                continue;
            }
            let pick = load
                .iter()
                .filter(|(b, _)| !current.contains(b))
                .min_by_key(|(b, n)| (rack(**b) != rack(id), **n, **b))
                .map(|(b, _)| *b);
            let Some(to) = pick else {
                return Err(MetadataError::InsufficientBrokers {
                    requested: t.replication_factor,
                    available: load.len() as u32,
                    registered: md.brokers.len() as u32,
                });
            };
            *load.entry(to).or_default() += 1;
            // The replacement takes the drained replica's place, so a drained preferred
            // leader is replaced by a new preferred leader.
            let target = current
                .iter()
                .map(|r| if *r == id { to } else { *r })
                .collect();
            plan.entry(t.name.clone())
                .or_default()
                .push((a.partition, target));
        }
    }
    Ok(plan)
}

impl ClusterMetadata {
    pub(super) fn reassign(
        &mut self,
        topic: &str,
        targets: Vec<(u32, Vec<u32>)>,
    ) -> Result<(), MetadataError> {
        let live = self.live_set();
        let known: BTreeSet<u32> = self.brokers.keys().copied().collect();
        let t = self
            .topics
            .get(topic)
            .ok_or_else(|| MetadataError::UnknownTopic(topic.to_string()))?;
        for (p, target) in &targets {
            if *p >= t.partitions {
                return Err(MetadataError::InvalidPartitions(*p));
            }
            let mut sorted = target.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if target.is_empty() || sorted.len() != target.len() {
                return Err(MetadataError::InvalidReplicas(format!(
                    "partition {p}: replicas {target:?} must be non-empty and distinct"
                )));
            }
            if let Some(b) = target.iter().find(|b| !known.contains(b)) {
                return Err(MetadataError::UnknownBroker(*b));
            }
        }
        let mut elections = 0;
        let Some(t) = self.topics.get_mut(topic) else {
            return Err(MetadataError::UnknownTopic(topic.to_string()));
        };
        for (p, target) in targets {
            let a = &mut t.assignments[p as usize];
            let mut replicas = target.clone();
            replicas.extend(a.replicas.iter().filter(|r| !target.contains(r)));
            a.replicas = replicas;
            a.target_replicas = Some(target);
            a.partition_epoch += 1;
            a.finish_reassignment(&live, &mut elections);
        }
        self.leader_elections += elections;
        Ok(())
    }

    /// Live brokers ordered so that neighbours sit in different racks: the first broker of
    /// every rack, then the second of every rack, ... (Kafka's rack-alternated list).
    /// Consecutive replicas of a partition then land in distinct racks whenever there are
    /// at least as many racks as replicas and the racks are about equal in size.
    pub(super) fn rack_interleaved(&self) -> Vec<u32> {
        let mut racks: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for b in self
            .live_brokers()
            .filter(|b| !self.draining_brokers.contains(&b.id))
        {
            racks.entry(b.rack_id.as_str()).or_default().push(b.id);
        }
        let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
        (0..deepest)
            .flat_map(|i| racks.values().filter_map(move |r| r.get(i).copied()))
            .collect()
    }

    /// Grows `name` to `partitions` (new ones placed as at creation, on the brokers
    /// available now) and/or replaces its config.
    pub(super) fn alter_topic(
        &mut self,
        name: &str,
        partitions: Option<u32>,
        config: Option<TopicConfig>,
    ) -> Result<Topic, MetadataError> {
        let brokers = self.rack_interleaved();
        let registered = self.brokers.len() as u32;
        let topic = self
            .topics
            .get(name)
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_string()))?;
        let mut topic = topic.clone();
        if let Some(c) = config {
            c.validate()?;
            topic.config = c;
        }
        if let Some(requested) = partitions {
            if requested < topic.partitions {
                return Err(MetadataError::PartitionsCannotShrink {
                    topic: name.to_string(),
                    current: topic.partitions,
                    requested,
                });
            }
            if requested > MAX_PARTITIONS {
                return Err(MetadataError::InvalidPartitions(requested));
            }
            if requested > topic.partitions {
                let available = brokers.len() as u32;
                if topic.replication_factor > available {
                    return Err(MetadataError::InsufficientBrokers {
                        requested: topic.replication_factor,
                        available,
                        registered,
                    });
                }
                let added = place(
                    &brokers,
                    topic.id,
                    topic.partitions..requested,
                    topic.replication_factor,
                );
                topic.assignments.extend(added);
                topic.partitions = requested;
            }
        }
        self.topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    pub(super) fn create_topic(
        &mut self,
        name: String,
        partitions: u32,
        replication_factor: u32,
        config: TopicConfig,
        created_at: String,
    ) -> Result<Topic, MetadataError> {
        validate_topic_name(&name)?;
        if self.topics.contains_key(&name) {
            return Err(MetadataError::TopicExists(name));
        }
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(MetadataError::InvalidPartitions(partitions));
        }
        if replication_factor == 0 {
            return Err(MetadataError::InvalidReplicationFactor(0));
        }
        let brokers = self.rack_interleaved();
        let available = brokers.len() as u32;
        if replication_factor > available {
            return Err(MetadataError::InsufficientBrokers {
                requested: replication_factor,
                available,
                registered: self.brokers.len() as u32,
            });
        }
        config.validate()?;
        let id = self.next_topic_id;
        let assignments = place(&brokers, id, 0..partitions, replication_factor);
        let topic = Topic {
            id,
            name: name.clone(),
            partitions,
            replication_factor,
            config,
            created_at,
            assignments,
        };
        self.next_topic_id += 1;
        self.topics.insert(name, topic.clone());
        Ok(topic)
    }
}

/// Replicas of `partitions` over `brokers` (rack-interleaved): leaders round-robin from an
/// offset derived from the topic id, so that many small topics do not all lead on the first
/// broker; each partition's followers are the brokers after its leader.
fn place(
    brokers: &[u32],
    topic_id: u64,
    partitions: std::ops::Range<u32>,
    replication_factor: u32,
) -> Vec<PartitionAssignment> {
    let start = topic_id as usize;
    partitions
        .map(|p| {
            let replicas: Vec<u32> = (0..replication_factor as usize)
                .map(|r| brokers[(start + p as usize + r) % brokers.len()])
                .collect();
            PartitionAssignment {
                partition: p,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                target_replicas: None,
            }
        })
        .collect()
}
