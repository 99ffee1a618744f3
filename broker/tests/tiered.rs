//! Tiered storage against real stores: a local directory, fake-gcs-server (GCS) and moto
//! (S3), started by the tests. The WAL is uploaded, deleted, and everything is read back
//! from object storage with the same bytes in the same order.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestNode;
use common::emulators::{FakeGcs, Moto};
use rustmq_broker::config::BrokerConfig;
use rustmq_client::{
    ClientError, Message, ProducerBuilder, ProducerConfig, RustMqClient, StartPosition,
};
use rustmq_protocol::proto::ErrorCode;

const PARTITIONS: u32 = 16;

fn payload(p: u32, i: u64) -> Bytes {
    // Distinct, partly incompressible-looking bytes per message.
    let mut v = format!("p{p}-m{i}-").into_bytes();
    v.extend((0..64u64).map(|j| ((i * 31 + j * 7 + u64::from(p)) % 251) as u8));
    Bytes::from(v)
}

fn tiered_config(dir: &Path) -> BrokerConfig {
    let mut c = common::config(dir);
    c.wal.segment_size_bytes = 1024 * 1024;
    c.wal.upload_interval_ms = 200;
    c.wal.upload_bytes = 2 * 1024 * 1024;
    c.cache.read_chunk_bytes = 256 * 1024;
    c
}

/// What `produce_n(.., PARTITIONS, n, from)` wrote, per partition as (offset, payload).
fn expected(n: u64, from: u64) -> BTreeMap<u32, Vec<(i64, Bytes)>> {
    (0..PARTITIONS)
        .map(|p| {
            let msgs = (from..from + n)
                .map(|i| (i as i64, payload(p, i)))
                .collect();
            (p, msgs)
        })
        .collect()
}

/// Reads every partition from its earliest offset up to its high watermark.
async fn consume_all(client: &RustMqClient, topic: &str) -> BTreeMap<u32, Vec<(i64, Bytes)>> {
    let mut out: BTreeMap<u32, Vec<(i64, Bytes)>> = BTreeMap::new();
    let mut left = 0i64;
    for p in 0..PARTITIONS {
        let hw = client.list_offset(topic, p, -1).await.unwrap();
        let start = client.list_offset(topic, p, -2).await.unwrap();
        left += hw - start;
    }
    let mut c = client
        .consumer(topic)
        .partitions((0..PARTITIONS).collect())
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    while left > 0 {
        let m = tokio::time::timeout(Duration::from_secs(30), c.receive())
            .await
            .expect("consumer stalled")
            .unwrap();
        out.entry(m.partition)
            .or_default()
            .push((m.offset, m.payload));
        left -= 1;
    }
    out
}

