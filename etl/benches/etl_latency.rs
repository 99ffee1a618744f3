//! Time a module adds per 1 KiB record, in batches of 100 (one instance per batch, as the
//! pipeline runs them): a no-op module and the JSON field filter, against no module at all.
//!
//! `cargo bench -p rustmq-etl --bench etl_latency` (needs clang for the C filter).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hdrhistogram::Histogram;
use rustmq_etl::abi::Record;
use rustmq_etl::filter::TopicFilterSpec;
use rustmq_etl::pipeline::{DeployedModule, ModuleSpec, OnError, Pipeline, Slots};
use rustmq_etl::runtime::{Limits, Runtime};

fn main() {
    let rt = Runtime::new(16, 64 << 20).expect("runtime");
    let noop = rustmq_etl::examples::wat("noop").expect("noop.wat");
    let spec = |name: &str, config: &[u8]| ModuleSpec {
        name: name.into(),
        priority: 0,
        topic_filters: vec![TopicFilterSpec::Exact("bench".into())],
        config: config.to_vec(),
        on_error: OnError::Reject,
        memory_limit_bytes: None,
        execution_timeout_ms: None,
    };
    let batch: Vec<Record> = (0..100)
        .map(|i| {
            let level = if i % 2 == 0 { "error" } else { "info" };
            let mut v = format!(r#"{{"level": "{level}", "i": {i}, "pad": ""#);
            v.push_str(&"x".repeat(1024 - v.len() - 2));
            v.push_str("\"}");
            Record {
                timestamp: i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(v)),
                headers: vec![],
            }
        })
        .collect();
    let cases: Vec<(&str, Option<Arc<DeployedModule>>)> = vec![
        ("no module", None),
        (
            "no-op module",
            Some(Arc::new(
                DeployedModule::new(&rt, spec("noop", b""), &noop).expect("noop"),
            )),
        ),
        (
            "JSON field filter",
            Some(Arc::new(
                DeployedModule::new(
                    &rt,
                    spec("filter", b"level=error"),
                    &rustmq_etl::examples::c("json_filter").expect("json_filter.c"),
                )
                .expect("filter"),
            )),
        ),
    ];
    for (name, module) in cases {
        let p = Pipeline::new(
            module.into_iter().collect(),
            Limits::default(),
            Slots::new(16),
        );
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        let mut kept = 0;
        for _ in 0..2_000 {
            let input = batch.clone();
            let t = Instant::now();
            let out = p.run("bench", 0, input).expect("run");
            h.record(t.elapsed().as_nanos() as u64 / 100)
                .expect("record");
            kept = out.records.len();
        }
        println!(
            "{name}: {} ns p50, {} ns p99 per 1 KiB record (batches of 100, {kept} kept)",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
}
