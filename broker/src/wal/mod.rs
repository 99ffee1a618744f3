//! The broker's single write-ahead log, shared by all partitions.
//!
//! Owns: segment files under `wal/`, their CRC'd entries, group commit, recovery, and deleting
//! a segment once no partition needs it. Never: assigns offsets or decides visibility; those
//! belong to the partition log, which the writer calls back once an append is durable.
//!
//! Segment layout (format 2): a 16-byte header (`RMQWAL\0\x02`, then the segment id), then
//! entries (big endian): `u32 len | u32 crc32c | u64 topic_id | u32 partition |
//! i64 base_offset | i32 leader_epoch | batch`, where `len` counts everything after the CRC
//! and the CRC covers the segment id followed by those bytes. Format 1 (no header, CRC of
//! the bytes alone) is still read.
//!
//! A segment nobody needs any more becomes a spare (up to `recycle_segments` of them) and
//! the next roll renames it and overwrites it from the start: appends then rewrite blocks
//! that already exist, so `fdatasync` flushes data and changes no file-system metadata.
//! Old entries fail their CRC (it covers another segment id), and the seal log (`seal`)
//! records where each finished segment's own entries end, so recovery tells the end of a
//! segment from damage to acknowledged data, which it reports (`Wal::damage`).
//!
//! One writer thread drains every pending append, writes them with one `write` and one
//! `fdatasync`, then completes them all: this is what makes fsync'd throughput high. A
//! segment whose write or `fdatasync` failed is never written or synced again; when an
//! `fdatasync` fails after entries were acknowledged without it, or a failed write dropped
//! batches a leader had already handed its followers, the WAL stops for good
//! (`Wal::failed`).

pub mod io;
mod seal;
mod segment;
mod writer;

use writer::Writer;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

pub use io::IoBackend;
pub use segment::{Damage, ENTRY_HEADER_LEN, RecoveredEntry};

/// Why a WAL operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    /// Disk I/O failed (full disk, I/O error). Retriable once the cause is fixed.
    #[error("wal i/o error: {0}")]
    Io(String),
    /// The WAL is shutting down.
    #[error("wal is closed")]
    Closed,
    /// The partition was truncated after this append was queued (an earlier write failed).
    #[error("append discarded: an earlier write to this partition failed")]
    Discarded,
    /// An `fdatasync` failed after data had been acknowledged (`fsync_on_write = false`):
    /// the kernel may have dropped pages it reported written, so this process can no longer
    /// tell what is on disk; or a write failed whose batches followers already had. Restart
    /// the broker: recovery reads what really is, and leadership moves to a new epoch.
    #[error("wal stopped: {0}; restart the broker")]
    Failed(String),
}

impl From<std::io::Error> for WalError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

/// Where an entry's batch sits on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalLocation {
    /// Segment id.
    pub segment: u64,
    /// File offset of the batch (after the entry header).
    pub offset: u64,
    /// Batch length.
    pub len: u32,
}

/// Who is told when an append is durable: the partition log.
pub trait AppendTarget: Send + Sync + 'static {
    /// Whether appends queued under `generation` are still wanted.
    fn is_current(&self, generation: u64) -> bool;
    /// The batch at `base_offset` is durable at `location`.
    fn on_durable(
        &self,
        generation: u64,
        base_offset: i64,
        last_offset: i64,
        location: WalLocation,
    );
    /// Writing the batch failed: drop everything not yet durable. Returns true when other
    /// replicas already had some of what was dropped (a leader hands followers batches
    /// before its own fsync): the WAL then stops as after a failed fdatasync, so the broker
    /// restarts and the partition's leadership moves to a new epoch instead of this log
    /// writing different batches at offsets a follower holds.
    fn on_failed(&self, generation: u64) -> bool;
}

