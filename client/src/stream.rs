//! Stream processing on top of consumer groups: `MessageStream` reads its input topics as a
//! group, hands messages to a [`MessageProcessor`] one by one, in batches or in time windows,
//! produces what the processor returns to the output topic, and acknowledges a message only
//! once everything derived from it is done, so commits never run ahead of processing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::group_consumer::{ConsumerMessage, GroupConfig, GroupConsumer};
use crate::message::{ConsumedMessage, Message};
use crate::{ClientError, Producer, RustMqClient};

/// What a processor may fail with.
pub type ProcessError = Box<dyn std::error::Error + Send + Sync>;

/// A time window `[start, end)` in message-timestamp milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// Inclusive start (ms).
    pub start: i64,
    /// Exclusive end (ms).
    pub end: i64,
}

/// Application logic run by a [`MessageStream`].
///
/// ```
/// use rustmq_client::stream::{MessageProcessor, ProcessError};
/// use rustmq_client::{ConsumedMessage, Message};
///
/// struct Upper;
/// impl MessageProcessor for Upper {
///     async fn process(&self, m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
///         let text = String::from_utf8_lossy(&m.payload).to_uppercase();
///         Ok(Some(Message::builder().topic("out").payload(text).build()?))
///     }
/// }
/// ```
pub trait MessageProcessor: Send + Sync + 'static {
    /// One message; an output message (if any) goes to the output topic.
    fn process(
        &self,
        message: &ConsumedMessage,
    ) -> impl Future<Output = Result<Option<Message>, ProcessError>> + Send;

    /// A batch (Batch mode); by default each message through [`MessageProcessor::process`].
    fn process_batch(
        &self,
        messages: &[ConsumedMessage],
    ) -> impl Future<Output = Result<Vec<Option<Message>>, ProcessError>> + Send {
        async move {
            let mut out = Vec::with_capacity(messages.len());
            for m in messages {
                out.push(self.process(m).await?);
            }
            Ok(out)
        }
    }

    /// A closed window (Windowed mode) with every message whose timestamp falls in it; by
    /// default [`MessageProcessor::process_batch`].
    fn process_window(
        &self,
        _window: Window,
        messages: &[ConsumedMessage],
    ) -> impl Future<Output = Result<Vec<Option<Message>>, ProcessError>> + Send {
        self.process_batch(messages)
    }

    /// Before the first message.
    fn on_start(&self) -> impl Future<Output = Result<(), ProcessError>> + Send {
        async { Ok(()) }
    }

    /// After the last message.
    fn on_stop(&self) -> impl Future<Output = Result<(), ProcessError>> + Send {
        async { Ok(()) }
    }

    /// After processing a message failed (before the error strategy applies).
    fn on_error(
        &self,
        _message: &ConsumedMessage,
        _error: &ProcessError,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A shared processor (the caller keeps a handle to inspect its state).
impl<P: MessageProcessor> MessageProcessor for Arc<P> {
    fn process(
        &self,
        message: &ConsumedMessage,
    ) -> impl Future<Output = Result<Option<Message>, ProcessError>> + Send {
        (**self).process(message)
    }
    fn process_batch(
        &self,
        messages: &[ConsumedMessage],
    ) -> impl Future<Output = Result<Vec<Option<Message>>, ProcessError>> + Send {
        (**self).process_batch(messages)
    }
    fn process_window(
        &self,
        window: Window,
        messages: &[ConsumedMessage],
    ) -> impl Future<Output = Result<Vec<Option<Message>>, ProcessError>> + Send {
        (**self).process_window(window, messages)
    }
    fn on_start(&self) -> impl Future<Output = Result<(), ProcessError>> + Send {
        (**self).on_start()
    }
    fn on_stop(&self) -> impl Future<Output = Result<(), ProcessError>> + Send {
        (**self).on_stop()
    }
    fn on_error(
        &self,
        message: &ConsumedMessage,
        error: &ProcessError,
    ) -> impl Future<Output = ()> + Send {
        (**self).on_error(message, error)
    }
}

/// How messages reach the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// One at a time (up to `parallelism` concurrently).
    Individual,
    /// Up to `batch_size` messages, or whatever arrived within `batch_timeout`.
    Batch {
        /// Largest batch.
        batch_size: usize,
        /// Longest wait for a batch to fill.
        batch_timeout: Duration,
    },
    /// Event-time windows of `window_size`, starting every `slide_interval` (tumbling when
    /// equal). A window closes when a message at or past its end arrives, or at `stop()`.
    Windowed {
        /// Window length.
        window_size: Duration,
        /// Distance between window starts.
        slide_interval: Duration,
    },
}

