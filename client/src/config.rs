//! Client, producer and consumer settings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use rustmq_protocol::records::Compression;

/// How the client verifies brokers, and the certificate it proves itself with when the
/// brokers require one (`[security] enabled`). Certificate files are read again at every
/// new connection, so a rotated client certificate is picked up on reconnect.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// PEM file of the CA that signed the brokers' certificates (dev mode prints its path).
    pub ca_cert: Option<PathBuf>,
    /// The same CA as PEM text.
    pub ca_cert_pem: Option<String>,
    /// Server name to verify instead of the host in the broker address.
    pub server_name: Option<String>,
    /// This client's certificate chain, PEM (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// Its private key, PEM.
    pub client_key: Option<PathBuf>,
}

impl TlsConfig {
    /// Reads `RUSTMQ_CA_CERT`, `RUSTMQ_CLIENT_CERT`, `RUSTMQ_CLIENT_KEY` and
    /// `RUSTMQ_SERVER_NAME` (unset variables leave their field unset).
    ///
    /// ```
    /// let tls = rustmq_client::TlsConfig::from_env();
    /// assert_eq!(tls.client_cert.is_some(), std::env::var_os("RUSTMQ_CLIENT_CERT").is_some());
    /// ```
    pub fn from_env() -> Self {
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            ca_cert: path("RUSTMQ_CA_CERT"),
            ca_cert_pem: None,
            server_name: std::env::var("RUSTMQ_SERVER_NAME")
                .ok()
                .filter(|v| !v.is_empty()),
            client_cert: path("RUSTMQ_CLIENT_CERT"),
            client_key: path("RUSTMQ_CLIENT_KEY"),
        }
    }
}

/// How the client authenticates to brokers that require it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// A client certificate (mutual TLS): the brokers take the principal from it.
    Mtls {
        /// CA of the brokers' certificates.
        ca_cert: PathBuf,
        /// This client's certificate chain.
        client_cert: PathBuf,
        /// Its key.
        client_key: PathBuf,
        /// Server name to verify.
        server_name: Option<String>,
    },
    /// A bearer token (JWT) sent on every new connection; the broker verifies it and takes
    /// the principal from it. The connection ends at the token's expiry unless a newer
    /// token (read again from its file) is sent before.
    Jwt {
        /// Where the token comes from.
        token: TokenSource,
    },
}

/// Where a bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// This token.
    Static(String),
    /// The content of this file (trimmed), read at every use: a token refresher that
    /// rewrites the file keeps connections authenticated.
    File(PathBuf),
}

impl TokenSource {
    /// The token now.
    pub fn read(&self) -> Result<String, std::io::Error> {
        match self {
            Self::Static(t) => Ok(t.clone()),
            Self::File(p) => Ok(std::fs::read_to_string(p)?.trim().to_string()),
        }
    }
}

impl AuthConfig {
    /// A bearer token, as the seed's `AuthConfig::jwt_config`. There is no verification key
    /// on the client: the broker verifies.
    ///
    /// ```
    /// let auth = rustmq_client::AuthConfig::jwt_config("eyJhbGciOiJFUzI1NiJ9...".into());
    /// assert!(matches!(auth, rustmq_client::AuthConfig::Jwt { .. }));
    /// ```
    pub fn jwt_config(token: String) -> Self {
        Self::Jwt {
            token: TokenSource::Static(token),
        }
    }

    /// A bearer token read from `path` at every use (for tokens a sidecar refreshes).
    pub fn jwt_from_file(path: impl Into<PathBuf>) -> Self {
        Self::Jwt {
            token: TokenSource::File(path.into()),
        }
    }

    /// Mutual TLS with these files, as the seed's `AuthConfig::mtls_config`.
    ///
    /// ```
    /// use rustmq_client::{AuthConfig, ClientConfig};
    /// let config = ClientConfig {
    ///     auth: Some(AuthConfig::mtls_config(
    ///         "/etc/rustmq/ca.pem".into(),
    ///         "/etc/rustmq/client.pem".into(),
    ///         "/etc/rustmq/client.key".into(),
    ///         Some("rustmq.example.com".into()),
    ///     )),
    ///     ..Default::default()
    /// };
    /// assert_eq!(config.effective_tls().client_key.unwrap().to_str(), Some("/etc/rustmq/client.key"));
    /// ```
    pub fn mtls_config(
        ca_cert: String,
        client_cert: String,
        client_key: String,
        server_name: Option<String>,
    ) -> Self {
        Self::Mtls {
            ca_cert: ca_cert.into(),
            client_cert: client_cert.into(),
            client_key: client_key.into(),
            server_name,
        }
    }
}

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Shown in broker logs.
    pub client_id: Option<String>,
    /// Connecting (including retries) gives up after this.
    pub connect_timeout: Duration,
    /// Each request gives up after this.
    pub request_timeout: Duration,
    /// TLS.
    pub tls: TlsConfig,
    /// Authentication; its files override the matching ones of `tls`.
    pub auth: Option<AuthConfig>,
    /// Largest response frame accepted.
    pub max_frame_bytes: u32,
    /// First reconnect delay; doubles with jitter up to `reconnect_max_delay`.
    pub reconnect_base_delay: Duration,
    /// Largest reconnect delay.
    pub reconnect_max_delay: Duration,
    /// How long building a producer or consumer waits for its topic to show up in the
    /// brokers' metadata before failing with `UnknownTopic` (like Kafka's `max.block.ms`):
    /// a topic just created reaches every broker a moment after the controllers have it.
    pub metadata_max_wait: Duration,
    /// Receive and send buffer asked for the client's UDP socket (8 MiB; the kernel grants
    /// at most `net.core.rmem_max`, 0 keeps its default). A consumer reading at hundreds of
    /// MB/s receives datagrams of up to 64 KB, and the default buffer holds three.
    pub udp_buffer_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            brokers: vec!["127.0.0.1:9092".into()],
            client_id: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            tls: TlsConfig::default(),
            auth: None,
            max_frame_bytes: 64 * 1024 * 1024,
            reconnect_base_delay: Duration::from_millis(50),
            reconnect_max_delay: Duration::from_secs(2),
            metadata_max_wait: Duration::from_secs(10),
            udp_buffer_bytes: rustmq_transport::udp::DEFAULT_UDP_BUFFER_BYTES,
        }
    }
}

