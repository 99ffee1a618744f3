//! One produce request: encodes the batches dispatched with it, groups them by partition
//! leader and sends each group once. Batches that may go through later come back to the
//! accumulator, which resends them in order ([`super::retry`]); the others are answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rustmq_protocol::ApiKey;
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::{OutgoingRecord, encode_batch_idempotent};
use tracing::Instrument;

use super::retry::{Flight, Retrying};
use super::{PartBatch, Pending, ProducerMetrics, SharedIdempotence};
use crate::ClientError;
use crate::client::RustMqClient;
use crate::config::{AckLevel, ProducerConfig};
use crate::connection::BrokerConnection;
use crate::message::SendResult;

/// What a request carries for one partition.
pub(super) enum Item {
    /// A batch leaving for the first time, stamped with its first sequence.
    Fresh {
        partition: u32,
        order: u64,
        batch: PartBatch,
        first: i32,
        pipelined_to: Option<u32>,
    },
    /// A batch sent before, going again.
    Again(Box<Flight>),
}

impl Item {
    pub fn slot(&self) -> (u32, u64) {
        match self {
            Self::Fresh {
                partition, order, ..
            } => (*partition, *order),
            Self::Again(f) => (f.partition, f.order),
        }
    }
}

/// What became of a request's batches.
#[derive(Default)]
pub(super) struct Done {
    /// (partition, order) of every batch the request carried: no longer in flight.
    pub slots: Vec<(u32, u64)>,
    /// Messages answered (acknowledged or failed for good).
    pub answered: Vec<u64>,
    /// Batches to send again.
    pub retries: Vec<Flight>,
    /// Batches the leader refused as out of sequence: retried if an earlier batch of the
    /// partition is still on its way (it left a gap the leader would not wait for), else
    /// failed.
    pub out_of_sequence: Vec<(Flight, ClientError)>,
}

/// Encoded batches bound for one leader.
type LeaderBatches = (u32, Arc<BrokerConnection>, Vec<Flight>);

pub(super) struct BatchSender {
    pub client: RustMqClient,
    pub topic: String,
    pub config: ProducerConfig,
    pub metrics: Arc<ProducerMetrics>,
    pub idempotence: Option<SharedIdempotence>,
    /// The idempotent producer id fresh batches are stamped with (-1: not idempotent).
    pub producer: i64,
    /// The [`super::Idempotence::generation`] fresh batches' sequences were taken under.
    pub generation: u64,
}

impl BatchSender {
    /// Encodes a partition's batch; an idempotent producer's carries its id and the first
    /// sequence dispatch gave it.
    fn encode(&self, records: &[OutgoingRecord], first: i32) -> Result<Bytes, ClientError> {
        let (pid, epoch) = if self.producer < 0 {
            (-1, -1)
        } else {
            (self.producer, 0)
        };
        encode_batch_idempotent(records, self.config.compression, pid, epoch, first)
            .map_err(|e| ClientError::InvalidMessage(e.to_string()))
    }

