//! RustMQ controller: cluster metadata replicated with Raft (openraft), and the admin REST API.
//!
//! The controller owns topics, partition assignments and broker registrations. Every change
//! is a [`metadata::Command`] committed through Raft and applied by the state machine; there is
//! no other write path. In dev mode one voter runs inside the broker process; a production
//! cluster runs three or five.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rustmq_controller::ControllerError> {
//! use rustmq_controller::{Controller, ControllerOptions, metadata::TopicConfig};
//! let c = Controller::open(ControllerOptions::single_node("/tmp/ctl".into())).await?;
//! c.create_topic("orders", 6, 1, TopicConfig::default()).await?;
//! assert!(c.metadata().topics.contains_key("orders"));
//! # Ok(()) }
//! ```

pub mod api;
pub mod balance;
pub mod catalog;
pub mod config;
mod error;
#[cfg(feature = "test-support")]
pub mod local;
pub mod metadata;
mod node;
mod options;
pub mod raft;
pub mod rpc;

pub use error::ControllerError;
pub use node::{Controller, RaftStatus, RebalanceStatus, ReplicaService};
pub use options::{BROKER_NODE_BASE, ControllerOptions};
