//! Tiered storage: uploads the WAL to object storage, reads old offsets back, compacts,
//! applies retention to uploaded data and collects garbage.
//!
//! Owns: object keys, the object format (`object`), the read cache, and every request to the
//! object store (`store`). The catalog of what is where lives in the controllers' Raft state;
//! this module proposes changes to it and never deletes WAL data before the catalog holds it.
//! Never: assigns offsets or decides visibility (the partition log does).

pub mod background;
pub mod object;
pub mod pace;
pub mod store;
mod upload;

pub use upload::UploadSource;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;
use parking_lot::Mutex;
use rustmq_controller::Controller;
use rustmq_controller::catalog::{Catalog, CatalogObject, PartitionKey};
use rustmq_protocol::records::now_ms;

use crate::config::BrokerConfig;
use object::ObjectIndex;
use store::TierStore;

/// Why a tier operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TierError {
    /// `[object_storage]` cannot be used.
    #[error("object storage configuration: {0}")]
    Config(String),
    /// A request to the object store failed (retriable).
    #[error("object store: {0}")]
    Store(String),
    /// An object is not in the format this broker writes.
    #[error("object {key}: {reason}")]
    Corrupt {
        /// Object key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The controller refused or could not take a catalog change.
    #[error("catalog: {0}")]
    Catalog(String),
}

/// Counters for `/metrics` and health.
#[derive(Debug, Default)]
pub struct TierStats {
    /// Objects uploaded from the WAL and registered.
    pub uploads: AtomicU64,
    /// Bytes of batches uploaded.
    pub uploaded_bytes: AtomicU64,
    /// Failed upload attempts (each retry counts).
    pub upload_failures: AtomicU64,
    /// Uploads made at full speed, unpaced, because two uploads' worth was waiting: the
    /// uploader had fallen behind (a pacing that keeps up leaves this at zero).
    pub unpaced_uploads: AtomicU64,
    /// Uploads found redundant at registration (a retry after a crash).
    pub redundant_uploads: AtomicU64,
    /// Read-cache hits (chunks).
    pub cache_hits: AtomicU64,
    /// Read-cache misses (chunks fetched).
    pub cache_misses: AtomicU64,
    /// Per-partition objects written by compaction.
    pub compacted_objects: AtomicU64,
    /// Compactions the catalog refused (input changed meanwhile).
    pub compactions_refused: AtomicU64,
    /// Unreferenced objects deleted after their grace period.
    pub objects_deleted: AtomicU64,
    /// Orphans (never registered) deleted.
    pub orphans_deleted: AtomicU64,
    /// Time to upload and register one object (retries included).
    pub upload_latency: rustmq_transport::metrics::Latency,
}

/// Tier settings taken from the broker config.
#[derive(Debug, Clone)]
pub struct TierOptions {
    /// Broker id (part of every key).
    pub broker_id: u32,
    /// Key prefix.
    pub prefix: String,
    /// Upload at least this often.
    pub upload_interval: Duration,
    /// ... or when this many bytes wait.
    pub upload_bytes: u64,
    /// Ranged GET size.
    pub chunk_bytes: u64,
    /// Chunks read ahead.
    pub read_ahead_chunks: u32,
    /// Where reads run.
    pub cold_reads: background::BackgroundOptions,
    /// Where uploads, garbage collection and compaction run.
    pub uploads: background::BackgroundOptions,
    /// Grace before unreferenced or orphaned objects are deleted.
    pub gc_grace: Duration,
    /// Maintenance period.
    pub maintenance_interval: Duration,
    /// Compaction writes per-partition objects of at least this size.
    pub compaction_target_bytes: u64,
    /// Most objects one compaction pass writes.
    pub compaction_max_objects: u32,
    /// Test hook: abort the process right after a PUT, before registering the object
    /// (`RUSTMQ_FAULT_ABORT_AFTER_PUT=1`).
    pub abort_after_put: bool,
    /// How much of a CPU building and writing objects may take while uploads keep up.
    pub pace: pace::Pace,
}

