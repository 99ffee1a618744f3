//! The producer: batching by count, bytes and linger; many partitions per request;
//! pipelining (an idempotent producer keeps up to five requests per partition in flight,
//! ordered by its sequence numbers; any other producer one, so retries cannot reorder a
//! partition); retries with exponential backoff and jitter on retriable errors only.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use backon::BackoffBuilder;
use bytes::Bytes;
use rustmq_protocol::ApiKey;
use rustmq_protocol::partitioner::partition_for_key;
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::{OutgoingRecord, encode_batch_idempotent, now_ms};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ClientError;
use crate::client::RustMqClient;
use crate::config::{AckLevel, Partitioner, ProducerConfig};
use crate::message::{Message, SendResult};
use rustmq_transport::telemetry::{self, TraceParent};
use tracing::Instrument;

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

/// Encoded batches bound for one leader: (partition, batch bytes, the messages in it).
type LeaderBatches = (
    Arc<crate::connection::BrokerConnection>,
    Vec<(u32, Bytes, Vec<Pending>)>,
);

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
    /// Partitions where a batch under this id was acknowledged. Until then a partition has
    /// one request in flight: the leader may hold no state for this producer yet, and would
    /// take a later batch that arrived first as the start of the sequence.
    confirmed: Vec<bool>,
}

impl Idempotence {
    fn new(producer_id: i64, partitions: u32) -> Self {
        Self {
            producer_id,
            generation: 0,
            sequences: vec![0; partitions as usize],
            confirmed: vec![false; partitions as usize],
        }
    }

