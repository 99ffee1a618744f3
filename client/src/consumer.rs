//! A consumer without a group: it reads assigned partitions from positions it controls.
//! Batches are CRC-checked on arrival; positions advance by whole batches.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use rustmq_protocol::ApiKey;
use rustmq_protocol::batch;
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::decode_batches;

use crate::ClientError;
use crate::client::{RustMqClient, check};
use crate::config::{ConsumerConfig, StartPosition};
use crate::connection::BrokerConnection;
use crate::message::ConsumedMessage;

/// Builds a [`Consumer`].
pub struct ConsumerBuilder {
    client: RustMqClient,
    topic: String,
    config: ConsumerConfig,
    partitions: Option<Vec<u32>>,
}

impl ConsumerBuilder {
    pub(crate) fn new(client: RustMqClient, topic: &str) -> Self {
        Self {
            client,
            topic: topic.to_string(),
            config: ConsumerConfig::default(),
            partitions: None,
        }
    }
    /// Settings.
    pub fn config(mut self, c: ConsumerConfig) -> Self {
        self.config = c;
        self
    }
    /// Where to start in partitions without an explicit seek.
    pub fn start_position(mut self, p: StartPosition) -> Self {
        self.config.start_position = p;
        self
    }
    /// Partitions to read (all when unset).
    pub fn partitions(mut self, ps: Vec<u32>) -> Self {
        self.partitions = Some(ps);
        self
    }

    /// Consume as a member of `group` instead: partitions are assigned by the group
    /// coordinator and offsets are committed for the group.
    ///
    /// ```no_run
    /// # async fn demo(client: rustmq_client::RustMqClient) -> Result<(), rustmq_client::ClientError> {
    /// use rustmq_client::GroupConfig;
    /// let mut consumer = client
    ///     .consumer("payments")
    ///     .consumer_group("payment-processors")
    ///     .group_config(GroupConfig { max_retry_attempts: 3, dead_letter_queue: Some("failed-payments".into()), ..Default::default() })
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn consumer_group(
        self,
        group: impl Into<String>,
    ) -> crate::group_consumer::GroupConsumerBuilder {
        crate::group_consumer::GroupConsumerBuilder::new(
            self.client,
            self.topic,
            group.into(),
            self.config,
        )
    }
    /// Resolves the start positions and returns the consumer.
    ///
    /// ```no_run
    /// # async fn demo(client: rustmq_client::RustMqClient) -> Result<(), rustmq_client::ClientError> {
    /// use rustmq_client::StartPosition;
    /// let mut consumer = client.consumer("orders").start_position(StartPosition::Earliest).build().await?;
    /// let m = consumer.receive().await?;
    /// println!("{}@{}: {:?}", m.partition, m.offset, m.payload);
    /// # Ok(()) }
    /// ```
    pub async fn build(self) -> Result<Consumer, ClientError> {
        let n = self.client.partition_count(&self.topic).await?;
        let parts = self.partitions.unwrap_or_else(|| (0..n).collect());
        let mut c = Consumer {
            retry_delays: self.client.backoff(),
            client: self.client,
            topic_shared: Arc::from(self.topic.as_str()),
            topic: self.topic,
            config: self.config,
            positions: BTreeMap::new(),
            buffer: VecDeque::new(),
            in_flight: parking_lot::Mutex::new(FuturesUnordered::new()),
            fetching: HashMap::new(),
        };
        c.assign(parts).await?;
        Ok(c)
    }
}

/// Reads messages from assigned partitions.
pub struct Consumer {
    client: RustMqClient,
    topic: String,
    topic_shared: Arc<str>,
    config: ConsumerConfig,
    positions: BTreeMap<u32, i64>,
    buffer: VecDeque<ConsumedMessage>,
    /// Fetches out, at most one per leader; dropped (cancelled) with the consumer. Only
    /// ever used through `&mut self`: the mutex is there because the futures are not
    /// `Sync`, and `&Consumer` is held across awaits.
    in_flight: parking_lot::Mutex<FuturesUnordered<InFlightFetch>>,
    /// Partitions in a fetch that is out, with the offset asked for.
    fetching: HashMap<u32, i64>,
    /// Pauses between fetch rounds that failed (reset by one that did not).
    retry_delays: backon::ExponentialBackoff,
}

/// A fetch sent to one leader: the connection, the request, and its answer once it comes.
type InFlightFetch = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (
                    Arc<BrokerConnection>,
                    proto::FetchRequest,
                    Result<proto::FetchResponse, ClientError>,
                ),
            > + Send,
    >,
>;

