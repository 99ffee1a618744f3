//! The BigQuery subscriber: streams one RustMQ topic into one BigQuery table.
//!
//! It is a member of a consumer group (instances of the group share the topic's partitions),
//! maps each record to a row (`direct`, `custom` or `nested`, see [`mapping`]) with the
//! record's topic, partition, offset and timestamp, checks it against the table's schema,
//! inserts rows in batches with insertAll, and commits a partition's offset only past records
//! whose rows are in or whose dead-letter action is done. On every assignment it asks the
//! table which rows it already holds, so restarts and rebalances do not duplicate them.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use rustmq_bigquery_subscriber::{config::SubscriberConfig, health::Health, subscriber::Subscriber};
//! let config = SubscriberConfig::from_env()?;
//! let health = Health::new();
//! rustmq_bigquery_subscriber::health::serve(health.clone(), config.monitoring.listen).await?;
//! let s = Subscriber::start(config, health).await?;
//! s.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod bigquery;
pub mod config;
pub mod dead_letter;
pub mod health;
pub mod mapping;
pub mod schema;
pub mod subscriber;