/// What happens when the processor fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorStrategy {
    /// Count it and move on.
    Skip,
    /// Try again with exponential backoff, then skip.
    Retry {
        /// Attempts in total.
        max_attempts: u32,
        /// First backoff in ms (doubles).
        backoff_ms: u64,
    },
    /// Produce the input message to `topic` with the error in headers, then move on.
    DeadLetter {
        /// Dead-letter topic.
        topic: String,
    },
    /// Stop the stream; the failed message is not committed.
    Stop,
}

/// Stream settings.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Topics to read (one group member per topic).
    pub input_topics: Vec<String>,
    /// Where processor output goes (else the output message's own topic).
    pub output_topic: Option<String>,
    /// Consumer group.
    pub consumer_group: String,
    /// Messages processed concurrently in Individual mode.
    pub parallelism: usize,
    /// A processing call longer than this fails.
    pub processing_timeout: Duration,
    /// Messages received but not yet finished, at most.
    pub max_in_flight: usize,
    /// On failure.
    pub error_strategy: ErrorStrategy,
    /// Delivery mode.
    pub mode: StreamMode,
    /// Group membership settings (auto-commit is used for acknowledged messages).
    pub group: GroupConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            input_topics: Vec::new(),
            output_topic: None,
            consumer_group: String::new(),
            parallelism: 1,
            processing_timeout: Duration::from_secs(30),
            max_in_flight: 1000,
            error_strategy: ErrorStrategy::Skip,
            mode: StreamMode::Individual,
            group: GroupConfig::default(),
        }
    }
}

/// Stream counters.
#[derive(Debug, Default)]
pub struct StreamMetrics {
    /// Processed successfully.
    pub messages_processed: AtomicU64,
    /// Messages (or batches and windows) whose processing failed after every attempt.
    pub messages_failed: AtomicU64,
    /// Given up on and skipped.
    pub messages_skipped: AtomicU64,
    /// Attempts after a failed one.
    pub messages_retried: AtomicU64,
    /// Sent to the dead-letter topic.
    pub messages_dead_lettered: AtomicU64,
    /// Output messages produced.
    pub messages_produced: AtomicU64,
    /// Windows processed.
    pub windows_processed: AtomicU64,
    /// Total processing time in microseconds (divide by processed for the average).
    pub processing_time_micros: AtomicU64,
}

impl StreamMetrics {
    /// Average processing time per successful call, in ms.
    pub fn average_processing_time_ms(&self) -> f64 {
        let n = self.messages_processed.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        self.processing_time_micros.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
    }
}

struct Ctx<P> {
    processor: Arc<P>,
    config: StreamConfig,
    metrics: Arc<StreamMetrics>,
    output: Option<Producer>,
    dlq: Option<Producer>,
    stopping: watch::Receiver<bool>,
    failed: AtomicBool,
}

/// A running stream processor.
pub struct MessageStream<P: MessageProcessor> {
    client: RustMqClient,
    config: StreamConfig,
    processor: Option<Arc<P>>,
    metrics: Arc<StreamMetrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), ClientError>>>,
}

impl<P: MessageProcessor> MessageStream<P> {
    /// Checks the configuration; call [`MessageStream::with_processor`] then `start()`.
    pub async fn new(client: RustMqClient, config: StreamConfig) -> Result<Self, ClientError> {
        if config.input_topics.is_empty() || config.consumer_group.is_empty() {
            return Err(ClientError::Config(
                "a stream needs input_topics and a consumer_group".into(),
            ));
        }
        if config.parallelism == 0 || config.max_in_flight == 0 {
            return Err(ClientError::Config(
                "parallelism and max_in_flight must be at least 1".into(),
            ));
        }
        if let StreamMode::Windowed {
            window_size,
            slide_interval,
        } = config.mode
            && (slide_interval.is_zero() || window_size < slide_interval)
        {
            return Err(ClientError::Config(
                "windows need 0 < slide_interval <= window_size".into(),
            ));
        }
        for t in &config.input_topics {
            client.partition_count(t).await?;
        }
        Ok(Self {
            client,
            config,
            processor: None,
            metrics: Arc::default(),
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        })
    }

    /// The processor to run.
    pub fn with_processor(mut self, p: P) -> Self {
        self.processor = Some(Arc::new(p));
        self
    }

