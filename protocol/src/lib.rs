//! The RustMQ wire protocol, free of I/O.
//!
//! - [`proto`]: the protobuf messages generated from `proto/rustmq.proto`, the protocol's
//!   specification (other SDKs are generated from the same file).
//! - [`frame`]: the fixed frame header that wraps every request and response.
//! - [`batch`]: zero-copy checks of Kafka RecordBatch v2 bytes (size, magic, CRC32C) and the
//!   in-place stamps the broker applies (base offset, leader epoch).
//! - [`records`]: turning application records into batches and back (compression included),
//!   through the `kafka-protocol` codec.
//! - [`rewrite`]: a batch ETL changed, encoded to keep standing for the producer's batch
//!   (its idempotent sequence span).
//! - [`partitioner`]: Kafka's murmur2 key hash, so keys land where Kafka users expect.
//!
//! Nothing here opens a socket or spawns a task: every function is bytes in, values out,
//! which is what lets the decoders be fuzzed.

pub mod batch;
pub mod frame;
pub mod partitioner;
pub mod records;
pub mod rewrite;

/// Protobuf messages of protocol version 1 (package `rustmq.v1`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/rustmq.v1.rs"));
}

pub use frame::{ApiKey, FrameError, FrameHeader};

/// The ALPN protocol id clients and brokers negotiate on QUIC connections.
pub const ALPN: &[u8] = b"rustmq/1";

/// QUIC application close code of a connection the broker ends because its client is not
/// (or no longer) authenticated: no usable identity in its certificate, or the certificate
/// expired. The close reason says which.
pub const CLOSE_UNAUTHENTICATED: u32 = 0x41;

/// Default largest frame body a broker accepts (16 MiB); brokers can configure it.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16 * 1024 * 1024;

/// `ListOffsets` timestamp that asks for the earliest offset still in the log.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// `ListOffsets` timestamp that asks for the next offset to be written.
pub const LATEST_TIMESTAMP: i64 = -1;

impl proto::ErrorCode {
    /// Whether a client may retry the request unchanged and expect it to succeed later.
    ///
    /// ```
    /// use rustmq_protocol::proto::ErrorCode;
    /// assert!(ErrorCode::NotLeader.is_retriable());
    /// assert!(!ErrorCode::UnknownTopic.is_retriable());
    /// ```
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            Self::NotLeader
                | Self::RebalanceInProgress
                | Self::RequestTimedOut
                | Self::Throttled
                | Self::StorageError
                | Self::BrokerNotAvailable
                | Self::WalFull
                | Self::NotCoordinator
                | Self::NotEnoughReplicas
        )
    }
}
