//! What RustMQ's processes share below their own logic.
//!
//! Owns: reading from QUIC streams ([`quic`]), TLS set-up and the development CA ([`tls`]), HTTPS for the admin API ([`https`]),
//! logs with a filter changeable at runtime ([`logging`]), trace export and context ([`telemetry`]), metric plumbing ([`metrics`]), the internal QUIC RPC transport that carries whatever
//! messages its caller defines
//! ([`rpc`]), process bootstrap ([`process`]) request rate limiting ([`ratelimit`]) and optional deadlines in `select!` ([`time`]); with the
//! `test-support` feature, loopback ports for tests that restart nodes (`testing`).
//! Never: knows frames, topics, metadata or Raft (`rustmq-protocol` and the controller do).

pub mod https;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod quic;
pub mod ratelimit;
pub mod rpc;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;
pub mod tls;
pub mod udp;
