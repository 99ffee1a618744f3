//! `rustmq-bigquery-subscriber`: configured by the seed's environment variables and
//! `CONFIG_FILE` (see the README's "BigQuery subscriber"); SIGTERM or Ctrl-C inserts what it
//! holds, commits and leaves the group.

use anyhow::Context;
use clap::Parser;
use rustmq_bigquery_subscriber::config::SubscriberConfig;
use rustmq_bigquery_subscriber::health::{self, Health};
use rustmq_bigquery_subscriber::subscriber::Subscriber;
use rustmq_transport::process;

/// Streams a RustMQ topic into a BigQuery table. Configured by environment variables
/// (GCP_PROJECT_ID, BIGQUERY_DATASET, BIGQUERY_TABLE, RUSTMQ_TOPIC, RUSTMQ_BROKERS,
/// AUTH_METHOD, batching, SCHEMA_MAPPING, DEAD_LETTER_ACTION...) and CONFIG_FILE (TOML).
#[derive(Parser)]
#[command(version, about)]
struct Args {}

fn main() -> std::process::ExitCode {
    let Args {} = Args::parse();
    process::run(|| process::block_on(subscribe()))
}

async fn subscribe() -> anyhow::Result<()> {
    let config = SubscriberConfig::from_env().context("configuration")?;
    rustmq_transport::telemetry::init("rustmq-bigquery-subscriber", &config.telemetry)?;
    let health = Health::new();
    let addr = health::serve(health.clone(), config.monitoring.listen)
        .await
        .with_context(|| format!("health and metrics on {}", config.monitoring.listen))?;
    tracing::info!(%addr, project = %config.project_id, dataset = %config.dataset,
        table = %config.table, topic = %config.subscription.topic,
        group = %config.consumer_group(), "starting");
    let subscriber = Subscriber::start(config, health).await?;
    subscriber
        .run(async {
            if let Err(e) = process::wait_for_signal().await {
                tracing::error!(error = %e, "cannot wait for signals; stopping");
            }
        })
        .await?;
    tracing::info!("stopped after committing what was inserted");
    Ok(())
}
