//! The client: bootstrap, metadata cache, one connection per broker.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use rustmq_protocol::ApiKey;
use rustmq_protocol::proto::{self, ErrorCode};

use crate::ClientError;
use crate::config::{ClientConfig, ConsumerConfig, ProducerConfig};
use crate::connection::{self, BrokerConnection};
use crate::consumer::ConsumerBuilder;
use crate::producer::{Producer, ProducerBuilder};
use crate::transport_stats::TransportStats;

#[derive(Debug, Clone, Default)]
struct MetadataCache {
    brokers: HashMap<u32, String>,
    topics: HashMap<String, Vec<proto::PartitionMetadata>>,
}

pub(crate) struct Inner {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    connections: RwLock<HashMap<String, Arc<BrokerConnection>>>,
    metadata: RwLock<MetadataCache>,
    /// Group id -> its coordinator's address (FindCoordinator), dropped on NOT_COORDINATOR.
    pub(crate) coordinators: RwLock<HashMap<String, String>>,
    /// Brokers whose view of leadership proved stale or that stopped answering, and when:
    /// asked for metadata last for [`SUSPECT_FOR`].
    suspects: RwLock<HashMap<String, std::time::Instant>>,
}

/// How long a suspect broker is asked for metadata only after every other one. A broker cut
/// off from the controllers still answers Metadata from its last state (naming itself
/// leader); asked first, it would send the client straight back to itself.
const SUSPECT_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection to a RustMQ cluster. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), rustmq_client::ClientError> {
/// use rustmq_client::{ClientConfig, RustMqClient, TlsConfig};
/// let client = RustMqClient::new(ClientConfig {
///     brokers: vec!["127.0.0.1:9092".into()],
///     tls: TlsConfig { ca_cert: Some("rustmq-data/tls/ca.pem".into()), ..Default::default() },
///     ..Default::default()
/// }).await?;
/// let health = client.health_check().await?;
/// assert!(health.healthy);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RustMqClient {
    pub(crate) inner: Arc<Inner>,
}