    /// Joins the group and starts processing in the background.
    pub async fn start(&mut self) -> Result<(), ClientError> {
        let processor = self
            .processor
            .clone()
            .ok_or_else(|| ClientError::Config("set a processor with with_processor()".into()))?;
        processor
            .on_start()
            .await
            .map_err(|e| ClientError::Config(format!("processor on_start failed: {e}")))?;
        for topic in self.config.input_topics.clone() {
            let mut group = self.config.group.clone();
            group.enable_auto_commit = true;
            let consumer = self
                .client
                .create_group_consumer(&topic, &self.config.consumer_group, group)
                .await?;
            let output = match &self.config.output_topic {
                Some(t) => Some(self.client.create_producer(t).await?),
                None => None,
            };
            let dlq = match &self.config.error_strategy {
                ErrorStrategy::DeadLetter { topic } => {
                    Some(self.client.create_producer(topic).await?)
                }
                _ => None,
            };
            let ctx = Arc::new(Ctx {
                processor: processor.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
                output,
                dlq,
                stopping: self.stop.subscribe(),
                failed: AtomicBool::new(false),
            });
            self.tasks.push(tokio::spawn(run(ctx, consumer)));
        }
        Ok(())
    }

    /// Counters.
    pub fn metrics(&self) -> Arc<StreamMetrics> {
        self.metrics.clone()
    }

    /// Stops receiving, finishes what is in flight (closing open windows), commits what was
    /// processed, leaves the group and calls `on_stop`. Returns the error that stopped the
    /// stream early under `ErrorStrategy::Stop`, if any.
    pub async fn stop(&mut self) -> Result<(), ClientError> {
        let _ = self.stop.send(true);
        let mut result = Ok(());
        for t in self.tasks.drain(..) {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(ClientError::Config(format!("stream task failed: {e}"))),
            }
        }
        if let Some(p) = &self.processor
            && let Err(e) = p.on_stop().await
        {
            tracing::warn!(error = %e, "processor on_stop failed");
        }
        result
    }
}

async fn run<P: MessageProcessor>(
    ctx: Arc<Ctx<P>>,
    mut consumer: GroupConsumer,
) -> Result<(), ClientError> {
    let permits = Arc::new(Semaphore::new(ctx.config.max_in_flight));
    let workers = Arc::new(Semaphore::new(ctx.config.parallelism));
    let mut stopping = ctx.stopping.clone();
    let mut batch: Vec<ConsumerMessage> = Vec::new();
    let mut batch_started = Instant::now();
    let mut windows = Windows::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut outcome = Ok(());
    loop {
        if *stopping.borrow() || ctx.failed.load(Ordering::Acquire) {
            break;
        }
        let wait = match ctx.config.mode {
            StreamMode::Batch { batch_timeout, .. } if !batch.is_empty() => {
                batch_timeout.saturating_sub(batch_started.elapsed())
            }
            _ => Duration::from_millis(200),
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let next = tokio::select! {
            m = consumer.receive() => Some(m),
            _ = tokio::time::sleep(wait) => None,
            _ = stopping.changed() => None,
        };
        match next {
            Some(Ok(Some(m))) => match ctx.config.mode {
                StreamMode::Individual => {
                    let Ok(worker) = workers.clone().acquire_owned().await else {
                        break;
                    };
                    let ctx = ctx.clone();
                    tasks.spawn(async move {
                        handle_one(&ctx, m).await;
                        drop((worker, permit));
                    });
                }
                StreamMode::Batch { batch_size, .. } => {
                    if batch.is_empty() {
                        batch_started = Instant::now();
                    }
                    batch.push(m);
                    drop(permit);
                    if batch.len() >= batch_size {
                        handle_batch(&ctx, std::mem::take(&mut batch), None).await;
                    }
                }
                StreamMode::Windowed {
                    window_size,
                    slide_interval,
                } => {
                    drop(permit);
                    windows.add(m, window_size, slide_interval);
                    for (w, ms) in windows.close_before(windows.watermark) {
                        handle_window(&ctx, w, ms, &mut windows).await;
                    }
                }
            },
            Some(Ok(None)) => break,
            Some(Err(e)) => {
                outcome = Err(e);
                break;
            }
            None => {
                drop(permit);
                if let StreamMode::Batch { batch_timeout, .. } = ctx.config.mode
                    && !batch.is_empty()
                    && batch_started.elapsed() >= batch_timeout
                {
                    handle_batch(&ctx, std::mem::take(&mut batch), None).await;
                }
            }
        }
    }
    // Graceful end: finish in-flight work, flush the partial batch and open windows.
    while tasks.join_next().await.is_some() {}
    if !ctx.failed.load(Ordering::Acquire) {
        if !batch.is_empty() {
            handle_batch(&ctx, std::mem::take(&mut batch), None).await;
        }
        for (w, ms) in windows.close_before(i64::MAX) {
            handle_window(&ctx, w, ms, &mut windows).await;
        }
    }
    if let Some(p) = &ctx.output {
        p.flush().await?;
    }
    consumer.close().await?;
    if ctx.failed.load(Ordering::Acquire) && outcome.is_ok() {
        outcome = Err(ClientError::Config(
            "the processor failed and the error strategy is Stop".into(),
        ));
    }
    outcome
}

async fn call<P: MessageProcessor, T>(
    ctx: &Ctx<P>,
    f: impl Future<Output = Result<T, ProcessError>>,
) -> Result<T, ProcessError> {
    let started = Instant::now();
    let r = match tokio::time::timeout(ctx.config.processing_timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "processing took longer than {:?}",
            ctx.config.processing_timeout
        )
        .into()),
    };
    if r.is_ok() {
        ctx.metrics
            .processing_time_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
    r
}

