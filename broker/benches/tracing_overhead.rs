//! What traces cost (`cargo bench -p rustmq-broker --bench tracing_overhead`).
//!
//! A real `rustmq-broker --dev` process and a load-generating process (this benchmark run
//! again as a child) for each mode: tracing off (no collector configured), 1% sampling and
//! 100% sampling, both processes exporting over OTLP/gRPC to a real OpenTelemetry Collector
//! (`.ci/build-otelcol.sh`). The modes alternate for two rounds of `RUSTMQ_BENCH_SECS`
//! seconds (default 5) each; the load is 1 KiB messages to 8 partitions, `acks=leader`,
//! four senders of 100-message batches. Reports messages per second and the p50/p99 of a
//! batch's send-to-acknowledgement time.

#[path = "../tests/common/collector.rs"]
#[allow(dead_code)]
mod collector;
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustmq_broker::child::DevBroker;
use rustmq_client::{ClientConfig, Message, RustMqClient, TlsConfig};
use rustmq_transport::telemetry::{self, TelemetryConfig};

const TOPIC: &str = "traced";
const CHILD_ENV: &str = "RUSTMQ_TRACING_BENCH_CHILD";

/// The modes: a name, and the sampling ratio (`None`: no export at all).
const MODES: [(&str, Option<f64>); 3] = [
    ("tracing off", None),
    ("1% sampled", Some(0.01)),
    ("100% sampled", Some(1.0)),
];

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return load_generator();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = collector::Collector::start(dir.path());
    let window = support::secs();
    let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); MODES.len()];
    for round in 0..2 {
        for (i, (name, ratio)) in MODES.iter().enumerate() {
            let data = dir.path().join(format!("broker-{round}-{i}"));
            let mut env = vec![("RUSTMQ_LOG", "warn".to_string())];
            if let Some(r) = ratio {
                env.push(("RUSTMQ_TELEMETRY__ENDPOINT", collector.grpc.clone()));
                env.push(("RUSTMQ_TELEMETRY__SAMPLING_RATIO", r.to_string()));
            }
            let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let broker = DevBroker::spawn_with_env(
                env!("CARGO_BIN_EXE_rustmq-broker").as_ref(),
                &data,
                &env_refs,
            )
            .expect("broker starts");
            create_topic(&broker.admin);
            let mut child = std::process::Command::new(std::env::current_exe().expect("exe"));
            child
                .env(CHILD_ENV, "1")
                .env("BENCH_QUIC", &broker.quic)
                .env("BENCH_CA", data.join("tls/ca.pem"))
                .env("BENCH_SECS", window.as_secs().to_string())
                .env("RUSTMQ_LOG", "warn");
            if let Some(r) = ratio {
                child
                    .env("BENCH_OTLP", &collector.grpc)
                    .env("BENCH_RATIO", r.to_string());
            }
            let out = child.output().expect("load generator runs");
            assert!(
                out.status.success(),
                "load generator failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout);
            let v: Vec<f64> = line
                .split_whitespace()
                .map(|x| x.parse().expect("a number"))
                .collect();
            println!(
                "round {round} {name:>13}: {:>8.0} msg/s, batch p50 {:>6.2} ms, p99 {:>6.2} ms",
                v[0], v[1], v[2]
            );
            results[i].push((v[0], v[1], v[2]));
            drop(broker);
        }
    }
    println!("\nmean of the rounds (1 KiB messages, 8 partitions, acks=leader):");
    let base = mean(&results[0]).0;
    for (i, (name, _)) in MODES.iter().enumerate() {
        let (rate, p50, p99) = mean(&results[i]);
        println!(
            "  {name:>13}: {rate:>8.0} msg/s ({:+.1}% vs off), batch p50 {p50:.2} ms, p99 {p99:.2} ms",
            (rate / base - 1.0) * 100.0
        );
    }
    let spans = collector.spans().len();
    println!("  spans the collector received: {spans}");
}

fn mean(v: &[(f64, f64, f64)]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    (
        v.iter().map(|x| x.0).sum::<f64>() / n,
        v.iter().map(|x| x.1).sum::<f64>() / n,
        v.iter().map(|x| x.2).sum::<f64>() / n,
    )
}

fn create_topic(admin: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{admin}/api/v1/topics"))
            .json(&serde_json::json!({"name": TOPIC, "partitions": 8}))
            .send()
            .await
            .expect("admin API");
        assert_eq!(r.status(), 201);
    });
}

/// The child: produces for the window and prints `rate p50_ms p99_ms`.
fn load_generator() {
    let var = |k: &str| std::env::var(k).expect(k);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = match std::env::var("BENCH_OTLP") {
            Ok(endpoint) => TelemetryConfig {
                endpoint,
                sampling_ratio: var("BENCH_RATIO").parse().expect("ratio"),
                ..Default::default()
            },
            Err(_) => TelemetryConfig::default(),
        };
        telemetry::init("rustmq-tracing-bench", &config).expect("telemetry");
        let client = RustMqClient::new(ClientConfig {
            brokers: vec![var("BENCH_QUIC")],
            tls: TlsConfig {
                ca_cert: Some(var("BENCH_CA").into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .expect("client");
        let producer = Arc::new(client.create_producer(TOPIC).await.expect("producer"));
        let window = Duration::from_secs(var("BENCH_SECS").parse().expect("secs"));
        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(AtomicBool::new(false));
        let hist = Arc::new(Mutex::new(
            hdrhistogram::Histogram::<u64>::new(3).expect("histogram"),
        ));
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (p, stop, measuring, hist, acked) = (
                producer.clone(),
                stop.clone(),
                measuring.clone(),
                hist.clone(),
                acked.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let payload = vec![7u8; 1024];
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<Message> = (0..100)
                        .map(|_| {
                            Message::builder()
                                .topic(TOPIC)
                                .payload(payload.clone())
                                .build()
                                .expect("message")
                        })
                        .collect();
                    let started = Instant::now();
                    let n = p.send_batch(batch).await.expect("produce").len();
                    if measuring.load(Ordering::Relaxed) {
                        hist.lock()
                            .record(started.elapsed().as_micros() as u64)
                            .expect("record");
                        acked.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // warm up
        measuring.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        measuring.store(false, Ordering::Relaxed);
        let rate = acked.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender");
        }
        client.close().await;
        telemetry::shutdown().await;
        let h = hist.lock();
        println!(
            "{rate} {} {}",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        );
    });
}