impl Consumer {
    /// Replaces the assignment; new partitions start at the configured start position,
    /// partitions kept keep their positions.
    pub async fn assign(&mut self, partitions: Vec<u32>) -> Result<(), ClientError> {
        let n = self.client.partition_count(&self.topic).await?;
        if let Some(&bad) = partitions.iter().find(|&&p| p >= n) {
            return Err(ClientError::UnknownPartition {
                topic: self.topic.clone(),
                partition: bad,
            });
        }
        let mut positions = BTreeMap::new();
        for p in partitions {
            let pos = match self.positions.get(&p) {
                Some(&pos) => pos,
                None => self.start_offset(p, self.config.start_position).await?,
            };
            positions.insert(p, pos);
        }
        self.positions = positions;
        let keep = &self.positions;
        self.buffer.retain(|m| keep.contains_key(&m.partition));
        Ok(())
    }

    /// Assigned partitions.
    pub fn assignment(&self) -> Vec<u32> {
        self.positions.keys().copied().collect()
    }

    /// Next offset to be returned for a partition.
    pub fn position(&self, partition: u32) -> Option<i64> {
        self.buffer
            .iter()
            .find(|m| m.partition == partition)
            .map(|m| m.offset)
            .or_else(|| self.positions.get(&partition).copied())
    }

    async fn start_offset(&self, partition: u32, start: StartPosition) -> Result<i64, ClientError> {
        let ts = match start {
            StartPosition::Earliest => rustmq_protocol::EARLIEST_TIMESTAMP,
            StartPosition::Latest => rustmq_protocol::LATEST_TIMESTAMP,
            StartPosition::Timestamp(t) => t,
        };
        let o = self.client.list_offset(&self.topic, partition, ts).await?;
        if o >= 0 {
            return Ok(o);
        }
        // No message at or after the timestamp: start at the end.
        self.client
            .list_offset(&self.topic, partition, rustmq_protocol::LATEST_TIMESTAMP)
            .await
    }

    /// Continues `partition` at `offset`.
    pub fn seek(&mut self, partition: u32, offset: i64) -> Result<(), ClientError> {
        if !self.positions.contains_key(&partition) {
            return Err(ClientError::UnknownPartition {
                topic: self.topic.clone(),
                partition,
            });
        }
        if offset < 0 {
            return Err(ClientError::InvalidMessage(format!(
                "cannot seek to negative offset {offset}"
            )));
        }
        self.positions.insert(partition, offset);
        self.buffer.retain(|m| m.partition != partition);
        Ok(())
    }

    /// Continues `partition` at the first message with a timestamp at or after `ts` (ms).
    pub async fn seek_to_timestamp(&mut self, partition: u32, ts: i64) -> Result<(), ClientError> {
        let o = self
            .start_offset(partition, StartPosition::Timestamp(ts))
            .await?;
        self.seek(partition, o)
    }

    /// Waits for the next message.
    pub async fn receive(&mut self) -> Result<ConsumedMessage, ClientError> {
        self.receive_unpaused(&BTreeSet::new()).await
    }

    /// Waits for the next message of a partition not in `paused`; paused partitions are
    /// neither fetched nor delivered, and keep what was already fetched.
    pub(crate) async fn receive_unpaused(
        &mut self,
        paused: &BTreeSet<u32>,
    ) -> Result<ConsumedMessage, ClientError> {
        loop {
            if let Some(i) = self
                .buffer
                .iter()
                .position(|m| !paused.contains(&m.partition))
                && let Some(m) = self.buffer.remove(i)
            {
                return Ok(m);
            }
            if self.positions.is_empty() {
                return Err(ClientError::Config("no partitions assigned".into()));
            }
            if self.positions.keys().all(|p| paused.contains(p)) {
                // Everything paused: nothing to fetch until something is resumed.
                std::future::pending::<()>().await;
            }
            self.fetch(paused).await?;
        }
    }

    /// The consumer as a stream of messages.
    pub fn stream(self) -> impl Stream<Item = Result<ConsumedMessage, ClientError>> {
        futures::stream::unfold(self, |mut c| async move {
            let m = c.receive().await;
            Some((m, c))
        })
    }

