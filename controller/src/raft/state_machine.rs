//! The metadata state machine. State lives in memory; snapshots are JSON files written
//! atomically (temp file, fsync, rename). On open the latest snapshot is loaded and openraft
//! re-applies the committed log after it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{StorageError, TypeConfig, io_error};
use crate::metadata::{ClusterMetadata, CommandResult};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Applied {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    metadata: ClusterMetadata,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

struct Inner {
    state: RwLock<Applied>,
    snapshot_path: PathBuf,
    published: watch::Sender<Arc<ClusterMetadata>>,
}

/// The state machine; clones share state.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

impl StateMachine {
    /// Opens the state machine, loading `dir/snapshot.json` when present.
    pub fn open(dir: &Path) -> Result<Self, std::io::Error> {
        let snapshot_path = dir.join("snapshot.json");
        let state = match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let file: SnapshotFile = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                serde_json::from_slice(&file.data)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Applied::default(),
            Err(e) => return Err(e),
        };
        let (published, _) = watch::channel(Arc::new(state.metadata.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                snapshot_path,
                published,
            }),
        })
    }

    /// The current metadata.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner.published.borrow().clone()
    }

    /// A receiver that sees every new metadata version.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterMetadata>> {
        self.inner.published.subscribe()
    }

    fn write_snapshot(&self, file: &SnapshotFile) -> Result<(), std::io::Error> {
        let bytes = serde_json::to_vec(file).map_err(std::io::Error::other)?;
        let tmp = self.inner.snapshot_path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.inner.snapshot_path)?;
        if let Some(dir) = self.inner.snapshot_path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, membership) = {
            let s = self.inner.state.read();
            let data = serde_json::to_vec(&*s)
                .map_err(|e| io_error(StorageIOError::read_state_machine, &e))?;
            (data, s.last_applied, s.membership.clone())
        };
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}", l.leader_id.term, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        self.write_snapshot(&file)
            .map_err(|e| io_error(StorageIOError::write_state_machine, &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(file.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError> {
        let s = self.inner.state.read();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let snapshot = {
            let mut s = self.inner.state.write();
            for entry in entries {
                s.last_applied = Some(entry.log_id);
                results.push(match entry.payload {
                    EntryPayload::Blank => CommandResult::Ok,
                    EntryPayload::Normal(cmd) => s.metadata.apply(cmd),
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(entry.log_id), m);
                        CommandResult::Ok
                    }
                });
            }
            Arc::new(s.metadata.clone())
        };
        self.inner.published.send_replace(snapshot);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let applied: Applied = serde_json::from_slice(&data).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                openraft::AnyError::new(&e),
            ))
        })?;
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        self.write_snapshot(&file).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                openraft::AnyError::new(&e),
            ))
        })?;
        let published = Arc::new(applied.metadata.clone());
        *self.inner.state.write() = applied;
        self.inner.published.send_replace(published);
        tracing::info!(
            snapshot = %meta.snapshot_id,
            last_log = ?meta.last_log_id,
            "installed a snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        match std::fs::read(&self.inner.snapshot_path) {
            Ok(bytes) => {
                let file: SnapshotFile = serde_json::from_slice(&bytes)
                    .map_err(|e| io_error(StorageIOError::read_state_machine, &e))?;
                Ok(Some(Snapshot {
                    meta: file.meta,
                    snapshot: Box::new(Cursor::new(file.data)),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(StorageIOError::read_state_machine, &e)),
        }
    }
}
