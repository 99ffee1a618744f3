//! Views: health (per component), Prometheus metrics, and what the admin API shows of
//! groups, storage and replication. Never: changes state.

use super::*;

/// Replication figures of one broker.
#[derive(Debug, Clone, Default)]
pub struct ReplicationSummary {
    /// Partitions led.
    pub led: usize,
    /// Led partitions with an ISR smaller than the replica set.
    pub under_replicated: usize,
    /// Led partitions with an ISR smaller than their `min.insync.replicas`: `acks=all`
    /// produces to them are refused.
    pub under_min_isr: usize,
    /// Largest follower lag (offsets) over the led partitions.
    pub max_lag: i64,
    /// Partitions followed.
    pub followed: usize,
}

impl Broker {
    /// Replication figures over the hosted partitions.
    pub fn replication_summary(&self) -> ReplicationSummary {
        let mut out = ReplicationSummary::default();
        let md = self.controller.metadata();
        let default_min = self.config().replication.min_in_sync_replicas;
        for p in self.by_id.read().values() {
            let v = p.replication_view();
            if v.leader {
                out.led += 1;
                if v.isr.len() < v.replicas.len() {
                    out.under_replicated += 1;
                }
                let min = md
                    .topics
                    .get(&p.topic)
                    .and_then(|t| t.config.min_insync_replicas)
                    .unwrap_or(default_min) as usize;
                if v.isr.len() < min {
                    out.under_min_isr += 1;
                }
                out.max_lag = out.max_lag.max(v.max_lag);
            } else {
                out.followed += 1;
            }
        }
        out
    }

    /// Partitions this broker leads right now.
    pub fn led_partition_count(&self) -> usize {
        self.by_id.read().values().filter(|p| p.is_leader()).count()
    }

    /// Health over QUIC.
    pub fn health(&self) -> proto::HealthResponse {
        let components: Vec<proto::ComponentHealth> = self
            .components()
            .into_iter()
            .map(|c| proto::ComponentHealth {
                name: c.name,
                healthy: c.healthy,
                detail: c.detail,
            })
            .collect();
        proto::HealthResponse {
            healthy: components.iter().all(|c| c.healthy),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.started.elapsed().as_secs(),
            broker_id: self.config().broker.id,
            components,
        }
    }

    /// ApiVersions: the APIs and versions this build speaks and the limits a client must
    /// respect; `authentication_required` when the asking connection must authenticate first.
    pub fn api_versions(&self, authentication_required: bool) -> proto::ApiVersionsResponse {
        let c = self.config();
        proto::ApiVersionsResponse {
            error_code: ErrorCode::None as i32,
            apis: rustmq_protocol::ApiKey::ALL
                .iter()
                .map(|a| proto::ApiVersionRange {
                    api_key: u32::from(*a as u16),
                    name: format!("{a:?}"),
                    min_version: u32::from(a.min_version()),
                    max_version: u32::from(a.max_version()),
                })
                .collect(),
            broker_version: env!("CARGO_PKG_VERSION").into(),
            max_frame_bytes: c.network.max_frame_bytes,
            max_message_bytes: c.log.max_message_bytes,
            max_idle_timeout_ms: u32::try_from(c.network.quic_config.max_idle_timeout_ms)
                .unwrap_or(u32::MAX),
            max_concurrent_streams: c.network.quic_config.max_concurrent_bidi_streams,
            authentication_required,
        }
    }
}

impl Broker {
    /// A group as the admin API shows it, with lag against this broker's high watermarks.
    pub async fn group_view(&self, id: &str) -> Option<GroupView> {
        let d = self.groups.describe(id).await?;
        let mut offsets = Vec::new();
        for (topic, parts) in self.groups.committed(id) {
            for (partition, c) in parts {
                let hw = self
                    .partition_bounds(&topic, partition)
                    .map(|b| b.1)
                    .unwrap_or(-1);
                offsets.push(GroupOffsetView {
                    lag: if hw >= 0 { (hw - c.offset).max(0) } else { 0 },
                    topic: topic.clone(),
                    partition,
                    committed_offset: c.offset,
                    high_watermark: hw,
                });
            }
        }
        Some(GroupView {
            group_id: d.group_id,
            state: d.state.name().to_string(),
            generation: d.generation,
            assignor: d.assignor.map(str::to_string),
            leader: d.leader,
            members: d
                .members
                .into_iter()
                .map(|(member_id, group_instance_id, parts)| GroupMemberView {
                    member_id,
                    group_instance_id,
                    assignment: parts
                        .into_iter()
                        .map(|(topic, partition)| TopicPartitionView { topic, partition })
                        .collect(),
                })
                .collect(),
            total_lag: offsets.iter().map(|o| o.lag).sum(),
            offsets,
        })
    }
}

