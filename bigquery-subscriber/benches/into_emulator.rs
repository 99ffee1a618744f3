//! Rows per second of 1 KiB messages into the BigQuery emulator, and the time from a produce
//! acknowledgement to its row being visible to a query
//! (`cargo bench -p rustmq-bigquery-subscriber --bench into_emulator`; needs `.ci/test-deps`).
//!
//! A backlog of `RUSTMQ_BENCH_ROWS` (default 30,000) messages on 4 partitions is drained by one
//! subscriber with the default batching; then single messages are produced one at a time
//! and the table is polled every 10 ms until each row shows, with the default
//! `MAX_BATCH_LATENCY_MS` (1000) and with 50 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Broker, DATASET, Emulator, InProcess, PROJECT, env, set, with_metadata};
use serde_json::json;

async fn count(emu: &Emulator, table: &str) -> u64 {
    let r = emu
        .query(&format!(
            "SELECT COUNT(*) FROM `{PROJECT}.{DATASET}.{table}`"
        ))
        .await;
    r.first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn payload(n: u64) -> String {
    let mut p = json!({"n": n, "pad": ""}).to_string();
    let pad = "x".repeat(1024 - p.len());
    p = json!({"n": n, "pad": pad}).to_string();
    p
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("RUSTMQ_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("bench", 4).await;
    let fields = with_metadata(json!([
        {"name": "n", "type": "INTEGER"}, {"name": "pad", "type": "STRING"}]));
    emu.create_table("bench", fields.clone()).await;
    broker.produce("bench", (0..rows).map(payload)).await;

    let sub = InProcess::start(&env(&emu, &broker, "bench", "bench")).await;
    let t0 = Instant::now();
    // Time to the first row excludes joining the group.
    while count(&emu, "bench").await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (t1, c1) = (Instant::now(), count(&emu, "bench").await);
    while count(&emu, "bench").await < rows {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t1.elapsed();
    println!(
        "backlog of {rows} 1 KiB messages: first row after {:.2} s, then {:.0} rows/s ({} rows in {:.2} s)",
        (t1 - t0).as_secs_f64(),
        (rows - c1) as f64 / took.as_secs_f64(),
        rows - c1,
        took.as_secs_f64()
    );
    let report = sub.health.json();
    println!(
        "insert requests {}, retries {}",
        report["insert_requests"], report["insert_retries"]
    );
    sub.stop().await.expect("stop");

    let mut total = rows;
    for latency_ms in ["1000", "50"] {
        let table = format!("latency_{latency_ms}");
        emu.create_table(&table, fields.clone()).await;
        let mut e = env(&emu, &broker, "bench", &table);
        set(&mut e, "MAX_BATCH_LATENCY_MS", latency_ms);
        set(&mut e, "RUSTMQ_CONSUMER_GROUP", &table);
        set(&mut e, "HEALTH_LISTEN", "127.0.0.1:0");
        let sub = InProcess::start(&e).await;
        // Catch up with the backlog first.
        while count(&emu, &table).await < total {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            broker.produce("bench", [payload(total)]).await;
            total += 1;
            let acked = t.elapsed();
            while count(&emu, &table).await < total {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples.push((t.elapsed() - acked).as_secs_f64() * 1e3);
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "MAX_BATCH_LATENCY_MS={latency_ms}: produce acknowledged -> row visible p50 {:.0} ms, max {:.0} ms (20 messages)",
            samples[samples.len() / 2],
            samples[samples.len() - 1]
        );
        sub.stop().await.expect("stop");
    }
}
