//! Tiered-storage benchmark (`cargo bench -p rustmq-broker --bench tiered_storage`).
//!
//! 1. Object-store requests per GiB ingested with 1, 100 and 1000 partitions at the same total
//!    rate (local directory store; the counts do not depend on the backend).
//! 2. Cold catch-up read throughput from fake-gcs-server against the raw GET throughput of the
//!    same server in the same run, and a tail producer's ack p99 while the catch-up reader is
//!    switched on and while it is off (every second, over the same stretch of time), for a
//!    QUIC consumer, an in-process Fetch loop, and (control) a QUIC consumer of local data.
//!    The broker runs on the lower half of the CPUs, everything standing for other machines
//!    (tail producer included) on the upper half (`RUSTMQ_BENCH_REMOTE_CPUS`: a list, or
//!    `all`); `RUSTMQ_BENCH_HOT_MIB` sizes the control (default 1024, 0 = skip).
//!
//! Sizes: `RUSTMQ_BENCH_COST_MIB` (default 1024) per partition count,
//! `RUSTMQ_BENCH_COLD_MIB` (default 2048: shorter runs swing), `RUSTMQ_BENCH_RATE_MBS`
//! (default 48). Needs fake-gcs-server (`.ci/test-deps`, then `target/ci-venv/bin` on PATH).
//!
//! The parts that stand for other machines (the bucket emulator with its forwarder, and the
//! catch-up consumer application; not the tail producer) run under `SCHED_IDLE` (`RUSTMQ_BENCH_REMOTE=idle`, the
//! default: they get only CPU the broker leaves, as if they were elsewhere), or at a nice
//! value (`RUSTMQ_BENCH_REMOTE=10`; `0` puts everything on equal terms). Under `idle` they
//! also go to a cgroup with `cpu.idle` set where the machine allows it (root, a cgroup cpu
//! controller; `RUSTMQ_BENCH_REMOTE_GROUP=0` skips it): `SCHED_IDLE` alone yields only to
//! threads of its own task group, and kernel threads the broker waits for (ext4's
//! extent-conversion worker behind each `fdatasync` of an append) would queue behind them.
//! The cgroup directory is left behind, empty. Broker knobs:
//! `RUSTMQ_BENCH_COLD_THREADS`, `RUSTMQ_BENCH_COLD_NICE`, `RUSTMQ_BENCH_COLD_IDLE` (0/1),
//! `RUSTMQ_BENCH_COLD_IN_FLIGHT`, `RUSTMQ_BENCH_READ_AHEAD`
//! `RUSTMQ_BENCH_COLD_MBS` (cold-read quota in MB/s), `RUSTMQ_BENCH_CHUNK_KIB`,
//! `RUSTMQ_BENCH_BULK_KIB` (`network.bulk_response_bytes` in KiB; 0 = off) (defaults
//! otherwise), `RUSTMQ_BENCH_WORKERS` (threads of the runtime the broker runs on; default
//! one per CPU it may use), `RUSTMQ_BENCH_FSYNC=0` turns WAL fsync off.
//!
//! `RUSTMQ_BENCH_RECYCLE` (default 48) is `wal.recycle_segments`: the 2 GiB cold topic's
//! 64 MiB segments become spares once uploaded, so every measured phase writes into
//! recycled files, as a broker whose uploads keep up does (0: new files).
//!
//! The fetch path's throughput is compared with raw GETs in `RUSTMQ_BENCH_PATH_ROUNDS`
//! (default 3) alternating rounds; `-- path` runs only those (no tail-latency phases).
//!
//! `RUSTMQ_BENCH_SLOW_DUMP=FILE` appends every tail ack as `<CLOCK_MONOTONIC seconds at
//! send> <latency µs>`, to line slow acks up with `perf sched record -k CLOCK_MONOTONIC`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestNode;
use common::emulators::{FakeGcs, Priority, Remote};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rustmq_broker::config::BrokerConfig;
use rustmq_broker::server::BulkLanes;
use rustmq_broker::tier::store::TierStore;
use rustmq_client::{Message, ProducerBuilder, ProducerConfig, RustMqClient, StartPosition};
use rustmq_protocol::batch;
use rustmq_protocol::proto;