impl Broker {
    /// Tiered-storage figures for health, the admin API and metrics.
    pub fn storage_view(&self) -> StorageView {
        let ld = std::sync::atomic::Ordering::Relaxed;
        let t = self.tier.stats();
        let s = self.tier.store_stats();
        let (objects, object_bytes) = self.tier.object_count();
        let (hits, misses) = (t.cache_hits.load(ld), t.cache_misses.load(ld));
        StorageView {
            storage_type: self.config().object_storage.storage_type.clone(),
            objects: objects as u64,
            object_bytes,
            upload_lag_bytes: self.backlog.bytes(),
            upload_lag_ms: self.upload_lag().map(|d| d.as_millis() as u64).unwrap_or(0),
            wal_bytes: self.wal.disk_bytes(),
            wal_capacity_bytes: self.config().wal.capacity_bytes,
            refusing_produces: {
                let at = self.wal_full_at.load(ld);
                at > 0 && self.wal.disk_bytes() >= at
            },
            uploads: t.uploads.load(ld),
            uploaded_bytes: t.uploaded_bytes.load(ld),
            upload_failures: t.upload_failures.load(ld),
            puts: s.puts.load(ld),
            gets: s.gets.load(ld),
            deletes: s.deletes.load(ld),
            errors: s.errors.load(ld),
            cache_hits: hits,
            cache_misses: misses,
            cache_hit_ratio: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            read_cache_bytes: self.tier.cache_bytes(),
            compacted_objects: t.compacted_objects.load(ld),
            objects_deleted: t.objects_deleted.load(ld),
            orphans_deleted: t.orphans_deleted.load(ld),
            last_error: self.tier.last_error(),
        }
    }
}

impl BrokerView for Broker {
    fn groups(&self) -> futures::future::BoxFuture<'_, Vec<GroupView>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for d in self.groups.list().await {
                if let Some(v) = self.group_view(&d.group_id).await {
                    out.push(v);
                }
            }
            out
        })
    }

    fn group(&self, id: String) -> futures::future::BoxFuture<'_, Option<GroupView>> {
        Box::pin(async move { self.group_view(&id).await })
    }

    fn components(&self) -> Vec<ComponentHealth> {
        let s = self.wal.stats();
        let ld = std::sync::atomic::Ordering::Relaxed;
        let damage = match self.wal.damage() {
            [] => String::new(),
            d => format!(
                "; recovery found {} damaged runs of acknowledged entries ({} bytes), first in \
                 segment {} at byte {}: {}",
                d.len(),
                d.iter().map(|d| d.bytes).sum::<u64>(),
                d[0].segment,
                d[0].offset,
                d[0].why
            ),
        };
        let failed = self.wal.failed().borrow().clone();
        let wal = match (failed, self.wal.last_error()) {
            (Some(why), _) => ComponentHealth {
                name: "wal".into(),
                healthy: false,
                detail: format!("stopped: {why}; restart the broker{damage}"),
            },
            (None, None) => ComponentHealth {
                name: "wal".into(),
                healthy: true,
                detail: format!(
                    "{} segments ({} spare), {} entries / {} bytes written in {} group commits, {} fsyncs",
                    self.wal.segment_count(),
                    self.wal.spare_count(),
                    s.entries.load(ld),
                    s.bytes.load(ld),
                    s.groups.load(ld),
                    s.syncs.load(ld)
                ) + &damage,
            },
            (None, Some(e)) => ComponentHealth {
                name: "wal".into(),
                healthy: false,
                detail: format!("last write failed: {e}{damage}"),
            },
        };
        let cache = ComponentHealth {
            name: "write_cache".into(),
            healthy: true,
            detail: format!(
                "{} of {} bytes used",
                self.cache.used(),
                self.config().cache.write_cache_size_bytes
            ),
        };
        let v = self.storage_view();
        let storage = ComponentHealth {
            name: "object_storage".into(),
            // Failing uploads alone leave the broker serving (the WAL absorbs them); it stops
            // accepting writes only at capacity.
            healthy: !v.refusing_produces,
            detail: format!(
                "{}: {} objects ({} bytes); upload lag {} bytes, oldest {} ms; {} uploads, {} \
                 failures; {} PUTs, {} GETs; read cache hit ratio {:.2}{}",
                v.storage_type,
                v.objects,
                v.object_bytes,
                v.upload_lag_bytes,
                v.upload_lag_ms,
                v.uploads,
                v.upload_failures,
                v.puts,
                v.gets,
                v.cache_hit_ratio,
                v.last_error
                    .as_ref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ),
        };
        let r = self.replication_summary();
        let replication = ComponentHealth {
            name: "replication".into(),
            // Under-replicated partitions are a warning, not a reason to take the broker out
            // of service: it still serves them.
            healthy: self.lease.valid(),
            detail: format!(
                "leads {} partitions ({} under-replicated, largest follower lag {} offsets), \
                 follows {}; {} leader elections in the cluster{}",
                r.led,
                r.under_replicated,
                r.max_lag,
                r.followed,
                self.controller.metadata().leader_elections,
                if self.lease.valid() {
                    ""
                } else {
                    "; leader lease expired (controllers unreachable): refusing produces"
                }
            ),
        };
        vec![wal, cache, storage, replication]
    }

    fn register_metrics(self: Arc<Self>, r: &mut prometheus_client::registry::Registry) {
        super::metrics::register(&self, r);
    }

    fn storage(&self) -> Option<StorageView> {
        Some(self.storage_view())
    }
}
