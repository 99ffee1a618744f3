//! Errors of the controller API.

use std::path::PathBuf;
use std::time::Duration;

use crate::metadata::MetadataError;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The change was refused by the state machine.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// This controller is not the Raft leader.
    #[error("this controller is not the leader{}", .leader_hint.map(|l| format!("; leader is controller-{l}")).unwrap_or_default())]
    NotLeader {
        /// The leader, when known.
        leader_hint: Option<u64>,
    },
    /// Raft failed (shutting down, storage error, ...).
    #[error("raft: {0}")]
    Raft(String),
    /// Opening the on-disk state failed.
    #[error("controller storage at {path}: {reason}")]
    Storage {
        /// Path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No leader was elected in time.
    #[error("no controller leader elected within {0:?}")]
    NoLeader(Duration),
    /// A membership change was refused (unknown controller, last voter, change in flight).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The write was not committed in time (this leader cannot reach a majority); it may
    /// still be applied later if it was replicated.
    #[error("the write was not committed within {0:?}: no majority of controllers reachable")]
    CommitTimeout(Duration),
}
