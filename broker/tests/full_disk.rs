//! A full disk under the WAL (a real size-limited tmpfs, so writes fail with ENOSPC):
//! produces get a typed, retriable STORAGE_ERROR, nothing acknowledged is lost, the node keeps
//! serving reads, and once space is freed produces succeed again with contiguous offsets.
//! Mounting needs root, which CI and the development machines have.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use common::TestNode;
use rustmq_client::{ClientError, ErrorCode, Message, ProducerBuilder, ProducerConfig};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount(8) runs");
        assert!(
            out.status.success(),
            "this test needs root to mount a size-limited tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
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
