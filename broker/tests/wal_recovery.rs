//! WAL recovery and retention: torn and corrupt tails are cut to the last intact entry,
//! indexes are rebuilt from the segments, and segments nobody needs are deleted.

mod common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use rustmq_client::{Message, ProducerBuilder, ProducerConfig, StartPosition};
use rustmq_controller::metadata::TopicConfig;

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// The newest segment that holds data.
/// Where a segment's entries end: the io_uring backend pads the last block with zeros, so
/// the file may be longer. Walks the entries (`u32 len | u32 crc | len bytes`) from the
/// 16-byte header until a zero length or the end.
fn entries_end(bytes: &[u8]) -> u64 {
    let mut at = 16usize;
    while at + 4 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 || at + 8 + len > bytes.len() {
            break;
        }
        at += 8 + len;
    }
    at as u64
}

fn last_nonempty_segment(dir: &Path) -> PathBuf {
    segments(dir)
        .into_iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 16)
        .expect("a segment with data")
}

async fn produce(n: &TestNode, topic: &str, count: usize, batch_size: usize) -> Vec<(i64, String)> {
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic(topic)
        .config(ProducerConfig {
            batch_size,
            // Batches leave when full (or at the flush below), so each is one WAL entry
            // however slow the machine: with the 5 ms default linger a busy CI once sent the
            // first 1,000 messages as 937 + 63.
            batch_timeout: Duration::from_secs(300),
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let mut futs = Vec::new();
    for i in 0..count {
        let p = format!("{topic}-{i}");
        futs.push((
            p.clone(),
            producer
                .send_async(
                    Message::builder()
                        .topic(topic)
                        .partition(0)
                        .payload(p)
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap(),
        ));
    }
    producer.flush().await.unwrap();
    let mut out = Vec::new();
    for (p, f) in futs {
        out.push((f.await.unwrap().offset, p));
    }
    producer.close().await.unwrap();
    client.close().await;
    out
}

async fn consume_all(n: &TestNode, topic: &str) -> Vec<(i64, Bytes)> {
    let client = n.client().await;
    let hw = client.list_offset(topic, 0, -1).await.unwrap();
    let mut c = client
        .consumer(topic)
        .partitions(vec![0])
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    let mut out = Vec::new();
    let start = client.list_offset(topic, 0, -2).await.unwrap();
    for _ in start..hw {
        let m = c.receive().await.unwrap();
        out.push((m.offset, m.payload));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_to_last_intact_entry() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("torn", 1).await;
    let acked = produce(&n, "torn", 40, 1).await;
    let d = n.stop().await;

    // Cut the last entry in half, as a crash mid-write would.
    let seg = last_nonempty_segment(&d);
    let end = entries_end(&std::fs::read(&seg).unwrap());
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(end - 7)
        .unwrap();

    let n = TestNode::start(&d).await;
    let got = consume_all(&n, "torn").await;
    // Every entry but the torn one survives, byte for byte, in order.
    assert_eq!(got.len(), 39);
    for ((o, p), (go, gp)) in acked.iter().zip(&got) {
        assert_eq!((o, Bytes::from(p.clone())), (go, gp.clone()));
    }
    // New writes continue right after the last intact entry.
    let more = produce(&n, "torn", 1, 1).await;
    assert_eq!(more[0].0, 39);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_tail_is_truncated_and_node_serves() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("bits", 1).await;
    let acked = produce(&n, "bits", 30, 1).await;
    let d = n.stop().await;

    let seg = last_nonempty_segment(&d);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.truncate(entries_end(&bytes) as usize);
    let at = bytes.len() - 3;
    bytes[at] ^= 0xff;
    // Garbage appended after the flipped byte, as a torn write of a later entry would leave.
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&seg, &bytes).unwrap();

    let n = TestNode::start(&d).await;
    let got = consume_all(&n, "bits").await;
    assert_eq!(got.len(), 29);
    assert_eq!(got.last().unwrap().0, acked[28].0);
    assert!(n.node.broker().health().healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_and_time_deletes_segments() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.wal.segment_size_bytes = 1024 * 1024;
    cfg.wal.retention_check_interval_ms = 3_600_000;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic_with(
        "sized",
        1,
        TopicConfig {
            retention_bytes: Some(200 * 1024),
            ..Default::default()
        },
    )
    .await;
    n.create_topic_with(
        "timed",
        1,
        TopicConfig {
            retention_ms: Some(200),
            ..Default::default()
        },
    )
    .await;
    // ~4 MiB into each topic: several 1 MiB segments.
    let client = n.client().await;
    for topic in ["sized", "timed"] {
        // One message per batch, so retention's whole-batch granularity is one message.
        let producer = ProducerBuilder::new()
            .topic(topic)
            .config(ProducerConfig {
                batch_size: 1,
                ..Default::default()
            })
            .client(client.clone())
            .build()
            .await
            .unwrap();
        for i in 0..400 {
            producer
                .send_async(
                    Message::builder()
                        .topic(topic)
                        .partition(0)
                        .payload(vec![i as u8; 10_000])
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap();
        }
        producer.flush().await.unwrap();
    }
    let before = segments(&d_of(&n)).len();
    assert!(before >= 7, "expected several segments, got {before}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    n.node.broker().enforce_retention().await;
    let (start_sized, hw_sized) = n.node.broker().partition_bounds("sized", 0).unwrap();
    let (start_timed, hw_timed) = n.node.broker().partition_bounds("timed", 0).unwrap();
    assert_eq!((hw_sized, hw_timed), (400, 400));
    // Batches are 10,000 payload bytes plus ~70 bytes of batch overhead; the oldest batch goes
    // while what remains without it is still >= 200 KiB: 21 batches (~211 KB) remain.
    assert_eq!(start_sized, 379, "size retention keeps at least 200 KiB");
    assert_eq!(
        start_timed, 400,
        "time retention dropped everything older than 200 ms"
    );
    // A background upload that picked up batches before retention ran holds their
    // segments until it registers; they go right after.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let after = segments(&d_of(&n)).len();
        if after <= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "segments left: {after}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading below the log start is refused; the consumer resets to the earliest offset.
    let mut c = client
        .consumer("sized")
        .partitions(vec![0])
        .build()
        .await
        .unwrap();
    assert_eq!(c.receive().await.unwrap().offset, start_sized);
    client.close().await;
    let d = n.stop().await;
    // Retention survives a restart even though a shared segment may still hold old batches.
    let n = TestNode::start_with(cfg).await;
    assert_eq!(
        n.node.broker().partition_bounds("sized", 0).unwrap().0,
        start_sized
    );
    assert_eq!(
        n.node.broker().partition_bounds("timed", 0).unwrap(),
        (400, 400)
    );
    let _ = d;
}

fn d_of(n: &TestNode) -> PathBuf {
    n.dir.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_topic_data_never_comes_back() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("gone", 1).await;
    produce(&n, "gone", 10, 1).await;
    n.node.controller().delete_topic("gone").await.unwrap();
    n.create_topic("gone", 1).await;
    assert_eq!(n.node.broker().partition_bounds("gone", 0), Some((0, 0)));
    let d = n.stop().await;
    let n = TestNode::start(&d).await;
    assert_eq!(n.node.broker().partition_bounds("gone", 0), Some((0, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_to_acknowledged_entries_after_a_clean_stop_is_reported() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("rot", 1).await;
    // Two WAL entries of 1,000 messages each.
    let acked = produce(&n, "rot", 2000, 1000).await;
    assert_eq!(acked.len(), 2000);
    let d = n.stop().await;

    // Bit rot inside the first entry's batch, after a clean stop.
    let seg = last_nonempty_segment(&d);
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xde, 0xad, 0xbe, 0xef], 16 + 36 + 500).unwrap();
    drop(f);

    let n = TestNode::start(&d).await;
    let damage = n.node.broker().wal().damage().to_vec();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].offset, 16);
    let health = n.node.broker().health();
    let wal = health.components.iter().find(|c| c.name == "wal").unwrap();
    assert!(wal.detail.contains("damaged"), "{}", wal.detail);
    let metrics = n.metrics_text().await;
    assert!(
        metrics.contains("rustmq_wal_damaged_entries_total 1"),
        "{metrics}"
    );
    // The damaged first entry (offsets 0-999) is lost and said to be; the intact second one
    // is served, as the start of the partition's log.
    let c = n.client().await;
    assert_eq!(c.list_offset("rot", 0, -2).await.unwrap(), 1000);
    assert_eq!(c.list_offset("rot", 0, -1).await.unwrap(), 2000);
    let got = consume_all(&n, "rot").await;
    assert_eq!(got.len(), 1000);
    for ((o, p), (go, gp)) in acked[1000..].iter().zip(&got) {
        assert_eq!((o, Bytes::from(p.clone())), (go, gp.clone()));
    }
}
