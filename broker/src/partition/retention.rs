//! Retention: which local batches time and size limits expire, and moving a partition's
//! start offset forward.

use super::PartitionLog;
use crate::wal::WalLocation;

/// A batch as retention sees it.
#[derive(Debug, Clone, Copy)]
pub struct RetentionItem {
    /// Last offset.
    pub last: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Bytes.
    pub size: u64,
}

/// The first offset to keep after time and size retention over `items` (oldest first, none
/// above the high watermark), or None when nothing expires.
///
/// ```
/// use rustmq_broker::partition::{RetentionItem, retention_start};
/// let items = [
///     RetentionItem { last: 9, max_timestamp: 100, size: 10 },
///     RetentionItem { last: 19, max_timestamp: 200, size: 10 },
/// ];
/// assert_eq!(retention_start(&items, 1000, 850, -1), Some(10));
/// assert_eq!(retention_start(&items, 1000, -1, 10), Some(10));
/// assert_eq!(retention_start(&items, 1000, -1, -1), None);
/// ```
pub fn retention_start(
    items: &[RetentionItem],
    now_ms: i64,
    retention_ms: i64,
    retention_bytes: i64,
) -> Option<i64> {
    let mut total: u64 = items.iter().map(|i| i.size).sum();
    let mut start = None;
    for i in items {
        let too_old = retention_ms >= 0 && i.max_timestamp < now_ms - retention_ms;
        let too_big = retention_bytes >= 0 && total - i.size >= retention_bytes as u64;
        if !(too_old || too_big) {
            break;
        }
        total -= i.size;
        start = Some(i.last + 1);
    }
    start
}

impl PartitionLog {
    /// Local batches not uploaded yet, for retention (uploaded ones are in the catalog).
    pub fn retention_items(&self) -> Vec<RetentionItem> {
        let s = self.state.lock();
        s.entries
            .iter()
            .filter(|e| !e.uploaded && e.base < s.high_watermark)
            .map(|e| RetentionItem {
                last: e.last,
                max_timestamp: e.max_timestamp,
                size: u64::from(e.size),
            })
            .collect()
    }

    /// Moves the log start to `start` (retention): drops local batches below it and returns
    /// their WAL locations. Never moves backwards or past the high watermark.
    pub fn advance_start(&self, start: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let start = start.min(s.high_watermark);
        if start <= s.log_start_offset {
            return Vec::new();
        }
        let mut released = Vec::new();
        let mut freed_cache = 0;
        let mut unuploaded = 0;
        while s.entries.front().is_some_and(|e| e.last < start) {
            if let Some(e) = s.entries.pop_front() {
                s.bytes -= u64::from(e.size);
                if let Some(l) = e.location {
                    released.push(l);
                    if !e.uploaded {
                        unuploaded += u64::from(e.size);
                    }
                }
                if let Some(c) = e.cached {
                    freed_cache += c.len() as u64;
                }
            }
        }
        s.log_start_offset = start;
        s.uploaded_end = s.uploaded_end.max(start);
        s.unuploaded -= unuploaded;
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed_cache);
        released
    }
}
