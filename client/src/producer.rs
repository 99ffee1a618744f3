//! The producer: batching by count, bytes and linger; many partitions per request;
//! pipelining (an idempotent producer keeps up to five requests per partition in flight,
//! ordered by its sequence numbers; any other producer one, so retries cannot reorder a
//! partition); retries with exponential backoff and jitter on retriable errors only, a
//! partition's in the order its batches were first sent ([`retry`]).

mod request;
mod retry;

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use rustmq_protocol::ApiKey;
use rustmq_protocol::partitioner::partition_for_key;
use rustmq_protocol::proto;
use rustmq_protocol::records::{OutgoingRecord, now_ms};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ClientError;
use crate::client::RustMqClient;
use crate::config::{Partitioner, ProducerConfig};
use crate::latency::LatencyRecorder;
use crate::message::{Message, SendResult};
use request::{BatchSender, Done, Item};
use retry::RetryQueue;
use rustmq_transport::telemetry::{self, TraceParent};

/// Largest produce request the producer builds (well under the broker's 16 MiB default).
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Most requests of one partition in flight (Kafka's limit with idempotence, for the same
/// reason: a leader recognises a retry among a producer's last five batches).
pub const MAX_IN_FLIGHT_PER_PARTITION: usize = 5;

/// Producer counters.
#[derive(Debug, Default)]
pub struct ProducerMetrics {
    /// Messages acknowledged.
    pub messages_sent: AtomicU64,
    /// Messages that failed for good.
    pub messages_failed: AtomicU64,
    /// Batches acknowledged.
    pub batches_sent: AtomicU64,
    /// Payload bytes acknowledged.
    pub bytes_sent: AtomicU64,
    /// Retries of batches.
    pub retries: AtomicU64,
    /// Most requests of one partition that were in flight at once.
    pub partition_in_flight_peak: AtomicU64,
    /// How long messages waited in the producer, one count per message: from its batch's
    /// first message to the request carrying it being sent (linger, a full pipeline,
    /// retries' backoff), as Kafka's `record-queue-time`.
    pub queue_time: LatencyRecorder,
    /// Produce requests, from sending to the broker's answer (network and broker), one
    /// count per message carried, as Kafka's `request-latency`.
    pub request_latency: LatencyRecorder,
}

impl ProducerMetrics {
    /// Average messages per acknowledged batch.
    pub fn average_batch_size(&self) -> f64 {
        let b = self.batches_sent.load(Ordering::Relaxed);
        if b == 0 {
            0.0
        } else {
            self.messages_sent.load(Ordering::Relaxed) as f64 / b as f64
        }
    }
}

/// A message's outcome, as the broker answered it.
pub type Delivery = Result<SendResult, ClientError>;

/// Where a message's outcome goes: the future `send_async` returned, or the caller's
/// callback (`send_with_callback`: no channel and no future per message, for senders that
/// keep tens of thousands of messages outstanding).
enum Reply {
    Future(oneshot::Sender<Delivery>),
    Callback(Box<dyn FnOnce(Delivery) + Send>),
}

impl Reply {
    fn send(self, d: Delivery) {
        match self {
            Self::Future(tx) => {
                let _ = tx.send(d);
            }
            Self::Callback(f) => f(d),
        }
    }
}

/// An idempotent producer's id and next sequence per partition. Sequences are taken when a
/// batch is dispatched, in queue order, so they follow send order however the requests then
/// travel; the partition leader appends them in sequence order.
#[derive(Debug, Default)]
struct Idempotence {
    /// -1 until the broker gave an id (or after a failure forced a new one).
    producer_id: i64,
    /// Bumped when a failure forgets the id: results of requests sent under an older
    /// generation no longer change this state.
    generation: u64,
    /// Next sequence, by partition.
    sequences: Vec<i32>,
    /// By partition, the leader that acknowledged the last batch under this id (None after
    /// a retriable failure). A partition pipelines only to that leader; otherwise it has one
    /// request in flight: a leader may hold no state for this producer yet, and would take
    /// a later batch that arrived first as the start of the sequence.
    confirmed: Vec<Option<u32>>,
}

impl Idempotence {
    fn new(producer_id: i64, partitions: u32) -> Self {
        Self {
            producer_id,
            generation: 0,
            sequences: vec![0; partitions as usize],
            confirmed: vec![None; partitions as usize],
        }
    }

    /// Sequences start again at 0 (a new producer id).
    fn restart(&mut self) {
        self.sequences.fill(0);
        self.confirmed.fill(None);
    }
}

type SharedIdempotence = Arc<parking_lot::Mutex<Idempotence>>;

/// Asks the brokers in turn: one cut off from the controllers answers with a retriable
/// error, and the next one may not be.
async fn init_producer_id(client: &RustMqClient) -> Result<i64, ClientError> {
    let mut last = ClientError::Config("no brokers".into());
    for addr in client.broker_addrs() {
        let answer: Result<proto::InitProducerIdResponse, ClientError> = client
            .connection(&addr)
            .request(
                ApiKey::InitProducerId,
                &proto::InitProducerIdRequest {},
                client.config().request_timeout,
            )
            .await;
        match answer.and_then(|r| {
            crate::client::check("", 0, r.error_code)?;
            Ok(r.producer_id)
        }) {
            Ok(id) => return Ok(id),
            Err(e) if e.is_retriable() => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

struct Pending {
    id: u64,
    record: OutgoingRecord,
    size: usize,
    reply: Reply,
    /// `rustmq.send`, from the caller's send to the acknowledgement (closed when dropped),
    /// or the caller's span when per-message spans are off.
    span: tracing::Span,
}

struct PartBatch {
    msgs: Vec<Pending>,
    bytes: usize,
    first_at: Instant,
}

enum Cmd {
    Send(Pending, Option<u32>),
    Flush(u64, oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// Resolves when the broker acknowledged (or finally refused) one message.
pub struct DeliveryFuture(oneshot::Receiver<Result<SendResult, ClientError>>);

impl Future for DeliveryFuture {
    type Output = Result<SendResult, ClientError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

/// Builds a [`Producer`].
#[derive(Default)]
pub struct ProducerBuilder {
    topic: Option<String>,
    config: ProducerConfig,
    client: Option<RustMqClient>,
}

impl ProducerBuilder {
    /// A builder with default settings.
    pub fn new() -> Self {
        Self::default()
    }
    /// Topic the producer writes to.
    pub fn topic(mut self, t: impl Into<String>) -> Self {
        self.topic = Some(t.into());
        self
    }
    /// Settings.
    pub fn config(mut self, c: ProducerConfig) -> Self {
        self.config = c;
        self
    }
    /// Client to send through.
    pub fn client(mut self, c: RustMqClient) -> Self {
        self.client = Some(c);
        self
    }
    /// Checks the topic exists and starts the producer.
    pub async fn build(self) -> Result<Producer, ClientError> {
        let topic = self
            .topic
            .ok_or_else(|| ClientError::Config("producer needs a topic".into()))?;
        let client = self
            .client
            .ok_or_else(|| ClientError::Config("producer needs a client".into()))?;
        if self.config.max_in_flight == 0 || self.config.batch_size == 0 {
            return Err(ClientError::Config(
                "max_in_flight and batch_size must be at least 1".into(),
            ));
        }
        if !(1..=MAX_IN_FLIGHT_PER_PARTITION).contains(&self.config.max_in_flight_per_partition) {
            return Err(ClientError::Config(format!(
                "max_in_flight_per_partition must be between 1 and {MAX_IN_FLIGHT_PER_PARTITION} \
                 (partition leaders remember an idempotent producer's last {MAX_IN_FLIGHT_PER_PARTITION} batches)"
            )));
        }
        let partitions = client.partition_count(&topic).await?;
        let idempotence = if self.config.idempotent {
            let producer_id = init_producer_id(&client).await?;
            Some(Arc::new(parking_lot::Mutex::new(Idempotence::new(
                producer_id,
                partitions,
            ))))
        } else {
            None
        };
        let metrics = Arc::new(ProducerMetrics::default());
        let (tx, rx) = mpsc::channel(16_384);
        let acc = Accumulator {
            topic: topic.clone(),
            partitions,
            config: self.config.clone(),
            client,
            metrics: metrics.clone(),
            batches: (0..partitions).map(|_| VecDeque::new()).collect(),
            queued: BTreeSet::new(),
            in_flight: (0..partitions).map(|_| BTreeSet::new()).collect(),
            retries: RetryQueue::default(),
            next_order: 0,
            requests: 0,
            pending: BTreeSet::new(),
            flushes: Vec::new(),
            sticky: 0,
            rr: 0,
            idempotence,
            fetching_id: false,
        };
        let task = tokio::spawn(acc.run(rx));
        Ok(Producer {
            topic,
            partitions,
            config: self.config,
            tx,
            next_id: AtomicU64::new(0),
            metrics,
            task: parking_lot::Mutex::new(Some(task)),
        })
    }
}

/// Sends messages to one topic.
///
/// ```no_run
/// # async fn demo(client: rustmq_client::RustMqClient) -> Result<(), rustmq_client::ClientError> {
/// use rustmq_client::Message;
/// let producer = client.create_producer("orders").await?;
/// let r = producer.send(Message::builder().topic("orders").key("u1").payload("hello").build()?).await?;
/// println!("partition {} offset {}", r.partition, r.offset);
/// producer.close().await?;
/// # Ok(()) }
/// ```
pub struct Producer {
    topic: String,
    partitions: u32,
    config: ProducerConfig,
    tx: mpsc::Sender<Cmd>,
    next_id: AtomicU64,
    metrics: Arc<ProducerMetrics>,
    task: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl Producer {
    /// Queues a message; the returned future resolves when it is acknowledged. Waits only
    /// when the producer's queue is full.
    pub async fn send_async(&self, msg: Message) -> Result<DeliveryFuture, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.queue(msg, Reply::Future(reply)).await?;
        Ok(DeliveryFuture(rx))
    }

    /// Queues a message; `done` is called with its outcome once the broker answered (or the
    /// producer gave up), on the producer's task: it should be quick and must not block.
    /// Waits only when the producer's queue is full. Like Kafka's `send(record, callback)`.
    ///
    /// ```no_run
    /// # async fn demo(producer: rustmq_client::Producer) -> Result<(), rustmq_client::ClientError> {
    /// use rustmq_client::Message;
    /// let msg = Message::builder().topic("orders").payload("hello").build()?;
    /// producer
    ///     .send_with_callback(msg, |outcome| match outcome {
    ///         Ok(r) => println!("offset {}", r.offset),
    ///         Err(e) => eprintln!("not sent: {e}"),
    ///     })
    ///     .await?;
    /// producer.flush().await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_with_callback(
        &self,
        msg: Message,
        done: impl FnOnce(Delivery) + Send + 'static,
    ) -> Result<(), ClientError> {
        self.queue(msg, Reply::Callback(Box::new(done))).await
    }

    async fn queue(&self, msg: Message, reply: Reply) -> Result<(), ClientError> {
        if !msg.topic.is_empty() && msg.topic != self.topic {
            return Err(ClientError::InvalidMessage(format!(
                "message is for topic '{}' but this producer writes to '{}'",
                msg.topic, self.topic
            )));
        }
        let size = msg.size();
        if size > self.config.max_message_size {
            return Err(ClientError::MessageTooLarge {
                size,
                max_size: self.config.max_message_size,
            });
        }
        if let Some(p) = msg.partition
            && p >= self.partitions
        {
            return Err(ClientError::UnknownPartition {
                topic: self.topic.clone(),
                partition: p,
            });
        }
        // A span per message is the send's whole life, but costs about a microsecond with an
        // OpenTelemetry layer even when unsampled: it is a debug span, on only when asked for
        // (`rustmq_client=debug`). Otherwise the message carries the caller's span, which
        // the produce request's span then joins.
        let send_span = tracing::debug_span!("rustmq.send", otel.kind = "producer",
            messaging.system = "rustmq", messaging.destination.name = %self.topic);
        let span = if send_span.is_disabled() {
            tracing::Span::current()
        } else {
            send_span
        };
        let mut headers = msg.headers;
        if self.config.trace_headers
            && !headers.iter().any(|(k, _)| k == telemetry::HEADER)
            && let Some(tp) = TraceParent::of(&span)
        {
            headers.push((telemetry::HEADER.to_string(), Bytes::from(tp.to_string())));
        }
        for (k, v) in &self.config.default_properties {
            if !headers.iter().any(|(hk, _)| hk == k) {
                headers.push((k.clone(), Bytes::from(v.clone())));
            }
        }
        let partition = msg.partition.or_else(|| {
            msg.key
                .as_ref()
                .map(|k| partition_for_key(k, self.partitions))
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            id,
            size,
            record: OutgoingRecord {
                key: msg.key,
                value: Some(msg.payload),
                headers,
                timestamp: msg.timestamp.unwrap_or_else(now_ms),
            },
            reply,
            span,
        };
        self.tx
            .send(Cmd::Send(pending, partition))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Sends a message and waits for its acknowledgement.
    pub async fn send(&self, msg: Message) -> Result<SendResult, ClientError> {
        self.send_async(msg).await?.await
    }

    /// Sends messages and waits for all acknowledgements (results in input order).
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<Vec<SendResult>, ClientError> {
        let mut futs = Vec::with_capacity(msgs.len());
        for m in msgs {
            futs.push(self.send_async(m).await?);
        }
        let mut out = Vec::with_capacity(futs.len());
        for f in futs {
            out.push(f.await?);
        }
        Ok(out)
    }

    /// Sends everything queued so far now and waits until it is acknowledged or failed.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        let upto = self.next_id.load(Ordering::Relaxed);
        self.tx
            .send(Cmd::Flush(upto, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    /// Flushes and stops the producer.
    pub async fn close(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
        Ok(())
    }

    /// Counters.
    pub fn metrics(&self) -> Arc<ProducerMetrics> {
        self.metrics.clone()
    }

    /// Partitions of the topic.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }
}

struct Accumulator {
    topic: String,
    partitions: u32,
    config: ProducerConfig,
    client: RustMqClient,
    metrics: Arc<ProducerMetrics>,
    /// Batches waiting, by partition.
    batches: Vec<VecDeque<PartBatch>>,
    /// Partitions with batches waiting, in order.
    queued: BTreeSet<u32>,
    /// By partition, the dispatch orders of its batches in flight.
    in_flight: Vec<BTreeSet<u64>>,
    /// Batches waiting to be sent again.
    retries: RetryQueue,
    /// The next batch's dispatch order.
    next_order: u64,
    requests: usize,
    pending: BTreeSet<u64>,
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    sticky: u32,
    rr: u32,
    idempotence: Option<SharedIdempotence>,
    /// A task is getting a new producer id (after a failure forgot the last one).
    fetching_id: bool,
}

/// A new producer id, or why there is none.
type IdResult = Result<i64, ClientError>;

impl Accumulator {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let (id_tx, mut id_rx) = mpsc::unbounded_channel::<IdResult>();
        let mut closing: Option<Option<oneshot::Sender<()>>> = None;
        // One timer, moved only when the next linger deadline changes (re-arming a timer on
        // every loop costs more than the rest of the loop).
        let linger = tokio::time::sleep_until(Instant::now());
        tokio::pin!(linger);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = self.next_deadline();
            if deadline != armed {
                if let Some(d) = deadline {
                    linger.as_mut().reset(d);
                }
                armed = deadline;
            }
            tokio::select! {
                cmd = rx.recv(), if closing.is_none() => match cmd {
                    Some(c) => {
                        self.handle(c, &mut closing);
                        // Take whatever else is queued before deciding what to send.
                        for _ in 0..4096 {
                            match rx.try_recv() {
                                Ok(c) => self.handle(c, &mut closing),
                                Err(_) => break,
                            }
                        }
                    }
                    None => closing = Some(None),
                },
                Some(d) = done_rx.recv() => self.finished(d),
                Some(id) = id_rx.recv() => self.got_id(id),
                _ = &mut linger, if armed.is_some() => armed = None,
            }
            if self.needs_id() {
                self.fetch_id(&id_tx);
            } else {
                self.dispatch(&done_tx, closing.is_some());
            }
            self.resolve_flushes();
            if closing.is_some() && self.pending.is_empty() && self.requests == 0 {
                if let Some(Some(tx)) = closing.take() {
                    let _ = tx.send(());
                }
                return;
            }
        }
    }

    fn handle(&mut self, cmd: Cmd, closing: &mut Option<Option<oneshot::Sender<()>>>) {
        match cmd {
            Cmd::Send(p, partition) => {
                let partition = partition.unwrap_or_else(|| self.keyless_partition());
                self.pending.insert(p.id);
                let Some(q) = self.batches.get_mut(partition as usize) else {
                    // Partitions were checked when the message was queued.
                    self.pending.remove(&p.id);
                    p.reply.send(Err(ClientError::UnknownPartition {
                        topic: self.topic.clone(),
                        partition,
                    }));
                    return;
                };
                self.queued.insert(partition);
                let full = q.back().is_none_or(|b| {
                    b.msgs.len() >= self.config.batch_size
                        || b.bytes + p.size > self.config.batch_bytes
                });
                if full {
                    q.push_back(PartBatch {
                        msgs: Vec::new(),
                        bytes: 0,
                        first_at: Instant::now(),
                    });
                }
                if let Some(b) = q.back_mut() {
                    b.bytes += p.size;
                    b.msgs.push(p);
                    if self.config.partitioner == Partitioner::Sticky
                        && (b.msgs.len() >= self.config.batch_size
                            || b.bytes >= self.config.batch_bytes)
                    {
                        self.sticky = (self.sticky + 1) % self.partitions.max(1);
                    }
                }
            }
            Cmd::Flush(upto, tx) => self.flushes.push((upto, tx)),
            Cmd::Close(tx) => *closing = Some(Some(tx)),
        }
    }

    fn keyless_partition(&mut self) -> u32 {
        match self.config.partitioner {
            Partitioner::Sticky => self.sticky,
            Partitioner::RoundRobin => {
                self.rr = self.rr.wrapping_add(1);
                self.rr % self.partitions.max(1)
            }
        }
    }

    /// When the oldest batch that could be sent now reaches its linger, or the earliest
    /// retry that could go is due; None while nothing could be sent anyway (an
    /// acknowledgement or a new id wakes the loop then).
    fn next_deadline(&self) -> Option<Instant> {
        if self.fetching_id || self.requests >= self.config.max_in_flight {
            return None;
        }
        let idem = self.idempotence.as_ref().map(|i| i.lock());
        let fresh = self
            .queued
            .iter()
            .filter(|p| self.has_slot(**p, idem.as_deref()))
            .filter_map(|p| self.batches[*p as usize].front())
            .map(|b| b.first_at + self.config.batch_timeout);
        let retries = self
            .retries
            .heads(|p| self.in_flight[p as usize].is_empty())
            .map(|(_, at)| at);
        fresh.chain(retries).min()
    }

    /// Whether partition `p` may have one more new batch in flight: none while a batch of
    /// it waits to be retried (sequences must reach the leader in order); up to
    /// `max_in_flight_per_partition` while the leader that acknowledged this idempotent
    /// producer's last batch there still leads it; else one.
    fn has_slot(&self, p: u32, idem: Option<&Idempotence>) -> bool {
        if self.retries.holds(p) {
            return false;
        }
        let n = self.in_flight[p as usize].len();
        n == 0
            || (n < self.config.max_in_flight_per_partition && self.pipelined_to(p, idem).is_some())
    }

    /// The leader a batch of `p` may be pipelined to: the one that acknowledged this
    /// idempotent producer there, while the metadata still names it.
    fn pipelined_to(&self, p: u32, idem: Option<&Idempotence>) -> Option<u32> {
        let leader = idem?.confirmed[p as usize]?;
        (self.client.cached_leader_id(&self.topic, p) == Some(leader)).then_some(leader)
    }

    /// An idempotent producer without an id sends nothing until it has a new one.
    fn needs_id(&self) -> bool {
        self.idempotence
            .as_ref()
            .is_some_and(|i| i.lock().producer_id < 0)
    }

    fn fetch_id(&mut self, tx: &mpsc::UnboundedSender<IdResult>) {
        if self.fetching_id {
            return;
        }
        self.fetching_id = true;
        let client = self.client.clone();
        let delay = self.config.retry_base_delay;
        let tx = tx.clone();
        tokio::spawn(async move {
            // Brokers may be failing over: retry like a produce would.
            let give_up_at = Instant::now() + client.config().request_timeout;
            let id = loop {
                match init_producer_id(&client).await {
                    Err(e) if e.is_retriable() && Instant::now() < give_up_at => {
                        tokio::time::sleep(delay).await;
                    }
                    other => break other,
                }
            };
            let _ = tx.send(id);
        });
    }

    /// A new producer id: sequences start again at 0. Without one, everything queued fails.
    fn got_id(&mut self, id: IdResult) {
        self.fetching_id = false;
        let Some(idem) = &self.idempotence else {
            return;
        };
        match id {
            Ok(id) => {
                let mut st = idem.lock();
                st.producer_id = id;
                st.restart();
            }
            Err(e) => {
                self.queued.clear();
                let failed: Vec<Pending> = self
                    .batches
                    .iter_mut()
                    .flat_map(|q| q.drain(..).flat_map(|b| b.msgs))
                    .collect();
                self.metrics
                    .messages_failed
                    .fetch_add(failed.len() as u64, Ordering::Relaxed);
                for m in failed {
                    self.pending.remove(&m.id);
                    m.reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn dispatch(&mut self, done: &mpsc::UnboundedSender<Done>, closing: bool) {
        let force = closing || !self.flushes.is_empty();
        while self.requests < self.config.max_in_flight {
            let mut chosen: Vec<Item> = Vec::new();
            let mut bytes = 0;
            // Retries first: a partition's earliest, once nothing of it is in flight.
            let now = Instant::now();
            let due: Vec<u32> = self
                .retries
                .heads(|p| self.in_flight[p as usize].is_empty())
                .filter(|(_, at)| *at <= now)
                .map(|(p, _)| p)
                .collect();
            let mut retried = BTreeSet::new();
            for p in due {
                if let Some(f) = self.retries.pop(p) {
                    if !chosen.is_empty() && bytes + f.bytes.len() > MAX_REQUEST_BYTES {
                        self.retries.push(f);
                        continue;
                    }
                    bytes += f.bytes.len();
                    retried.insert(p);
                    self.in_flight[p as usize].insert(f.order);
                    chosen.push(Item::Again(Box::new(f)));
                }
            }
            let parts: Vec<u32> = self.queued.iter().copied().collect();
            let idem = self.idempotence.clone();
            let idem = idem.as_ref().map(|i| i.lock());
            let mut fresh: Vec<(u32, u64, PartBatch, Option<u32>)> = Vec::new();
            for p in parts {
                // One batch per partition per request: answers are matched by partition.
                if retried.contains(&p) || !self.has_slot(p, idem.as_deref()) {
                    continue;
                }
                let q = &self.batches[p as usize];
                let ready = q.front().is_some_and(|b| {
                    force
                        || q.len() > 1
                        || b.msgs.len() >= self.config.batch_size
                        || b.bytes >= self.config.batch_bytes
                        || b.first_at.elapsed() >= self.config.batch_timeout
                });
                if !ready
                    || (!chosen.is_empty() || !fresh.is_empty())
                        && bytes + q.front().map_or(0, |b| b.bytes) > MAX_REQUEST_BYTES
                {
                    continue;
                }
                // Sent behind batches still in flight: only to the leader that
                // acknowledged this producer.
                let pipelined_to = if self.in_flight[p as usize].is_empty() {
                    None
                } else {
                    self.pipelined_to(p, idem.as_deref())
                };
                let q = &mut self.batches[p as usize];
                if let Some(b) = q.pop_front() {
                    bytes += b.bytes;
                    let order = self.next_order;
                    self.next_order += 1;
                    self.in_flight[p as usize].insert(order);
                    fresh.push((p, order, b, pipelined_to));
                }
                if q.is_empty() {
                    self.queued.remove(&p);
                }
                // Like Kafka's sticky partitioner: once the sticky partition's batch leaves,
                // new keyless messages go to the next partition, so load spreads over
                // partitions (and their in-flight slots) even when batches leave on linger.
                if p == self.sticky {
                    self.sticky = (self.sticky + 1) % self.partitions.max(1);
                }
            }
            if chosen.is_empty() && fresh.is_empty() {
                return;
            }
            for item in chosen
                .iter()
                .map(Item::slot)
                .chain(fresh.iter().map(|f| (f.0, f.1)))
            {
                let n = self.in_flight[item.0 as usize].len();
                self.metrics
                    .partition_in_flight_peak
                    .fetch_max(n as u64, Ordering::Relaxed);
            }
            // Sequences are taken here, in dispatch order.
            let mut idem = idem;
            let (producer, generation) = idem
                .as_deref()
                .map_or((-1, 0), |st| (st.producer_id, st.generation));
            for (p, order, b, pipelined_to) in fresh {
                let first = match idem.as_deref_mut() {
                    Some(st) => {
                        let seq = &mut st.sequences[p as usize];
                        let first = *seq;
                        *seq = rustmq_protocol::batch::sequence_after(first, b.msgs.len() as i32);
                        first
                    }
                    None => -1,
                };
                chosen.push(Item::Fresh {
                    partition: p,
                    order,
                    batch: b,
                    first,
                    pipelined_to,
                });
            }
            self.requests += 1;
            let sender = BatchSender {
                client: self.client.clone(),
                topic: self.topic.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
                idempotence: self.idempotence.clone(),
                producer,
                generation,
            };
            let done = done.clone();
            tokio::spawn(async move {
                let d = sender.send(chosen).await;
                let _ = done.send(d);
            });
        }
    }

    fn finished(&mut self, d: Done) {
        self.requests -= 1;
        for (p, order) in d.slots {
            if let Some(f) = self.in_flight.get_mut(p as usize) {
                f.remove(&order);
            }
        }
        for id in d.answered {
            self.pending.remove(&id);
        }
        self.metrics
            .retries
            .fetch_add(d.retries.len() as u64, Ordering::Relaxed);
        for f in d.retries {
            self.retries.push(f);
        }
        // Refused as out of sequence: a gap an earlier batch still on its way (in flight or
        // waiting to be retried) will fill, so it goes again behind that one; with nothing
        // earlier on its way the sequence is broken and it fails.
        for (mut f, e) in d.out_of_sequence {
            let p = f.partition;
            let earlier = self.in_flight[p as usize]
                .first()
                .is_some_and(|o| *o < f.order)
                || self.retries.holds_before(p, f.order);
            if earlier && f.retry.failed() {
                self.metrics.retries.fetch_add(1, Ordering::Relaxed);
                self.retries.push(f);
            } else {
                for m in &f.msgs {
                    self.pending.remove(&m.id);
                }
                fail_batch(
                    self.idempotence.as_ref(),
                    f.generation,
                    &self.metrics,
                    f.msgs,
                    e,
                );
            }
        }
    }

    /// Answers every flush whose messages are all acknowledged or failed.
    fn resolve_flushes(&mut self) {
        let lowest = self.pending.first().copied();
        let mut waiting = Vec::new();
        for (upto, tx) in self.flushes.drain(..) {
            if lowest.is_some_and(|l| l < upto) {
                waiting.push((upto, tx));
            } else {
                let _ = tx.send(());
            }
        }
        self.flushes = waiting;
    }
}

/// Answers a batch that failed for good. An idempotent producer's sequence numbers may or
/// may not be in the log then, so later batches could never continue the sequence: the
/// next batch gets a new producer id (Kafka bumps the epoch for the same reason). Later
/// batches of the same id (sent under the same generation, maybe still in flight) then fail
/// as out of sequence; their failures no longer reset anything.
fn fail_batch(
    idempotence: Option<&SharedIdempotence>,
    generation: u64,
    metrics: &ProducerMetrics,
    msgs: Vec<Pending>,
    e: ClientError,
) {
    if let Some(idem) = idempotence {
        let mut st = idem.lock();
        if st.generation == generation {
            st.producer_id = -1;
            st.generation += 1;
            st.restart();
        }
    }
    metrics
        .messages_failed
        .fetch_add(msgs.len() as u64, Ordering::Relaxed);
    for m in msgs {
        m.reply.send(Err(e.clone()));
    }
}