impl TierOptions {
    /// From the broker config (and the fault-injection variable).
    pub fn from_config(c: &BrokerConfig) -> Self {
        Self {
            broker_id: c.broker.id,
            prefix: c.object_storage.prefix.trim_matches('/').to_string(),
            upload_interval: Duration::from_millis(c.wal.upload_interval_ms),
            upload_bytes: c.wal.upload_bytes,
            chunk_bytes: c.cache.read_chunk_bytes,
            read_ahead_chunks: c.cache.read_ahead_chunks,
            cold_reads: background::BackgroundOptions {
                threads: c.cache.cold_read_threads,
                nice: c.cache.cold_read_nice,
                sched_idle: c.cache.cold_read_sched_idle,
                max_in_flight: c.cache.cold_read_max_in_flight,
                max_bytes_per_sec: c.cache.cold_read_max_bytes_per_sec,
            },
            uploads: background::BackgroundOptions {
                threads: c.object_storage.background_threads,
                nice: c.object_storage.background_nice,
                sched_idle: false,
                max_in_flight: c.object_storage.max_concurrent_uploads.max(1) as usize,
                max_bytes_per_sec: 0,
            },
            gc_grace: Duration::from_millis(c.object_storage.gc_grace_ms),
            maintenance_interval: Duration::from_millis(c.object_storage.maintenance_interval_ms),
            compaction_target_bytes: c.object_storage.compaction_target_bytes,
            compaction_max_objects: c.object_storage.compaction_max_objects,
            // A fault hook for tests; release builds cannot be told to abort.
            abort_after_put: cfg!(feature = "test-support")
                && std::env::var("RUSTMQ_FAULT_ABORT_AFTER_PUT").is_ok_and(|v| v == "1"),
            pace: pace::Pace::new(c.object_storage.background_cpu_share),
        }
    }
}

type ChunkKey = (Arc<str>, u64);

/// The tier: object store, read cache, counters.
pub struct Tier {
    opts: TierOptions,
    store: Arc<TierStore>,
    /// The same store with connections of its own, used on `cold` for reads.
    read_store: Arc<TierStore>,
    cold: Arc<background::BackgroundPool>,
    /// Where the uploader and maintenance loops run.
    uploads: background::BackgroundPool,
    controller: Arc<Controller>,
    chunks: moka::future::Cache<ChunkKey, Bytes>,
    indexes: moka::future::Cache<Arc<str>, Arc<ObjectIndex>>,
    stats: Arc<TierStats>,
    /// Keys written but not yet registered (the orphan collector must not take them).
    in_flight: Mutex<HashSet<String>>,
    upload_lock: tokio::sync::Mutex<()>,
    /// The last upload's buffer, emptied, for the next one to build in.
    spare_body: Mutex<Option<BytesMut>>,
    /// The buffer uploads read evicted batches back from the WAL into (see
    /// [`crate::wal::Wal::read_many`]).
    spare_read: Mutex<Vec<u8>>,
    last_error: Mutex<Option<String>>,
}

impl Tier {
    /// Builds the store and caches.
    pub fn new(config: &BrokerConfig, controller: Arc<Controller>) -> Result<Arc<Self>, TierError> {
        let store = TierStore::from_config(config)?;
        let read_store = Arc::new(store.sibling(config)?);
        let store = Arc::new(store);
        let opts = TierOptions::from_config(config);
        let cold = Arc::new(
            background::BackgroundPool::new("rustmq-cold-read", opts.cold_reads)
                .map_err(|e| TierError::Config(format!("cold-read runtime: {e}")))?,
        );
        let uploads = background::BackgroundPool::new("rustmq-upload", opts.uploads)
            .map_err(|e| TierError::Config(format!("upload runtime: {e}")))?;
        // LRU, not moka's default TinyLFU admission: a catch-up reader touches each chunk
        // twice (read-ahead, then its fetch) and never again, so once the cache is full,
        // TinyLFU would refuse new read-ahead chunks in favour of old ones that are done,
        // and the reader would GET them a second time.
        let chunks = moka::future::Cache::builder()
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .max_capacity(config.cache.read_cache_size_bytes)
            .weigher(|_k: &ChunkKey, v: &Bytes| v.len().try_into().unwrap_or(u32::MAX))
            .build();
        let indexes = moka::future::Cache::builder().max_capacity(4096).build();
        Ok(Arc::new(Self {
            opts,
            store,
            read_store,
            cold,
            uploads,
            controller,
            chunks,
            indexes,
            stats: Arc::new(TierStats::default()),
            in_flight: Mutex::new(HashSet::new()),
            upload_lock: tokio::sync::Mutex::new(()),
            spare_body: Mutex::new(None),
            spare_read: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
        }))
    }

