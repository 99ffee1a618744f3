//! The transport RustMQ's processes share below the protocol. Owns: reading from QUIC
//! streams. Never: knows frames, messages or Raft (`rustmq-protocol` and the controller
//! do).

pub mod quic;
