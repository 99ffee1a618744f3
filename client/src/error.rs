//! The client's one error type.

use rustmq_protocol::proto::ErrorCode;

/// Everything a client call can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The configuration is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// TLS set-up failed (CA file, server name).
    #[error("tls: {0}")]
    Tls(String),
    /// The broker does not accept this client's identity (its certificate carries none it
    /// can use, or the certificate expired): a new certificate is needed.
    #[error("authentication refused by {broker}: {reason}")]
    Authentication {
        /// Broker address.
        broker: String,
        /// The broker's reason.
        reason: String,
    },
    /// A broker could not be reached or the connection broke.
    #[error("connection to {broker} failed: {reason}")]
    Connection {
        /// Broker address.
        broker: String,
        /// Why.
        reason: String,
    },
    /// No answer within the request timeout.
    #[error("request timed out after {timeout_ms} ms")]
    Timeout {
        /// Timeout.
        timeout_ms: u64,
    },
    /// The broker answered with an error code.
    #[error("broker error {code:?}: {message}")]
    Server {
        /// Typed code.
        code: ErrorCode,
        /// Broker's explanation.
        message: String,
    },
    /// The topic does not exist.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// The partition does not exist.
    #[error("unknown partition {partition} of topic '{topic}'")]
    UnknownPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
    },
    /// A message larger than allowed.
    #[error("message of {size} bytes exceeds the maximum of {max_size} bytes")]
    MessageTooLarge {
        /// Size.
        size: usize,
        /// Limit.
        max_size: usize,
    },
    /// A message is missing something (topic, payload).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// Bytes from the broker did not decode.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The producer or consumer is closed.
    #[error("closed")]
    Closed,
}

impl ClientError {
    /// Whether retrying the same request may succeed.
    ///
    /// ```
    /// use rustmq_client::ClientError;
    /// assert!(ClientError::Timeout { timeout_ms: 5 }.is_retriable());
    /// assert!(!ClientError::UnknownTopic("t".into()).is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connection { .. } | Self::Timeout { .. } => true,
            Self::Server { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    pub(crate) fn from_code(code: ErrorCode, message: String) -> Self {
        Self::Server { code, message }
    }
}
