//! Disks that fail under the WAL, all real file systems (mounting needs root, which CI and
//! the development machines have):
//! - a full disk (a size-limited tmpfs, so writes fail with ENOSPC): produces get a typed,
//!   retriable STORAGE_ERROR, nothing acknowledged is lost, the node keeps serving reads, and
//!   once space is freed produces succeed again with contiguous offsets;
//! - a disk whose `fdatasync` fails (ext4 on a loop device backed by a small tmpfs: writes
//!   land in the page cache, the flush finds no room underneath, as a thin-provisioned volume
//!   does). A second fdatasync of the same file then reports success for pages that were
//!   dropped ("fsyncgate"), so the WAL must never trust that file again.

mod common;

use bytes::Bytes;
use common::TestNode;
use common::disks::{ThinDisk, Tmpfs};
use rustmq_client::{ClientError, ErrorCode, Message, ProducerBuilder, ProducerConfig};

/// Sends `i`-numbered 20 KB messages one at a time until one is refused.
async fn produce_until_refused(
    p: &rustmq_client::Producer,
    topic: &str,
    acked: &mut Vec<(i64, Bytes)>,
) -> ClientError {
    for i in 0..20_000 {
        let payload = Bytes::from(format!("{i:06}-{}", "f".repeat(20_000)));
        let m = Message::builder()
            .topic(topic)
            .payload(payload.clone())
            .build()
            .unwrap();
        match p.send(m).await {
            Ok(r) => acked.push((r.offset, payload)),
            Err(e) => return e,
        }
    }
    panic!("the disk never failed");
}

