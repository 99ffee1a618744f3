//! `GET /api/v1/storage`: tiered storage (upload lag, objects, requests, read cache).

use super::*;

/// `GET /api/v1/storage`: object storage, upload lag and read-cache figures of a broker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StorageView {
    /// `Local`, `Gcs` or `S3`.
    pub storage_type: String,
    /// Objects the catalog references.
    pub objects: u64,
    /// Their bytes.
    pub object_bytes: u64,
    /// Bytes durable in the WAL and not yet uploaded.
    pub upload_lag_bytes: u64,
    /// Age of the oldest unuploaded batch.
    pub upload_lag_ms: u64,
    /// WAL bytes on disk.
    pub wal_bytes: u64,
    /// `wal.capacity_bytes`: produces are refused above it.
    pub wal_capacity_bytes: u64,
    /// The last produce was refused with `WAL_FULL`.
    pub refusing_produces: bool,
    /// Objects uploaded.
    pub uploads: u64,
    /// Batch bytes uploaded.
    pub uploaded_bytes: u64,
    /// Failed upload attempts.
    pub upload_failures: u64,
    /// PUT requests.
    pub puts: u64,
    /// GET requests.
    pub gets: u64,
    /// DELETE requests.
    pub deletes: u64,
    /// Object-store requests that failed (any kind).
    #[serde(default)]
    pub errors: u64,
    /// Read-cache hits.
    pub cache_hits: u64,
    /// Read-cache misses.
    pub cache_misses: u64,
    /// hits / (hits + misses).
    pub cache_hit_ratio: f64,
    /// Bytes in the read cache.
    pub read_cache_bytes: u64,
    /// Objects written by compaction.
    pub compacted_objects: u64,
    /// Unreferenced objects deleted.
    pub objects_deleted: u64,
    /// Orphans deleted.
    pub orphans_deleted: u64,
    /// Last upload error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// `GET /api/v1/storage`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageResponse {
    /// The broker's tier, when this process runs one.
    pub broker: Option<StorageView>,
    /// The object catalog in the controllers' state.
    pub catalog: CatalogView,
}

/// Catalog figures of `GET /api/v1/storage`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CatalogView {
    /// Objects referenced.
    pub objects: usize,
    /// Their bytes.
    pub object_bytes: u64,
    /// Of which written by compaction.
    pub compacted_objects: usize,
    /// Partitions with objects.
    pub partitions: usize,
    /// Object slices over all partitions.
    pub slices: usize,
    /// Unreferenced objects waiting for their grace period.
    pub pending_deletes: usize,
}

#[utoipa::path(get, path = "/api/v1/storage", tag = "storage",
    responses((status = 200, description = "Tiered storage of the broker and the catalog", body = Envelope<StorageResponse>)))]
pub(super) async fn storage(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    let c = &md.catalog;
    let body = StorageResponse {
        broker: s.extra.as_ref().and_then(|b| b.storage()),
        catalog: CatalogView {
            objects: c.objects.len(),
            object_bytes: c.objects.values().map(|o| o.size).sum::<u64>(),
            compacted_objects: c.objects.values().filter(|o| o.level > 0).count(),
            partitions: c.partitions.len(),
            slices: c.partitions.values().map(|p| p.slices.len()).sum::<usize>(),
            pending_deletes: c.deleting.len(),
        },
    };
    ok(&s.controller, StatusCode::OK, body)
}