/// The broker binary's allocator (see `main.rs`): what is measured is the broker as it runs.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    // Enough spares for every phase to write into a recycled file (see `cold`).
    c.wal.recycle_segments = env_u64("RUSTMQ_BENCH_RECYCLE", 48) as usize;
    c.log.retention_ms = -1;
    c.wal.fsync_on_write = env_u64("RUSTMQ_BENCH_FSYNC", 1) == 1;
    let d = c.cache.clone();
    c.cache.cold_read_threads =
        env_u64("RUSTMQ_BENCH_COLD_THREADS", d.cold_read_threads as u64) as usize;
    c.cache.cold_read_nice = env_u64("RUSTMQ_BENCH_COLD_NICE", d.cold_read_nice as u64) as i32;
    c.cache.cold_read_sched_idle =
        env_u64("RUSTMQ_BENCH_COLD_IDLE", u64::from(d.cold_read_sched_idle)) == 1;
    c.cache.read_ahead_chunks =
        env_u64("RUSTMQ_BENCH_READ_AHEAD", u64::from(d.read_ahead_chunks)) as u32;
    c.cache.cold_read_max_in_flight = env_u64(
        "RUSTMQ_BENCH_COLD_IN_FLIGHT",
        d.cold_read_max_in_flight as u64,
    ) as usize;
    c.cache.cold_read_max_bytes_per_sec = env_u64("RUSTMQ_BENCH_COLD_MBS", 0) * 1_000_000;
    c.cache.read_chunk_bytes = env_u64("RUSTMQ_BENCH_CHUNK_KIB", d.read_chunk_bytes / 1024) * 1024;
    c.network.bulk_response_bytes = env_u64(
        "RUSTMQ_BENCH_BULK_KIB",
        c.network.bulk_response_bytes / 1024,
    ) * 1024;
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

/// CPUs split between the broker (with the tail producer) and the parts that stand for
/// other machines: `RUSTMQ_BENCH_REMOTE_CPUS` ("all" = no split; default: the upper half).
/// Computed once, before the process pins itself (which changes what it sees).
fn cpu_split() -> Option<(Vec<usize>, Vec<usize>)> {
    static SPLIT: std::sync::OnceLock<Option<(Vec<usize>, Vec<usize>)>> =
        std::sync::OnceLock::new();
    SPLIT.get_or_init(split_cpus).clone()
}

fn split_cpus() -> Option<(Vec<usize>, Vec<usize>)> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let remote: Vec<usize> = match std::env::var("RUSTMQ_BENCH_REMOTE_CPUS").as_deref() {
        Ok("all") => return None,
        Ok(list) => list
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect(),
        Err(_) if n >= 2 => (n / 2..n).collect(),
        Err(_) => return None,
    };
    let broker: Vec<usize> = (0..n).filter(|c| !remote.contains(c)).collect();
    (!remote.is_empty() && !broker.is_empty()).then_some((broker, remote))
}

fn broker_cpus() -> Option<Vec<usize>> {
    cpu_split().map(|(b, _)| b)
}

/// `RUSTMQ_BENCH_REMOTE`: `idle` (default), a nice value, or `0` (equal terms).
fn remote_placement() -> Remote {
    let priority = match std::env::var("RUSTMQ_BENCH_REMOTE").as_deref() {
        Ok("0") => Priority::Normal,
        Ok(n) => n.parse().map(Priority::Nice).unwrap_or(Priority::Idle),
        Err(_) => Priority::Idle,
    };
    Remote {
        priority,
        cpus: cpu_split().map(|(_, r)| r),
    }
}

