//! The subscriber: a consumer-group member that turns records into rows, inserts them in
//! batches (several at once), and commits a partition's offset only past records whose rows
//! are in the table or whose dead-letter action is done.
//!
//! Exactly once across restarts and rebalances: when its assignment changes, the subscriber
//! first finishes the batches it has in flight, then asks the table which offsets at or after
//! each assigned partition's committed offset it already holds, and skips those records. See
//! the README for what remains only effectively once against real BigQuery.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use backon::BackoffBuilder;
use rustmq_client::{
    ClientConfig, ConsumerConfig, ConsumerMessage, GroupConfig, GroupConsumer, RustMqClient,
    StartPosition, TlsConfig,
};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::bigquery::{BigQuery, SinkError};
use crate::config::SubscriberConfig;
use crate::dead_letter::DeadLetters;
use crate::health::Health;
use crate::mapping::{Mapper, Origin};
use crate::schema::{FieldSpec, check_metadata_columns, check_row, metadata_columns};

/// Why the subscriber stopped.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaMismatch),
    #[error(
        "table {0} does not exist (set AUTO_CREATE_TABLE=true and [schema] fields to create it)"
    )]
    NoTable(String),
    #[error("RustMQ: {0}")]
    Client(#[from] rustmq_client::ClientError),
    #[error(transparent)]
    DeadLetter(#[from] crate::dead_letter::DeadLetterError),
}

/// Exponential delays from the configured base to the configured maximum, with jitter,
/// without end.
fn backoff(config: &SubscriberConfig) -> impl Iterator<Item = Duration> + Send + use<> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.error_handling.retry_base_ms))
        .with_max_delay(Duration::from_millis(config.error_handling.retry_max_ms))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Calls `f` until it succeeds or fails for a reason waiting does not cure.
