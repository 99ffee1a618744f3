//! Topology: which partitions this broker hosts and in which role, from the controller's
//! metadata (watched, applied on every change), and the Metadata API that reports it.
//! Never: changes metadata (only the controllers do).

use super::*;

impl Broker {
    /// A topic's partitions on this broker (reusing those of `existing`), new ones starting
    /// where the catalog says: its start offset (retention) and the end of what is already in
    /// object storage. Each one's role comes from its assignment.
    pub(super) fn topic_logs(
        t: &rustmq_controller::metadata::Topic,
        existing: Option<&TopicLogs>,
        settings: ReplicaSettings,
        md: &ClusterMetadata,
        cache: &Arc<WriteCache>,
        backlog: &Arc<UploadBacklog>,
    ) -> TopicLogs {
        let me = settings.broker_id;
        TopicLogs {
            id: t.id,
            config: t.config.clone(),
            partitions: t
                .assignments
                .iter()
                .map(|a| {
                    if !a.replicas.contains(&me) {
                        return None;
                    }
                    if let Some(p) = existing
                        .and_then(|e| e.partitions.get(a.partition as usize))
                        .and_then(|p| p.clone())
                    {
                        return Some(p);
                    }
                    let pc = md.catalog.partition(PartitionKey {
                        topic_id: t.id,
                        partition: a.partition,
                    });
                    let p = PartitionLog::new(
                        t.name.clone(),
                        t.id,
                        a.partition,
                        pc.map(|p| p.start_offset).unwrap_or(0),
                        pc.map(|p| p.uploaded_end()).unwrap_or(0),
                        cache.clone(),
                        backlog.clone(),
                        settings,
                    );
                    p.set_assignment(
                        a.leader,
                        a.leader_epoch,
                        a.partition_epoch,
                        &a.replicas,
                        &a.isr,
                    );
                    Some(p)
                })
                .collect(),
        }
    }

