//! `rustmq-bench`: load generator in the spirit of the OpenMessaging Benchmark.
//!
//! Producers send fixed-size messages (at a target rate, or as fast as acknowledgements
//! allow) to a topic's partitions; consumers read them back. It reports throughput and
//! HDR-histogram percentiles of produce-acknowledgement and end-to-end latency, measured from
//! each message's *intended* send time so a stalled broker cannot hide queueing delay.

#[path = "../common.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rustmq_client::{
    AckLevel, LatencyRecorder, LatencySnapshot, Message, ProducerBuilder, ProducerConfig,
    ProducerMetrics, StartPosition,
};
use serde_json::json;

/// jemalloc, not glibc's allocator: the load generator allocates and frees per message and
/// per batch on one CPU, and glibc's malloc and free were a tenth of its samples at half rate
/// with a tail consumer (docs/benchmarks.md, seventeenth round); what it spends is taken from
/// the producers' punctuality, which is in every latency it reports.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A histogram shared by tasks.
type Shared<T> = Arc<std::sync::Mutex<T>>;

#[derive(Parser, Debug, Clone)]
#[command(version, about = "RustMQ load generator")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// CA certificate [default: rustmq-data/tls/ca.pem].
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Admin API used to create the topic when it does not exist.
    #[arg(long, default_value = "http://127.0.0.1:9642")]
    api_url: String,
    #[arg(long, default_value = "bench")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Replication factor of the topic the benchmark creates.
    #[arg(long, default_value_t = 1)]
    replication_factor: u32,
    /// min.insync.replicas of the topic the benchmark creates (acks=all needs that many).
    #[arg(long)]
    min_insync_replicas: Option<u32>,
    /// Idempotent producers.
    #[arg(long)]
    idempotent: bool,
    #[arg(long, default_value_t = 2)]
    producers: u32,
    #[arg(long, default_value_t = 1)]
    consumers: u32,
    /// Message size in bytes.
    #[arg(long, default_value_t = 1024)]
    message_size: usize,
    /// Target messages per second over all producers; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Measured duration.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Warm-up before measuring.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, value_enum, default_value_t = Acks::Leader)]
    acks: Acks,
    /// Producer batch size in bytes per partition.
    #[arg(long, default_value_t = 1024 * 1024)]
    batch_bytes: usize,
    /// Producer linger.
    #[arg(long, default_value = "2ms", value_parser = humantime::parse_duration)]
    linger: Duration,
    /// Requests in flight per producer.
    #[arg(long, default_value_t = 16)]
    max_in_flight: usize,
    /// Messages awaiting acknowledgement per producer (throughput mode).
    #[arg(long, default_value_t = 50_000)]
    outstanding: usize,
    #[arg(long, default_value = "none")]
    compression: String,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Consume as members of this consumer group (one client per member) instead of
    /// splitting the partitions between plain consumers.
    #[arg(long)]
    group: Option<String>,
    /// Auto-commit interval of group members.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    commit_interval: Duration,
    /// Session timeout of group members.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    session_timeout: Duration,
    /// Instead of a load run: start --consumers group members, then measure how long the
    /// group takes to settle when one more joins and when one dies (needs --group).
    #[arg(long)]
    rebalance_test: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Acks {
    None,
    Leader,
    All,
    Majority,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds")
}

fn main() -> std::process::ExitCode {
    common::run_tool(run_main)
}

fn run_main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.producers == 0 {
        anyhow::bail!("--producers must be at least 1");
    }
    if args.message_size < 16 {
        anyhow::bail!("--message-size must be at least 16 (the send time is embedded)");
    }
    rustmq_transport::process::block_on(run(args))
}