async fn until_done<T, F, Fut>(
    config: &SubscriberConfig,
    health: &Health,
    what: &str,
    mut f: F,
) -> Result<T, SinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SinkError>>,
{
    let mut delays = backoff(config);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => {
                health.failing(&e.to_string());
                let d = delays.next().unwrap_or(Duration::from_secs(1));
                tracing::warn!(error = %e, retry_in = ?d, "{what} failed; retrying");
                tokio::time::sleep(d).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The table's columns, creating the table when asked to.
async fn prepare_table(
    config: &SubscriberConfig,
    bq: &BigQuery,
    health: &Health,
) -> Result<Vec<FieldSpec>, SubscriberError> {
    let mut fields = until_done(config, health, "reading the table", || bq.fields()).await?;
    if fields.is_none() && config.auto_create_table {
        let mut all = metadata_columns();
        all.extend(config.schema.fields.iter().cloned());
        until_done(config, health, "creating the table", || bq.create(&all)).await?;
        tracing::info!(table = %bq.name(), columns = all.len(), "created the table");
        fields = until_done(config, health, "reading the table", || bq.fields()).await?;
    }
    let fields = fields.ok_or_else(|| SubscriberError::NoTable(bq.name()))?;
    check_metadata_columns(&fields)?;
    Ok(fields)
}

/// A batch being built or inserted: its records, the rows of those that have one, and why
/// the others cannot go in (both by index into `messages`).
#[derive(Default)]
struct Batch {
    messages: Vec<ConsumerMessage>,
    rows: Vec<(usize, String, Map<String, Value>)>,
    dead: Vec<(usize, String)>,
    bytes: usize,
    started: Option<Instant>,
}

impl Batch {
    fn len(&self) -> usize {
        self.messages.len()
    }

    /// Keeps the records `keep` accepts.
    fn retain(self, keep: impl Fn(&ConsumerMessage) -> bool) -> Self {
        let mut out = Batch {
            started: self.started,
            ..Default::default()
        };
        let mut index = HashMap::new();
        for (i, m) in self.messages.into_iter().enumerate() {
            if keep(&m) {
                index.insert(i, out.messages.len());
                out.messages.push(m);
            }
        }
        for (i, id, row) in self.rows {
            if let Some(&j) = index.get(&i) {
                out.bytes += serde_json::to_string(&row).map_or(0, |s| s.len()) + 64;
                out.rows.push((j, id, row));
            }
        }
        for (i, why) in self.dead {
            if let Some(&j) = index.get(&i) {
                out.dead.push((j, why));
            }
        }
        out
    }
}

/// What the subscriber shares with its batch tasks.
struct Shared {
    config: SubscriberConfig,
    health: Arc<Health>,
    bq: BigQuery,
    dead: DeadLetters,
}

/// Most links a batch's span keeps to the records' producers.
const MAX_SPAN_LINKS: usize = 128;

/// Inserts a batch's rows until every one is in or set aside, then sets aside its dead
/// letters; returns the batch for its records to be acknowledged.
async fn insert_batch(s: Arc<Shared>, mut batch: Batch) -> Batch {
    let c = &s.health.counters;
    let mut delays = backoff(&s.config);
    let mut refusals = 0u32;
    // Indexes into batch.rows still to insert.
    let mut todo: Vec<usize> = (0..batch.rows.len()).collect();
    while !todo.is_empty() {
        let request: Vec<(String, Map<String, Value>)> = todo
            .iter()
            .map(|&r| (batch.rows[r].1.clone(), batch.rows[r].2.clone()))
            .collect();
        c.insert_requests.inc();
        let t = Instant::now();
        let result = s.bq.insert(&request).await;
        c.insert_seconds.observe(t.elapsed().as_secs_f64());
        match result {
            Ok(errors) => {
                let mut again = Vec::new();
                let mut failed = BTreeSet::new();
                for e in errors {
                    let i = todo[e.index];
                    if e.resend {
                        again.push(i);
                    } else {
                        failed.insert(i);
                        batch.dead.push((
                            batch.rows[i].0,
                            format!("BigQuery refused the row: {}", e.reason),
                        ));
                    }
                }
                let inserted = todo.len() - again.len() - failed.len();
                c.rows_inserted.inc_by(inserted as u64);
                c.rows_resent.inc_by(again.len() as u64);
                s.health.inserted();
                todo = again;
            }
            Err(e) if e.is_transient() || matches!(e, SinkError::Auth(_)) => {
                c.insert_retries.inc();
                s.health.failing(&e.to_string());
                let d = delays.next().unwrap_or(Duration::from_secs(1));
                tracing::warn!(error = %e, rows = todo.len(), retry_in = ?d, "insert failed; retrying");
                tokio::time::sleep(d).await;
            }
            Err(e) => {
                refusals += 1;
                if refusals > s.config.error_handling.max_retries {
                    tracing::error!(error = %e, rows = todo.len(),
                        "insert refused {refusals} times; rows go to the dead-letter action");
                    for &r in &todo {
                        batch.dead.push((batch.rows[r].0, e.to_string()));
                    }
                    todo.clear();
                } else {
                    c.insert_retries.inc();
                    let d = delays.next().unwrap_or(Duration::from_secs(1));
                    tracing::warn!(error = %e, attempt = refusals, retry_in = ?d, "insert refused; retrying");
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
    if !batch.dead.is_empty() {
        let letters: Vec<(&rustmq_client::ConsumedMessage, String)> = batch
            .dead
            .iter()
            .map(|(i, why)| (&batch.messages[*i].message, why.clone()))
            .collect();
        let mut delays = backoff(&s.config);
        while let Err(e) = s.dead.handle(&letters).await {
            // Not handled means not committed: keep trying.
            s.health.failing(&e.to_string());
            let d = delays.next().unwrap_or(Duration::from_secs(1));
            tracing::warn!(error = %e, retry_in = ?d, "dead letters not set aside; retrying");
            tokio::time::sleep(d).await;
        }
        c.messages_failed.inc_by(letters.len() as u64);
    }
    batch
}

/// A running subscriber.
pub struct Subscriber {
    shared: Arc<Shared>,
    client: RustMqClient,
    mapper: Mapper,
    fields: Vec<FieldSpec>,
}

impl Subscriber {
    /// Connects to BigQuery and the brokers and prepares the table.
    pub async fn start(
        config: SubscriberConfig,
        health: Arc<Health>,
    ) -> Result<Self, SubscriberError> {
        let bq = BigQuery::connect(&config).await?;
        let fields = match prepare_table(&config, &bq, &health).await {
            Ok(f) => f,
            Err(e) => {
                health.fatal(&e.to_string());
                return Err(e);
            }
        };
        if config.create_dedup_view {
            let view = until_done(&config, &health, "creating the dedup view", || {
                bq.create_dedup_view()
            })
            .await?;
            tracing::info!(%view, "dedup view in place");
        }
        let client = RustMqClient::new(ClientConfig {
            brokers: config.subscription.broker_endpoints.clone(),
            client_id: Some(format!("bigquery-subscriber-{}", config.table)),
            tls: TlsConfig {
                ca_cert: config.subscription.ca_cert.clone(),
                ..Default::default()
            },
            ..Default::default()
        })
        .await?;
        let dead = DeadLetters::new(&config, &client).await?;
        Ok(Self {
            mapper: Mapper::new(&config.schema),
            fields,
            client,
            shared: Arc::new(Shared {
                config,
                health,
                bq,
                dead,
            }),
        })
    }

    /// Streams until `shutdown` completes, then inserts what it holds, commits and leaves
    /// the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), SubscriberError> {
        let s = self.shared.clone();
        let cfg = &s.config;
        let mut consumer = self
            .client
            .create_group_consumer(
                &cfg.subscription.topic,
                &cfg.consumer_group(),
                GroupConfig {
                    group_instance_id: cfg.subscription.group_instance_id.clone(),
                    enable_auto_commit: false,
                    consumer: ConsumerConfig {
                        start_position: if cfg.subscription.start_from == "latest" {
                            StartPosition::Latest
                        } else {
                            StartPosition::Earliest
                        },
                        fetch_max_wait: Duration::from_millis(200),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await?;
        let mut state = Loop {
            s: s.clone(),
            mapper: self.mapper,
            fields: self.fields,
            pending: Batch::default(),
            inflight: JoinSet::new(),
            generation: None,
            present: HashMap::new(),
        };
        tokio::pin!(shutdown);
        let max_rows = cfg.batching.max_rows_per_batch;
        let max_bytes = cfg.batching.max_batch_size_bytes;
        let max_inflight = cfg.batching.max_concurrent_batches;
        loop {
            let full = state.pending.len() >= max_rows || state.pending.bytes >= max_bytes;
            let due = state.pending.started.map(|t| t + cfg.max_batch_latency());
            if (full || due.is_some_and(|d| d <= Instant::now()))
                && state.inflight.len() < max_inflight
            {
                state.dispatch();
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(done) = state.inflight.join_next(), if !state.inflight.is_empty() => {
                    state.finished(done, &mut consumer).await;
                }
                _ = sleep_until(due), if due.is_some() && state.inflight.len() < max_inflight => {}
                r = consumer.receive(), if !full => match r? {
                    Some(m) => state.take(m, &mut consumer).await?,
                    None => break,
                },
            }
        }
        tracing::info!("shutting down: inserting what is held, then committing");
        state.drain(&mut consumer).await;
        consumer.close().await?;
        Ok(())
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(d) = due {
        tokio::time::sleep_until(d.into()).await;
    }
}

/// The main loop's state.
struct Loop {
    s: Arc<Shared>,
    mapper: Mapper,
    fields: Vec<FieldSpec>,
    pending: Batch,
    inflight: JoinSet<Batch>,
    /// The group generation `present` was read for.
    generation: Option<i32>,
    /// Per assigned partition (one entry each), offsets at or after its committed offset the
    /// table holds.
    present: HashMap<u32, BTreeSet<i64>>,
}

impl Loop {
    fn dispatch(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        if batch.len() == 0 {
            return;
        }
        self.s.health.counters.batches_in_flight.inc();
        // With traces exported: one span per batch, linked to the sends of the records that
        // carry a trace context (the producer's `trace_headers`).
        let span = tracing::info_span!(
            "rustmq.bigquery.insert",
            rows = batch.rows.len(),
            messages = batch.len()
        );
        for m in batch.messages.iter().take(MAX_SPAN_LINKS) {
            m.message.link_to_producer(&span);
        }
        self.inflight
            .spawn(insert_batch(self.s.clone(), batch).instrument(span));
    }

    async fn finished(
        &mut self,
        done: Result<Batch, tokio::task::JoinError>,
        consumer: &mut GroupConsumer,
    ) {
        self.s.health.counters.batches_in_flight.dec();
        let batch = match done {
            Ok(b) => b,
            // A panicked batch task: its records stay unacknowledged, so their offsets are
            // not committed and they come again after a restart.
            Err(e) => {
                tracing::error!(error = %e, "batch task failed");
                return;
            }
        };
        let n = batch.len() as u64;
        for m in &batch.messages {
            // Acknowledging only marks the offset; it cannot fail.
            let _ = m.ack().await;
        }
        self.s.health.counters.messages_processed.inc_by(n);
        match consumer.commit().await {
            Ok(()) => {
                self.s.health.counters.commits.inc();
            }
            Err(e) => tracing::debug!(error = %e, "commit failed; the next one covers it"),
        }
    }

    /// Finishes everything in flight and what is pending, and commits.
    async fn drain(&mut self, consumer: &mut GroupConsumer) {
        self.dispatch();
        while let Some(done) = self.inflight.join_next().await {
            self.finished(done, consumer).await;
        }
    }

    /// Handles one received record.
    async fn take(
        &mut self,
        m: ConsumerMessage,
        consumer: &mut GroupConsumer,
    ) -> Result<(), SubscriberError> {
        let s = self.s.clone();
        let c = &s.health.counters;
        c.messages_received.inc();
        let assignment = consumer.partition_assignment().await;
        if assignment.as_ref().map(|a| a.0) != self.generation {
            self.reassigned(assignment, consumer).await?;
        }
        let at = &m.message;
        if let Some(p) = self.present.get_mut(&at.partition)
            && p.remove(&at.offset)
        {
            let _ = m.ack().await;
            c.rows_already_present.inc();
            c.messages_processed.inc();
            return Ok(());
        }
        let origin = Origin {
            topic: &at.topic,
            partition: at.partition,
            offset: at.offset,
            timestamp_ms: at.timestamp,
        };
        let ignore = self
            .s
            .config
            .write_method
            .streaming_inserts
            .ignore_unknown_values;
        let row = self
            .mapper
            .row(&at.payload, origin)
            .and_then(|r| check_row(&self.fields, r, ignore));
        let max = self.s.config.batching.max_batch_size_bytes;
        if self.pending.started.is_none() {
            self.pending.started = Some(Instant::now());
        }
        let id = format!("{}/{}/{}", at.topic, at.partition, at.offset);
        match row {
            Ok(row) => {
                // The row's share of the request: its JSON plus the insert id and framing.
                let size = serde_json::to_string(&row).map_or(0, |s| s.len()) + 64;
                if size > max {
                    let i = self.pending.messages.len();
                    self.pending.messages.push(m);
                    self.pending.dead.push((
                        i,
                        format!("row of {size} bytes exceeds the {max}-byte request limit"),
                    ));
                    return Ok(());
                }
                if self.pending.bytes + size > max {
                    // This row would overflow the request: start a new batch with it.
                    self.dispatch_when_possible(consumer).await;
                    self.pending.started = Some(Instant::now());
                }
                let i = self.pending.messages.len();
                self.pending.messages.push(m);
                self.pending.bytes += size;
                self.pending.rows.push((i, id, row));
            }
            Err(why) => {
                let i = self.pending.messages.len();
                self.pending.messages.push(m);
                self.pending.dead.push((i, why));
            }
        }
        Ok(())
    }

    /// Dispatches the pending batch once a slot is free.
    async fn dispatch_when_possible(&mut self, consumer: &mut GroupConsumer) {
        while self.inflight.len() >= self.s.config.batching.max_concurrent_batches {
            if let Some(done) = self.inflight.join_next().await {
                self.finished(done, consumer).await;
            }
        }
        self.dispatch();
    }

    /// The group's assignment changed: finish what is in flight, forget records of
    /// partitions no longer ours, and read what the table holds for the ones that are.
    async fn reassigned(
        &mut self,
        assignment: Option<(i32, Vec<u32>)>,
        consumer: &mut GroupConsumer,
    ) -> Result<(), SubscriberError> {
        let (generation, partitions) = assignment.unwrap_or((-1, vec![]));
        let now: BTreeSet<u32> = partitions.into_iter().collect();
        // Pending rows of partitions that moved away are the new owner's to insert.
        let pending = std::mem::take(&mut self.pending);
        self.pending = pending.retain(|m| now.contains(&m.message.partition));
        self.drain(consumer).await;
        let mut previously: Vec<u32> = self.present.drain().map(|(p, _)| p).collect();
        previously.sort_unstable();
        let topic = self.s.config.subscription.topic.clone();
        for &p in &now {
            let from = consumer.committed_offset(p).await?.unwrap_or(0).max(0);
            let held = until_done(&self.s.config, &self.s.health, "reading the table", || {
                self.s.bq.offsets_from(&topic, p, from)
            })
            .await?;
            tracing::info!(
                partition = p,
                committed = from,
                rows_after_it = held.len(),
                "partition assigned; skipping the rows the table holds"
            );
            self.present.insert(p, held);
        }
        tracing::info!(generation, partitions = ?now, ?previously, "assignment");
        self.generation = Some(generation);
        Ok(())
    }
}