    /// Sends a fetch to each leader of partitions that have nothing buffered and no fetch
    /// out, then takes in the first answer to arrive. Each leader's fetch is independent: a
    /// leader with nothing new long-polls while the others' answers are taken in and their
    /// partitions fetched again (as Kafka's consumer keeps one fetch per broker).
    async fn fetch(&mut self, paused: &BTreeSet<u32>) -> Result<(), ClientError> {
        let mut by_leader: HashMap<usize, (Arc<BrokerConnection>, Vec<proto::FetchPartition>)> =
            HashMap::new();
        // A retriable failure (a leader that died or moved): refreshed metadata and a pause
        // before the next round, so a consumer rides out a failover.
        let mut failed: Option<ClientError> = None;
        for (&p, &pos) in &self.positions {
            // Paused partitions, ones with messages still buffered and ones with a fetch out
            // are not fetched.
            if paused.contains(&p)
                || self.fetching.contains_key(&p)
                || self.buffer.iter().any(|m| m.partition == p)
            {
                continue;
            }
            let conn = match self.client.leader(&self.topic, p).await {
                Ok(c) => c,
                // No leader known right now (an election): ask again next round.
                Err(e) if e.is_retriable() => {
                    failed = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            by_leader
                .entry(Arc::as_ptr(&conn) as usize)
                .or_insert_with(|| (conn, Vec::new()))
                .1
                .push(proto::FetchPartition {
                    partition: p,
                    fetch_offset: pos,
                    partition_max_bytes: self.config.partition_max_bytes,
                });
        }
        let wait = self.config.fetch_max_wait;
        let timeout = self.client.config().request_timeout + wait;
        for (conn, parts) in by_leader.into_values() {
            for fp in &parts {
                self.fetching.insert(fp.partition, fp.fetch_offset);
            }
            let req = proto::FetchRequest {
                max_wait_ms: wait.as_millis() as u32,
                min_bytes: self.config.fetch_min_bytes,
                max_bytes: self.config.fetch_max_bytes,
                topics: vec![proto::FetchTopic {
                    topic: self.topic.clone(),
                    partitions: parts,
                }],
            };
            self.in_flight.get_mut().push(Box::pin(async move {
                let answer: Result<proto::FetchResponse, ClientError> =
                    conn.request(ApiKey::Fetch, &req, timeout).await;
                (conn, req, answer)
            }));
        }
        if let Some((conn, req, answer)) = self.in_flight.get_mut().next().await {
            for fp in req.topics.iter().flat_map(|t| &t.partitions) {
                self.fetching.remove(&fp.partition);
            }
            match answer {
                Ok(resp) => self.take_in(&conn, &req, resp).await?,
                Err(e) if e.is_retriable() => failed = Some(e),
                Err(e) => return Err(e),
            }
        }
        match failed {
            Some(e) => {
                tracing::debug!(topic = %self.topic, error = %e, "fetch failed; refreshing metadata");
                self.client.leader_failed(&self.topic, &e).await;
                let delay = self
                    .retry_delays
                    .next()
                    .unwrap_or(self.client.config().reconnect_max_delay);
                tokio::time::sleep(delay).await;
            }
            None => self.retry_delays = self.client.backoff(),
        }
        Ok(())
    }

    /// Takes in one leader's answer to `req`. A partition whose position moved while the
    /// fetch was out (a seek, a new assignment) ignores it: it would be the old position's
    /// records.
    async fn take_in(
        &mut self,
        conn: &BrokerConnection,
        req: &proto::FetchRequest,
        resp: proto::FetchResponse,
    ) -> Result<(), ClientError> {
        let asked: HashMap<u32, i64> = req
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|fp| (fp.partition, fp.fetch_offset))
            .collect();
        let mut moved = false;
        for t in resp.topics {
            for p in t.partitions {
                if asked.get(&p.partition) != self.positions.get(&p.partition) {
                    continue;
                }
                moved |= p.error_code == ErrorCode::NotLeader as i32;
                self.absorb(p).await?;
            }
        }
        if moved {
            // Its metadata named it leader; it no longer is (or is cut off).
            self.client.suspect(conn.addr());
            let _ = self
                .client
                .refresh_metadata(std::slice::from_ref(&self.topic))
                .await;
        }
        Ok(())
    }

    async fn absorb(&mut self, p: proto::FetchPartitionResponse) -> Result<(), ClientError> {
        let code = ErrorCode::try_from(p.error_code).unwrap_or(ErrorCode::Unknown);
        if code == ErrorCode::OffsetOutOfRange {
            // Like auto.offset.reset: continue from the configured start.
            let reset = match self.config.start_position {
                StartPosition::Latest => StartPosition::Latest,
                _ => StartPosition::Earliest,
            };
            let o = self.start_offset(p.partition, reset).await?;
            tracing::warn!(topic = %self.topic, partition = p.partition, reset_to = o, "offset out of range");
            self.positions.insert(p.partition, o);
            return Ok(());
        }
        if code.is_retriable() {
            return Ok(());
        }
        check(&self.topic, p.partition, p.error_code)?;
        if p.records.is_empty() {
            return Ok(());
        }
        let Some(pos) = self.positions.get(&p.partition).copied() else {
            return Ok(());
        };
        let infos = batch::validate(&p.records, usize::MAX)
            .map_err(|e| ClientError::Protocol(format!("fetched batch rejected: {e}")))?;
        let mut next = pos;
        for b in batch::split(&p.records, &infos) {
            let last = batch::last_offset(&b);
            if last < pos {
                continue;
            }
            let records = decode_batches(b).map_err(|e| ClientError::Protocol(e.to_string()))?;
            for r in records.into_iter().filter(|r| r.offset >= pos) {
                self.buffer.push_back(ConsumedMessage {
                    topic: self.topic_shared.clone(),
                    partition: p.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    payload: r.value.unwrap_or_default(),
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                });
            }
            next = next.max(last + 1);
        }
        self.positions.insert(p.partition, next);
        Ok(())
    }
}