async fn ensure_topic(args: &Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/topics/{}", args.api_url, args.topic);
    let r = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if r.status().is_success() {
        return Ok(());
    }
    let r = http
        .post(format!("{}/api/v1/topics", args.api_url))
        .json(&{
            let mut body = json!({
                "name": args.topic,
                "partitions": args.partitions,
                "replication_factor": args.replication_factor,
            });
            if let Some(m) = args.min_insync_replicas {
                body["config"] = json!({"min.insync.replicas": m.to_string()});
            }
            body
        })
        .send()
        .await?;
    if !r.status().is_success() {
        anyhow::bail!("cannot create topic {}: {}", args.topic, r.text().await?);
    }
    Ok(())
}

struct Stats {
    measuring: AtomicBool,
    stop: AtomicBool,
    sent: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    ack_lat: Shared<Histogram<u64>>,
    e2e_lat: Shared<Histogram<u64>>,
    /// From a message's intended send time to the producer taking it (the load generator's
    /// own lag: its task waking late, or the producer's buffer full).
    send_lag: Shared<Histogram<u64>>,
}

async fn run(args: Args) -> anyhow::Result<()> {
    common::init_telemetry("rustmq-bench")?;
    ensure_topic(&args).await?;
    let client = common::connect(&args.brokers, &args.ca_cert).await?;
    let stats = Arc::new(Stats {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        received: AtomicU64::new(0),
        ack_lat: Arc::new(std::sync::Mutex::new(hist())),
        e2e_lat: Arc::new(std::sync::Mutex::new(hist())),
        send_lag: Arc::new(std::sync::Mutex::new(hist())),
    });
    let compression = rustmq_protocol::records::parse_compression(&args.compression)?;

    if args.rebalance_test {
        return rebalance_test(&args).await;
    }
    // Consumers split the partitions and start at the end. They use their own client (and so
    // their own QUIC connection), as a separate consuming application would.
    let consumer_client = common::connect(&args.brokers, &args.ca_cert).await?;
    let mut tasks = Vec::new();
    if let Some(group) = &args.group {
        for _ in 0..args.consumers {
            let member_client = common::connect(&args.brokers, &args.ca_cert).await?;
            let mut consumer = member_client
                .create_group_consumer(&args.topic, group, group_config(&args))
                .await?;
            let stats = stats.clone();
            tasks.push(tokio::spawn(async move {
                measure_e2e(&stats, &mut consumer).await;
                let _ = consumer.close().await;
            }));
        }
    }
    for c in 0..args.consumers {
        if args.group.is_some() {
            break;
        }
        let parts: Vec<u32> = (0..args.partitions)
            .filter(|p| p % args.consumers == c)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let mut consumer = consumer_client
            .consumer(&args.topic)
            .partitions(parts)
            .start_position(StartPosition::Latest)
            .build()
            .await?;
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            measure_e2e(&stats, &mut consumer).await;
        }));
    }

    let per_producer_rate = if args.rate == 0 {
        0
    } else {
        (args.rate / u64::from(args.producers)).max(1)
    };
    let mut producers = Vec::new();
    let mut producer_metrics = Vec::new();
    for _ in 0..args.producers {
        let producer = ProducerBuilder::new()
            .topic(&args.topic)
            .config(ProducerConfig {
                batch_bytes: args.batch_bytes,
                batch_size: usize::MAX / 2,
                batch_timeout: args.linger,
                max_in_flight: args.max_in_flight,
                max_message_size: args.message_size + 1024,
                compression,
                ack_level: match args.acks {
                    Acks::None => AckLevel::None,
                    Acks::Leader => AckLevel::Leader,
                    Acks::All => AckLevel::All,
                    Acks::Majority => AckLevel::Majority,
                },
                idempotent: args.idempotent,
                ..Default::default()
            })
            .client(client.clone())
            .build()
            .await?;
        producer_metrics.push(producer.metrics());
        let stats = stats.clone();
        let size = args.message_size;
        let outstanding = args.outstanding;
        let topic = args.topic.clone();
        producers.push(tokio::spawn(async move {
            let filler = Bytes::from(vec![b'x'; size - 8]);
            // Acknowledgements arrive through callbacks (no future per message, so the load
            // generator's own cost stays small); the semaphore bounds what is outstanding.
            let room = Arc::new(tokio::sync::Semaphore::new(outstanding));
            let local = Arc::new(std::sync::Mutex::new(hist()));
            let mut lag = hist();
            let start = Instant::now();
            let mut n: u64 = 0;
            while !stats.stop.load(Ordering::Relaxed) {
                // Intended send time: at a fixed rate, the schedule; otherwise now.
                let schedule = (n * 1_000_000_000).checked_div(per_producer_rate);
                let intended = if let Some(offset_ns) = schedule {
                    let due = start + Duration::from_nanos(offset_ns);
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    due
                } else {
                    Instant::now()
                };
                let Ok(permit) = room.acquire().await else {
                    break;
                };
                permit.forget();
                let mut payload = BytesMut::with_capacity(size);
                let wall = now_micros().saturating_sub(intended.elapsed().as_micros() as u64);
                payload.put_u64(wall);
                payload.extend_from_slice(&filler);
                let msg = Message::builder()
                    .topic(&topic)
                    .payload(payload.freeze())
                    .build();
                let Ok(msg) = msg else { break };
                let measured = stats.measuring.load(Ordering::Relaxed);
                if measured {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                let (stats_cb, local_cb, room_cb) = (stats.clone(), local.clone(), room.clone());
                let sent = producer
                    .send_with_callback(msg, move |res| {
                        if let Ok(mut h) = local_cb.lock() {
                            record(&stats_cb, &mut h, (intended, measured, res));
                        }
                        room_cb.add_permits(1);
                    })
                    .await;
                if sent.is_err() {
                    break;
                }
                if measured {
                    let _ = lag.record((intended.elapsed().as_micros() as u64).max(1));
                }
                n += 1;
            }
            let _ = producer.flush().await;
            let _ = producer.close().await;
            if let (Ok(mut h), Ok(l)) = (stats.ack_lat.lock(), local.lock()) {
                let _ = h.add(&*l);
            }
            if let Ok(mut h) = stats.send_lag.lock() {
                let _ = h.add(&lag);
            }
        }));
    }

    eprintln!("warming up for {:?}", args.warmup);
    tokio::time::sleep(args.warmup).await;
    stats.measuring.store(true, Ordering::Relaxed);
    let window_start = WindowStart::new(&producer_metrics);
    let path_start = client.transport_stats().await;
    let t0 = Instant::now();
    eprintln!("measuring for {:?}", args.duration);
    let mut last = 0;
    while t0.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration)).await;
        let acked = stats.acked.load(Ordering::Relaxed);
        eprintln!(
            "  {:>5.1}s  {:>9.0} msg/s  {:>7.1} MB/s acked",
            t0.elapsed().as_secs_f64(),
            (acked - last) as f64,
            (acked - last) as f64 * args.message_size as f64 / 1e6
        );
        last = acked;
    }
    stats.measuring.store(false, Ordering::Relaxed);
    let window = window_start.end(&producer_metrics);
    let path = path_window(&path_start, &client.transport_stats().await);
    let elapsed = t0.elapsed().as_secs_f64();
    stats.stop.store(true, Ordering::Relaxed);
    for t in producers {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in tasks {
        let _ = t.await;
    }

    let acked = stats.acked.load(Ordering::Relaxed);
    let ack = stats
        .ack_lat
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| hist());
    let e2e = stats
        .e2e_lat
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| hist());
    let lag = stats
        .send_lag
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| hist());
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let snap_ms = |h: &LatencySnapshot, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let result = json!({
        "config": {
            "topic": args.topic, "partitions": args.partitions, "producers": args.producers,
            "consumers": args.consumers, "message_size": args.message_size, "target_rate": args.rate,
            "acks": format!("{:?}", args.acks), "batch_bytes": args.batch_bytes,
            "replication_factor": args.replication_factor, "idempotent": args.idempotent,
            "linger_ms": args.linger.as_secs_f64() * 1000.0, "compression": args.compression,
            "duration_s": elapsed,
        },
        "produce": {
            "messages": acked,
            // Sent in the measured window; every one of them is acknowledged or failed by now.
            "sent": stats.sent.load(Ordering::Relaxed),
            "failed": stats.failed.load(Ordering::Relaxed),
            "msg_per_s": acked as f64 / elapsed,
            "mb_per_s": acked as f64 * args.message_size as f64 / elapsed / 1e6,
            "ack_latency_ms": {"p50": ms(&ack, 0.5), "p99": ms(&ack, 0.99), "p999": ms(&ack, 0.999), "max": ack.max() as f64 / 1000.0},
            // Where an acknowledgement's time went: the load generator taking the message
            // late, the batch waiting in the producer, the request on the network and broker.
            "send_lag_ms": {"p50": ms(&lag, 0.5), "p99": ms(&lag, 0.99), "max": lag.max() as f64 / 1000.0},
            "queue_time_ms": {"p50": snap_ms(&window.queue_time, 0.5), "p99": snap_ms(&window.queue_time, 0.99), "max": window.queue_time.max() as f64 / 1000.0},
            "request_latency_ms": {"p50": snap_ms(&window.request_latency, 0.5), "p99": snap_ms(&window.request_latency, 0.99), "max": window.request_latency.max() as f64 / 1000.0, "messages": window.request_latency.len()},
        },
        // The producers' QUIC connection over the window: packets lost (or acknowledged so
        // late that QUIC declared them lost) and congestion-window cuts.
        "transport": path,
        "consume": {
            "messages": stats.received.load(Ordering::Relaxed),
            "msg_per_s": stats.received.load(Ordering::Relaxed) as f64 / elapsed,
            "e2e_latency_ms": {"p50": ms(&e2e, 0.5), "p99": ms(&e2e, 0.99), "p999": ms(&e2e, 0.999), "max": e2e.max() as f64 / 1000.0},
        },
    });
    println!(
        "produce: {:.0} msg/s, {:.1} MB/s, ack latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms ({} failed)",
        result["produce"]["msg_per_s"].as_f64().unwrap_or(0.0),
        result["produce"]["mb_per_s"].as_f64().unwrap_or(0.0),
        ms(&ack, 0.5),
        ms(&ack, 0.99),
        ms(&ack, 0.999),
        stats.failed.load(Ordering::Relaxed)
    );
    println!(
        "  of which p99: send lag {:.2} ms, queue time {:.2} ms, request latency {:.2} ms ({} messages)",
        ms(&lag, 0.99),
        snap_ms(&window.queue_time, 0.99),
        snap_ms(&window.request_latency, 0.99),
        window.request_latency.len()
    );
    for (broker, p) in path.as_object().into_iter().flatten() {
        println!(
            "  QUIC to {broker}: {} packets sent, {} lost, {} congestion events; rtt {:.2} ms, cwnd {} bytes",
            p["sent_packets"],
            p["lost_packets"],
            p["congestion_events"],
            p["rtt_ms"].as_f64().unwrap_or(0.0),
            p["cwnd_bytes"]
        );
    }
    println!(
        "consume: {:.0} msg/s, end-to-end latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        result["consume"]["msg_per_s"].as_f64().unwrap_or(0.0),
        ms(&e2e, 0.5),
        ms(&e2e, 0.99),
        ms(&e2e, 0.999)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    client.close().await;
    Ok(())
}

