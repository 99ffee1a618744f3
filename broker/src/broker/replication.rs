//! Replication between brokers (step 3 of the write path): followers pull from leaders.
//!
//! Why pull: a follower fetches at its own pace and its fetch offset *is* its acknowledgement
//! (everything below it is fsynced in its WAL), so the leader needs no per-follower send
//! queues, a slow follower never holds back the leader's memory, and a follower that was
//! down simply resumes from its log end. The leader keeps each follower's end and moves the
//! high watermark to the smallest end in the ISR. One long-polling fetch per (follower,
//! leader) pair carries every partition the follower has on that leader, over the mutually
//! authenticated internal RPC (`rpc::Request::ReplicaFetch`; record bytes travel raw after
//! the JSON header).
//!
//! Fencing: every fetch names the leader epoch the follower knows. A leader asked with a
//! newer epoch has been deposed and answers `FencedLeaderEpoch`; its high watermark cannot
//! move once its followers fetch elsewhere, and it cannot shrink its ISR because the
//! controllers refuse an `AlterIsr` from a stale epoch, so it cannot acknowledge `acks=all`.
//! It acknowledges nothing at all once its [`Lease`] (a heartbeat the controllers answered
//! within `replication.leader_lease_ms`) runs out, which happens before the controllers
//! declare it dead and elect another leader.
//!
//! Divergence: a follower sends the epoch of its last batch; the leader answers where that
//! epoch ends in its own log, and the follower truncates there (Kafka's KIP-101/320 rule), so
//! a deposed leader's unreplicated tail is dropped when it comes back as a follower.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use futures::future::{BoxFuture, join_all};
use rustmq_controller::ReplicaService;
use rustmq_controller::rpc::{
    ReplicaFetchError, ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse,
    ReplicaPartitionData, Request, Response,
};

use crate::broker::Broker;
use crate::partition::{BatchSource, PartitionLog, Role};
use crate::task_time::{TaskKind, timed};

/// Longest a replica fetch long-polls, whatever the follower asks.
const MAX_REPLICA_WAIT: Duration = Duration::from_secs(5);

impl ReplicaService for Broker {
    fn replica_fetch(&self, req: ReplicaFetchRequest) -> BoxFuture<'_, ReplicaFetchResponse> {
        Box::pin(self.serve_replica_fetch(req))
    }
}

impl Broker {
    fn hosted(&self, topic_id: u64, partition: u32) -> Option<Arc<PartitionLog>> {
        self.by_id.read().get(&(topic_id, partition)).cloned()
    }

