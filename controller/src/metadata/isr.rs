//! Leader election and in-sync replica changes: a broker going away or coming back, a
//! leader shrinking or growing its ISR, and a reassignment finishing once its new replicas
//! are in sync.

use std::collections::BTreeSet;

use super::{
    ClusterMetadata, CommandResult, IsrChange, LeaderMove, MetadataError, PartitionAssignment,
};

impl PartitionAssignment {
    /// Changes the leader (bumping the epochs).
    pub(super) fn elect(&mut self, leader: u32, elections: &mut u64) {
        self.leader = leader;
        self.leader_epoch += 1;
        self.partition_epoch += 1;
        *elections += 1;
    }

    /// Ends a reassignment whose new replicas are all in sync: the old replicas leave, and
    /// leadership moves to the first new in-sync replica if the leader is leaving.
    pub(super) fn finish_reassignment(&mut self, live: &BTreeSet<u32>, elections: &mut u64) {
        let Some(target) = self.target_replicas.clone() else {
            return;
        };
        if !target.iter().all(|r| self.isr.contains(r)) {
            return;
        }
        let next = (!target.contains(&self.leader))
            .then(|| target.iter().copied().find(|r| live.contains(r)))
            .flatten();
        if !target.contains(&self.leader) && next.is_none() {
            return;
        }
        self.replicas = target.clone();
        self.isr.retain(|r| target.contains(r));
        self.target_replicas = None;
        self.partition_epoch += 1;
        if let Some(n) = next {
            self.elect(n, elections);
        }
    }
}

impl ClusterMetadata {
    pub(super) fn live_set(&self) -> BTreeSet<u32> {
        self.live_brokers()
            .map(|b| b.id)
            .filter(|id| !self.shutting_down_brokers.contains(id))
            .collect()
    }

    /// Broker `id` is gone (offline, restarted or shutting down): every partition it leads
    /// gets a new leader from the live ISR (preferred order), with a new epoch. With
    /// `leave_isr` it also leaves every ISR (it will not fetch any more); a restarted broker
    /// keeps its ISR places because its fsynced WAL still holds everything it reported.
    /// A partition whose only in-sync replica is `id` keeps it as leader: no other replica is
    /// known to have every acknowledged message (no unclean election).
    pub(super) fn fail_over(&mut self, id: u32, leave_isr: bool) {
        let mut live = self.live_set();
        live.remove(&id);
        self.for_each_assignment_of(id, |a, elections| {
            if a.leader == id {
                let next = a
                    .replicas
                    .iter()
                    .copied()
                    .find(|r| *r != id && a.isr.contains(r) && live.contains(r));
                if let Some(n) = next {
                    a.isr.retain(|r| *r != id || !leave_isr);
                    a.elect(n, elections);
                }
            } else if leave_isr && a.isr.contains(&id) {
                a.isr.retain(|r| *r != id);
                a.partition_epoch += 1;
            }
        });
    }

    /// Runs `change` on every partition assignment broker `id` leads, replicates or is in
    /// sync for, counting the elections it makes. Only the topics involving `id` are copied
    /// (the others stay shared with earlier versions of the metadata).
    fn for_each_assignment_of(
        &mut self,
        id: u32,
        mut change: impl FnMut(&mut PartitionAssignment, &mut u64),
    ) {
        let mut elections = 0;
        for name in self.topics_involving(id) {
            let Some(t) = self.topics.get_mut(&name) else {
                continue;
            };
            for a in &mut t.assignments {
                change(a, &mut elections);
            }
        }
        self.leader_elections += elections;
    }

    /// Names of the topics with a replica on broker `id`.
    fn topics_involving(&self, id: u32) -> Vec<String> {
        self.topics
            .values()
            .filter(|t| {
                t.assignments
                    .iter()
                    .any(|a| a.leader == id || a.replicas.contains(&id) || a.isr.contains(&id))
            })
            .map(|t| t.name.clone())
            .collect()
    }

    /// Broker `id` is alive. Partitions it still leads after being offline or restarting
    /// start a new leader epoch (its followers check their logs against it).
    pub(super) fn set_online(&mut self, id: u32, new_term: bool) {
        let was_offline = self.offline_brokers.remove(&id);
        if !(was_offline || new_term) {
            return;
        }
        self.for_each_assignment_of(id, |a, elections| {
            if a.leader == id {
                a.elect(id, elections);
            }
        });
    }

    /// Applies the leader moves that still make sense: the partition is still led by
    /// `from`, and `to` is a live, in-sync, non-draining replica. Returns how many moved.
    pub(super) fn move_leaders(&mut self, moves: &[LeaderMove]) -> u32 {
        let live = self.live_set();
        let mut moved = 0;
        let mut elections = 0;
        for m in moves {
            if self.draining_brokers.contains(&m.to) || !live.contains(&m.to) {
                continue;
            }
            let Some(a) = self
                .topics
                .get_mut(&m.topic)
                .and_then(|t| t.assignments.get_mut(m.partition as usize))
            else {
                continue;
            };
            if a.leader == m.from && m.from != m.to && a.isr.contains(&m.to) {
                a.elect(m.to, &mut elections);
                moved += 1;
            }
        }
        self.leader_elections += elections;
        moved
    }

    pub(super) fn alter_isr(&mut self, change: IsrChange) -> CommandResult {
        let IsrChange {
            topic_id,
            partition,
            leader,
            leader_epoch,
            partition_epoch,
            mut isr,
        } = change;
        let live = self.live_set();
        let mut elections = 0;
        let name = self
            .topics
            .values()
            .find(|t| t.id == topic_id)
            .map(|t| t.name.clone());
        let Some(t) = name.and_then(|n| self.topics.get_mut(&n)) else {
            return CommandResult::Refused(MetadataError::UnknownTopic(format!("id {topic_id}")));
        };
        let Some(a) = t.assignments.get_mut(partition as usize) else {
            return CommandResult::Refused(MetadataError::InvalidPartitions(partition));
        };
        if a.leader != leader
            || a.leader_epoch != leader_epoch
            || a.partition_epoch != partition_epoch
        {
            return CommandResult::Refused(MetadataError::StaleLeader {
                topic_id,
                partition,
                leader: a.leader,
                leader_epoch: a.leader_epoch,
                partition_epoch: a.partition_epoch,
            });
        }
        isr.sort_unstable();
        isr.dedup();
        if !isr.contains(&leader) || isr.iter().any(|r| !a.replicas.contains(r)) {
            return CommandResult::Refused(MetadataError::InvalidReplicas(format!(
                "ISR {isr:?} must contain the leader {leader} and only replicas {:?}",
                a.replicas
            )));
        }
        // A broker the controllers consider dead never joins an ISR.
        isr.retain(|r| *r == leader || live.contains(r));
        // Keep replica order (preferred leader first) for readability.
        a.isr = a
            .replicas
            .iter()
            .copied()
            .filter(|r| isr.contains(r))
            .collect();
        a.partition_epoch += 1;
        a.finish_reassignment(&live, &mut elections);
        let out = a.clone();
        self.leader_elections += elections;
        CommandResult::Partition(out)
    }
}
