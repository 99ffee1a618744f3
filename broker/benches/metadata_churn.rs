//! Metadata churn benchmark (`cargo bench -p rustmq-broker --bench metadata_churn`).
//!
//! A dev node (controller and broker in one process) with `RUSTMQ_BENCH_TOPICS` topics
//! (default 1,000) of 8 partitions, then `RUSTMQ_BENCH_GROUPS` consumer groups (default 100)
//! each committing the offsets of one topic's 8 partitions once a second, spread evenly, for
//! `RUSTMQ_BENCH_SECS` seconds (default 20). Reports the commit round trip (propose to
//! applied, p50/p99/max) and the process's CPU time per wall-clock second while idle and
//! while the groups commit: every commit is a new metadata version the controller publishes
//! and the broker applies.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::TestNode;
use hdrhistogram::Histogram;
use rustmq_controller::metadata::OffsetCommit;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time the whole process has used (all threads).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU seconds per wall second over `window`, while `work` runs.
async fn cpu_share<F: std::future::Future<Output = ()>>(window: Duration, work: F) -> f64 {
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    tokio::select! {
        _ = work => {}
        _ = tokio::time::sleep(window) => {}
    }
    (process_cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let topics = env("RUSTMQ_BENCH_TOPICS", 1000);
    let groups = env("RUSTMQ_BENCH_GROUPS", 100);
    let secs = env("RUSTMQ_BENCH_SECS", 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let node = TestNode::start(dir.path()).await;
    let controller = node.node.controller().clone();

    let t0 = Instant::now();
    for i in 0..topics {
        node.create_topic(&format!("churn-{i}"), 8).await;
    }
    println!(
        "created {topics} topics x 8 partitions in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let idle = cpu_share(Duration::from_secs(5), std::future::pending()).await;

    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let period = Duration::from_secs(1) / groups as u32;
    let commits = async {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0u64.. {
            tick.tick().await;
            let group = n % groups;
            let topic = format!("churn-{}", group % topics);
            let offsets = (0..8)
                .map(|p| OffsetCommit {
                    topic: topic.clone(),
                    partition: p,
                    offset: n as i64,
                    metadata: String::new(),
                })
                .collect();
            let start = Instant::now();
            controller
                .commit_offsets(&format!("group-{group}"), offsets)
                .await
                .expect("commit");
            hist.record(start.elapsed().as_micros() as u64)
                .expect("record");
        }
    };
    let busy = cpu_share(Duration::from_secs(secs), commits).await;

    println!(
        "{groups} groups x 1 commit/s over {secs} s: {} commits, round trip p50 {} us, p99 {} us, max {} us",
        hist.len(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max()
    );
    println!(
        "process CPU: idle {:.1}% of a core, while committing {:.1}% of a core",
        idle * 100.0,
        busy * 100.0
    );
    node.stop().await;
}
