//! WAL append latency, new segment files against recycled ones
//! (`cargo bench -p rustmq-broker --bench wal_fsync`).
//!
//! One appender writes a 1 KiB batch every millisecond (a tail producer's pace) and waits
//! for each to be durable (`fdatasync`), for `RUSTMQ_BENCH_SECS` seconds (default 10) per
//! pass. Passes alternate between a WAL whose active segment is a new file
//! (`recycle_segments = 0`: every append extends the file) and one writing over a spare
//! (appends rewrite blocks the file has), `RUSTMQ_BENCH_PASSES` times each (default 3), so
//! both are measured over the same stretch of time. `RUSTMQ_BENCH_HOG=1` keeps every other
//! CPU busy at normal priority, as a loaded machine does: on ext4 (`dioread_nolock`) an
//! append's `fdatasync` waits for a kernel worker that then has to get a CPU.
//!
//! The WAL lives under `target/` (the disk the broker would use), or `RUSTMQ_BENCH_DIR`.
//! `RUSTMQ_BENCH_WAL_BACKEND=uring` writes it through io_uring with O_DIRECT (default std).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rustmq_broker::wal::{Append, AppendTarget, IoBackend, Wal, WalLocation, WalOptions};
use tokio::sync::oneshot;

/// The broker binary's allocator (see `main.rs`).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SEGMENT: u64 = 64 * 1024 * 1024;

/// Keeps where each append landed, so a pass can release them all.
#[derive(Default)]
struct Target(Mutex<Vec<WalLocation>>);

impl AppendTarget for Target {
    fn is_current(&self, _: u64) -> bool {
        true
    }
    fn on_durable(&self, _: u64, _: i64, _: i64, loc: WalLocation) {
        self.0.lock().push(loc);
    }
    fn on_failed(&self, _: u64) -> bool {
        false
    }
}

fn backend() -> IoBackend {
    match std::env::var("RUSTMQ_BENCH_WAL_BACKEND").as_deref() {
        Ok("uring") => IoBackend::Uring,
        _ => IoBackend::Std,
    }
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn start(dir: &Path, recycle: usize) -> Wal {
    let opts = WalOptions {
        dir: dir.to_path_buf(),
        fsync_on_write: true,
        segment_size_bytes: SEGMENT,
        max_group_bytes: 8 << 20,
        flush_interval: Duration::from_secs(1),
        max_entry_bytes: 16 << 20,
        recycle_segments: recycle,
        io_backend: backend(),
    };
    Wal::recover(opts, |_| {})
        .expect("recover")
        .start(HashMap::new())
        .expect("start")
}

async fn append(wal: &Wal, target: &Arc<Target>, base: i64, batch: Bytes) {
    let (tx, rx) = oneshot::channel();
    wal.submit(Append {
        topic_id: 1,
        partition: 0,
        base_offset: base,
        last_offset: base,
        leader_epoch: 0,
        batch,
        generation: 0,
        target: target.clone(),
        reply: Some(tx),
        span: tracing::Span::none(),
    })
    .expect("submit");
    rx.await.expect("reply").expect("append");
}

/// One pass: a WAL in a fresh directory, made to start on a spare when `recycled` (a
/// segment's worth written, then released, as an upload would), then the timed appends.
async fn pass(root: &Path, recycled: bool, secs: u64) -> Histogram<u64> {
    let dir = tempfile::tempdir_in(root).expect("tempdir");
    if recycled {
        let wal = start(dir.path(), 2);
        let target = Arc::new(Target::default());
        let big = Bytes::from(vec![0x5a; 1 << 20]);
        for base in 0..(SEGMENT >> 20) as i64 + 1 {
            append(&wal, &target, base, big.clone()).await;
        }
        for loc in target.0.lock().drain(..) {
            wal.release(loc);
        }
        assert!(wal.spare_count() >= 1, "no spare made");
        wal.shutdown().await;
        // Start over on this directory: the new active segment is written into the spare.
    }
    let wal = start(dir.path(), if recycled { 2 } else { 0 });
    if recycled {
        // Two spares at start (the released segment, and the last one, which nothing
        // needs after the restart); the active segment took one.
        assert_eq!(wal.spare_count(), 1, "a spare was not taken");
    }
    let target = Arc::new(Target::default());
    let batch = Bytes::from(vec![7u8; 1024]);
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let t0 = Instant::now();
    let mut base = 0;
    while t0.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let t = Instant::now();
        append(&wal, &target, base, batch.clone()).await;
        h.record(t.elapsed().as_micros() as u64).ok();
        base += 1;
    }
    wal.shutdown().await;
    h
}

fn main() {
    let secs = env_u64("RUSTMQ_BENCH_SECS", 10);
    let passes = env_u64("RUSTMQ_BENCH_PASSES", 3);
    let root = std::env::var("RUSTMQ_BENCH_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/wal-bench").to_string()
    });
    std::fs::create_dir_all(&root).expect("bench dir");
    let stop = Arc::new(AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hog = env_u64("RUSTMQ_BENCH_HOG", 0) == 1;
    let hogs: Vec<_> = (0..if hog { cpus.saturating_sub(1) } else { 0 })
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            })
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "1 KiB appends every 1 ms, each fdatasync'd, {secs} s per pass, {} CPU hog(s), WAL under {root}",
        hogs.len()
    );
    let mut all = [
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
    ];
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    rt.block_on(async {
        for _ in 0..passes {
            for (i, recycled) in [false, true].into_iter().enumerate() {
                let h = pass(Path::new(&root), recycled, secs).await;
                println!(
                    "{:<9} p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms ({} appends)",
                    if recycled { "recycled" } else { "new file" },
                    ms(&h, 0.5),
                    ms(&h, 0.99),
                    ms(&h, 0.999),
                    h.max() as f64 / 1000.0,
                    h.len()
                );
                all[i].add(&h).expect("same bounds");
            }
        }
    });
    for (name, h) in [("new file", &all[0]), ("recycled", &all[1])] {
        println!(
            "all passes, {name}: p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms ({} appends)",
            ms(h, 0.5),
            ms(h, 0.99),
            ms(h, 0.999),
            h.len()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        let _ = h.join();
    }
}
