//! A consumer-group member: `client.create_consumer(topic, group)`.
//!
//! Membership follows the Kafka consumer's model: a background task heartbeats and flags when
//! the coordinator wants a rejoin; the rejoin itself (commit, join, sync, take over the new
//! partitions) happens inside `receive()`, so a rebalance never races with message delivery.
//! Commits cover only contiguous acknowledged offsets: an un-acked message holds back the
//! commit of every later message of its partition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use rustmq_transport::time::sleep_until_opt;

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
    /// Deliveries of a message after `nack()` before it goes to the dead-letter queue.
    pub max_retry_attempts: u32,
    /// First redelivery delay after a `nack()`; doubles with each attempt (2 s, 4 s, 8 s...).
    pub retry_base_delay: Duration,
    /// Topic that receives messages which failed every attempt, with headers saying why and
    /// from where. Without one such messages are skipped (logged and counted as failed).
    pub dead_letter_queue: Option<String>,
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
            max_retry_attempts: 3,
            retry_base_delay: Duration::from_secs(2),
            dead_letter_queue: None,
        }
    }
}

/// Builds a [`GroupConsumer`]: `client.consumer(topic).consumer_group(group)`.
pub struct GroupConsumerBuilder {
    client: RustMqClient,
    topic: String,
    group: String,
    config: GroupConfig,
}

impl GroupConsumerBuilder {
    pub(crate) fn new(
        client: RustMqClient,
        topic: String,
        group: String,
        consumer: ConsumerConfig,
    ) -> Self {
        Self {
            client,
            topic,
            group,
            config: GroupConfig {
                consumer,
                ..GroupConfig::default()
            },
        }
    }

    /// Group settings (replaces the fetch settings given to the consumer builder too).
    pub fn group_config(mut self, config: GroupConfig) -> Self {
        self.config = config;
        self
    }

