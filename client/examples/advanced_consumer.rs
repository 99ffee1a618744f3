//! A consumer-group member with manual commits, retries and a dead-letter queue.
//!
//! ```text
//! rustmq-admin topic create payments --partitions 3
//! rustmq-admin topic create failed-payments --partitions 1
//! seq 1 20 | rustmq-admin produce payments
//! cargo run -p rustmq-client --example advanced_consumer
//! ```
//! Messages whose payload is divisible by 7 "fail": they are retried with backoff, then sent
//! to `failed-payments`. Stops after 20 messages (or `RUSTMQ_MAX_MESSAGES`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use rustmq_client::{ClientConfig, GroupConfig, RustMqClient, TlsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "a rustls crypto provider was already installed")?;
    let max: u64 = std::env::var("RUSTMQ_MAX_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let client = RustMqClient::new(ClientConfig {
        brokers: vec![std::env::var("RUSTMQ_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())],
        tls: TlsConfig {
            ca_cert: Some(
                std::env::var("RUSTMQ_CA_CERT")
                    .unwrap_or_else(|_| "rustmq-data/tls/ca.pem".into())
                    .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let mut consumer = client
        .create_group_consumer(
            "payments",
            "payment-processors",
            GroupConfig {
                enable_auto_commit: false,
                max_retry_attempts: 3,
                retry_base_delay: Duration::from_millis(200),
                dead_letter_queue: Some("failed-payments".into()),
                ..Default::default()
            },
        )
        .await?;
    println!(
        "assigned partitions: {:?}",
        consumer.assigned_partitions().await
    );
    let mut done = 0;
    while done < max {
        let Some(m) = consumer.receive().await? else {
            break;
        };
        let text = String::from_utf8_lossy(&m.message.payload).to_string();
        let amount: u64 = text.trim().parse().unwrap_or(0);
        if amount.is_multiple_of(7) {
            println!("payment {text}: attempt {} failed", m.attempt);
            m.nack_with_reason("amount rejected by the fraud check")
                .await?;
            if m.attempt >= 3 {
                done += 1; // goes to the dead-letter queue now
            }
            continue;
        }
        println!(
            "payment {text} from partition {} offset {}",
            m.message.partition, m.message.offset
        );
        m.ack().await?;
        done += 1;
        consumer.commit().await?;
    }
    // One more receive lets the consumer hand the last failure to the dead-letter queue.
    let _ = tokio::time::timeout(Duration::from_secs(1), consumer.receive()).await;
    consumer.commit().await?;
    let metrics = consumer.metrics();
    println!(
        "processed {}, failed {}, retried {}, dead-lettered {}; lag {:?}",
        metrics.processed.load(Ordering::Relaxed),
        metrics.failed.load(Ordering::Relaxed),
        metrics.retried.load(Ordering::Relaxed),
        metrics.dead_lettered.load(Ordering::Relaxed),
        consumer.get_lag().await?
    );
    consumer.close().await?;
    Ok(())
}
