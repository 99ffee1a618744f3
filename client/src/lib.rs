//! RustMQ client: produce and consume over QUIC.
//!
//! ```no_run
//! use rustmq_client::{ClientConfig, Message, RustMqClient, StartPosition, TlsConfig};
//! # async fn demo() -> Result<(), rustmq_client::ClientError> {
//! let client = RustMqClient::new(ClientConfig {
//!     brokers: vec!["127.0.0.1:9092".into()],
//!     tls: TlsConfig { ca_cert: Some("rustmq-data/tls/ca.pem".into()), ..Default::default() },
//!     ..Default::default()
//! })
//! .await?;
//! let producer = client.create_producer("orders").await?;
//! producer.send(Message::builder().topic("orders").payload("hello").build()?).await?;
//! let mut consumer = client.consumer("orders").start_position(StartPosition::Earliest).build().await?;
//! let first = consumer.receive().await?;
//! assert_eq!(&first.payload[..], b"hello");
//! # Ok(()) }
//! ```

mod client;
mod config;
mod connection;
mod consumer;
mod error;
mod group_consumer;
mod groups;
mod latency;
mod message;
mod producer;
pub mod stream;
mod transport_stats;

pub use client::RustMqClient;
pub use config::{
    AckLevel, AuthConfig, ClientConfig, ConsumerConfig, Partitioner, ProducerConfig, StartPosition,
    TlsConfig,
};
pub use consumer::{Consumer, ConsumerBuilder};
pub use error::ClientError;
pub use group_consumer::{
    ConsumerMessage, ConsumerMetrics, GroupConfig, GroupConsumer, GroupConsumerBuilder,
};
pub use groups::{JoinGroup, Joined};
pub use latency::{LatencyRecorder, LatencySnapshot};
pub use message::{ConsumedMessage, Message, MessageBuilder, SendResult};
pub use producer::{
    Delivery, DeliveryFuture, MAX_IN_FLIGHT_PER_PARTITION, Producer, ProducerBuilder,
    ProducerMetrics,
};
pub use rustmq_protocol::proto::ErrorCode;
pub use rustmq_protocol::records::Compression;
pub use transport_stats::TransportStats;
