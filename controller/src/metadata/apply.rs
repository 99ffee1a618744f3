//! The one entry point that changes metadata: a committed command in, a result out.

use super::{ClusterMetadata, Command, CommandResult, CommittedOffset, MetadataError};

impl ClusterMetadata {
    /// Applies one command. Refusals leave the state untouched.
    pub fn apply(&mut self, cmd: Command) -> CommandResult {
        match cmd {
            Command::ChangeAcls(change) => match self.acls.apply(change) {
                Ok(r) => CommandResult::AclsChanged(r),
                Err(e) => CommandResult::Refused(e),
            },
            Command::RecordCertificate { info, replaces } => {
                match self.certificates.record(info, replaces) {
                    Ok(r) => CommandResult::Certificate(r),
                    Err(e) => CommandResult::Refused(e),
                }
            }
            Command::RevokeCertificate {
                serial,
                reason,
                revoked_at,
            } => match self.certificates.revoke(&serial, reason, revoked_at) {
                Ok(r) => CommandResult::Certificate(r),
                Err(e) => CommandResult::Refused(e),
            },
            Command::DeployEtlModule {
                spec,
                wasm,
                deployed_at_ms,
            } => match self.etl.deploy(spec, wasm, deployed_at_ms) {
                Ok(v) => CommandResult::EtlChanged(v),
                Err(e) => CommandResult::Refused(e),
            },
            Command::RemoveEtlModule { name } => match self.etl.remove(&name) {
                Ok(v) => CommandResult::EtlChanged(v),
                Err(e) => CommandResult::Refused(e),
            },
            Command::PruneCertificates { expired_before } => {
                CommandResult::CertificatesPruned(self.certificates.prune(expired_before))
            }
            Command::SetClusterId { id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = id;
                }
                CommandResult::Ok
            }
            Command::CreateTopic {
                name,
                partitions,
                replication_factor,
                config,
                created_at,
            } => {
                match self.create_topic(name, partitions, replication_factor, config, created_at) {
                    Ok(t) => CommandResult::TopicCreated(t),
                    Err(e) => CommandResult::Refused(e),
                }
            }
            Command::DeleteTopic {
                name,
                deleted_at_ms,
            } => match self.topics.remove(&name) {
                Some(t) => {
                    self.catalog.drop_topic(t.id, deleted_at_ms);
                    // Offsets of a deleted topic must not apply to a new topic of that name.
                    let holding: Vec<String> = self
                        .group_offsets
                        .iter()
                        .filter(|(_, o)| o.contains_key(&name))
                        .map(|(g, _)| g.clone())
                        .collect();
                    for group in holding {
                        if let Some(offsets) = self.group_offsets.get_mut(&group) {
                            offsets.remove(&name);
                            if offsets.is_empty() {
                                self.group_offsets.remove(&group);
                            }
                        }
                    }
                    CommandResult::Ok
                }
                None => CommandResult::Refused(MetadataError::UnknownTopic(name)),
            },
            Command::CommitOffsets {
                group,
                offsets,
                committed_at_ms,
            } => {
                let mut applied = 0;
                for o in offsets {
                    let valid = self
                        .topics
                        .get(&o.topic)
                        .is_some_and(|t| o.partition < t.partitions)
                        && o.offset >= 0;
                    if !valid {
                        continue;
                    }
                    self.group_offsets
                        .entry(group.clone())
                        .or_default()
                        .entry(o.topic)
                        .or_default()
                        .insert(
                            o.partition,
                            CommittedOffset {
                                offset: o.offset,
                                metadata: o.metadata,
                                committed_at_ms,
                            },
                        );
                    applied += 1;
                }
                CommandResult::OffsetsCommitted(applied)
            }
            Command::DeleteGroupOffsets { group } => {
                self.group_offsets.remove(&group);
                CommandResult::Ok
            }
            Command::RegisterBroker(b) => {
                let id = b.id;
                let restarted = self
                    .brokers
                    .get(&id)
                    .is_some_and(|old| old.incarnation != b.incarnation);
                if restarted {
                    // Its replication state died with the old process; with an empty log
                    // its data may be gone too.
                    self.fail_over(id, b.empty_log);
                }
                self.brokers.insert(id, b);
                // A new start: whatever shutdown it announced before is over.
                self.shutting_down_brokers.remove(&id);
                self.set_online(id, restarted);
                CommandResult::Ok
            }
            Command::SetBrokerOnline { id, online } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                if online {
                    self.set_online(id, false);
                } else if self.offline_brokers.insert(id) {
                    self.fail_over(id, true);
                }
                CommandResult::Ok
            }
            Command::AlterIsr(change) => self.alter_isr(change),
            Command::ControlledShutdown { id } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                self.shutting_down_brokers.insert(id);
                self.fail_over(id, true);
                CommandResult::Ok
            }
            Command::MoveLeaders { moves } => {
                CommandResult::LeadersMoved(self.move_leaders(&moves))
            }
            Command::InitProducerId => {
                // Never 0: it is proto3's unset value, so a client could not tell an id of 0
                // from a response that carries none.
                let id = self.next_producer_id.max(1);
                self.next_producer_id = id + 1;
                CommandResult::ProducerId(id)
            }
            Command::AlterTopic {
                name,
                partitions,
                config,
            } => match self.alter_topic(&name, partitions, config) {
                Ok(t) => CommandResult::TopicAltered(t),
                Err(e) => CommandResult::Refused(e),
            },
            Command::ReassignPartitions { topic, targets } => {
                match self.reassign(&topic, targets) {
                    Ok(()) => CommandResult::Ok,
                    Err(e) => CommandResult::Refused(e),
                }
            }
            Command::SetDraining { id, draining } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                if draining {
                    self.draining_brokers.insert(id);
                } else {
                    self.draining_brokers.remove(&id);
                }
                CommandResult::Ok
            }
            Command::RegisterObject(mut object) => {
                // Ranges of a topic deleted while the upload was in flight are not cataloged
                // (the object is then collected like any unreferenced one).
                object.ranges.retain(|r| {
                    self.topics
                        .values()
                        .any(|t| t.id == r.topic_id && r.partition < t.partitions)
                });
                match self.catalog.register(object) {
                    Ok(r) => CommandResult::ObjectRegistered(r),
                    Err(e) => CommandResult::Refused(e.into()),
                }
            }
            Command::CompactObject { object, now_ms } => {
                match self.catalog.replace(object, now_ms) {
                    Ok(()) => CommandResult::Ok,
                    Err(e) => CommandResult::Refused(e.into()),
                }
            }
            Command::TrimPartition {
                key,
                start_offset,
                now_ms,
            } => {
                // A partition of a deleted topic must not come back to life.
                let exists = self
                    .topics
                    .values()
                    .any(|t| t.id == key.topic_id && key.partition < t.partitions);
                if exists {
                    self.catalog.trim(key, start_offset, now_ms);
                }
                CommandResult::Ok
            }
            Command::ForgetObjects { keys } => {
                self.catalog.forget(&keys);
                CommandResult::Ok
            }
        }
    }
}
