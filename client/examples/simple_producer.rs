//! Sends ten messages to the topic `quickstart` on the dev node.
//!
//! ```text
//! cargo run --release -p rustmq-broker -- --dev          # in another terminal
//! cargo run -p rustmq-tools --bin rustmq-admin -- topic create quickstart --partitions 3
//! cargo run -p rustmq-client --example simple_producer
//! ```
//! `RUSTMQ_BROKERS` and `RUSTMQ_CA_CERT` override the dev defaults.

use std::time::Duration;

use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, TlsConfig,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "a rustls crypto provider was already installed")?;
    let config = ClientConfig {
        brokers: vec![std::env::var("RUSTMQ_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())],
        client_id: Some("simple-producer".into()),
        tls: TlsConfig {
            ca_cert: Some(
                std::env::var("RUSTMQ_CA_CERT")
                    .unwrap_or_else(|_| "rustmq-data/tls/ca.pem".into())
                    .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    let client = RustMqClient::new(config).await?;
    let producer = ProducerBuilder::new()
        .topic("quickstart")
        .config(ProducerConfig {
            batch_size: 100,
            batch_timeout: Duration::from_millis(10),
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await?;
    for i in 0..10 {
        let message = Message::builder()
            .topic("quickstart")
            .key(format!("user-{}", i % 3))
            .payload(format!("hello #{i}"))
            .header("event-type", "greeting")
            .build()?;
        let r = producer.send(message).await?;
        println!(
            "sent hello #{i} to partition {} at offset {}",
            r.partition, r.offset
        );
    }
    producer.close().await?;
    client.close().await;
    Ok(())
}
