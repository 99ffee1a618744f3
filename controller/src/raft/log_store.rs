//! The Raft log, vote and committed index in a redb database. Every write transaction is
//! committed with redb's default immediate durability (fsync) before openraft is told it is
//! flushed; commits run on blocking threads, never on the async workers.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogId, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableTable, TableDefinition};

use super::{StorageError, TypeConfig, io_error};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Persistent Raft log. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens (or creates) the log database at `path`.
    pub fn open(path: &Path) -> Result<Self, std::io::Error> {
        let init = || -> Result<Database, redb::Error> {
            let db = Database::create(path)?;
            let txn = db.begin_write()?;
            txn.open_table(LOGS)?;
            txn.open_table(META)?;
            txn.commit()?;
            Ok(db)
        };
        let db = init().map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        Ok(Self { db: Arc::new(db) })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let r = || -> Result<Option<T>, Box<dyn std::error::Error>> {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(META)?;
            Ok(match t.get(key)? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            })
        };
        r().map_err(|e| io_error(StorageIOError::read_logs, &*e))
    }

    /// Runs a write transaction (and its fsync) on a blocking thread.
    async fn write<F>(&self, f: F) -> Result<(), BoxError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<(), BoxError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write()?;
            f(&txn)?;
            txn.commit()?;
            Ok(())
        })
        .await?
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        make: fn(openraft::AnyError) -> StorageIOError<u64>,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| io_error(make, &e))?;
        self.write(move |txn| {
            txn.open_table(META)?.insert(key, bytes.as_slice())?;
            Ok(())
        })
        .await
        .map_err(|e| io_error(make, &*e))
    }

    async fn remove_range(
        &self,
        range: impl RangeBounds<u64> + Send + 'static,
    ) -> Result<(), StorageError> {
        self.write(move |txn| {
            txn.open_table(LOGS)?.retain_in(range, |_, _| false)?;
            Ok(())
        })
        .await
        .map_err(|e| io_error(StorageIOError::write_logs, &*e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let r = || -> Result<Vec<Entry<TypeConfig>>, Box<dyn std::error::Error>> {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(LOGS)?;
            let mut out = Vec::new();
            for item in t.range(range)? {
                let (_, v) = item?;
                out.push(serde_json::from_slice(v.value())?);
            }
            Ok(out)
        };
        r().map_err(|e| io_error(StorageIOError::read_logs, &*e))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId<u64>> = self.read_meta("last_purged")?;
        let r = || -> Result<Option<Entry<TypeConfig>>, Box<dyn std::error::Error>> {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(LOGS)?;
            Ok(match t.last()? {
                Some((_, v)) => Some(serde_json::from_slice(v.value())?),
                None => None,
            })
        };
        let last = r().map_err(|e| io_error(StorageIOError::read_logs, &*e))?;
        let last_log_id = last.map(|e| *e.get_log_id()).or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.write_meta("vote", vote, StorageIOError::write_vote)
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.read_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        self.write_meta("committed", &committed, StorageIOError::write_logs)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.read_meta::<Option<LogId<u64>>>("committed")?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded = entries
            .into_iter()
            .map(|e| Ok((e.get_log_id().index, serde_json::to_vec(&e)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>();
        let res = match encoded {
            Ok(encoded) => {
                self.write(move |txn| {
                    let mut t = txn.open_table(LOGS)?;
                    for (index, bytes) in &encoded {
                        t.insert(*index, bytes.as_slice())?;
                    }
                    Ok(())
                })
                .await
            }
            Err(e) => Err(e.into()),
        };
        match res {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_error(StorageIOError::write_logs, &*e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.remove_range(log_id.index..).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.write_meta("last_purged", &log_id, StorageIOError::write_logs)
            .await?;
        self.remove_range(..=log_id.index).await
    }
}