    /// Sequences start again at 0 (a new producer id).
    fn restart(&mut self) {
        self.sequences.fill(0);
        self.confirmed.fill(false);
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

struct Done {
    partitions: Vec<u32>,
    ids: Vec<u64>,
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
            in_flight: vec![0; partitions as usize],
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
    /// Requests in flight, by partition.
    in_flight: Vec<usize>,
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

    /// When the oldest batch that could be sent now reaches its linger; None while nothing
    /// could be sent anyway (an acknowledgement or a new id wakes the loop then).
    fn next_deadline(&self) -> Option<Instant> {
        if self.fetching_id || self.requests >= self.config.max_in_flight {
            return None;
        }
        let idem = self.idempotence.as_ref().map(|i| i.lock());
        self.queued
            .iter()
            .filter(|p| self.has_slot(**p, idem.as_deref()))
            .filter_map(|p| self.batches[*p as usize].front())
            .map(|b| b.first_at + self.config.batch_timeout)
            .min()
    }

    /// Whether partition `p` may have one more request in flight: up to
    /// `max_in_flight_per_partition` once a batch of this idempotent producer was
    /// acknowledged there, else one.
    fn has_slot(&self, p: u32, idem: Option<&Idempotence>) -> bool {
        let limit = match idem {
            Some(st) if st.confirmed[p as usize] => self.config.max_in_flight_per_partition,
            _ => 1,
        };
        self.in_flight[p as usize] < limit
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
            let mut chosen: Vec<(u32, PartBatch)> = Vec::new();
            let mut bytes = 0;
            let parts: Vec<u32> = self.queued.iter().copied().collect();
            let idem = self.idempotence.clone();
            let idem = idem.as_ref().map(|i| i.lock());
            for p in parts {
                if !self.has_slot(p, idem.as_deref()) {
                    continue;
                }
                let q = &mut self.batches[p as usize];
                let ready = q.front().is_some_and(|b| {
                    force
                        || q.len() > 1
                        || b.msgs.len() >= self.config.batch_size
                        || b.bytes >= self.config.batch_bytes
                        || b.first_at.elapsed() >= self.config.batch_timeout
                });
                if !ready
                    || (!chosen.is_empty()
                        && bytes + q.front().map_or(0, |b| b.bytes) > MAX_REQUEST_BYTES)
                {
                    continue;
                }
                if let Some(b) = q.pop_front() {
                    bytes += b.bytes;
                    chosen.push((p, b));
                }
                // Like Kafka's sticky partitioner: once the sticky partition's batch leaves,
                // new keyless messages go to the next partition, so load spreads over
                // partitions (and their in-flight slots) even when batches leave on linger.
                if p == self.sticky {
                    self.sticky = (self.sticky + 1) % self.partitions.max(1);
                }
                if q.is_empty() {
                    self.queued.remove(&p);
                }
            }
            if chosen.is_empty() {
                return;
            }
            for (p, _) in &chosen {
                let n = &mut self.in_flight[*p as usize];
                *n += 1;
                self.metrics
                    .partition_in_flight_peak
                    .fetch_max(*n as u64, Ordering::Relaxed);
            }
            // Sequences are taken here, in dispatch order.
            let (producer, generation, chosen) = match idem {
                Some(mut st) => {
                    let (pid, generation) = (st.producer_id, st.generation);
                    let stamped = chosen
                        .into_iter()
                        .map(|(p, b)| {
                            let seq = &mut st.sequences[p as usize];
                            let first = *seq;
                            *seq =
                                rustmq_protocol::batch::sequence_after(first, b.msgs.len() as i32);
                            (p, b, first)
                        })
                        .collect();
                    (pid, generation, stamped)
                }
                None => (-1, 0, chosen.into_iter().map(|(p, b)| (p, b, -1)).collect()),
            };
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
        for p in d.partitions {
            if let Some(n) = self.in_flight.get_mut(p as usize) {
                *n = n.saturating_sub(1);
            }
        }
        for id in d.ids {
            self.pending.remove(&id);
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

struct BatchSender {
    client: RustMqClient,
    topic: String,
    config: ProducerConfig,
    metrics: Arc<ProducerMetrics>,
    idempotence: Option<SharedIdempotence>,
    /// The idempotent producer id the batches are stamped with (-1: not idempotent).
    producer: i64,
    /// The [`Idempotence::generation`] the sequences were taken under.
    generation: u64,
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
    /// (an idempotent producer's retry cannot duplicate it). Checks every 250 ms after the
    /// first 500 ms, so healthy slow acknowledgements cost nothing.
    async fn leader_moved(
        &self,
        conn: &Arc<crate::connection::BrokerConnection>,
        parts: &[u32],
    ) -> ClientError {
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

    /// A batch of an idempotent producer failed for good: its sequence numbers may or may
    /// not be in the log, so later batches could never continue the sequence. The next
    /// batch gets a new producer id (Kafka bumps the epoch for the same reason).
    /// Later batches of the same id (sent under the same generation, maybe still in flight)
    /// then fail as out of sequence; their failures no longer reset anything.
    fn forget_sequences(&self) {
        if let Some(idem) = &self.idempotence {
            let mut st = idem.lock();
            if st.generation == self.generation {
                st.producer_id = -1;
                st.generation += 1;
                st.restart();
            }
        }
    }

    async fn send(self, batches: Vec<(u32, PartBatch, i32)>) -> Done {
        let partitions: Vec<u32> = batches.iter().map(|(p, _, _)| *p).collect();
        let ids: Vec<u64> = batches
            .iter()
            .flat_map(|(_, b, _)| b.msgs.iter().map(|m| m.id))
            .collect();
        // Encode once; retries resend the same bytes.
        let mut remaining: Vec<(u32, Bytes, Vec<Pending>)> = Vec::new();
        for (p, b, first) in batches {
            let records: Vec<OutgoingRecord> = b.msgs.iter().map(|m| m.record.clone()).collect();
            match self.encode(&records, first) {
                Ok(bytes) => remaining.push((p, bytes, b.msgs)),
                Err(e) => self.fail(b.msgs, e),
            }
        }
        let (acks, acks_replicas) = match self.config.ack_level {
            AckLevel::None => (proto::Acks::NoneAck, 0),
            AckLevel::Leader => (proto::Acks::Leader, 0),
            AckLevel::All => (proto::Acks::All, 0),
            AckLevel::Majority => (proto::Acks::Majority, 0),
            AckLevel::Custom(n) => (proto::Acks::Custom, n),
        };
        // Retriable failures (a leader change, too few in-sync replicas) are retried with
        // backoff for up to the request timeout (and at most max_retries times).
        let give_up_at = Instant::now() + self.client.config().request_timeout;
        let timeout = self.client.config().request_timeout;
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.config.retry_base_delay)
            .with_max_delay(self.config.retry_max_delay)
            .with_jitter()
            .with_max_times(self.config.max_retries as usize)
            .build();
        loop {
            let mut retry: Vec<(u32, Bytes, Vec<Pending>, ClientError)> = Vec::new();
            // Group by leader; on a single broker this is one request.
            let mut by_leader: HashMap<usize, LeaderBatches> = HashMap::new();
            for (p, bytes, msgs) in remaining.drain(..) {
                match self.client.leader(&self.topic, p).await {
                    Ok(conn) => {
                        let key = Arc::as_ptr(&conn) as usize;
                        by_leader
                            .entry(key)
                            .or_insert_with(|| (conn, Vec::new()))
                            .1
                            .push((p, bytes, msgs));
                    }
                    Err(e) if e.is_retriable() => retry.push((p, bytes, msgs, e)),
                    Err(e) => self.fail(msgs, e),
                }
            }
            for (_, (conn, items)) in by_leader {
                let req = proto::ProduceRequest {
                    acks: acks as i32,
                    acks_replicas,
                    timeout_ms: timeout.as_millis().min(u128::from(u32::MAX)) as u32,
                    topics: vec![proto::TopicProduceData {
                        topic: self.topic.clone(),
                        partitions: items
                            .iter()
                            .map(|(p, b, _)| proto::PartitionProduceData {
                                partition: *p,
                                records: b.clone(),
                            })
                            .collect(),
                    }],
                };
                let parts: Vec<u32> = items.iter().map(|(p, _, _)| *p).collect();
                let span = produce_span(&items);
                let resp: Result<proto::ProduceResponse, ClientError> = tokio::select! {
                    r = conn.request(ApiKey::Produce, &req, timeout).instrument(span) => r,
                    moved = self.leader_moved(&conn, &parts) => Err(moved),
                };
                match resp {
                    Ok(resp) => {
                        let mut results: HashMap<u32, proto::PartitionProduceResponse> = resp
                            .topics
                            .into_iter()
                            .flat_map(|t| t.partitions)
                            .map(|p| (p.partition, p))
                            .collect();
                        for (p, b, msgs) in items {
                            match results.remove(&p) {
                                None => retry.push((
                                    p,
                                    b,
                                    msgs,
                                    ClientError::Protocol("partition missing from response".into()),
                                )),
                                Some(r) => {
                                    let code = ErrorCode::try_from(r.error_code)
                                        .unwrap_or(ErrorCode::Unknown);
                                    if code == ErrorCode::None {
                                        self.succeed(p, r.base_offset, msgs);
                                    } else {
                                        if code == ErrorCode::NotLeader {
                                            self.client.suspect(conn.addr());
                                        }
                                        let e = ClientError::from_code(code, r.error_message);
                                        if e.is_retriable() {
                                            retry.push((p, b, msgs, e));
                                        } else {
                                            self.fail(msgs, e);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => {
                        for (p, b, msgs) in items {
                            retry.push((p, b, msgs, e.clone()));
                        }
                    }
                    Err(e) => {
                        for (_, _, msgs) in items {
                            self.fail(msgs, e.clone());
                        }
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            match backoff.next().filter(|_| Instant::now() < give_up_at) {
                Some(delay) => {
                    self.metrics
                        .retries
                        .fetch_add(retry.len() as u64, Ordering::Relaxed);
                    tracing::debug!(?delay, batches = retry.len(), "retrying produce");
                    tokio::time::sleep(delay).await;
                    let _ = self
                        .client
                        .refresh_metadata(std::slice::from_ref(&self.topic))
                        .await;
                    remaining = retry.into_iter().map(|(p, b, m, _)| (p, b, m)).collect();
                }
                None => {
                    for (_, _, msgs, e) in retry {
                        self.fail(msgs, e);
                    }
                    break;
                }
            }
        }
        Done { partitions, ids }
    }

    fn succeed(&self, partition: u32, base: i64, msgs: Vec<Pending>) {
        if let Some(idem) = &self.idempotence {
            let mut st = idem.lock();
            if st.generation == self.generation
                && let Some(c) = st.confirmed.get_mut(partition as usize)
            {
                *c = true;
            }
        }
        let n = msgs.len() as u64;
        let bytes: usize = msgs.iter().map(|m| m.size).sum();
        for (i, m) in msgs.into_iter().enumerate() {
            m.reply.send(Ok(SendResult {
                message_id: m.id,
                partition,
                offset: base + i as i64,
                timestamp: m.record.timestamp,
            }));
        }
        self.metrics.messages_sent.fetch_add(n, Ordering::Relaxed);
        self.metrics.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .bytes_sent
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn fail(&self, msgs: Vec<Pending>, e: ClientError) {
        self.forget_sequences();
        self.metrics
            .messages_failed
            .fetch_add(msgs.len() as u64, Ordering::Relaxed);
        for m in msgs {
            m.reply.send(Err(e.clone()));
        }
    }
}

/// Most links one produce request's span keeps to the sends it carries (beyond the first,
/// which is its parent).
const MAX_SPAN_LINKS: usize = 128;

/// The client span of one produce request: a child of its first message's span (its send
/// span, or the span it was sent in; so a lone send's trace holds the broker's work on it),
/// linked to the other messages' spans; a root span when the messages carry none.
fn produce_span(items: &[(u32, Bytes, Vec<Pending>)]) -> tracing::Span {
    let messages = items.iter().map(|(_, _, m)| m.len()).sum::<usize>();
    let mut spans = items
        .iter()
        .flat_map(|(_, _, msgs)| msgs.iter().map(|m| &m.span))
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