/// One batch to append.
pub struct Append {
    /// Topic id (from the controller; never reused).
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// Stamped base offset.
    pub base_offset: i64,
    /// Last offset in the batch.
    pub last_offset: i64,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// The stamped batch.
    pub batch: Bytes,
    /// Partition generation the append was queued under.
    pub generation: u64,
    /// Told about durability.
    pub target: Arc<dyn AppendTarget>,
    /// Completed when durable (or failed).
    pub reply: Option<oneshot::Sender<Result<(), WalError>>>,
    /// The span the append was made in (a produce request's, a follower's fetch): the group
    /// commit that writes it is traced under the first append's span and linked to the rest.
    pub span: tracing::Span,
}

/// WAL settings.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Directory of segment files.
    pub dir: PathBuf,
    /// fdatasync every group before completing it.
    pub fsync_on_write: bool,
    /// Roll past this size.
    pub segment_size_bytes: u64,
    /// Most bytes per group commit.
    pub max_group_bytes: usize,
    /// Without fsync_on_write: fdatasync at least this often.
    pub flush_interval: Duration,
    /// Largest entry recovery accepts (anything larger is corruption).
    pub max_entry_bytes: u32,
    /// Segments no longer needed that are kept to be written over (0 = delete them).
    pub recycle_segments: usize,
    /// How segments are written (resolved when the writer starts).
    pub io_backend: IoBackend,
}

/// Counters for health and metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Group commits done.
    pub groups: AtomicU64,
    /// Entries written.
    pub entries: AtomicU64,
    /// Bytes written.
    pub bytes: AtomicU64,
    /// fdatasync calls.
    pub syncs: AtomicU64,
    /// Failed writes.
    pub write_errors: AtomicU64,
    /// Segment files deleted.
    pub segments_deleted: AtomicU64,
    /// Segment files kept as spares instead of being deleted.
    pub segments_recycled: AtomicU64,
    /// fdatasync calls that failed.
    pub sync_failures: AtomicU64,
    /// Segments given up after a failed write or fdatasync (never written or synced again).
    pub segments_abandoned: AtomicU64,
    /// Damaged entries (or runs of bytes) found by recovery in acknowledged data.
    pub damaged_entries: AtomicU64,
    /// Time to write one group and make it durable (its fdatasync included when
    /// `fsync_on_write`).
    pub group_commit_latency: rustmq_transport::metrics::Latency,
    /// Time of one fdatasync.
    pub fsync_latency: rustmq_transport::metrics::Latency,
    /// Time an append waited in the writer's queue: submitted to its group's write begun.
    /// Grows when the writer thread is behind (or starved of CPU), while fsync stays short.
    pub queue_wait: rustmq_transport::metrics::Latency,
}

/// A segment file kept to be written over.
struct Spare {
    /// The id it had (its file name).
    id: u64,
    /// The read handle of its segment (None when found at start).
    readers: Option<Arc<File>>,
}

struct SegmentMeta {
    path: PathBuf,
    reader: Arc<File>,
    live: u64,
    /// Bytes in use (header and entries; a recycled file is longer).
    size: u64,
    /// Format 2: may become a spare.
    recyclable: bool,
}

struct Shared {
    dir: PathBuf,
    segments: Mutex<BTreeMap<u64, SegmentMeta>>,
    /// Spare files (by the id they had), oldest first, with the read handle readers of the
    /// old segment may still hold. Locked after `segments`, never before.
    spares: Mutex<Vec<Spare>>,
    recycle: usize,
    /// Bytes in use in every segment file (what `wal.capacity_bytes` bounds; spares and
    /// the unused rest of a recycled file are not counted).
    disk_bytes: AtomicU64,
    /// Batch bytes submitted and not yet taken by the writer (what `wal.max_queued_bytes`
    /// bounds).
    queued_bytes: AtomicU64,
    active: AtomicU64,
    stats: WalStats,
    last_error: Mutex<Option<String>>,
    /// Set once an fdatasync failed where data was already acknowledged, or a failed write
    /// dropped batches followers had: the WAL refuses every append from then on.
    failed: watch::Sender<Option<String>>,
    /// What recovery found damaged at start.
    damage: Vec<Damage>,
    /// The backend the writer uses (resolved when it starts).
    backend: Mutex<IoBackend>,
}