    /// Joins the group.
    pub async fn build(self) -> Result<GroupConsumer, ClientError> {
        GroupConsumer::new(self.client, &self.topic, &self.group, self.config).await
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

/// A message waiting for redelivery (or the dead-letter queue) after a `nack()`.
#[derive(Debug, Clone)]
struct Retry {
    message: ConsumedMessage,
    attempt: u32,
    due: Instant,
    reason: String,
}

#[derive(Debug, Default)]
struct Acks {
    partitions: BTreeMap<u32, PartitionAcks>,
    retries: Vec<Retry>,
    dead: Vec<Retry>,
}

/// Consumer counters.
#[derive(Debug, Default)]
pub struct ConsumerMetrics {
    /// Deliveries, including redeliveries.
    pub received: AtomicU64,
    /// Messages acknowledged.
    pub processed: AtomicU64,
    /// Negative acknowledgements.
    pub failed: AtomicU64,
    /// Redeliveries after a `nack()`.
    pub retried: AtomicU64,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Messages skipped after the last attempt (no dead-letter queue configured).
    pub skipped: AtomicU64,
}

struct Shared {
    acks: Mutex<Acks>,
    metrics: ConsumerMetrics,
    max_attempts: u32,
    base_delay: Duration,
}

/// A delivered message; acknowledge it when processed, or `nack()` it to have it retried.
pub struct ConsumerMessage {
    /// The message.
    pub message: ConsumedMessage,
    /// 1 on first delivery, then 2, 3, ... on redeliveries after `nack()`.
    pub attempt: u32,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConsumerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerMessage")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl ConsumerMessage {
    /// Marks the message processed: its offset may now be committed.
    pub async fn ack(&self) -> Result<(), ClientError> {
        let mut a = self.shared.acks.lock();
        if let Some(p) = a.partitions.get_mut(&self.message.partition)
            && let Some(v) = p.delivered.get_mut(&self.message.offset)
            && !*v
        {
            *v = true;
            self.shared
                .metrics
                .processed
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Processing failed: redeliver after a backoff, or after the last attempt send it to the
    /// dead-letter queue. The message keeps holding back its partition's commit meanwhile.
    pub async fn nack(&self) -> Result<(), ClientError> {
        self.nack_with_reason("processing failed").await
    }

    /// [`ConsumerMessage::nack`] with the reason recorded in the dead-letter headers.
    pub async fn nack_with_reason(&self, reason: &str) -> Result<(), ClientError> {
        let s = &self.shared;
        s.metrics.failed.fetch_add(1, Ordering::Relaxed);
        let entry = Retry {
            message: self.message.clone(),
            attempt: self.attempt + 1,
            due: Instant::now()
                + s.base_delay
                    .checked_mul(2u32.saturating_pow(self.attempt.saturating_sub(1)))
                    .unwrap_or(Duration::from_secs(3600)),
            reason: reason.to_string(),
        };
        let mut a = s.acks.lock();
        if self.attempt >= s.max_attempts {
            a.dead.push(entry);
        } else {
            a.retries.push(entry);
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
    /// A rebalance round in flight, kept across cancelled `receive()` calls.
    pending_join: Option<JoinHandle<Result<Joined, ClientError>>>,
    paused: BTreeSet<u32>,
    shared: Arc<Shared>,
    dlq: Option<crate::Producer>,
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
            membership: Arc::new(Mutex::new(Membership {
                member_id: String::new(),
                generation: -1,
            })),
            rejoin: Arc::new(AtomicBool::new(true)),
            wake: Arc::new(Notify::new()),
            heartbeat: None,
            reader: None,
            assignment: BTreeSet::new(),
            pending_join: None,
            paused: BTreeSet::new(),
            shared: Arc::new(Shared {
                acks: Mutex::new(Acks::default()),
                metrics: ConsumerMetrics::default(),
                max_attempts: config.max_retry_attempts.max(1),
                base_delay: config.retry_base_delay,
            }),
            dlq: None,
            last_commit: Instant::now(),
            closed: false,
            config,
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
                // Heartbeats go on while a rebalance is wanted or running: they keep the
                // session alive until the join arrives (the coordinator counts them even
                // when it answers "rebalancing").
                if member.is_empty() {
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
                        let mut m = membership.lock();
                        // An answer about a generation the member has already left (a join
                        // finished meanwhile) is stale: no new rebalance for it.
                        if m.member_id != member || m.generation != generation {
                            continue;
                        }
                        if code == ErrorCode::UnknownMemberId {
                            m.member_id.clear();
                        }
                        drop(m);
                        rejoin.store(true, Ordering::Release);
                        wake.notify_one();
                    }
                    Err(e) => tracing::debug!(error = %e, "heartbeat failed; retrying"),
                }
            }
        }));
    }

    /// Whether a rebalance is wanted or one is still half done.
    fn needs_rebalance(&self) -> bool {
        self.rejoin.load(Ordering::Acquire) || self.pending_join.is_some()
    }

    /// Commits acknowledged offsets, then rejoins and takes over the new assignment.
    ///
    /// Cancel safe: the commit, join, sync and the new reader's set-up run in a task of
    /// their own that a dropped `receive()` does not stop; the next call waits for the same
    /// task instead of starting another generation, and taking its result over does not
    /// await.
    async fn rebalance(&mut self) -> Result<(), ClientError> {
        let handle = match &mut self.pending_join {
            Some(h) => h,
            None => {
                let round = JoinRound {
                    client: self.client.clone(),
                    group: self.group.clone(),
                    topic: self.topic.clone(),
                    config: self.config.clone(),
                    owned: self.assignment.clone(),
                    commit: self.committable(),
                    membership: self.membership.clone(),
                    rejoin: self.rejoin.clone(),
                };
                self.pending_join.insert(tokio::spawn(join_and_sync(round)))
            }
        };
        let outcome = handle.await;
        self.pending_join = None;
        match outcome {
            Ok(Ok(joined)) => {
                self.take_over(joined);
                Ok(())
            }
            Ok(Err(e)) => {
                self.rejoin.store(true, Ordering::Release);
                Err(e)
            }
            Err(e) => {
                self.rejoin.store(true, Ordering::Release);
                Err(ClientError::Protocol(format!("rebalance task failed: {e}")))
            }
        }
    }

