//! What a filter module costs the produce path
//! (`cargo bench -p rustmq-broker --bench etl_overhead`).
//!
//! One dev node in this process with `[etl] enabled` and the JSON field filter
//! (`etl/modules/json_filter.c`, `level=error`) deployed on topic `filtered`; topic `plain`
//! has no module. In alternating rounds of `RUSTMQ_BENCH_SECS` seconds (default 5), a
//! producer sends 1 KiB JSON messages (`acks=leader`, all matching, so both topics store the
//! same bytes) to each. Reports messages per second for both and their ratio, and the
//! module's per-record time from the broker's own histogram.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use base64::Engine;
use common::TestNode;
use support::{produce_rate, secs};

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = common::config(&dir.path().join("node"));
    cfg.etl.enabled = true;
    let node = TestNode::start_with(cfg).await;
    node.create_topic("plain", 1).await;
    node.create_topic("filtered", 1).await;
    let filter = rustmq_etl::examples::c("json_filter").expect("json_filter.c (needs clang)");
    let body = serde_json::json!({
        "name": "errors-only",
        "priority": 0,
        "topic_filters": [{"kind": "exact", "pattern": "filtered"}],
        "config": "level=error",
        "wasm_base64": base64::engine::general_purpose::STANDARD.encode(&filter),
    });
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/etl/modules", node.admin_url()))
        .json(&body)
        .send()
        .await
        .expect("deploy");
    assert_eq!(
        r.status().as_u16(),
        201,
        "deploy: {}",
        r.text().await.unwrap_or_default()
    );
    loop {
        let v = common::sample(&node.metrics_text().await, "rustmq_etl_pipeline_version");
        if v.unwrap_or(0.0) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let window = secs();
    // 1 KiB of JSON the filter keeps: both topics store the same bytes.
    let mut payload = r#"{"level": "error", "pad": ""#.to_string();
    payload.push_str(&"x".repeat(1024 - payload.len() - 2));
    payload.push_str("\"}");
    let (mut off, mut on) = (vec![], vec![]);
    for round in 0..3 {
        off.push(produce_rate(node.client_config(), "plain", payload.as_bytes(), window).await);
        on.push(produce_rate(node.client_config(), "filtered", payload.as_bytes(), window).await);
        println!(
            "round {round}: no module {:.0} msg/s, filter {:.0} msg/s",
            off[round], on[round]
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a, b) = (mean(&off), mean(&on));
    println!(
        "produce, 1 KiB, acks=leader, 1 partition: no module {a:.0} msg/s, JSON filter {b:.0} msg/s: {:.1}%",
        100.0 * b / a
    );
    let m = node.metrics_text().await;
    let sum = common::sample(
        &m,
        "rustmq_etl_module_record_seconds_sum{module=\"errors-only\"}",
    )
    .unwrap_or(0.0);
    let count = common::sample(
        &m,
        "rustmq_etl_module_record_seconds_count{module=\"errors-only\"}",
    )
    .unwrap_or(0.0);
    if count > 0.0 {
        println!(
            "the broker's own figure: {count:.0} records through the filter, mean {:.2} us each",
            1e6 * sum / count
        );
    }
    node.stop().await;
}
