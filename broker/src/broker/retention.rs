//! Retention: trims each partition's log by time and size (over local and uploaded data) and
//! releases the WAL entries nobody needs any more. Never: deletes objects (the tier's garbage
//! collection does, after the controllers dropped them from the catalog).

use super::*;

impl Broker {
    pub(super) async fn retention_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let every = Duration::from_millis(self.config().wal.retention_check_interval_ms.max(10));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            self.enforce_retention().await;
        }
    }

    /// Applies time and size retention to every partition now, over what is in object
    /// storage and what is only in the WAL: the catalog moves first, then the WAL segments
    /// no partition needs are deleted; unreferenced objects go after the grace period.
    /// Runs periodically; public for tests and operators.
    pub async fn enforce_retention(&self) {
        let now = now_ms();
        let topics: Vec<Arc<TopicLogs>> = self.topics.read().values().cloned().collect();
        for t in topics {
            let ms = t
                .config
                .retention_ms
                .unwrap_or(self.config().log.retention_ms);
            let bytes = t
                .config
                .retention_bytes
                .unwrap_or(self.config().log.retention_bytes);
            if ms < 0 && bytes < 0 {
                continue;
            }
            for p in t.partitions.iter().flatten() {
                let key = PartitionKey {
                    topic_id: p.topic_id,
                    partition: p.partition,
                };
                let mut items = self.tier.retention_items(key);
                items.extend(p.retention_items());
                let Some(start) = retention_start(&items, now, ms, bytes) else {
                    continue;
                };
                if start <= p.bounds().0 {
                    continue;
                }
                if let Err(e) = self.tier.trim(key, start).await {
                    tracing::warn!(error = %e, partition = %key, "retention: catalog trim failed");
                    continue;
                }
                for l in p.advance_start(start) {
                    self.wal.release(l);
                }
            }
        }
    }
}
