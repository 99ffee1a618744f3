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
//! `fdatasync` fails after entries were acknowledged without it, the WAL stops for good
//! (`Wal::failed`).

mod seal;
mod segment;

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
    /// tell what is on disk. Restart the broker: recovery reads what really is.
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
    /// Writing the batch failed: drop everything not yet durable.
    fn on_failed(&self, generation: u64);
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
    /// Set once an fdatasync failed where data was already acknowledged: the WAL refuses
    /// every append from then on.
    failed: watch::Sender<Option<String>>,
    /// What recovery found damaged at start.
    damage: Vec<Damage>,
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
    Append(Append),
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
        self.tx.send(Command::Append(append)).map_err(|_| {
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

    /// A partition no longer needs the entry at `loc` (retention, topic deletion).
    pub fn release(&self, loc: WalLocation) {
        let mut segs = self.shared.segments.lock();
        if let Some(m) = segs.get_mut(&loc.segment) {
            m.live = m.live.saturating_sub(1);
        }
        self.shared.delete_if_unused(&mut segs, loc.segment);
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

    /// Why the WAL stopped for good (an `fdatasync` failed after data was acknowledged),
    /// if it has: every append is refused and the broker must restart. Watch it to stop
    /// the process.
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
        let writer = Writer::open(self.opts, self.shared.clone(), self.next_segment, seals)?;
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

struct Writer {
    opts: WalOptions,
    shared: Arc<Shared>,
    id: u64,
    file: File,
    /// End of the active segment's entries that were written whole.
    size: u64,
    /// Written since the last fdatasync.
    dirty: bool,
    /// A write or fdatasync of the active segment failed: the next group rolls first, and
    /// the file is never written or synced again (after a failed fdatasync the kernel may
    /// have dropped dirty pages and a second one can report success without them).
    abandoned: bool,
    seals: seal::SealLog,
    buf: Vec<u8>,
}

impl Writer {
    fn open(
        opts: WalOptions,
        shared: Arc<Shared>,
        id: u64,
        seals: seal::SealLog,
    ) -> Result<Self, WalError> {
        let (file, reader) = Self::create(&opts.dir, &shared, id)?;
        shared.activate(&mut shared.segments.lock(), id, reader);
        Ok(Self {
            opts,
            shared,
            id,
            file,
            size: segment::FILE_HEADER_LEN,
            dirty: true,
            abandoned: false,
            seals,
            buf: Vec::new(),
        })
    }

    /// Segment `id` in a spare when there is one, else in a new file.
    fn create(dir: &Path, shared: &Shared, id: u64) -> Result<(File, File), WalError> {
        if let Some(spare) = shared.take_spare() {
            match segment::create(dir, id, Some(&spare)) {
                Ok(f) => return Ok(f),
                Err(e) => {
                    tracing::warn!(spare = %spare.display(), error = %e, "cannot reuse wal spare; creating a new segment");
                    let _ = std::fs::remove_file(&spare);
                    let _ = std::fs::remove_file(segment::path(dir, id));
                }
            }
        }
        segment::create(dir, id, None).inspect_err(|_| {
            // A half-made file would keep the next attempt at this id from creating it.
            let _ = std::fs::remove_file(segment::path(dir, id));
        })
    }

    /// Seals the active segment where its entries end (synced first, unless abandoned) and
    /// starts the next one.
    fn roll(&mut self) -> Result<(), WalError> {
        if self.dirty && !self.abandoned {
            self.sync()?;
        }
        self.seals.seal(self.id, self.size)?;
        let next = self.id + 1;
        let (file, reader) = Self::create(&self.opts.dir, &self.shared, next)?;
        let old = self.id;
        {
            let mut segs = self.shared.segments.lock();
            self.shared.activate(&mut segs, next, reader);
            self.shared.delete_if_unused(&mut segs, old);
        }
        self.id = next;
        self.file = file;
        self.size = segment::FILE_HEADER_LEN;
        self.dirty = true;
        self.abandoned = false;
        Ok(())
    }

    fn run(mut self, rx: Receiver<Command>) {
        let mut last_sync = Instant::now();
        loop {
            let first = if self.opts.fsync_on_write || !self.dirty {
                match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                }
            } else {
                let wait = self.opts.flush_interval.saturating_sub(last_sync.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        self.flush();
                        last_sync = Instant::now();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut group = Vec::new();
            let mut group_bytes = 0usize;
            let mut shutdown = None;
            match first {
                Command::Append(a) => {
                    group_bytes += a.batch.len() + ENTRY_HEADER_LEN;
                    group.push(a);
                }
                Command::Shutdown(tx) => shutdown = Some(tx),
            }
            while shutdown.is_none() && group_bytes < self.opts.max_group_bytes {
                match rx.try_recv() {
                    Ok(Command::Append(a)) => {
                        group_bytes += a.batch.len() + ENTRY_HEADER_LEN;
                        group.push(a);
                    }
                    Ok(Command::Shutdown(tx)) => shutdown = Some(tx),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            }
            if !group.is_empty() {
                let taken: usize = group.iter().map(|a| a.batch.len()).sum();
                self.shared
                    .queued_bytes
                    .fetch_sub(taken as u64, Ordering::Relaxed);
                self.commit(group);
            }
            if !self.opts.fsync_on_write && last_sync.elapsed() >= self.opts.flush_interval {
                self.flush();
                last_sync = Instant::now();
            }
            if let Some(tx) = shutdown {
                self.close();
                let _ = tx.send(());
                return;
            }
        }
        self.close();
    }

    /// fdatasync of the active segment, counted.
    fn sync(&mut self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let synced = self.file.sync_data();
        self.shared.stats.fsync_latency.since(started);
        match synced {
            Ok(()) => {
                self.dirty = false;
                self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.shared
                    .stats
                    .sync_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(segment = self.id, error = %e, "wal fdatasync failed");
                Err(e)
            }
        }
    }

    /// The periodic fdatasync (and the last one). With `fsync_on_write` nothing
    /// acknowledged is ever dirty (only a new segment's header), so a failure just abandons
    /// the segment; without it, acknowledged entries may be gone and the WAL stops.
    fn flush(&mut self) {
        if !self.dirty || self.abandoned {
            return;
        }
        if let Err(e) = self.sync() {
            if self.opts.fsync_on_write {
                self.abandon();
            } else {
                self.stop(&e);
            }
        }
    }

    /// Gives up the active segment after a failed write or fdatasync: the next group rolls
    /// into a fresh one. Entries acknowledged without fsync are synced first, or the WAL
    /// stops.
    fn abandon(&mut self) {
        if self.abandoned {
            return;
        }
        self.shared
            .stats
            .segments_abandoned
            .fetch_add(1, Ordering::Relaxed);
        if self.dirty
            && !self.opts.fsync_on_write
            && self.size > segment::FILE_HEADER_LEN
            && let Err(e) = self.sync()
        {
            self.stop(&e);
        }
        self.dirty = false;
        self.abandoned = true;
    }

    /// Stops the WAL for good: acknowledged entries may not be on disk, and only a restart
    /// (recovery reading what is) can tell which.
    fn stop(&mut self, e: &std::io::Error) {
        let why = format!("fdatasync of wal segment {} failed: {e}", self.id);
        tracing::error!(%why, "wal stopped: entries acknowledged without fsync may be lost; restart the broker");
        self.shared.failed.send_replace(Some(why));
        self.abandoned = true;
    }

    /// Shutdown: the last fdatasync, then the active segment's seal.
    fn close(&mut self) {
        self.flush();
        if self.shared.failed.borrow().is_some() || self.dirty {
            return;
        }
        if let Err(e) = self.seals.seal(self.id, self.size) {
            tracing::warn!(segment = self.id, error = %e, "cannot seal the active wal segment at shutdown");
        }
    }

    /// Writes `group` at the end of the active segment (rolling first when it is full or
    /// abandoned) and, with `fsync_on_write`, syncs it.
    fn write_group(&mut self, group: &[Append], bytes: u64) -> Result<Vec<WalLocation>, WalError> {
        if self.abandoned
            || (self.size > segment::FILE_HEADER_LEN
                && self.size + bytes > self.opts.segment_size_bytes)
        {
            self.roll()?;
        }
        self.buf.clear();
        let mut locs = Vec::with_capacity(group.len());
        for a in group {
            let at = self.size + self.buf.len() as u64;
            segment::encode_entry(
                &mut self.buf,
                self.id,
                a.topic_id,
                a.partition,
                a.base_offset,
                a.leader_epoch,
                &a.batch,
            );
            locs.push(WalLocation {
                segment: self.id,
                offset: at + ENTRY_HEADER_LEN as u64,
                len: a.batch.len() as u32,
            });
        }
        // On failure the file is abandoned, not cut: its seal says where its entries end.
        self.file.write_all_at(&self.buf, self.size)?;
        self.dirty = true;
        if self.opts.fsync_on_write {
            self.sync()?;
        }
        self.size += self.buf.len() as u64;
        Ok(locs)
    }

    /// Why the WAL stopped for good, if it has.
    fn stopped(&self) -> Option<WalError> {
        self.shared.failed.borrow().clone().map(WalError::Failed)
    }

    fn commit(&mut self, group: Vec<Append>) {
        // Appends queued before a failed write of their partition are dropped, not written.
        let (group, stale): (Vec<_>, Vec<_>) = group
            .into_iter()
            .partition(|a| a.target.is_current(a.generation));
        for a in stale {
            if let Some(r) = a.reply {
                let _ = r.send(Err(WalError::Discarded));
            }
        }
        if group.is_empty() {
            return;
        }
        let bytes: u64 = group
            .iter()
            .map(|a| (a.batch.len() + ENTRY_HEADER_LEN) as u64)
            .sum();
        let started = std::time::Instant::now();
        let mut result = match self.stopped() {
            Some(e) => Err(e),
            None => self.write_group(&group, bytes),
        };
        if let Err(e) = &result
            && self.stopped().is_none()
        {
            // Never again into this file: the group goes once more into a fresh segment.
            tracing::warn!(segment = self.id, error = %e, "wal write failed; abandoning the segment and writing the group into a new one");
            self.abandon();
            result = match self.stopped() {
                Some(e) => Err(e),
                None => self.write_group(&group, bytes),
            };
        }
        match result {
            Ok(locs) => {
                *self.shared.last_error.lock() = None;
                {
                    let mut segs = self.shared.segments.lock();
                    if let Some(m) = segs.get_mut(&self.id) {
                        m.live += group.len() as u64;
                        m.size = self.size;
                    }
                    self.shared.disk_bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                let s = &self.shared.stats;
                s.group_commit_latency.since(started);
                s.groups.fetch_add(1, Ordering::Relaxed);
                s.entries.fetch_add(group.len() as u64, Ordering::Relaxed);
                s.bytes.fetch_add(bytes, Ordering::Relaxed);
                for (a, loc) in group.into_iter().zip(locs) {
                    a.target
                        .on_durable(a.generation, a.base_offset, a.last_offset, loc);
                    if let Some(r) = a.reply {
                        let _ = r.send(Ok(()));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "wal write failed; failing the group");
                self.shared
                    .stats
                    .write_errors
                    .fetch_add(1, Ordering::Relaxed);
                self.abandon();
                *self.shared.last_error.lock() = Some(e.to_string());
                for a in group {
                    a.target.on_failed(a.generation);
                    if let Some(r) = a.reply {
                        let _ = r.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Records where each append landed.
    #[derive(Default)]
    struct Target(Mutex<Vec<(i64, WalLocation)>>);

    impl AppendTarget for Target {
        fn is_current(&self, _: u64) -> bool {
            true
        }
        fn on_durable(&self, _: u64, base: i64, _: i64, loc: WalLocation) {
            self.0.lock().push((base, loc));
        }
        fn on_failed(&self, _: u64) {}
    }

    fn opts(dir: &Path, recycle: usize) -> WalOptions {
        WalOptions {
            dir: dir.to_path_buf(),
            fsync_on_write: true,
            segment_size_bytes: 1 << 20,
            max_group_bytes: 1 << 20,
            flush_interval: Duration::from_secs(1),
            max_entry_bytes: 1 << 20,
            recycle_segments: recycle,
        }
    }

    async fn append(wal: &Wal, target: &Arc<Target>, base: i64) {
        let (tx, rx) = oneshot::channel();
        wal.submit(Append {
            topic_id: 1,
            partition: 0,
            base_offset: base,
            last_offset: base,
            leader_epoch: 0,
            batch: Bytes::from(vec![base as u8; 300 * 1024]),
            generation: 0,
            target: target.clone(),
            reply: Some(tx),
        })
        .unwrap();
        rx.await.unwrap().unwrap();
    }

    fn recover_all(dir: &Path, recycle: usize) -> (Recovered, Vec<(i64, u64, Bytes)>) {
        let mut seen = Vec::new();
        let r = Wal::recover(opts(dir, recycle), |e| {
            seen.push((e.base_offset, e.location.segment, e.batch))
        })
        .unwrap();
        (r, seen)
    }

    /// Releases the first `n` appends, as an upload that covered them would.
    fn release_first(wal: &Wal, target: &Target, n: usize) {
        for (_, loc) in &target.0.lock().clone()[..n] {
            wal.release(*loc);
        }
    }

    /// A WAL on an empty directory with `n` entries of 300 KiB appended: 3 per segment.
    async fn started(d: &Path, recycle: usize, n: i64) -> (Wal, Arc<Target>) {
        let target = Arc::new(Target::default());
        let (r, _) = recover_all(d, recycle);
        let wal = r.start(HashMap::new()).unwrap();
        for base in 0..n {
            append(&wal, &target, base).await;
        }
        (wal, target)
    }

    #[tokio::test]
    async fn released_segments_are_written_over_and_recovery_sees_only_new_entries() {
        let d = tempfile::tempdir().unwrap();
        let (wal, target) = started(d.path(), 1, 6).await;
        // 3 entries of 300 KiB per 1 MiB segment: offsets 0-2 in segment 0, 3-5 in 1.
        let locs = target.0.lock().clone();
        assert_eq!(locs[0].1.segment, 0);
        assert_eq!(locs[5].1.segment, 1);
        let seg0 = segment::path(d.path(), 0);
        let ino = std::fs::metadata(&seg0).unwrap().ino();
        // Segment 0's data is uploaded: it becomes a spare, not counted as in use.
        let in_use = wal.disk_bytes();
        release_first(&wal, &target, 3);
        assert!(!seg0.exists());
        assert_eq!(wal.spare_count(), 1);
        assert_eq!(wal.stats().segments_recycled.load(Ordering::Relaxed), 1);
        assert!(wal.disk_bytes() < in_use - 900 * 1024);
        // The next roll writes segment 2 into it.
        for base in 6..8 {
            append(&wal, &target, base).await;
        }
        assert_eq!(wal.spare_count(), 0);
        let seg2 = segment::path(d.path(), 2);
        assert_eq!(std::fs::metadata(&seg2).unwrap().ino(), ino);
        let locs = target.0.lock().clone();
        assert_eq!(locs[7].1.segment, 2);
        assert_eq!(wal.read(locs[7].1).await.unwrap(), vec![7u8; 300 * 1024]);
        wal.shutdown().await;

        // Recovery finds 3-5 in segment 1 and only 6-7 in segment 2, though segment 2's
        // file still holds segment 0's old entries after them.
        let (r, seen) = recover_all(d.path(), 1);
        let got: Vec<(i64, u64)> = seen.iter().map(|(b, s, _)| (*b, *s)).collect();
        assert_eq!(got, vec![(3, 1), (4, 1), (5, 1), (6, 2), (7, 2)]);
        for (b, _, batch) in &seen {
            assert_eq!(batch, &vec![*b as u8; 300 * 1024]);
        }
        assert_eq!(r.truncated_bytes, 0);
    }

    #[tokio::test]
    async fn a_spare_is_not_written_over_while_a_read_of_its_old_segment_is_open() {
        let d = tempfile::tempdir().unwrap();
        let (wal, target) = started(d.path(), 1, 4).await;
        // A read of segment 0 has taken its handle (as `Wal::read` does) and not finished.
        let open_read = wal.shared.segments.lock()[&0].reader.clone();
        let ino = open_read.metadata().unwrap().ino();
        release_first(&wal, &target, 3);
        assert_eq!(wal.spare_count(), 1);
        // Segment 2 goes to a new file; the spare waits.
        for base in 4..7 {
            append(&wal, &target, base).await;
        }
        assert_eq!(target.0.lock()[6].1.segment, 2);
        let seg2 = segment::path(d.path(), 2);
        assert_ne!(std::fs::metadata(&seg2).unwrap().ino(), ino);
        assert_eq!(wal.spare_count(), 1);
        // The read still sees segment 0's entry intact.
        let mut first = vec![0u8; 16];
        open_read
            .read_exact_at(
                &mut first,
                segment::FILE_HEADER_LEN + ENTRY_HEADER_LEN as u64,
            )
            .unwrap();
        assert_eq!(first, vec![0u8; 16]);
        // Once it is done, the next roll takes the spare.
        drop(open_read);
        for base in 7..10 {
            append(&wal, &target, base).await;
        }
        assert_eq!(target.0.lock()[9].1.segment, 3);
        let seg3 = segment::path(d.path(), 3);
        assert_eq!(std::fs::metadata(&seg3).unwrap().ino(), ino);
        assert_eq!(wal.spare_count(), 0);
        wal.shutdown().await;
    }

    #[tokio::test]
    async fn damage_to_a_cleanly_stopped_segment_is_reported_and_the_rest_kept() {
        // As measured on a dev node: acknowledged entries in the active segment, a clean
        // stop, then 4 bytes overwritten inside the first entry.
        let d = tempfile::tempdir().unwrap();
        let (wal, target) = started(d.path(), 0, 2).await;
        let first = target.0.lock()[0].1;
        wal.shutdown().await;
        let seg = segment::path(d.path(), first.segment);
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(&[0xde, 0xad, 0xbe, 0xef], first.offset + 60_000)
            .unwrap();
        drop(f);
        let (r, seen) = recover_all(d.path(), 0);
        let got: Vec<i64> = seen.iter().map(|(b, _, _)| *b).collect();
        assert_eq!(got, vec![1], "the intact entry after the damage is kept");
        let wal = r.start(HashMap::new()).unwrap();
        assert_eq!(wal.damage().len(), 1);
        assert_eq!(wal.damage()[0].segment, first.segment);
        assert_eq!(
            wal.damage()[0].offset,
            first.offset - ENTRY_HEADER_LEN as u64
        );
        assert_eq!(wal.stats().damaged_entries.load(Ordering::Relaxed), 1);
        wal.shutdown().await;
    }

    #[tokio::test]
    async fn a_crashed_segment_is_sealed_at_start_so_later_damage_is_seen() {
        let running = tempfile::tempdir().unwrap();
        let (wal, target) = started(running.path(), 0, 2).await;
        let first = target.0.lock()[0].1;
        // What a crash leaves: the files as they are while the WAL runs, its active segment
        // unsealed (copied, because a WAL that is dropped seals on its way out).
        let d = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(running.path()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
        }
        wal.shutdown().await;
        assert!(seal::read(d.path()).unwrap().is_empty());
        let (r, seen) = recover_all(d.path(), 0);
        assert_eq!(seen.len(), 2);
        let wal = r.start(HashMap::from([(first.segment, 2)])).unwrap();
        let sealed = seal::read(d.path()).unwrap();
        assert_eq!(
            sealed.get(&first.segment).copied(),
            Some(segment::FILE_HEADER_LEN + 2 * (ENTRY_HEADER_LEN as u64 + 300 * 1024))
        );
        wal.shutdown().await;
        // Damage to the last entry now is damage, not a torn tail.
        let seg = segment::path(d.path(), first.segment);
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        let second = first.offset + 300 * 1024 + ENTRY_HEADER_LEN as u64;
        f.write_all_at(&[1, 2, 3, 4], second + 10).unwrap();
        drop(f);
        let (r, seen) = recover_all(d.path(), 0);
        assert_eq!(seen.len(), 1);
        let wal = r.start(HashMap::new()).unwrap();
        assert_eq!(wal.damage().len(), 1);
        wal.shutdown().await;
    }

    #[tokio::test]
    async fn without_recycling_released_segments_are_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (wal, target) = started(d.path(), 0, 4).await;
        release_first(&wal, &target, 3);
        assert_eq!(wal.spare_count(), 0);
        assert_eq!(wal.stats().segments_deleted.load(Ordering::Relaxed), 1);
        assert_eq!(segment::list_spares(d.path()).unwrap(), Vec::<u64>::new());
        wal.shutdown().await;
    }

    #[tokio::test]
    async fn spares_survive_a_restart_and_extra_ones_are_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (wal, target) = started(d.path(), 2, 9).await;
        release_first(&wal, &target, 6);
        assert_eq!(wal.spare_count(), 2);
        wal.shutdown().await;
        // Restarted wanting one: one kept, and the new active segment is written into it.
        let (r, seen) = recover_all(d.path(), 1);
        assert_eq!(seen.len(), 3);
        assert_eq!(segment::list_spares(d.path()).unwrap().len(), 1);
        let wal = r.start(HashMap::from([(2, 3)])).unwrap();
        assert_eq!(wal.spare_count(), 0);
        assert_eq!(segment::list_spares(d.path()).unwrap(), Vec::<u64>::new());
        assert_eq!(segment::list(d.path()).unwrap(), vec![2, 3]);
        wal.shutdown().await;
    }
}