    async fn serve_replica_fetch(&self, req: ReplicaFetchRequest) -> ReplicaFetchResponse {
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(u64::from(req.max_wait_ms)).min(MAX_REPLICA_WAIT);
        let targets: Vec<(ReplicaFetchPartition, Option<Arc<PartitionLog>>)> = req
            .partitions
            .iter()
            .map(|rp| (*rp, self.hosted(rp.topic_id, rp.partition)))
            .collect();
        loop {
            // New batches (handed out before they are durable), and anything else that
            // changes an answer (a truncation, a role change).
            let mut waits: Vec<_> = targets
                .iter()
                .filter_map(|(_, p)| p.as_ref())
                .flat_map(|p| [p.log_end_moved().notified(), p.appended().notified()])
                .map(Box::pin)
                .collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            let mut answers = Vec::with_capacity(targets.len());
            let mut plans = Vec::with_capacity(targets.len());
            let mut total = 0u64;
            let mut urgent = false;
            for (rp, p) in &targets {
                let (data, plan) = self.replica_partition(req.replica_id, rp, p.as_deref(), {
                    u64::from(req.max_bytes.max(1)).saturating_sub(total).max(1)
                });
                total += plan.iter().map(|(_, n)| *n).sum::<u64>();
                urgent |= data.error.is_some() || data.diverging_end_offset.is_some();
                answers.push(data);
                plans.push(plan);
            }
            if total > 0 || urgent || tokio::time::Instant::now() >= deadline || waits.is_empty() {
                return self.replica_answer(&targets, answers, plans).await;
            }
            tokio::select! {
                _ = futures::future::select_all(waits) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// One partition of a replica fetch: the answer's header and what to read.
    fn replica_partition(
        &self,
        replica: u32,
        rp: &ReplicaFetchPartition,
        p: Option<&PartitionLog>,
        budget: u64,
    ) -> (ReplicaPartitionData, Vec<(BatchSource, u64)>) {
        let mut data = ReplicaPartitionData {
            topic_id: rp.topic_id,
            partition: rp.partition,
            error: None,
            high_watermark: -1,
            log_start_offset: -1,
            uploaded_end: -1,
            diverging_end_offset: None,
            records_len: 0,
        };
        let Some(p) = p.filter(|p| p.is_leader()) else {
            data.error = Some(ReplicaFetchError::NotLeader);
            return (data, Vec::new());
        };
        let epoch = p.leader_epoch();
        if rp.leader_epoch > epoch {
            data.error = Some(ReplicaFetchError::FencedLeaderEpoch);
            return (data, Vec::new());
        }
        if rp.leader_epoch < epoch {
            data.error = Some(ReplicaFetchError::UnknownLeaderEpoch);
            return (data, Vec::new());
        }
        let (log_start, _) = p.bounds();
        data.log_start_offset = log_start;
        data.uploaded_end = p.uploaded_end();
        if rp.last_fetched_epoch >= 0 {
            let end = p.end_offset_for_epoch(rp.last_fetched_epoch);
            if end < rp.fetch_offset {
                data.diverging_end_offset = Some(end);
                data.high_watermark = p.bounds().1;
                return (data, Vec::new());
            }
        }
        if rp.fetch_offset < data.uploaded_end {
            // Uploaded data moves by metadata only: the follower skips to the uploaded end.
            data.high_watermark = p.bounds().1;
            return (data, Vec::new());
        }
        if p.follower_fetched(replica, rp.fetch_offset) {
            let mut joining = self.isr_joining.lock();
            let list = joining.entry((rp.topic_id, rp.partition)).or_default();
            if !list.contains(&replica) {
                list.push(replica);
            }
        }
        data.high_watermark = p.bounds().1;
        let plan = match p.plan_read_upto(rp.fetch_offset, budget, true) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::debug!(error = %e, partition = rp.partition, "replica fetch out of range");
                return (data, Vec::new());
            }
        };
        let sized = plan
            .batches
            .into_iter()
            .filter(|b| !matches!(b, BatchSource::Tiered { .. }))
            .map(|b| {
                let n = match &b {
                    BatchSource::Memory(m) => m.len() as u64,
                    BatchSource::Wal(l) => u64::from(l.len),
                    BatchSource::Tiered { .. } => 0,
                };
                (b, n)
            })
            .collect();
        (data, sized)
    }

    async fn replica_answer(
        &self,
        targets: &[(ReplicaFetchPartition, Option<Arc<PartitionLog>>)],
        mut answers: Vec<ReplicaPartitionData>,
        plans: Vec<Vec<(BatchSource, u64)>>,
    ) -> ReplicaFetchResponse {
        let mut records = bytes::BytesMut::new();
        for ((i, plan), (_, p)) in plans.into_iter().enumerate().zip(targets) {
            let Some(p) = p else { continue };
            if plan.is_empty() {
                continue;
            }
            let sources = plan.into_iter().map(|(b, _)| b).collect();
            match self.read_batches_for(p, sources).await {
                Ok(b) => {
                    answers[i].records_len = b.len() as u32;
                    records.extend_from_slice(&b);
                }
                Err(e) => {
                    tracing::warn!(error = %e, partition = p.partition, "replica fetch read failed");
                }
            }
        }
        ReplicaFetchResponse {
            partitions: answers,
            records: records.freeze(),
        }
    }

    /// Partitions this broker follows, by leader.
    fn followed(&self) -> HashMap<u32, Vec<Arc<PartitionLog>>> {
        let mut out: HashMap<u32, Vec<Arc<PartitionLog>>> = HashMap::new();
        for p in self.by_id.read().values() {
            if let Role::Follower { leader } = p.role() {
                out.entry(leader).or_default().push(p.clone());
            }
        }
        out
    }

    /// Starts a fetcher for every leader this broker follows partitions of (after each
    /// metadata change); a fetcher ends by itself when nothing is left to follow there.
    pub(crate) fn reconcile_fetchers(self: &Arc<Self>) {
        if self.controller.rpc_client().is_none() {
            return;
        }
        let followed = self.followed();
        let mut fetchers = self.fetchers.lock();
        fetchers.retain(|_, h| !h.is_finished());
        for leader in followed.keys() {
            if !fetchers.contains_key(leader) {
                let me = self.clone();
                let leader = *leader;
                let fetcher = timed(TaskKind::Replication, me.run_fetcher(leader));
                fetchers.insert(leader, tokio::spawn(fetcher));
            }
        }
    }

    async fn run_fetcher(self: Arc<Self>, leader: u32) {
        let Some(rpc) = self.controller.rpc_client().cloned() else {
            return;
        };
        let mut stop = self.stop_signal();
        let retry_delays = || {
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(50))
                .with_max_delay(Duration::from_secs(1))
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut delays = retry_delays();
        tracing::info!(leader, "replica fetcher started");
        loop {
            if *stop.borrow() {
                return;
            }
            let parts = self.followed().remove(&leader).unwrap_or_default();
            if parts.is_empty() {
                tracing::info!(leader, "replica fetcher stopped: nothing left to follow");
                return;
            }
            let md = self.controller.metadata();
            let Some(b) = md.brokers.get(&leader) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let addr = format!("{}:{}", b.host, b.port_rpc);
            // Read each round: the fetch sizes are runtime settings.
            let cfg = self.config().replication.clone();
            let req = ReplicaFetchRequest {
                replica_id: self.config().broker.id,
                max_wait_ms: cfg.fetch_max_wait_ms,
                max_bytes: cfg.fetch_max_bytes,
                partitions: parts
                    .iter()
                    .map(|p| {
                        let (end, last_epoch) = p.fetch_position();
                        ReplicaFetchPartition {
                            topic_id: p.topic_id,
                            partition: p.partition,
                            leader_epoch: p.leader_epoch(),
                            fetch_offset: end,
                            last_fetched_epoch: last_epoch,
                        }
                    })
                    .collect(),
            };
            let timeout =
                Duration::from_millis(u64::from(cfg.fetch_max_wait_ms)) + Duration::from_secs(5);
            let request = Request::ReplicaFetch(req.clone());
            let started = std::time::Instant::now();
            let call = rpc.call(&addr, &request, timeout);
            tokio::pin!(call);
            // A leader that died answers nothing: when the metadata moves any of these
            // partitions (new leader or epoch), drop the call and fetch where they are now.
            let mut md_rx = self.controller.subscribe();
            let moved = async {
                loop {
                    if md_rx.changed().await.is_err() {
                        return;
                    }
                    let now = self.followed().remove(&leader).unwrap_or_default();
                    let same = now.len() == parts.len()
                        && now.iter().all(|p| {
                            req.partitions.iter().any(|a| {
                                a.topic_id == p.topic_id
                                    && a.partition == p.partition
                                    && a.leader_epoch == p.leader_epoch()
                            })
                        });
                    if !same {
                        return;
                    }
                }
            };
            let answer = tokio::select! {
                a = &mut call => a,
                _ = moved => continue,
                _ = stop.changed() => return,
            };
            match answer {
                Ok(Response::ReplicaFetch(r)) => {
                    if !r.records.is_empty() {
                        self.metrics.replica_fetch.since(started);
                    }
                    let progressed = self.apply_replica_answer(&parts, &req, r).await;
                    delays = retry_delays();
                    if !progressed {
                        // Errors only (stale epochs): let the metadata catch up.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Ok(other) => {
                    tracing::debug!(leader, ?other, "unexpected replica fetch answer");
                    tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(1))).await;
                }
                Err(e) => {
                    tracing::debug!(leader, error = %e, "replica fetch failed");
                    tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// Applies a leader's answer: truncations, skips, appends (waiting until durable, so the
    /// next fetch offset is an acknowledgement), then the leader's high watermark. Returns
    /// false when every partition came back with an error.
    async fn apply_replica_answer(
        &self,
        parts: &[Arc<PartitionLog>],
        req: &ReplicaFetchRequest,
        r: ReplicaFetchResponse,
    ) -> bool {
        let mut offset = 0usize;
        let mut durable = Vec::new();
        let mut hws = Vec::new();
        let mut progressed = false;
        for pd in &r.partitions {
            let len = pd.records_len as usize;
            let records: Bytes = if offset + len <= r.records.len() {
                r.records.slice(offset..offset + len)
            } else {
                Bytes::new()
            };
            offset += len;
            let Some(p) = parts
                .iter()
                .find(|p| p.topic_id == pd.topic_id && p.partition == pd.partition)
            else {
                continue;
            };
            let asked = req
                .partitions
                .iter()
                .find(|a| a.topic_id == pd.topic_id && a.partition == pd.partition);
            // The partition changed hands or epochs while the fetch was out.
            if asked.is_none_or(|a| a.leader_epoch != p.leader_epoch()) || p.is_leader() {
                continue;
            }
            if let Some(e) = pd.error {
                tracing::debug!(partition = pd.partition, ?e, "replica fetch refused");
                continue;
            }
            progressed = true;
            if let Some(end) = pd.diverging_end_offset {
                let before = p.fetch_position();
                for l in p.truncate_to(end) {
                    self.wal().release(l);
                }
                tracing::info!(
                    topic = %p.topic,
                    partition = p.partition,
                    truncate_to = end,
                    ?before,
                    after = ?p.fetch_position(),
                    bounds = ?p.bounds(),
                    leader_uploaded_end = pd.uploaded_end,
                    "follower log diverges from the leader's; truncating"
                );
                continue;
            }
            if pd.uploaded_end > p.fetch_position().0 {
                for l in p.skip_to(pd.uploaded_end) {
                    self.wal().release(l);
                }
            }
            if !records.is_empty() {
                self.metrics
                    .replica_fetched_bytes
                    .inc_by(records.len() as u64);
                match p.append_replica(self.wal(), &records) {
                    Ok(Some(rx)) => durable.push(rx),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "replicated append failed");
                    }
                }
            }
            hws.push((p.clone(), pd.high_watermark));
        }
        for rx in join_all(durable).await {
            if let Ok(Err(e)) = rx {
                tracing::warn!(error = %e, "replicated batch not durable");
            }
        }
        for (p, hw) in hws {
            p.set_follower_hw(hw);
        }
        progressed
    }

    /// Leader side of ISR management: every 100 ms, lagging followers leave the ISR and
    /// caught-up ones join it, through the controllers (`AlterIsr`), which refuse a change
    /// from a deposed leader.
    pub(crate) async fn run_isr_maintenance(self: Arc<Self>) {
        let mut stop = self.stop_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => return,
            }
            let joining = std::mem::take(&mut *self.isr_joining.lock());
            let parts: Vec<Arc<PartitionLog>> = self
                .by_id
                .read()
                .values()
                .filter(|p| p.is_leader())
                .cloned()
                .collect();
            let changes = parts.iter().filter_map(|p| {
                let join = joining
                    .get(&(p.topic_id, p.partition))
                    .cloned()
                    .unwrap_or_default();
                p.isr_change(&join).map(|c| (p.clone(), c))
            });
            let this = &self;
            let proposals = changes.map(|(p, c)| async move {
                let result = this
                    .controller
                    .alter_isr(rustmq_controller::metadata::IsrChange {
                        topic_id: p.topic_id,
                        partition: p.partition,
                        leader: this.config().broker.id,
                        leader_epoch: c.leader_epoch,
                        partition_epoch: c.partition_epoch,
                        isr: c.isr.clone(),
                    })
                    .await;
                match result {
                    Ok(a) => tracing::info!(
                        topic = %p.topic,
                        partition = p.partition,
                        isr = ?a.isr,
                        "ISR changed"
                    ),
                    Err(e) => tracing::debug!(
                        topic = %p.topic,
                        partition = p.partition,
                        error = %e,
                        "ISR change refused"
                    ),
                }
            });
            join_all(proposals).await;
        }
    }
}
