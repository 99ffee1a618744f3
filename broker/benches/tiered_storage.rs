//! Tiered-storage benchmark (`cargo bench -p rustmq-broker --bench tiered_storage`).
//!
//! 1. Object-store requests per GiB ingested with 1, 100 and 1000 partitions at the same total
//!    rate (local directory store; the counts do not depend on the backend).
//! 2. Cold catch-up read throughput from fake-gcs-server against the raw GET throughput of the
//!    same server in the same run, and a tail producer's p99 with and without the cold reader.
//!
//! Sizes: `RUSTMQ_BENCH_COST_MIB` (default 1024) per partition count,
//! `RUSTMQ_BENCH_COLD_MIB` (default 2048: shorter runs swing), `RUSTMQ_BENCH_RATE_MBS`
//! (default 48). Needs fake-gcs-server (`.ci/test-deps`, then `target/ci-venv/bin` on PATH).
//!
//! The parts that stand for other machines (the bucket emulator with its forwarder, and the
//! catch-up consumer application) run at nice `RUSTMQ_BENCH_REMOTE_NICE` (default 10; 0 puts
//! everything on equal terms). Broker knobs: `RUSTMQ_BENCH_COLD_THREADS`,
//! `RUSTMQ_BENCH_COLD_NICE`, `RUSTMQ_BENCH_COLD_IN_FLIGHT`, `RUSTMQ_BENCH_READ_AHEAD`
//! `RUSTMQ_BENCH_COLD_MBS` (cold-read quota in MB/s), `RUSTMQ_BENCH_CHUNK_KIB` (`[cache]`
//! defaults otherwise),
//! `RUSTMQ_BENCH_FSYNC=0` turns WAL fsync off.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestNode;
use common::emulators::FakeGcs;
use futures::StreamExt;
use hdrhistogram::Histogram;
use rustmq_broker::config::BrokerConfig;
use rustmq_broker::tier::store::TierStore;
use rustmq_client::{Message, ProducerBuilder, ProducerConfig, RustMqClient, StartPosition};
use rustmq_protocol::batch;
use rustmq_protocol::proto;

const MIB: u64 = 1024 * 1024;
const MSG: usize = 1024;

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn base_config(dir: &std::path::Path) -> BrokerConfig {
    let mut c = common::config(dir);
    c.wal.upload_interval_ms = 600_000;
    c.wal.upload_bytes = 16 * MIB;
    c.wal.segment_size_bytes = 64 * MIB;
    c.log.retention_ms = -1;
    c.wal.fsync_on_write = env_u64("RUSTMQ_BENCH_FSYNC", 1) == 1;
    let d = c.cache.clone();
    c.cache.cold_read_threads =
        env_u64("RUSTMQ_BENCH_COLD_THREADS", d.cold_read_threads as u64) as usize;
    c.cache.cold_read_nice = env_u64("RUSTMQ_BENCH_COLD_NICE", d.cold_read_nice as u64) as i32;
    c.cache.read_ahead_chunks =
        env_u64("RUSTMQ_BENCH_READ_AHEAD", u64::from(d.read_ahead_chunks)) as u32;
    c.cache.cold_read_max_in_flight = env_u64(
        "RUSTMQ_BENCH_COLD_IN_FLIGHT",
        d.cold_read_max_in_flight as u64,
    ) as usize;
    c.cache.cold_read_max_bytes_per_sec = env_u64("RUSTMQ_BENCH_COLD_MBS", 0) * 1_000_000;
    c.cache.read_chunk_bytes = env_u64("RUSTMQ_BENCH_CHUNK_KIB", d.read_chunk_bytes / 1024) * 1024;
    c
}