impl RustMqClient {
    /// Connects to the first reachable bootstrap broker and loads the cluster metadata.
    pub async fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.brokers.is_empty() {
            return Err(ClientError::Config(
                "brokers must list at least one host:port".into(),
            ));
        }
        let endpoint = connection::endpoint(&config)?;
        let client = Self {
            inner: Arc::new(Inner {
                config,
                endpoint,
                connections: RwLock::new(HashMap::new()),
                metadata: RwLock::new(MetadataCache::default()),
                coordinators: RwLock::new(HashMap::new()),
                suspects: RwLock::new(HashMap::new()),
            }),
        };
        client.refresh_metadata(&[]).await?;
        Ok(client)
    }

    /// The client configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn connection(&self, addr: &str) -> Arc<BrokerConnection> {
        if let Some(c) = self.inner.connections.read().get(addr) {
            return c.clone();
        }
        self.inner
            .connections
            .write()
            .entry(addr.to_string())
            .or_insert_with(|| {
                BrokerConnection::new(
                    addr.to_string(),
                    self.inner.endpoint.clone(),
                    self.inner.config.clone(),
                )
            })
            .clone()
    }

    /// Bootstrap brokers first, then every broker the metadata names; suspects (see
    /// [`Self::suspect`]) last.
    pub(crate) fn broker_addrs(&self) -> Vec<String> {
        let known: Vec<String> = self
            .inner
            .metadata
            .read()
            .brokers
            .values()
            .cloned()
            .collect();
        order_brokers(
            &self.inner.config.brokers,
            &known,
            &self.inner.suspects.read(),
        )
    }

    /// Marks `addr` as having answered NOT_LEADER for a partition it was said to lead, or as
    /// silent on an outstanding request: metadata is asked of it last for a few seconds.
    pub(crate) fn suspect(&self, addr: &str) {
        let mut s = self.inner.suspects.write();
        s.retain(|_, t| t.elapsed() < SUSPECT_FOR);
        s.insert(addr.to_string(), std::time::Instant::now());
    }

    /// Sends a request to any reachable broker (bootstrap list first, then known brokers).
    pub(crate) async fn request_any<Req, Resp>(
        &self,
        api: ApiKey,
        req: &Req,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        self.request_any_with_timeout(api, req, self.inner.config.request_timeout)
            .await
    }

    /// [`Self::request_any`] with an explicit timeout (joins wait for a whole rebalance).
    pub(crate) async fn request_any_with_timeout<Req, Resp>(
        &self,
        api: ApiKey,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        // Hedged: the next broker is asked when the previous one has not answered within
        // 250 ms, so a dead broker (QUIC sees no reset, only silence) costs 250 ms instead of
        // a connect timeout; the first answer wins.
        use futures::stream::{FuturesUnordered, StreamExt};
        let mut queue = self.broker_addrs().into_iter();
        let launch = |addr: String| {
            let conn = self.connection(&addr);
            async move { conn.request(api, req, timeout).await }
        };
        let mut running = FuturesUnordered::new();
        let mut last = None;
        loop {
            if running.is_empty() {
                match queue.next() {
                    Some(a) => running.push(launch(a)),
                    None => break,
                }
            }
            tokio::select! {
                Some(r) = running.next() => match r {
                    Ok(r) => return Ok(r),
                    Err(e) if e.is_retriable() => {
                        last = Some(e);
                        if let Some(a) = queue.next() {
                            running.push(launch(a));
                        }
                    }
                    Err(e) => return Err(e),
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)), if queue.len() > 0 => {
                    if let Some(a) = queue.next() {
                        running.push(launch(a));
                    }
                }
            }
        }
        Err(last.unwrap_or(ClientError::Config("no brokers".into())))
    }

    /// Reloads metadata (all topics when `topics` is empty).
    pub async fn refresh_metadata(&self, topics: &[String]) -> Result<(), ClientError> {
        let resp: proto::MetadataResponse = self
            .request_any(
                ApiKey::Metadata,
                &proto::MetadataRequest {
                    topics: topics.to_vec(),
                },
            )
            .await?;
        let mut md = self.inner.metadata.write();
        for b in resp.brokers {
            md.brokers.insert(b.id, format!("{}:{}", b.host, b.port));
        }
        if topics.is_empty() {
            md.topics.clear();
        }
        let mut refused = None;
        for t in resp.topics {
            if t.error_code == ErrorCode::None as i32 {
                md.topics.insert(t.name, t.partitions);
            } else {
                if t.error_code == ErrorCode::Unauthorized as i32 {
                    refused.get_or_insert(t.name.clone());
                }
                md.topics.remove(&t.name);
            }
        }
        // Waiting will not make a refused topic appear: say so at once.
        match refused {
            Some(topic) => Err(ClientError::from_code(
                ErrorCode::Unauthorized,
                format!("not authorized to describe topic '{topic}'"),
            )),
            None => Ok(()),
        }
    }

    /// Number of partitions of `topic`, refreshing metadata while it is not known yet, for
    /// up to [`ClientConfig::metadata_max_wait`] (a topic just created reaches every
    /// broker a moment after the controllers have it); then `UnknownTopic`.
    pub async fn partition_count(&self, topic: &str) -> Result<u32, ClientError> {
        let known = |c: &Self| {
            c.inner
                .metadata
                .read()
                .topics
                .get(topic)
                .map(|p| p.len() as u32)
        };
        if let Some(n) = known(self) {
            return Ok(n);
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.metadata_max_wait;
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            self.refresh_metadata(&[topic.to_string()]).await?;
            if let Some(n) = known(self) {
                return Ok(n);
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(ClientError::UnknownTopic(topic.to_string()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Address of the leader of a partition.
    pub(crate) async fn leader(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Arc<BrokerConnection>, ClientError> {
        self.leader_and_id(topic, partition).await.map(|(_, c)| c)
    }

    /// The broker id the cached metadata names leader of a partition (no request).
    pub(crate) fn cached_leader_id(&self, topic: &str, partition: u32) -> Option<u32> {
        let md = self.inner.metadata.read();
        md.topics
            .get(topic)
            .and_then(|ps| ps.iter().find(|p| p.partition == partition))
            .map(|p| p.leader_id)
    }

    /// [`Self::leader`] and the leader's broker id.
    pub(crate) async fn leader_and_id(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(u32, Arc<BrokerConnection>), ClientError> {
        let n = self.partition_count(topic).await?;
        if partition >= n {
            return Err(ClientError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            });
        }
        let addr = self.cached_leader_id(topic, partition).and_then(|id| {
            let addr = self.inner.metadata.read().brokers.get(&id).cloned()?;
            Some((id, addr))
        });
        match addr {
            Some((id, a)) => Ok((id, self.connection(&a))),
            None => Err(ClientError::from_code(
                ErrorCode::BrokerNotAvailable,
                format!("no known leader for {topic}/{partition}"),
            )),
        }
    }

    /// Asks a broker which APIs and versions it speaks and its limits (frame and batch size,
    /// idle timeout, streams, whether connections must authenticate).
    ///
    /// ```no_run
    /// # async fn demo(client: rustmq_client::RustMqClient) -> Result<(), rustmq_client::ClientError> {
    /// let v = client.api_versions().await?;
    /// println!("broker {} takes batches up to {} bytes", v.broker_version, v.max_message_bytes);
    /// # Ok(()) }
    /// ```
    pub async fn api_versions(&self) -> Result<proto::ApiVersionsResponse, ClientError> {
        self.request_any(ApiKey::ApiVersions, &proto::ApiVersionsRequest {})
            .await
    }

    /// Asks a broker for its health.
    pub async fn health_check(&self) -> Result<proto::HealthResponse, ClientError> {
        self.request_any(ApiKey::Health, &proto::HealthRequest {})
            .await
    }

    /// Earliest (`-2`), latest (`-1`) or first offset at/after a timestamp of a partition.
    /// Returns -1 when no message is at or after the timestamp.
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<i64, ClientError> {
        // A leader that just died (or moved): refresh metadata and ask the new one, as the
        // producer does, for up to `metadata_max_wait` after the first failure.
        let mut give_up = None;
        let mut backoff = self.backoff();
        loop {
            match self.list_offset_once(topic, partition, timestamp).await {
                Err(e) if e.is_retriable() => {
                    let give_up = *give_up.get_or_insert_with(|| {
                        std::time::Instant::now() + self.inner.config.metadata_max_wait
                    });
                    let delay = backoff
                        .next()
                        .unwrap_or(self.inner.config.reconnect_max_delay);
                    if std::time::Instant::now() + delay >= give_up {
                        return Err(e);
                    }
                    tracing::debug!(%topic, partition, error = %e, ?delay, "list offsets failed; refreshing metadata");
                    self.leader_failed(topic, &e).await;
                    tokio::time::sleep(delay).await;
                }
                r => return r,
            }
        }
    }

    /// Retry delays for requests to a partition's leader (the reconnect settings).
    pub(crate) fn backoff(&self) -> backon::ExponentialBackoff {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.inner.config.reconnect_base_delay)
            .with_max_delay(self.inner.config.reconnect_max_delay)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// A request to `topic`'s leader failed with `e` (retriable): a broker that could not be
    /// reached goes to the back of the list for metadata, and the metadata is refreshed so
    /// the next attempt goes to whoever leads now.
    pub(crate) async fn leader_failed(&self, topic: &str, e: &ClientError) {
        if let ClientError::Connection { broker, .. } = e {
            self.suspect(broker);
        }
        let _ = self.refresh_metadata(&[topic.to_string()]).await;
    }

    async fn list_offset_once(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<i64, ClientError> {
        let conn = self.leader(topic, partition).await?;
        let resp: proto::ListOffsetsResponse = conn
            .request(
                ApiKey::ListOffsets,
                &proto::ListOffsetsRequest {
                    topics: vec![proto::ListOffsetsTopic {
                        topic: topic.to_string(),
                        partitions: vec![proto::ListOffsetsPartition {
                            partition,
                            timestamp,
                        }],
                    }],
                },
                self.inner.config.request_timeout,
            )
            .await?;
        let p = resp
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .next()
            .ok_or_else(|| ClientError::Protocol("empty ListOffsets response".into()))?;
        check(topic, partition, p.error_code)?;
        Ok(p.offset)
    }

    /// A producer for `topic` with default settings.
    pub async fn create_producer(&self, topic: &str) -> Result<Producer, ClientError> {
        ProducerBuilder::new()
            .topic(topic)
            .config(ProducerConfig::default())
            .client(self.clone())
            .build()
            .await
    }

    /// A consumer of `topic` without a group: it reads the partitions it is given (all by
    /// default) from where it is told to start.
    pub fn consumer(&self, topic: &str) -> ConsumerBuilder {
        ConsumerBuilder::new(self.clone(), topic).config(ConsumerConfig::default())
    }

    /// Sends raw frame bytes to a broker and returns the raw response (tests, diagnostics).
    #[doc(hidden)]
    pub async fn raw_request(&self, broker: &str, frame: Bytes) -> Result<Bytes, ClientError> {
        self.connection(broker)
            .request_raw(frame, self.inner.config.request_timeout)
            .await
    }

    /// The QUIC path figures of every live broker connection (round-trip time, congestion
    /// window, packets sent and lost), for telling a lossy path from a slow broker.
    pub async fn transport_stats(&self) -> Vec<TransportStats> {
        let conns: Vec<_> = self.inner.connections.read().values().cloned().collect();
        let mut out = Vec::new();
        for c in conns {
            out.extend(c.transport_stats().await);
        }
        out
    }

    /// Closes all connections.
    pub async fn close(&self) {
        let conns: Vec<_> = self.inner.connections.read().values().cloned().collect();
        for c in conns {
            c.close().await;
        }
        self.inner.endpoint.wait_idle().await;
    }
}

/// Maps a partition-level error code to a result.
pub(crate) fn check(topic: &str, partition: u32, code: i32) -> Result<(), ClientError> {
    match ErrorCode::try_from(code).unwrap_or(ErrorCode::Unknown) {
        ErrorCode::None => Ok(()),
        ErrorCode::UnknownTopic => Err(ClientError::UnknownTopic(topic.to_string())),
        ErrorCode::UnknownPartition => Err(ClientError::UnknownPartition {
            topic: topic.to_string(),
            partition,
        }),
        c => Err(ClientError::from_code(c, format!("{topic}/{partition}"))),
    }
}

/// `bootstrap`, then `known` ones not in it, with brokers suspected less than
/// [`SUSPECT_FOR`] ago moved to the end (keeping the order among each group).
fn order_brokers(
    bootstrap: &[String],
    known: &[String],
    suspects: &HashMap<String, std::time::Instant>,
) -> Vec<String> {
    let mut addrs = bootstrap.to_vec();
    for a in known {
        if !addrs.contains(a) {
            addrs.push(a.clone());
        }
    }
    addrs.sort_by_key(|a| suspects.get(a).is_some_and(|t| t.elapsed() < SUSPECT_FOR));
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn suspects_are_asked_last_and_only_for_a_while() {
        let bootstrap = s(&["a:1", "b:1"]);
        let known = s(&["b:1", "c:1", "a:1"]);
        let mut suspects = HashMap::new();
        assert_eq!(
            order_brokers(&bootstrap, &known, &suspects),
            s(&["a:1", "b:1", "c:1"])
        );
        suspects.insert("a:1".to_string(), Instant::now());
        assert_eq!(
            order_brokers(&bootstrap, &known, &suspects),
            s(&["b:1", "c:1", "a:1"])
        );
        // An old suspicion no longer counts.
        if let Some(long_ago) = Instant::now().checked_sub(SUSPECT_FOR + Duration::from_secs(1)) {
            suspects.insert("a:1".to_string(), long_ago);
            assert_eq!(
                order_brokers(&bootstrap, &known, &suspects),
                s(&["a:1", "b:1", "c:1"])
            );
        }
    }
}