async fn emit<P: MessageProcessor>(
    ctx: &Ctx<P>,
    outputs: Vec<Option<Message>>,
) -> Result<(), ClientError> {
    for mut o in outputs.into_iter().flatten() {
        let producer = match (&ctx.output, &ctx.config.output_topic) {
            (Some(p), Some(t)) => {
                o.topic = t.clone();
                p
            }
            _ => {
                tracing::warn!(topic = %o.topic, "processor output dropped: no output_topic configured");
                continue;
            }
        };
        producer.send(o).await?;
        ctx.metrics
            .messages_produced
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Applies the error strategy to failed messages; returns whether they may be acknowledged.
async fn fail<P: MessageProcessor>(
    ctx: &Ctx<P>,
    messages: &[&ConsumedMessage],
    error: &ProcessError,
) -> bool {
    for m in messages {
        ctx.processor.on_error(m, error).await;
    }
    match &ctx.config.error_strategy {
        ErrorStrategy::Skip | ErrorStrategy::Retry { .. } => {
            ctx.metrics
                .messages_skipped
                .fetch_add(messages.len() as u64, Ordering::Relaxed);
            true
        }
        ErrorStrategy::DeadLetter { .. } => {
            let Some(dlq) = &ctx.dlq else { return false };
            for m in messages {
                let mut b = Message::builder()
                    .topic(match &ctx.config.error_strategy {
                        ErrorStrategy::DeadLetter { topic } => topic.clone(),
                        _ => String::new(),
                    })
                    .payload(m.payload.clone())
                    .timestamp(m.timestamp)
                    .header("x-rustmq-dlq-reason", error.to_string())
                    .header("x-rustmq-original-topic", m.topic.to_string())
                    .header("x-rustmq-original-partition", m.partition.to_string())
                    .header("x-rustmq-original-offset", m.offset.to_string());
                if let Some(k) = &m.key {
                    b = b.key(k.clone());
                }
                let sent = match b.build() {
                    Ok(msg) => dlq.send(msg).await.is_ok(),
                    Err(_) => false,
                };
                if !sent {
                    // Not acknowledged: it will be processed again after a restart.
                    return false;
                }
                ctx.metrics
                    .messages_dead_lettered
                    .fetch_add(1, Ordering::Relaxed);
            }
            true
        }
        ErrorStrategy::Stop => {
            ctx.failed.store(true, Ordering::Release);
            false
        }
    }
}

/// Runs `attempt_fn` as the error strategy allows: once, or with exponential backoff up to
/// `max_attempts` in total. A message that fails in the end counts once in
/// `messages_failed`; each retry counts in `messages_retried`.
async fn retrying<P: MessageProcessor, T, F, Fut>(
    ctx: &Ctx<P>,
    mut attempt_fn: F,
) -> Result<T, ProcessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
{
    let (max_attempts, backoff_ms) = match ctx.config.error_strategy {
        ErrorStrategy::Retry {
            max_attempts,
            backoff_ms,
        } => (max_attempts.max(1), backoff_ms),
        _ => (1, 0),
    };
    let delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(backoff_ms))
        .with_max_delay(Duration::from_millis(backoff_ms).saturating_mul(1 << 20))
        .with_max_times(max_attempts as usize - 1);
    let result = (|| call(ctx, attempt_fn()))
        .retry(delays)
        .notify(|_, _| {
            ctx.metrics.messages_retried.fetch_add(1, Ordering::Relaxed);
        })
        .await;
    if result.is_err() {
        ctx.metrics.messages_failed.fetch_add(1, Ordering::Relaxed);
    }
    result
}

async fn handle_one<P: MessageProcessor>(ctx: &Ctx<P>, m: ConsumerMessage) {
    let result = retrying(ctx, || ctx.processor.process(&m.message)).await;
    let ack = match result {
        Ok(out) => match emit(ctx, vec![out]).await {
            Ok(()) => {
                ctx.metrics
                    .messages_processed
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "producing processor output failed");
                false
            }
        },
        Err(e) => fail(ctx, &[&m.message], &e).await,
    };
    if ack {
        let _ = m.ack().await;
    }
}