impl Shared {
    fn delete_if_unused(&self, segments: &mut BTreeMap<u64, SegmentMeta>, id: u64) {
        if id == self.active.load(Ordering::Acquire) {
            return;
        }
        if let Some(m) = segments.get(&id)
            && m.live == 0
        {
            let mut spares = self.spares.lock();
            let done = if m.recyclable && spares.len() < self.recycle {
                // No directory fsync: if the rename is lost in a crash, recovery finds the
                // segment again with entries nobody needs, as it would an unlink lost.
                std::fs::rename(&m.path, segment::spare_path(&self.dir, id)).map(|()| {
                    spares.push(Spare {
                        id,
                        readers: Some(m.reader.clone()),
                    });
                    self.stats.segments_recycled.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(segment = id, "wal segment kept as a spare");
                })
            } else {
                std::fs::remove_file(&m.path).map(|()| {
                    self.stats.segments_deleted.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(segment = id, "deleted wal segment");
                })
            };
            match done {
                Ok(()) => {
                    self.disk_bytes.fetch_sub(m.size, Ordering::Relaxed);
                    segments.remove(&id);
                }
                Err(e) => tracing::warn!(segment = id, error = %e, "cannot delete wal segment"),
            }
        }
    }

    /// Makes segment `id`, just created with only its header, the one being written.
    fn activate(&self, segments: &mut BTreeMap<u64, SegmentMeta>, id: u64, reader: File) {
        let size = segment::FILE_HEADER_LEN;
        segments.insert(
            id,
            SegmentMeta {
                path: segment::path(&self.dir, id),
                reader: Arc::new(reader),
                live: 0,
                size,
                recyclable: true,
            },
        );
        self.disk_bytes.fetch_add(size, Ordering::Relaxed);
        self.active.store(id, Ordering::Release);
    }

    /// A spare to write the next segment into, if any: the oldest that no read of its old
    /// segment still has open. A read takes its handle under the `segments` lock, and the
    /// segment left that map before becoming a spare, so once the count is down to this
    /// one it stays there: nobody can read old entries while they are written over.
    fn take_spare(&self) -> Option<PathBuf> {
        let mut spares = self.spares.lock();
        let free = spares
            .iter()
            .position(|s| s.readers.as_ref().is_none_or(|r| Arc::strong_count(r) == 1))?;
        Some(segment::spare_path(&self.dir, spares.remove(free).id))
    }
}

enum Command {
    /// An append and when it was submitted.
    Append(Append, Instant),
    Shutdown(oneshot::Sender<()>),
}

/// The write-ahead log.
pub struct Wal {
    tx: Sender<Command>,
    shared: Arc<Shared>,
}

/// Result of scanning the segments at start.
pub struct Recovered {
    opts: WalOptions,
    shared: Arc<Shared>,
    next_segment: u64,
    /// Where each segment on disk ends (recorded seals, else where its scan ended).
    seals: BTreeMap<u64, u64>,
    /// Bytes cut off format-1 segments at a torn or corrupt entry (in format 2, where a
    /// torn write cannot be told from a recycled file's old bytes, nothing is cut or counted).
    pub truncated_bytes: u64,
}

