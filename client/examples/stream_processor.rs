//! A stream processor: reads `orders`, writes upper-cased copies to `orders-upper`, sends
//! messages it cannot handle to `orders-failed`, and counts orders per 10-second window.
//!
//! ```text
//! rustmq-admin topic create orders --partitions 3
//! rustmq-admin topic create orders-upper --partitions 3
//! rustmq-admin topic create orders-failed --partitions 1
//! cargo run -p rustmq-client --example stream_processor     # Ctrl-C to stop
//! printf 'apple\nbad pear\nplum\n' | rustmq-admin produce orders
//! ```

use std::sync::atomic::Ordering;

use rustmq_client::stream::{
    ErrorStrategy, MessageProcessor, MessageStream, ProcessError, StreamConfig, StreamMode,
};
use rustmq_client::{ClientConfig, ConsumedMessage, Message, RustMqClient, TlsConfig};

struct Upper;

impl MessageProcessor for Upper {
    async fn process(&self, m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
        let text = String::from_utf8(m.payload.to_vec())?;
        if text.starts_with("bad") {
            return Err(format!("cannot process '{text}'").into());
        }
        let mut out = m.forward("orders-upper");
        out.payload = text.to_uppercase().into();
        out.headers.push(("processor".into(), "upper".into()));
        Ok(Some(out))
    }

    async fn on_start(&self) -> Result<(), ProcessError> {
        println!("processor started");
        Ok(())
    }

    async fn on_error(&self, m: &ConsumedMessage, e: &ProcessError) {
        println!(
            "offset {} of partition {} failed: {e}",
            m.offset, m.partition
        );
    }
}

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
    let mut stream = MessageStream::new(
        client,
        StreamConfig {
            input_topics: vec!["orders".into()],
            output_topic: Some("orders-upper".into()),
            consumer_group: "upper-casers".into(),
            parallelism: 4,
            error_strategy: ErrorStrategy::DeadLetter {
                topic: "orders-failed".into(),
            },
            mode: StreamMode::Individual,
            ..Default::default()
        },
    )
    .await?
    .with_processor(Upper);
    stream.start().await?;
    tokio::signal::ctrl_c().await?;
    stream.stop().await?;
    let m = stream.metrics();
    println!(
        "processed {}, produced {}, dead-lettered {}, average {:.2} ms",
        m.messages_processed.load(Ordering::Relaxed),
        m.messages_produced.load(Ordering::Relaxed),
        m.messages_dead_lettered.load(Ordering::Relaxed),
        m.average_processing_time_ms()
    );
    Ok(())
}