async fn handle_batch<P: MessageProcessor>(
    ctx: &Ctx<P>,
    batch: Vec<ConsumerMessage>,
    window: Option<Window>,
) {
    let messages: Vec<ConsumedMessage> = batch.iter().map(|m| m.message.clone()).collect();
    let result = retrying(ctx, || async {
        match window {
            Some(w) => ctx.processor.process_window(w, &messages).await,
            None => ctx.processor.process_batch(&messages).await,
        }
    })
    .await;
    let ack = match result {
        Ok(out) => match emit(ctx, out).await {
            Ok(()) => {
                ctx.metrics
                    .messages_processed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "producing processor output failed");
                false
            }
        },
        Err(e) => fail(ctx, &messages.iter().collect::<Vec<_>>(), &e).await,
    };
    if ack {
        for m in &batch {
            let _ = m.ack().await;
        }
    }
}

async fn handle_window<P: MessageProcessor>(
    ctx: &Ctx<P>,
    w: Window,
    ids: Vec<u64>,
    windows: &mut Windows,
) {
    let messages: Vec<ConsumedMessage> = ids
        .iter()
        .filter_map(|id| windows.messages.get(id).map(|(m, _)| m.message.clone()))
        .collect();
    let result = retrying(ctx, || ctx.processor.process_window(w, &messages)).await;
    let ok = match result {
        Ok(out) => emit(ctx, out).await.is_ok(),
        Err(e) => fail(ctx, &messages.iter().collect::<Vec<_>>(), &e).await,
    };
    ctx.metrics
        .windows_processed
        .fetch_add(1, Ordering::Relaxed);
    // A message is acknowledged once every window containing it is done.
    for id in ids {
        let done = match windows.messages.get_mut(&id) {
            Some((_, pending)) => {
                *pending -= 1;
                *pending == 0
            }
            None => false,
        };
        // Removed once its last window is done, acknowledged only if that went well.
        if done
            && let Some((m, _)) = windows.messages.remove(&id)
            && ok
        {
            ctx.metrics
                .messages_processed
                .fetch_add(1, Ordering::Relaxed);
            let _ = m.ack().await;
        }
    }
}

/// Open event-time windows.
#[derive(Default)]
struct Windows {
    next_id: u64,
    /// Message id -> (message, windows not yet processed).
    messages: BTreeMap<u64, (ConsumerMessage, usize)>,
    open: BTreeMap<Window, Vec<u64>>,
    watermark: i64,
}

impl Windows {
    fn add(&mut self, m: ConsumerMessage, size: Duration, slide: Duration) {
        let (size, slide) = (size.as_millis() as i64, slide.as_millis() as i64);
        let ts = m.message.timestamp;
        let id = self.next_id;
        self.next_id += 1;
        // Every window [k*slide, k*slide+size) containing ts.
        let last_start = ts.div_euclid(slide) * slide;
        let mut start = last_start;
        let mut count = 0;
        while start > ts - size {
            self.open
                .entry(Window {
                    start,
                    end: start + size,
                })
                .or_default()
                .push(id);
            count += 1;
            start -= slide;
        }
        self.messages.insert(id, (m, count));
        self.watermark = self.watermark.max(ts);
    }

    /// Windows ending at or before `t`, oldest first, removed from the open set.
    fn close_before(&mut self, t: i64) -> Vec<(Window, Vec<u64>)> {
        let closed: Vec<Window> = self.open.keys().filter(|w| w.end <= t).copied().collect();
        closed
            .into_iter()
            .filter_map(|w| self.open.remove(&w).map(|ids| (w, ids)))
            .collect()
    }
}

/// `Message` building helpers for processors.
impl ConsumedMessage {
    /// A message for `topic` carrying this message's key, payload and headers.
    pub fn forward(&self, topic: &str) -> Message {
        Message {
            topic: topic.to_string(),
            key: self.key.clone(),
            payload: self.payload.clone(),
            headers: self.headers.clone(),
            partition: None,
            timestamp: Some(self.timestamp),
        }
    }
}
