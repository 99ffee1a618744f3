//! What the produce benchmarks share: timing windows and a steady producer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustmq_client::{ClientConfig, Message, RustMqClient};

/// The length of one measured window: `RUSTMQ_BENCH_SECS` seconds (default 5).
pub fn secs() -> Duration {
    Duration::from_secs(
        std::env::var("RUSTMQ_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    )
}

/// Messages of `payload` acknowledged per second to `topic` over `window` (`acks=leader`,
/// after half a second of warm-up).
pub async fn produce_rate(
    config: ClientConfig,
    topic: &str,
    payload: &[u8],
    window: Duration,
) -> f64 {
    let client = RustMqClient::new(config).await.expect("client");
    let producer = Arc::new(client.create_producer(topic).await.expect("producer"));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    // Four senders keep batches full.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (p, stop, acked, payload, topic) = (
            producer.clone(),
            stop.clone(),
            acked.clone(),
            payload.to_vec(),
            topic.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Message> = (0..100)
                    .map(|_| {
                        Message::builder()
                            .topic(topic.as_str())
                            .payload(payload.clone())
                            .build()
                            .expect("message")
                    })
                    .collect();
                let n = p.send_batch(batch).await.expect("produce").len();
                acked.fetch_add(n as u64, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // warm up
    let (a0, t0) = (acked.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(window).await;
    let rate = (acked.load(Ordering::Relaxed) - a0) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("sender");
    }
    client.close().await;
    rate
}