/// Records end-to-end latency from the send time the producer put in the first 8 bytes.
/// A consumer the benchmark reads payloads from.
trait PayloadSource {
    /// The next message's payload (acknowledged, for a group member); None when it failed.
    fn next_payload(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send;
}

impl PayloadSource for rustmq_client::Consumer {
    async fn next_payload(&mut self) -> Option<Bytes> {
        Some(self.receive().await.ok()?.payload)
    }
}

impl PayloadSource for rustmq_client::GroupConsumer {
    async fn next_payload(&mut self) -> Option<Bytes> {
        let m = self.receive().await.ok()??;
        let payload = m.message.payload.clone();
        let _ = m.ack().await;
        Some(payload)
    }
}

/// Receives until the run stops or `receive` ends, recording each payload's end-to-end
/// latency, then adds what it recorded to the run's histogram.
async fn measure_e2e(stats: &Stats, consumer: &mut impl PayloadSource) {
    let mut local = hist();
    while !stats.stop.load(Ordering::Relaxed) {
        let payload = tokio::select! {
            p = consumer.next_payload() => p,
            // Wake up now and then to see whether the run has stopped.
            _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
        };
        let Some(payload) = payload else { break };
        record_e2e(stats, &mut local, &payload);
    }
    if let Ok(mut h) = stats.e2e_lat.lock() {
        let _ = h.add(&local);
    }
}

fn record_e2e(stats: &Stats, local: &mut Histogram<u64>, payload: &[u8]) {
    if stats.measuring.load(Ordering::Relaxed) && payload.len() >= 8 {
        let sent = u64::from_be_bytes(payload[..8].try_into().unwrap_or([0; 8]));
        let _ = local.record(now_micros().saturating_sub(sent).max(1));
        stats.received.fetch_add(1, Ordering::Relaxed);
    }
}

fn group_config(args: &Args) -> rustmq_client::GroupConfig {
    rustmq_client::GroupConfig {
        enable_auto_commit: true,
        auto_commit_interval: args.commit_interval,
        session_timeout: args.session_timeout,
        heartbeat_interval: (args.session_timeout / 5).max(Duration::from_millis(50)),
        consumer: rustmq_client::ConsumerConfig {
            start_position: StartPosition::Latest,
            fetch_max_wait: Duration::from_millis(100),
            ..Default::default()
        },
        ..Default::default()
    }
}

type Assignments = Arc<std::sync::Mutex<std::collections::BTreeMap<usize, Vec<u32>>>>;

/// A group member that keeps consuming and publishes its assignment.
async fn spawn_member(
    args: &Args,
    id: usize,
    assignments: Assignments,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = common::connect(&args.brokers, &args.ca_cert).await?;
    let group = args
        .group
        .clone()
        .context("--rebalance-test needs --group")?;
    let config = group_config(args);
    let topic = args.topic.clone();
    Ok(tokio::spawn(async move {
        let Ok(mut consumer) = client.create_group_consumer(&topic, &group, config).await else {
            return;
        };
        loop {
            if let Ok(Ok(Some(m))) =
                tokio::time::timeout(Duration::from_millis(50), consumer.receive()).await
            {
                let _ = m.ack().await;
            }
            let owned = consumer.assigned_partitions().await;
            if let Ok(mut a) = assignments.lock() {
                a.insert(id, owned);
            }
        }
    }))
}

/// Waits until the live members own every partition exactly once; returns the time it took.
async fn settle(
    assignments: &Assignments,
    live: &[usize],
    partitions: u32,
    need: Option<usize>,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let ok = assignments.lock().map(|a| {
            let mut all: Vec<u32> = live
                .iter()
                .filter_map(|i| a.get(i))
                .flatten()
                .copied()
                .collect();
            let n = all.len();
            all.sort_unstable();
            all.dedup();
            let newcomer_has = need.is_none_or(|i| a.get(&i).is_some_and(|p| !p.is_empty()));
            n == partitions as usize && all.len() == n && newcomer_has
        });
        if ok.unwrap_or(false) {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn rebalance_test(args: &Args) -> anyhow::Result<()> {
    let assignments: Assignments = Arc::default();
    let mut handles = Vec::new();
    for i in 0..args.consumers as usize {
        handles.push(spawn_member(args, i, assignments.clone()).await?);
    }
    let live: Vec<usize> = (0..args.consumers as usize).collect();
    let first = settle(&assignments, &live, args.partitions, None).await;
    println!(
        "{} members settled in {:.0} ms",
        args.consumers,
        first.as_secs_f64() * 1000.0
    );

    let newcomer = args.consumers as usize;
    let t0 = Instant::now();
    handles.push(spawn_member(args, newcomer, assignments.clone()).await?);
    let mut live2 = live.clone();
    live2.push(newcomer);
    settle(&assignments, &live2, args.partitions, Some(newcomer)).await;
    let join_time = t0.elapsed();
    println!(
        "rebalance after a member joined: {:.0} ms (join until every partition is owned again, including by the newcomer)",
        join_time.as_secs_f64() * 1000.0
    );

    // Kill member 0 without leaving.
    handles[0].abort();
    let t0 = Instant::now();
    let survivors: Vec<usize> = live2.iter().copied().filter(|i| *i != 0).collect();
    settle(&assignments, &survivors, args.partitions, None).await;
    let death_time = t0.elapsed();
    println!(
        "rebalance after a member died: {:.0} ms (kill until its partitions are owned again; session timeout {:?})",
        death_time.as_secs_f64() * 1000.0,
        args.session_timeout
    );
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&json!({
                "members": args.consumers, "partitions": args.partitions,
                "session_timeout_ms": args.session_timeout.as_millis() as u64,
                "join_rebalance_ms": join_time.as_secs_f64() * 1000.0,
                "death_rebalance_ms": death_time.as_secs_f64() * 1000.0,
            }))?,
        )?;
    }
    for h in handles {
        h.abort();
    }
    Ok(())
}