/// Produces `total` bytes of 1 KiB messages at `rate` bytes/s (0 = as fast as possible).
async fn produce(client: &RustMqClient, topic: &str, total: u64, rate: u64) {
    let producer = ProducerBuilder::new()
        .topic(topic)
        .config(ProducerConfig {
            batch_size: 1000,
            batch_bytes: 1024 * 1024,
            batch_timeout: Duration::from_millis(5),
            max_in_flight: 64,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .expect("producer");
    let body = Bytes::from(vec![7u8; MSG]);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut pending = Vec::new();
    while sent < total {
        let m = Message::builder()
            .topic(topic)
            .payload(body.clone())
            .build()
            .expect("message");
        pending.push(producer.send_async(m).await.expect("send"));
        sent += MSG as u64;
        if pending.len() >= 8192 {
            for f in pending.drain(..) {
                f.await.expect("ack");
            }
        }
        if rate > 0 && sent.is_multiple_of(256 * 1024) {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    for f in pending {
        f.await.expect("ack");
    }
    producer.close().await.expect("close");
}

async fn cost(partitions: u32, mib: u64, rate: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = base_config(dir.path());
    cfg.object_storage.maintenance_interval_ms = 1000;
    let n = TestNode::start_with(cfg).await;
    n.create_topic("cost", partitions).await;
    let client = n.client().await;
    let t = Instant::now();
    produce(&client, "cost", mib * MIB, rate).await;
    let ingest = t.elapsed();
    let b = n.node.broker();
    b.upload_now().await.expect("final upload");
    // Give maintenance (compaction, GC) two passes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let v = b.storage_view();
    let gib = v.uploaded_bytes as f64 / (1024.0 * MIB as f64);
    let ts = b.tier().stats();
    let compacted = ts.compacted_objects.load(Ordering::Relaxed);
    let upload_puts = v.uploads + ts.redundant_uploads.load(Ordering::Relaxed);
    let s = b.tier().store_stats();
    let lists = s.lists.load(Ordering::Relaxed);
    println!(
        "cost partitions={partitions:<5} ingested={:.2} GiB in {:.1}s ({:.1} MB/s) | upload PUTs/GiB={:.1} \
         catalog writes/GiB={:.1} | all requests/GiB={:.1} (PUT {} GET {} DELETE {} LIST {}; compacted objects {})",
        gib,
        ingest.as_secs_f64(),
        v.uploaded_bytes as f64 / 1e6 / ingest.as_secs_f64(),
        upload_puts as f64 / gib,
        v.uploads as f64 / gib,
        (v.puts + v.gets + v.deletes + lists) as f64 / gib,
        v.puts,
        v.gets,
        v.deletes,
        lists,
        compacted,
    );
    client.close().await;
    n.stop().await;
}

async fn tail_latency(
    client: &RustMqClient,
    until: Arc<AtomicBool>,
    min: Duration,
) -> Histogram<u64> {
    let producer = ProducerBuilder::new()
        .topic("tail")
        .config(ProducerConfig {
            batch_timeout: Duration::from_millis(0),
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .expect("producer");
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let started = Instant::now();
    let body = Bytes::from(vec![1u8; MSG]);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while started.elapsed() < min || !until.load(Ordering::Relaxed) {
        tick.tick().await;
        let t = Instant::now();
        producer
            .send(
                Message::builder()
                    .topic("tail")
                    .payload(body.clone())
                    .build()
                    .expect("message"),
            )
            .await
            .expect("tail send");
        h.record(t.elapsed().as_micros() as u64).ok();
    }
    producer.close().await.ok();
    h
}

async fn cold(mib: u64) {
    let remote_nice = env_u64("RUSTMQ_BENCH_REMOTE_NICE", 10) as i32;
    let gcs = FakeGcs::start_with_nice(remote_nice).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = base_config(dir.path());
    gcs.configure(&mut cfg);
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("cold", 16).await;
    n.create_topic("tail", 1).await;
    let client = n.client().await;
    produce(&client, "cold", mib * MIB, 0).await;
    n.node.broker().upload_now().await.expect("upload");
    client.close().await;
    let d = n.stop().await;
    std::fs::remove_dir_all(d.join("wal")).expect("remove wal");

    // Raw GET throughput of the same server: every object in read_chunk_bytes ranged GETs,
    // 16 in flight (as many as one fetch of 16 cold partitions can have).
    let store = TierStore::from_config(&cfg).expect("store");
    let objects = store.list("rustmq").await.expect("list");
    let chunk = cfg.cache.read_chunk_bytes;
    let inflight = 16;
    let mut ranges = Vec::new();
    let md_sizes: Vec<(String, u64)> = {
        let n = TestNode::start_with(cfg.clone()).await;
        let c = n.node.controller().metadata().catalog.clone();
        n.stop().await;
        objects
            .iter()
            .filter_map(|o| c.objects.get(&o.key).map(|m| (o.key.clone(), m.size)))
            .collect()
    };
    for (k, size) in &md_sizes {
        let mut at = 0;
        while at < *size {
            ranges.push((k.clone(), at..(at + chunk).min(*size)));
            at += chunk;
        }
    }
    let t = Instant::now();
    let raw_bytes: u64 = futures::stream::iter(ranges.clone())
        .map(|(k, r)| {
            let store = &store;
            async move { store.get_range(&k, r).await.expect("get").len() as u64 }
        })
        .buffer_unordered(inflight)
        .fold(0, |a, b| async move { a + b })
        .await;
    let raw = raw_bytes as f64 / 1e6 / t.elapsed().as_secs_f64();
    // The same GETs the way the broker makes them: on a cold-read runtime with the broker's
    // thread count, priority and in-flight cap, through a client opened there.
    let raw_cold = {
        let pool =
            rustmq_broker::tier::cold::ColdPool::new(rustmq_broker::tier::cold::ColdReadOptions {
                threads: cfg.cache.cold_read_threads,
                nice: cfg.cache.cold_read_nice,
                max_in_flight: cfg.cache.cold_read_max_in_flight,
                max_bytes_per_sec: 0,
            })
            .expect("cold pool");
        let store = Arc::new(store.sibling(&cfg).expect("store"));
        let t = Instant::now();
        let bytes: u64 = futures::stream::iter(ranges)
            .map(|(k, r)| {
                let store = store.clone();
                pool.run(async move { store.get_range(&k, r).await.map(|b| b.len() as u64) })
            })
            .buffer_unordered(inflight)
            .fold(0, |a, b| async move { a + b.expect("get") })
            .await;
        bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
    };

    let cfg_for_fetch = cfg.clone();
    // The emulator keeps its objects in files on this machine's disk: write them out now, so
    // the kernel's background writeback does not land in the tail producer's fsyncs (a real
    // bucket is not on the broker's disk).
    let _ = std::process::Command::new("sync").status();
    let n = TestNode::start_with(cfg).await;
    let client = n.client().await;
    let quiet = tail_latency(
        &client,
        Arc::new(AtomicBool::new(true)),
        Duration::from_secs(10),
    )
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let tail = {
        let (client, done) = (client.clone(), done.clone());
        tokio::spawn(async move { tail_latency(&client, done, Duration::from_secs(1)).await })
    };
    // The catch-up consumer is an application of its own (on another machine in a real
    // deployment): its own thread, runtime and client, at the emulator's priority.
    let (bytes, cold_secs) = {
        let cc = n.client_config();
        std::thread::spawn(move || {
            if remote_nice != 0 {
                let _ = rustix::process::setpriority_process(
                    Some(rustix::thread::gettid()),
                    remote_nice,
                );
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("consumer runtime");
            rt.block_on(async move {
                let client = RustMqClient::new(cc).await.expect("client");
                let mut consumer = client
                    .consumer("cold")
                    .partitions((0..16).collect())
                    .start_position(StartPosition::Earliest)
                    .build()
                    .await
                    .expect("consumer");
                let mut left = 0;
                for p in 0..16 {
                    left += client.list_offset("cold", p, -1).await.expect("hw");
                }
                let t = Instant::now();
                let mut bytes = 0u64;
                while left > 0 {
                    let m = consumer.receive().await.expect("receive");
                    bytes += m.payload.len() as u64;
                    left -= 1;
                }
                let secs = t.elapsed().as_secs_f64();
                client.close().await;
                (bytes, secs)
            })
        })
        .join()
        .expect("consumer thread")
    };
    done.store(true, Ordering::Relaxed);
    let busy = tail.await.expect("tail");
    let v = n.node.broker().storage_view();
    let cold = bytes as f64 / 1e6 / cold_secs;
    println!(
        "cold catch-up {:.0} MiB from fake-gcs-server: {cold:.1} MB/s of payload vs raw ranged GET \
         {raw:.1} MB/s ({:.0}%); GETs {} cache hit ratio {:.2}",
        bytes as f64 / MIB as f64,
        100.0 * cold / raw,
        v.gets,
        v.cache_hit_ratio
    );
    println!(
        "tail producer ack latency: alone p50 {:.2} ms p99 {:.2} ms | during the cold read p50 {:.2} ms p99 {:.2} ms ({:.2}x)",
        quiet.value_at_quantile(0.5) as f64 / 1000.0,
        quiet.value_at_quantile(0.99) as f64 / 1000.0,
        busy.value_at_quantile(0.5) as f64 / 1000.0,
        busy.value_at_quantile(0.99) as f64 / 1000.0,
        busy.value_at_quantile(0.99) as f64 / quiet.value_at_quantile(0.99).max(1) as f64
    );
    client.close().await;
    n.stop().await;

    // The broker's own read path, without QUIC and client decoding: a fresh node (empty
    // caches) answers Fetch for all 16 partitions, 4 MiB each per request, until the end.
    let n = TestNode::start_with(cfg_for_fetch).await;
    let b = n.node.broker();
    let tail_client = n.client().await;
    let quiet2 = tail_latency(
        &tail_client,
        Arc::new(AtomicBool::new(true)),
        Duration::from_secs(10),
    )
    .await;
    let done = Arc::new(AtomicBool::new(false));
    let tail = {
        let (client, done) = (tail_client.clone(), done.clone());
        tokio::spawn(async move { tail_latency(&client, done, Duration::from_secs(1)).await })
    };
    let mut offsets = [0i64; 16];
    let mut ends = [0i64; 16];
    for (p, e) in ends.iter_mut().enumerate() {
        *e = b.partition_bounds("cold", p as u32).expect("partition").1;
    }
    let t = Instant::now();
    let mut fetched = 0u64;
    while offsets.iter().zip(&ends).any(|(o, e)| o < e) {
        let req = proto::FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 64 * 1024 * 1024,
            topics: vec![proto::FetchTopic {
                topic: "cold".into(),
                partitions: (0..16u32)
                    .filter(|p| offsets[*p as usize] < ends[*p as usize])
                    .map(|p| proto::FetchPartition {
                        partition: p,
                        fetch_offset: offsets[p as usize],
                        partition_max_bytes: 4 * 1024 * 1024,
                    })
                    .collect(),
            }],
        };
        for t in b.fetch(req).await.topics {
            for pr in t.partitions {
                assert_eq!(pr.error_code, 0, "fetch error");
                let rec = &pr.records;
                fetched += rec.len() as u64;
                let mut at = 0;
                while at + 12 <= rec.len() {
                    let len = i32::from_be_bytes(rec[at + 8..at + 12].try_into().expect("4 bytes"));
                    offsets[pr.partition as usize] = batch::last_offset(&rec[at..]) + 1;
                    at += 12 + len as usize;
                }
            }
        }
    }
    let path = fetched as f64 / 1e6 / t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let busy2 = tail.await.expect("tail");
    let v = b.storage_view();
    println!(
        "broker fetch path, cold caches, in-process: {:.0} MiB of batches at {path:.1} MB/s = {:.0}% of raw GET \
         ({:.0}% of the {raw_cold:.1} MB/s of raw GETs made like the broker's); GETs {} (cache hit ratio {:.2})",
        fetched as f64 / MIB as f64,
        100.0 * path / raw,
        100.0 * path / raw_cold,
        v.gets,
        v.cache_hit_ratio
    );
    println!(
        "tail producer ack latency around the in-process cold fetch: alone p99 {:.2} ms | during p99 {:.2} ms ({:.2}x)",
        quiet2.value_at_quantile(0.99) as f64 / 1000.0,
        busy2.value_at_quantile(0.99) as f64 / 1000.0,
        busy2.value_at_quantile(0.99) as f64 / quiet2.value_at_quantile(0.99).max(1) as f64
    );
    tail_client.close().await;
    n.stop().await;
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cost_mib = env_u64("RUSTMQ_BENCH_COST_MIB", 1024);
        let rate = env_u64("RUSTMQ_BENCH_RATE_MBS", 48) * 1_000_000;
        if args.is_empty() || args.iter().any(|a| a == "cost") {
            for p in [1, 100, 1000] {
                cost(p, cost_mib, rate).await;
            }
        }
        if args.is_empty() || args.iter().any(|a| a == "cold") {
            cold(env_u64("RUSTMQ_BENCH_COLD_MIB", 2048)).await;
        }
    });
}