    /// Completes when, while a produce is outstanding, the metadata names another leader for
    /// one of its partitions: a dead leader answers nothing (QUIC sees no reset), so instead
    /// of waiting for the connection's idle timeout the batch is retried at the new leader
    /// (an idempotent producer's retry cannot duplicate it). Checks every 100 ms after the
    /// first 500 ms, so healthy slow acknowledgements cost nothing.
    async fn leader_moved(&self, conn: &Arc<BrokerConnection>, parts: &[u32]) -> ClientError {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // It may be dead or cut off: ask the others who leads now.
        self.client.suspect(conn.addr());
        loop {
            let _ = self
                .client
                .refresh_metadata(std::slice::from_ref(&self.topic))
                .await;
            for p in parts {
                if let Ok(now) = self.client.leader(&self.topic, *p).await
                    && !Arc::ptr_eq(&now, conn)
                {
                    return ClientError::from_code(
                        ErrorCode::NotLeader,
                        format!("partition {p} has a new leader; retrying there"),
                    );
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Sends the items once.
    pub async fn send(self, items: Vec<Item>) -> Done {
        let mut done = Done {
            slots: items.iter().map(Item::slot).collect(),
            ..Done::default()
        };
        let mut flights = Vec::with_capacity(items.len());
        let mut again = false;
        for item in items {
            match item {
                Item::Fresh {
                    partition,
                    order,
                    batch,
                    first,
                    pipelined_to,
                } => {
                    let records: Vec<OutgoingRecord> =
                        batch.msgs.iter().map(|m| m.record.clone()).collect();
                    match self.encode(&records, first) {
                        Ok(bytes) => flights.push(Flight {
                            partition,
                            order,
                            bytes,
                            msgs: batch.msgs,
                            producer: self.producer,
                            generation: self.generation,
                            pipelined_to,
                            retry: Retrying::new(
                                &self.config,
                                self.client.config().request_timeout,
                            ),
                            first_at: batch.first_at,
                        }),
                        Err(e) => self.fail(&mut done, batch.msgs, self.generation, e),
                    }
                }
                Item::Again(f) => {
                    again = true;
                    flights.push(*f);
                }
            }
        }
        if again {
            let _ = self
                .client
                .refresh_metadata(std::slice::from_ref(&self.topic))
                .await;
        }
        // Group by leader; on a single broker this is one request.
        let mut by_leader: HashMap<u32, LeaderBatches> = HashMap::new();
        for f in flights {
            match self.client.leader_and_id(&self.topic, f.partition).await {
                Ok((id, _)) if f.pipelined_to.is_some_and(|l| l != id) => {
                    let e = ClientError::from_code(
                        ErrorCode::NotLeader,
                        format!(
                            "partition {} moved to broker {id} behind batches still in flight",
                            f.partition
                        ),
                    );
                    self.retry(&mut done, f, e);
                }
                Ok((id, conn)) => by_leader
                    .entry(id)
                    .or_insert_with(|| (id, conn, Vec::new()))
                    .2
                    .push(f),
                Err(e) if e.is_retriable() => self.retry(&mut done, f, e),
                Err(e) => self.fail(&mut done, f.msgs, f.generation, e),
            }
        }
        for (_, (leader, conn, group)) in by_leader {
            self.send_to(&mut done, leader, conn, group).await;
        }
        done
    }

    /// One produce request to one leader.
    async fn send_to(
        &self,
        done: &mut Done,
        leader: u32,
        conn: Arc<BrokerConnection>,
        group: Vec<Flight>,
    ) {
        let (acks, acks_replicas) = match self.config.ack_level {
            AckLevel::None => (proto::Acks::NoneAck, 0),
            AckLevel::Leader => (proto::Acks::Leader, 0),
            AckLevel::All => (proto::Acks::All, 0),
            AckLevel::Majority => (proto::Acks::Majority, 0),
            AckLevel::Custom(n) => (proto::Acks::Custom, n),
        };
        let timeout = self.client.config().request_timeout;
        let req = proto::ProduceRequest {
            acks: acks as i32,
            acks_replicas,
            timeout_ms: timeout.as_millis().min(u128::from(u32::MAX)) as u32,
            topics: vec![proto::TopicProduceData {
                topic: self.topic.clone(),
                partitions: group
                    .iter()
                    .map(|f| proto::PartitionProduceData {
                        partition: f.partition,
                        records: f.bytes.clone(),
                    })
                    .collect(),
            }],
        };
        let parts: Vec<u32> = group.iter().map(|f| f.partition).collect();
        let span = produce_span(&group);
        let messages = group.iter().map(|f| f.msgs.len() as u64).sum();
        for f in &group {
            let queued = f.first_at.elapsed();
            self.metrics
                .queue_time
                .record_n(queued, f.msgs.len() as u64);
        }
        let sent = std::time::Instant::now();
        let resp: Result<proto::ProduceResponse, ClientError> = tokio::select! {
            r = conn.request(ApiKey::Produce, &req, timeout).instrument(span) => r,
            moved = self.leader_moved(&conn, &parts) => Err(moved),
        };
        if resp.is_ok() {
            self.metrics
                .request_latency
                .record_n(sent.elapsed(), messages);
        }
        let mut results: HashMap<u32, proto::PartitionProduceResponse> = match resp {
            Ok(resp) => resp
                .topics
                .into_iter()
                .flat_map(|t| t.partitions)
                .map(|p| (p.partition, p))
                .collect(),
            Err(e) if e.is_retriable() => {
                for f in group {
                    self.retry(done, f, e.clone());
                }
                return;
            }
            Err(e) => {
                for f in group {
                    self.fail(done, f.msgs, f.generation, e.clone());
                }
                return;
            }
        };
        for f in group {
            let Some(r) = results.remove(&f.partition) else {
                let e = ClientError::Protocol("partition missing from response".into());
                self.retry(done, f, e);
                continue;
            };
            let code = ErrorCode::try_from(r.error_code).unwrap_or(ErrorCode::Unknown);
            let e = ClientError::from_code(code, r.error_message);
            match code {
                ErrorCode::None => self.succeed(done, f, r.base_offset, leader),
                ErrorCode::OutOfOrderSequence if f.producer >= 0 => {
                    done.out_of_sequence.push((f, e));
                }
                _ if e.is_retriable() => {
                    if code == ErrorCode::NotLeader {
                        self.client.suspect(conn.addr());
                    }
                    self.retry(done, f, e);
                }
                _ => self.fail(done, f.msgs, f.generation, e),
            }
        }
    }

    /// The batch goes back to be sent again, or fails when its attempts ran out. Until a
    /// batch of the partition is acknowledged again, it has one request in flight: the
    /// failure may be a leader change, and the new leader may hold no state for this
    /// producer.
    fn retry(&self, done: &mut Done, mut f: Flight, e: ClientError) {
        if let Some(idem) = &self.idempotence {
            let mut st = idem.lock();
            if st.generation == f.generation
                && let Some(c) = st.confirmed.get_mut(f.partition as usize)
            {
                *c = None;
            }
        }
        if f.retry.failed() {
            done.retries.push(f);
        } else {
            self.fail(done, f.msgs, f.generation, e);
        }
    }

    fn succeed(&self, done: &mut Done, f: Flight, base: i64, leader: u32) {
        if let Some(idem) = &self.idempotence {
            let mut st = idem.lock();
            if st.generation == f.generation
                && let Some(c) = st.confirmed.get_mut(f.partition as usize)
            {
                *c = Some(leader);
            }
        }
        // Counted before any message is answered: a caller holding its result reads
        // metrics that include it.
        let n = f.msgs.len() as u64;
        let bytes: usize = f.msgs.iter().map(|m| m.size).sum();
        self.metrics.messages_sent.fetch_add(n, Ordering::Relaxed);
        self.metrics.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .bytes_sent
            .fetch_add(bytes as u64, Ordering::Relaxed);
        for (i, m) in f.msgs.into_iter().enumerate() {
            done.answered.push(m.id);
            m.reply.send(Ok(SendResult {
                message_id: m.id,
                partition: f.partition,
                offset: base + i as i64,
                timestamp: m.record.timestamp,
            }));
        }
    }

    fn fail(&self, done: &mut Done, msgs: Vec<Pending>, generation: u64, e: ClientError) {
        done.answered.extend(msgs.iter().map(|m| m.id));
        super::fail_batch(
            self.idempotence.as_ref(),
            generation,
            &self.metrics,
            msgs,
            e,
        );
    }
}

/// Most links one produce request's span keeps to the sends it carries (beyond the first,
/// which is its parent).
const MAX_SPAN_LINKS: usize = 128;

/// The client span of one produce request: a child of its first message's span (its send
/// span, or the span it was sent in; so a lone send's trace holds the broker's work on it),
/// linked to the other messages' spans; a root span when the messages carry none.
fn produce_span(group: &[Flight]) -> tracing::Span {
    let messages = group.iter().map(|f| f.msgs.len()).sum::<usize>();
    let mut spans = group
        .iter()
        .flat_map(|f| f.msgs.iter().map(|m| &m.span))
        .filter(|s| !s.is_disabled());
    let Some(first) = spans.next() else {
        return tracing::info_span!(parent: None, "rustmq.produce", otel.kind = "client", messages);
    };
    let span = tracing::info_span!(parent: first, "rustmq.produce", otel.kind = "client", messages);
    let mut linked = 0;
    for other in spans {
        // Messages sent in one caller's span share it: one link is enough.
        if linked == MAX_SPAN_LINKS {
            break;
        }
        if other.id() != first.id() {
            span.follows_from(other);
            linked += 1;
        }
    }
    span
}