async fn producer(c: &rustmq_client::RustMqClient, topic: &str) -> rustmq_client::Producer {
    ProducerBuilder::new()
        .topic(topic)
        .config(ProducerConfig {
            batch_size: 1,
            max_retries: 0,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fdatasync_gives_up_the_segment_and_loses_nothing_acknowledged() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let disk = ThinDisk::mount(dir.path(), "24m");
    let mut cfg = common::config(dir.path());
    cfg.wal.path = Some(disk.mnt.join("wal"));
    cfg.wal.segment_size_bytes = 2 * 1024 * 1024;
    cfg.wal.fsync_on_write = true;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("sync", 1).await;
    let c = n.client().await;
    let p = producer(&c, "sync").await;

    let mut acked = Vec::new();
    let e = produce_until_refused(&p, "sync", &mut acked).await;
    assert!(
        matches!(
            e,
            ClientError::Server {
                code: ErrorCode::StorageError,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_retriable());
    assert!(
        acked.len() > 50,
        "{} acked before fdatasync failed",
        acked.len()
    );
    let stats = n.node.broker().wal().stats();
    let ld = std::sync::atomic::Ordering::Relaxed;
    if n.node.broker().wal().io_backend() == rustmq_broker::wal::IoBackend::Uring {
        // Direct writes do not wait in the page cache: the volume refuses the write itself.
        assert!(
            stats.sync_failures.load(ld) + stats.write_errors.load(ld) > 0,
            "a write or its fdatasync failed"
        );
    } else {
        assert!(
            stats.sync_failures.load(ld) > 0,
            "it was fdatasync that failed"
        );
    }
    assert!(
        stats.segments_abandoned.load(ld) > 0,
        "the segment was given up"
    );
    assert!(!n.node.broker().health().healthy);
    // With fsync on every write nothing acknowledged was ever left unsynced: the WAL keeps
    // going (in new segments) once the volume has room.
    assert!(n.node.broker().wal().failed().borrow().is_none());

    disk.grow("512m");
    let r = p
        .send(
            Message::builder()
                .topic("sync")
                .payload("after")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.offset,
        acked.len() as i64,
        "no gap and no reuse of offsets"
    );
    acked.push((r.offset, Bytes::from("after")));
    assert!(n.node.broker().health().healthy);
    p.close().await.unwrap();
    c.close().await;

    // Everything acknowledged is on disk: a restart reads exactly it back.
    n.stop().await;
    let n = TestNode::start_with(cfg).await;
    // Recovery found every acknowledged entry whole (a lost one would be reported here,
    // and the reads below would wait for it).
    assert!(
        n.node.broker().wal().damage().is_empty(),
        "{:?}",
        n.node.broker().wal().damage()
    );
    let c = n.client().await;
    let mut consumer = c.consumer("sync").build().await.unwrap();
    for (o, payload) in &acked {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), consumer.receive())
            .await
            .unwrap_or_else(|_| panic!("offset {o} never came back after the restart"))
            .unwrap_or_else(|e| panic!("reading offset {o} after the restart: {e}"));
        assert_eq!((&m.offset, &m.payload), (o, payload));
    }
    assert_eq!(
        c.list_offset("sync", 0, -1).await.unwrap(),
        acked.len() as i64
    );
    c.close().await;
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fdatasync_after_acknowledging_without_fsync_stops_the_wal() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let disk = ThinDisk::mount(dir.path(), "24m");
    let mut cfg = common::config(dir.path());
    cfg.wal.path = Some(disk.mnt.join("wal"));
    cfg.wal.segment_size_bytes = 2 * 1024 * 1024;
    cfg.wal.fsync_on_write = false;
    cfg.wal.flush_interval_ms = 20;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("nosync", 1).await;
    let c = n.client().await;
    let p = producer(&c, "nosync").await;

    // Writes are acknowledged from the page cache until a periodic fdatasync finds no room:
    // from then on the kernel may have dropped acknowledged pages, so the WAL stops.
    let mut acked = Vec::new();
    let e = produce_until_refused(&p, "nosync", &mut acked).await;
    assert!(
        matches!(
            e,
            ClientError::Server {
                code: ErrorCode::StorageError,
                ..
            }
        ),
        "{e}"
    );
    let why = n.node.broker().wal().failed().borrow().clone();
    if n.node.broker().wal().io_backend() == rustmq_broker::wal::IoBackend::Uring && why.is_none() {
        // Direct writes leave nothing acknowledged in the page cache: the volume refuses the
        // write itself. When the fdatasync after it succeeds, nothing acknowledged can have
        // been dropped and the WAL goes on (in a new segment) once there is room; when that
        // fdatasync fails too, the WAL stops as below.
        disk.grow("512m");
        let r = p
            .send(
                Message::builder()
                    .topic("nosync")
                    .payload("after")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            r.offset,
            acked.len() as i64,
            "no gap and no reuse of offsets"
        );
        p.close().await.unwrap();
        c.close().await;
        n.stop().await;
        return;
    }
    assert!(why.is_some(), "the WAL stopped: {e}");
    // It stays stopped even once the volume has room: only a restart can tell what is on disk.
    disk.grow("512m");
    for _ in 0..3 {
        let e = p
            .send(
                Message::builder()
                    .topic("nosync")
                    .payload("x")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("restart the broker"), "{e}");
    }
    let health = n.node.broker().health();
    assert!(!health.healthy);
    let wal = health.components.iter().find(|c| c.name == "wal").unwrap();
    assert!(
        wal.detail.starts_with("stopped: fdatasync"),
        "{}",
        wal.detail
    );
    p.close().await.unwrap();
    c.close().await;
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_then_recovers_without_losing_acknowledged_data() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("walfs");
    let _fs = Tmpfs::mount(&wal_dir, "16m");
    // Ballast we delete later to "free disk space".
    let ballast = wal_dir.join("ballast");
    std::fs::write(&ballast, vec![0u8; 6 * 1024 * 1024]).unwrap();

    let mut cfg = common::config(dir.path());
    cfg.wal.path = Some(wal_dir.join("wal"));
    cfg.wal.segment_size_bytes = 2 * 1024 * 1024;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("disk", 1).await;
    let c = n.client().await;
    let p = ProducerBuilder::new()
        .topic("disk")
        .config(ProducerConfig {
            batch_size: 1,
            max_retries: 0,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await
        .unwrap();

    let mut acked: Vec<(i64, Bytes)> = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        let payload = Bytes::from(format!("{i:06}-{}", "d".repeat(20_000)));
        match p
            .send(
                Message::builder()
                    .topic("disk")
                    .payload(payload.clone())
                    .build()
                    .unwrap(),
            )
            .await
        {
            Ok(r) => acked.push((r.offset, payload)),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let e = refusal.expect("the disk filled up");
    assert!(
        matches!(
            e,
            ClientError::Server {
                code: ErrorCode::StorageError,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_retriable());
    assert!(
        acked.len() > 100,
        "{} acked before the disk was full",
        acked.len()
    );
    assert!(
        !n.node.broker().health().healthy,
        "health reports the WAL failure"
    );

    // Reads still work while writes fail.
    let mut consumer = c.consumer("disk").build().await.unwrap();
    for (o, payload) in &acked {
        let m = consumer.receive().await.unwrap();
        assert_eq!((&m.offset, &m.payload), (o, payload));
    }

    // Free space: produces succeed again, continuing right after the last acknowledged offset.
    std::fs::remove_file(&ballast).unwrap();
    let next = acked.len() as i64;
    let r = p
        .send(
            Message::builder()
                .topic("disk")
                .payload("after")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.offset, next, "no gap and no reuse of offsets");
    assert!(n.node.broker().health().healthy);
    acked.push((r.offset, Bytes::from("after")));
    p.close().await.unwrap();
    c.close().await;

    // Everything acknowledged survives a restart.
    let d = n.stop().await;
    let _ = d;
    let n = TestNode::start_with(cfg).await;
    let c = n.client().await;
    let mut consumer = c.consumer("disk").build().await.unwrap();
    for (o, payload) in &acked {
        let m = consumer.receive().await.unwrap();
        assert_eq!((&m.offset, &m.payload), (o, payload));
    }
    assert_eq!(
        c.list_offset("disk", 0, -1).await.unwrap(),
        acked.len() as i64
    );
    n.stop().await;
}

/// Thaws a file system frozen with `fsfreeze` when dropped (a frozen one cannot be unmounted).
struct Frozen(std::path::PathBuf);

impl Frozen {
    fn freeze(mnt: &std::path::Path) -> Self {
        let ok = std::process::Command::new("fsfreeze")
            .arg("-f")
            .arg(mnt)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "fsfreeze -f {}", mnt.display());
        Self(mnt.to_path_buf())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("fsfreeze")
            .arg("-u")
            .arg(&self.0)
            .status();
    }
}

/// A stalled disk (its file system frozen with `fsfreeze`: every write blocks) under
/// `acks=none` producers at full speed: appends queue up to `wal.max_queued_bytes`, then
/// produces are refused with the retriable THROTTLED instead of filling memory; after the
/// thaw everything accepted is written and new produces succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_disk_throttles_instead_of_queueing_without_bound() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let disk = ThinDisk::mount(dir.path(), "512m");
    let mut cfg = common::config(dir.path());
    cfg.wal.path = Some(disk.mnt.join("wal"));
    cfg.network.max_frame_bytes = 1024 * 1024;
    cfg.wal.max_queued_bytes = 8 * 1024 * 1024;
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("stall", 1).await;
    let c = n.client().await;
    let p = ProducerBuilder::new()
        .topic("stall")
        .config(ProducerConfig {
            batch_size: 1,
            max_retries: 0,
            ack_level: rustmq_client::AckLevel::None,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await
        .unwrap();
    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    let send = async |p: &rustmq_client::Producer| {
        let m = Message::builder()
            .topic("stall")
            .payload(payload.clone())
            .build()
            .unwrap();
        p.send(m).await
    };

    let frozen = Frozen::freeze(&disk.mnt);
    let mut accepted = 0u64;
    let refusal = loop {
        match send(&p).await {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        // 8 MiB of 64 KiB batches is 128; far more accepted means nothing bounds the queue.
        assert!(accepted < 10_000, "still accepting with the disk stalled");
    };
    assert!(
        matches!(
            refusal,
            ClientError::Server {
                code: ErrorCode::Throttled,
                ..
            }
        ),
        "{refusal}"
    );
    assert!(refusal.is_retriable());
    let queued = n.node.broker().wal().queued_bytes();
    assert!(
        queued <= 8 * 1024 * 1024 + 64 * 1024 + 1024,
        "{queued} bytes queued"
    );
    assert!(
        accepted >= 100,
        "{accepted} accepted before the queue was full"
    );
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_string)
        });
    eprintln!(
        "stalled disk: {accepted} batches of 64 KiB accepted, {queued} bytes queued, peak RSS {hwm:?}"
    );

    drop(frozen);
    // Thawed: what was queued is written, and produces are accepted again.
    let wal = n.node.broker().wal();
    let t = std::time::Instant::now();
    while wal.queued_bytes() > 0 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the queue never drained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    send(&p).await.expect("accepted after the thaw");
    accepted += 1;
    p.close().await.unwrap();
    let t = std::time::Instant::now();
    while c.list_offset("stall", 0, -1).await.unwrap() < accepted as i64 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "not all written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.list_offset("stall", 0, -1).await.unwrap(),
        accepted as i64
    );
    c.close().await;
    n.stop().await;
}

/// A leader stands for the WAL's target here: it says the batches of a failed write had
/// already been handed to followers (they are replicated before the leader's own fsync).
struct HandedOut;

impl rustmq_broker::wal::AppendTarget for HandedOut {
    fn is_current(&self, _: u64) -> bool {
        true
    }
    fn on_durable(&self, _: u64, _: i64, _: i64, _: rustmq_broker::wal::WalLocation) {}
    fn on_failed(&self, _: u64) -> bool {
        true
    }
}

/// A failed write of batches followers already have stops the WAL (the broker exits and
/// leadership moves to a new epoch), unlike a failed write nobody saw, after which the
/// full-disk test above keeps writing once space is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_write_of_batches_followers_have_stops_the_wal() {
    use rustmq_broker::wal::{Append, IoBackend, Wal, WalError, WalOptions};
    use std::sync::Arc;

    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("walfs");
    let _fs = Tmpfs::mount(&wal_dir, "4m");
    let opts = WalOptions {
        dir: wal_dir.join("wal"),
        fsync_on_write: true,
        segment_size_bytes: 1 << 20,
        max_group_bytes: 1 << 20,
        flush_interval: std::time::Duration::from_secs(1),
        max_entry_bytes: 1 << 20,
        recycle_segments: 0,
        io_backend: IoBackend::Std,
    };
    let wal = Wal::recover(opts, |_| {})
        .unwrap()
        .start(Default::default())
        .unwrap();
    let failed = wal.failed();
    let target: Arc<dyn rustmq_broker::wal::AppendTarget> = Arc::new(HandedOut);
    let append = |base: i64| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        wal.submit(Append {
            topic_id: 1,
            partition: 0,
            base_offset: base,
            last_offset: base,
            leader_epoch: 0,
            batch: Bytes::from(vec![7u8; 200 * 1024]),
            generation: 0,
            target: target.clone(),
            reply: Some(tx),
            span: tracing::Span::none(),
        })
        .map(|()| rx)
    };
    let mut first_error = None;
    for base in 0..64 {
        match append(base).unwrap().await.unwrap() {
            Ok(()) => assert!(failed.borrow().is_none()),
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    let e = first_error.expect("the 4 MiB disk filled up");
    assert!(matches!(e, WalError::Io(_)), "{e}");
    let why = failed.borrow().clone().expect("the WAL stopped");
    assert!(why.contains("replicated to followers"), "{why}");
    // Nothing more is written, whatever space there is.
    let next = match append(1000) {
        Ok(rx) => rx.await.unwrap(),
        Err(e) => Err(e),
    };
    assert!(
        matches!(next, Err(WalError::Failed(_) | WalError::Closed)),
        "{next:?}"
    );
}