impl Wal {
    /// Scans every segment in order and calls `visit` for each intact entry. Damage to
    /// acknowledged data (see [`Damage`]) is skipped, logged at error and reported by
    /// [`Wal::damage`]; the end of the segment written when the process died (a torn write,
    /// or a recycled file's old bytes) is not damage. A format-1 segment's torn tail is cut
    /// off. Call [`Recovered::start`] afterwards.
    pub fn recover(
        opts: WalOptions,
        mut visit: impl FnMut(RecoveredEntry),
    ) -> Result<Recovered, WalError> {
        std::fs::create_dir_all(&opts.dir)?;
        let ids = segment::list(&opts.dir)?;
        let recorded = seal::read(&opts.dir)?;
        let mut segments = BTreeMap::new();
        let mut seals = BTreeMap::new();
        let mut damage = Vec::new();
        let mut truncated_bytes = 0;
        let mut disk_bytes = 0;
        for &id in &ids {
            let path = segment::path(&opts.dir, id);
            let sealed = recorded.get(&id).copied();
            let end = segment::scan(&path, id, opts.max_entry_bytes, sealed, &mut visit)?;
            if !end.format2 {
                truncated_bytes += end.cut;
            }
            seals.insert(id, end.end);
            damage.extend(end.damage);
            let reader = Arc::new(File::open(&path)?);
            disk_bytes += end.end;
            segments.insert(
                id,
                SegmentMeta {
                    path,
                    reader,
                    live: 0,
                    size: end.end,
                    recyclable: end.format2,
                },
            );
        }
        // Spares left by the previous run: kept if they are format 2 and wanted, else
        // deleted. New ids stay above theirs even when no segment file is left: an old
        // entry must never carry the id of the segment written over it.
        let mut spares = Vec::new();
        let mut max_spare = None;
        for id in segment::list_spares(&opts.dir)? {
            let p = segment::spare_path(&opts.dir, id);
            max_spare = max_spare.max(Some(id));
            if spares.len() < opts.recycle_segments && segment::is_format2(&p) {
                spares.push(Spare { id, readers: None });
            } else {
                std::fs::remove_file(&p)?;
            }
        }
        let next_segment = ids
            .last()
            .copied()
            .max(max_spare)
            .map(|l| l + 1)
            .unwrap_or(0);
        let stats = WalStats::default();
        stats
            .damaged_entries
            .store(damage.len() as u64, Ordering::Relaxed);
        Ok(Recovered {
            shared: Arc::new(Shared {
                dir: opts.dir.clone(),
                segments: Mutex::new(segments),
                spares: Mutex::new(spares),
                recycle: opts.recycle_segments,
                disk_bytes: AtomicU64::new(disk_bytes),
                queued_bytes: AtomicU64::new(0),
                active: AtomicU64::new(next_segment),
                stats,
                last_error: Mutex::new(None),
                failed: watch::Sender::new(None),
                damage,
                backend: Mutex::new(opts.io_backend),
            }),
            opts,
            next_segment,
            seals,
            truncated_bytes,
        })
    }

    /// Queues an append. Completion is reported through `append.reply` and the target.
    pub fn submit(&self, append: Append) -> Result<(), WalError> {
        let len = append.batch.len() as u64;
        self.shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.tx
            .send(Command::Append(append, Instant::now()))
            .map_err(|_| {
                self.shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                WalError::Closed
            })
    }

    /// Batch bytes submitted and not yet taken by the writer: grows while the disk stalls.
    pub fn queued_bytes(&self) -> u64 {
        self.shared.queued_bytes.load(Ordering::Relaxed)
    }

