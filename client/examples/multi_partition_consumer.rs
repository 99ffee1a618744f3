//! Partition control in a group member: assignment, lag, pause/resume, seeking by time.
//!
//! ```text
//! rustmq-admin topic create metrics --partitions 4
//! seq 1 40 | rustmq-admin produce metrics
//! cargo run -p rustmq-client --example multi_partition_consumer
//! ```

use std::time::Duration;

use rustmq_client::{ClientConfig, GroupConfig, RustMqClient, TlsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "a rustls crypto provider was already installed")?;
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
        .create_group_consumer("metrics", "metric-readers", GroupConfig::default())
        .await?;
    let partitions = consumer.assigned_partitions().await;
    println!("assignment: {:?}", consumer.partition_assignment().await);
    println!("lag before: {:?}", consumer.get_lag().await?);

    // Read only from the first partition for a moment.
    let others: Vec<u32> = partitions.iter().copied().skip(1).collect();
    consumer.pause_partitions(others.clone()).await?;
    println!("paused {:?}", consumer.paused_partitions().await);
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(500), consumer.receive()).await
    {
        let Some(m) = next? else { break };
        println!(
            "p{} o{}: {}",
            m.message.partition,
            m.message.offset,
            String::from_utf8_lossy(&m.message.payload)
        );
        m.ack().await?;
    }
    consumer.resume_partitions(others).await?;

    // Replay the last minute of every partition.
    let a_minute_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64
        - 60_000;
    println!(
        "positions after seek: {:?}",
        consumer.seek_all_to_timestamp(a_minute_ago).await?
    );
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(500), consumer.receive()).await
    {
        let Some(m) = next? else { break };
        println!(
            "p{} o{}: {}",
            m.message.partition,
            m.message.offset,
            String::from_utf8_lossy(&m.message.payload)
        );
        m.ack().await?;
    }
    consumer.commit().await?;
    for p in &partitions {
        println!(
            "partition {p}: committed {:?}",
            consumer.committed_offset(*p).await?
        );
    }
    consumer.close().await?;
    Ok(())
}
