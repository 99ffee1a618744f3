//! What happens to a record whose row cannot go in (`DEAD_LETTER_ACTION`): logged, dropped,
//! produced to a dead-letter topic, or appended to a file. A record counts as handled (and
//! its offset may be committed) only once its action is done: the produce acknowledged by
//! the in-sync replicas, the file line fsynced.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use rustmq_client::{AckLevel, ConsumedMessage, Message, Producer, ProducerConfig, RustMqClient};

use crate::config::{DeadLetterAction, SubscriberConfig};

/// Header naming why a dead letter was set aside.
pub const REASON_HEADER: &str = "rustmq.bigquery.error";
/// Header naming where a dead letter came from (`topic/partition@offset`).
pub const SOURCE_HEADER: &str = "rustmq.bigquery.source";

/// A dead letter could not be set aside (the record stays uncommitted).
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("dead-letter topic: {0}")]
    Produce(#[from] rustmq_client::ClientError),
    #[error("dead-letter file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The configured action.
pub enum DeadLetters {
    Log,
    Drop,
    /// The producer and its topic.
    Topic(Box<Producer>, String),
    File(PathBuf),
}

impl DeadLetters {
    /// The action `config` names (a producer for the dead-letter topic when it is one).
    pub async fn new(
        config: &SubscriberConfig,
        client: &RustMqClient,
    ) -> Result<Self, DeadLetterError> {
        Ok(match config.error_handling.dead_letter_action {
            DeadLetterAction::Log => Self::Log,
            DeadLetterAction::Drop => Self::Drop,
            DeadLetterAction::DeadLetterQueue => Self::Topic(
                Box::new(
                    rustmq_client::ProducerBuilder::new()
                        .topic(config.dead_letter_topic())
                        .client(client.clone())
                        .config(ProducerConfig {
                            ack_level: AckLevel::All,
                            idempotent: true,
                            ..Default::default()
                        })
                        .build()
                        .await?,
                ),
                config.dead_letter_topic(),
            ),
            DeadLetterAction::File => Self::File(
                config
                    .error_handling
                    .dead_letter_file
                    .clone()
                    .unwrap_or_else(|| "dead-letters.jsonl".into()),
            ),
        })
    }

    /// Sets `letters` (record, reason) aside.
    pub async fn handle(
        &self,
        letters: &[(&ConsumedMessage, String)],
    ) -> Result<(), DeadLetterError> {
        match self {
            Self::Log => {
                for (m, why) in letters {
                    tracing::warn!(topic = %m.topic, partition = m.partition, offset = m.offset,
                        reason = %why, payload = %String::from_utf8_lossy(&m.payload),
                        "row refused; skipped (dead_letter_action = log)");
                }
            }
            Self::Drop => {}
            Self::Topic(p, topic) => {
                let mut acks = Vec::with_capacity(letters.len());
                for (m, why) in letters {
                    let mut b = Message::builder()
                        .topic(topic.as_str())
                        .payload(m.payload.clone())
                        .timestamp(m.timestamp)
                        .header(REASON_HEADER, Bytes::from(why.clone()))
                        .header(
                            SOURCE_HEADER,
                            Bytes::from(format!("{}/{}@{}", m.topic, m.partition, m.offset)),
                        );
                    if let Some(k) = &m.key {
                        b = b.key(k.clone());
                    }
                    for (k, v) in &m.headers {
                        b = b.header(k.clone(), v.clone());
                    }
                    acks.push(p.send_async(b.build()?).await?);
                }
                for a in acks {
                    a.await?;
                }
            }
            Self::File(path) => {
                let mut text = String::new();
                for (m, why) in letters {
                    let line = serde_json::json!({
                        "topic": &*m.topic, "partition": m.partition, "offset": m.offset,
                        "timestamp": m.timestamp,
                        "key": m.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                        "payload": String::from_utf8_lossy(&m.payload),
                        "reason": why,
                    });
                    text.push_str(&line.to_string());
                    text.push('\n');
                }
                let target = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&target)?;
                    f.write_all(text.as_bytes())?;
                    f.sync_data()
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r)
                .map_err(|source| DeadLetterError::File {
                    path: path.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }
}