    /// Reads a batch back from disk.
    pub async fn read(&self, loc: WalLocation) -> Result<Bytes, WalError> {
        let file = {
            let segs = self.shared.segments.lock();
            segs.get(&loc.segment)
                .map(|m| m.reader.clone())
                .ok_or_else(|| WalError::Io(format!("wal segment {} is gone", loc.segment)))?
        };
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut buf, loc.offset)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| WalError::Io(e.to_string()))?
    }

    /// Reads batches back from disk into `buf`, one after another from its start in `locs`'
    /// order (`locs[i].len` bytes each), on one blocking thread. An upload reads hundreds of
    /// small batches: a blocking task and a fresh zeroed buffer each cost more than the read.
    /// `buf` is meant to be reused: it keeps its largest length (bytes past the batches are
    /// stale), so a reuse zeroes nothing and its pages stay mapped.
    pub async fn read_many(
        &self,
        locs: Vec<WalLocation>,
        mut buf: Vec<u8>,
    ) -> Result<Vec<u8>, WalError> {
        let files = {
            let segs = self.shared.segments.lock();
            locs.iter()
                .map(|loc| {
                    segs.get(&loc.segment)
                        .map(|m| (m.reader.clone(), *loc))
                        .ok_or_else(|| WalError::Io(format!("wal segment {} is gone", loc.segment)))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        tokio::task::spawn_blocking(move || {
            let total: usize = files.iter().map(|(_, l)| l.len as usize).sum();
            if buf.len() < total {
                buf.resize(total, 0);
            }
            let mut at = 0;
            for (file, loc) in &files {
                let end = at + loc.len as usize;
                file.read_exact_at(&mut buf[at..end], loc.offset)?;
                at = end;
            }
            Ok(buf)
        })
        .await
        .map_err(|e| WalError::Io(e.to_string()))?
    }

    /// A partition no longer needs the entry at `loc` (retention, topic deletion).
    pub fn release(&self, loc: WalLocation) {
        let mut segs = self.shared.segments.lock();
        if let Some(m) = segs.get_mut(&loc.segment) {
            m.live = m.live.saturating_sub(1);
        }
        self.shared.delete_if_unused(&mut segs, loc.segment);
    }

    /// The backend the writer uses (`Std` or `Uring`; never `Auto`).
    pub fn io_backend(&self) -> IoBackend {
        *self.shared.backend.lock()
    }

    /// Counters.
    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// Bytes of all segment files on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::Relaxed)
    }

    /// Segment files currently on disk.
    pub fn segment_count(&self) -> usize {
        self.shared.segments.lock().len()
    }

    /// Spare segment files waiting to be written over.
    pub fn spare_count(&self) -> usize {
        self.shared.spares.lock().len()
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The last write error, if the most recent write failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().clone()
    }

    /// Why the WAL stopped for good (an `fdatasync` failed after data was acknowledged, or
    /// a write failed whose batches followers already had), if it has: every append is
    /// refused and the broker must restart. Watch it to stop the process.
    ///
    /// ```no_run
    /// # async fn f(wal: &rustmq_broker::wal::Wal) {
    /// let mut failed = wal.failed();
    /// let why = failed.wait_for(|f| f.is_some()).await;
    /// # }
    /// ```
    pub fn failed(&self) -> watch::Receiver<Option<String>> {
        self.shared.failed.subscribe()
    }

    /// Damage to acknowledged data that recovery found at start (empty when none).
    pub fn damage(&self) -> &[Damage] {
        &self.shared.damage
    }

    /// Stops the writer after it has written everything queued before this call.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Recovered {
    /// Starts the writer. `live` counts, per segment, the recovered entries partitions kept;
    /// segments nobody needs are deleted now.
    pub fn start(self, live: HashMap<u64, u64>) -> Result<Wal, WalError> {
        {
            let mut segs = self.shared.segments.lock();
            let ids: Vec<u64> = segs.keys().copied().collect();
            for id in ids {
                if let Some(m) = segs.get_mut(&id) {
                    m.live = live.get(&id).copied().unwrap_or(0);
                }
                self.shared.delete_if_unused(&mut segs, id);
            }
        }
        // Seal every segment still here where recovery found it ends, so that later damage
        // in the one written when the process died is told from its end too.
        let mut seals = self.seals;
        {
            let segs = self.shared.segments.lock();
            seals.retain(|id, _| segs.contains_key(id));
        }
        let seals = seal::SealLog::rewrite(&self.opts.dir, &seals)?;
        let mut opts = self.opts;
        let wanted = opts.io_backend;
        opts.io_backend = io::resolve(wanted, &opts.dir).map_err(|e| {
            WalError::Io(format!(
                "wal.io_backend = uring cannot work in {}: {e}",
                opts.dir.display()
            ))
        })?;
        tracing::info!(wanted = ?wanted, backend = ?opts.io_backend, "wal writer backend");
        *self.shared.backend.lock() = opts.io_backend;
        let writer = Writer::open(opts, self.shared.clone(), self.next_segment, seals)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Wal {
            tx,
            shared: self.shared,
        })
    }
}

#[cfg(test)]
mod tests;
