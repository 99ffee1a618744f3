//! The upload backlog: durable batches waiting for object storage, counted across all
//! partitions (the uploader waits on it), and each partition's upload candidates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

use super::{BatchSource, PartitionLog};
use crate::wal::WalLocation;

/// Bytes durable in the WAL but not yet in object storage, across all partitions; the
/// uploader waits on it.
#[derive(Debug, Default)]
pub struct UploadBacklog {
    bytes: AtomicU64,
    /// The uploader is woken when the backlog stops being empty or reaches this size, not on
    /// every append.
    threshold: u64,
    grew: Notify,
}

impl UploadBacklog {
    /// A new, empty backlog that wakes the uploader at `threshold` bytes.
    pub fn new(threshold: u64) -> Arc<Self> {
        Arc::new(Self {
            threshold,
            ..Self::default()
        })
    }

    /// Unuploaded bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Completes when the backlog stopped being empty or reached the threshold (register
    /// before checking).
    pub fn grew(&self) -> &Notify {
        &self.grew
    }

    pub(super) fn add(&self, n: u64) {
        if n > 0 {
            let before = self.bytes.fetch_add(n, Ordering::Relaxed);
            if before == 0 || (before < self.threshold && before + n >= self.threshold) {
                self.grew.notify_waiters();
            }
        }
    }

    pub(super) fn sub(&self, n: u64) {
        if n > 0 {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// A durable batch waiting for upload.
#[derive(Debug, Clone)]
pub struct UploadItem {
    /// First offset.
    pub base: i64,
    /// Last offset.
    pub last: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Where its bytes are.
    pub source: BatchSource,
}

impl PartitionLog {
    /// Durable batches not uploaded yet, oldest first, at most `max_bytes` (at least one).
    pub fn upload_candidates(&self, max_bytes: u64) -> Vec<UploadItem> {
        let s = self.state.lock();
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let from = s.entries.partition_point(|e| e.base < s.uploaded_end);
        for e in s.entries.range(from..) {
            if e.base >= s.high_watermark
                || (!out.is_empty() && bytes + u64::from(e.size) > max_bytes)
            {
                break;
            }
            let source = match (&e.cached, e.location) {
                (Some(b), _) => BatchSource::Memory(b.clone()),
                (None, Some(l)) => BatchSource::Wal(l),
                (None, None) => break,
            };
            bytes += u64::from(e.size);
            out.push(UploadItem {
                base: e.base,
                last: e.last,
                max_timestamp: e.max_timestamp,
                source,
            });
        }
        out
    }

    /// When the oldest unuploaded durable batch was appended.
    pub fn oldest_unuploaded(&self) -> Option<Instant> {
        let s = self.state.lock();
        let from = s.entries.partition_point(|e| e.base < s.uploaded_end);
        s.entries
            .range(from..)
            .find(|e| e.location.is_some())
            .map(|e| e.appended_at)
    }

    /// Everything up to `last` is registered in the catalog: the WAL copies are no longer
    /// needed (returned for release).
    pub fn mark_uploaded(&self, last: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let mut released = Vec::new();
        let mut done = 0u64;
        for e in s.entries.iter_mut() {
            if e.last > last {
                break;
            }
            if !e.uploaded {
                e.uploaded = true;
                if let Some(l) = e.location.take() {
                    released.push(l);
                    done += u64::from(e.size);
                }
            }
        }
        s.uploaded_end = s.uploaded_end.max(last + 1);
        s.unuploaded -= done;
        s.pop_uploaded();
        drop(s);
        self.backlog.sub(done);
        released
    }
}
