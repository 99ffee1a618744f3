//! Reads the topic `quickstart` from the beginning and prints what it finds; stops after ten
//! messages (or `RUSTMQ_MAX_MESSAGES`).
//!
//! ```text
//! cargo run -p rustmq-client --example simple_consumer
//! ```

use futures::StreamExt;
use rustmq_client::{ClientConfig, RustMqClient, StartPosition, TlsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "a rustls crypto provider was already installed")?;
    let max: usize = std::env::var("RUSTMQ_MAX_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
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
    let consumer = client
        .consumer("quickstart")
        .start_position(StartPosition::Earliest)
        .build()
        .await?;
    let mut stream = Box::pin(consumer.stream().take(max));
    while let Some(m) = stream.next().await {
        let m = m?;
        println!(
            "partition {} offset {} key {:?}: {}",
            m.partition,
            m.offset,
            m.key.as_deref().map(String::from_utf8_lossy),
            String::from_utf8_lossy(&m.payload)
        );
    }
    Ok(())
}
