//! A consumer-group member: `client.create_consumer(topic, group)`.
//!
//! Membership follows the Kafka consumer's model: a background task heartbeats and flags when
//! the coordinator wants a rejoin; the rejoin itself (commit, join, sync, take over the new
//! partitions) happens inside `receive()`, so a rebalance never races with message delivery.
//! Commits cover only contiguous acknowledged offsets: an un-acked message holds back the
//! commit of every later message of its partition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rustmq_protocol::proto::ErrorCode;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ConsumerConfig;
use crate::consumer::Consumer;
use crate::groups::JoinGroup;
use crate::message::ConsumedMessage;
use crate::{ClientError, RustMqClient};

/// Group settings of a [`GroupConsumer`].
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// Static member id: a restart within the session timeout keeps the assignment.
    pub group_instance_id: Option<String>,
    /// Removed from the group after this long without a heartbeat.
    pub session_timeout: Duration,
    /// Heartbeat period (a third of the session timeout or less).
    pub heartbeat_interval: Duration,
    /// How long a rebalance waits for members to rejoin.
    pub rebalance_timeout: Duration,
    /// `cooperative-sticky` (default), `range` or `roundrobin`.
    pub assignor: String,
    /// Commit acknowledged offsets every `auto_commit_interval`.
    pub enable_auto_commit: bool,
    /// Auto-commit period.
    pub auto_commit_interval: Duration,
    /// Fetching settings and where to start in partitions without a committed offset.
    pub consumer: ConsumerConfig,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            group_instance_id: None,
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(30),
            assignor: "cooperative-sticky".into(),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            consumer: ConsumerConfig {
                fetch_max_wait: Duration::from_millis(200),
                ..ConsumerConfig::default()
            },
        }
    }
}

/// Delivered offsets of one partition and which are acknowledged.
#[derive(Debug, Default)]
struct PartitionAcks {
    /// Delivered, in offset order: offset -> acknowledged.
    delivered: BTreeMap<i64, bool>,
    /// Where the next commit starts if nothing is outstanding.
    next: i64,
}

impl PartitionAcks {
    /// The offset a commit may record: the first un-acked delivered offset, or past the last.
    fn committable(&mut self) -> i64 {
        while let Some((&o, &acked)) = self.delivered.first_key_value() {
            if !acked {
                return o;
            }
            self.delivered.remove(&o);
            self.next = o + 1;
        }
        self.next
    }
}

#[derive(Debug, Default)]
struct Acks {
    partitions: BTreeMap<u32, PartitionAcks>,
}

/// A delivered message; acknowledge it when processed.
#[derive(Debug)]
pub struct ConsumerMessage {
    /// The message.
    pub message: ConsumedMessage,
    acks: Arc<Mutex<Acks>>,
}

impl ConsumerMessage {
    /// Marks the message processed: its offset may now be committed.
    pub async fn ack(&self) -> Result<(), ClientError> {
        let mut a = self.acks.lock();
        if let Some(p) = a.partitions.get_mut(&self.message.partition)
            && let Some(v) = p.delivered.get_mut(&self.message.offset)
        {
            *v = true;
        }
        Ok(())
    }
}

struct Membership {
    member_id: String,
    generation: i32,
}

/// A member of a consumer group reading one topic.
///
/// ```no_run
/// # async fn demo(client: rustmq_client::RustMqClient) -> Result<(), rustmq_client::ClientError> {
/// let mut consumer = client.create_consumer("orders", "order-processors").await?;
/// while let Some(m) = consumer.receive().await? {
///     println!("{}@{}", m.message.partition, m.message.offset);
///     m.ack().await?;
/// }
/// # Ok(()) }
/// ```
pub struct GroupConsumer {
    client: RustMqClient,
    topic: String,
    group: String,
    config: GroupConfig,
    membership: Arc<Mutex<Membership>>,
    rejoin: Arc<AtomicBool>,
    wake: Arc<Notify>,
    heartbeat: Option<JoinHandle<()>>,
    reader: Option<Consumer>,
    assignment: BTreeSet<u32>,
    paused: BTreeSet<u32>,
    acks: Arc<Mutex<Acks>>,
    last_commit: Instant,
    closed: bool,
}

