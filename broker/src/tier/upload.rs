//! Upload (write path step 5 and 6) and maintenance (garbage collection, compaction).
//!
//! Upload order is what makes it safe: PUT the object, register it in the catalog through
//! Raft, and only then release the WAL entries it covers. A crash between PUT and
//! registration leaves an orphan the collector deletes after the grace period; a crash after
//! registration makes the next upload of the same offsets `Redundant`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use rustmq_controller::ControllerError;
use rustmq_controller::catalog::{
    CatalogError, CatalogObject, ObjectSlice, PartitionKey, Registered, UploadedObject,
};
use rustmq_controller::metadata::MetadataError;
use rustmq_protocol::records::now_ms;
use tokio::sync::watch;

use super::object::{self, ObjectBuilder};
use super::pace::{Pace, STEP_BYTES, Step};
use super::{Tier, TierError, ms_of};
use crate::partition::{BatchSource, PartitionLog, UploadBacklog};
use crate::wal::{Wal, WalLocation};

/// What the uploader needs from the broker.
pub trait UploadSource: Send + Sync + 'static {
    /// Partitions this broker leads.
    fn led_partitions(&self) -> Vec<Arc<PartitionLog>>;
    /// The WAL (reads of evicted batches, releases after upload).
    fn wal(&self) -> &Wal;
    /// Unuploaded bytes.
    fn backlog(&self) -> &UploadBacklog;
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}