async fn wait_uploaded(n: &TestNode) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while n.node.broker().upload_backlog() > 0 {
        assert!(
            Instant::now() < deadline,
            "upload never finished: {:?}",
            n.node.broker().storage_view()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scenario: 200k messages over 16 partitions, wait for upload, delete the WAL,
/// restart, read everything from offset 0.
async fn wal_deleted_everything_read_back(cfg: BrokerConfig) {
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("tiered", PARTITIONS).await;
    let client = n.client().await;
    produce_n(&client, "tiered", PARTITIONS, 12_500, 0).await;
    let sent = expected(12_500, 0);
    assert_eq!(sent.values().map(Vec::len).sum::<usize>(), 200_000);
    wait_uploaded(&n).await;
    let view = n.node.broker().storage_view();
    assert!(view.uploads >= 2, "several objects expected: {view:?}");
    assert!(view.puts >= view.uploads);
    // Uploaded data left the WAL: only the active segment (and at most one more) remain.
    assert!(
        n.node.broker().wal().segment_count() <= 2,
        "segments left: {}",
        n.node.broker().wal().segment_count()
    );
    client.close().await;
    let dir = n.stop().await;
    std::fs::remove_dir_all(dir.join("wal")).unwrap();

    let n = TestNode::start_with(cfg).await;
    for p in 0..PARTITIONS {
        assert_eq!(
            n.node.broker().partition_bounds("tiered", p),
            Some((0, 12_500)),
            "partition {p} after losing its WAL"
        );
    }
    let client = n.client().await;
    let got = consume_all(&client, "tiered").await;
    assert_eq!(got.len(), sent.len());
    for (p, want) in &sent {
        let have = &got[p];
        assert_eq!(have.len(), want.len(), "partition {p}");
        for (i, (w, h)) in want.iter().zip(have).enumerate() {
            assert_eq!(w, h, "partition {p} offset {i}");
        }
    }
    let view = n.node.broker().storage_view();
    assert!(view.gets > 0 && view.cache_misses > 0, "{view:?}");
    // New writes continue after the uploaded offsets.
    produce_n(&client, "tiered", PARTITIONS, 10, 12_500).await;
    client.close().await;
    n.stop_expect_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_directory_survives_losing_the_wal() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiered_config(dir.path());
    wal_deleted_everything_read_back(cfg).await;
    // Objects sit under <data-dir>/objects/<prefix>/wal/b<id>/.
    let objects = dir.path().join("objects/rustmq/wal/b1");
    assert!(std::fs::read_dir(objects).unwrap().count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_survives_losing_the_wal() {
    common::init_tracing();
    let gcs = FakeGcs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiered_config(dir.path());
    gcs.configure(&mut cfg);
    wal_deleted_everything_read_back(cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_survives_losing_the_wal() {
    common::init_tracing();
    let s3 = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiered_config(dir.path());
    s3.configure(&mut cfg);
    wal_deleted_everything_read_back(cfg).await;
}

/// The store goes away under load: the WAL fills to capacity, produces get WAL_FULL
/// (retriable), the store comes back, uploads drain, produces succeed, nothing acknowledged
/// is lost, even after the WAL is then deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_backpressure_then_drain() {
    common::init_tracing();
    let mut gcs = FakeGcs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiered_config(dir.path());
    gcs.configure(&mut cfg);
    cfg.wal.capacity_bytes = 4 * 1024 * 1024;
    cfg.object_storage.request_timeout_ms = 2_000;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("outage", 1).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("outage")
        .config(ProducerConfig {
            max_retries: 0,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let send = |i: u64| {
        let producer = &producer;
        async move {
            producer
                .send(
                    Message::builder()
                        .topic("outage")
                        .partition(0)
                        .payload(vec![(i % 251) as u8; 8 * 1024])
                        .header("i", i.to_string())
                        .build()
                        .unwrap(),
                )
                .await
        }
    };
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push((send(i).await.unwrap().offset, i));
    }
    gcs.stop();
    // Keep producing until the broker pushes back.
    let mut i = 50;
    let refused = loop {
        match send(i).await {
            Ok(r) => acked.push((r.offset, i)),
            Err(ClientError::Server {
                code: ErrorCode::WalFull,
                ..
            }) => break i,
            Err(e) => panic!("unexpected error while the store is down: {e}"),
        }
        i += 1;
        assert!(i < 5_000, "no backpressure although the store is down");
    };
    let view = n.node.broker().storage_view();
    assert!(
        view.upload_failures > 0 && view.last_error.is_some(),
        "{view:?}"
    );
    assert!(view.wal_bytes >= 3 * 1024 * 1024, "{view:?}");
    let health = n.node.broker().health();
    assert!(!health.healthy, "object storage shows unhealthy while down");
    let metrics = n.metrics_text().await;
    assert!(
        metrics.contains("rustmq_produce_refused_wal_full 1"),
        "{metrics}"
    );
    // Still refused while the store is down.
    assert!(send(refused).await.is_err());

    gcs.resume().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut j = refused;
    loop {
        match send(j).await {
            Ok(r) => {
                acked.push((r.offset, j));
                break;
            }
            Err(e) => assert!(e.is_retriable(), "{e}"),
        }
        assert!(Instant::now() < deadline, "produces never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
        j += 1;
    }
    wait_uploaded(&n).await;
    assert!(n.node.broker().storage_view().last_error.is_none());
    assert!(
        n.node.broker().health().healthy,
        "healthy again once drained"
    );
    producer.close().await.unwrap();
    client.close().await;
    let d = n.stop().await;
    std::fs::remove_dir_all(d.join("wal")).unwrap();
    let n = TestNode::start_with(cfg).await;
    let client = n.client().await;
    let mut c = client
        .consumer("outage")
        .partitions(vec![0])
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    for (offset, i) in &acked {
        let m = c.receive().await.unwrap();
        assert_eq!(m.offset, *offset);
        assert_eq!(m.header("i").unwrap(), &Bytes::from(i.to_string()));
        assert_eq!(m.payload, Bytes::from(vec![(i % 251) as u8; 8 * 1024]));
    }
    client.close().await;
    n.stop().await;
}

/// Reads every partition of `topic` from the earliest offset to the high watermark taken at
/// the start of the pass, checking that offsets are contiguous and every payload is the one
/// written at that offset. Returns the messages read.
async fn verified_pass(client: &RustMqClient, topic: &str, partitions: u32) -> u64 {
    let mut ends = BTreeMap::new();
    let mut left = 0;
    for p in 0..partitions {
        let hw = client.list_offset(topic, p, -1).await.unwrap();
        let start = client.list_offset(topic, p, -2).await.unwrap();
        ends.insert(p, (start, hw));
        left += hw - start;
    }
    let mut c = client
        .consumer(topic)
        .partitions((0..partitions).collect())
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    let mut last: BTreeMap<u32, i64> = BTreeMap::new();
    let mut read = 0;
    while left > 0 {
        let m = tokio::time::timeout(Duration::from_secs(30), c.receive())
            .await
            .expect("consumer stalled")
            .unwrap();
        let p = m.partition;
        if m.offset >= ends[&p].1 {
            continue;
        }
        assert_eq!(
            m.payload,
            payload(p, m.offset as u64),
            "p{p} offset {}",
            m.offset
        );
        match last.get(&p) {
            Some(prev) => assert_eq!(m.offset, prev + 1, "gap in partition {p}"),
            None => assert!(m.offset >= ends[&p].0, "below the log start"),
        }
        last.insert(p, m.offset);
        left -= 1;
        read += 1;
    }
    read
}

/// Compaction merges small multi-partition objects into per-partition objects while
/// consumers read from offset 0 over and over: no gap, no changed byte; the replaced objects
/// are deleted after the grace period. Retention then trims object storage: the log start
/// moves, old objects go, and a restart does not bring deleted data back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_and_retention_under_concurrent_consumers() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiered_config(dir.path());
    cfg.wal.upload_interval_ms = 50;
    cfg.wal.upload_bytes = 64 * 1024;
    cfg.wal.retention_check_interval_ms = 100;
    cfg.cache.read_chunk_bytes = 64 * 1024;
    cfg.object_storage.compaction_target_bytes = 256 * 1024;
    cfg.object_storage.maintenance_interval_ms = 100;
    cfg.object_storage.gc_grace_ms = 300;
    // A tiny write cache: uploaded batches leave memory, so readers go to object storage.
    cfg.cache.write_cache_size_bytes = 64 * 1024;
    let n = TestNode::start_with(cfg.clone()).await;
    const P: u32 = 4;
    n.node
        .controller()
        .create_topic("compact", P, 1, Default::default())
        .await
        .unwrap();
    n.node
        .controller()
        .create_topic(
            "retained",
            P,
            1,
            rustmq_controller::metadata::TopicConfig {
                retention_bytes: Some(300_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = n.client().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let passes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (client, stop, passes) = (client.clone(), stop.clone(), passes.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                verified_pass(&client, "compact", P).await;
                passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    let mut per_partition = 0u64;
    for _ in 0..4 {
        for topic in ["compact", "retained"] {
            produce_n(&client, topic, P, 2_000, per_partition).await;
        }
        per_partition += 2_000;
        wait_uploaded(&n).await;
    }
    // Small multi-partition uploads are merged into level-1 objects (per-partition ones for
    // runs of at least 256 KiB); the inputs are deleted after the grace period.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = n.node.broker().storage_view();
        let level0 = n
            .node
            .broker()
            .tier()
            .levels()
            .get(&0)
            .copied()
            .unwrap_or(0);
        if v.compacted_objects >= u64::from(P) && v.objects_deleted > 0 && level0 <= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "compaction never finished: {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = passes.load(std::sync::atomic::Ordering::Relaxed);
    while passes.load(std::sync::atomic::Ordering::Relaxed) < before + 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.expect("a reader found a gap or a changed byte");
    }
    let v = n.node.broker().storage_view();
    assert!(
        v.gets > 10 && v.cache_hits > 0,
        "readers used object storage: {v:?}"
    );
    let levels = n.node.broker().tier().levels();
    assert!(
        levels.get(&1).copied().unwrap_or(0) >= 2 * P as usize,
        "{levels:?}"
    );
    assert_eq!(
        verified_pass(&client, "compact", P).await,
        u64::from(P) * per_partition
    );

    // Retention trimmed "retained" in object storage: its start moved past 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut starts = BTreeMap::new();
    for p in 0..P {
        loop {
            let (start, hw) = n.node.broker().partition_bounds("retained", p).unwrap();
            if start > 0 {
                assert_eq!(hw, per_partition as i64);
                starts.insert(p, start);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "retention never moved partition {p}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    verified_pass(&client, "retained", P).await;
    client.close().await;
    let d = n.stop().await;
    // Restart without the WAL: nothing below the retention start comes back.
    std::fs::remove_dir_all(d.join("wal")).unwrap();
    let n = TestNode::start_with(cfg).await;
    for p in 0..P {
        let (start, _) = n.node.broker().partition_bounds("retained", p).unwrap();
        assert!(
            start >= starts[&p],
            "partition {p}: {start} < {}",
            starts[&p]
        );
    }
    let client = n.client().await;
    verified_pass(&client, "retained", P).await;
    assert_eq!(
        verified_pass(&client, "compact", P).await,
        u64::from(P) * per_partition
    );
    client.close().await;
    n.stop().await;
}

/// Produces `n` messages into each of `partitions` partitions, in order, payloads
/// `payload(p, from..from + n)` at offsets `from..from + n`.
async fn produce_n(client: &RustMqClient, topic: &str, partitions: u32, n: u64, from: u64) {
    let producer = ProducerBuilder::new()
        .topic(topic)
        .config(ProducerConfig {
            batch_size: 500,
            batch_timeout: Duration::from_millis(2),
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let mut pending = Vec::new();
    for i in from..from + n {
        for p in 0..partitions {
            let m = Message::builder()
                .topic(topic)
                .partition(p)
                .payload(payload(p, i))
                .build()
                .unwrap();
            pending.push((i, producer.send_async(m).await.unwrap()));
        }
    }
    for (i, f) in pending {
        assert_eq!(f.await.unwrap().offset, i as i64);
    }
    producer.close().await.unwrap();
}

/// ListOffsets by timestamp and seeking work on data that is only in object storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_resolve_in_object_storage() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiered_config(dir.path());
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("times", 1).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("times")
        .config(ProducerConfig {
            batch_size: 1,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    // Offsets 0..300 with timestamps 1_000_000 + 10 * offset.
    for i in 0..300i64 {
        producer
            .send(
                Message::builder()
                    .topic("times")
                    .partition(0)
                    .timestamp(1_000_000 + 10 * i)
                    .payload(format!("t{i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    producer.close().await.unwrap();
    n.node.broker().upload_now().await.unwrap();
    client.close().await;
    let d = n.stop().await;
    std::fs::remove_dir_all(d.join("wal")).unwrap();

    let n = TestNode::start_with(cfg).await;
    let client = n.client().await;
    assert_eq!(client.list_offset("times", 0, 0).await.unwrap(), 0);
    assert_eq!(
        client
            .list_offset("times", 0, 1_000_000 + 1_234)
            .await
            .unwrap(),
        124
    );
    assert_eq!(
        client
            .list_offset("times", 0, 1_000_000 + 2_990)
            .await
            .unwrap(),
        299
    );
    assert_eq!(client.list_offset("times", 0, 9_000_000).await.unwrap(), -1);
    let mut c = client
        .consumer("times")
        .partitions(vec![0])
        .build()
        .await
        .unwrap();
    c.seek_to_timestamp(0, 1_000_000 + 2_000).await.unwrap();
    let m = c.receive().await.unwrap();
    assert_eq!((m.offset, m.payload), (200, Bytes::from("t200")));
    client.close().await;
    n.stop().await;
}

/// A catch-up reader going through far more data than the read cache holds fetches each
/// chunk about once: read-ahead chunks are admitted and kept until the readers get to them.
/// With moka's default TinyLFU admission the cache, once full, refused new read-ahead chunks
/// in favour of chunks already read, and this run made 1.47x the necessary GETs; with LRU,
/// 1.06x (a chunk holding the end of one partition's slice and the start of the next is
/// read by two readers at different moments and may be fetched again in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_larger_than_the_read_cache_gets_each_chunk_about_once() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiered_config(dir.path());
    cfg.cache.read_chunk_bytes = 64 * 1024;
    // Room for what 16 concurrent partition readers plus read-ahead touch at once (about
    // one uploaded object), far less than the topic.
    cfg.cache.read_cache_size_bytes = 4 * 1024 * 1024;
    cfg.cache.read_ahead_chunks = 2;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("big", PARTITIONS).await;
    let client = n.client().await;
    produce_n(&client, "big", PARTITIONS, 14_000, 0).await;
    wait_uploaded(&n).await;
    client.close().await;
    let dir = n.stop().await;
    std::fs::remove_dir_all(dir.join("wal")).unwrap();

    let n = TestNode::start_with(cfg.clone()).await;
    let catalog = n.node.controller().metadata().catalog.clone();
    let chunk = cfg.cache.read_chunk_bytes;
    let chunks: u64 = catalog
        .objects
        .values()
        .map(|o| o.index_start.div_ceil(chunk))
        .sum();
    let data: u64 = catalog.objects.values().map(|o| o.index_start).sum();
    assert!(
        data > 3 * cfg.cache.read_cache_size_bytes,
        "the data ({data} bytes) must dwarf the read cache"
    );
    let client = n.client().await;
    let got = consume_all(&client, "big").await;
    for (p, w) in &expected(14_000, 0) {
        assert_eq!(&got[p], w, "partition {p}");
    }
    let v = n.node.broker().storage_view();
    eprintln!(
        "catch-up of {data} bytes through a {} byte read cache: {} chunk GETs for {chunks} chunks",
        cfg.cache.read_cache_size_bytes, v.cache_misses
    );
    assert!(
        v.cache_misses <= chunks + chunks / 5,
        "{} chunk GETs for {chunks} distinct chunks ({v:?})",
        v.cache_misses
    );
    client.close().await;
    n.stop().await;
}