impl GroupConsumer {
    /// Joins `group` for `topic`.
    pub async fn new(
        client: RustMqClient,
        topic: &str,
        group: &str,
        config: GroupConfig,
    ) -> Result<Self, ClientError> {
        client.partition_count(topic).await?;
        let mut c = Self {
            client,
            topic: topic.to_string(),
            group: group.to_string(),
            config,
            membership: Arc::new(Mutex::new(Membership {
                member_id: String::new(),
                generation: -1,
            })),
            rejoin: Arc::new(AtomicBool::new(true)),
            wake: Arc::new(Notify::new()),
            heartbeat: None,
            reader: None,
            assignment: BTreeSet::new(),
            paused: BTreeSet::new(),
            acks: Arc::default(),
            last_commit: Instant::now(),
            closed: false,
        };
        c.rebalance().await?;
        c.start_heartbeat();
        Ok(c)
    }

    fn start_heartbeat(&mut self) {
        let client = self.client.clone();
        let group = self.group.clone();
        let membership = self.membership.clone();
        let rejoin = self.rejoin.clone();
        let wake = self.wake.clone();
        let every = self.config.heartbeat_interval;
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (member, generation) = {
                    let m = membership.lock();
                    (m.member_id.clone(), m.generation)
                };
                if member.is_empty() || rejoin.load(Ordering::Acquire) {
                    continue;
                }
                match client.heartbeat(&group, &member, generation).await {
                    Ok(()) => {}
                    Err(ClientError::Server { code, .. })
                        if matches!(
                            code,
                            ErrorCode::RebalanceInProgress
                                | ErrorCode::IllegalGeneration
                                | ErrorCode::UnknownMemberId
                        ) =>
                    {
                        if code == ErrorCode::UnknownMemberId {
                            membership.lock().member_id.clear();
                        }
                        rejoin.store(true, Ordering::Release);
                        wake.notify_one();
                    }
                    Err(e) => tracing::debug!(error = %e, "heartbeat failed; retrying"),
                }
            }
        }));
    }

    /// Commits acknowledged offsets, then rejoins and takes over the new assignment.
    async fn rebalance(&mut self) -> Result<(), ClientError> {
        loop {
            // Best effort: a fenced commit only means another member owns these now.
            let _ = self.commit().await;
            let (member_id, _) = self.member();
            let joined = self
                .client
                .join_group(&JoinGroup {
                    group_id: self.group.clone(),
                    member_id,
                    group_instance_id: self.config.group_instance_id.clone(),
                    session_timeout: self.config.session_timeout,
                    rebalance_timeout: self.config.rebalance_timeout,
                    topics: vec![self.topic.clone()],
                    assignor: self.config.assignor.clone(),
                    owned: self
                        .assignment
                        .iter()
                        .map(|p| (self.topic.clone(), *p))
                        .collect(),
                })
                .await;
            let joined = match joined {
                Ok(j) => j,
                Err(ClientError::Server {
                    code: ErrorCode::UnknownMemberId,
                    ..
                }) => {
                    self.membership.lock().member_id.clear();
                    continue;
                }
                Err(e) => return Err(e),
            };
            {
                let mut m = self.membership.lock();
                m.member_id = joined.member_id.clone();
                m.generation = joined.generation;
            }
            // Clear the flag before sync: a rebalance announced from here on is seen.
            self.rejoin.store(false, Ordering::Release);
            let assigned = match self
                .client
                .sync_group(&self.group, &joined.member_id, joined.generation)
                .await
            {
                Ok(a) => a,
                Err(ClientError::Server {
                    code: ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration,
                    ..
                }) => continue,
                Err(e) => return Err(e),
            };
            let new: BTreeSet<u32> = assigned
                .into_iter()
                .filter(|(t, _)| *t == self.topic)
                .map(|(_, p)| p)
                .collect();
            self.take_over(new).await?;
            return Ok(());
        }
    }

    async fn take_over(&mut self, new: BTreeSet<u32>) -> Result<(), ClientError> {
        let added: Vec<u32> = new.difference(&self.assignment).copied().collect();
        let kept: BTreeSet<u32> = new.intersection(&self.assignment).copied().collect();
        {
            let mut a = self.acks.lock();
            a.partitions.retain(|p, _| kept.contains(p));
        }
        let committed = self
            .client
            .fetch_offsets(
                &self.group,
                &added
                    .iter()
                    .map(|p| (self.topic.clone(), *p))
                    .collect::<Vec<_>>(),
            )
            .await?;
        // Kept partitions continue where this member is; new ones start at the committed
        // offset, or at the configured start position when nothing is committed.
        let mut positions: BTreeMap<u32, i64> = BTreeMap::new();
        if let Some(r) = &self.reader {
            for p in &kept {
                if let Some(pos) = r.position(*p) {
                    positions.insert(*p, pos);
                }
            }
        }
        let mut reader = self
            .client
            .consumer(&self.topic)
            .config(self.config.consumer.clone())
            .partitions(new.iter().copied().collect())
            .build()
            .await?;
        for (p, pos) in &positions {
            reader.seek(*p, *pos)?;
        }
        for p in &added {
            let start = match committed.get(&(self.topic.clone(), *p)) {
                Some(&o) => o,
                None => reader.position(*p).unwrap_or(0),
            };
            reader.seek(*p, start)?;
            self.acks.lock().partitions.insert(
                *p,
                PartitionAcks {
                    delivered: BTreeMap::new(),
                    next: start,
                },
            );
        }
        self.paused.retain(|p| new.contains(p));
        self.reader = Some(reader);
        self.assignment = new;
        Ok(())
    }

    fn member(&self) -> (String, i32) {
        let m = self.membership.lock();
        (m.member_id.clone(), m.generation)
    }

    /// The next message, or `None` once the consumer is closed. Rebalances and auto-commits
    /// happen inside this call.
    pub async fn receive(&mut self) -> Result<Option<ConsumerMessage>, ClientError> {
        loop {
            if self.closed {
                return Ok(None);
            }
            if self.rejoin.load(Ordering::Acquire) {
                self.rebalance().await?;
            }
            if self.config.enable_auto_commit
                && self.last_commit.elapsed() >= self.config.auto_commit_interval
                && let Err(e) = self.commit().await
            {
                tracing::debug!(error = %e, "auto-commit failed");
            }
            let Some(reader) = self.reader.as_mut() else {
                // No partitions: wait for a rebalance.
                self.wake.notified().await;
                continue;
            };
            if reader.assignment().is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.heartbeat_interval) => {}
                }
                continue;
            }
            let paused = &self.paused;
            let next = tokio::select! {
                m = reader.receive_unpaused(paused) => Some(m?),
                _ = self.wake.notified() => None,
            };
            if let Some(message) = next {
                let mut a = self.acks.lock();
                let p = a
                    .partitions
                    .entry(message.partition)
                    .or_insert_with(|| PartitionAcks {
                        delivered: BTreeMap::new(),
                        next: message.offset,
                    });
                p.delivered.insert(message.offset, false);
                drop(a);
                return Ok(Some(ConsumerMessage {
                    message,
                    acks: self.acks.clone(),
                }));
            }
        }
    }

    /// Commits the acknowledged, contiguous offsets of every assigned partition.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        self.last_commit = Instant::now();
        let offsets: Vec<(String, u32, i64)> = {
            let mut a = self.acks.lock();
            a.partitions
                .iter_mut()
                .map(|(p, acks)| (self.topic.clone(), *p, acks.committable()))
                .collect()
        };
        if offsets.is_empty() {
            return Ok(());
        }
        let (member, generation) = self.member();
        if member.is_empty() {
            return Ok(());
        }
        self.client
            .commit_offsets(&self.group, Some((&member, generation)), &offsets)
            .await
    }

    /// The group's committed offset for a partition.
    pub async fn committed_offset(&self, partition: u32) -> Result<Option<i64>, ClientError> {
        Ok(self
            .client
            .fetch_offsets(&self.group, &[(self.topic.clone(), partition)])
            .await?
            .get(&(self.topic.clone(), partition))
            .copied())
    }

    /// Per assigned partition: high watermark minus the committed offset (or minus the
    /// position when nothing is committed).
    pub async fn get_lag(&self) -> Result<BTreeMap<u32, i64>, ClientError> {
        let committed = self
            .client
            .fetch_offsets(
                &self.group,
                &self
                    .assignment
                    .iter()
                    .map(|p| (self.topic.clone(), *p))
                    .collect::<Vec<_>>(),
            )
            .await?;
        let mut out = BTreeMap::new();
        for p in &self.assignment {
            let hw = self
                .client
                .list_offset(&self.topic, *p, rustmq_protocol::LATEST_TIMESTAMP)
                .await?;
            let base = committed
                .get(&(self.topic.clone(), *p))
                .copied()
                .or_else(|| self.reader.as_ref().and_then(|r| r.position(*p)))
                .unwrap_or(0);
            out.insert(*p, (hw - base).max(0));
        }
        Ok(out)
    }

    /// Partitions assigned to this member.
    pub async fn assigned_partitions(&self) -> Vec<u32> {
        self.assignment.iter().copied().collect()
    }

    /// `(generation, partitions)` of the current assignment, once joined.
    pub async fn partition_assignment(&self) -> Option<(i32, Vec<u32>)> {
        let (member, generation) = self.member();
        (!member.is_empty()).then(|| (generation, self.assignment.iter().copied().collect()))
    }

    /// Stops fetching from these partitions until resumed.
    pub async fn pause_partitions(&mut self, partitions: Vec<u32>) -> Result<(), ClientError> {
        self.paused.extend(
            partitions
                .into_iter()
                .filter(|p| self.assignment.contains(p)),
        );
        Ok(())
    }

    /// Resumes fetching.
    pub async fn resume_partitions(&mut self, partitions: Vec<u32>) -> Result<(), ClientError> {
        for p in partitions {
            self.paused.remove(&p);
        }
        Ok(())
    }

    /// Paused partitions.
    pub async fn paused_partitions(&self) -> Vec<u32> {
        self.paused.iter().copied().collect()
    }

    /// Continues `partition` at `offset` (forgetting un-acked deliveries after it).
    pub async fn seek(&mut self, partition: u32, offset: i64) -> Result<(), ClientError> {
        let reader = self.reader.as_mut().ok_or(ClientError::UnknownPartition {
            topic: self.topic.clone(),
            partition,
        })?;
        reader.seek(partition, offset)?;
        let mut a = self.acks.lock();
        a.partitions.insert(
            partition,
            PartitionAcks {
                delivered: BTreeMap::new(),
                next: offset,
            },
        );
        Ok(())
    }

    /// Seeks every assigned partition to `offset`.
    pub async fn seek_all(&mut self, offset: i64) -> Result<(), ClientError> {
        for p in self.assignment.clone() {
            self.seek(p, offset).await?;
        }
        Ok(())
    }

    /// Continues `partition` at the first message at or after `ts` (ms).
    pub async fn seek_to_timestamp(&mut self, partition: u32, ts: i64) -> Result<(), ClientError> {
        let mut o = self.client.list_offset(&self.topic, partition, ts).await?;
        if o < 0 {
            o = self
                .client
                .list_offset(&self.topic, partition, rustmq_protocol::LATEST_TIMESTAMP)
                .await?;
        }
        self.seek(partition, o).await
    }

    /// Seeks every assigned partition by timestamp; returns the new positions.
    pub async fn seek_all_to_timestamp(
        &mut self,
        ts: i64,
    ) -> Result<BTreeMap<u32, i64>, ClientError> {
        let mut out = BTreeMap::new();
        for p in self.assignment.clone() {
            self.seek_to_timestamp(p, ts).await?;
            if let Some(pos) = self.reader.as_ref().and_then(|r| r.position(p)) {
                out.insert(p, pos);
            }
        }
        Ok(out)
    }

    /// Commits what was acknowledged and leaves the group (its partitions move at once).
    pub async fn close(&mut self) -> Result<(), ClientError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let committed = self.commit().await;
        let (member, _) = self.member();
        // A static member does not leave: its restart keeps the assignment.
        if !member.is_empty() && self.config.group_instance_id.is_none() {
            let _ = self.client.leave_group(&self.group, &member).await;
        }
        committed
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        // Without close(): no commit, no LeaveGroup; the session timeout removes the member.
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

impl RustMqClient {
    /// Joins `group` as a member consuming `topic`, with default group settings.
    pub async fn create_consumer(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<GroupConsumer, ClientError> {
        GroupConsumer::new(self.clone(), topic, group, GroupConfig::default()).await
    }

    /// Joins `group` with explicit settings.
    pub async fn create_group_consumer(
        &self,
        topic: &str,
        group: &str,
        config: GroupConfig,
    ) -> Result<GroupConsumer, ClientError> {
        GroupConsumer::new(self.clone(), topic, group, config).await
    }
}
