//! The metadata state machine. State lives in memory; snapshots are MessagePack files
//! written atomically (temp file, fsync, rename) on a blocking thread. On open the latest
//! snapshot is loaded and openraft re-applies the committed log after it.
//!
//! Snapshot file: a 4-byte big-endian length, the snapshot's Raft meta (MessagePack), then
//! the state (MessagePack; exactly the bytes sent to a follower that needs the snapshot).
//! A `snapshot.json` left by an older version is read once and replaced at the next
//! snapshot.

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

struct SnapshotFile {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The JSON snapshot of earlier versions (bytes as a JSON array of numbers).
#[derive(Deserialize)]
struct LegacySnapshotFile {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl SnapshotFile {
    fn encode(&self) -> Result<Vec<u8>, std::io::Error> {
        let meta = rmp_serde::to_vec_named(&self.meta).map_err(std::io::Error::other)?;
        let len = u32::try_from(meta.len()).map_err(std::io::Error::other)?;
        let mut out = Vec::with_capacity(4 + meta.len() + self.data.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    fn decode(mut bytes: Vec<u8>) -> Result<Self, std::io::Error> {
        let len = bytes
            .first_chunk::<4>()
            .map(|l| u32::from_be_bytes(*l) as usize)
            .ok_or_else(|| invalid("snapshot file shorter than its header"))?;
        let meta_end = 4usize
            .checked_add(len)
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| invalid("snapshot meta runs past the end of the file"))?;
        let meta = rmp_serde::from_slice(&bytes[4..meta_end]).map_err(invalid)?;
        let data = bytes.split_off(meta_end);
        Ok(Self { meta, data })
    }

    /// Reads `path` (or the JSON file of an earlier version next to it); None when neither
    /// exists.
    fn read(path: &Path) -> Result<Option<Self>, std::io::Error> {
        match std::fs::read(path) {
            Ok(bytes) => return Self::decode(bytes).map(Some),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        match std::fs::read(path.with_extension("json")) {
            Ok(bytes) => {
                let legacy: LegacySnapshotFile = serde_json::from_slice(&bytes).map_err(invalid)?;
                let applied: Applied = serde_json::from_slice(&legacy.data).map_err(invalid)?;
                Ok(Some(Self {
                    meta: legacy.meta,
                    data: encode_state(&applied)?,
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes to `path` atomically: temp file, fsync, rename, fsync of the directory.
    fn write(&self, path: &Path) -> Result<(), std::io::Error> {
        use std::io::Write;
        let bytes = self.encode()?;
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn encode_state(applied: &Applied) -> Result<Vec<u8>, std::io::Error> {
    rmp_serde::to_vec_named(applied).map_err(std::io::Error::other)
}

fn decode_state(data: &[u8]) -> Result<Applied, std::io::Error> {
    rmp_serde::from_slice(data).map_err(invalid)
}

/// Runs file work on a blocking thread, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, std::io::Error> + Send + 'static,
) -> Result<T, std::io::Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

struct Inner {
    state: RwLock<Applied>,
    snapshot_path: PathBuf,
    published: watch::Sender<Arc<ClusterMetadata>>,
    /// Time to apply one batch of committed entries and publish the result.
    apply_latency: rustmq_transport::metrics::Latency,
}

/// The state machine; clones share state.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

impl StateMachine {
    /// Opens the state machine, loading `dir/snapshot.bin` when present.
    pub fn open(dir: &Path) -> Result<Self, std::io::Error> {
        let snapshot_path = dir.join("snapshot.bin");
        let state = match SnapshotFile::read(&snapshot_path)? {
            Some(file) => decode_state(&file.data)?,
            None => Applied::default(),
        };
        let (published, _) = watch::channel(Arc::new(state.metadata.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                snapshot_path,
                published,
                apply_latency: Default::default(),
            }),
        })
    }

    /// The current metadata.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner.published.borrow().clone()
    }

    /// Time to apply each batch of committed entries (for `/metrics`).
    pub fn apply_latency(&self) -> &rustmq_transport::metrics::Latency {
        &self.inner.apply_latency
    }

    /// A receiver that sees every new metadata version.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterMetadata>> {
        self.inner.published.subscribe()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // The metadata's maps are persistent: this copy is cheap and frees the lock at once.
        let applied = self.inner.state.read().clone();
        let (last_applied, membership) = (applied.last_applied, applied.membership.clone());
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}", l.leader_id.term, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let path = self.inner.snapshot_path.clone();
        let file_meta = meta.clone();
        let data = blocking(move || {
            let file = SnapshotFile {
                meta: file_meta,
                data: encode_state(&applied)?,
            };
            file.write(&path)?;
            Ok(file.data)
        })
        .await
        .map_err(|e| io_error(StorageIOError::write_state_machine, &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
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
        let started = std::time::Instant::now();
        let span = tracing::info_span!("rustmq.controller.apply", entries = tracing::field::Empty);
        let _entered = span.enter();
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
        self.inner.apply_latency.since(started);
        span.record("entries", results.len());
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
        let file = SnapshotFile {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let path = self.inner.snapshot_path.clone();
        let applied = blocking(move || {
            let applied = decode_state(&file.data)?;
            file.write(&path)?;
            Ok(applied)
        })
        .await
        .map_err(|e| {
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
        let path = self.inner.snapshot_path.clone();
        let file = blocking(move || SnapshotFile::read(&path))
            .await
            .map_err(|e| io_error(StorageIOError::read_state_machine, &e))?;
        Ok(file.map(|file| Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(file.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Command;

    fn applied() -> Applied {
        let mut a = Applied::default();
        a.metadata.apply(Command::SetClusterId { id: "c1".into() });
        a.last_applied = Some(LogId::new(openraft::CommittedLeaderId::new(3, 1), 42));
        a
    }

    fn meta() -> SnapshotMeta<u64, BasicNode> {
        SnapshotMeta {
            last_log_id: applied().last_applied,
            last_membership: StoredMembership::default(),
            snapshot_id: "3-42".into(),
        }
    }

    #[test]
    fn a_snapshot_file_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.bin");
        let file = SnapshotFile {
            meta: meta(),
            data: encode_state(&applied()).unwrap(),
        };
        file.write(&path).unwrap();
        let back = SnapshotFile::read(&path).unwrap().unwrap();
        assert_eq!(back.meta, file.meta);
        let state = decode_state(&back.data).unwrap();
        assert_eq!(state.metadata.cluster_id, "c1");
        assert_eq!(state.last_applied, applied().last_applied);
        // Binary, not a JSON array of numbers: the state is a few dozen bytes.
        assert!(back.data.len() < 400, "{} bytes", back.data.len());
    }

    #[test]
    fn a_json_snapshot_of_an_earlier_version_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = serde_json::json!({
            "meta": meta(),
            "data": serde_json::to_vec(&applied()).unwrap(),
        });
        std::fs::write(
            dir.path().join("snapshot.json"),
            serde_json::to_vec(&legacy).unwrap(),
        )
        .unwrap();
        let sm = StateMachine::open(dir.path()).unwrap();
        assert_eq!(sm.metadata().cluster_id, "c1");
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.bin");
        for bytes in [vec![0, 0], vec![0, 0, 1, 0, 9, 9], vec![0, 0, 0, 1, 0xc1]] {
            std::fs::write(&path, bytes).unwrap();
            assert!(StateMachine::open(dir.path()).is_err());
        }
    }
}
