//! `rustmq-admin etl test`: runs a module on sample records, locally (no cluster), under
//! the same runtime, limits and failure policy the brokers use, and prints what came out.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use rustmq_etl::abi::Record;
use rustmq_etl::filter::TopicFilterSpec;
use rustmq_etl::pipeline::{DeployedModule, ModuleSpec, OnError, Pipeline, Slots};
use rustmq_etl::runtime::{Limits, Runtime};
use serde::{Deserialize, Serialize};

use crate::output::{Out, Tab};

/// A sample record as written in the input file and printed back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sample {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    headers: Vec<(String, Option<String>)>,
    #[serde(default)]
    timestamp: i64,
}

fn text(b: &Option<Bytes>) -> Option<String> {
    b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

fn bytes(s: &Option<String>) -> Option<Bytes> {
    s.as_ref().map(|s| Bytes::copy_from_slice(s.as_bytes()))
}

/// What `etl test` runs and on what.
#[derive(clap::Args, Debug)]
pub struct TestRun {
    /// The module.
    module: PathBuf,
    /// Sample records: a JSON or YAML list of {key, value, headers, timestamp} (strings;
    /// key and value may be null).
    #[arg(long)]
    input: PathBuf,
    /// The topic the records are for.
    #[arg(long, default_value = "test")]
    topic: String,
    #[arg(long, default_value_t = 0)]
    partition: i32,
    /// The module's configuration (given to its `init`).
    #[arg(long, default_value = "")]
    config: String,
    #[arg(long, default_value_t = 64 << 20)]
    memory_limit_bytes: usize,
    #[arg(long, default_value_t = 5000)]
    execution_timeout_ms: u64,
    /// What to do with a record the module fails on: reject, pass, drop.
    #[arg(long, default_value = "reject")]
    on_error: String,
}

/// Runs `etl test`.
pub fn run(t: TestRun, out: Out) -> anyhow::Result<()> {
    let TestRun {
        module,
        input,
        topic,
        partition,
        config,
        memory_limit_bytes,
        execution_timeout_ms,
        on_error,
    } = t;
    let wasm = super::read_module(&module)?;
    let text_in = std::fs::read_to_string(&input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let samples: Vec<Sample> = serde_norway::from_str(&text_in)
        .with_context(|| format!("{}: not a list of records", input.display()))?;
    let on_error = match on_error.as_str() {
        "reject" => OnError::Reject,
        "pass" => OnError::Pass,
        "drop" => OnError::Drop,
        other => anyhow::bail!("--on-error {other}: expected reject, pass or drop"),
    };
    let runtime = Runtime::new(2, memory_limit_bytes)?;
    let spec = ModuleSpec {
        name: super::stem(&module),
        priority: 0,
        topic_filters: vec![TopicFilterSpec::Exact(topic.clone())],
        config: config.into_bytes(),
        on_error,
        memory_limit_bytes: None,
        execution_timeout_ms: None,
    };
    let m = DeployedModule::new(&runtime, spec, &wasm)?;
    let digest = m.digest.clone();
    let limits = Limits {
        memory_bytes: memory_limit_bytes,
        timeout: std::time::Duration::from_millis(execution_timeout_ms),
    };
    let p = Pipeline::new(vec![Arc::new(m)], limits, Slots::new(1));
    let records = samples
        .iter()
        .map(|s| Record {
            timestamp: s.timestamp,
            key: bytes(&s.key),
            value: bytes(&s.value),
            headers: s
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), bytes(v)))
                .collect(),
        })
        .collect();
    let result = p.run(&topic, partition, records)?;
    let shown: Vec<Sample> = result
        .records
        .iter()
        .map(|r| Sample {
            key: text(&r.key),
            value: text(&r.value),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
            timestamp: r.timestamp,
        })
        .collect();
    let mut t = Tab::new(&["KEY", "VALUE", "HEADERS", "TIMESTAMP"]).titled(format!(
        "{} record(s) in, {} out (module sha256 {})",
        samples.len(),
        shown.len(),
        &digest[..12]
    ));
    for s in &shown {
        t.row([
            s.key.clone().unwrap_or_else(|| "-".into()),
            s.value.clone().unwrap_or_else(|| "-".into()),
            s.headers
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(","),
            s.timestamp.to_string(),
        ]);
    }
    out.print(&shown, &[t])
}