    /// Switches to the assignment a join round brought; no await, so it cannot be cut short.
    fn take_over(&mut self, joined: Joined) {
        let Joined {
            assigned: new,
            committed,
            mut reader,
        } = joined;
        let added: Vec<u32> = new.difference(&self.assignment).copied().collect();
        let kept: BTreeSet<u32> = new.intersection(&self.assignment).copied().collect();
        {
            let mut a = self.shared.acks.lock();
            a.partitions.retain(|p, _| kept.contains(p));
            a.retries.retain(|r| kept.contains(&r.message.partition));
            a.dead.retain(|r| kept.contains(&r.message.partition));
        }
        // Kept partitions continue where this member is; new ones start at the committed
        // offset, or at the configured start position when nothing is committed.
        if let Some(r) = &self.reader {
            for p in &kept {
                if let Some(pos) = r.position(*p) {
                    seek_known(&mut reader, *p, pos);
                }
            }
        }
        for p in &added {
            let start = match committed.get(&(self.topic.clone(), *p)) {
                Some(&o) => o,
                None => reader.position(*p).unwrap_or(0),
            };
            seek_known(&mut reader, *p, start);
            self.shared.acks.lock().partitions.insert(
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
    }

    fn member(&self) -> (String, i32) {
        let m = self.membership.lock();
        (m.member_id.clone(), m.generation)
    }

    /// The next message, or `None` once the consumer is closed. Rebalances and auto-commits
    /// happen inside this call.
    ///
    /// Cancel safe: dropping the future (a `tokio::time::timeout` around it, a `select!`)
    /// loses no message, and a rebalance it cut short is completed by the next call.
    pub async fn receive(&mut self) -> Result<Option<ConsumerMessage>, ClientError> {
        loop {
            if self.closed {
                return Ok(None);
            }
            if self.needs_rebalance() {
                self.rebalance().await?;
            }
            if self.config.enable_auto_commit
                && self.last_commit.elapsed() >= self.config.auto_commit_interval
                && let Err(e) = self.commit().await
            {
                tracing::debug!(error = %e, "auto-commit failed");
            }
            self.dead_letter().await?;
            if let Some(m) = self.due_retry() {
                return Ok(Some(m));
            }
            let next_retry = self.shared.acks.lock().retries.iter().map(|r| r.due).min();
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
                _ = sleep_until_opt(next_retry) => None,
            };
            if let Some(message) = next {
                let mut a = self.shared.acks.lock();
                let p = a
                    .partitions
                    .entry(message.partition)
                    .or_insert_with(|| PartitionAcks {
                        delivered: BTreeMap::new(),
                        next: message.offset,
                    });
                p.delivered.insert(message.offset, false);
                drop(a);
                self.shared.metrics.received.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(ConsumerMessage {
                    message,
                    attempt: 1,
                    shared: self.shared.clone(),
                }));
            }
        }
    }

    fn due_retry(&mut self) -> Option<ConsumerMessage> {
        let now = Instant::now();
        let mut a = self.shared.acks.lock();
        let i = a
            .retries
            .iter()
            .enumerate()
            .filter(|(_, r)| r.due <= now && !self.paused.contains(&r.message.partition))
            .min_by_key(|(_, r)| r.due)
            .map(|(i, _)| i)?;
        let r = a.retries.swap_remove(i);
        drop(a);
        self.shared.metrics.received.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.retried.fetch_add(1, Ordering::Relaxed);
        Some(ConsumerMessage {
            message: r.message,
            attempt: r.attempt,
            shared: self.shared.clone(),
        })
    }