    pub(super) async fn watch_metadata(self: Arc<Self>) {
        let mut rx = self.controller.subscribe();
        let mut stop = self.stop.subscribe();
        let mut applied: Option<Arc<ClusterMetadata>> = None;
        loop {
            let md = rx.borrow_and_update().clone();
            let changed = changed_topics(applied.as_deref(), &md);
            if changed.as_ref().is_none_or(|c| !c.is_empty()) {
                self.apply_metadata(&md, changed.as_ref());
                self.reconcile_fetchers();
            }
            applied = Some(md);
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }

    /// Brings the hosted partitions in line with `md` for the topics in `changed` (all of
    /// them when `None`).
    fn apply_metadata(&self, md: &ClusterMetadata, changed: Option<&BTreeSet<String>>) {
        let mut released = Vec::new();
        let settings = Self::replica_settings(&self.config());
        let me = settings.broker_id;
        {
            let mut topics = self.topics.write();
            let mut reshaped = false;
            topics.retain(|name, logs| {
                if changed.is_some_and(|c| !c.contains(name)) {
                    return true;
                }
                let keep = md.topics.get(name).is_some_and(|t| t.id == logs.id);
                if !keep {
                    tracing::info!(topic = %name, "topic deleted; dropping its partitions");
                    for p in logs.partitions.iter().flatten() {
                        released.extend(p.drop_all());
                    }
                    reshaped = true;
                }
                keep
            });
            let to_apply: Box<dyn Iterator<Item = &rustmq_controller::metadata::Topic>> =
                match changed {
                    None => Box::new(md.topics.values()),
                    Some(c) => Box::new(c.iter().filter_map(|n| md.topics.get(n))),
                };
            for t in to_apply {
                let existing = topics.get(&t.name).cloned();
                let hosted_now =
                    |a: &rustmq_controller::metadata::PartitionAssignment| a.replicas.contains(&me);
                let unchanged = existing.as_ref().is_some_and(|e| {
                    e.config == t.config
                        && e.partitions.len() == t.assignments.len()
                        && e.partitions
                            .iter()
                            .zip(&t.assignments)
                            .all(|(p, a)| p.is_some() == hosted_now(a))
                });
                if !unchanged {
                    if let Some(e) = &existing {
                        // Replicas moved off this broker (reassignment, drain).
                        for (p, a) in e.partitions.iter().zip(&t.assignments) {
                            if let Some(p) = p
                                && !hosted_now(a)
                            {
                                tracing::info!(topic = %t.name, partition = a.partition, "replica moved away; dropping it");
                                released.extend(p.drop_all());
                            }
                        }
                    }
                    let logs = Self::topic_logs(
                        t,
                        existing.as_deref(),
                        settings,
                        md,
                        &self.cache,
                        &self.backlog,
                    );
                    topics.insert(t.name.clone(), Arc::new(logs));
                    reshaped = true;
                }
                let Some(logs) = topics.get(&t.name) else {
                    continue;
                };
                for (p, a) in logs.partitions.iter().zip(&t.assignments) {
                    let Some(p) = p else { continue };
                    let change = p.set_assignment(
                        a.leader,
                        a.leader_epoch,
                        a.partition_epoch,
                        &a.replicas,
                        &a.isr,
                    );
                    if change != RoleChange::None {
                        tracing::info!(
                            topic = %t.name,
                            partition = a.partition,
                            leader = a.leader,
                            epoch = a.leader_epoch,
                            ?change,
                            "partition role changed"
                        );
                    }
                    // What any broker uploaded is no longer needed in this WAL (followers
                    // drop their copies at the same point as the leader).
                    if let Some(pc) = md.catalog.partition(PartitionKey {
                        topic_id: t.id,
                        partition: a.partition,
                    }) {
                        if pc.uploaded_end() > 0 {
                            released.extend(p.mark_uploaded(pc.uploaded_end() - 1));
                        }
                        if !p.is_leader() && pc.start_offset > p.bounds().0 {
                            released.extend(p.advance_start(pc.start_offset));
                        }
                    }
                }
            }
            if reshaped {
                let mut by_id = self.by_id.write();
                by_id.clear();
                for logs in topics.values() {
                    for p in logs.partitions.iter().flatten() {
                        by_id.insert((p.topic_id, p.partition), p.clone());
                    }
                }
            }
        }
        for l in released {
            self.wal.release(l);
        }
    }

    /// Brokers and partition leaders.
    pub fn metadata(&self, req: proto::MetadataRequest) -> proto::MetadataResponse {
        let md = self.controller.metadata();
        let brokers = md
            .brokers
            .values()
            .map(|b| proto::BrokerInfo {
                id: b.id,
                host: b.host.clone(),
                port: u32::from(b.port_quic),
                rack: b.rack_id.clone(),
            })
            .collect();
        let names: Vec<String> = if req.topics.is_empty() {
            md.topics.keys().cloned().collect()
        } else {
            req.topics
        };
        let topics = names
            .into_iter()
            .map(|name| match md.topics.get(&name) {
                None => proto::TopicMetadata {
                    error_code: if validate_topic_name(&name).is_err() {
                        ErrorCode::InvalidTopic
                    } else {
                        ErrorCode::UnknownTopic
                    } as i32,
                    name,
                    partitions: vec![],
                },
                Some(t) => proto::TopicMetadata {
                    name,
                    error_code: ErrorCode::None as i32,
                    partitions: t
                        .assignments
                        .iter()
                        .map(|a| proto::PartitionMetadata {
                            partition: a.partition,
                            error_code: ErrorCode::None as i32,
                            leader_id: a.leader,
                            leader_epoch: a.leader_epoch,
                            replicas: a.replicas.clone(),
                            isr: a.isr.clone(),
                        })
                        .collect(),
                },
            })
            .collect();
        proto::MetadataResponse {
            brokers,
            topics,
            cluster_id: md.cluster_id.clone(),
        }
    }
}

/// The topics whose hosted partitions may need work after `md` replaced `prev`: those whose
/// definition or assignments changed and those whose catalog entries moved. `None` means
/// every topic (the first version, or a change of brokers, which can move any leader). A
/// committed group offset changes none, so it costs the broker a diff of shared maps.
fn changed_topics(
    prev: Option<&ClusterMetadata>,
    md: &ClusterMetadata,
) -> Option<BTreeSet<String>> {
    use imbl::ordmap::DiffItem;
    let prev = prev?;
    if prev.brokers != md.brokers
        || prev.offline_brokers != md.offline_brokers
        || prev.draining_brokers != md.draining_brokers
    {
        return None;
    }
    let mut names = BTreeSet::new();
    for d in prev.topics.diff(&md.topics) {
        let name = match d {
            DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k,
            DiffItem::Update { new: (k, _), .. } => k,
        };
        names.insert(name.clone());
    }
    let ids: BTreeSet<u64> = prev
        .catalog
        .partitions
        .diff(&md.catalog.partitions)
        .map(|d| match d {
            DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k.topic_id,
            DiffItem::Update { new: (k, _), .. } => k.topic_id,
        })
        .collect();
    if !ids.is_empty() {
        names.extend(
            md.topics
                .values()
                .filter(|t| ids.contains(&t.id))
                .map(|t| t.name.clone()),
        );
    }
    Some(names)
}