impl ClientConfig {
    /// `tls` with what `auth` sets on top.
    pub fn effective_tls(&self) -> TlsConfig {
        let mut tls = self.tls.clone();
        if let Some(AuthConfig::Mtls {
            ca_cert,
            client_cert,
            client_key,
            server_name,
        }) = &self.auth
        {
            tls.ca_cert = Some(ca_cert.clone());
            tls.ca_cert_pem = None;
            tls.client_cert = Some(client_cert.clone());
            tls.client_key = Some(client_key.clone());
            if server_name.is_some() {
                tls.server_name.clone_from(server_name);
            }
        }
        tls
    }

    /// The defaults with TLS from the seed's variables (see [`TlsConfig::from_env`]) and
    /// the brokers from `RUSTMQ_BROKERS` (comma-separated), when set.
    pub fn from_env() -> Self {
        let mut c = Self {
            tls: TlsConfig::from_env(),
            ..Self::default()
        };
        if let Ok(b) = std::env::var("RUSTMQ_BROKERS") {
            let brokers: Vec<String> = b
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if !brokers.is_empty() {
                c.brokers = brokers;
            }
        }
        c
    }
}

/// Acknowledgement level of produced messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckLevel {
    /// Do not wait for the broker to store the batch.
    None,
    /// The leader has the batch durably in its WAL.
    #[default]
    Leader,
    /// Every in-sync replica has it (the leader alone on a single node), and the ISR had at
    /// least `min.insync.replicas` members. The only level that survives any leader change.
    All,
    /// A majority of the partition's replicas (leader included) have it.
    Majority,
    /// This many replicas (leader included) have it.
    Custom(u32),
}

/// How keyless messages are spread over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioner {
    /// Fill one partition's batch, then move on (fewer, larger batches).
    #[default]
    Sticky,
    /// One message per partition in turn.
    RoundRobin,
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Send a partition's batch once it holds this many messages.
    pub batch_size: usize,
    /// ... or this many bytes.
    pub batch_bytes: usize,
    /// ... or once its first message waited this long (linger).
    pub batch_timeout: Duration,
    /// Acknowledgement level.
    pub ack_level: AckLevel,
    /// Largest single message (key + payload + headers).
    pub max_message_size: usize,
    /// Batch compression.
    pub compression: Compression,
    /// Retries of retriable failures.
    pub max_retries: u32,
    /// First retry delay; doubles with jitter.
    pub retry_base_delay: Duration,
    /// Largest retry delay.
    pub retry_max_delay: Duration,
    /// Produce requests in flight at once (each carries many partitions).
    pub max_in_flight: usize,
    /// Requests of one partition in flight at once, 1 to 5, for an idempotent producer
    /// (Kafka's `max.in.flight.requests.per.connection`): its sequence numbers keep the
    /// partition in order (the leader appends a batch that overtook an earlier one once the
    /// earlier one arrived) and retries cannot duplicate. A producer that is not idempotent
    /// always keeps one, so a retry cannot reorder a partition.
    pub max_in_flight_per_partition: usize,
    /// Keyless partitioning.
    pub partitioner: Partitioner,
    /// Producer name (client side only).
    pub producer_id: Option<String>,
    /// Idempotent producer: the broker gives this producer an id, batches carry per-partition
    /// sequence numbers, and partition leaders drop retried duplicates (also across a leader
    /// change) and refuse gaps. With retries this is what makes delivery exactly-once per
    /// partition for one producer session.
    pub idempotent: bool,
    /// Headers added to every message that does not set them.
    pub default_properties: HashMap<String, String>,
    /// With an OpenTelemetry layer installed, add each message's send span as a W3C
    /// `traceparent` header, so a consumer's processing span can link to it
    /// ([`crate::ConsumedMessage::link_to_producer`]). Off by default: 70 bytes per record.
    pub trace_headers: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            batch_bytes: 1024 * 1024,
            batch_timeout: Duration::from_millis(5),
            ack_level: AckLevel::Leader,
            max_message_size: 1024 * 1024,
            compression: Compression::None,
            max_retries: 10,
            retry_base_delay: Duration::from_millis(50),
            retry_max_delay: Duration::from_secs(1),
            max_in_flight: 16,
            max_in_flight_per_partition: 5,
            partitioner: Partitioner::Sticky,
            producer_id: None,
            idempotent: false,
            default_properties: HashMap::new(),
            trace_headers: false,
        }
    }
}

/// Where a consumer starts in a partition without an explicit seek.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// The oldest retained message.
    #[default]
    Earliest,
    /// Only messages produced from now on.
    Latest,
    /// The first message with a timestamp at or after this (ms).
    Timestamp(i64),
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Where to start.
    pub start_position: StartPosition,
    /// Long-poll wait per fetch.
    pub fetch_max_wait: Duration,
    /// Bytes a fetch waits for.
    pub fetch_min_bytes: u32,
    /// Largest fetch response.
    pub fetch_max_bytes: u32,
    /// Largest amount per partition per fetch.
    pub partition_max_bytes: u32,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            start_position: StartPosition::Earliest,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 16 * 1024 * 1024,
            partition_max_bytes: 4 * 1024 * 1024,
        }
    }
}