impl Tier {
    /// Uploads whenever `upload_bytes` are waiting or the oldest waiting data is
    /// `upload_interval` old (counted from the last upload, or from when data arrived after
    /// an idle spell), until `stop`.
    pub async fn run_uploader(
        self: Arc<Self>,
        src: Arc<dyn UploadSource>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut last = Instant::now();
        loop {
            let grew = src.backlog().grew().notified();
            tokio::pin!(grew);
            grew.as_mut().enable();
            let waiting = src.backlog().bytes();
            if waiting >= self.opts.upload_bytes
                || (waiting > 0 && last.elapsed() >= self.opts.upload_interval)
            {
                tokio::select! {
                    r = self.upload_once(src.as_ref()) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "upload failed");
                        }
                    }
                    _ = stop.changed() => return,
                }
                last = Instant::now();
                continue;
            }
            if waiting == 0 {
                // Idle: sleep until data arrives; its interval starts then.
                tokio::select! {
                    _ = grew => {}
                    _ = stop.changed() => return,
                }
                if last.elapsed() >= self.opts.upload_interval {
                    last = Instant::now();
                }
                continue;
            }
            let wait = self.opts.upload_interval.saturating_sub(last.elapsed());
            tokio::select! {
                _ = grew => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Builds one object from every led partition's unuploaded batches (at most about
    /// `upload_bytes`), uploads it with retries, registers it, then releases the WAL.
    /// Returns the bytes uploaded.
    pub async fn upload_once(&self, src: &dyn UploadSource) -> Result<u64, TierError> {
        // One upload at a time: two would read the same candidates (one would be redundant).
        let _one = self.upload_lock.lock().await;
        // Paced while uploads keep up; at full speed once two uploads' worth is waiting.
        let pace = if src.backlog().bytes() < self.opts.upload_bytes.saturating_mul(2) {
            self.opts.pace
        } else {
            if self.opts.pace.is_paced() {
                self.stats.unpaced_uploads.fetch_add(1, Ordering::Relaxed);
            }
            Pace::FULL
        };
        let mut step = (Step::start(), 0usize);
        // What waits, up to one upload; the index and the last partition's overshoot (at
        // least one batch) fit in the slack.
        let room = self.opts.upload_bytes.min(src.backlog().bytes());
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        let spare = self.spare_body.lock().take().unwrap_or_default();
        let mut builder = ObjectBuilder::in_buffer(spare, room.saturating_add(STEP_BYTES));
        let mut marks: Vec<(Arc<PartitionLog>, i64)> = Vec::new();
        let mut parts = src.led_partitions();
        // Oldest data first, so a partition never starves behind busier ones.
        parts.sort_by_key(|p| p.oldest_unuploaded());
        for p in parts {
            let room = self.opts.upload_bytes.saturating_sub(builder.len() as u64);
            if room == 0 {
                break;
            }
            let items = p.upload_candidates(room);
            let Some(last) = items.last().map(|i| i.last) else {
                continue;
            };
            // The batches evicted from the write cache, read back in one go.
            let evicted: Vec<WalLocation> = items
                .iter()
                .filter_map(|it| match it.source {
                    BatchSource::Wal(loc) => Some(loc),
                    _ => None,
                })
                .collect();
            let mut read_back = std::mem::take(&mut *self.spare_read.lock());
            if !evicted.is_empty() {
                read_back = src
                    .wal()
                    .read_many(evicted, read_back)
                    .await
                    .map_err(|e| TierError::Store(format!("reading the wal: {e}")))?;
            }
            let mut at = 0;
            for it in items {
                let bytes: &[u8] = match &it.source {
                    BatchSource::Memory(b) => b,
                    BatchSource::Wal(loc) => {
                        at += loc.len as usize;
                        &read_back[at - loc.len as usize..at]
                    }
                    BatchSource::Tiered { .. } => continue,
                };
                builder.push(
                    p.topic_id,
                    p.partition,
                    it.base,
                    it.last,
                    it.max_timestamp,
                    bytes,
                );
                step.1 += bytes.len();
                if pace.is_paced() && step.1 >= STEP_BYTES {
                    tokio::time::sleep(pace.rest_after(step.0.worked())).await;
                    step = (Step::start(), 0);
                }
            }
            *self.spare_read.lock() = read_back;
            marks.push((p, last));
        }
        if builder.is_empty() {
            return Ok(0);
        }
        let (body, ranges, index_start, index_len) = builder.finish();
        let size = body.len() as u64;
        let batch_bytes = ranges.iter().map(|r| r.byte_len).sum::<u64>();
        let key = self.new_key("wal");
        self.in_flight.lock().insert(key.clone());
        let started = std::time::Instant::now();
        let result = self
            .put_and_register(
                UploadedObject {
                    key: key.clone(),
                    size,
                    index_start,
                    index_len,
                    broker_id: self.opts.broker_id,
                    level: 0,
                    created_at_ms: now_ms(),
                    ranges,
                },
                body.clone(),
                pace,
            )
            .await;
        self.in_flight.lock().remove(&key);
        self.keep_for_reuse(body);
        let registered = result?;
        let mut released: Vec<WalLocation> = Vec::new();
        for (p, last) in marks {
            released.extend(p.mark_uploaded(last));
        }
        for l in released {
            src.wal().release(l);
        }
        match registered {
            Registered::Accepted(n) => {
                self.stats.upload_latency.since(started);
                self.stats.uploads.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .uploaded_bytes
                    .fetch_add(batch_bytes, Ordering::Relaxed);
                tracing::debug!(%key, size, partitions = n, "uploaded");
            }
            Registered::Redundant => {
                self.stats.redundant_uploads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%key, "upload was already in the catalog; deleting the copy");
                if let Err(e) = self.store.delete(&key).await {
                    tracing::warn!(%key, error = %e, "delete failed; the collector will retry");
                }
            }
        }
        Ok(batch_bytes)
    }

    /// Keeps an uploaded object's buffer for the next upload when nothing else holds it
    /// (a store may still) and it is not much larger than an upload.
    fn keep_for_reuse(&self, body: Bytes) {
        let most = usize::try_from(self.opts.upload_bytes.saturating_mul(2))
            .unwrap_or(usize::MAX)
            .saturating_add(2 * STEP_BYTES);
        if let Ok(buffer) = body.try_into_mut()
            && buffer.capacity() <= most
        {
            *self.spare_body.lock() = Some(buffer);
        }
    }

    /// PUT with retries, then register with retries. Gives up only when the catalog refuses
    /// the object outright.
    async fn put_and_register(
        &self,
        obj: UploadedObject,
        body: Bytes,
        pace: Pace,
    ) -> Result<Registered, TierError> {
        let span = tracing::info_span!("rustmq.tier.upload", key = %obj.key, bytes = body.len());
        self.put_and_register_traced(obj, body, pace)
            .instrument(span)
            .await
    }

    async fn put_and_register_traced(
        &self,
        obj: UploadedObject,
        body: Bytes,
        pace: Pace,
    ) -> Result<Registered, TierError> {
        let key = obj.key.clone();
        (|| self.store.put(&key, body.clone(), pace))
            .retry(backoff())
            .notify(|e, _| {
                self.stats.upload_failures.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock() = Some(e.to_string());
                tracing::warn!(%key, error = %e, "object upload failed; retrying");
            })
            .await?;
        *self.last_error.lock() = None;
        if self.opts.abort_after_put {
            tracing::error!(%key, "RUSTMQ_FAULT_ABORT_AFTER_PUT: aborting before registration");
            std::process::abort();
        }
        (|| async {
            match self.controller.register_object(obj.clone()).await {
                Ok(r) => Ok(Ok(r)),
                // Our own earlier attempt got through (its answer was lost): registered.
                Err(ControllerError::Metadata(MetadataError::Catalog(
                    CatalogError::DuplicateKey(_),
                ))) => Ok(Ok(Registered::Accepted(0))),
                Err(ControllerError::Metadata(e)) => Ok(Err(TierError::Catalog(e.to_string()))),
                Err(e) => Err(TierError::Catalog(e.to_string())),
            }
        })
        .retry(backoff())
        .notify(|e, _| tracing::warn!(%key, error = %e, "catalog registration failed; retrying"))
        .await?
    }

    /// One maintenance pass: delete unreferenced objects past their grace period, delete
    /// orphans, compact. Bounded: at most `compaction_max_objects` objects are written.
    pub async fn maintain(&self) -> Result<(), TierError> {
        self.delete_unreferenced().await?;
        self.collect_orphans().await?;
        self.compact().await
    }

    async fn delete_unreferenced(&self) -> Result<(), TierError> {
        let grace = self.opts.gc_grace.as_millis() as i64;
        let now = now_ms();
        let due: Vec<String> = self
            .catalog()
            .deleting
            .iter()
            .filter(|(_, since)| **since + grace <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut done = Vec::new();
        for k in due {
            match self.store.delete(&k).await {
                Ok(()) => done.push(k),
                Err(e) => tracing::warn!(key = %k, error = %e, "delete failed; will retry"),
            }
        }
        let n = done.len() as u64;
        self.controller
            .forget_objects(done)
            .await
            .map_err(|e| TierError::Catalog(e.to_string()))?;
        self.stats.objects_deleted.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Objects under the prefix the catalog does not know, older than the grace period and
    /// not being written by this broker, were written by an upload that never registered.
    async fn collect_orphans(&self) -> Result<(), TierError> {
        let listed = self.store.list(&self.opts.prefix).await?;
        let catalog = self.catalog();
        let cutoff = SystemTime::now()
            .checked_sub(self.opts.gc_grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for o in listed {
            if !o.key.ends_with(".obj")
                || catalog.knows(&o.key)
                || o.modified > cutoff
                || self.in_flight.lock().contains(&o.key)
            {
                continue;
            }
            // Re-check against the newest catalog: it may have registered meanwhile.
            if self.controller.metadata().catalog.knows(&o.key) {
                continue;
            }
            tracing::info!(key = %o.key, age_ms = ms_of(SystemTime::now()) - ms_of(o.modified), "deleting orphaned object");
            self.store.delete(&o.key).await?;
            self.stats.orphans_deleted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Compaction, bounded to `compaction_max_objects` merges per pass. See [`Tier::merge`].
    async fn compact(&self) -> Result<(), TierError> {
        for _ in 0..self.opts.compaction_max_objects {
            if !self.merge().await? {
                break;
            }
        }
        Ok(())
    }

    /// One merge: reads this broker's oldest multi-partition (level 0) objects whole, up to
    /// `compaction_target_bytes`, and rewrites them as level-1 objects: a partition whose
    /// merged run holds at least `compaction_target_bytes` gets its own per-partition object,
    /// the others share one object in which each partition is contiguous. Every output is
    /// swapped into the catalog atomically (`CompactObject`); the inputs are deleted after the
    /// grace period once nothing references them. Requests are proportional to bytes, not to
    /// partitions: one GET per input, one PUT per output. Returns whether it merged anything.
    async fn merge(&self) -> Result<bool, TierError> {
        let catalog = self.catalog();
        let target = self.opts.compaction_target_bytes;
        let mut inputs: Vec<(&String, &CatalogObject)> = catalog
            .objects
            .iter()
            .filter(|(_, o)| o.level == 0 && o.broker_id == self.opts.broker_id)
            .collect();
        inputs.sort_by_key(|(k, o)| (o.created_at_ms, (*k).clone()));
        let mut total = 0;
        let mut chosen = Vec::new();
        for (k, o) in inputs {
            if total >= target {
                break;
            }
            total += o.size;
            chosen.push(k.clone());
        }
        if total < target {
            return Ok(false);
        }
        let chosen_set: std::collections::HashSet<&String> = chosen.iter().collect();
        // Each partition's first contiguous run of slices inside the chosen objects.
        let mut runs: BTreeMap<PartitionKey, Vec<ObjectSlice>> = BTreeMap::new();
        for (pk, pc) in catalog.partitions.iter() {
            let mut run: Vec<ObjectSlice> = Vec::new();
            for (_, s) in pc.slices.iter() {
                if !chosen_set.contains(&s.key) {
                    if run.is_empty() {
                        continue;
                    }
                    break;
                }
                if run
                    .last()
                    .is_some_and(|l| l.last_offset + 1 != s.base_offset)
                {
                    break;
                }
                run.push(s.clone());
            }
            if !run.is_empty() {
                runs.insert(*pk, run);
            }
        }
        let big = |run: &[ObjectSlice]| run.iter().map(|s| s.byte_len).sum::<u64>() >= target;
        if chosen.len() < 2 && !runs.values().any(|r| big(r)) {
            // Rewriting one object without splitting anything out gains nothing.
            return Ok(false);
        }
        let mut bodies = std::collections::HashMap::new();
        for k in &chosen {
            let body = self.store.get(k).await?;
            let index = object::decode_object_index(&body).map_err(|e| TierError::Corrupt {
                key: k.clone(),
                reason: e.to_string(),
            })?;
            bodies.insert(k.clone(), (body, index));
        }
        let mut shared = ObjectBuilder::new();
        let mut outputs = Vec::new();
        for (pk, run) in &runs {
            let mut own = ObjectBuilder::new();
            let out = if big(run) { &mut own } else { &mut shared };
            for s in run {
                let Some((body, index)) = bodies.get(&s.key) else {
                    continue;
                };
                let Some(range) = index.range(pk.topic_id, pk.partition) else {
                    return Err(TierError::Corrupt {
                        key: s.key.clone(),
                        reason: format!("no range for {pk}"),
                    });
                };
                for b in &range.batches {
                    if b.base < s.base_offset || b.last > s.last_offset {
                        continue;
                    }
                    out.push(
                        pk.topic_id,
                        pk.partition,
                        b.base,
                        b.last,
                        b.max_timestamp,
                        &body[b.position as usize..][..b.len as usize],
                    );
                }
            }
            if !own.is_empty() {
                outputs.push(own);
            }
        }
        if !shared.is_empty() {
            outputs.push(shared);
        }
        for builder in outputs {
            let (body, ranges, index_start, index_len) = builder.finish();
            let key = self.new_key("compacted");
            let obj = UploadedObject {
                key: key.clone(),
                size: body.len() as u64,
                index_start,
                index_len,
                broker_id: self.opts.broker_id,
                level: 1,
                created_at_ms: now_ms(),
                ranges,
            };
            let partitions = obj.ranges.len();
            self.in_flight.lock().insert(key.clone());
            let swapped = match self.store.put(&key, body, self.opts.pace).await {
                Ok(()) => self
                    .controller
                    .compact_object(obj)
                    .await
                    .map_err(|e| TierError::Catalog(e.to_string())),
                Err(e) => Err(e),
            };
            self.in_flight.lock().remove(&key);
            match swapped {
                Ok(()) => {
                    self.stats.compacted_objects.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%key, partitions, inputs = chosen.len(), "compacted");
                }
                Err(e) => {
                    self.stats
                        .compactions_refused
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%key, error = %e, "compaction not applied; deleting its object");
                    let _ = self.store.delete(&key).await;
                }
            }
        }
        Ok(true)
    }

    /// Runs [`Tier::maintain`] every `maintenance_interval` until `stop`.
    pub async fn run_maintenance(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.opts.maintenance_interval) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.maintain().await {
                tracing::warn!(error = %e, "object-store maintenance failed; will retry");
            }
        }
    }

    /// Retention in object storage for one partition: the catalog slices (oldest first) as
    /// retention items.
    pub fn retention_items(&self, key: PartitionKey) -> Vec<crate::partition::RetentionItem> {
        self.catalog()
            .partition(key)
            .map(|pc| {
                pc.slices
                    .iter()
                    .map(|(_, s)| crate::partition::RetentionItem {
                        last: s.last_offset,
                        max_timestamp: s.max_timestamp,
                        size: s.byte_len,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves a partition's start in the catalog (retention): catalog entries go first, the
    /// objects are deleted after the grace period.
    pub async fn trim(&self, key: PartitionKey, start: i64) -> Result<(), TierError> {
        self.controller
            .trim_partition(key, start)
            .await
            .map_err(|e| TierError::Catalog(e.to_string()))
    }

    /// Objects referenced by the catalog, and their total bytes.
    pub fn object_count(&self) -> (usize, u64) {
        let c = self.catalog();
        (c.objects.len(), c.objects.values().map(|o| o.size).sum())
    }

    /// Referenced objects per compaction level (0 = uploads, 1 = compaction output).
    pub fn levels(&self) -> BTreeMap<u8, usize> {
        let mut m = BTreeMap::new();
        for o in self.catalog().objects.values() {
            *m.entry(o.level).or_default() += 1;
        }
        m
    }
}