    /// Starts `fut` (an uploader or maintenance loop) on the background runtime.
    pub fn spawn_background<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.uploads.spawn(fut)
    }

    /// Counters.
    pub fn stats(&self) -> &TierStats {
        &self.stats
    }

    /// Object-store request counters.
    pub fn store_stats(&self) -> &store::StoreStats {
        self.store.stats()
    }

    /// The last upload error, cleared by the next success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Bytes held by the read cache.
    pub fn cache_bytes(&self) -> u64 {
        self.chunks.weighted_size()
    }

    /// A key no other broker, restart or epoch can produce: broker id, wall-clock ms and
    /// 64 random bits.
    fn new_key(&self, kind: &str) -> String {
        format!(
            "{}/{kind}/b{}/{:013}-{:016x}.obj",
            self.opts.prefix,
            self.opts.broker_id,
            now_ms(),
            rand::random::<u64>()
        )
    }

    fn catalog(&self) -> Catalog {
        self.controller.metadata().catalog.clone()
    }

    /// Reads batches of a partition from object storage starting at the batch holding
    /// `offset` (or the first after it), at most `max_bytes` but at least one batch, never
    /// past the end of the object slice. None when object storage holds nothing at or
    /// after `offset`.
    pub async fn read(
        &self,
        key: PartitionKey,
        offset: i64,
        max_bytes: u64,
    ) -> Result<Option<Bytes>, TierError> {
        // The shared metadata, not a copy of the catalog: reads are frequent and the
        // catalog grows with every upload.
        let md = self.controller.metadata();
        let catalog = &md.catalog;
        let Some(slice) = catalog.partition(key).and_then(|p| p.find(offset)).cloned() else {
            return Ok(None);
        };
        let Some(obj) = catalog.objects.get(&slice.key).cloned() else {
            return Ok(None);
        };
        let index = self.index(&slice.key, &obj).await?;
        let Some(range) = index.range(key.topic_id, key.partition) else {
            return Err(TierError::Corrupt {
                key: slice.key,
                reason: format!("index has no range for partition {key}"),
            });
        };
        let first = range.position_of(offset.max(slice.base_offset));
        let mut end = first;
        let mut bytes = 0u64;
        while end < range.batches.len() && range.batches[end].base <= slice.last_offset {
            let len = u64::from(range.batches[end].len);
            if end > first && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            end += 1;
        }
        if end == first {
            return Ok(None);
        }
        let reaches_slice_end =
            end >= range.batches.len() || range.batches[end].base > slice.last_offset;
        if reaches_slice_end
            && self.opts.read_ahead_chunks > 0
            && let Some(pc) = catalog.partition(key)
        {
            // A sequential reader continues in the partition's next object: fetch its index
            // and the first chunks of its slice now, so the next fetch does not wait for two
            // round trips (uploads hold every partition, so a partition's slice is often
            // smaller than a chunk and read-ahead within one slice does nothing). Only one
            // object ahead: every partition catching up reads ahead into the same next
            // upload, and going further was seen to evict read-ahead chunks before their
            // readers came, with a small cache.
            let after = slice.last_offset;
            if let Some(next) = pc.find(after + 1).filter(|n| n.base_offset > after)
                && let Some(obj) = catalog.objects.get(&next.key)
            {
                self.prefetch_slice(next.clone(), obj.clone());
            }
        }
        // Stop at the last batch that ends inside the first chunk, when there is one: the
        // answer is then a slice of one cached chunk, with no copy.
        let ch = self.opts.chunk_bytes;
        let chunk_end = (range.batches[first].position / ch + 1) * ch;
        let within = range.batches[first..end]
            .iter()
            .take_while(|b| b.position + u64::from(b.len) <= chunk_end)
            .count();
        if within > 0 && within < end - first {
            end = first + within;
            bytes = range.batches[first..end]
                .iter()
                .map(|b| u64::from(b.len))
                .sum();
        }
        let start = range.batches[first].position;
        let slice_end = slice.byte_start + slice.byte_len;
        let data = self
            .read_bytes(&slice.key, start..start + bytes, slice_end, obj.size)
            .await?;
        Ok(Some(data))
    }

    /// The batch index of an object (one ranged GET of index + footer, then cached).
    async fn index(&self, key: &str, obj: &CatalogObject) -> Result<Arc<ObjectIndex>, TierError> {
        self.index_future(key, obj).await
    }

    /// [`Self::index`] as a future that owns what it needs (prefetch runs it detached).
    fn index_future(
        &self,
        key: &str,
        obj: &CatalogObject,
    ) -> impl std::future::Future<Output = Result<Arc<ObjectIndex>, TierError>> + Send + 'static
    {
        let indexes = self.indexes.clone();
        let (store, cold) = (self.read_store.clone(), self.cold.clone());
        let key = key.to_string();
        let (index_start, index_len, size) = (obj.index_start, obj.index_len, obj.size);
        async move {
            let k: Arc<str> = Arc::from(key.as_str());
            indexes
                .try_get_with(k, async move {
                    let (s, kk) = (store.clone(), key.clone());
                    let tail = cold
                        .run_read(size - index_start, async move {
                            s.get_range(&kk, index_start..size).await
                        })
                        .await?;
                    let corrupt = |reason: String| TierError::Corrupt {
                        key: key.clone(),
                        reason,
                    };
                    let split = tail
                        .len()
                        .checked_sub(object::FOOTER_LEN)
                        .ok_or_else(|| corrupt("shorter than its footer".into()))?;
                    let (start, len, crc) = object::decode_footer(&tail[split..])
                        .map_err(|e| corrupt(e.to_string()))?;
                    if start != index_start || len != index_len || split != len as usize {
                        return Err(corrupt("footer disagrees with the catalog".into()));
                    }
                    object::decode_index(&tail[..split], start, Some(crc))
                        .map(Arc::new)
                        .map_err(|e| corrupt(e.to_string()))
                })
                .await
                .map_err(|e| (*e).clone())
        }
    }

    /// Starts fetching `slice`'s object index and its first `read_ahead_chunks` chunks in
    /// the background (errors are left to the read that needs them).
    fn prefetch_slice(&self, slice: rustmq_controller::catalog::ObjectSlice, obj: CatalogObject) {
        let ch = self.opts.chunk_bytes;
        let k: Arc<str> = Arc::from(slice.key.as_str());
        let first = slice.byte_start / ch;
        let last = ((slice.byte_start + slice.byte_len).saturating_sub(1) / ch)
            .min(first + u64::from(self.opts.read_ahead_chunks) - 1);
        let index = self.index_future(&slice.key, &obj);
        tokio::spawn(async move {
            let _ = index.await;
        });
        self.read_ahead(&k, first..=last, obj.size);
    }

    /// Starts fetching the chunks `cs` of object `k` into the cache in the background,
    /// those not cached already (concurrent fetches of one chunk are coalesced by the cache).
    fn read_ahead(&self, k: &Arc<str>, cs: std::ops::RangeInclusive<u64>, size: u64) {
        for c in cs {
            if !self.chunks.contains_key(&(k.clone(), c)) {
                let cache = self.chunks.clone();
                let fetch = self.fetch_chunk_future(k.clone(), c, size);
                let k = k.clone();
                tokio::spawn(async move {
                    let _ = cache.try_get_with((k, c), fetch).await;
                });
            }
        }
    }

    /// Reads `range` of an object through the chunk cache, then starts fetching the next
    /// chunks up to `ahead_limit` (the end of the partition's slice) for sequential readers.
    async fn read_bytes(
        &self,
        key: &str,
        range: Range<u64>,
        ahead_limit: u64,
        size: u64,
    ) -> Result<Bytes, TierError> {
        let ch = self.opts.chunk_bytes;
        let k: Arc<str> = Arc::from(key);
        let (c0, c1) = (range.start / ch, (range.end - 1) / ch);
        let chunks = try_join_all((c0..=c1).map(|c| self.chunk(k.clone(), c, size))).await?;
        let last_ahead =
            ((ahead_limit.saturating_sub(1)) / ch).min(c1 + u64::from(self.opts.read_ahead_chunks));
        self.read_ahead(&k, c1 + 1..=last_ahead, size);
        if chunks.len() == 1 {
            let off = (range.start - c0 * ch) as usize;
            return Ok(chunks[0].slice(off..off + (range.end - range.start) as usize));
        }
        let mut out = BytesMut::with_capacity((range.end - range.start) as usize);
        for (i, c) in chunks.iter().enumerate() {
            let chunk_start = (c0 + i as u64) * ch;
            let from = range.start.max(chunk_start) - chunk_start;
            let to = range.end.min(chunk_start + c.len() as u64) - chunk_start;
            out.extend_from_slice(&c[from as usize..to as usize]);
        }
        Ok(out.freeze())
    }

    async fn chunk(&self, key: Arc<str>, c: u64, size: u64) -> Result<Bytes, TierError> {
        if let Some(b) = self.chunks.get(&(key.clone(), c)).await {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(b);
        }
        let fetch = self.fetch_chunk_future(key.clone(), c, size);
        self.chunks
            .try_get_with((key, c), fetch)
            .await
            .map_err(|e| (*e).clone())
    }

    /// A chunk fetch that owns what it needs, so read-ahead can run detached.
    fn fetch_chunk_future(
        &self,
        key: Arc<str>,
        c: u64,
        size: u64,
    ) -> impl std::future::Future<Output = Result<Bytes, TierError>> + Send + 'static {
        let ch = self.opts.chunk_bytes;
        let start = c * ch;
        let end = (start + ch).min(size);
        let store = self.read_store.clone();
        let stats = self.stats.clone();
        let cold = self.cold.clone();
        async move {
            stats.cache_misses.fetch_add(1, Ordering::Relaxed);
            cold.run_read(end - start, async move {
                store.get_range(&key, start..end).await
            })
            .await
        }
    }
}

/// Time since the epoch in ms for a `SystemTime`.
fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