    /// Sends messages that failed every attempt to the dead-letter queue (or skips them), then
    /// acknowledges them so the partition's commit can move on.
    async fn dead_letter(&mut self) -> Result<(), ClientError> {
        // One at a time, removed only once handled: a failed send or a cancelled
        // `receive()` leaves the rest queued instead of losing them.
        loop {
            let Some(r) = self.shared.acks.lock().dead.first().cloned() else {
                return Ok(());
            };
            let m = &r.message;
            match self.config.dead_letter_queue.clone() {
                Some(dlq) => {
                    if self.dlq.is_none() {
                        self.dlq = Some(self.client.create_producer(&dlq).await?);
                    }
                    let mut b = crate::Message::builder()
                        .topic(&dlq)
                        .payload(m.payload.clone())
                        .timestamp(m.timestamp)
                        .header("x-rustmq-dlq-reason", r.reason.clone())
                        .header("x-rustmq-original-topic", m.topic.to_string())
                        .header("x-rustmq-original-partition", m.partition.to_string())
                        .header("x-rustmq-original-offset", m.offset.to_string())
                        .header("x-rustmq-consumer-group", self.group.clone())
                        .header("x-rustmq-attempts", (r.attempt - 1).to_string());
                    for (k, v) in &m.headers {
                        b = b.header(k.clone(), v.clone());
                    }
                    if let Some(k) = &m.key {
                        b = b.key(k.clone());
                    }
                    let producer = self.dlq.as_ref().ok_or(ClientError::Closed)?;
                    producer.send(b.build()?).await?;
                    self.shared
                        .metrics
                        .dead_lettered
                        .fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    tracing::warn!(topic = %m.topic, partition = m.partition, offset = m.offset,
                        reason = %r.reason, "message failed every attempt and no dead-letter queue is configured; skipping it");
                    self.shared.metrics.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
            let mut a = self.shared.acks.lock();
            if let Some(i) = a
                .dead
                .iter()
                .position(|d| d.message.partition == m.partition && d.message.offset == m.offset)
            {
                a.dead.remove(i);
            }
            if let Some(p) = a.partitions.get_mut(&m.partition)
                && let Some(v) = p.delivered.get_mut(&m.offset)
            {
                *v = true;
            }
        }
    }

    /// Counters (received, processed, failed, retried, dead-lettered, skipped).
    pub fn metrics(&self) -> &ConsumerMetrics {
        &self.shared.metrics
    }

    /// The member as a `futures::Stream` of messages (ends when the consumer is closed).
    pub fn stream(self) -> impl futures::Stream<Item = Result<ConsumerMessage, ClientError>> {
        futures::stream::unfold(self, |mut c| async move {
            match c.receive().await {
                Ok(Some(m)) => Some((Ok(m), c)),
                Ok(None) => None,
                Err(e) => Some((Err(e), c)),
            }
        })
    }

    /// Commits the acknowledged, contiguous offsets of every assigned partition.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        self.last_commit = Instant::now();
        let offsets = self.committable();
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

    /// What [`GroupConsumer::commit`] would commit now: per assigned partition, the end of
    /// its acknowledged, contiguous offsets.
    fn committable(&self) -> Vec<(String, u32, i64)> {
        let mut a = self.shared.acks.lock();
        a.partitions
            .iter_mut()
            .map(|(p, acks)| (self.topic.clone(), *p, acks.committable()))
            .collect()
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
        let mut a = self.shared.acks.lock();
        a.retries.retain(|r| r.message.partition != partition);
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
        if let Some(h) = self.pending_join.take() {
            h.abort();
        }
        let committed = self.commit().await;
        if let Some(p) = self.dlq.take() {
            let _ = p.close().await;
        }
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
        if let Some(h) = self.pending_join.take() {
            h.abort();
        }
    }
}

/// What one rebalance round needs, owned so it can run in its own task.
struct JoinRound {
    client: RustMqClient,
    group: String,
    topic: String,
    config: GroupConfig,
    owned: BTreeSet<u32>,
    /// Offsets acknowledged under the old assignment, committed before rejoining.
    commit: Vec<(String, u32, i64)>,
    membership: Arc<Mutex<Membership>>,
    rejoin: Arc<AtomicBool>,
}

impl JoinRound {
    /// When the coordinator no longer knows this member (its session expired), forgets the
    /// member id so the next join is as a new member, and says so.
    fn forget_member_if_unknown(&self, e: &ClientError) -> bool {
        let unknown = matches!(
            e,
            ClientError::Server {
                code: ErrorCode::UnknownMemberId,
                ..
            }
        );
        if unknown {
            self.membership.lock().member_id.clear();
        }
        unknown
    }
}

/// What a finished round brings: the partitions of the topic, their committed offsets and
/// a reader for them.
struct Joined {
    assigned: BTreeSet<u32>,
    committed: BTreeMap<(String, u32), i64>,
    reader: Consumer,
}

/// Commits, joins and syncs until this member has an assignment for a generation, then
/// prepares reading it.
async fn join_and_sync(r: JoinRound) -> Result<Joined, ClientError> {
    let (member, generation) = {
        let m = r.membership.lock();
        (m.member_id.clone(), m.generation)
    };
    if !member.is_empty() && !r.commit.is_empty() {
        // Best effort: a fenced commit only means another member owns these now.
        let _ = r
            .client
            .commit_offsets(&r.group, Some((&member, generation)), &r.commit)
            .await;
    }
    let assigned = loop {
        let member_id = r.membership.lock().member_id.clone();
        let joined = r
            .client
            .join_group(&JoinGroup {
                group_id: r.group.clone(),
                member_id,
                group_instance_id: r.config.group_instance_id.clone(),
                session_timeout: r.config.session_timeout,
                rebalance_timeout: r.config.rebalance_timeout,
                topics: vec![r.topic.clone()],
                assignor: r.config.assignor.clone(),
                owned: r.owned.iter().map(|p| (r.topic.clone(), *p)).collect(),
            })
            .await;
        let joined = match joined {
            Ok(j) => j,
            Err(e) if r.forget_member_if_unknown(&e) => continue,
            Err(e) => return Err(e),
        };
        {
            let mut m = r.membership.lock();
            m.member_id = joined.member_id.clone();
            m.generation = joined.generation;
        }
        // Clear the flag before sync: a rebalance announced from here on is seen.
        r.rejoin.store(false, Ordering::Release);
        match r
            .client
            .sync_group(&r.group, &joined.member_id, joined.generation)
            .await
        {
            Ok(a) => {
                break a
                    .into_iter()
                    .filter(|(t, _)| *t == r.topic)
                    .map(|(_, p)| p)
                    .collect::<BTreeSet<u32>>();
            }
            Err(ClientError::Server {
                code: ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration,
                ..
            }) => continue,
            // Removed before syncing (session expired): join again as a new member.
            Err(e) if r.forget_member_if_unknown(&e) => continue,
            Err(e) => return Err(e),
        }
    };
    let added: Vec<(String, u32)> = assigned
        .difference(&r.owned)
        .map(|p| (r.topic.clone(), *p))
        .collect();
    let committed = r.client.fetch_offsets(&r.group, &added).await?;
    let reader = r
        .client
        .consumer(&r.topic)
        .config(r.config.consumer.clone())
        .partitions(assigned.iter().copied().collect())
        .build()
        .await?;
    Ok(Joined {
        assigned,
        committed,
        reader,
    })
}

/// Seeks a partition the reader was built with to an offset from a position or a commit,
/// neither of which is negative: the checks in `seek` cannot refuse it.
fn seek_known(reader: &mut Consumer, partition: u32, offset: i64) {
    if let Err(e) = reader.seek(partition, offset) {
        tracing::warn!(partition, offset, error = %e, "seek after rebalance refused");
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