/// The QUIC path of the producers' connections over the window: counters as differences,
/// round-trip time and window as at its end.
fn path_window(
    start: &[rustmq_client::TransportStats],
    end: &[rustmq_client::TransportStats],
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for e in end {
        let s = start.iter().find(|s| s.broker == e.broker);
        // A connection made anew during the window starts from zero.
        let diff = |f: fn(&rustmq_client::TransportStats) -> u64| {
            f(e).checked_sub(s.map_or(0, f)).unwrap_or(f(e))
        };
        out.insert(
            e.broker.clone(),
            json!({
                "sent_packets": diff(|t| t.sent_packets),
                "lost_packets": diff(|t| t.lost_packets),
                "congestion_events": diff(|t| t.congestion_events),
                "rtt_ms": e.rtt.as_secs_f64() * 1000.0,
                "cwnd_bytes": e.cwnd,
                "mtu": e.mtu,
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// The producers' own latency histograms over the measured window.
struct ProducerWindow {
    queue_time: LatencySnapshot,
    request_latency: LatencySnapshot,
}

/// Each producer's (queue time, request latency) histograms at the window's start.
struct WindowStart(Vec<(LatencySnapshot, LatencySnapshot)>);

impl WindowStart {
    fn snapshot(all: &[Arc<ProducerMetrics>]) -> Vec<(LatencySnapshot, LatencySnapshot)> {
        all.iter()
            .map(|m| (m.queue_time.snapshot(), m.request_latency.snapshot()))
            .collect()
    }

    fn new(all: &[Arc<ProducerMetrics>]) -> Self {
        Self(Self::snapshot(all))
    }

    /// What every producer recorded since the start, merged.
    fn end(self, all: &[Arc<ProducerMetrics>]) -> ProducerWindow {
        let empty = LatencyRecorder::default().snapshot();
        let mut w = ProducerWindow {
            queue_time: empty.clone(),
            request_latency: empty,
        };
        for ((q0, r0), (q1, r1)) in self.0.iter().zip(Self::snapshot(all)) {
            w.queue_time.merge(&q1.since(q0));
            w.request_latency.merge(&r1.since(r0));
        }
        w
    }
}

fn record(
    stats: &Stats,
    local: &mut Histogram<u64>,
    (intended, measured, res): (
        Instant,
        bool,
        Result<rustmq_client::SendResult, rustmq_client::ClientError>,
    ),
) {
    match res {
        Ok(_) if measured => {
            stats.acked.fetch_add(1, Ordering::Relaxed);
            let _ = local.record((intended.elapsed().as_micros() as u64).max(1));
        }
        Ok(_) => {}
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "produce failed");
        }
    }
}
