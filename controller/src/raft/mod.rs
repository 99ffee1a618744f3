//! openraft wiring: the type config, the persistent log (redb), the state machine with
//! file snapshots, and the network. The state machine is the only path by which metadata
//! changes, on one node or five.

// openraft's storage traits fix the (large) `StorageError` type; boxing it is not ours to do.
#![allow(clippy::result_large_err)]

mod log_store;
mod network;
mod state_machine;

use std::io::Cursor;

use openraft::BasicNode;

pub use log_store::LogStore;
pub use network::Network;
pub use state_machine::StateMachine;

use crate::metadata::{Command, CommandResult};

openraft::declare_raft_types!(
    /// Raft types of the RustMQ controllers.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The controller's Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<u64>;

fn io_error(
    make: fn(openraft::AnyError) -> openraft::StorageIOError<u64>,
    e: &(dyn std::error::Error + 'static),
) -> StorageError {
    StorageError::from(make(openraft::AnyError::from_dyn(e, None)))
}