/// Switches a cold reader on and off every [`PERIOD`], so that the tail producer's latency
/// with and without it is sampled over the same stretch of time: on this VM the latency
/// drifts more between two 10 s windows than a cold read moves it.
struct Alternator {
    t0: Instant,
    on: Arc<AtomicBool>,
    /// (seconds since `t0`, on) at every switch.
    switches: Arc<std::sync::Mutex<Vec<(f64, bool)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const PERIOD: Duration = Duration::from_millis(1000);
/// Samples this soon after a switch are not counted (work in flight drains, read-ahead lands).
const GUARD_SECS: f64 = 0.25;

impl Alternator {
    /// Starts off; the first switch on is one period later.
    fn start(t0: Instant) -> Self {
        let on = Arc::new(AtomicBool::new(false));
        let switches = Arc::new(std::sync::Mutex::new(vec![(0.0, false)]));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (on, switches, stop) = (on.clone(), switches.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut state = false;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(PERIOD);
                    state = !state;
                    on.store(state, Ordering::Relaxed);
                    if let Ok(mut s) = switches.lock() {
                        s.push((t0.elapsed().as_secs_f64(), state));
                    }
                }
            })
        };
        Self {
            t0,
            on,
            switches,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits while the reader is switched off; returns the time waited.
    async fn wait_on(on: &AtomicBool) -> Duration {
        let t = Instant::now();
        while !on.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        t.elapsed()
    }

    /// Stops switching, after one more period off.
    fn stop(&mut self) {
        self.on.store(false, Ordering::Relaxed);
        if let Ok(mut s) = self.switches.lock() {
            s.push((self.t0.elapsed().as_secs_f64(), false));
        }
        std::thread::sleep(PERIOD);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Splits `samples` (sent at, latency in µs) into those sent while the reader was on
    /// and while it was off.
    fn split(&self, samples: &[(f64, u64)]) -> (Histogram<u64>, Histogram<u64>) {
        let switches = self.switches.lock().map(|s| s.clone()).unwrap_or_default();
        let mut on = Histogram::<u64>::new(3).expect("histogram");
        let mut off = Histogram::<u64>::new(3).expect("histogram");
        for &(at, us) in samples {
            // The last switch at or before the send.
            let Some(&(since, state)) = switches.iter().rev().find(|(s, _)| *s <= at) else {
                continue;
            };
            if at - since < GUARD_SECS {
                continue;
            }
            let h = if state { &mut on } else { &mut off };
            h.record(us).ok();
        }
        (on, off)
    }
}

/// The tail producer as an application of its own: a thread with its own runtime and
/// client, placed as `app` says, sending one 1 KiB message every 1 ms until `stop`;
/// returns (seconds since `t0` at send, ack latency in µs) for each.
fn spawn_tail(
    cc: rustmq_client::ClientConfig,
    app: Remote,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(f64, u64)>> {
    std::thread::spawn(move || {
        app.apply_to_this_thread();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tail runtime");
        rt.block_on(async move {
            let client = RustMqClient::new(cc).await.expect("tail client");
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
            let mut out = Vec::new();
            let body = Bytes::from(vec![1u8; MSG]);
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
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
                out.push((
                    t.duration_since(t0).as_secs_f64(),
                    t.elapsed().as_micros() as u64,
                ));
            }
            producer.close().await.ok();
            client.close().await;
            out
        })
    })
}

/// A catch-up consumer as an application of its own (on another machine in a real
/// deployment): its own thread, runtime and client, placed as `remote` says. Reads the 16
/// partitions of `topic` from the start to their ends, pausing while `on` is false;
/// returns the payload bytes and the seconds it was reading.
fn consume_alternating(
    cc: rustmq_client::ClientConfig,
    remote: Remote,
    topic: &'static str,
    on: Arc<AtomicBool>,
) -> (u64, f64) {
    std::thread::spawn(move || {
        remote.apply_to_this_thread();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("consumer runtime");
        rt.block_on(async move {
            let client = RustMqClient::new(cc).await.expect("client");
            let mut consumer = client
                .consumer(topic)
                .partitions((0..16).collect())
                .start_position(StartPosition::Earliest)
                .build()
                .await
                .expect("consumer");
            let mut left = 0;
            for p in 0..16 {
                left += client.list_offset(topic, p, -1).await.expect("hw");
            }
            let t = Instant::now();
            let mut paused = Duration::ZERO;
            let mut bytes = 0u64;
            while left > 0 {
                if !on.load(Ordering::Relaxed) {
                    let p = Instant::now();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    paused += p.elapsed();
                    continue;
                }
                let m = consumer.receive().await.expect("receive");
                bytes += m.payload.len() as u64;
                left -= 1;
            }
            let secs = (t.elapsed() - paused).as_secs_f64();
            client.close().await;
            (bytes, secs)
        })
    })
    .join()
    .expect("consumer thread")
}

/// The tail producer running while a reader is switched on and off.
struct TailRun {
    mono0: f64,
    alternator: Alternator,
    stop: Arc<AtomicBool>,
    tail: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl TailRun {
    fn start(cc: rustmq_client::ClientConfig, app: Remote) -> Self {
        let t0 = Instant::now();
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let mono0 = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
        let stop = Arc::new(AtomicBool::new(false));
        let tail = spawn_tail(cc, app, t0, stop.clone());
        Self {
            mono0,
            alternator: Alternator::start(t0),
            stop,
            tail,
        }
    }

    /// Stops switching and the producer; the ack latencies while on and while off.
    fn finish(mut self) -> (Histogram<u64>, Histogram<u64>) {
        self.alternator.stop();
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.tail.join().expect("tail");
        if let Ok(path) = std::env::var("RUSTMQ_BENCH_SLOW_DUMP") {
            use std::io::Write;
            let base = self.mono0;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("dump");
            for &(at, us) in &samples {
                writeln!(f, "{:.6} {}", base + at, us).ok();
            }
            writeln!(f, "----").ok();
        }
        self.alternator.split(&samples)
    }
}

/// A QUIC consumer of `topic` (placed as `remote`) switched on and off while the tail
/// producer (placed as `tail_app`) runs: payload bytes, seconds reading, and the tail's ack
/// latencies while on and while off.
fn quic_catch_up(
    n: &TestNode,
    tail_app: &Remote,
    remote: &Remote,
    topic: &'static str,
) -> (u64, f64, Histogram<u64>, Histogram<u64>) {
    let run = TailRun::start(n.client_config(), tail_app.clone());
    let (bytes, secs) = consume_alternating(
        n.client_config(),
        remote.clone(),
        topic,
        run.alternator.on.clone(),
    );
    let (on, off) = run.finish();
    (bytes, secs, on, off)
}

/// Prints the tail's ack latency while the cold reader was on and while it was off.
fn report_tail(what: &str, on: &Histogram<u64>, off: &Histogram<u64>) {
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "tail producer ack latency, {what} switched on and off every {} ms: off p50 {:.2} ms p99 {:.2} ms ({} acks) \
         | on p50 {:.2} ms p99 {:.2} ms ({} acks): {:.2}x",
        PERIOD.as_millis(),
        ms(off, 0.5),
        ms(off, 0.99),
        off.len(),
        ms(on, 0.5),
        ms(on, 0.99),
        on.len(),
        ms(on, 0.99) / ms(off, 0.99).max(0.001)
    );
}

/// Reads the 16 cold partitions to their ends through the broker's Fetch, in-process,
/// 4 MiB per partition per request; returns the bytes of batches read.
async fn fetch_all(b: &rustmq_broker::broker::Broker, on: Option<&AtomicBool>) -> (u64, Duration) {
    let mut offsets = [0i64; 16];
    let mut ends = [0i64; 16];
    for (p, e) in ends.iter_mut().enumerate() {
        *e = b.partition_bounds("cold", p as u32).expect("partition").1;
    }
    let t = Instant::now();
    let mut paused = Duration::ZERO;
    let mut fetched = 0u64;
    while offsets.iter().zip(&ends).any(|(o, e)| o < e) {
        if let Some(on) = on {
            paused += Alternator::wait_on(on).await;
        }
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
    (fetched, t.elapsed() - paused)
}

/// The ranges the raw GET comparisons read: in flight at once, as many as one fetch of 16
/// cold partitions can have.
const RAW_IN_FLIGHT: usize = 16;

/// Raw ranged GETs of `ranges`, [`RAW_IN_FLIGHT`] at a time, on the calling runtime: MB/s.
async fn raw_get(store: &TierStore, ranges: &[(String, std::ops::Range<u64>)]) -> f64 {
    let t = Instant::now();
    let bytes: u64 = futures::stream::iter(ranges.iter().cloned())
        .map(|(k, r)| async move { store.get_range(&k, r).await.expect("get").len() as u64 })
        .buffer_unordered(RAW_IN_FLIGHT)
        .fold(0, |a, b| async move { a + b })
        .await;
    bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
}

/// The same GETs the way the broker makes them: on a cold-read runtime with the broker's
/// thread count, priority and in-flight cap, through a client opened there: MB/s.
async fn raw_get_cold(cfg: &BrokerConfig, ranges: &[(String, std::ops::Range<u64>)]) -> f64 {
    let pool = rustmq_broker::tier::background::BackgroundPool::new(
        "bench-cold-read",
        rustmq_broker::tier::background::BackgroundOptions {
            threads: cfg.cache.cold_read_threads,
            nice: cfg.cache.cold_read_nice,
            sched_idle: cfg.cache.cold_read_sched_idle,
            max_in_flight: cfg.cache.cold_read_max_in_flight,
            max_bytes_per_sec: 0,
        },
    )
    .expect("cold pool");
    let store = Arc::new(
        TierStore::from_config(cfg)
            .expect("store")
            .sibling(cfg)
            .expect("store"),
    );
    let t = Instant::now();
    let bytes: u64 = futures::stream::iter(ranges.iter().cloned())
        .map(|(k, r)| {
            let store = store.clone();
            pool.run(async move { store.get_range(&k, r).await.map(|b| b.len() as u64) })
        })
        .buffer_unordered(RAW_IN_FLIGHT)
        .fold(0, |a, b| async move { a + b.expect("get") })
        .await;
    bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
}

/// The broker's own read path against raw GETs, without QUIC and client decoding, in
/// `rounds` alternating pairs (raw GETs, then a fresh node with empty caches answering
/// Fetch for all 16 partitions until the end), so that both sides of each ratio are
/// measured within seconds of each other: this VM's speed drifts by a third between
/// minutes. Prints each round and the median ratio.
async fn path_rounds(
    cfg: &BrokerConfig,
    store: &TierStore,
    ranges: &[(String, std::ops::Range<u64>)],
    rounds: u64,
) {
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let raw = raw_get(store, ranges).await;
        let n = TestNode::start_with(cfg.clone()).await;
        let b = n.node.broker();
        eprintln!("phase: in-process cold fetch, straight through, round {round}");
        let (fetched, took) = fetch_all(b, None).await;
        let path = fetched as f64 / 1e6 / took.as_secs_f64();
        let v = b.storage_view();
        n.stop().await;
        let raw_after = raw_get(store, ranges).await;
        let ratio = path / ((raw + raw_after) / 2.0);
        ratios.push(ratio);
        println!(
            "broker fetch path, cold caches, in-process, round {round}: {:.0} MiB of batches at {path:.1} MB/s \
             = {:.0}% of raw GET (raw {raw:.1} MB/s before, {raw_after:.1} MB/s after); GETs {} (cache hit ratio {:.2})",
            fetched as f64 / MIB as f64,
            100.0 * ratio,
            v.gets,
            v.cache_hit_ratio
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "broker fetch path vs raw GET over {rounds} rounds: median {:.0}%, lowest {:.0}%, highest {:.0}%",
        100.0 * ratios[ratios.len() / 2],
        100.0 * ratios[0],
        100.0 * ratios[ratios.len() - 1]
    );
}

/// `tail`: also the tail-latency phases (QUIC cold, QUIC hot control, in-process loop);
/// without it only the throughput rounds run (`-- path`).
async fn cold(mib: u64, tail: bool) {
    let remote = remote_placement();
    println!(
        "remote parts (emulator, forwarder, catch-up consumer; tail producer at normal priority): {:?}, CPUs {:?}; broker: CPUs {:?}",
        remote.priority,
        remote.cpus,
        broker_cpus()
    );
    let gcs = FakeGcs::start_at(remote.clone()).await;
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
    // Every read below is cold: the segments go (their data is uploaded). Their spares stay,
    // as a broker whose uploads keep up has them: the measured phases write into recycled
    // files, as such a broker does (`RUSTMQ_BENCH_RECYCLE=0`: new files, as before its
    // first upload).
    for e in std::fs::read_dir(d.join("wal")).expect("wal dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "wal") {
            std::fs::remove_file(p).expect("remove segment");
        }
    }

    // Raw GET throughput of the same server: every object in read_chunk_bytes ranged GETs,
    // 16 in flight (as many as one fetch of 16 cold partitions can have).
    let store = TierStore::from_config(&cfg).expect("store");
    let objects = store.list("rustmq").await.expect("list");
    let chunk = cfg.cache.read_chunk_bytes;
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
    let raw = raw_get(&store, &ranges).await;
    let raw_cold = raw_get_cold(&cfg, &ranges).await;
    println!(
        "raw ranged GET of {} MiB from fake-gcs-server, {RAW_IN_FLIGHT} in flight: {raw:.1} MB/s; \
         {raw_cold:.1} MB/s made the way the broker makes them (cold-read runtime)",
        mib
    );

    // No uploads from here on: the control's data stays in the WAL, and no upload runs
    // under a measurement.
    cfg.wal.upload_bytes = 64 * 1024 * MIB;
    let cfg_for_fetch = cfg.clone();
    let rounds = env_u64("RUSTMQ_BENCH_PATH_ROUNDS", 3);
    if !tail {
        path_rounds(&cfg_for_fetch, &store, &ranges, rounds).await;
        return;
    }
    // The emulator keeps its objects in files on this machine's disk: write them out now, so
    // the kernel's background writeback does not land in the tail producer's fsyncs (a real
    // bucket is not on the broker's disk).
    let _ = std::process::Command::new("sync").status();
    let n = TestNode::start_with(cfg).await;
    // The tail producer is an application on another machine too, but it is what is
    // measured: it runs beside the remote parts at normal priority.
    let tail_app = Remote {
        priority: Priority::Normal,
        cpus: remote.cpus.clone(),
    };
    eprintln!("phase: QUIC cold consumer, on and off");
    let (bytes, cold_secs, on, off) = quic_catch_up(&n, &tail_app, &remote, "cold");
    let v = n.node.broker().storage_view();
    let cold = bytes as f64 / 1e6 / cold_secs;
    println!(
        "cold catch-up {:.0} MiB from fake-gcs-server over QUIC: {cold:.1} MB/s of payload while on vs raw ranged GET \
         {raw:.1} MB/s ({:.0}%); GETs {} cache hit ratio {:.2}",
        bytes as f64 / MIB as f64,
        100.0 * cold / raw,
        v.gets,
        v.cache_hit_ratio
    );
    report_tail("the QUIC cold consumer", &on, &off);

    // Control: the same consumer reading data the broker holds locally (WAL and caches, no
    // object storage), so what serving the bytes costs the tail is seen apart from what
    // fetching them from the bucket costs.
    let hot_mib = env_u64("RUSTMQ_BENCH_HOT_MIB", 1024);
    if hot_mib > 0 {
        n.create_topic("hot", 16).await;
        let client = n.client().await;
        produce(&client, "hot", hot_mib * MIB, 0).await;
        client.close().await;
        eprintln!("phase: QUIC hot consumer, on and off");
        let (bytes, secs, on, off) = quic_catch_up(&n, &tail_app, &remote, "hot");
        println!(
            "control: hot catch-up {:.0} MiB from the broker's WAL over QUIC: {:.1} MB/s of payload while on",
            bytes as f64 / MIB as f64,
            bytes as f64 / 1e6 / secs
        );
        report_tail("the QUIC hot consumer", &on, &off);
    }
    n.stop().await;

    path_rounds(&cfg_for_fetch, &store, &ranges, rounds).await;

    // The same Fetch loop (fresh node again) switched on and off under the tail producer.
    let n = TestNode::start_with(cfg_for_fetch.clone()).await;
    let b = n.node.broker();
    let run = TailRun::start(n.client_config(), tail_app);
    eprintln!("phase: in-process cold fetch, on and off");
    // Passes from offset 0 until 8 s of reading: the data is 4x the read cache, so every
    // pass misses it again and reads from the bucket.
    // Read the way the server answers a catch-up consumer: on its bulk threads.
    let lanes = BulkLanes::for_network(&cfg_for_fetch.network).expect("bulk lanes");
    let (b, on) = (b.clone(), run.alternator.on.clone());
    let reading = async move {
        let mut on_time = Duration::ZERO;
        while on_time < Duration::from_secs(8) {
            on_time += fetch_all(&b, Some(&on)).await.1;
        }
    };
    match lanes.handle() {
        Some(h) => h.spawn(reading).await.expect("reader"),
        None => reading.await,
    }
    let (on, off) = run.finish();
    report_tail("the in-process cold fetch", &on, &off);
    n.stop().await;
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Before the runtime starts: its threads, and the broker's, inherit the CPUs.
    if let Some(cpus) = broker_cpus() {
        common::emulators::pin_this_thread(&cpus);
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut rtb = tokio::runtime::Builder::new_multi_thread();
    if let Ok(n) = std::env::var("RUSTMQ_BENCH_WORKERS") {
        rtb.worker_threads(n.parse().expect("workers"));
    }
    let rt = rtb.enable_all().build().expect("runtime");
    rt.block_on(async {
        let cost_mib = env_u64("RUSTMQ_BENCH_COST_MIB", 1024);
        let rate = env_u64("RUSTMQ_BENCH_RATE_MBS", 48) * 1_000_000;
        if args.is_empty() || args.iter().any(|a| a == "cost") {
            for p in [1, 100, 1000] {
                cost(p, cost_mib, rate).await;
            }
        }
        let mib = env_u64("RUSTMQ_BENCH_COLD_MIB", 2048);
        if args.is_empty() || args.iter().any(|a| a == "cold") {
            cold(mib, true).await;
        } else if args.iter().any(|a| a == "path") {
            cold(mib, false).await;
        }
    });
}
