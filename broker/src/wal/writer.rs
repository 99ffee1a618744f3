//! The WAL's one writer thread: group commit (every queued append written, then one
//! fdatasync, then all completed), segment roll and recycling, and what a failed write or
//! fdatasync does (the segment is abandoned; after acknowledged-unsynced data, or a failed
//! write of batches followers already fetched, the WAL stops).

use super::io::{SegmentFile, WriteFailure};
use super::*;

pub(super) struct Writer {
    opts: WalOptions,
    shared: Arc<Shared>,
    id: u64,
    file: SegmentFile,
    /// End of the active segment's entries that were written whole.
    size: u64,
    /// Written since the last fdatasync.
    dirty: bool,
    /// A write or fdatasync of the active segment failed: the next group rolls first, and
    /// the file is never written or synced again (after a failed fdatasync the kernel may
    /// have dropped dirty pages and a second one can report success without them).
    abandoned: bool,
    seals: seal::SealLog,
}

impl Writer {
    pub(super) fn open(
        opts: WalOptions,
        shared: Arc<Shared>,
        id: u64,
        seals: seal::SealLog,
    ) -> Result<Self, WalError> {
        let (file, reader) = Self::create(&opts.dir, &shared, id)?;
        let file = SegmentFile::open(
            opts.io_backend,
            file,
            &segment::path(&opts.dir, id),
            &segment::file_header(id),
        )?;
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
        self.file.switch(
            file,
            &segment::path(&self.opts.dir, next),
            &segment::file_header(next),
        )?;
        let old = self.id;
        {
            let mut segs = self.shared.segments.lock();
            self.shared.activate(&mut segs, next, reader);
            self.shared.delete_if_unused(&mut segs, old);
        }
        self.id = next;
        self.size = segment::FILE_HEADER_LEN;
        self.dirty = true;
        self.abandoned = false;
        Ok(())
    }

    pub(super) fn run(mut self, rx: Receiver<Command>) {
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
            let mut queued = Vec::new();
            let mut group_bytes = 0usize;
            let mut shutdown = None;
            match first {
                Command::Append(a, submitted) => {
                    group_bytes += a.batch.len() + ENTRY_HEADER_LEN;
                    group.push(a);
                    queued.push(submitted);
                }
                Command::Shutdown(tx) => shutdown = Some(tx),
            }
            while shutdown.is_none() && group_bytes < self.opts.max_group_bytes {
                match rx.try_recv() {
                    Ok(Command::Append(a, submitted)) => {
                        group_bytes += a.batch.len() + ENTRY_HEADER_LEN;
                        group.push(a);
                        queued.push(submitted);
                    }
                    Ok(Command::Shutdown(tx)) => shutdown = Some(tx),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            }
            if !group.is_empty() {
                let begun = Instant::now();
                for submitted in queued {
                    let waited = begun.saturating_duration_since(submitted);
                    self.shared.stats.queue_wait.observe(waited);
                }
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

    /// fdatasync of the active segment, counted (and traced inside a traced group commit).
    fn sync(&mut self) -> std::io::Result<()> {
        let span = self.sync_span();
        let _entered = span.enter();
        let started = std::time::Instant::now();
        let synced = self.file.sync();
        self.synced(started, synced)
    }

    fn sync_span(&self) -> tracing::Span {
        if tracing::Span::current().is_disabled() {
            tracing::Span::none()
        } else {
            tracing::info_span!("rustmq.wal.fdatasync", segment = self.id)
        }
    }

    /// Counts an fdatasync that started at `started`.
    fn synced(
        &mut self,
        started: std::time::Instant,
        synced: std::io::Result<()>,
    ) -> std::io::Result<()> {
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
        self.halt(why);
    }

    /// Every append from now on is refused, and `Wal::failed` tells the process to exit.
    fn halt(&mut self, why: String) {
        self.shared.failed.send_replace(Some(why));
        self.abandoned = true;
    }

    /// Stops the WAL for good after a failed write of batches that followers already had:
    /// their partitions are fenced, and only a restart (a new leader epoch from the
    /// controllers) lets them lead again without writing other batches at those offsets.
    fn stop_after_replicated_loss(&mut self, e: &WalError) {
        let why = format!(
            "a write of batches already replicated to followers failed in wal segment {}: {e}",
            self.id
        );
        tracing::error!(%why, "wal stopped: restart the broker so that leadership moves to a new epoch");
        self.halt(why);
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
        // Encoded straight into the buffer the backend writes from (the direct writer's
        // aligned one): each batch is copied once between the request and the disk.
        let len = bytes as usize; // summed from the batches' usize lengths
        let out = self.file.group_buffer(len);
        let mut at = 0;
        let mut locs = Vec::with_capacity(group.len());
        for a in group {
            let next = at + ENTRY_HEADER_LEN + a.batch.len();
            segment::encode_entry_into(
                &mut out[at..next],
                self.id,
                a.topic_id,
                a.partition,
                a.base_offset,
                a.leader_epoch,
                &a.batch,
            );
            locs.push(WalLocation {
                segment: self.id,
                offset: self.size + (at + ENTRY_HEADER_LEN) as u64,
                len: a.batch.len() as u32,
            });
            at = next;
        }
        // On failure the file is abandoned, not cut: its seal says where its entries end.
        if self.opts.fsync_on_write && self.file.links_sync() {
            // One submission: the write, then its fdatasync (the latency covers both).
            let span = self.sync_span();
            let _entered = span.enter();
            let started = std::time::Instant::now();
            match self.file.write_group(len, self.size, true) {
                Ok(()) => self.synced(started, Ok(()))?,
                Err(WriteFailure::Write(e)) => return Err(e.into()),
                Err(WriteFailure::Sync(e)) => {
                    self.dirty = true;
                    let why = WalError::Io(e.to_string());
                    let _ = self.synced(started, Err(e));
                    return Err(why);
                }
            }
        } else {
            self.file
                .write_group(len, self.size, false)
                .map_err(std::io::Error::from)?;
            self.dirty = true;
            if self.opts.fsync_on_write {
                self.sync()?;
            }
        }
        self.size += bytes;
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
        let span = commit_span(&group, bytes);
        let _entered = span.enter();
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
                let mut handed_out = false;
                let mut replies = Vec::with_capacity(group.len());
                for a in group {
                    handed_out |= a.target.on_failed(a.generation);
                    replies.extend(a.reply);
                }
                // Stopped before anyone hears of the failure.
                if handed_out {
                    self.stop_after_replicated_loss(&e);
                }
                for r in replies {
                    let _ = r.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Most links a group commit's span keeps to the appends it writes beyond the first.
const MAX_SPAN_LINKS: usize = 128;

/// The span of one group commit: a child of the first append's span (so a lone produce's
/// trace holds its write and fdatasync), linked to the other appends' spans. None when the
/// appends carry no span (tracing off, or no request around them).
fn commit_span(group: &[Append], bytes: u64) -> tracing::Span {
    let Some(first) = group.iter().find(|a| !a.span.is_disabled()) else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(parent: &first.span, "rustmq.wal.group_commit",
        entries = group.len(), bytes);
    for a in group
        .iter()
        .filter(|a| !a.span.is_disabled() && a.span.id() != first.span.id())
        .take(MAX_SPAN_LINKS)
    {
        span.follows_from(&a.span);
    }
    span
}
